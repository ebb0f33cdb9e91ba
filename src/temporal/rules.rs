//! The update rules: one valid observation at a time, per pixel. Scalar and branch-light so that the
//! GPU kernel (`shaders/temporal_update.wgsl`) mirrors them.
//!
//! An observation is first judged against what the pixel's own history expects ([`super::model`]):
//! with a seasonal model, by its standardized residual; before there is one, by whether its class is
//! the class the pixel had. An observation that fits is accepted at once. One that departs is held
//! back: when [`ModelParams::break_confirmations`] (or, by class, [`TemporalParams::class_confirmations`])
//! depart in a row, the ground has changed (a break) and they are accepted in order, as departures;
//! when one fits again first, they were noise (a thin cloud or shadow the quality band missed, a wet
//! day) and are dropped. So one odd acquisition never starts, ends or extends anything.
//!
//! Accepted observations build the events, and the classes before and after a break name them:
//! - works (`earthworks`): a break into bare soil from vegetation (stripping), from built ground
//!   (demolition), from water (filling), or from other bare soil (excavation, fill), judged by a model;
//!   an event until [`TemporalParams::earthworks_quiet_days`] after the latest works, whatever covers
//!   the ground since (a net, a building, a sown crop);
//! - construction: a break into built ground from ground that was not built (a segment built on most
//!   of its observations is established: its roofs never become construction again unless it is
//!   demolished, a break into bare, and then built); ongoing while it stays built;
//! - the bare run and its idle clock: it starts at the first bare observation of the run, whatever
//!   made the ground bare, and ends at vegetation (re-greened), a net (covered), a building or water.
//!   Bareness the pixel's seasonal model expects on ground that is green at other times of year (a
//!   harvest gap, a fallow winter) is not idle; a run that a break made, or on a pixel without such a
//!   model, is. Idle after [`TemporalParams::idle_months`] calendar months.

use serde::{Deserialize, Serialize};

use super::model::{BANDS, Judged, ModelParams, TERMS, refit_due, season_terms, terms};
use super::state::{MAX_PENDING, NONE_DAY, PixelObservation, PixelState, SEASON_BARE, SEASON_GREEN, from_day_number};
use crate::io::dates::add_months;
use crate::spectral::LandClass;
use crate::spectral::classes::{ClassRules, classify_pixel};
use crate::spectral::indices::{Pixel, pixel_indices};

/// Settings of the temporal logic (config file `[scan.temporal]`). Defaults follow the clean-soil plan:
/// bare land idle for three months is to be re-greened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
#[serde(default, deny_unknown_fields)]
pub struct TemporalParams {
    /// Calendar months of unbroken bare run after which ground is idle.
    pub idle_months: u32,
    /// Observations of a new class in a row that confirm a change of class where there is no model.
    pub class_confirmations: u32,
    /// Accepted non-built observations of a segment before built ground counts as new construction
    /// where there is no model (a building there from the first observation is not new).
    pub history_before_construction: u32,
    /// Days without new works after which works are over.
    pub earthworks_quiet_days: i32,
    /// Longest gap between two valid observations that a bare run may span: past it, nobody saw what
    /// happened in between, and the run starts again (one lost monthly acquisition is fine, two are not).
    pub max_observation_gap_days: i32,
    /// NDVI under which "bare" ground is bare soil (stripped, dug, idle) rather than thinned, mown or
    /// sparse vegetation, which the class rules also call bare from 0.2 to 0.35: on the real Changsha
    /// series the stripped block reads 0.05-0.15, a path worn through its grass and the mixed pixels
    /// at its edge 0.2-0.35.
    pub stripped_max_ndvi: f32,
    /// The seasonal model.
    pub model: ModelParams,
}

