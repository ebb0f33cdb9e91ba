//! Object-level scoring of a scan's flags against the landscape's truth, independent of
//! `jingtu::synth::score`.
//!
//! Each flag polygon is rasterized on the 10 m truth grid (pixel centres inside, even-odd over all rings).
//! Per kind: a required truth event is found when flags of its kind cover at least 30% of its pixels; a
//! flag is correct when at least 30% of its pixels lie on truth events of its kind (required or not: a
//! flag on an event clouds hid is right, but such an event is not demanded). Construction and earthworks
//! flags reported as permitted count as `permitted_works`. Timing is checked separately: earthworks and
//! construction first seen within one acquisition of the first clear look at the change, idle ground
//! within its window.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use gdal::vector::LayerAccess;

use super::geometry::{EPSG, HEIGHT_PX, ORIGIN_E, ORIGIN_N, PIXEL_M, WIDTH_PX, point_in_ring};
use super::truth::{ExpectedKind, Landscape};

/// Share of an event or of a flag that must overlap.
pub const OVERLAP: f64 = 0.3;

/// A flag as the scorer sees it.
#[derive(Debug, Clone)]
pub struct ScoredFlag {
    /// Id.
    pub flag_id: String,
    /// Plot.
    pub plot_id: String,
    /// Kind it is scored as.
    pub kind: ExpectedKind,
    /// First acquisition showing it.
    pub first_seen: Option<NaiveDate>,
    /// Pixels on the truth grid.
    pub pixels: Vec<u32>,
}

/// The score of one kind.
#[derive(Debug, Clone, Default)]
pub struct KindScore {
    /// Required events.
    pub events: usize,
    /// Required events found.
    pub found: usize,
    /// Events the acquisitions never showed clearly (not required).
    pub not_required: usize,
    /// Flags.
    pub flags: usize,
    /// Flags on events of their kind.
    pub correct: usize,
    /// Missed events.
    pub missed: Vec<String>,
    /// Flags on nothing of their kind: "flag_id@plot_id".
    pub false_flags: Vec<String>,
    /// Found events whose first flag came outside the window.
    pub timing: Vec<String>,
}

impl KindScore {
    /// correct / flags (1 without flags).
    pub fn precision(&self) -> f64 {
        if self.flags == 0 { 1.0 } else { self.correct as f64 / self.flags as f64 }
    }

    /// found / events (1 without events).
    pub fn recall(&self) -> f64 {
        if self.events == 0 { 1.0 } else { self.found as f64 / self.events as f64 }
    }
}

/// The score of one seed.
#[derive(Debug, Clone)]
pub struct Score {
    /// Seed.
    pub seed: u64,
    /// Per kind.
    pub kinds: BTreeMap<ExpectedKind, KindScore>,
}

impl Score {
    /// One line per kind: seed, kind, precision, recall, then what went wrong.
    pub fn lines(&self) -> Vec<String> {
        self.kinds
            .iter()
            .map(|(kind, k)| {
                let mut line = format!(
                    "seed {:>2}  {:<15}  P {:.3} ({:>2}/{:<2})  R {:.3} ({:>2}/{:<2})",
                    self.seed,
                    kind.name(),
                    k.precision(),
                    k.correct,
                    k.flags,
                    k.recall(),
                    k.found,
                    k.events
                );
                if k.not_required > 0 {
                    line += &format!("  unseen {}", k.not_required);
                }
                if !k.missed.is_empty() {
                    line += &format!("  missed {:?}", k.missed);
                }
                if !k.false_flags.is_empty() {
                    line += &format!("  false {:?}", k.false_flags);
                }
                if !k.timing.is_empty() {
                    line += &format!("  timing {:?}", k.timing);
                }
                line
            })
            .collect()
    }
}

