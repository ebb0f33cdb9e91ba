//! Shared by the backend tests: the GPU under test, scenes that exercise every edge a kernel has, and
//! comparisons that say where two results differ.
#![allow(dead_code)] // each test binary uses its own part

use jingtu::compute::{AdapterPolicy, GpuBackend};
use jingtu::raster::{BandRole, BandStack};
use jingtu::synth::rng::Rng;
use jingtu::synth::spectra;
use ndarray::{Array2, Array3};

/// Set to 1 to skip the GPU tests on a machine known to have no Vulkan driver. Without it, a missing
/// driver fails them: CI installs Mesa's lavapipe precisely so that they run.
pub const SKIP_GPU_ENV: &str = "JINGTU_SKIP_GPU_TESTS";

/// The GPU backend the tests run on, software adapters allowed; `None` (said loudly) only when
/// `JINGTU_SKIP_GPU_TESTS=1`.
pub fn gpu() -> Option<GpuBackend> {
    match GpuBackend::new(AdapterPolicy::AllowSoftware) {
        Ok(g) => Some(g),
        Err(e) if std::env::var(SKIP_GPU_ENV).is_ok_and(|v| v == "1") => {
            eprintln!("SKIPPED: GPU test not run ({SKIP_GPU_ENV}=1): {e}");
            None
        }
        Err(e) => panic!(
            "the GPU tests need a GPU or Mesa's lavapipe (apt install mesa-vulkan-drivers libvulkan1): {e}. \
             Set {SKIP_GPU_ENV}=1 to skip them on a machine that cannot have one."
        ),
    }
}

/// A pair of acquisitions on one grid and a weight mask, as the kernels receive them.
pub struct Scene {
    pub name: String,
    pub before: BandStack,
    pub after: BandStack,
    pub weights: Array2<u8>,
}

const SIX: [BandRole; 6] =
    [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1, BandRole::Swir2];

/// Reflectance over a mosaic of ground covers with noise, where each pixel may be nodata (NaN, invalid),
/// masked (finite but invalid, as under a cloud mask), black (all bands 0, where normalized differences
/// divide by nothing) or have nir equal to red. Roles pick the sensor: a missing band is NaN in every
/// index that needs it.
pub fn stack(rng: &mut Rng, roles: &[BandRole], h: usize, w: usize) -> BandStack {
    let covers = [
        spectra::VEGETATION,
        spectra::SPARSE_VEGETATION,
        spectra::SOIL,
        spectra::MOIST_SOIL,
        spectra::CONCRETE,
        spectra::BLUE_ROOF,
        spectra::ASPHALT,
        spectra::WATER,
        spectra::DUST_NET,
        spectra::CLOUD,
    ];
    let mut data = Array3::<f32>::zeros((roles.len(), h, w));
    let mut valid = Array2::<u8>::from_elem((h, w), 1);
    for r in 0..h {
        for c in 0..w {
            let a = &covers[rng.int(0, covers.len() as i64) as usize];
            let b = &covers[rng.int(0, covers.len() as i64) as usize];
            let mut s = spectra::mix(a, b, rng.uniform() as f32);
            for v in s.iter_mut() {
                *v = (*v + 0.01 * rng.normal() as f32).max(0.0);
            }
            match rng.int(0, 40) {
                0 | 1 => valid[[r, c]] = 0,
                2 => s = [0.0; 6],
                3 => s[2] = s[3],
                _ => {}
            }
            for (k, role) in roles.iter().enumerate() {
                let i = SIX.iter().position(|x| x == role).expect("one of the six bands");
                data[[k, r, c]] = s[i];
            }
            if valid[[r, c]] == 0 && rng.int(0, 2) == 0 {
                for k in 0..roles.len() {
                    data[[k, r, c]] = f32::NAN;
                }
            }
        }
    }
    BandStack::new(roles.to_vec(), data, valid)
}

/// Scenes of odd sizes (none a multiple of the 64-wide workgroup), a single pixel, an empty grid, sensors
/// with and without SWIR and NIR, and one scene several times larger than the bindings of the chunked
/// test backend.
pub fn scenes() -> Vec<Scene> {
    let landsat = &SIX[..];
    let drone_ms = &[BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir][..];
    let rgb = &[BandRole::Red, BandRole::Green, BandRole::Blue][..];
    let cases: [(&str, &[BandRole], usize, usize); 6] = [
        ("landsat 37x53", landsat, 37, 53),
        ("drone-ms 1x1", drone_ms, 1, 1),
        ("rgb 7x9", rgb, 7, 9),
        ("landsat 50x1", landsat, 50, 1),
        ("empty 0x3", landsat, 0, 3),
        ("landsat 173x301", landsat, 173, 301),
    ];
    cases
        .iter()
        .enumerate()
        .map(|(k, (name, roles, h, w))| {
            let mut rng = Rng::new(7919 + k as u64);
            let before = stack(&mut rng, roles, *h, *w);
            let after = stack(&mut rng, roles, *h, *w);
            let weights = Array2::from_shape_fn((*h, *w), |_| u8::from(rng.int(0, 4) != 0));
            Scene { name: name.to_string(), before, after, weights }
        })
        .collect()
}