impl Default for TemporalParams {
    fn default() -> Self {
        TemporalParams {
            idle_months: 3,
            class_confirmations: 2,
            history_before_construction: 2,
            earthworks_quiet_days: 90,
            max_observation_gap_days: 75,
            stripped_max_ndvi: 0.2,
            model: ModelParams::default(),
        }
    }
}

/// What is known about the whole acquisition, not one pixel.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct DateContext {
    /// Day number of the acquisition.
    pub day: i32,
    /// The seasonal terms of that day ([`season_terms`]).
    pub season: [f32; 4],
    /// 1 when the area's vegetation is green on that day (`season::is_dormant` is false): bare-looking
    /// ground is then not dormant grass or leafless scrub.
    pub area_green: u32,
}

impl DateContext {
    /// The context of an acquisition on day `day`, `area_green` as measured over the area.
    pub fn on(day: i32, area_green: bool) -> DateContext {
        DateContext { day, season: season_terms(day), area_green: u32::from(area_green) }
    }
}

/// Events a pixel shows after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActiveEvents {
    /// New building or hard surface.
    pub construction: bool,
    /// Ground being worked: stripped, dug, filled.
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

/// The class of a spectrum (blue, green, red, nir, swir1, swir2; NaN SWIR where not measured).
#[inline]
pub fn class_of_bands(b: &[f32; BANDS], rules: &ClassRules) -> LandClass {
    let p = Pixel { blue: b[0], green: b[1], red: b[2], nir: b[3], swir1: b[4], swir2: b[5] };
    classify_pixel(&p, &pixel_indices(&p), rules)
}

/// Relative spread below which a band's segment spread is not trusted without a model: two looks at the
/// same soil differ by a few percent per band from the atmosphere and illumination alone.
const SEGMENT_MIN_RELATIVE_SPREAD: f32 = 0.1;

/// True for the pairs of classes that thresholds, not spectra, tell apart: bare soil and built ground
/// (NDTI, redness), green nets and winter grass (green over red with a low NDVI and little NIR), nets and
/// built ground (a black net and asphalt are both dark and flat, where the soil's clay absorption in
/// SWIR, the only difference, is within the noise; blue and white nets against blue steel and white
/// coatings by the same SWIR slopes).
#[inline]
fn confusable(a: LandClass, b: LandClass) -> bool {
    matches!(
        (a, b),
        (LandClass::BareSoil, LandClass::Built)
            | (LandClass::Built, LandClass::BareSoil)
            | (LandClass::Vegetation, LandClass::Covered)
            | (LandClass::Covered, LandClass::Vegetation)
            | (LandClass::Covered, LandClass::Built)
            | (LandClass::Built, LandClass::Covered)
    )
}

/// Whether `bands` lie within the spread of the current segment's observations (mean squared
/// standardized distance from their mean under `change_score`; each band's spread at least
/// [`SEGMENT_MIN_RELATIVE_SPREAD`] of its mean and `min_rmse`): for pixels without a model yet.
// Indexed as the GPU kernel will index its arrays (see `model.rs`).
#[allow(clippy::needless_range_loop)]
fn within_segment_spread(s: &PixelState, bands: &[f32; BANDS], measured: usize, p: &ModelParams) -> bool {
    let count = s.fit.xtx[0];
    if count < 2.0 || !bands[..4].iter().all(|v| v.is_finite()) {
        return false;
    }
    let mut sum = 0.0f32;
    for b in 0..measured {
        let mean = s.fit.xty[b * TERMS] / count;
        let variance = s.fit.yty[b] / count - mean * mean;
        let spread = if variance > 0.0 { variance.sqrt() } else { 0.0 };
        let floor = SEGMENT_MIN_RELATIVE_SPREAD * mean.abs();
        let spread = spread.max(floor).max(p.min_rmse);
        let r = (bands[b] - mean) / spread;
        sum += r * r;
    }
    sum / (measured as f32) <= p.change_score
}

