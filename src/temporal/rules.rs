//! The update rules: one valid observation at a time, per pixel. Scalar and branch-light so that a GPU
//! kernel can mirror them.

use serde::{Deserialize, Serialize};

use super::state::{NONE_DAY, PixelObservation, PixelState, from_day_number};
use crate::io::dates::add_months;
use crate::spectral::LandClass;

/// Settings of the temporal logic (config file `[scan]`). Defaults follow the clean-soil plan: bare land
/// idle for three months is to be re-greened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
#[serde(default, deny_unknown_fields)]
pub struct TemporalParams {
    /// Calendar months of unbroken bare run after which ground is idle.
    pub idle_months: u32,
    /// Consecutive built observations that confirm a building.
    pub built_confirmations: u32,
    /// Valid non-built observations needed before a built run for it to count as new construction (one:
    /// months of cloud before a building goes up are common, and a building present at the first
    /// observation has none).
    pub history_before_construction: u32,
    /// Relative brightness change (beyond the scene's common change) that marks soil as disturbed.
    pub disturbance_contrast: f32,
    /// Disturbed observations within `disturbance_window_days` that confirm earthworks.
    pub disturbance_confirmations: u32,
    /// Window in which disturbed observations belong to one episode.
    pub disturbance_window_days: i32,
    /// Days without disturbance after which earthworks are over.
    pub earthworks_quiet_days: i32,
    /// Longest gap between two valid observations that a bare run may span: past it, nobody saw what
    /// happened in between, and the run starts again (one lost monthly acquisition is fine, two are not).
    pub max_observation_gap_days: i32,
}

impl Default for TemporalParams {
    fn default() -> Self {
        TemporalParams {
            idle_months: 3,
            built_confirmations: 2,
            history_before_construction: 1,
            disturbance_contrast: 0.25,
            disturbance_confirmations: 2,
            disturbance_window_days: 120,
            earthworks_quiet_days: 90,
            max_observation_gap_days: 75,
        }
    }
}

/// What is known about the whole acquisition, not one pixel.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct DateContext {
    /// Day number of the acquisition.
    pub day: i32,
    /// Median brightness of the bare-soil pixels seen in this acquisition (NaN when too few): what
    /// ordinary soil looks like today, in today's light and moisture.
    pub reference_soil: f32,
}

/// Events a pixel shows after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActiveEvents {
    /// New building or hard surface.
    pub construction: bool,
    /// Soil being disturbed.
    pub earthworks: bool,
    /// Bare ground idle for the idle period.
    pub idle_bare: bool,
}

impl ActiveEvents {
    /// Packed as bits (1 construction, 2 earthworks, 4 idle_bare), as kernels write them.
    pub fn bits(self) -> u8 {
        u8::from(self.construction) | u8::from(self.earthworks) << 1 | u8::from(self.idle_bare) << 2
    }
}

fn relative(a: f32, b: f32) -> f32 {
    if b.abs() < 1e-6 { f32::INFINITY } else { (a / b).abs() }
}

/// How far `b` is from soil that looked `then` when the scene's ordinary soil looked `then_ref`, given
/// that ordinary soil looks `now_ref` today. Rain, sun and haze scale all soil alike, so the common
/// change is a ratio.
fn deviation(b: f32, then: f32, then_ref: f32, now_ref: f32) -> f32 {
    let common = if now_ref > 0.0 && then_ref > 0.0 { now_ref / then_ref } else { 1.0 };
    relative(b - then * common, then * common)
}

