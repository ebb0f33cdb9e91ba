//! The GPU with the CPU behind it: whatever the GPU fails at (a lost device, memory, a driver or
//! validation error, even a panic inside the driver stack) is logged once and redone on the CPU, so a
//! job never dies of its GPU and never returns what a failed GPU computed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView2};

use super::{Backend, CpuBackend, GpuBackend, PairMoments};
use crate::error::{Error, Result};
use crate::raster::BandStack;
use crate::spectral::{ClassRules, IndexStack};

/// Runs kernels on the GPU until it first fails, then on the CPU for the rest of the process: a device
/// that failed once (lost, out of memory, misbehaving) is not trusted with the next kernel either.
#[derive(Debug)]
pub struct GpuWithFallback {
    gpu: GpuBackend,
    cpu: CpuBackend,
    failure: OnceLock<String>,
}

impl GpuWithFallback {
    /// Wraps `gpu`.
    pub fn new(gpu: GpuBackend) -> Self {
        GpuWithFallback { gpu, cpu: CpuBackend::new(), failure: OnceLock::new() }
    }

    /// The GPU backend inside.
    pub fn gpu(&self) -> &GpuBackend {
        &self.gpu
    }

    /// Why the GPU was given up, once it has been.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// `work` on the GPU, or on the CPU when the GPU has failed before or fails now.
    fn run<T>(&self, kernel: &str, mut work: impl FnMut(&dyn Backend) -> Result<T>) -> Result<T> {
        if self.failure.get().is_none() {
            let outcome = catch_unwind(AssertUnwindSafe(|| work(&self.gpu)))
                .unwrap_or_else(|panic| Err(Error::Gpu(format!("panicked: {}", panic_message(&*panic)))));
            match outcome {
                Ok(value) => return Ok(value),
                Err(e) => self.give_up(kernel, &e),
            }
        }
        work(&self.cpu)
    }

    fn give_up(&self, kernel: &str, error: &Error) {
        let detail = match error {
            Error::Gpu(message) => message.clone(),
            other => other.to_string(),
        };
        let why = format!("{kernel} failed on the GPU ({detail})");
        if self.failure.set(why.clone()).is_ok() {
            log::warn!("{why}; it and every later kernel run on the CPU");
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

impl Backend for GpuWithFallback {
    fn name(&self) -> String {
        match self.failure() {
            None => self.gpu.name(),
            Some(why) => format!("{} after {} gave up: {why}", self.cpu.name(), self.gpu.name()),
        }
    }

    fn linear(&self, stack: &mut BandStack, gains: &[f32], offsets: &[f32]) -> Result<()> {
        // The GPU leaves `stack` untouched when it fails, so the CPU starts from the same input.
        self.run("linear", |b| b.linear(stack, gains, offsets))
    }

    fn indices(&self, stack: &BandStack) -> Result<IndexStack> {
        self.run("indices", |b| b.indices(stack))
    }

    fn classify(&self, stack: &BandStack, indices: &IndexStack, rules: &ClassRules) -> Result<Array2<u8>> {
        self.run("classify", |b| b.classify(stack, indices, rules))
    }

    fn pair_moments(&self, before: &BandStack, after: &BandStack, weights: ArrayView2<u8>) -> Result<Vec<PairMoments>> {
        self.run("pair_moments", |b| b.pair_moments(before, after, weights))
    }

    fn change_magnitude(&self, before: &BandStack, after: &BandStack) -> Result<Array2<f32>> {
        self.run("change_magnitude", |b| b.change_magnitude(before, after))
    }

    fn box_mean(&self, values: ArrayView2<f32>, radius: usize) -> Result<Array2<f32>> {
        self.run("box_mean", |b| b.box_mean(values, radius))
    }

    fn histogram(&self, values: ArrayView2<f32>, lo: f32, hi: f32, bins: usize) -> Result<Vec<u64>> {
        self.run("histogram", |b| b.histogram(values, lo, hi, bins))
    }

    fn dilate(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
        self.run("dilate", |b| b.dilate(mask, radius))
    }

    fn cloud_test(&self, stack: &BandStack) -> Result<Array2<u8>> {
        self.run("cloud_test", |b| b.cloud_test(stack))
    }

    fn temporal_update(
        &self,
        state: &mut [crate::temporal::PixelState],
        observations: &crate::compute::ObservationPlanes,
        context: &crate::temporal::DateContext,
        params: &crate::temporal::TemporalParams,
        rules: &ClassRules,
    ) -> Result<Vec<u8>> {
        self.run("temporal_update", |b| b.temporal_update(state, observations, context, params, rules))
    }

    fn height_difference(&self, before: ArrayView2<f32>, after: ArrayView2<f32>, offset: f32) -> Result<Array2<f32>> {
        self.run("height_difference", |b| b.height_difference(before, after, offset))
    }

    fn slope(&self, surface: ArrayView2<f32>, step: usize, pixel_width: f32, pixel_height: f32) -> Result<Array2<f32>> {
        self.run("slope", |b| b.slope(surface, step, pixel_width, pixel_height))
    }

    fn erode(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
        self.run("erode", |b| b.erode(mask, radius))
    }

    fn rgb_features(&self, stack: &BandStack) -> Result<crate::spectral::RgbFeatures> {
        self.run("rgb_features", |b| b.rgb_features(stack))
    }
}
