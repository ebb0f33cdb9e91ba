//! Scoring flags against a generated area's truth at object level.
//!
//! A true event counts as found when flags of its kind cover at least 30% of it; a flag is false when
//! less than 30% of it lies on true events of its kind. Permitted works are scored as their own kind:
//! a flag on them must say `permitted_works`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use gdal::vector::LayerAccess;
use serde::Serialize;

use super::area::{AreaTruth, Scenario};
use crate::error::{Error, Result};
use crate::flags::FlagKind;

/// Share of an event or flag that must overlap.
pub const OVERLAP: f64 = 0.3;

/// A flag as the scorer sees it: kind, status, dates and pixels on the truth grid.
#[derive(Debug, Clone)]
pub struct ScoredFlag {
    /// Id.
    pub flag_id: String,
    /// Kind.
    pub kind: FlagKind,
    /// Status.
    pub status: String,
    /// Whether it is reported as permitted works.
    pub permitted: bool,
    /// First acquisition showing it.
    pub first_seen: Option<NaiveDate>,
    /// Pixels (row-major on the truth grid).
    pub pixels: Vec<usize>,
}

/// Scores of one kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindScore {
    /// True events.
    pub events: usize,
    /// Events found.
    pub found: usize,
    /// Flags.
    pub flags: usize,
    /// Flags on true events.
    pub correct: usize,
    /// Ids of missed events.
    pub missed: Vec<String>,
    /// Ids of false flags.
    pub false_flags: Vec<String>,
}

impl KindScore {
    /// found / events (1 when there are no events).
    pub fn recall(&self) -> f64 {
        if self.events == 0 { 1.0 } else { self.found as f64 / self.events as f64 }
    }

    /// correct / flags (1 when there are no flags).
    pub fn precision(&self) -> f64 {
        if self.flags == 0 { 1.0 } else { self.correct as f64 / self.flags as f64 }
    }
}

/// The whole score.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AreaScore {
    /// Per kind (`construction`, `earthworks`, `idle_bare`, `permitted_works`).
    pub kinds: BTreeMap<String, KindScore>,
    /// Idle flags lying on re-greened, covered or seasonally bare ground (event ids).
    pub idle_on_negatives: Vec<String>,
    /// Idle events flagged before three months of bare run (event id, first_seen, not_before).
    pub idle_too_early: Vec<String>,
    /// Idle events flagged after the first acquisition that should have shown them.
    pub idle_too_late: Vec<String>,
}

/// Reads flags from a vector output (any format written by jingtu) and rasterizes them onto the truth grid.
pub fn read_flags(path: &Path, truth: &AreaTruth) -> Result<Vec<ScoredFlag>> {
    crate::io::gdal_env::init();
    let ds = gdal::Dataset::open(path).map_err(|e| Error::gdal(path, e))?;
    let mut layer = ds.layer(0).map_err(|e| Error::gdal(path, e))?;
    let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let idx = |n: &str| fields.iter().position(|f| f == n);
    let size = truth.spec.size;
    let grid = crate::raster::Grid {
        crs_wkt: crate::io::crs::srs_from_epsg(truth.epsg).and_then(|s| s.to_wkt().ok()).unwrap_or_default(),
        epsg: Some(truth.epsg),
        transform: truth.transform,
        width: size,
        height: size,
    };
    let srs = crate::io::crs::srs_from_wkt(&grid.crs_wkt).ok_or_else(|| Error::Usage("truth CRS".into()))?;
    let mut out = Vec::new();
    for f in layer.features() {
        let text = |n: &str| idx(n).and_then(|i| f.field_as_string(i).ok().flatten());
        let Some(kind) = text("kind").and_then(|k| FlagKind::parse(&k)) else { continue };
        let Some(g) = f.geometry() else { continue };
        let mut g = g.clone();
        g.transform_to_inplace(&srs).map_err(|e| Error::gdal(path, e))?;
        let raster = crate::io::plots::rasterize_geometries(std::slice::from_ref(&g), &grid, path)?;
        let pixels: Vec<usize> = raster.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, _)| i).collect();
        let evidence = text("evidence").unwrap_or_default();
        out.push(ScoredFlag {
            flag_id: text("flag_id").unwrap_or_default(),
            kind,
            status: text("status").unwrap_or_default(),
            permitted: evidence.contains("\"permitted_works\":true") || text("permitted").as_deref() == Some("1"),
            first_seen: text("first_seen").and_then(|d| d.parse().ok()),
            pixels,
        });
    }
    Ok(out)
}

