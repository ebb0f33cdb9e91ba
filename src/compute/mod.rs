//! The backend interface every per-pixel kernel goes through, and its implementations.
//!
//! Kernels take and return whole planes in standard (row-major) layout so a GPU implementation can upload
//! them as they are. Reductions return small results (moments, histograms); everything that decides
//! (thresholds, fits) happens on the host from those, identically for every backend.
//!
//! | backend | where it runs |
//! | --- | --- |
//! | [`CpuBackend`] | rayon over rows: the reference |
//! | [`GpuBackend`] | wgpu compute shaders (`shaders/*.wgsl`), bit-identical to the reference |
//! | [`GpuWithFallback`] | the GPU, redoing on the CPU whatever the GPU fails at |
//!
//! `--backend auto` takes a real GPU when there is one and the CPU otherwise; it never takes a software
//! adapter (llvmpipe/lavapipe), which is slower than the CPU backend. `--backend gpu` is an error without
//! a real GPU unless `JINGTU_GPU_ALLOW_SOFTWARE=1` allows a software adapter (tests and CI do).

mod cpu;
mod fallback;
pub mod gpu;
pub mod moments;

use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::raster::BandStack;
pub use crate::spectral::RgbFeature;
use crate::spectral::{ClassRules, IndexStack, RgbFeatures};
use crate::temporal::{DateContext, PixelState, TemporalParams};

pub use cpu::{CpuBackend, histogram_bin, histogram_scale};
pub use fallback::GpuWithFallback;
pub use gpu::{AdapterPolicy, GpuBackend};
pub use moments::PairMoments;

/// Which implementation runs the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// A real GPU when one exists, else the CPU.
    #[default]
    Auto,
    /// The GPU, or an error when there is none.
    Gpu,
    /// The CPU (rayon).
    Cpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            _ => Err(format!("unknown backend '{s}' (auto, gpu or cpu)")),
        }
    }
}

/// The per-pixel kernels. Every implementation gives the same integer and class outputs for the same
/// inputs, and floats within 1e-5 relative.
pub trait Backend: Send + Sync {
    /// Short name for logs and evidence (`cpu`, `gpu:<adapter>`).
    fn name(&self) -> String;

    /// `x * gain[b] + offset[b]` on every band, NaN where the pixel is invalid; marks a pixel invalid when
    /// any band comes out non-finite. Used for DN-to-reflectance scaling and for applying a normalization.
    fn linear(&self, stack: &mut BandStack, gains: &[f32], offsets: &[f32]) -> Result<()>;

    /// All spectral indices (see `spectral::indices`), NaN where invalid.
    fn indices(&self, stack: &BandStack) -> Result<IndexStack>;

    /// Land-cover class per pixel (`LandClass` bytes, 255 where invalid).
    fn classify(&self, stack: &BandStack, indices: &IndexStack, rules: &ClassRules) -> Result<Array2<u8>>;

    /// Moments of each band pair over pixels valid on both dates where `weights` is nonzero.
    fn pair_moments(&self, before: &BandStack, after: &BandStack, weights: ArrayView2<u8>) -> Result<Vec<PairMoments>>;

    /// Root-mean-square difference across bands, NaN where either date is invalid.
    fn change_magnitude(&self, before: &BandStack, after: &BandStack) -> Result<Array2<f32>>;

    /// Mean of the finite values in the (2r+1)x(2r+1) window around each pixel; NaN stays NaN.
    fn box_mean(&self, values: ArrayView2<f32>, radius: usize) -> Result<Array2<f32>>;

    /// Histogram of finite values over `[lo, hi)`, values outside clamped into the end bins.
    fn histogram(&self, values: ArrayView2<f32>, lo: f32, hi: f32, bins: usize) -> Result<Vec<u64>>;

    /// 1 where a valid pixel looks like cloud (`spectral::cloud::looks_like_cloud`), else 0.
    fn cloud_test(&self, stack: &BandStack) -> Result<Array2<u8>>;

