//! The temporal rules on single pixels: what one acquisition after another makes of a pixel's state,
//! and the white-roof rule of the scan's masking. Each test is a short series whose outcome the rule
//! under test decides.

use chrono::NaiveDate;
use jingtu::compute::CpuBackend;
use jingtu::raster::{BandRole, BandStack};
use jingtu::scan::observe::{RawObservation, classify_window};
use jingtu::spectral::indices::{Pixel, pixel_indices};
use jingtu::spectral::{ClassRules, LandClass};
use jingtu::temporal::rules::class_of_bands;
use jingtu::temporal::{
    ActiveEvents, DateContext, PixelObservation, PixelState, TemporalParams, active_events, day_number, update_pixel,
};
use ndarray::{Array2, Array3};

const SOIL: [f32; 6] = [0.10, 0.14, 0.19, 0.24, 0.32, 0.26];
const CONCRETE: [f32; 6] = [0.20, 0.22, 0.24, 0.27, 0.30, 0.27];

fn day(y: i32, m: u32) -> i32 {
    day_number(NaiveDate::from_ymd_opt(y, m, 15).unwrap())
}

/// A grassland pixel through the year: green from April to October, dormant and bare-looking in winter
/// when `bare_winter`.
fn grass(m: u32, bare_winter: bool) -> [f32; 6] {
    let green = (4..=10).contains(&m);
    if green || !bare_winter {
        let lush = if green { 1.0 } else { 0.6 };
        [0.03, 0.07, 0.05 + 0.03 * (1.0 - lush), 0.22 + 0.18 * lush, 0.20, 0.11]
    } else {
        SOIL
    }
}

struct Pixel1 {
    s: PixelState,
    p: TemporalParams,
    rules: ClassRules,
}

impl Pixel1 {
    fn new() -> Self {
        Pixel1 { s: PixelState::default(), p: TemporalParams::default(), rules: ClassRules::default() }
    }

    /// Takes in a look at `bands` on day `d`, with a little sensor noise that differs from day to day
    /// (so that no two looks are the same numbers, as no two real acquisitions are).
    fn see(&mut self, d: i32, bands: [f32; 6]) -> ActiveEvents {
        let jitter = ((d.rem_euclid(7)) as f32 - 3.0) * 0.0007;
        self.see_exactly(d, bands.map(|b| b + jitter))
    }

    fn see_exactly(&mut self, d: i32, bands: [f32; 6]) -> ActiveEvents {
        let px =
            Pixel { blue: bands[0], green: bands[1], red: bands[2], nir: bands[3], swir1: bands[4], swir2: bands[5] };
        let idx = pixel_indices(&px);
        let obs = PixelObservation { class: class_of_bands(&bands, &self.rules), bands, ndvi: idx[0], bsi: idx[1] };
        update_pixel(&mut self.s, &obs, &DateContext::on(d, true), &self.p, &self.rules);
        active_events(&self.s, d, &self.p)
    }
}

#[test]
fn a_composite_that_repeats_the_previous_month_does_not_confirm_a_change() {
    let mut px = Pixel1::new();
    for m in 1..=3 {
        px.see(day(2024, m), SOIL);
    }
    let odd = [0.12, 0.13, 0.14, 0.16, 0.17, 0.17];
    assert_eq!(class_of_bands(&odd, &px.rules), LandClass::Built);
    px.see_exactly(day(2024, 4), odd);
    // Gap-filled: the same numbers again. Without a model, two looks confirm a change of class.
    px.see_exactly(day(2024, 5), odd);
    assert_eq!(px.s.class_last, LandClass::BareSoil as u32, "one look, repeated, is still one look");
    assert_eq!(px.s.valid_obs, 4);
    // A second, different look at the new ground confirms it.
    px.see_exactly(day(2024, 6), [0.121, 0.13, 0.14, 0.16, 0.17, 0.17]);
    assert_eq!(px.s.class_last, LandClass::Built as u32);
}

#[test]
fn grass_stripped_in_summer_is_works_and_ground_that_fails_to_green_is_idle() {
    // Two years of grass that is bare-looking every winter, so that the model knows its seasons.
    let history = |px: &mut Pixel1| {
        for y in 2022..=2023 {
            for m in 1..=12 {
                px.see(day(y, m), grass(m, true));
            }
        }
    };
    let mut stripped = Pixel1::new();
    history(&mut stripped);
    for m in 1..=5 {
        stripped.see(day(2024, m), grass(m, true));
    }
    let works = stripped.see(day(2024, 6), SOIL);
    assert!(works.earthworks, "green June ground stripped to soil is works at the first look");

    let mut fallow = Pixel1::new();
    history(&mut fallow);
    let mut seen = Vec::new();
    for m in 1..=7 {
        // Bare all winter as every year, and then it stays bare through spring and summer.
        let e = fallow.see(day(2024, m), SOIL);
        seen.push((m, e));
    }
    assert!(seen.iter().all(|(_, e)| !e.earthworks), "nothing was stripped: the ground was bare already: {seen:?}");
    assert!(seen.iter().any(|(m, e)| e.idle_bare && *m <= 6), "bare since winter, not re-greened: idle {seen:?}");
}