/// FNV-1a over the bits of the six bands and NDVI (all a series of NDVI alone has), never 0 (the "none
/// yet" of [`PixelState::last_fingerprint`]).
#[inline]
fn fingerprint(bands: &[f32; BANDS], ndvi: f32) -> u32 {
    let mut h = 0x811c_9dc5u32;
    for b in bands.iter().chain(std::iter::once(&ndvi)) {
        h = (h ^ b.to_bits()).wrapping_mul(0x0100_0193);
    }
    if h == 0 { 1 } else { h }
}

/// Bands an observation measured: 6 with both SWIR bands, else the 4 visible and NIR bands.
#[inline]
fn measured(bands: &[f32; BANDS]) -> usize {
    if bands[4].is_nan() || bands[5].is_nan() { 4 } else { BANDS }
}

/// The bands as the sums take them: unmeasured SWIR as 0, so that a sensor without SWIR still fits
/// the visible and NIR bands (and its SWIR coefficients stay 0, which nothing reads).
#[inline]
fn summable(bands: &[f32; BANDS]) -> [f32; BANDS] {
    let mut y = *bands;
    if measured(bands) < BANDS {
        y[4] = 0.0;
        y[5] = 0.0;
    }
    y
}

/// True when the segment was built on most of its observations: its roofs are established.
#[inline]
fn established(s: &PixelState) -> bool {
    s.seg_obs > 0 && 10 * s.seg_built >= 3 * s.seg_obs
}

/// Applies one observation. Invalid (`NoData`) and ambiguous (`Unknown`) observations change nothing.
pub fn update_pixel(
    s: &mut PixelState,
    obs: &PixelObservation,
    ctx: &DateContext,
    p: &TemporalParams,
    rules: &ClassRules,
) {
    let mut class = obs.class;
    if matches!(class, LandClass::NoData | LandClass::Unknown) {
        return;
    }
    // A monthly composite that had no clear look that month repeats the previous one bit for bit: it
    // is not a look at the ground (counted again, one odd look would confirm itself). Two real
    // acquisitions never agree to the last bit in every band.
    let print = fingerprint(&obs.bands, obs.ndvi);
    if print == s.last_fingerprint {
        return;
    }
    s.last_fingerprint = print;
    s.valid_obs = s.valid_obs.saturating_add(1);
    let day = ctx.day;
    // Departures seen across a gap nobody observed do not belong together.
    if s.pend_count > 0 && day - s.pend_day[s.pend_count as usize - 1] > p.max_observation_gap_days {
        s.pend_count = 0;
    }
    let n = measured(&obs.bands);
    let reflectance = obs.bands[..4].iter().all(|v| v.is_finite());
    let mut judged = None;
    let (departs, score, expected) = if s.model_terms > 0 && reflectance {
        let x = terms(&ctx.season, day, s.seg_start);
        // A fit upgraded from a store without the kept inverse is judged from its sums once.
        let (e, leverage) = if s.recursion.fitted_obs > 0 {
            let j = s.fit.judge(&s.recursion, &x);
            judged = Some(j);
            (j.expected, j.leverage)
        } else {
            (s.fit.predict(&x), s.fit.leverage(&x, &p.model))
        };
        let score = s.fit.departure(&obs.bands, &e, n, leverage);
        let mut e_class = e;
        if n < BANDS {
            e_class[4] = f32::NAN;
            e_class[5] = f32::NAN;
        }
        let expected = if established(s) { LandClass::Built } else { class_of_bands(&e_class, rules) };
        (score > p.model.change_score, score, expected)
    } else {
        let last = LandClass::from_u8(s.class_last as u8);
        let same_ground = confusable(class, last) && within_segment_spread(s, &obs.bands, n, &p.model);
        (last != LandClass::NoData && class != last && !same_ground, 0.0, last)
    };
    // Some classes are told apart by thresholds that a scene's atmosphere, a dry month or a winter can
    // push the ground across ([`confusable`]): an observation that the pixel's history explains (it
    // fits the model, or lies within the segment's spread) is the ground it was.
    if !departs && confusable(class, expected) {
        class = expected;
    }
    if !departs {
        s.pend_count = 0;
        let taken = Taken {
            day,
            season: ctx.season,
            area_green: ctx.area_green != 0,
            class,
            bands: obs.bands,
            ndvi: obs.ndvi,
            bsi: obs.bsi,
            judged,
        };
        accept(s, &taken, false, p, rules);
        return;
    }
    if s.model_terms == 0 && s.pend_count > 0 && s.pend_class[s.pend_count as usize - 1] != class as u32 {
        // Judged by class, a change is confirmed by observations of the same new class only.
        s.pend_count = 0;
    }
    if s.pend_count == 0 {
        s.pend_before = expected as u32;
    }
    let k = (s.pend_count as usize).min(MAX_PENDING - 1);
    s.pend_day[k] = day;
    s.pend_class[k] = class as u32;
    s.pend_score[k] = score;
    s.pend_season[k * 4..k * 4 + 4].copy_from_slice(&ctx.season);
    s.pend_green[k] = ctx.area_green;
    s.pend_bands[k * BANDS..(k + 1) * BANDS].copy_from_slice(&obs.bands);
    s.pend_count = k as u32 + 1;
    // Green ground that the model expects green, seen as clean bare soil far outside its spread, is
    // stripping: no haze or shadow the masks missed looks like soil with the clay absorption, and works
    // that sow grass or lay nets within a month leave a single look at the bare ground.
    let stripped = s.model_terms > 0
        && s.pend_count == 1
        && class == LandClass::BareSoil
        && expected == LandClass::Vegetation
        && s.class_last == LandClass::Vegetation as u32
        && obs.ndvi < p.stripped_max_ndvi
        && score > 2.0 * p.model.change_score;
    let needed = if stripped {
        1
    } else if s.model_terms > 0 {
        p.model.break_confirmations
    } else {
        p.class_confirmations
    };
    if s.pend_count >= needed.clamp(1, MAX_PENDING as u32) {
        take_break(s, obs, p, rules);
    }
}

