//! One plot through time: its pixels' temporal state, the flags its events form, and their lifecycle.
//!
//! After every acquisition the pixels showing each event are grouped into 4-connected regions inside the
//! plot; regions below the minimum mapping unit are not flags, and a flag whose event has shrunk below it
//! counts as not shown. A region continues the flag whose pixels
//! it overlaps most; a flag no region continues is resolved on that acquisition; a region that continues
//! none is a new flag. Because this happens per acquisition, not per scan run, scanning months 1-6 and
//! then 7-12 gives exactly what one scan of 1-12 gives.

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::observe::PlotObservation;
use crate::compute::{Backend, CpuBackend};
use crate::error::Result;
use crate::flags::{FlagKind, FlagStatus, round4, stable_id};
use crate::io::plots::{Category, Plot};
use crate::raster::Grid;
use crate::spectral::{ClassRules, LandClass};
use crate::temporal::{DateContext, NONE_DAY, TemporalParams, TemporalState, from_day_number};
use crate::vectorize::label_regions;

/// Share of a region that must be clear for an acquisition to count as seeing it.
const SEEN_FRACTION: f64 = 0.5;

/// Pixels of distance within which active pixels of one kind form one event (30 m at 10 m).
const EVENT_JOIN_PX: usize = 3;

/// Clear acquisitions in a row that must no longer show an event before its flag is resolved.
const RESOLVE_AFTER: u32 = 2;

/// Days after its resolution within which an event that shows again on its own ground takes up its
/// old flag again rather than raising a new one: works that pause for a few months and resume are one
/// case for the analyst, not two.
const REVIVE_DAYS: i32 = 120;

/// The plot named by `JINGTU_TRACE_PLOT`, read once per process (not on every plot and acquisition).
fn trace_plot() -> Option<&'static str> {
    static PLOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PLOT.get_or_init(|| std::env::var("JINGTU_TRACE_PLOT").ok()).as_deref()
}

/// A flag as the tracker keeps it between acquisitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedFlag {
    /// Stable id.
    pub flag_id: String,
    /// Kind.
    pub kind: FlagKind,
    /// Lifecycle state after the latest acquisition.
    pub status: FlagStatus,
    /// Pixels (row-major indices on the plot grid) of the latest region.
    pub pixels: Vec<u32>,
    /// Every pixel the flag has covered in its life, sorted: its geometry (works that are being
    /// re-greened shrink, but the ground they disturbed is what the flag reports).
    pub footprint: Vec<u32>,
    /// Day the region first qualified as a flag.
    pub created: i32,
    /// Day of the first acquisition showing the event.
    pub first_seen: i32,
    /// Day of the latest acquisition that saw it.
    pub last_seen: i32,
    /// For idle ground: first day of the bare run.
    pub bare_since: i32,
    /// Day it was resolved.
    pub resolved_on: i32,
    /// Approved works on a plot where they are allowed.
    pub permitted: bool,
    /// 0..1.
    pub confidence: f64,
    /// Evidence as of `last_seen` (or resolution).
    pub evidence: serde_json::Value,
    /// Day its record last changed.
    pub changed_on: i32,
    /// Clear acquisitions in a row that have not shown it (it is resolved at [`RESOLVE_AFTER`]).
    #[serde(default)]
    pub absent: u32,
}

/// A change in a flag's record on one acquisition (for the store's history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagHistoryEntry {
    /// The flag.
    pub flag_id: String,
    /// Acquisition day.
    pub day: i32,
    /// Status after it.
    pub status: FlagStatus,
    /// Pixels in the region.
    pub pixels: u32,
}

