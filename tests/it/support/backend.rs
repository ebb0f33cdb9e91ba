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

/// Reflectance (blue, green, red, nir, swir1, swir2) of the covers the temporal case paints.
fn cover_spectrum(cover: jingtu::spectral::LandClass, season: f32) -> [f32; 6] {
    use jingtu::spectral::LandClass::*;
    match cover {
        // Leaves green up and down with the season (NIR and red move against each other).
        Vegetation => [0.035, 0.07, 0.06 - 0.03 * season, 0.25 + 0.15 * season, 0.2, 0.1],
        BareSoil => [0.10, 0.14, 0.19, 0.24, 0.32, 0.26],
        Built => [0.20, 0.21, 0.22, 0.24, 0.26, 0.24],
        Water => [0.06, 0.07, 0.04, 0.02, 0.01, 0.005],
        _ => [0.06, 0.12, 0.07, 0.10, 0.08, 0.06],
    }
}

/// `pixels` pixels, each with a ground cover that now and then changes for good (vegetation, bare soil,
/// built, water, a net) and observations of it through the acquisitions of [`acquisition_days`]:
/// seasonal leaves, noise, clouds (nodata), ambiguous and unknown class bytes, single odd observations
/// (a haze the mask missed), pixels without SWIR, and NaN indices and bands (odd NaN payloads
/// included). Most pixels start fresh; some start deep in a bare run with counters at `u32::MAX`,
/// and some with a stored class above 255. The area is green on two acquisitions of three.
pub fn temporal_case(pixels: usize, seed: u64) -> TemporalCase {
    use jingtu::compute::ObservationPlanes;
    use jingtu::spectral::LandClass;
    use jingtu::temporal::{DateContext, NONE_DAY, PixelState};

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
        bare_start_seen: 1,
        bare_unexplained: 1,
        nonbuilt_obs: 9,
        ndvi_last: 0.1,
        bsi_last: 0.2,
        ..PixelState::default()
    };
    let states: Vec<PixelState> = (0..pixels)
        .map(|i| match i % 53 {
            7 => PixelState {
                valid_obs: u32::MAX,
                bare_start: first - 400,
                bare_obs: u32::MAX,
                nonbuilt_obs: u32::MAX,
                works_start: first - 60,
                works_last: first - 30,
                ..bare_run
            },
            19 => PixelState {
                class_last: LandClass::Built as u32,
                valid_obs: u32::MAX - 1,
                last_valid: first - 31,
                built_since: first - 92,
                built_run: u32::MAX,
                nonbuilt_obs: 5,
                bare_start: NONE_DAY,
                ..PixelState::default()
            },
            // The class is read as a byte (`class_last as u8`): this one is bare soil.
            31 => PixelState { class_last: 0x100 | LandClass::BareSoil as u32, ..bare_run },
            43 => bare_run,
            _ => PixelState::default(),
        })
        .collect();
    let mut cover: Vec<usize> = (0..pixels).map(|_| rng.int(0, covers.len() as i64) as usize).collect();
    let swir: Vec<bool> = (0..pixels).map(|_| !rng.chance(0.1)).collect();
    let odd_nan = |rng: &mut Rng| {
        if rng.chance(0.5) { f32::NAN } else { f32::from_bits(ODD_NANS[rng.int(0, 3) as usize]) }
    };
    let acquisitions = days
        .iter()
        .enumerate()
        .map(|(k, day)| {
            let season = (2.0 * std::f32::consts::PI * (*day as f32) / 365.25).cos() * 0.5 + 0.5;
            let mut planes = ObservationPlanes {
                class: Vec::with_capacity(pixels),
                bands: vec![f32::NAN; 6 * pixels],
                ndvi: Vec::with_capacity(pixels),
                bsi: Vec::with_capacity(pixels),
            };
            for p in 0..pixels {
                // Changes for good, now and then, after a first year.
                if k > 12 && rng.chance(0.04) {
                    cover[p] = rng.int(0, covers.len() as i64) as usize;
                }
                let truth = covers[cover[p]];
                let class = match rng.int(0, 100) {
                    0..=11 => LandClass::NoData as u8,
                    12..=14 => LandClass::Unknown as u8,
                    15 => [6u8, 128, 254][rng.int(0, 3) as usize],
                    16..=18 => covers[rng.int(0, covers.len() as i64) as usize] as u8,
                    _ => truth as u8,
                };
                let mut spectrum = cover_spectrum(truth, season);
                if rng.chance(0.03) {
                    // A haze the mask missed.
                    spectrum.iter_mut().for_each(|v| *v += 0.12);
                }
                for (b, v) in spectrum.iter().enumerate() {
                    let value = if b >= 4 && !swir[p] {
                        f32::NAN
                    } else if rng.chance(0.005) {
                        odd_nan(&mut rng)
                    } else {
                        v * (1.0 + 0.04 * rng.normal() as f32)
                    };
                    planes.bands[b * pixels + p] = value;
                }
                let ndvi = (spectrum[3] - spectrum[2]) / (spectrum[3] + spectrum[2]);
                let ndvi = if rng.chance(0.03) { odd_nan(&mut rng) } else { ndvi };
                let bsi = if rng.chance(0.1) { odd_nan(&mut rng) } else { 0.1 + 0.1 * rng.normal() as f32 };
                planes.class.push(class);
                planes.ndvi.push(ndvi);
                planes.bsi.push(bsi);
            }
            (DateContext::on(*day, k % 3 != 0), planes)
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