/// Bytes per binding that cut the largest scene into dozens of chunks (and its rows into bands).
pub const CHUNKED_BINDING: u64 = 32 << 10;

/// Equality to the bit, except that every NaN equals every NaN and zero equals negative zero; on
/// failure, how many values differ, the first few, and the largest relative difference.
pub fn assert_same_f32(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let same = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
    let bad: Vec<usize> = (0..got.len()).filter(|i| !same(got[*i], want[*i])).collect();
    if !bad.is_empty() {
        let worst = bad
            .iter()
            .map(|i| ((got[*i] - want[*i]) / want[*i].abs().max(f32::MIN_POSITIVE)).abs())
            .fold(0f32, f32::max);
        let first: Vec<String> = bad.iter().take(5).map(|i| format!("[{i}] {} vs {}", got[*i], want[*i])).collect();
        panic!(
            "{what}: {} of {} values differ (largest relative difference {worst:e}): {}",
            bad.len(),
            got.len(),
            first.join(", ")
        );
    }
}

/// Days of the acquisitions the temporal tests run through: month ends across a leap February (so bare
/// runs and idle clocks start on the 29th, 30th and 31st, and adding months must clamp the day), a few
/// mid-month dates, and gaps of exactly the default `max_observation_gap_days` (75) and one day more.
pub fn acquisition_days() -> Vec<i32> {
    use jingtu::temporal::day_number;
    let d = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("a date");
    let mut dates = vec![
        d(2027, 10, 31),
        d(2027, 11, 30),
        d(2027, 12, 31),
        d(2028, 1, 31),
        d(2028, 2, 29),
        d(2028, 3, 31),
        d(2028, 4, 30),
        d(2028, 5, 31),
        d(2028, 6, 30),
        d(2028, 7, 15),
        d(2028, 7, 31),
        d(2028, 8, 31),
    ];
    let gap = d(2028, 8, 31) + chrono::Duration::days(75);
    dates.push(gap);
    dates.push(gap + chrono::Duration::days(76));
    dates.extend([
        d(2029, 1, 31),
        d(2029, 2, 28),
        d(2029, 3, 29),
        d(2029, 4, 30),
        d(2029, 5, 31),
        d(2029, 6, 1),
        d(2029, 8, 31),
        d(2029, 9, 30),
        d(2029, 11, 30),
        d(2029, 12, 31),
        d(2030, 1, 31),
        d(2030, 2, 28),
        d(2030, 3, 31),
        d(2030, 4, 10),
        d(2030, 5, 31),
    ]);
    dates.into_iter().map(day_number).collect()
}

/// Reference soil brightness of successive acquisitions: ordinary days, a wet one, none measured (NaN),
/// and the zero, negative and tiny values where the rules fall back from their ratios.
pub const REFERENCE_SOILS: [f32; 10] = [0.17, 0.175, f32::NAN, 0.12, 0.0, 0.17, -0.02, 1e-7, 0.18, 0.16];

/// NaNs with other bits than `f32::NAN`'s (another payload, the sign set, a signalling one): the state
/// must keep an observation's exact bits.
pub const ODD_NANS: [u32; 3] = [0x7fc0_0001, 0xffc0_0000, 0x7fa0_0000];

/// Starting states and one acquisition after another for the temporal step.
pub struct TemporalCase {
    /// One state per pixel before the first acquisition.
    pub states: Vec<jingtu::temporal::PixelState>,
    /// Each acquisition's context and observations.
    pub acquisitions: Vec<(jingtu::temporal::DateContext, jingtu::compute::ObservationPlanes)>,
}