/// The held-back observations are a change: start a new segment at the first of them (where a model
/// judged them) and accept them in order.
fn take_break(s: &mut PixelState, latest: &PixelObservation, p: &TemporalParams, rules: &ClassRules) {
    let by_model = s.model_terms > 0;
    // Judged by class, new construction needs ground seen as something else first; the count is taken
    // before the change starts a new segment.
    let history = s.nonbuilt_obs;
    // Ground already bare at its latest accepted look (a fallow winter) that stays bare into the season
    // the model expects green was not stripped then: it failed to green, and its bare run goes on.
    let failed_to_green = s.class_last == LandClass::BareSoil as u32;
    s.last_break = s.pend_day[0];
    s.break_score = s.pend_score[0];
    s.judged_by_class = u32::from(!by_model);
    s.ndvi_before = s.ndvi_last;
    s.bsi_before = s.bsi_last;
    let before = LandClass::from_u8(s.pend_before as u8);
    let into = LandClass::from_u8(s.pend_class[0] as u8);
    let reset = by_model || resets_segment(before, into);
    if reset {
        // A break from the model into bare ground marks what follows as new ground; a change judged by
        // class (the building going up on it) keeps the mark.
        if by_model {
            s.seg_by_model = u32::from(into == LandClass::BareSoil);
        }
        s.seg_start = s.pend_day[0];
        s.fit = Default::default();
        s.recursion = Default::default();
        s.seg_obs = 0;
        s.seg_built = 0;
        s.model_terms = 0;
        s.green_season = 0;
        // A break judged by the model is itself the history a new building needs; a change judged by
        // class alone starts the count again, so that a pixel flickering between classes in its first
        // months (mixed pixels, composites) never passes for new construction.
        s.nonbuilt_obs = if by_model { p.history_before_construction } else { 0 };
    }
    let count = s.pend_count as usize;
    s.pend_count = 0;
    for k in 0..count {
        let day = s.pend_day[k];
        let class = LandClass::from_u8(s.pend_class[k] as u8);
        let mut bands = [0.0f32; BANDS];
        bands.copy_from_slice(&s.pend_bands[k * BANDS..(k + 1) * BANDS]);
        let mut season = [0.0f32; 4];
        season.copy_from_slice(&s.pend_season[k * 4..k * 4 + 4]);
        let (ndvi, bsi) = if k + 1 == count {
            (latest.ndvi, latest.bsi)
        } else {
            let i = pixel_indices(&Pixel {
                blue: bands[0],
                green: bands[1],
                red: bands[2],
                nir: bands[3],
                swir1: bands[4],
                swir2: bands[5],
            });
            (i[0], i[1])
        };
        let taken = Taken { day, season, area_green: s.pend_green[k] != 0, class, bands, ndvi, bsi, judged: None };
        accept_departure(s, &taken, before, failed_to_green, by_model, history, p, rules);
    }
}

