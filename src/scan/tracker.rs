//! One plot through time: its pixels' temporal state, the flags its events form, and their lifecycle.
//!
//! After every acquisition the pixels showing each event are grouped into 4-connected regions inside the
//! plot; regions below the minimum mapping unit are not flags. A region continues the flag whose pixels
//! it overlaps most; a flag no region continues is resolved on that acquisition; a region that continues
//! none is a new flag. Because this happens per acquisition, not per scan run, scanning months 1-6 and
//! then 7-12 gives exactly what one scan of 1-12 gives.

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::observe::PlotObservation;
use crate::compute::Backend;
use crate::error::Result;
use crate::flags::{FlagKind, FlagStatus, round4, stable_id};
use crate::io::plots::{Category, Plot};
use crate::raster::Grid;
use crate::spectral::LandClass;
use crate::temporal::{DateContext, NONE_DAY, TemporalParams, TemporalState, from_day_number};
use crate::vectorize::label_regions;

/// Pixels around ground being worked that count as part of the works site (20 m at 10 m).
const WORKS_SITE_MARGIN_PX: usize = 2;

/// Share of a region that must be clear for an acquisition to count as seeing it.
const SEEN_FRACTION: f64 = 0.5;

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
    /// Minimum mapping unit.
    pub min_pixels: usize,
    /// Pixel area in square metres.
    pub pixel_area: f64,
}

const KINDS: [(FlagKind, u8); 3] = [(FlagKind::Construction, 1), (FlagKind::Earthworks, 2), (FlagKind::IdleBare, 4)];

