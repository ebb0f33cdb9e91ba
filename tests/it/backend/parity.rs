//! Every kernel, one test body, run on every backend (candle's `test_device!` idea): `<kernel>::cpu`,
//! `<kernel>::gpu`, and `<kernel>::gpu_chunked`, which lowers the binding size so the largest scene
//! crosses dozens of chunk (and halo) boundaries. Each body checks the backend against the scalar
//! definitions in `spectral` and naive loops written here, so every backend is held to the same
//! reference: classes, masks and counts identical, floats identical to the bit (the GPU shaders round
//! like the CPU does; see shaders/prelude.wgsl), moment sums within 1e-12 of a plain f64 sum.
//!
//! The GPU tests run on Mesa's lavapipe where there is no GPU and fail where there is no Vulkan driver
//! at all, unless JINGTU_SKIP_GPU_TESTS=1.

use crate::support;

use chrono::NaiveDate;
use jingtu::compute::{Backend, ObservationPlanes, histogram_bin, histogram_scale};
use jingtu::io::dates::add_months;
use jingtu::raster::{BandRole, BandStack};
use jingtu::spectral::classes::classify_pixel;
use jingtu::spectral::cloud::{CLOUD_MAX_VISIBLE_SPREAD, CLOUD_MIN_BLUE, looks_like_cloud};
use jingtu::spectral::indices::{Pixel, pixel_indices};
use jingtu::spectral::rgb::rgb_pixel_features;
use jingtu::spectral::{ClassRules, IndexKind, IndexStack, LandClass, RgbFeature};
use jingtu::synth::rng::Rng;
use jingtu::temporal::{
    DateContext, NONE_DAY, PixelObservation, PixelState, TemporalParams, active_events, day_number, update_pixel,
};
use ndarray::{Array2, Array3, s};
use support::{Scene, assert_same_f32, assert_same_states, scenes};

macro_rules! on_every_backend {
    ($($kernel:ident),* $(,)?) => {$(
        mod $kernel {
            #[test]
            fn cpu() {
                super::$kernel(&jingtu::compute::CpuBackend::new());
            }

            #[test]
            fn gpu() {
                if let Some(gpu) = super::support::gpu() {
                    super::$kernel(&gpu);
                }
            }

            #[test]
            fn gpu_chunked() {
                let (Some(whole), Some(chunked)) = (super::support::gpu(), super::support::gpu()) else { return };
                let chunked = chunked.with_binding_limit(super::support::CHUNKED_BINDING);
                super::$kernel(&whole);
                super::$kernel(&chunked);
                assert!(
                    chunked.stats().dispatches > whole.stats().dispatches,
                    "the chunked run did not chunk: {:?} vs {:?}",
                    chunked.stats(),
                    whole.stats()
                );
            }
        }
    )*};
}

on_every_backend!(
    linear,
    indices,
    classify,
    pair_moments,
    change_magnitude,
    box_mean,
    histogram,
    dilate,
    cloud_test,
    height_difference,
    slope,
    erode,
    rgb_features,
);

fn pixel_of(stack: &BandStack, r: usize, c: usize) -> Pixel {
    let get = |role| stack.index_of(role).map_or(f32::NAN, |b| stack.data[[b, r, c]]);
    Pixel {
        blue: get(BandRole::Blue),
        green: get(BandRole::Green),
        red: get(BandRole::Red),
        nir: get(BandRole::Nir),
        swir1: get(BandRole::Swir1),
        swir2: get(BandRole::Swir2),
    }
}

/// Indices from the scalar definition, NaN where invalid.
fn reference_indices(stack: &BandStack) -> IndexStack {
    let (h, w) = (stack.height(), stack.width());
    let mut data = Array3::<f32>::from_elem((7, h, w), f32::NAN);
    for r in 0..h {
        for c in 0..w {
            if stack.valid[[r, c]] != 0 {
                for (k, v) in pixel_indices(&pixel_of(stack, r, c)).iter().enumerate() {
                    data[[k, r, c]] = *v;
                }
            }
        }
    }
    IndexStack { data }
}

fn linear(backend: &dyn Backend) {
    for scene in scenes() {
        let mut stack = scene.before.clone();
        let bands = stack.roles.len();
        // DN-to-reflectance of Landsat Collection 2, and on one band a map that overflows f32 on the
        // bright pixels (reflectance above 0.47), which must then turn invalid.
        let mut gains = vec![2.75e-5f32; bands];
        let mut offsets = vec![-0.2f32; bands];
        if bands > 1 {
            gains[1] = 3.0e38;
            offsets[1] = 2.0e38;
        }
        let mut want = stack.clone();
        for r in 0..stack.height() {
            for c in 0..stack.width() {
                let x: Vec<f32> = (0..bands).map(|b| stack.data[[b, r, c]] * gains[b] + offsets[b]).collect();
                if want.valid[[r, c]] != 0 && x.iter().any(|v| !v.is_finite()) {
                    want.valid[[r, c]] = 0;
                }
                for (b, x) in x.iter().enumerate() {
                    want.data[[b, r, c]] = if want.valid[[r, c]] != 0 { *x } else { f32::NAN };
                }
            }
        }
        backend.linear(&mut stack, &gains, &offsets).unwrap();
        assert_eq!(stack.valid, want.valid, "{}: validity", scene.name);
        assert_same_f32(&scene.name, stack.data.as_slice().unwrap(), want.data.as_slice().unwrap());
    }
}