/// Applies one observation. Invalid and ambiguous observations change nothing.
pub fn update_pixel(s: &mut PixelState, obs: &PixelObservation, ctx: &DateContext, p: &TemporalParams) {
    let class = obs.class;
    if matches!(class, LandClass::NoData | LandClass::Unknown) {
        return;
    }
    let prev = LandClass::from_u8(s.class_last as u8);
    let day = ctx.day;

    // Disturbed soil differs both from what this soil normally looks like and from the previous
    // observation: works keep changing it, a single hazy blip does not repeat, and soil that settles in
    // a new state becomes the new normal.
    let mut disturbed = false;
    if class == LandClass::BareSoil && obs.brightness.is_finite() {
        let from_calm = !s.calm_soil.is_finite()
            || deviation(obs.brightness, s.calm_soil, s.calm_reference, ctx.reference_soil) > p.disturbance_contrast;
        let from_previous = if prev == LandClass::BareSoil && s.prev_soil.is_finite() {
            deviation(obs.brightness, s.prev_soil, s.prev_reference, ctx.reference_soil) > p.disturbance_contrast
        } else {
            // Ground that has just turned into soil: disturbed when it is unlike today's ordinary soil
            // (a fresh pit, a heap of fill), not when it is what a harvested field looks like.
            ctx.reference_soil.is_finite()
                && prev != LandClass::NoData
                && relative(obs.brightness - ctx.reference_soil, ctx.reference_soil) > p.disturbance_contrast
        };
        disturbed = from_calm && from_previous;
    }
    if disturbed {
        if s.disturb_start == NONE_DAY || day - s.disturb_last > p.disturbance_window_days {
            s.disturb_start = day;
            s.disturb_obs = 0;
        }
        s.disturb_obs = s.disturb_obs.saturating_add(1);
        s.disturb_last = day;
    } else if matches!(class, LandClass::Vegetation | LandClass::Covered | LandClass::Built) {
        // Re-greened, covered or built over: the episode is over.
        s.disturb_start = NONE_DAY;
        s.disturb_obs = 0;
    }
    let works = disturbed && s.disturb_obs >= p.disturbance_confirmations;

    // The bare run and its idle clock. Vegetation, covers and water end the run at once; a single
    // built-looking observation (often haze the quality band missed) waits for the next one.
    match class {
        LandClass::BareSoil => {
            if s.bare_start != NONE_DAY && day - s.last_valid > p.max_observation_gap_days {
                s.bare_start = NONE_DAY;
                s.idle_start = NONE_DAY;
            }
            if s.bare_start == NONE_DAY {
                s.bare_start = day;
                s.bare_obs = 0;
            }
            s.bare_last = day;
            s.bare_obs = s.bare_obs.saturating_add(1);
            s.pending_since = NONE_DAY;
            if works {
                s.idle_start = NONE_DAY;
            } else if s.idle_start == NONE_DAY {
                s.idle_start = day;
            }
        }
        LandClass::Built if s.bare_start != NONE_DAY && s.pending_since == NONE_DAY => s.pending_since = day,
        _ => {
            s.bare_start = NONE_DAY;
            s.bare_last = NONE_DAY;
            s.bare_obs = 0;
            s.idle_start = NONE_DAY;
            s.pending_since = NONE_DAY;
        }
    }

    // Built runs and the history before them.
    if class == LandClass::Built {
        if s.built_start == NONE_DAY {
            s.built_start = day;
            s.built_obs = 0;
            s.history_before_built = s.nonbuilt_obs;
        }
        s.built_obs = s.built_obs.saturating_add(1);
    } else {
        s.built_start = NONE_DAY;
        s.built_obs = 0;
        s.nonbuilt_obs = s.nonbuilt_obs.saturating_add(1);
    }

    if class == LandClass::BareSoil && !disturbed {
        s.calm_soil = obs.brightness;
        s.calm_reference = ctx.reference_soil;
    }
    if class != LandClass::Built && !disturbed {
        s.ndvi_calm = obs.ndvi;
        s.bsi_calm = obs.bsi;
    }
    s.prev_soil = if class == LandClass::BareSoil { obs.brightness } else { f32::NAN };
    s.prev_reference = ctx.reference_soil;
    s.ndvi_last = obs.ndvi;
    s.bsi_last = obs.bsi;
    s.class_last = class as u32;
    s.last_valid = day;
    s.valid_obs = s.valid_obs.saturating_add(1);
}