impl PlotTracker {
    /// A tracker with fresh state.
    pub fn new(plot: Plot, grid: Grid, mask: Array2<u8>) -> Self {
        let state = TemporalState::new(grid.width, grid.height);
        PlotTracker {
            plot,
            grid,
            mask,
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

    /// Applies one acquisition.
    pub fn observe(
        &mut self,
        backend: &dyn Backend,
        acq: &Acquisition,
        obs: &PlotObservation,
        ctx: &DateContext,
        settings: &TrackSettings,
    ) -> Result<()> {
        let mut bits = backend.temporal_update(&mut self.state.pixels, &obs.planes, ctx, &settings.params)?;
        self.works_regions(backend, &mut bits, ctx.day, &settings.params)?;
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
            let keys = Array2::from_shape_fn(self.mask.dim(), |(r, c)| {
                let i = r * self.grid.width + c;
                u32::from(applies && self.mask[[r, c]] != 0 && bits[i] & bit != 0)
            });
            let regions = label_regions(keys.view());
            let kept: Vec<u32> = (1..regions.sizes.len() as u32)
                .filter(|l| regions.sizes[*l as usize] as usize >= settings.min_pixels)
                .collect();
            let mut region_pixels: Vec<Vec<u32>> = vec![Vec::new(); regions.sizes.len()];
            for (i, l) in regions.labels.iter().enumerate() {
                if *l != 0 {
                    region_pixels[*l as usize].push(i as u32);
                }
            }
            let assignment = self.match_regions(kind, &kept, &regions.labels);
            let mut continued = vec![false; self.flags.len()];
            for (region, flag) in kept.iter().zip(assignment) {
                let pixels = std::mem::take(&mut region_pixels[*region as usize]);
                let seen =
                    pixels.iter().filter(|p| clear[**p as usize]).count() as f64 >= SEEN_FRACTION * pixels.len() as f64;
                let index = match flag {
                    Some(f) => {
                        continued[f] = true;
                        f
                    }
                    None => {
                        self.flags.push(self.new_flag(kind, acq, &pixels));
                        continued.push(true);
                        self.flags.len() - 1
                    }
                };
                self.update_flag(index, acq, pixels, seen, obs, settings);
            }
            for (f, flag) in self.flags.iter_mut().enumerate() {
                if flag.kind == kind && flag.status != FlagStatus::Resolved && !continued[f] {
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
            }
            let n = self.flags.iter().filter(|f| f.kind == kind && f.status != FlagStatus::Resolved).count();
            active_counts.insert(kind.name().into(), json!(n));
        }
        self.days.push(self.summarize(acq, obs, active_counts));
        Ok(())
    }

    /// Earthworks as regions, not pixels: works are patchy month to month, so pixels confirmed as works
    /// (two disturbances) seed regions that grow into neighbouring bare pixels disturbed at least once
    /// recently (hysteresis, as in Canny's edge linking). Ground in and next to a region disturbed on this
    /// acquisition is being worked, so its idle clock restarts there.
    fn works_regions(&mut self, backend: &dyn Backend, bits: &mut [u8], day: i32, p: &TemporalParams) -> Result<()> {
        let (h, w) = (self.grid.height, self.grid.width);
        let state = &self.state.pixels;
        let keys = Array2::from_shape_fn((h, w), |(r, c)| {
            let i = r * w + c;
            let s = &state[i];
            let weak = s.disturb_start != NONE_DAY
                && day - s.disturb_last <= p.earthworks_quiet_days
                && LandClass::from_u8(s.class_last as u8) == LandClass::BareSoil;
            u32::from(bits[i] & 2 != 0 || weak)
        });
        let regions = label_regions(keys.view());
        // Regions with a confirmed pixel are works; those with a pixel disturbed on this very
        // acquisition are being worked now.
        let mut seeded = vec![false; regions.sizes.len()];
        let mut busy = vec![false; regions.sizes.len()];
        for (i, l) in regions.labels.iter().enumerate() {
            if *l != 0 && bits[i] & 2 != 0 {
                seeded[*l as usize] = true;
                busy[*l as usize] |= state[i].disturb_last == day;
            }
        }
        let works = regions.labels.mapv(|l| u8::from(l != 0 && seeded[l as usize]));
        let working = regions.labels.mapv(|l| u8::from(l != 0 && busy[l as usize]));
        // A works site's edges and the odd block left untouched for a month belong to the site.
        let near_work = backend.dilate(working.view(), WORKS_SITE_MARGIN_PX)?;
        for (i, (b, (wk, near))) in bits.iter_mut().zip(works.iter().zip(near_work.iter())).enumerate() {
            if *wk != 0 {
                *b |= 2;
            }
            if *near != 0 {
                *b &= !4;
                self.state.pixels[i].idle_start = NONE_DAY;
            }
        }
        Ok(())
    }

    /// For each kept region, the index of the active flag of `kind` it continues, if any: pairs are
    /// taken greedily by overlap, so each flag continues in at most one region.
    fn match_regions(&self, kind: FlagKind, kept: &[u32], labels: &Array2<u32>) -> Vec<Option<usize>> {
        let labels = labels.as_slice().expect("standard layout");
        let mut pairs: Vec<(usize, u32, usize)> = Vec::new();
        for (f, flag) in self.flags.iter().enumerate() {
            if flag.kind != kind || flag.status == FlagStatus::Resolved {
                continue;
            }
            let mut counts: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
            for p in &flag.pixels {
                let l = labels[*p as usize];
                if l != 0 {
                    *counts.entry(l).or_default() += 1;
                }
            }
            for (l, n) in counts {
                if kept.contains(&l) {
                    pairs.push((n, l, f));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut region_flag: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
        let mut used = vec![false; self.flags.len()];
        for (_, l, f) in pairs {
            if !used[f] && !region_flag.contains_key(&l) {
                used[f] = true;
                region_flag.insert(l, f);
            }
        }
        kept.iter().map(|l| region_flag.get(l).copied()).collect()
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
        let first_seen = match kind {
            FlagKind::Construction => pixels.iter().map(|p| state[*p as usize].built_start).min().unwrap_or(acq.day),
            FlagKind::Earthworks => pixels.iter().map(|p| state[*p as usize].disturb_start).min().unwrap_or(acq.day),
            _ => acq.day,
        };
        let before =
            mean_of(pixels, |p| state[p].ndvi_calm).zip(mean_of(pixels, |p| state[p].bsi_calm).or(Some(f64::NAN)));
        let evidence = json!({
            "before": before.map(|(n, b)| json!({"ndvi": round4(n), "bsi": finite(b)})),
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
        }
    }

    fn update_flag(
        &mut self,
        index: usize,
        acq: &Acquisition,
        pixels: Vec<u32>,
        seen: bool,
        obs: &PlotObservation,
        settings: &TrackSettings,
    ) {
        let state = &self.state.pixels;
        let flag = &mut self.flags[index];
        let old = flag.clone();
        if seen {
            flag.last_seen = acq.day;
        }
        flag.status = if flag.created == acq.day { FlagStatus::New } else { FlagStatus::Ongoing };
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
                    .map(|p| state[*p as usize].idle_start)
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
                let built = mean_u(&|p| state[p].built_obs);
                let history = mean_u(&|p| state[p].history_before_built);
                e["built_observations"] = json!(built.round() as u64);
                e["observations_before"] = json!(history.round() as u64);
                e["reason"] = json!(format!(
                    "built up since {} on {} consecutive valid observations, after {} observations of other cover",
                    date(flag.first_seen).unwrap_or_default(),
                    built.round(),
                    history.round()
                ));
                flag.confidence = round4(
                    ((0.45 + 0.12 * (built - 1.0).clamp(0.0, 3.0) + 0.05 * (history - 2.0).clamp(0.0, 2.0)) * sensor)
                        .min(0.95),
                );
            }
            FlagKind::Earthworks => {
                let disturbed = mean_u(&|p| state[p].disturb_obs);
                let last = pixels.iter().map(|p| state[*p as usize].disturb_last).max().unwrap_or(acq.day);
                e["disturbed_observations"] = json!(disturbed.round() as u64);
                e["last_disturbance"] = json!(date(last));
                e["reason"] = json!(format!(
                    "soil disturbed since {} on {} observations, latest {}",
                    date(flag.first_seen).unwrap_or_default(),
                    disturbed.round(),
                    date(last).unwrap_or_default()
                ));
                flag.confidence = round4(((0.45 + 0.12 * (disturbed - 1.0).clamp(0.0, 3.0)) * sensor).min(0.95));
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
        let _ = settings;
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