/// Per-plot summary of one acquisition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotDay {
    /// Acquisition day.
    pub day: i32,
    /// Scene id.
    pub scene_id: String,
    /// Share of the plot clear.
    pub clear_fraction: f64,
    /// Share of the clear plot pixels per class (vegetation, bare_soil, built, water, covered).
    pub cover: serde_json::Value,
    /// Mean NDVI of clear plot pixels.
    pub ndvi: Option<f64>,
    /// Mean BSI of clear plot pixels.
    pub bsi: Option<f64>,
    /// Active flags by kind after the acquisition.
    pub active: serde_json::Value,
}

/// An acquisition as the tracker sees it.
#[derive(Debug, Clone)]
pub struct Acquisition {
    /// Day number.
    pub day: i32,
    /// Scene id.
    pub scene_id: String,
}

/// One plot's tracker.
#[derive(Debug, Clone)]
pub struct PlotTracker {
    /// Registry entry.
    pub plot: Plot,
    /// Analysis grid (plot bounds plus margin).
    pub grid: Grid,
    /// 1 for pixels whose centre lies in the plot.
    pub mask: Array2<u8>,
    /// 1 for plot pixels whose 3 x 3 neighbourhood lies in the plot (the mask eroded once): pixels that
    /// mix in nothing from beyond the plot's edge.
    interior: Array2<u8>,
    /// Per-pixel temporal state.
    pub state: TemporalState,
    /// Every flag the plot ever had.
    pub flags: Vec<TrackedFlag>,
    /// Flag changes recorded during this run.
    pub history: Vec<FlagHistoryEntry>,
    /// Plot summaries recorded during this run.
    pub days: Vec<PlotDay>,
    /// What the plot has seen so far (all runs).
    pub record: PlotRecord,
}

/// A plot's observation record, kept in the store between scans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlotRecord {
    /// Acquisitions whose footprint covered the plot.
    pub covered: u32,
    /// Acquisitions in which some of the plot was clear.
    pub observed: u32,
    /// Day of the latest acquisition in which some of it was clear.
    pub last_observed: Option<i32>,
}

impl PlotRecord {
    /// `observed`, `unobserved` (covered, never clear) or `outside_scenes` (no acquisition covered it).
    pub fn state(&self) -> &'static str {
        if self.observed > 0 {
            "observed"
        } else if self.covered > 0 {
            "unobserved"
        } else {
            "outside_scenes"
        }
    }
}

/// Fixed settings for every tracker of a scan.
#[derive(Debug, Clone, Copy)]
pub struct TrackSettings {
    /// Temporal rules.
    pub params: TemporalParams,
    /// Class rules (the model's expectations are classified with them).
    pub rules: ClassRules,
    /// Minimum mapping unit of a new event, in pixels, per kind: construction, earthworks, idle_bare.
    pub min_pixels: [usize; 3],
    /// Pixel area in square metres.
    pub pixel_area: f64,
}

impl TrackSettings {
    /// The minimum mapping unit of a new event of `kind`, in pixels.
    pub fn min_pixels_of(&self, kind: FlagKind) -> usize {
        match kind {
            FlagKind::Construction => self.min_pixels[0],
            FlagKind::Earthworks => self.min_pixels[1],
            _ => self.min_pixels[2],
        }
    }
}

const KINDS: [(FlagKind, u8); 3] = [(FlagKind::Construction, 1), (FlagKind::Earthworks, 2), (FlagKind::IdleBare, 4)];

impl PlotTracker {
    /// A tracker with fresh state.
    pub fn new(plot: Plot, grid: Grid, mask: Array2<u8>) -> Self {
        let state = TemporalState::new(grid.width, grid.height);
        let interior = CpuBackend::new().erode(mask.view(), 1).expect("the CPU backend does not fail");
        PlotTracker {
            plot,
            grid,
            mask,
            interior,
            state,
            flags: Vec::new(),
            history: Vec::new(),
            days: Vec::new(),
            record: PlotRecord::default(),
        }
    }

    /// Whether construction and earthworks are flagged on this plot (uncategorised plots are treated as
    /// listed: an analyst can dismiss a lead, not find a missed one).
    pub fn watches_development(&self) -> bool {
        self.plot.category.is_none_or(Category::forbids_development)
    }