/// The events a pixel shows on `day`, from its state.
pub fn active_events(s: &PixelState, day: i32, p: &TemporalParams) -> ActiveEvents {
    let last = LandClass::from_u8(s.class_last as u8);
    // An unconfirmed built-looking observation inside a bare run leaves the ground counted as bare.
    let still_bare = last == LandClass::BareSoil || s.pending_since != NONE_DAY;
    let construction = s.built_start != NONE_DAY
        && s.built_obs >= p.built_confirmations
        && s.history_before_built >= p.history_before_construction;
    let earthworks = s.disturb_start != NONE_DAY
        && s.disturb_obs >= p.disturbance_confirmations
        && day - s.disturb_last <= p.earthworks_quiet_days
        && last == LandClass::BareSoil;
    let idle_bare = s.idle_start != NONE_DAY
        && still_bare
        && match (from_day_number(s.idle_start), from_day_number(s.bare_last)) {
            (Some(start), Some(latest)) => add_months(start, p.idle_months) <= latest,
            _ => false,
        };
    ActiveEvents { construction, earthworks, idle_bare }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::state::day_number;
    use chrono::NaiveDate;

    const SOIL: f32 = 0.17;

    fn obs(class: LandClass, brightness: f32) -> PixelObservation {
        PixelObservation { class, brightness, ndvi: 0.1, bsi: 0.2 }
    }

    fn day(y: i32, m: u32, d: u32) -> i32 {
        day_number(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    /// Runs a monthly series from January 2026 (day 10 of each month) and returns the events after each.
    fn run(series: &[PixelObservation]) -> Vec<ActiveEvents> {
        let p = TemporalParams::default();
        let mut s = PixelState::default();
        series
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let ctx = DateContext { day: day(2026, 1 + i as u32, 10), reference_soil: SOIL };
                update_pixel(&mut s, o, &ctx, &p);
                active_events(&s, ctx.day, &p)
            })
            .collect()
    }

    #[test]
    fn idle_after_three_calendar_months_and_not_a_day_before() {
        use LandClass::*;
        let e = run(&[
            obs(Vegetation, 0.13),
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
        ]);
        // Bare from Feb 10: May 10 is three calendar months.
        assert!(!e[3].idle_bare, "April: two months");
        assert!(e[4].idle_bare, "May: three months");
    }

    #[test]
    fn clouds_pause_the_run_and_vegetation_ends_it() {
        use LandClass::*;
        let cloud = obs(NoData, f32::NAN);
        let e = run(&[
            obs(BareSoil, SOIL),
            cloud,
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
            obs(Vegetation, 0.13),
            obs(BareSoil, SOIL),
        ]);
        assert!(e[3].idle_bare, "Jan..Apr bare with a cloudy February between is an unbroken run");
        assert!(!e[4].idle_bare && !e[5].idle_bare, "re-greened in May ends it; June starts over");
    }

    #[test]
    fn a_run_does_not_span_months_nobody_saw() {
        use LandClass::*;
        let cloud = obs(NoData, f32::NAN);
        let soil = obs(BareSoil, SOIL);
        let e = run(&[soil, cloud, cloud, soil, soil, soil]);
        assert!(!e[3].idle_bare && !e[4].idle_bare, "January and April bare, nothing seen between: not a run");
        let e = run(&[soil, cloud, soil, soil]);
        assert!(e[3].idle_bare, "one lost acquisition is fine");
    }

    #[test]
    fn covers_and_ambiguous_observations() {
        use LandClass::*;
        let e = run(&[
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
            obs(Covered, 0.09),
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
        ]);
        assert!(e.iter().all(|a| !a.idle_bare), "a dust net in March ends the run");
        let e = run(&[obs(BareSoil, SOIL), obs(Unknown, 0.4), obs(BareSoil, SOIL), obs(BareSoil, SOIL)]);
        assert!(e[3].idle_bare, "an ambiguous observation neither ends nor extends the run");
    }

    #[test]
    fn harvest_is_not_earthworks_but_digging_is() {
        use LandClass::*;
        let crops =
            run(&[obs(Vegetation, 0.13), obs(BareSoil, SOIL), obs(Vegetation, 0.13), obs(BareSoil, SOIL * 1.05)]);
        assert!(crops.iter().all(|a| !a.earthworks && !a.idle_bare));
        // Grass, then a pit of moist dark soil, then spoil heaps of light fill.
        let works = run(&[obs(Vegetation, 0.13), obs(Vegetation, 0.13), obs(BareSoil, 0.11), obs(BareSoil, 0.22)]);
        assert!(!works[2].earthworks, "one disturbed observation is not enough");
        assert!(works[3].earthworks, "two within 120 days are");
        // Rain darkens all soil alike: not a disturbance.
        let p = TemporalParams::default();
        let mut s = PixelState::default();
        for (i, (b, reference)) in [(0.17f32, 0.17f32), (0.12, 0.12), (0.17, 0.17)].into_iter().enumerate() {
            let ctx = DateContext { day: day(2026, 1 + i as u32, 10), reference_soil: reference };
            update_pixel(&mut s, &obs(BareSoil, b), &ctx, &p);
            assert!(s.disturb_obs == 0, "observation {i}");
        }
    }

    #[test]
    fn new_buildings_need_history_and_confirmation() {
        use LandClass::*;
        let new = run(&[obs(BareSoil, SOIL), obs(BareSoil, SOIL), obs(Built, 0.22), obs(Built, 0.22)]);
        assert!(!new[2].construction && new[3].construction);
        let old = run(&[obs(Built, 0.22), obs(Built, 0.22), obs(Built, 0.22)]);
        assert!(old.iter().all(|a| !a.construction), "a building there from the start is not new");
        let blip = run(&[obs(Vegetation, 0.13), obs(Vegetation, 0.13), obs(Built, 0.3), obs(Vegetation, 0.13)]);
        assert!(blip.iter().all(|a| !a.construction), "one bright observation is not a building");
    }

    #[test]
    fn a_hazy_blip_neither_ends_the_run_nor_counts_as_works() {
        use LandClass::*;
        let e = run(&[
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL * 1.45),
            obs(BareSoil, SOIL),
            obs(Built, 0.26),
            obs(BareSoil, SOIL),
            obs(BareSoil, SOIL),
        ]);
        assert!(e.iter().all(|a| !a.earthworks), "{e:?}");
        assert!(e[4].idle_bare && e[5].idle_bare, "bare since January: idle from May despite the blips");
        let soil = obs(BareSoil, SOIL);
        let built = run(&[soil, soil, soil, soil, obs(Built, 0.26), obs(Built, 0.26)]);
        assert!(built[4].idle_bare, "one built-looking observation waits for confirmation");
        assert!(!built[5].idle_bare, "two end the run");
    }

    #[test]
    fn soil_that_settles_in_a_new_state_is_quiet_again() {
        use LandClass::*;
        // Works in Feb-Mar leave light fill that then stays.
        let e = run(&[
            obs(BareSoil, SOIL),
            obs(BareSoil, 0.11),
            obs(BareSoil, 0.22),
            obs(BareSoil, 0.22),
            obs(BareSoil, 0.22),
            obs(BareSoil, 0.22),
            obs(BareSoil, 0.22),
        ]);
        assert!(e[2].earthworks);
        assert!(!e[3].idle_bare && !e[5].idle_bare, "idle clock restarts after the works");
        assert!(e[6].idle_bare, "April to July: three months of quiet fill");
    }

    #[test]
    fn works_restart_the_idle_clock() {
        use LandClass::*;
        let soil = obs(BareSoil, SOIL);
        let fill = obs(BareSoil, 0.22);
        let e = run(&[soil, soil, obs(BareSoil, 0.11), fill, fill, fill, fill]);
        assert!(e[3].earthworks, "pit in March, fill in April: works");
        assert!(!e[3].idle_bare && !e[4].idle_bare, "no idle ground under works");
        assert!(!e[6].idle_bare, "July: two months after the works");
    }
}