fn indices(backend: &dyn Backend) {
    for scene in scenes() {
        for stack in [&scene.before, &scene.after] {
            let got = backend.indices(stack).unwrap();
            assert_eq!(got.data.dim(), (7, stack.height(), stack.width()));
            let want = reference_indices(stack);
            for kind in IndexKind::ALL {
                let what = format!("{}: {}", scene.name, kind.name());
                let (g, w) = (got.get(kind).to_owned(), want.get(kind).to_owned());
                assert_same_f32(&what, g.as_slice().unwrap(), w.as_slice().unwrap());
            }
        }
    }
}

/// Index planes whose values sit exactly on every threshold of `rules` and one float either side, so a
/// backend that rounds or compares differently from the CPU gets some class wrong.
fn on_the_edges(stack: &BandStack, rules: &ClassRules) -> IndexStack {
    let mut idx = reference_indices(stack);
    let cuts = [
        (IndexKind::Ndvi, rules.vegetation_ndvi),
        (IndexKind::Ndvi, rules.cover_max_ndvi),
        (IndexKind::Ndvi, 0.1),
        (IndexKind::Water, rules.water_index),
        (IndexKind::GreenExcess, rules.cover_green_excess),
        (IndexKind::Redness, rules.soil_redness),
        (IndexKind::Bsi, rules.soil_min_bsi),
        (IndexKind::Brightness, rules.built_min_brightness),
    ];
    let (h, w) = (stack.height(), stack.width());
    for i in 0..h * w {
        let (r, c) = (i / w, i % w);
        let (kind, cut) = cuts[i % cuts.len()];
        let value = match (i / cuts.len()) % 4 {
            0 => cut,
            1 => cut.next_up(),
            2 => cut.next_down(),
            _ => continue,
        };
        idx.data[[kind as usize, r, c]] = value;
    }
    idx
}

fn classify(backend: &dyn Backend) {
    let strict = ClassRules { vegetation_ndvi: 0.5, soil_redness: 0.2, ..ClassRules::default() };
    for scene in scenes() {
        for rules in [ClassRules::default(), strict] {
            let stack = &scene.after;
            for idx in [reference_indices(stack), on_the_edges(stack, &rules)] {
                let got = backend.classify(stack, &idx, &rules).unwrap();
                let want = Array2::from_shape_fn((stack.height(), stack.width()), |(r, c)| {
                    if stack.valid[[r, c]] == 0 {
                        return LandClass::NoData as u8;
                    }
                    let v: [f32; 7] = std::array::from_fn(|k| idx.data[[k, r, c]]);
                    classify_pixel(&pixel_of(stack, r, c), &v, &rules) as u8
                });
                assert_eq!(got, want, "{}: classes", scene.name);
            }
        }
    }
}

fn pair_moments(backend: &dyn Backend) {
    for Scene { name, before, after, weights } in scenes() {
        let got = backend.pair_moments(&before, &after, weights.view()).unwrap();
        assert_eq!(got.len(), before.roles.len());
        for (b, m) in got.iter().enumerate() {
            let mut want = [0f64; 6];
            for ((i, x), y) in before
                .data
                .index_axis(ndarray::Axis(0), b)
                .indexed_iter()
                .zip(after.data.index_axis(ndarray::Axis(0), b))
            {
                if weights[i] != 0 && before.valid[i] != 0 && after.valid[i] != 0 {
                    let (x, y) = (*x as f64, *y as f64);
                    for (s, v) in want.iter_mut().zip([1.0, x, y, x * x, y * y, x * y]) {
                        *s += v;
                    }
                }
            }
            let got = [m.n, m.sx, m.sy, m.sxx, m.syy, m.sxy];
            assert_eq!(got[0], want[0], "{name} band {b}: count");
            for k in 1..6 {
                let tolerance = 1e-12 * want[k].abs().max(1.0);
                assert!((got[k] - want[k]).abs() <= tolerance, "{name} band {b} moment {k}: {} vs {}", got[k], want[k]);
            }
        }
    }
}

fn change_magnitude(backend: &dyn Backend) {
    for Scene { name, before, after, .. } in scenes() {
        let got = backend.change_magnitude(&before, &after).unwrap();
        let bands = before.roles.len();
        let want = Array2::from_shape_fn((before.height(), before.width()), |(r, c)| {
            if before.valid[[r, c]] == 0 || after.valid[[r, c]] == 0 {
                return f32::NAN;
            }
            let mut s = 0f32;
            for b in 0..bands {
                let d = after.data[[b, r, c]] - before.data[[b, r, c]];
                s += d * d;
            }
            (s / bands as f32).sqrt()
        });
        assert_same_f32(&name, got.as_slice().unwrap(), want.as_slice().unwrap());
    }
}

