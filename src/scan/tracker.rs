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
use crate::temporal::{DateContext, NONE_DAY, PixelState, TemporalParams, TemporalState, from_day_number};
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
    /// Clear acquisitions in a row that have not shown it (it is resolved at two).
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
    /// Its flags an analyst reviewed as `false_alarm` (latest review): closed at this run's first
    /// acquisition, never continued or revived, and their ground flagged again only where a new break
    /// starts after the flag's last sighting. Empty without reviews: the lifecycle is then unchanged.
    pub dismissed: std::collections::BTreeSet<String>,
    /// Its flags an analyst reviewed as `confirmed` (latest review): they stay open until their ground is
    /// restored (mostly green or covered again, on `RESOLVE_AFTER` clear acquisitions in a row), even
    /// when the scan no longer sees the event (works that stopped, a building the scan lost sight of).
    pub confirmed: std::collections::BTreeSet<String>,
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
        Self::holding(plot, grid, mask, state)
    }

    /// A tracker for a plot scanned by bands of rows: it holds no per-pixel state (each band's is held
    /// only while the band is stepped through), only the flags and the record.
    pub fn by_rows(plot: Plot, grid: Grid, mask: Array2<u8>) -> Self {
        Self::holding(plot, grid, mask, TemporalState::new(0, 0))
    }

    fn holding(plot: Plot, grid: Grid, mask: Array2<u8>, state: TemporalState) -> Self {
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
            dismissed: std::collections::BTreeSet::new(),
            confirmed: std::collections::BTreeSet::new(),
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

    /// Applies one acquisition: the pixels' temporal step, then the flags' lifecycle.
    pub fn observe(
        &mut self,
        backend: &dyn Backend,
        acq: &Acquisition,
        obs: &PlotObservation,
        ctx: &DateContext,
        settings: &TrackSettings,
    ) -> Result<()> {
        let block = PixelBlock {
            plot_id: &self.plot.plot_id,
            mask: self.mask.as_slice().expect("standard layout"),
            interior: self.interior.as_slice().expect("standard layout"),
            first_pixel: 0,
        };
        let outcome = observe_pixels(backend, &block, &mut self.state.pixels, acq, obs, ctx, settings)?;
        self.apply(backend, acq, &outcome, settings)
    }

    /// The plot's mask eroded once (see [`PlotTracker::interior`]), for a windowed plot's blocks.
    pub fn interior(&self) -> &Array2<u8> {
        &self.interior
    }

    /// Applies what one acquisition did to the plot's pixels (gathered from one block, or from the
    /// row blocks of a plot too large for its state to be held at once) to the plot's record and flags.
    pub fn apply(
        &mut self,
        backend: &dyn Backend,
        acq: &Acquisition,
        outcome: &PixelOutcome,
        settings: &TrackSettings,
    ) -> Result<()> {
        let n = self.grid.len();
        debug_assert_eq!(outcome.first_pixel, 0);
        let clear_fraction = outcome.clear_fraction();
        if outcome.inside_scene {
            self.record.covered += 1;
        }
        if clear_fraction > 0.0 {
            self.record.observed += 1;
            self.record.last_observed = Some(acq.day);
        }
        let mut bits = vec![0u8; n];
        for e in &outcome.events {
            bits[e.pixel as usize] = e.bits;
        }
        let clear: Vec<bool> = (0..n).map(|i| outcome.is_clear(i)).collect();
        let events = EventLookup(&outcome.events);
        let mut active_counts = serde_json::Map::new();
        for (kind, bit) in KINDS {
            let applies = kind == FlagKind::IdleBare || self.watches_development();
            let active = Array2::from_shape_fn(self.mask.dim(), |(r, c)| {
                let i = r * self.grid.width + c;
                u8::from(applies && self.mask[[r, c]] != 0 && bits[i] & bit != 0)
            });
            if !self.dismissed.is_empty() {
                self.close_dismissed(kind, acq.day);
            }
            let regions: Vec<Vec<u32>> = self
                .event_regions(backend, &active)?
                .into_iter()
                .map(|pixels| self.off_dismissed_ground(kind, pixels, &events))
                .filter(|pixels| !pixels.is_empty())
                .collect();
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
                        self.flags.push(self.new_flag(kind, acq, &pixels, &events));
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
                self.update_flag(index, acq, pixels, seen, outcome, &events);
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
                if self.confirmed.contains(&flag.flag_id) {
                    let restored = flag.footprint.iter().filter(|p| outcome.is_restored(**p as usize)).count() as f64
                        >= SEEN_FRACTION * flag.footprint.len() as f64;
                    if !restored {
                        // A confirmed violation whose ground is not restored is still one.
                        flag.absent = 0;
                        flag.evidence["held_open_by_review"] = json!("confirmed");
                        continue;
                    }
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
        self.days.push(self.summarize(acq, outcome, active_counts));
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
            if flag.kind != kind
                || (resolved && day - flag.resolved_on > REVIVE_DAYS)
                || self.dismissed.contains(&flag.flag_id)
            {
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

    /// Resolves the open flags of `kind` an analyst dismissed as false alarms, on `day`.
    fn close_dismissed(&mut self, kind: FlagKind, day: i32) {
        for flag in self.flags.iter_mut() {
            if flag.kind != kind || flag.status == FlagStatus::Resolved || !self.dismissed.contains(&flag.flag_id) {
                continue;
            }
            flag.status = FlagStatus::Resolved;
            flag.resolved_on = day;
            flag.changed_on = day;
            flag.absent = 0;
            flag.evidence["resolved_on"] = json!(from_day_number(day).map(|d| d.to_string()));
            flag.evidence["dismissed_by_review"] = json!("false_alarm");
            self.history.push(FlagHistoryEntry {
                flag_id: flag.flag_id.clone(),
                day,
                status: FlagStatus::Resolved,
                pixels: flag.pixels.len() as u32,
            });
        }
    }

    /// `pixels` less those on the ground of a dismissed flag of `kind` whose event began before or at
    /// that flag's last sighting (the event the analyst dismissed). A pixel whose event began later is
    /// a new break, and stays.
    fn off_dismissed_ground(&self, kind: FlagKind, mut pixels: Vec<u32>, state: &EventLookup) -> Vec<u32> {
        let dismissed: Vec<&TrackedFlag> =
            self.flags.iter().filter(|f| f.kind == kind && self.dismissed.contains(&f.flag_id)).collect();
        if dismissed.is_empty() {
            return pixels;
        }
        pixels.retain(|p| {
            let start = match kind {
                FlagKind::Construction => state[*p as usize].built_since,
                FlagKind::Earthworks => state[*p as usize].works_start,
                _ => state[*p as usize].bare_start,
            };
            !dismissed
                .iter()
                .any(|f| f.footprint.binary_search(p).is_ok() && (start == NONE_DAY || start <= f.last_seen))
        });
        pixels
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

    fn new_flag(&self, kind: FlagKind, acq: &Acquisition, pixels: &[u32], state: &EventLookup) -> TrackedFlag {
        let anchor = pixels[0] as usize;
        let (x, y) = self
            .grid
            .transform
            .pixel_to_geo((anchor % self.grid.width) as f64 + 0.5, (anchor / self.grid.width) as f64 + 0.5);
        let date = from_day_number(acq.day).map(|d| d.to_string()).unwrap_or_default();
        let flag_id = stable_id("flag", &[&self.plot.plot_id, kind.name(), &date, &format!("{x:.2},{y:.2}")]);
        let earliest = |day: fn(&EventPixel) -> i32| {
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

    fn update_flag(
        &mut self,
        index: usize,
        acq: &Acquisition,
        pixels: Vec<u32>,
        seen: bool,
        outcome: &PixelOutcome,
        state: &EventLookup,
    ) {
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
        let swir = outcome.has_swir;
        let sensor = if swir { 1.0 } else { 0.8 };
        let mut e = flag.evidence.clone();
        e["latest"] = json!({"ndvi": latest_ndvi.map(round4), "bsi": latest_bsi.and_then(finite)});
        e["valid_observations"] = json!(valid_obs.round() as u64);
        e["cloud_fraction"] = json!(round4(1.0 - outcome.clear_fraction() as f64));
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
        outcome: &PixelOutcome,
        active: serde_json::Map<String, serde_json::Value>,
    ) -> PlotDay {
        let DaySums { counts, clear, ndvi, bsi, with_bsi: nb, .. } = outcome.sums;
        let share = |c: LandClass| if clear == 0 { 0.0 } else { round4(counts[c as usize] as f64 / clear as f64) };
        PlotDay {
            day: acq.day,
            scene_id: acq.scene_id.clone(),
            clear_fraction: round4(outcome.clear_fraction() as f64),
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

/// A block of a plot's pixels whose state is held: the whole plot, or one band of its rows.
pub struct PixelBlock<'a> {
    /// The plot (named in trace output).
    pub plot_id: &'a str,
    /// The plot mask over the block's pixels.
    pub mask: &'a [u8],
    /// The plot's eroded mask over the block's pixels.
    pub interior: &'a [u8],
    /// Index on the plot grid of the block's first pixel.
    pub first_pixel: u32,
}

/// What a pixel with an event looked like after an acquisition, as the flags' evidence reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventPixel {
    /// Index on the plot grid.
    pub pixel: u32,
    /// Event bits: construction 1, earthworks 2, idle bare 4.
    pub bits: u8,
    // The pixel's `PixelState` fields of the same names, after the acquisition.
    built_since: i32,
    works_start: i32,
    works_last: i32,
    bare_start: i32,
    bare_obs: u32,
    valid_obs: u32,
    judged_by_class: u32,
    break_score: f32,
    ndvi_before: f32,
    bsi_before: f32,
    ndvi_last: f32,
    bsi_last: f32,
}

impl EventPixel {
    fn of(pixel: u32, bits: u8, s: &PixelState) -> Self {
        EventPixel {
            pixel,
            bits,
            built_since: s.built_since,
            works_start: s.works_start,
            works_last: s.works_last,
            bare_start: s.bare_start,
            bare_obs: s.bare_obs,
            valid_obs: s.valid_obs,
            judged_by_class: s.judged_by_class,
            break_score: s.break_score,
            ndvi_before: s.ndvi_before,
            bsi_before: s.bsi_before,
            ndvi_last: s.ndvi_last,
            bsi_last: s.bsi_last,
        }
    }
}

/// Class counts and index sums over a block's clear plot pixels (added block by block).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DaySums {
    /// Clear plot pixels per class byte (0..=5).
    pub counts: [usize; 6],
    /// Plot pixels with a class (not nodata).
    pub clear: usize,
    /// Sum of finite NDVI over them.
    pub ndvi: f64,
    /// Sum of finite BSI where NDVI is finite too.
    pub bsi: f64,
    /// Pixels summed into `bsi`.
    pub with_bsi: usize,
    /// Plot pixels in the block.
    pub plot_pixels: usize,
    /// Plot pixels clear after masking (with `plot_pixels`, the acquisition's clear share of the plot).
    pub clear_pixels: usize,
}

impl DaySums {
    fn add(&mut self, o: &DaySums) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.clear += o.clear;
        self.ndvi += o.ndvi;
        self.bsi += o.bsi;
        self.with_bsi += o.with_bsi;
        self.plot_pixels += o.plot_pixels;
        self.clear_pixels += o.clear_pixels;
    }
}

/// What one acquisition did to a block of a plot's pixels: all the plot's record and flags need from
/// them, compact (a bit per pixel, and the pixels with an event), so that the blocks of a plot too
/// large to hold whole can be stepped through every acquisition one after the other and their
/// outcomes joined per acquisition afterwards.
#[derive(Debug, Clone, Default)]
pub struct PixelOutcome {
    /// Index on the plot grid of the block's first pixel.
    pub first_pixel: u32,
    /// Pixels in the block.
    pub len: usize,
    /// One bit per pixel: seen clear (a class other than nodata and unknown).
    pub clear: Vec<u64>,
    /// One bit per pixel: its ground, as the pixel's history has it, is green or covered (restored).
    pub restored: Vec<u64>,
    /// The pixels with an event bit, in pixel order.
    pub events: Vec<EventPixel>,
    /// Sums for the plot's day summary.
    pub sums: DaySums,
    /// Whether the scene's footprint covered the block.
    pub inside_scene: bool,
    /// Whether the scene had SWIR.
    pub has_swir: bool,
}

impl PixelOutcome {
    /// Whether pixel `i` of the block was seen clear.
    pub fn is_clear(&self, i: usize) -> bool {
        self.clear[i / 64] >> (i % 64) & 1 != 0
    }

    /// Whether pixel `i` of the block is green or covered, as its history has it.
    pub fn is_restored(&self, i: usize) -> bool {
        self.restored.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 != 0)
    }

    /// The clear share of the plot's pixels, as the observation gives it.
    pub fn clear_fraction(&self) -> f32 {
        self.sums.clear_pixels as f32 / self.sums.plot_pixels.max(1) as f32
    }

    /// Joins the outcome of the next block of rows (in row order) to this one.
    pub fn join(&mut self, next: PixelOutcome) {
        debug_assert_eq!(next.first_pixel as usize, self.first_pixel as usize + self.len);
        for i in 0..next.len {
            let j = self.len + i;
            for (bits, set) in [(&mut self.clear, next.is_clear(i)), (&mut self.restored, next.is_restored(i))] {
                if set {
                    if j / 64 >= bits.len() {
                        bits.resize(j / 64 + 1, 0);
                    }
                    bits[j / 64] |= 1 << (j % 64);
                }
            }
        }
        self.len += next.len;
        self.clear.resize(self.len.div_ceil(64), 0);
        self.restored.resize(self.len.div_ceil(64), 0);
        self.events.extend(next.events);
        self.sums.add(&next.sums);
        self.inside_scene |= next.inside_scene;
        self.has_swir |= next.has_swir;
    }
}

/// The event pixels of an outcome, looked up by plot pixel index (every pixel of an event region has
/// an event bit, so every lookup finds one).
struct EventLookup<'a>(&'a [EventPixel]);

impl std::ops::Index<usize> for EventLookup<'_> {
    type Output = EventPixel;
    fn index(&self, pixel: usize) -> &EventPixel {
        let at =
            self.0.binary_search_by_key(&(pixel as u32), |e| e.pixel).expect("an event region's pixels have events");
        &self.0[at]
    }
}

/// The temporal step of one acquisition on a block of a plot's pixels: updates their state and gives
/// what the plot's flags need (see [`PlotTracker::apply`]).
pub fn observe_pixels(
    backend: &dyn Backend,
    block: &PixelBlock,
    state: &mut [PixelState],
    acq: &Acquisition,
    obs: &PlotObservation,
    ctx: &DateContext,
    settings: &TrackSettings,
) -> Result<PixelOutcome> {
    let mut bits = backend.temporal_update(state, &obs.planes, ctx, &settings.params, &settings.rules)?;
    for (i, s) in state.iter_mut().enumerate() {
        if obs.cloud_like.get(i).is_some_and(|c| *c != 0) {
            s.bright_looks = s.bright_looks.saturating_add(1);
        } else if obs.planes.class[i] != LandClass::NoData as u8 {
            s.bright_looks = 0;
        }
    }
    // Ground bare all year that no break made bare is idle only away from the plot's edge: an edge
    // pixel mixes in whatever lies beyond the plot (a road, a yard), and "bare all year" there is as
    // likely the neighbour's pavement.
    for ((b, s), inner) in bits.iter_mut().zip(state.iter()).zip(block.interior) {
        if *b & 4 != 0 && s.bare_by_break == 0 && *inner == 0 {
            *b &= !4;
        }
    }
    if trace_plot().is_some_and(|id| id == block.plot_id) {
        // A developer's view of one plot, one line per pixel and acquisition: date, pixel, class,
        // event bits, segment start, model terms, NDVI, break by model, bands, the segment's accepted looks
        // and the departures held back.
        let date = from_day_number(acq.day).map(|d| d.to_string()).unwrap_or_default();
        let n = bits.len();
        for (i, (s, b)) in state.iter().zip(&bits).enumerate() {
            if block.mask[i] != 0 {
                let bands: Vec<String> = (0..6).map(|k| format!("{:.4}", obs.planes.bands[k * n + i])).collect();
                eprintln!(
                    "trace {date} {} {} {b} {} {} {:.2} {} {} {} {}",
                    block.first_pixel as usize + i,
                    obs.planes.class[i],
                    s.seg_start,
                    s.model_terms,
                    obs.planes.ndvi[i],
                    s.seg_by_model,
                    bands.join(" "),
                    s.seg_obs,
                    s.pend_count
                );
            }
        }
    }
    let n = bits.len();
    let mut clear = vec![0u64; n.div_ceil(64)];
    let mut sums = DaySums { plot_pixels: obs.plot_pixels, clear_pixels: obs.clear_pixels, ..DaySums::default() };
    for (i, c) in obs.planes.class.iter().enumerate() {
        let class = LandClass::from_u8(*c);
        if !matches!(class, LandClass::NoData | LandClass::Unknown) {
            clear[i / 64] |= 1 << (i % 64);
        }
        if block.mask[i] == 0 || matches!(class, LandClass::NoData) {
            continue;
        }
        sums.clear += 1;
        sums.counts[(class as usize).min(5)] += 1;
        if obs.planes.ndvi[i].is_finite() {
            sums.ndvi += obs.planes.ndvi[i] as f64;
            if obs.planes.bsi[i].is_finite() {
                sums.bsi += obs.planes.bsi[i] as f64;
                sums.with_bsi += 1;
            }
        }
    }
    let mut restored = vec![0u64; n.div_ceil(64)];
    for (i, s) in state.iter().enumerate() {
        // The class the pixel's history settled on (one odd look does not restore ground).
        if matches!(LandClass::from_u8(s.class_last as u8), LandClass::Vegetation | LandClass::Covered) {
            restored[i / 64] |= 1 << (i % 64);
        }
    }
    let events = bits
        .iter()
        .zip(state.iter())
        .enumerate()
        .filter(|(_, (b, _))| **b != 0)
        .map(|(i, (b, s))| EventPixel::of(block.first_pixel + i as u32, *b, s))
        .collect();
    Ok(PixelOutcome {
        first_pixel: block.first_pixel,
        len: n,
        clear,
        restored,
        events,
        sums,
        inside_scene: obs.inside_scene,
        has_swir: obs.has_swir,
    })
}
