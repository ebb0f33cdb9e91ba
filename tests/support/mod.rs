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