/// A plane with NaN, infinities and finite values: what box_mean and histogram meet in a change statistic.
fn plane_with_specials(stack: &BandStack) -> Array2<f32> {
    let mut plane = stack.data.index_axis(ndarray::Axis(0), 0).to_owned();
    for (i, v) in plane.iter_mut().enumerate() {
        match i % 97 {
            5 => *v = f32::INFINITY,
            6 => *v = f32::NEG_INFINITY,
            7 => *v = -0.0,
            _ => {}
        }
    }
    plane
}

fn box_mean(backend: &dyn Backend) {
    for scene in scenes() {
        let values = plane_with_specials(&scene.before);
        let (h, w) = values.dim();
        for radius in [0usize, 1, 2, 5] {
            let got = backend.box_mean(values.view(), radius).unwrap();
            let r = radius as isize;
            let want = Array2::from_shape_fn((h, w), |(row, col)| {
                if values[[row, col]].is_nan() {
                    return f32::NAN;
                }
                let (mut sum, mut count) = (0f32, 0f32);
                for y in row as isize - r..=row as isize + r {
                    for x in col as isize - r..=col as isize + r {
                        if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                            let v = values[[y as usize, x as usize]];
                            if v.is_finite() {
                                sum += v;
                                count += 1.0;
                            }
                        }
                    }
                }
                sum / count
            });
            let what = format!("{} radius {radius}", scene.name);
            assert_same_f32(&what, got.as_slice().unwrap(), want.as_slice().unwrap());
        }
    }
}

fn histogram(backend: &dyn Backend) {
    for scene in scenes() {
        let values = plane_with_specials(&scene.after);
        // Narrower than the data (so values clamp into the end bins) and wider than the 4096 bins a
        // GPU workgroup counts privately.
        for (lo, hi, bins) in [(0.05f32, 0.3f32, 512usize), (-0.1, 0.7, 4096), (0.0, 0.6, 5000), (0.1, 0.2, 1)] {
            let got = backend.histogram(values.view(), lo, hi, bins).unwrap();
            let scale = histogram_scale(lo, hi, bins);
            let mut want = vec![0u64; bins];
            for v in values.iter().filter(|v| v.is_finite()) {
                want[histogram_bin(*v, lo, scale, bins)] += 1;
            }
            assert_eq!(got, want, "{}: {bins} bins over [{lo}, {hi})", scene.name);
        }
    }
}

fn dilate(backend: &dyn Backend) {
    for scene in scenes() {
        // Sparse seeds, as cloud pixels are before their mask is grown.
        let mask = scene.weights.mapv(|w| u8::from(w == 0) * 3);
        let (h, w) = mask.dim();
        for radius in [0usize, 1, 3] {
            let got = backend.dilate(mask.view(), radius).unwrap();
            let r = radius as isize;
            let want = Array2::from_shape_fn((h, w), |(row, col)| {
                let hit = (row as isize - r..=row as isize + r).any(|y| {
                    (col as isize - r..=col as isize + r).any(|x| {
                        y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w && mask[[y as usize, x as usize]] != 0
                    })
                });
                u8::from(hit)
            });
            assert_eq!(got, want, "{} radius {radius}", scene.name);
        }
    }
}

/// `x` moved by `k` floats up (or down where `k` is negative).
fn ulps(x: f32, k: i32) -> f32 {
    (0..k.unsigned_abs()).fold(x, |v, _| if k > 0 { v.next_up() } else { v.next_down() })
}

/// The (visible spread, NDVI) the cloud test computes for a pixel, as spectral::cloud does.
fn cloud_measures(p: &Pixel) -> (f32, f32) {
    let mean = (p.blue + p.green + p.red) / 3.0;
    let spread = (p.blue.max(p.green).max(p.red) - p.blue.min(p.green).min(p.red)) / mean.max(1e-6);
    (spread, jingtu::spectral::indices::normalized_difference(p.nir, p.red))
}