/// Pixels whose centres lie inside the polygon given by `rings` (UTM 51N metres; the first ring is the
/// exterior, the rest holes).
fn rasterize_rings(rings: &[Vec<(f64, f64)>], out: &mut HashSet<u32>) {
    let local: Vec<Vec<(f64, f64)>> =
        rings.iter().map(|r| r.iter().map(|(e, n)| (e - ORIGIN_E, ORIGIN_N - n)).collect()).collect();
    let Some(outer) = local.first() else { return };
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in outer {
        x0 = x0.min(*x);
        y0 = y0.min(*y);
        x1 = x1.max(*x);
        y1 = y1.max(*y);
    }
    let c0 = (x0 / PIXEL_M).floor().max(0.0) as usize;
    let r0 = (y0 / PIXEL_M).floor().max(0.0) as usize;
    let c1 = ((x1 / PIXEL_M).ceil().max(0.0) as usize).min(WIDTH_PX);
    let r1 = ((y1 / PIXEL_M).ceil().max(0.0) as usize).min(HEIGHT_PX);
    for row in r0..r1 {
        for col in c0..c1 {
            let (x, y) = ((col as f64 + 0.5) * PIXEL_M, (row as f64 + 0.5) * PIXEL_M);
            let crossings = local.iter().filter(|ring| point_in_ring(ring, x, y)).count();
            if crossings % 2 == 1 {
                out.insert((row * WIDTH_PX + col) as u32);
            }
        }
    }
}

fn ring_points(g: &gdal::vector::Geometry) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    g.get_points(&mut points);
    points.into_iter().map(|(x, y, _)| (x, y)).collect()
}

/// Pixels of a polygon or multipolygon.
fn rasterize(g: &gdal::vector::Geometry) -> Vec<u32> {
    let mut out = HashSet::new();
    let name = g.geometry_name().to_ascii_uppercase();
    let polygons: Vec<gdal::vector::Geometry> = if name.starts_with("MULTI") || name.starts_with("GEOMETRYCOLLECTION") {
        (0..g.geometry_count()).map(|i| g.get_geometry(i).clone()).collect()
    } else {
        vec![g.clone()]
    };
    for p in &polygons {
        let rings: Vec<Vec<(f64, f64)>> = (0..p.geometry_count()).map(|i| ring_points(&p.get_geometry(i))).collect();
        rasterize_rings(&rings, &mut out);
    }
    let mut pixels: Vec<u32> = out.into_iter().collect();
    pixels.sort_unstable();
    pixels
}

/// Reads the flags of a scan output (GeoPackage or any vector format GDAL reads). `permitted` comes from
/// the boolean `permitted` field, or from `"permitted_works": true` in the evidence JSON where an older
/// output has no such field.
pub fn read_flags(path: &Path) -> Vec<ScoredFlag> {
    let ds = gdal::Dataset::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut layer = ds.layer(0).expect("flag layer");
    let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let index = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
    let truth_srs = gdal::spatial_ref::SpatialRef::from_epsg(EPSG).expect("EPSG:32651");
    let needs_transform = layer.spatial_ref().is_some_and(|s| s.auth_code().ok() != Some(EPSG as i32));
    let mut out = Vec::new();
    for feature in layer.features() {
        let text = |name: &str| index(name).and_then(|i| feature.field_as_string(i).ok().flatten());
        let permitted = match index("permitted") {
            Some(i) => feature.field_as_integer(i).ok().flatten().unwrap_or(0) != 0,
            None => text("evidence").is_some_and(|e| {
                serde_json::from_str::<serde_json::Value>(&e)
                    .ok()
                    .and_then(|v| v.get("permitted_works").and_then(|p| p.as_bool()))
                    .unwrap_or(false)
            }),
        };
        let kind = match (text("kind").as_deref(), permitted) {
            (Some("idle_bare"), _) => ExpectedKind::IdleBare,
            (Some("construction" | "earthworks"), true) => ExpectedKind::PermittedWorks,
            (Some("construction"), false) => ExpectedKind::Construction,
            (Some("earthworks"), false) => ExpectedKind::Earthworks,
            _ => continue,
        };
        let Some(geometry) = feature.geometry() else { continue };
        let mut geometry = geometry.clone();
        if needs_transform {
            geometry.transform_to_inplace(&truth_srs).expect("flag geometry to EPSG:32651");
        }
        out.push(ScoredFlag {
            flag_id: text("flag_id").unwrap_or_default(),
            plot_id: text("plot_id").unwrap_or_default(),
            kind,
            // GDAL writes dates as 2024/03/01.
            first_seen: text("first_seen").and_then(|d| d.get(..10).and_then(|d| d.replace('/', "-").parse().ok())),
            pixels: rasterize(&geometry),
        });
    }
    out
}