/// `pixels` pixels, each with a ground cover that changes now and then (vegetation, bare soil, built,
/// water, covered) and observations of it through the acquisitions of [`acquisition_days`]: clouds
/// (nodata), ambiguous and unknown class bytes, single built-looking blips in bare runs, pits and heaps
/// that change soil brightness, NaN brightness and indices (odd NaN payloads included). Most pixels
/// start fresh; some start in a bare run, some deep in a bare run, a built run or a disturbance
/// episode with counters at `u32::MAX`, and some with a stored class above 255.
pub fn temporal_case(pixels: usize, seed: u64) -> TemporalCase {
    use jingtu::compute::ObservationPlanes;
    use jingtu::spectral::LandClass;
    use jingtu::temporal::{DateContext, PixelState};

    let days = acquisition_days();
    let first = days[0];
    let mut rng = Rng::new(seed);
    let covers = [LandClass::Vegetation, LandClass::BareSoil, LandClass::Built, LandClass::Water, LandClass::Covered];
    let bare_run = PixelState {
        class_last: LandClass::BareSoil as u32,
        valid_obs: 9,
        last_valid: first - 30,
        bare_start: first - 120,
        bare_last: first - 30,
        bare_obs: 4,
        idle_start: first - 120,
        nonbuilt_obs: 9,
        prev_soil: 0.17,
        prev_reference: 0.17,
        calm_soil: 0.17,
        calm_reference: 0.17,
        ndvi_last: 0.1,
        bsi_last: 0.2,
        ndvi_calm: 0.1,
        bsi_calm: 0.2,
        ..PixelState::default()
    };
    let states: Vec<PixelState> = (0..pixels)
        .map(|i| match i % 53 {
            7 => PixelState {
                class_last: LandClass::BareSoil as u32,
                valid_obs: u32::MAX,
                last_valid: first - 30,
                bare_start: first - 400,
                bare_last: first - 30,
                bare_obs: u32::MAX,
                idle_start: first - 400,
                nonbuilt_obs: u32::MAX,
                disturb_start: first - 60,
                disturb_last: first - 30,
                disturb_obs: u32::MAX,
                prev_soil: 0.17,
                prev_reference: 0.17,
                calm_soil: 0.17,
                calm_reference: 0.17,
                ndvi_last: 0.1,
                bsi_last: 0.2,
                ndvi_calm: 0.1,
                bsi_calm: 0.2,
                ..PixelState::default()
            },
            19 => PixelState {
                class_last: LandClass::Built as u32,
                valid_obs: u32::MAX - 1,
                last_valid: first - 31,
                built_start: first - 92,
                built_obs: u32::MAX,
                history_before_built: 5,
                nonbuilt_obs: 5,
                ..PixelState::default()
            },
            // The class is read as a byte (`class_last as u8`): this one is bare soil.
            31 => PixelState { class_last: 0x100 | LandClass::BareSoil as u32, ..bare_run },
            43 => bare_run,
            _ => PixelState::default(),
        })
        .collect();
    let mut cover: Vec<usize> = (0..pixels).map(|_| rng.int(0, covers.len() as i64) as usize).collect();
    let base: Vec<f32> = (0..pixels).map(|_| rng.range(0.12, 0.24) as f32).collect();
    let odd_nan = |rng: &mut Rng| {
        if rng.chance(0.5) { f32::NAN } else { f32::from_bits(ODD_NANS[rng.int(0, 3) as usize]) }
    };
    let acquisitions = days
        .iter()
        .enumerate()
        .map(|(k, day)| {
            let reference_soil = REFERENCE_SOILS[k % REFERENCE_SOILS.len()];
            let mut planes = ObservationPlanes {
                class: Vec::with_capacity(pixels),
                brightness: Vec::with_capacity(pixels),
                ndvi: Vec::with_capacity(pixels),
                bsi: Vec::with_capacity(pixels),
            };
            for p in 0..pixels {
                if rng.chance(0.2) {
                    cover[p] = rng.int(0, covers.len() as i64) as usize;
                }
                let truth = covers[cover[p]];
                let class = match rng.int(0, 100) {
                    0..=13 => LandClass::NoData as u8,
                    14..=17 => LandClass::Unknown as u8,
                    18 => [6u8, 128, 254][rng.int(0, 3) as usize],
                    19..=21 if truth == LandClass::BareSoil => LandClass::Built as u8,
                    _ => truth as u8,
                };
                // Soil follows the day's light and moisture, except where it was dug or filled.
                let ambient =
                    if reference_soil.is_finite() && reference_soil > 0.0 { reference_soil / 0.17 } else { 1.0 };
                let works = match rng.int(0, 8) {
                    0 => 0.65,
                    1 => 1.35,
                    _ => 1.0 + 0.03 * rng.normal() as f32,
                };
                let brightness = match rng.int(0, 50) {
                    0 => odd_nan(&mut rng),
                    1 => reference_soil,
                    _ => base[p] * ambient * works,
                };
                let ndvi = match truth {
                    LandClass::Vegetation => 0.6,
                    LandClass::Water => -0.3,
                    LandClass::Covered => 0.15,
                    _ => 0.08,
                } + 0.05 * rng.normal() as f32;
                let ndvi = if rng.chance(0.03) { odd_nan(&mut rng) } else { ndvi };
                let bsi = if rng.chance(0.1) { odd_nan(&mut rng) } else { 0.1 + 0.1 * rng.normal() as f32 };
                planes.class.push(class);
                planes.brightness.push(brightness);
                planes.ndvi.push(ndvi);
                planes.bsi.push(bsi);
            }
            (DateContext { day: *day, reference_soil }, planes)
        })
        .collect();
    TemporalCase { states, acquisitions }
}

/// Equality of temporal states to the bit (NaN payloads included); on failure, how many pixels differ
/// and the first of them in full.
pub fn assert_same_states(what: &str, got: &[jingtu::temporal::PixelState], want: &[jingtu::temporal::PixelState]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let bytes = |s| bytemuck::bytes_of(s).to_vec();
    let bad: Vec<usize> = (0..got.len()).filter(|i| bytes(&got[*i]) != bytes(&want[*i])).collect();
    if let Some(first) = bad.first() {
        panic!(
            "{what}: {} of {} states differ; the first, pixel {first}:\n  got  {:?}\n  want {:?}",
            bad.len(),
            got.len(),
            got[*first],
            want[*first]
        );
    }
}