/// Pixels on and around every cut of the cloud test, one float step at a time: blue at
/// `CLOUD_MIN_BLUE`; the visible spread at `CLOUD_MAX_VISIBLE_SPREAD` (0.25: blue 0.5, green 0.5625 and
/// red 0.4375 spread 0.125 about a mean of 0.5, all exact in binary) with green or red moved; NDVI at
/// 0.3 (nir 0.8125 over red 0.4375: 0.375 / 1.25, whose correctly rounded quotient is 0.3f32) with nir
/// moved. Then NaN and infinite bands, black, negative and overflowing ones, and a cloud-like pixel
/// that is invalid. A backend that divides, takes a maximum or compares differently from the CPU gets
/// some of them wrong.
///
/// ```text
///   [ blue sweep | green and red sweeps, interleaved | nir sweep | specials ]   one row
/// ```
fn cloud_edges() -> BandStack {
    const SWEEP: i32 = 40;
    assert_eq!(CLOUD_MAX_VISIBLE_SPREAD, 0.25, "the spread sweeps are built around this cut");
    let mut px: Vec<[f32; 6]> = Vec::new();
    for k in -4..=4 {
        let b = ulps(CLOUD_MIN_BLUE, k);
        px.push([b, b, b, 0.3, 0.3, 0.2]);
    }
    for k in -SWEEP..=SWEEP {
        px.push([0.5, ulps(0.5625, k), 0.4375, 0.4, 0.3, 0.2]);
        px.push([0.5, 0.5625, ulps(0.4375, k), 0.4, 0.3, 0.2]);
    }
    for k in -SWEEP..=SWEEP {
        px.push([0.4375, 0.4375, 0.4375, ulps(0.8125, k), 0.3, 0.2]);
    }
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    px.extend([
        [0.5, nan, 0.5, 0.4, 0.3, 0.2], // a cloud: the spread ignores the NaN, the mean falls back to 1e-6
        [0.5, 0.5, nan, 0.4, 0.3, 0.2],
        [0.5, 0.5, 0.5, nan, 0.3, 0.2],
        [nan, 0.5, 0.5, 0.4, 0.3, 0.2],
        [inf, 0.5, 0.5, 0.4, 0.3, 0.2],
        [0.5, inf, 0.5, 0.4, 0.3, 0.2],
        [0.5, -inf, 0.5, 0.4, 0.3, 0.2],
        [0.5, 0.5, 0.5, inf, 0.3, 0.2],
        [0.0; 6],
        [0.3, 0.3, 0.3, 0.0, 0.3, 0.2],
        [0.3, 0.3, 0.3, -0.3, 0.3, 0.2],
        [-0.3, -0.3, -0.3, 0.1, 0.3, 0.2],
        [3e38, 3e38, 3e38, 0.1, 0.3, 0.2], // the sum overflows: an infinite mean, a spread of 0
        [0.55, 0.55, 0.56, 0.58, 0.45, 0.35],
    ]);
    let n = px.len();
    let data = Array3::from_shape_fn((6, 1, n), |(b, _, i)| px[i][b]);
    let mut valid = Array2::from_elem((1, n), 1u8);
    valid[[0, n - 1]] = 0;
    let roles = [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1, BandRole::Swir2];
    BandStack::new(roles.to_vec(), data, valid)
}

fn cloud_test(backend: &dyn Backend) {
    let check = |what: &str, stack: &BandStack| -> Array2<u8> {
        let got = backend.cloud_test(stack).unwrap();
        let want = Array2::from_shape_fn((stack.height(), stack.width()), |(r, c)| {
            u8::from(stack.valid[[r, c]] != 0 && looks_like_cloud(&pixel_of(stack, r, c)))
        });
        assert_eq!(got, want, "{what}: cloud mask");
        want
    };
    let mut clouds = 0;
    for scene in scenes() {
        for stack in [&scene.before, &scene.after] {
            clouds += check(&scene.name, stack).iter().filter(|c| **c != 0).count();
        }
    }
    assert!(clouds > 100, "the scenes have clouds to find ({clouds})");
    let edges = cloud_edges();
    let mask = check("edges", &edges);
    let measures: Vec<(f32, f32)> = (0..edges.width()).map(|c| cloud_measures(&pixel_of(&edges, 0, c))).collect();
    // The sweeps land on the cuts themselves, where `<=` and `<` part, with pixels either side.
    assert!(measures.iter().any(|m| m.0 == CLOUD_MAX_VISIBLE_SPREAD), "no pixel on the spread cut");
    assert!(measures.iter().any(|m| m.1 == 0.3), "no pixel on the NDVI cut");
    assert!(mask.iter().any(|c| *c == 0) && mask.iter().any(|c| *c == 1));
}

/// Temporal rules the scan may be configured with: the defaults, eager ones (one confirmation, a model
/// after three observations over a month, short windows), patient ones (long windows, a year's idle
/// period) and a zero idle period.
fn temporal_param_sets() -> [TemporalParams; 4] {
    use jingtu::temporal::ModelParams;
    [
        TemporalParams::default(),
        TemporalParams {
            idle_months: 1,
            class_confirmations: 1,
            history_before_construction: 0,
            earthworks_quiet_days: 0,
            max_observation_gap_days: 31,
            stripped_max_ndvi: 0.3,
            model: ModelParams {
                full_min_obs: 3,
                full_min_span_days: 30,
                change_score: 1.0,
                min_rmse: 0.001,
                break_confirmations: 1,
                ridge: 0.01,
            },
        },
        TemporalParams {
            idle_months: 12,
            class_confirmations: 3,
            history_before_construction: 4,
            earthworks_quiet_days: 200,
            max_observation_gap_days: 400,
            stripped_max_ndvi: 0.1,
            model: ModelParams { break_confirmations: 4, change_score: 9.0, ..ModelParams::default() },
        },
        TemporalParams { idle_months: 0, ..TemporalParams::default() },
    ]
}