    /// 1 for each pixel whose previous clear look was cloud-like as well: a bright surface (white roof,
    /// coating, white net) that the spectral cloud test must not mask, since clouds do not stay put.
    pub fn bright_surfaces(&self) -> Vec<u8> {
        self.state.pixels.iter().map(|s| u8::from(s.bright_looks > 0)).collect()
    }

    /// Applies one acquisition.
    pub fn observe(
        &mut self,
        backend: &dyn Backend,
        acq: &Acquisition,
        obs: &PlotObservation,
        ctx: &DateContext,
        settings: &TrackSettings,
    ) -> Result<()> {
        let mut bits =
            backend.temporal_update(&mut self.state.pixels, &obs.planes, ctx, &settings.params, &settings.rules)?;
        for (i, s) in self.state.pixels.iter_mut().enumerate() {
            if obs.cloud_like.get(i).is_some_and(|c| *c != 0) {
                s.bright_looks = s.bright_looks.saturating_add(1);
            } else if obs.planes.class[i] != LandClass::NoData as u8 {
                s.bright_looks = 0;
            }
        }
        // Ground bare all year that no break made bare is idle only away from the plot's edge: an edge
        // pixel mixes in whatever lies beyond the plot (a road, a yard), and "bare all year" there is as
        // likely the neighbour's pavement.
        for ((b, s), inner) in bits.iter_mut().zip(&self.state.pixels).zip(self.interior.iter()) {
            if *b & 4 != 0 && s.bare_by_break == 0 && *inner == 0 {
                *b &= !4;
            }
        }
        if trace_plot().is_some_and(|id| id == self.plot.plot_id) {
            // A developer's view of one plot, one line per pixel and acquisition: date, pixel, class,
            // event bits, segment start, model terms.
            let date = from_day_number(acq.day).map(|d| d.to_string()).unwrap_or_default();
            for (i, (s, b)) in self.state.pixels.iter().zip(&bits).enumerate() {
                if self.mask.as_slice().is_some_and(|m| m[i] != 0) {
                    let n = bits.len();
                    let bands: Vec<String> = (0..6).map(|k| format!("{:.4}", obs.planes.bands[k * n + i])).collect();
                    eprintln!(
                        "trace {date} {i} {} {b} {} {} {:.2} {} {}",
                        obs.planes.class[i],
                        s.seg_start,
                        s.model_terms,
                        obs.planes.ndvi[i],
                        s.seg_by_model,
                        bands.join(" ")
                    );
                }
            }
        }
        if obs.inside_scene {
            self.record.covered += 1;
        }
        if obs.clear_fraction > 0.0 {
            self.record.observed += 1;
            self.record.last_observed = Some(acq.day);
        }
        let clear: Vec<bool> = obs
            .planes
            .class
            .iter()
            .map(|c| !matches!(LandClass::from_u8(*c), LandClass::NoData | LandClass::Unknown))
            .collect();
        let mut active_counts = serde_json::Map::new();
        for (kind, bit) in KINDS {
            let applies = kind == FlagKind::IdleBare || self.watches_development();
            let active = Array2::from_shape_fn(self.mask.dim(), |(r, c)| {
                let i = r * self.grid.width + c;
                u8::from(applies && self.mask[[r, c]] != 0 && bits[i] & bit != 0)
            });
            let regions = self.event_regions(backend, &active)?;
            let assignment = self.match_regions(kind, &regions, acq.day);
            let mut continued = vec![false; self.flags.len()];
            let mut gathered: std::collections::BTreeMap<usize, Vec<u32>> = std::collections::BTreeMap::new();
            for (pixels, flag) in regions.into_iter().zip(assignment) {
                match flag {
                    Some(f) => gathered.entry(f).or_default().extend(pixels),
                    // A new event must be as large as the kind's mapping unit. Works on the ground of a
                    // building going up are that construction's own (foundations, site roads, spoil):
                    // the open construction flag is already the lead.
                    None if pixels.len() >= settings.min_pixels_of(kind)
                        && !(kind == FlagKind::Earthworks && self.on_construction_site(&pixels)) =>
                    {
                        self.flags.push(self.new_flag(kind, acq, &pixels));
                        continued.push(false);
                        gathered.insert(self.flags.len() - 1, pixels);
                    }
                    None => {}
                }
            }
            for (index, mut pixels) in gathered {
                // What is left of an event below its mapping unit keeps the flag (no new flag for it)
                // but does not hold it open: a field edge flickering for months after the works would
                // otherwise carry the flag on until the next event on that ground joins it.
                if pixels.len() < settings.min_pixels_of(kind) {
                    continue;
                }
                pixels.sort_unstable();
                continued[index] = true;
                let seen =
                    pixels.iter().filter(|p| clear[**p as usize]).count() as f64 >= SEEN_FRACTION * pixels.len() as f64;
                self.update_flag(index, acq, pixels, seen, obs);
            }
            for (f, flag) in self.flags.iter_mut().enumerate() {
                if flag.kind != kind || flag.status == FlagStatus::Resolved || continued[f] {
                    continue;
                }
                // An event ends when clear acquisitions no longer show it, not on one cloudy or noisy
                // one: a flag that went new, resolved, new on noise would send analysts out twice.
                let seen = flag.footprint.iter().filter(|p| clear[**p as usize]).count() as f64
                    >= SEEN_FRACTION * flag.footprint.len() as f64;
                if !seen {
                    continue;
                }
                flag.absent = flag.absent.saturating_add(1);
                if flag.absent < RESOLVE_AFTER {
                    continue;
                }
                flag.status = FlagStatus::Resolved;
                flag.resolved_on = acq.day;
                flag.changed_on = acq.day;
                flag.evidence["resolved_on"] = json!(from_day_number(acq.day).map(|d| d.to_string()));
                self.history.push(FlagHistoryEntry {
                    flag_id: flag.flag_id.clone(),
                    day: acq.day,
                    status: FlagStatus::Resolved,
                    pixels: flag.pixels.len() as u32,
                });
            }
            let n = self.flags.iter().filter(|f| f.kind == kind && f.status != FlagStatus::Resolved).count();
            active_counts.insert(kind.name().into(), json!(n));
        }
        self.days.push(self.summarize(acq, obs, active_counts));
        Ok(())
    }