/// Scores `flags` against the landscape's truth.
pub fn score(land: &Landscape, flags: &[ScoredFlag]) -> Score {
    let mut kinds = BTreeMap::new();
    for kind in ExpectedKind::ALL {
        let events: Vec<_> = land.expected.iter().filter(|e| e.kind == kind).collect();
        let kind_flags: Vec<&ScoredFlag> = flags.iter().filter(|f| f.kind == kind).collect();
        let covered: HashSet<u32> = kind_flags.iter().flat_map(|f| f.pixels.iter().copied()).collect();
        let on_truth: HashSet<u32> = events.iter().flat_map(|e| e.footprint.iter().copied()).collect();
        let mut s = KindScore { flags: kind_flags.len(), ..Default::default() };
        for e in &events {
            if !e.required() {
                s.not_required += 1;
                continue;
            }
            s.events += 1;
            let hit = e.footprint.iter().filter(|p| covered.contains(p)).count() as f64;
            if hit < OVERLAP * e.footprint.len() as f64 {
                s.missed.push(e.event_id.clone());
                continue;
            }
            s.found += 1;
            // The flags that speak for this event: those mostly on it, or covering a good part of it.
            let fp: HashSet<u32> = e.footprint.iter().copied().collect();
            let first = kind_flags
                .iter()
                .filter(|f| {
                    let on = f.pixels.iter().filter(|p| fp.contains(p)).count() as f64;
                    on >= OVERLAP * f.pixels.len().max(1) as f64 || on >= OVERLAP * fp.len() as f64
                })
                .filter_map(|f| f.first_seen)
                .min();
            let latest = e.first_seen_latest.expect("required events have a window");
            match first {
                None => s.timing.push(format!("{}: no first_seen", e.event_id)),
                Some(d) if d < e.first_seen_earliest || d > latest => s
                    .timing
                    .push(format!("{} first_seen {d}, expected {}..{latest}", e.event_id, e.first_seen_earliest)),
                Some(_) => {}
            }
        }
        for f in &kind_flags {
            let on = f.pixels.iter().filter(|p| on_truth.contains(p)).count() as f64;
            if on >= OVERLAP * f.pixels.len().max(1) as f64 && !f.pixels.is_empty() {
                s.correct += 1;
            } else {
                s.false_flags.push(format!("{}@{}", f.flag_id, f.plot_id));
            }
        }
        kinds.insert(kind, s);
    }
    Score { seed: land.seed, kinds }
}

/// The worst seed per kind (lowest of precision and recall, then lowest recall), as table lines.
pub fn worst_lines(scores: &[Score]) -> Vec<String> {
    ExpectedKind::ALL
        .iter()
        .filter_map(|kind| {
            let worst = scores.iter().min_by(|a, b| {
                let (ka, kb) = (&a.kinds[kind], &b.kinds[kind]);
                let key = |k: &KindScore| (k.precision().min(k.recall()), k.recall());
                key(ka).partial_cmp(&key(kb)).expect("finite scores")
            })?;
            let k = &worst.kinds[kind];
            let flags: usize = scores.iter().map(|s| s.kinds[kind].flags).sum();
            let correct: usize = scores.iter().map(|s| s.kinds[kind].correct).sum();
            let events: usize = scores.iter().map(|s| s.kinds[kind].events).sum();
            let found: usize = scores.iter().map(|s| s.kinds[kind].found).sum();
            let timing: usize = scores.iter().map(|s| s.kinds[kind].timing.len()).sum();
            Some(format!(
                "{:<15}  worst seed {:>2}: P {:.3} R {:.3}   all seeds: P {:.3} ({correct}/{flags})  R {:.3} ({found}/{events})  timing failures {timing}",
                kind.name(),
                worst.seed,
                k.precision(),
                k.recall(),
                if flags == 0 { 1.0 } else { correct as f64 / flags as f64 },
                if events == 0 { 1.0 } else { found as f64 / events as f64 },
            ))
        })
        .collect()
}