/// The scalar rules applied to every pixel, as the reference.
fn reference_step(
    states: &mut [PixelState],
    obs: &ObservationPlanes,
    ctx: &DateContext,
    p: &TemporalParams,
    rules: &ClassRules,
) -> Vec<u8> {
    let n = states.len();
    states
        .iter_mut()
        .enumerate()
        .map(|(i, s)| {
            let o = PixelObservation {
                class: LandClass::from_u8(obs.class[i]),
                bands: std::array::from_fn(|b| obs.bands[b * n + i]),
                ndvi: obs.ndvi[i],
                bsi: obs.bsi[i],
            };
            update_pixel(s, &o, ctx, p, rules);
            active_events(s, ctx.day, p).bits()
        })
        .collect()
}

fn assert_same_bits(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) = (0..got.len()).find(|i| got[*i] != want[*i]) {
        let bad = (0..got.len()).filter(|i| got[*i] != want[*i]).count();
        panic!("{what}: {bad} pixels' event bits differ; the first, pixel {i}: {} vs {}", got[i], want[i]);
    }
}

/// The seasonal model's step on every backend. The GPU backend runs the CPU reference for it until its
/// WGSL kernel is back (compute/gpu/temporal.rs), so it has no chunked run to check yet.
#[test]
fn temporal_update_on_every_backend() {
    temporal_update(&jingtu::compute::CpuBackend::new());
    if let Some(gpu) = support::gpu() {
        temporal_update(&gpu);
    }
}

fn temporal_update(backend: &dyn Backend) {
    let case = support::temporal_case(6_000, 4_242);
    let rules = ClassRules::default();
    // How often the case reaches each outcome, summed over the acquisitions of the default rules.
    let (mut events, mut modelled, mut breaks) = ([0usize; 3], 0usize, 0usize);
    for (set, params) in temporal_param_sets().iter().enumerate() {
        let mut got = case.states.clone();
        let mut want = case.states.clone();
        for (k, (ctx, obs)) in case.acquisitions.iter().enumerate() {
            let what = format!("rules {set}, acquisition {k}");
            let bits = backend.temporal_update(&mut got, obs, ctx, params, &rules).unwrap();
            let want_bits = reference_step(&mut want, obs, ctx, params, &rules);
            assert_same_states(&what, &got, &want);
            assert_same_bits(&what, &bits, &want_bits);
            if set == 0 {
                for (b, s) in want_bits.iter().zip(&want) {
                    for (e, count) in events.iter_mut().enumerate() {
                        *count += usize::from(b & (1 << e) != 0);
                    }
                    modelled += usize::from(s.model_terms != 0);
                    breaks += usize::from(s.last_break != NONE_DAY && s.judged_by_class == 0);
                }
            }
        }
    }
    assert!(events.iter().all(|e| *e > 0), "construction, earthworks, idle: {events:?}");
    assert!(modelled > 1000 && breaks > 100, "pixels with a seasonal model {modelled}, breaks it judged {breaks}");
    idle_clocks(backend);
}

/// States that differ only in their bare run, so that the bits are `add_months` alone: the run started
/// on every day from November 2023 to April 2029 (every month end, two leap Februaries) and on far dates
/// (chrono's first and last, Julian day 0, century years), the latest bare observation the day
/// `idle_months` calendar months later, the day before and the day after, or none; the last class bare,
/// bare stored above 255, built, or vegetation. Observations are all invalid, which leaves the states as
/// they were. The idle periods run from none to more months than chrono's calendar holds.
fn idle_clocks(backend: &dyn Backend) {
    let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let mut starts: Vec<NaiveDate> = d(2023, 11, 1).iter_days().take_while(|x| *x <= d(2029, 4, 30)).collect();
    starts.extend([
        NaiveDate::MIN,
        d(-4713, 11, 24),
        d(1600, 2, 29),
        d(1900, 2, 28),
        d(1969, 12, 31),
        d(1970, 1, 1),
        d(2000, 2, 29),
        d(2100, 2, 28),
        d(2400, 2, 29),
        d(262_142, 11, 30),
        NaiveDate::MAX,
    ]);
    let today = day_number(d(2029, 5, 1));
    let ctx = DateContext::on(today, true);
    let rules = ClassRules::default();
    for months in [0u32, 1, 2, 3, 11, 12, 13, 48, 1200, 3_000_000, 3_200_000, i32::MAX as u32, 1 << 31, u32::MAX] {
        let params = TemporalParams { idle_months: months, ..TemporalParams::default() };
        let mut states = Vec::new();
        for start in &starts {
            let end = add_months(*start, months);
            for offset in [-1i64, 0, 1] {
                let Some(last) = end.checked_add_signed(chrono::TimeDelta::days(offset)) else { continue };
                for class_last in [2u32, 0x102, 3, 1] {
                    states.push(PixelState {
                        class_last,
                        last_valid: day_number(last),
                        bare_start: day_number(*start),
                        bare_last: day_number(last),
                        bare_unexplained: 1,
                        ..PixelState::default()
                    });
                }
            }
            states.push(PixelState {
                class_last: LandClass::BareSoil as u32,
                bare_start: day_number(*start),
                bare_by_break: 1,
                ..PixelState::default()
            });
        }
        let n = states.len();
        let invalid = ObservationPlanes {
            class: vec![LandClass::NoData as u8; n],
            bands: vec![f32::NAN; 6 * n],
            ndvi: vec![f32::NAN; n],
            bsi: vec![f32::NAN; n],
        };
        let want: Vec<u8> = states.iter().map(|s| active_events(s, today, &params).bits()).collect();
        let mut got = states.clone();
        let bits = backend.temporal_update(&mut got, &invalid, &ctx, &params, &rules).unwrap();
        let what = format!("idle period of {months} months");
        assert_same_states(&what, &got, &states);
        assert_same_bits(&what, &bits, &want);
        assert!(want.contains(&4) && want.contains(&0), "{what}: idle and not");
    }
}