    /// Binary dilation of nonzero pixels by a (2r+1)x(2r+1) square.
    fn dilate(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>>;

    /// The monthly scan's per-pixel step: applies one acquisition's observations to the temporal state,
    /// its seasonal model included (`temporal::update_pixel`, classifying the model's expectations with
    /// `rules`), and returns each pixel's active events afterwards as bits
    /// (`temporal::ActiveEvents::bits`: 1 construction, 2 earthworks, 4 idle_bare).
    fn temporal_update(
        &self,
        state: &mut [PixelState],
        observations: &ObservationPlanes,
        context: &DateContext,
        params: &TemporalParams,
        rules: &ClassRules,
    ) -> Result<Vec<u8>>;

    /// Height change between two surface models on one grid: `after - before - offset` (metres), where
    /// `offset` is the vertical bias between the flights measured on stable ground. NaN where either
    /// surface is NaN (no data); no other value is special.
    fn height_difference(&self, before: ArrayView2<f32>, after: ArrayView2<f32>, offset: f32) -> Result<Array2<f32>>;

    /// Steepness of a surface: the magnitude of its gradient (rise over run, so 1.0 is 45 degrees) from
    /// central differences between the pixels `step` away on either side (so the run is a fixed ground
    /// distance whatever the pixel size), `pixel_width` and `pixel_height` in the surface's height units.
    /// Where a side is beyond the grid or NaN the one-sided difference is used; NaN where the pixel itself
    /// is NaN, and an axis with no finite side contributes nothing.
    fn slope(&self, surface: ArrayView2<f32>, step: usize, pixel_width: f32, pixel_height: f32) -> Result<Array2<f32>>;

    /// Binary erosion by a (2r+1)x(2r+1) square: 1 where every pixel of the window is nonzero. Pixels
    /// beyond the array edge count as nonzero, so a caller that needs exact results near its edge reads
    /// a margin of at least `radius` around what it keeps.
    fn erode(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>>;

    /// Visible-band features of an RGB stack (`spectral::rgb`): brightness, chroma, excess green and
    /// warmth per pixel from its red, green and blue bands, NaN where the pixel is invalid. Stacks without
    /// one of the three bands give NaN planes.
    fn rgb_features(&self, stack: &BandStack) -> Result<RgbFeatures>;
}

/// One acquisition's per-pixel observations on a plot grid, as planes.
#[derive(Debug, Clone)]
pub struct ObservationPlanes {
    /// `LandClass` byte per pixel (255 invalid, 0 ambiguous).
    pub class: Vec<u8>,
    /// Reflectance of blue, green, red, nir, swir1 and swir2, plane after plane (`temporal::model::BANDS`
    /// planes of one value per pixel; NaN where invalid or not measured).
    pub bands: Vec<f32>,
    /// NDVI per pixel.
    pub ndvi: Vec<f32>,
    /// BSI per pixel (NaN without SWIR).
    pub bsi: Vec<f32>,
}

/// The backend for a choice. `cpu` always works. `auto` takes a real GPU (never a software adapter) and
/// otherwise the CPU. `gpu` takes a real GPU, or a software adapter where `JINGTU_GPU_ALLOW_SOFTWARE=1`,
/// and is an error saying why where there is none. Either GPU choice redoes on the CPU, with a warning,
/// whatever the GPU fails at run time.
pub fn select(choice: BackendChoice) -> Result<Arc<dyn Backend>> {
    match choice {
        BackendChoice::Cpu => Ok(Arc::new(CpuBackend::new())),
        BackendChoice::Gpu => Ok(Arc::new(GpuWithFallback::new(GpuBackend::new(AdapterPolicy::from_env())?))),
        BackendChoice::Auto => match GpuBackend::new(AdapterPolicy::HardwareOnly) {
            Ok(gpu) => Ok(Arc::new(GpuWithFallback::new(gpu))),
            Err(e) => {
                // No GPU is the common case and no news; a GPU that is there but unusable is.
                if gpu::adapters().iter().any(|a| !a.software) {
                    log::warn!("backend auto: a GPU is present but unusable ({e}); using the CPU");
                } else {
                    log::info!("backend auto: {e}; using the CPU");
                }
                Ok(Arc::new(CpuBackend::new()))
            }
        },
    }
}