/// True when a change of class, judged without a model, is a new state of the ground that starts a new
/// segment: into or out of buildings, nets and water (vegetation turning bare and back is what every
/// harvest looks like).
#[inline]
fn resets_segment(before: LandClass, into: LandClass) -> bool {
    matches!(into, LandClass::Built | LandClass::Covered | LandClass::Water)
        || matches!(before, LandClass::Built | LandClass::Covered | LandClass::Water)
}

/// An observation as the runs and the model take it in (held-back ones with the season and the area's
/// greenness of their own day).
struct Taken {
    day: i32,
    season: [f32; 4],
    area_green: bool,
    class: LandClass,
    bands: [f32; BANDS],
    ndvi: f32,
    bsi: f32,
    /// How the segment's model judged it, when one did (what its recursive update reuses).
    judged: Option<Judged>,
}

#[allow(clippy::too_many_arguments)]
fn accept_departure(
    s: &mut PixelState,
    o: &Taken,
    before: LandClass,
    failed_to_green: bool,
    by_model: bool,
    history: u32,
    p: &TemporalParams,
    rules: &ClassRules,
) {
    let (day, class) = (o.day, o.class);
    let stripped = class == LandClass::BareSoil && by_model && o.ndvi < p.stripped_max_ndvi;
    let worked = match before {
        LandClass::Vegetation => !failed_to_green,
        LandClass::BareSoil | LandClass::Built | LandClass::Water => true,
        _ => false,
    };
    if stripped && worked {
        if s.works_start == NONE_DAY || day - s.works_last > p.earthworks_quiet_days {
            s.works_start = day;
        }
        s.works_last = day;
    }
    if class == LandClass::Built && s.built_since == NONE_DAY {
        let new = if by_model {
            before != LandClass::Built
        } else {
            // Judged by class, a change into "built" is new construction only on ground that a break
            // from the seasonal model showed to be new (stripped, dug): without a year of history, a
            // pixel turning built is as often a mixed or red-roofed pixel flickering between classes.
            s.seg_by_model != 0 && before != LandClass::Built && history >= p.history_before_construction
        };
        if new {
            s.built_since = day;
        }
    }
    // A change of class confirmed without a model is what every harvest looks like: it does not make
    // the bareness unexplained the way a break from the seasonal model does.
    let unexpected = by_model && (class != LandClass::BareSoil || stripped);
    accept(s, o, unexpected, p, rules);
}