/// A surface model made from a scene's first band: heights of 12 to 52 metres with a 6 m wall every 23
/// columns and a gentle rise southwards, NaN (no data) where the band is NaN, and the band's infinite
/// pixels kept, which a surface model should never have but a kernel must not choke on.
fn surface_of(stack: &BandStack) -> Array2<f32> {
    let mut z = plane_with_specials(stack);
    for ((r, c), v) in z.indexed_iter_mut() {
        if v.is_finite() {
            let wall = if (c / 23) % 2 == 1 { 6.0 } else { 0.0 };
            *v = 12.5 + 40.0 * *v + wall + 0.01 * r as f32;
        }
    }
    z
}

fn height_difference(backend: &dyn Backend) {
    let mut nan_inputs = 0;
    for scene in scenes() {
        let before = surface_of(&scene.before);
        let after = surface_of(&scene.after);
        nan_inputs += before.iter().chain(&after).filter(|v| v.is_nan()).count();
        for offset in [0.0f32, 0.35, -0.2, 1e-7, f32::INFINITY, f32::NAN] {
            let got = backend.height_difference(before.view(), after.view(), offset).unwrap();
            let want = Array2::from_shape_fn(before.dim(), |i| after[i] - before[i] - offset);
            let what = format!("{} offset {offset}", scene.name);
            assert_same_f32(&what, got.as_slice().unwrap(), want.as_slice().unwrap());
        }
        // Views in another layout than the standard one give the same values.
        let got = backend.height_difference(before.t(), after.t(), 0.35).unwrap();
        let want = Array2::from_shape_fn(before.t().dim(), |(r, c)| after[[c, r]] - before[[c, r]] - 0.35);
        assert_same_f32(&format!("{} transposed", scene.name), got.as_slice().unwrap(), want.as_slice().unwrap());
    }
    assert!(nan_inputs > 1000, "the surfaces have no-data holes ({nan_inputs})");
}

/// Slope from the definition: central differences over `step` pixels, one-sided where a side is
/// beyond the grid or not finite, NaN on NaN pixels and where neither axis has a side.
fn reference_slope(z: &Array2<f32>, step: usize, pixel_width: f32, pixel_height: f32) -> Array2<f32> {
    let (h, w) = z.dim();
    let k = step.max(1) as isize;
    let side = |r: isize, c: isize| -> Option<f32> {
        let inside = r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w;
        inside.then(|| z[[r as usize, c as usize]]).filter(|v| v.is_finite())
    };
    let difference = |before: Option<f32>, centre: f32, after: Option<f32>, run: f32| match (before, after) {
        (Some(b), Some(a)) => Some((a - b) / (2.0 * run)),
        (None, Some(a)) => Some((a - centre) / run),
        (Some(b), None) => Some((centre - b) / run),
        (None, None) => None,
    };
    Array2::from_shape_fn((h, w), |(r, c)| {
        let centre = z[[r, c]];
        if centre.is_nan() {
            return f32::NAN;
        }
        let (r, c) = (r as isize, c as isize);
        let dx = difference(side(r, c - k), centre, side(r, c + k), pixel_width * k as f32);
        let dy = difference(side(r - k, c), centre, side(r + k, c), pixel_height * k as f32);
        match (dx, dy) {
            (Some(x), Some(y)) => (x * x + y * y).sqrt(),
            (Some(d), None) | (None, Some(d)) => d.abs(),
            (None, None) => f32::NAN,
        }
    })
}

fn slope(backend: &dyn Backend) {
    for scene in scenes() {
        let z = surface_of(&scene.after);
        // Steps of the drone job (1 to 10 pixels), one past the height of the largest scene but not
        // its width, and one past both; square and oblong pixels, and a zero pixel width, whose
        // divisions by zero give infinities and NaN.
        for step in [0usize, 1, 2, 3, 7, 200, 400] {
            for (pw, ph) in [(0.25f32, 0.25f32), (0.1, 0.3), (0.05, 0.05), (0.0, 0.5)] {
                let got = backend.slope(z.view(), step, pw, ph).unwrap();
                let want = reference_slope(&z, step, pw, ph);
                let what = format!("{} step {step} pixel {pw} x {ph}", scene.name);
                assert_same_f32(&what, got.as_slice().unwrap(), want.as_slice().unwrap());
            }
        }
        let got = backend.slope(z.t(), 2, 0.1, 0.3).unwrap();
        let want = reference_slope(&z.t().to_owned(), 2, 0.1, 0.3);
        assert_same_f32(&format!("{} transposed", scene.name), got.as_slice().unwrap(), want.as_slice().unwrap());
    }
}