/// Scores `flags` against `truth`.
pub fn score(truth: &AreaTruth, flags: &[ScoredFlag]) -> AreaScore {
    let size = truth.spec.size;
    let rect_pixels = |r: &super::area::PixRect| r.pixels().map(|(c, rr)| rr * size + c).collect::<Vec<usize>>();
    let mut result = AreaScore::default();
    let classes: [(&str, FlagKind, bool); 4] = [
        ("construction", FlagKind::Construction, false),
        ("earthworks", FlagKind::Earthworks, false),
        ("idle_bare", FlagKind::IdleBare, false),
        ("permitted_works", FlagKind::Earthworks, true),
    ];
    for (name, kind, permitted) in classes {
        let all_events: Vec<_> =
            truth.events.iter().filter(|e| e.expected == Some(kind) && e.permitted == permitted).collect();
        let events: Vec<_> = all_events.iter().filter(|e| e.observable).collect();
        let kind_flags: Vec<&ScoredFlag> =
            flags.iter().filter(|f| f.kind == kind && f.permitted == permitted).collect();
        let mut covered = vec![false; size * size];
        for f in &kind_flags {
            for p in &f.pixels {
                covered[*p] = true;
            }
        }
        // Flags on events the acquisitions hardly saw are right, but such events are not required.
        let mut on_event = vec![false; size * size];
        for e in &all_events {
            for p in rect_pixels(&e.rect) {
                on_event[p] = true;
            }
        }
        let mut s = KindScore { events: events.len(), flags: kind_flags.len(), ..Default::default() };
        for e in &events {
            let px = rect_pixels(&e.rect);
            let hit = px.iter().filter(|p| covered[**p]).count() as f64;
            if hit >= OVERLAP * px.len() as f64 {
                s.found += 1;
            } else {
                s.missed.push(e.id.clone());
            }
        }
        for f in &kind_flags {
            let on = f.pixels.iter().filter(|p| on_event[**p]).count() as f64;
            if on >= OVERLAP * f.pixels.len().max(1) as f64 {
                s.correct += 1;
            } else {
                s.false_flags.push(f.flag_id.clone());
            }
        }
        result.kinds.insert(name.to_string(), s);
    }
    // Idle flags on ground that was only briefly bare or seasonally bare.
    let idle: Vec<&ScoredFlag> = flags.iter().filter(|f| f.kind == FlagKind::IdleBare).collect();
    for e in truth
        .events
        .iter()
        .filter(|e| matches!(e.scenario, Scenario::Regreened | Scenario::Covered | Scenario::SeasonalCrop))
    {
        let px = rect_pixels(&e.rect);
        let hit = idle.iter().map(|f| f.pixels.iter().filter(|p| px.contains(p)).count()).sum::<usize>();
        if hit > 0 {
            result.idle_on_negatives.push(e.id.clone());
        }
    }
    // Timing of idle flags.
    for e in truth.events.iter().filter(|e| e.expected == Some(FlagKind::IdleBare)) {
        let px = rect_pixels(&e.rect);
        let first = idle
            .iter()
            .filter(|f| {
                f.pixels.iter().filter(|p| px.contains(p)).count() as f64 >= OVERLAP * f.pixels.len().max(1) as f64
            })
            .filter_map(|f| f.first_seen)
            .min();
        if let (Some(first), Some(not_before)) = (first, e.idle_not_before) {
            if first < not_before {
                result.idle_too_early.push(format!("{} flagged {first}, not before {not_before}", e.id));
            }
        }
        if let (Some(first), Some(by)) = (first, e.idle_expected_by) {
            if first > by {
                result.idle_too_late.push(format!("{} flagged {first}, expected by {by}", e.id));
            }
        }
    }
    result
}