    /// The event regions of one kind: active pixels closer than [`EVENT_JOIN_PX`] to one another belong
    /// to one event (works and buildings are patchy from month to month), as row-major pixel lists.
    fn event_regions(&self, backend: &dyn Backend, active: &Array2<u8>) -> Result<Vec<Vec<u32>>> {
        if !active.iter().any(|a| *a != 0) {
            return Ok(Vec::new());
        }
        let joined = backend.dilate(active.view(), EVENT_JOIN_PX)?;
        let regions = label_regions(joined.mapv(u32::from).view());
        let mut pixels: Vec<Vec<u32>> = vec![Vec::new(); regions.sizes.len()];
        for (i, (a, l)) in active.iter().zip(regions.labels.iter()).enumerate() {
            if *a != 0 {
                pixels[*l as usize].push(i as u32);
            }
        }
        Ok(pixels.into_iter().filter(|p| !p.is_empty()).collect())
    }

    /// For each region, the flag of `kind` it continues, if any: the active flag whose footprint, widened
    /// by [`EVENT_JOIN_PX`], it overlaps most, or one resolved in the last [`REVIVE_DAYS`] whose own
    /// footprint it overlaps. Regions
    /// may share a flag: an event that splits stays one flag, and so does one that rejoins.
    fn match_regions(&self, kind: FlagKind, regions: &[Vec<u32>], day: i32) -> Vec<Option<usize>> {
        let mut owner = vec![u32::MAX; self.grid.len()];
        let r = EVENT_JOIN_PX as i64;
        // Older flags first, so that where footprints meet the older event keeps the ground.
        for (f, flag) in self.flags.iter().enumerate().rev() {
            let resolved = flag.status == FlagStatus::Resolved;
            if flag.kind != kind || (resolved && day - flag.resolved_on > REVIVE_DAYS) {
                continue;
            }
            // An open event may move by a few pixels; one that ended comes back only on its own ground,
            // or every new event beside an old one would take up its flag.
            let r = if resolved { 0 } else { r };
            self.around(&flag.footprint, r, |i| owner[i] = f as u32);
        }
        regions
            .iter()
            .map(|pixels| {
                let mut counts: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
                for p in pixels {
                    let o = owner[*p as usize];
                    if o != u32::MAX {
                        *counts.entry(o).or_default() += 1;
                    }
                }
                counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(f, _)| f as usize)
            })
            .collect()
    }

    /// True when most of `pixels` lie within [`EVENT_JOIN_PX`] of an open construction flag's footprint.
    fn on_construction_site(&self, pixels: &[u32]) -> bool {
        let mut site = vec![false; self.grid.len()];
        let open = self.flags.iter().filter(|f| f.kind == FlagKind::Construction && f.status != FlagStatus::Resolved);
        for flag in open {
            self.around(&flag.footprint, EVENT_JOIN_PX as i64, |i| site[i] = true);
        }
        2 * pixels.iter().filter(|p| site[**p as usize]).count() >= pixels.len()
    }

    /// Calls `mark` with every pixel index of the grid within `r` pixels (a square) of `footprint`.
    fn around(&self, footprint: &[u32], r: i64, mut mark: impl FnMut(usize)) {
        let (h, w) = (self.grid.height as i64, self.grid.width as i64);
        for p in footprint {
            let (pr, pc) = (*p as i64 / w, *p as i64 % w);
            for y in (pr - r).max(0)..=(pr + r).min(h - 1) {
                for x in (pc - r).max(0)..=(pc + r).min(w - 1) {
                    mark((y * w + x) as usize);
                }
            }
        }
    }

    fn new_flag(&self, kind: FlagKind, acq: &Acquisition, pixels: &[u32]) -> TrackedFlag {
        let anchor = pixels[0] as usize;
        let (x, y) = self
            .grid
            .transform
            .pixel_to_geo((anchor % self.grid.width) as f64 + 0.5, (anchor / self.grid.width) as f64 + 0.5);
        let date = from_day_number(acq.day).map(|d| d.to_string()).unwrap_or_default();
        let flag_id = stable_id("flag", &[&self.plot.plot_id, kind.name(), &date, &format!("{x:.2},{y:.2}")]);
        let state = &self.state.pixels;
        let earliest = |day: fn(&crate::temporal::PixelState) -> i32| {
            pixels.iter().map(|p| day(&state[*p as usize])).filter(|d| *d != NONE_DAY).min().unwrap_or(acq.day)
        };
        let first_seen = match kind {
            FlagKind::Construction => earliest(|s| s.built_since),
            FlagKind::Earthworks => earliest(|s| s.works_start),
            _ => acq.day,
        };
        let before =
            mean_of(pixels, |p| state[p].ndvi_before).zip(mean_of(pixels, |p| state[p].bsi_before).or(Some(f64::NAN)));
        let by_class = pixels.iter().filter(|p| state[**p as usize].judged_by_class != 0).count();
        let evidence = json!({
            "before": before.map(|(n, b)| json!({"ndvi": round4(n), "bsi": finite(b)})),
            "judged_by": if kind != FlagKind::IdleBare && 2 * by_class > pixels.len() {
                "class rules: under a year of history, no seasonal model yet"
            } else {
                "seasonal model of each pixel's own history"
            },
        });
        TrackedFlag {
            flag_id,
            kind,
            status: FlagStatus::New,
            pixels: Vec::new(),
            footprint: Vec::new(),
            created: acq.day,
            first_seen,
            last_seen: acq.day,
            bare_since: NONE_DAY,
            resolved_on: NONE_DAY,
            permitted: kind != FlagKind::IdleBare && self.plot.works_allowed,
            confidence: 0.0,
            evidence,
            changed_on: acq.day,
            absent: 0,
        }
    }

    fn update_flag(&mut self, index: usize, acq: &Acquisition, pixels: Vec<u32>, seen: bool, obs: &PlotObservation) {
        let state = &self.state.pixels;
        let flag = &mut self.flags[index];
        let old = flag.clone();
        if seen {
            flag.last_seen = acq.day;
        }
        flag.status = if flag.created == acq.day { FlagStatus::New } else { FlagStatus::Ongoing };
        flag.absent = 0;
        if flag.resolved_on != NONE_DAY {
            // Shown again soon after it ended, on the same ground: the same event.
            flag.resolved_on = NONE_DAY;
            if let Some(e) = flag.evidence.as_object_mut() {
                e.remove("resolved_on");
            }
        }
        let n = pixels.len() as f64;
        let mean_u = |f: &dyn Fn(usize) -> u32| pixels.iter().map(|p| f(*p as usize) as f64).sum::<f64>() / n;
        let latest_ndvi = mean_of(&pixels, |p| state[p].ndvi_last);
        let latest_bsi = mean_of(&pixels, |p| state[p].bsi_last);
        let valid_obs = mean_u(&|p| state[p].valid_obs);
        let date = |d: i32| from_day_number(d).map(|d| d.to_string());
        let swir = obs.has_swir;
        let sensor = if swir { 1.0 } else { 0.8 };
        let mut e = flag.evidence.clone();
        e["latest"] = json!({"ndvi": latest_ndvi.map(round4), "bsi": latest_bsi.and_then(finite)});
        e["valid_observations"] = json!(valid_obs.round() as u64);
        e["cloud_fraction"] = json!(round4(1.0 - obs.clear_fraction as f64));
        e["pixels"] = json!(pixels.len());
        e["category"] = json!(self.plot.category.map(|c| c.name()));
        if !swir {
            e["limitations"] = json!("no SWIR band: bare soil recognised from NDVI and visible bands only");
        }
        if flag.permitted {
            e["permitted_works"] = json!(true);
        }
        match flag.kind {
            FlagKind::IdleBare => {
                let since = pixels
                    .iter()
                    .map(|p| state[*p as usize].bare_start)
                    .filter(|d| *d != NONE_DAY)
                    .min()
                    .unwrap_or(acq.day);
                flag.bare_since = since;
                let runs = mean_u(&|p| state[p].bare_obs);
                let days = flag.last_seen - since;
                e["bare_observations"] = json!(runs.round() as u64);
                e["reason"] = json!(format!(
                    "bare since {}, {} days, last valid observation {}, not re-greened, not covered",
                    date(since).unwrap_or_default(),
                    days,
                    date(flag.last_seen).unwrap_or_default()
                ));
                flag.confidence = round4(((0.45 + 0.1 * (runs - 1.0).clamp(0.0, 4.0)) * sensor).min(0.95));
            }
            FlagKind::Construction => {
                let score = mean_of(&pixels, |p| state[p].break_score).unwrap_or(0.0);
                e["break_score"] = json!(round4(score));
                e["reason"] = json!(format!(
                    "built up since {} where the ground was not built before, still built on {}",
                    date(flag.first_seen).unwrap_or_default(),
                    date(flag.last_seen).unwrap_or_default()
                ));
                let strength = (score / 10.0).clamp(0.0, 1.0);
                flag.confidence = round4(((0.55 + 0.35 * strength) * sensor).min(0.95));
            }
            FlagKind::Earthworks => {
                let last = pixels
                    .iter()
                    .map(|p| state[*p as usize].works_last)
                    .filter(|d| *d != NONE_DAY)
                    .max()
                    .unwrap_or(acq.day);
                let score = mean_of(&pixels, |p| state[p].break_score).unwrap_or(0.0);
                e["break_score"] = json!(round4(score));
                e["last_disturbance"] = json!(date(last));
                e["reason"] = json!(format!(
                    "ground turned to bare soil unlike its own seasons since {}, latest {}",
                    date(flag.first_seen).unwrap_or_default(),
                    date(last).unwrap_or_default()
                ));
                let strength = (score / 10.0).clamp(0.0, 1.0);
                flag.confidence = round4(((0.55 + 0.35 * strength) * sensor).min(0.95));
            }
            _ => {}
        }
        e["scenes"] = json!({
            "first": {"date": date(flag.first_seen)},
            "last": {"id": if seen { Some(acq.scene_id.clone()) } else { old.evidence.pointer("/scenes/last/id").and_then(|v| v.as_str()).map(String::from) }, "date": date(flag.last_seen)},
        });
        flag.evidence = e;
        let mut footprint = flag.footprint.clone();
        footprint.extend_from_slice(&pixels);
        footprint.sort_unstable();
        footprint.dedup();
        flag.footprint = footprint;
        flag.pixels = pixels;
        let changed = old.status != flag.status
            || old.pixels != flag.pixels
            || old.footprint != flag.footprint
            || old.last_seen != flag.last_seen
            || old.bare_since != flag.bare_since
            || old.evidence != flag.evidence;
        if changed {
            flag.changed_on = acq.day;
            self.history.push(FlagHistoryEntry {
                flag_id: flag.flag_id.clone(),
                day: acq.day,
                status: flag.status,
                pixels: flag.pixels.len() as u32,
            });
        }
    }

    fn summarize(
        &self,
        acq: &Acquisition,
        obs: &PlotObservation,
        active: serde_json::Map<String, serde_json::Value>,
    ) -> PlotDay {
        let mut counts = [0usize; 6];
        let mut clear = 0usize;
        let (mut ndvi, mut bsi, mut nb) = (0.0f64, 0.0f64, 0usize);
        for (i, m) in self.mask.iter().enumerate() {
            if *m == 0 {
                continue;
            }
            let c = LandClass::from_u8(obs.planes.class[i]);
            if matches!(c, LandClass::NoData) {
                continue;
            }
            clear += 1;
            counts[(c as usize).min(5)] += 1;
            if obs.planes.ndvi[i].is_finite() {
                ndvi += obs.planes.ndvi[i] as f64;
                if obs.planes.bsi[i].is_finite() {
                    bsi += obs.planes.bsi[i] as f64;
                    nb += 1;
                }
            }
        }
        let share = |c: LandClass| if clear == 0 { 0.0 } else { round4(counts[c as usize] as f64 / clear as f64) };
        PlotDay {
            day: acq.day,
            scene_id: acq.scene_id.clone(),
            clear_fraction: round4(obs.clear_fraction as f64),
            cover: json!({
                "vegetation": share(LandClass::Vegetation),
                "bare_soil": share(LandClass::BareSoil),
                "built": share(LandClass::Built),
                "water": share(LandClass::Water),
                "covered": share(LandClass::Covered),
            }),
            ndvi: (clear > 0).then(|| round4(ndvi / clear as f64)),
            bsi: (nb > 0).then(|| round4(bsi / nb as f64)),
            active: serde_json::Value::Object(active),
        }
    }
}

fn mean_of(pixels: &[u32], f: impl Fn(usize) -> f32) -> Option<f64> {
    let (s, n) = pixels
        .iter()
        .map(|p| f(*p as usize))
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then(|| round4(v))
}