/// Adds an accepted observation to the segment's model and to the runs.
fn accept(s: &mut PixelState, o: &Taken, departed: bool, p: &TemporalParams, rules: &ClassRules) {
    let Taken { day, ref season, area_green, class, ref bands, ndvi, bsi, judged } = *o;
    // Whether this bareness is unexplained: a break made it; or a seasonal model without a green season
    // expects it (ground bare all year); or, without a model, it is bare while the area is green, on
    // ground seen to be something else before the run (ground bare from its first observation may be
    // dormant grass: its model, a year on, will tell).
    let prev = LandClass::from_u8(s.class_last as u8);
    let start_seen = if s.bare_start == NONE_DAY || day - s.last_valid > p.max_observation_gap_days {
        !matches!(prev, LandClass::NoData | LandClass::BareSoil)
    } else {
        s.bare_start_seen != 0
    };
    // Ground bare since before it was first seen and still bare in the green season a full idle period
    // into its run is no fallow winter (it greens as the area does) and no harvest gap (weeks): without
    // waiting a year for its model, it is idle ground.
    let bare_since_unseen = s.bare_start != NONE_DAY
        && !start_seen
        && from_day_number(s.bare_start)
            .zip(from_day_number(day))
            .is_some_and(|(start, today)| add_months(start, p.idle_months) <= today);
    let unexplained = departed
        || (s.model_terms != 0 && s.green_season == SEASON_BARE)
        || (s.model_terms == 0 && area_green && (start_seen || bare_since_unseen));
    if s.seg_start == NONE_DAY {
        s.seg_start = day;
    }
    // A series of indices alone (no reflectance) has nothing to fit: its pixels are judged by class.
    let reflectance = bands[..4].iter().all(|v| v.is_finite());
    let look = reflectance.then(|| (terms(season, day, s.seg_start), summable(bands)));
    if let Some((x, y)) = &look {
        s.fit.add(x, y);
    }
    s.seg_obs = s.seg_obs.saturating_add(u32::from(reflectance));
    if class == LandClass::Built {
        s.seg_built = s.seg_built.saturating_add(1);
    } else {
        s.nonbuilt_obs = s.nonbuilt_obs.saturating_add(1);
    }
    refit(s, day, look.map(|(x, y)| (x, y, judged)), p, rules, measured(bands));

    match class {
        LandClass::BareSoil => {
            if s.bare_start != NONE_DAY && day - s.last_valid > p.max_observation_gap_days {
                s.bare_start = NONE_DAY;
            }
            if s.bare_start == NONE_DAY {
                s.bare_start = day;
                s.bare_obs = 0;
                s.bare_by_break = 0;
                s.bare_start_seen = u32::from(start_seen);
            }
            s.bare_last = day;
            s.bare_obs = s.bare_obs.saturating_add(1);
            s.bare_by_break |= u32::from(departed);
            // Thinned or sparse vegetation (NDVI 0.2-0.35) is partly green: not idle bare land.
            s.bare_unexplained = u32::from(unexplained && ndvi < p.stripped_max_ndvi);
            s.built_since = NONE_DAY;
        }
        _ => {
            s.bare_start = NONE_DAY;
            s.bare_last = NONE_DAY;
            s.bare_obs = 0;
            s.bare_by_break = 0;
            s.bare_unexplained = 0;
            if class != LandClass::Built {
                s.built_since = NONE_DAY;
            }
        }
    }
    s.built_run = if class == LandClass::Built { s.built_run.saturating_add(1) } else { 0 };
    s.class_last = class as u32;
    s.last_valid = day;
    s.ndvi_last = ndvi;
    s.bsi_last = bsi;
}