/// A mask of blocks of many sizes (so that erosions of every radius leave something), some touching
/// the edges (beyond which everything counts as set), with single-pixel holes and nonzero values
/// other than 1.
fn blocky_mask(h: usize, w: usize, seed: u64) -> Array2<u8> {
    let mut rng = Rng::new(seed);
    let mut mask = Array2::<u8>::zeros((h, w));
    if h == 0 || w == 0 {
        return mask;
    }
    for _ in 0..(h * w / 300).max(3) {
        let (bh, bw) = (rng.int(1, 90) as usize, rng.int(1, 90) as usize);
        let (top, left) = (rng.int(-20, h as i64) as isize, rng.int(-20, w as i64) as isize);
        let value = rng.int(1, 256) as u8;
        for r in top.max(0) as usize..((top + bh as isize).max(0) as usize).min(h) {
            for c in left.max(0) as usize..((left + bw as isize).max(0) as usize).min(w) {
                mask[[r, c]] = value;
            }
        }
    }
    for _ in 0..h * w / 400 {
        mask[[rng.int(0, h as i64) as usize, rng.int(0, w as i64) as usize]] = 0;
    }
    mask
}

/// Erosion from the definition, by counting the zeros in each window (clipped to the grid) with a
/// summed-area table: nothing in common with the backends' row-then-column scans.
fn reference_erode(mask: &Array2<u8>, radius: usize) -> Array2<u8> {
    let (h, w) = mask.dim();
    let mut zeros = Array2::<u32>::zeros((h + 1, w + 1));
    for r in 0..h {
        for c in 0..w {
            zeros[[r + 1, c + 1]] =
                u32::from(mask[[r, c]] == 0) + zeros[[r, c + 1]] + zeros[[r + 1, c]] - zeros[[r, c]];
        }
    }
    Array2::from_shape_fn((h, w), |(r, c)| {
        let (top, bottom) = (r.saturating_sub(radius), (r + radius + 1).min(h));
        let (left, right) = (c.saturating_sub(radius), (c + radius + 1).min(w));
        let n = zeros[[bottom, right]] + zeros[[top, left]] - zeros[[top, right]] - zeros[[bottom, left]];
        u8::from(n == 0)
    })
}

fn erode(backend: &dyn Backend) {
    let mut survivors = [0usize; 2];
    for (k, scene) in scenes().iter().enumerate() {
        let (h, w) = scene.weights.dim();
        let blocks = blocky_mask(h, w, 100 + k as u64);
        let full = Array2::<u8>::from_elem((h, w), 7);
        let mut framed = full.clone();
        if h > 2 && w > 2 {
            framed.slice_mut(s![1..h - 1, 1..w - 1]).fill(0);
        }
        for (name, mask) in [("blocks", &blocks), ("full", &full), ("framed", &framed), ("weights", &scene.weights)] {
            // The drone job's radii (about 2 to 40 pixels), and one past the whole grid.
            for radius in [0usize, 1, 2, 5, 17, 40, 1000] {
                let got = backend.erode(mask.view(), radius).unwrap();
                let want = reference_erode(mask, radius);
                assert_eq!(got, want, "{} {name} radius {radius}", scene.name);
                if name == "blocks" && (radius == 5 || radius == 17) {
                    survivors[usize::from(radius == 17)] += want.iter().filter(|v| **v != 0).count();
                }
            }
        }
        let got = backend.erode(blocks.t(), 3).unwrap();
        assert_eq!(got, reference_erode(&blocks.t().to_owned(), 3), "{} transposed", scene.name);
    }
    assert!(survivors.iter().all(|n| *n > 100), "erosions leave something to compare: {survivors:?}");
}