#[test]
fn soil_read_as_built_in_one_hazy_month_is_still_the_same_soil() {
    let mut px = Pixel1::new();
    for m in 1..=4 {
        px.see(day(2024, m), SOIL);
    }
    // The atmosphere lifts SWIR2 by a few percent: the clay absorption no longer shows, the class rules
    // call it built, but the reflectance is the soil's.
    let lifted = [0.101, 0.141, 0.191, 0.242, 0.305, 0.29];
    assert_eq!(class_of_bands(&lifted, &px.rules), LandClass::Built);
    px.see_exactly(day(2024, 5), lifted);
    px.see_exactly(day(2024, 6), [0.102, 0.142, 0.19, 0.241, 0.306, 0.291]);
    assert_eq!(px.s.class_last, LandClass::BareSoil as u32, "the same soil");
    assert_eq!(px.s.bare_obs, 6, "its bare run goes on");
    // Concrete poured over it is a change of spectrum, not only of class.
    px.see_exactly(day(2024, 7), CONCRETE);
    px.see_exactly(day(2024, 8), [0.201, 0.22, 0.24, 0.27, 0.30, 0.27]);
    assert_eq!(px.s.class_last, LandClass::Built as u32);
}

#[test]
fn a_black_net_read_as_built_in_a_noisy_month_is_still_the_net() {
    let mut px = Pixel1::new();
    // A black HDPE net with a fifth of soil showing through: dark and flat, the soil's clay absorption
    // (NDTI about 0.07) just above the rules' 0.04.
    let net = [0.048, 0.058, 0.068, 0.084, 0.108, 0.094];
    assert_eq!(class_of_bands(&net, &px.rules), LandClass::Covered);
    for m in 1..=4 {
        px.see_exactly(day(2024, m), net.map(|v| v * (1.0 + 0.01 * m as f32)));
    }
    // SWIR noise on so dark a pixel hides the clay absorption: the rules call it built (asphalt).
    let noisy = [0.049, 0.059, 0.069, 0.085, 0.104, 0.098];
    assert_eq!(class_of_bands(&noisy, &px.rules), LandClass::Built);
    px.see_exactly(day(2024, 5), noisy);
    px.see_exactly(day(2024, 6), [0.048, 0.058, 0.068, 0.085, 0.105, 0.099]);
    assert_eq!(px.s.class_last, LandClass::Covered as u32, "the same net");
    assert_eq!(px.s.built_since, i32::MIN, "no construction");
    // A concrete slab where the net was is a change of spectrum, not only of class.
    px.see_exactly(day(2024, 7), CONCRETE);
    px.see_exactly(day(2024, 8), [0.201, 0.22, 0.24, 0.27, 0.30, 0.27]);
    assert_eq!(px.s.class_last, LandClass::Built as u32);
}

/// One 3 x 1 window: a white roof in the middle, soil around it; the quality band saw no cloud.
fn white_roof_window() -> RawObservation {
    let white = [0.52, 0.55, 0.56, 0.58, 0.48, 0.40];
    let roles = vec![BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1, BandRole::Swir2];
    let data = Array3::from_shape_fn((6, 1, 3), |(b, _, c)| if c == 1 { white[b] } else { SOIL[b] });
    let scales = roles.iter().map(|r| (*r, 1.0, 0.0)).collect();
    RawObservation { stack: BandStack::new(roles, data, Array2::ones((1, 3))), flagged: Array2::zeros((1, 3)), scales }
}

#[test]
fn a_white_roof_that_stays_is_observed_after_its_first_look() {
    let backend = CpuBackend::new();
    let mask = Array2::ones((1, 3));
    let rules = ClassRules::default();
    let first = classify_window(&backend, white_roof_window(), &mask, &[0, 0, 0], &rules, 0).unwrap();
    assert_eq!(first.planes.class[1], LandClass::NoData as u8, "first look: like any cloud, masked");
    assert_eq!(first.cloud_like, vec![0, 1, 0]);
    let again = classify_window(&backend, white_roof_window(), &mask, &[0, 1, 0], &rules, 0).unwrap();
    assert_eq!(again.planes.class[1], LandClass::Built as u8, "it stayed: a roof, not a cloud");
    assert_eq!(again.planes.class[0], LandClass::BareSoil as u8);
}

#[test]
fn winter_grass_that_reads_as_a_green_net_is_still_grass() {
    // A lawn through a year: lush in summer, thin and dull in winter.
    let lawn = |m: u32| {
        let lush = if (4..=10).contains(&m) { 1.0 } else { 0.0 };
        [0.04, 0.08, 0.06 - 0.02 * lush, 0.16 + 0.24 * lush, 0.17, 0.10]
    };
    let mut px = Pixel1::new();
    for m in 1..=12 {
        px.see(day(2023, m), lawn(m));
    }
    let winter = [0.045, 0.085, 0.065, 0.125, 0.16, 0.10];
    assert_eq!(class_of_bands(&winter, &px.rules), LandClass::Covered, "the class rules take it for a net");
    px.see_exactly(day(2024, 1), winter);
    px.see_exactly(day(2024, 2), [0.046, 0.086, 0.066, 0.126, 0.161, 0.101]);
    assert_eq!(px.s.class_last, LandClass::Vegetation as u32, "the lawn's own winter");
    assert_eq!(px.s.seg_start, day(2023, 1), "its history goes on");
}