/// Refits the segment's model with the terms its observations support, when its schedule
/// ([`refit_due`]) says so, and keeps the inverse the leverage of the next looks is read from.
fn refit(
    s: &mut PixelState,
    day: i32,
    look: Option<([f32; TERMS], [f32; BANDS], Option<Judged>)>,
    p: &TemporalParams,
    rules: &ClassRules,
    bands: usize,
) {
    let m = &p.model;
    if s.seg_obs < m.full_min_obs || day - s.seg_start < m.full_min_span_days {
        return;
    }
    if s.model_terms != 0 && !refit_due(s.seg_obs, s.recursion.fitted_obs) {
        // What the model expects through the year is judged again at each refit: one look more does
        // not turn a green season bare.
        if let Some((x, y, judged)) = look {
            // Judged before it was added to the sums, against the same fit (taking it in is what
            // changes the fit); a look without that judgement is judged here.
            let judged = judged.unwrap_or_else(|| s.fit.judge(&s.recursion, &x));
            s.fit.track(&mut s.recursion, &judged, &y, s.seg_obs, m);
        }
        return;
    }
    let Some(recursion) = s.fit.fit(TERMS, s.seg_obs, m) else { return };
    s.recursion = recursion;
    s.model_terms = TERMS as u32;
    s.green_season = season_of(s, p, rules, bands);
}

/// The seasonal terms at twelve phases a month apart (cos and sin of k/12 and 2k/12 of a turn), as
/// constants so that both backends judge a green season from the same numbers. Values below 1e-7 are 0.
const MONTH_PHASES: [[f32; 4]; 12] = {
    const H: f32 = 0.866_025_4;
    [
        [1.0, 0.0, 1.0, 0.0],
        [H, 0.5, 0.5, H],
        [0.5, H, -0.5, H],
        [0.0, 1.0, -1.0, 0.0],
        [-0.5, H, -0.5, -H],
        [-H, 0.5, 0.5, -H],
        [-1.0, 0.0, 1.0, 0.0],
        [-H, -0.5, 0.5, H],
        [-0.5, -H, -0.5, H],
        [0.0, -1.0, -1.0, 0.0],
        [0.5, -H, -0.5, -H],
        [H, -0.5, 0.5, -H],
    ]
};

/// What the model expects through the year ([`SEASON_GREEN`], [`SEASON_BARE`] or 0), judged at twelve
/// dates a month apart in the segment's latest year.
fn season_of(s: &PixelState, p: &TemporalParams, rules: &ClassRules, bands: usize) -> u32 {
    let mut green = false;
    let mut bare_all_year = true;
    for season in MONTH_PHASES {
        let mut x = [1.0, 0.0, season[0], season[1], season[2], season[3]];
        // The trend at the segment's latest year, not its first.
        x[1] = (s.last_valid.max(s.seg_start) - s.seg_start) as f32 / super::model::YEAR_DAYS;
        let mut e = s.fit.predict(&x);
        if bands < BANDS {
            e[4] = f32::NAN;
            e[5] = f32::NAN;
        }
        let class = class_of_bands(&e, rules);
        green |= class == LandClass::Vegetation;
        let ndvi = crate::spectral::indices::normalized_difference(e[3], e[2]);
        bare_all_year &= class == LandClass::BareSoil && ndvi < p.stripped_max_ndvi;
    }
    if green {
        SEASON_GREEN
    } else if bare_all_year {
        SEASON_BARE
    } else {
        0
    }
}

/// The events a pixel shows on `day`, from its state.
pub fn active_events(s: &PixelState, day: i32, p: &TemporalParams) -> ActiveEvents {
    let last = LandClass::from_u8(s.class_last as u8);
    let bare = last == LandClass::BareSoil;
    let construction = s.built_since != NONE_DAY && last == LandClass::Built && s.built_run >= p.class_confirmations;
    // Works stay an event for their quiet period whatever covers the ground since: stripping that was
    // netted, built on or sown over within weeks still happened.
    let earthworks = s.works_start != NONE_DAY && day - s.works_last <= p.earthworks_quiet_days;
    let idle_bare = bare
        && (s.bare_by_break != 0 || s.bare_unexplained != 0)
        && match (from_day_number(s.bare_start), from_day_number(s.bare_last)) {
            (Some(start), Some(latest)) => add_months(start, p.idle_months) <= latest,
            _ => false,
        };
    ActiveEvents { construction, earthworks, idle_bare }
}