/// RGB pixels on and around everything `rgb_pixel_features` decides or divides by: black, sums just
/// below, at and above the 1e-6 below which a pixel has no colour (either sign), negative, tiny and
/// huge bands (a sum that overflows), NaN and infinite bands, and 8-bit colours scaled to [0, 1] as
/// orthomosaics give them. The last pixel is invalid.
fn rgb_edges() -> BandStack {
    let third = 1e-6f32 / 3.0;
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let mut px: Vec<[f32; 3]> = vec![
        [0.0, 0.0, 0.0],
        [1e-6, 0.0, 0.0],
        [1e-6f32.next_down(), 0.0, 0.0],
        [1e-6f32.next_up(), 0.0, 0.0],
        [-1e-6, 0.0, 0.0],
        [-(1e-6f32.next_down()), 0.0, 0.0],
        [third, third, third],
        [0.3, -0.3, 1e-7],
        [1e-30, 2e-30, 3e-30],
        [1e30, 1.0, 1.0],
        [3e38, 3e38, 3e38],
        [-0.2, 0.5, 0.1],
        [nan, 0.2, 0.2],
        [0.2, nan, 0.2],
        [inf, 0.2, 0.2],
        [0.2, 0.2, -inf],
        [inf, -inf, 0.2],
        [1.0, 1.0, 1.0],
    ];
    let mut rng = Rng::new(2718);
    for _ in 0..997 {
        px.push(std::array::from_fn(|_| rng.int(0, 256) as f32 / 255.0));
    }
    px.push([0.3, 0.5, 0.2]);
    let n = px.len();
    // Bands in spectral order, as an orthomosaic's are read.
    let data = Array3::from_shape_fn((3, 1, n), |(b, _, i)| px[i][2 - b]);
    let mut valid = Array2::from_elem((1, n), 1u8);
    valid[[0, n - 1]] = 0;
    BandStack::new(vec![BandRole::Blue, BandRole::Green, BandRole::Red], data, valid)
}

fn rgb_features(backend: &dyn Backend) {
    let check = |what: &str, stack: &BandStack| {
        let got = backend.rgb_features(stack).unwrap();
        let (h, w) = (stack.height(), stack.width());
        let mut want = Array3::<f32>::from_elem((4, h, w), f32::NAN);
        for r in 0..h {
            for c in 0..w {
                if stack.valid[[r, c]] != 0 {
                    let p = pixel_of(stack, r, c);
                    for (k, v) in rgb_pixel_features(p.red, p.green, p.blue).iter().enumerate() {
                        want[[k, r, c]] = *v;
                    }
                }
            }
        }
        assert_eq!(got.data.dim(), want.dim(), "{what}");
        for f in RgbFeature::ALL {
            let g = got.get(f).to_owned();
            let w = want.index_axis(ndarray::Axis(0), f as usize).to_owned();
            assert_same_f32(&format!("{what}: {}", f.name()), g.as_slice().unwrap(), w.as_slice().unwrap());
        }
        want
    };
    for scene in scenes() {
        for stack in [&scene.before, &scene.after] {
            check(&scene.name, stack);
        }
    }
    let want = check("edges", &rgb_edges());
    let chroma = want.index_axis(ndarray::Axis(0), RgbFeature::Chroma as usize);
    assert!(chroma[[0, 1]] > 0.0 && chroma[[0, 2]] == 0.0, "the pixels either side of the 1e-6 cut part");
    // A stack without blue has no features: NaN planes on every backend.
    let scene = scenes().into_iter().find(|s| s.name == "landsat 37x53").unwrap();
    let no_blue = BandStack::new(
        vec![BandRole::Green, BandRole::Red, BandRole::Nir],
        scene.after.data.slice(s![1..4, .., ..]).to_owned(),
        scene.after.valid.clone(),
    );
    let want = check("without blue", &no_blue);
    assert!(want.iter().all(|v| v.is_nan()));
}

/// The whole bi-temporal detector, kernel after kernel, on the GPU (whole and chunked) and on the CPU:
/// every intermediate the flags are made from is identical. The Taizhou run in cli/backends.rs does the
/// same on real data where the shared data is present.
#[test]
fn change_detection_is_identical_on_gpu_and_cpu() {
    use jingtu::change::{ChangeOptions, detect};
    let Some(gpu) = support::gpu() else { return };
    let chunked = support::gpu().unwrap().with_binding_limit(support::CHUNKED_BINDING);
    let scene = scenes().into_iter().find(|s| s.name == "landsat 173x301").unwrap();
    let options = ChangeOptions::default();
    let run = |backend: &dyn Backend| detect(backend, &scene.before, &scene.after, None, 4, 0, &options).unwrap();
    let want = run(&jingtu::compute::CpuBackend::new());
    for (name, backend) in [("gpu", &gpu), ("gpu chunked", &chunked)] {
        let got = run(backend);
        assert_eq!(got.threshold.to_bits(), want.threshold.to_bits(), "{name}: threshold");
        assert_eq!(got.otsu_threshold.map(f32::to_bits), want.otsu_threshold.map(f32::to_bits), "{name}: Otsu");
        for (g, w) in got.normalization.bands.iter().zip(&want.normalization.bands) {
            assert_eq!((g.gain.to_bits(), g.offset.to_bits()), (w.gain.to_bits(), w.offset.to_bits()), "{name}: fit");
        }
        assert_eq!(got.normalization.invariant_fraction, want.normalization.invariant_fraction, "{name}");
        assert_same_f32(name, got.magnitude.as_slice().unwrap(), want.magnitude.as_slice().unwrap());
        assert_eq!(got.classes_before, want.classes_before, "{name}: classes before");
        assert_eq!(got.classes_after, want.classes_after, "{name}: classes after");
        assert_eq!(got.codes, want.codes, "{name}: change codes");
    }
    assert!(want.codes.iter().any(|c| *c != 0 && *c != 255), "the scene has change to find");
}
