//! The GPU backend: every kernel of [`Backend`] as a wgpu compute shader (WGSL in `shaders/`), giving the
//! CPU backend's results bit for bit.
//!
//! # Layout
//!
//! | module | concern |
//! | --- | --- |
//! | `context` | adapters, the choice among them, the one device and its pipelines per process |
//! | `kernels` | the shader of each kernel (`shaders/<kernel>.wgsl` after `shaders/prelude.wgsl`) |
//! | `chunking` | cutting images into chunks that fit the device's bindings and dispatch limits |
//! | `engine` | buffers reused across calls, uploads, dispatches and read-backs, two chunks in flight, error scopes |
//! | `pointwise` | per-pixel kernels: `linear`, `indices`, `classify`, `change_magnitude`, `cloud_test`, `rgb_features`, `height_difference` |
//! | `temporal` | the monthly scan's per-pixel step on a state record per pixel: `temporal_update` |
//! | `reduce` | reductions: `pair_moments`, `histogram` |
//! | `neighbourhood` | window kernels: `box_mean`, `dilate`, `erode`, `slope` |
//!
//! # Exactness
//!
//! Shaders mirror the scalar Rust functions operation by operation, and `shaders/prelude.wgsl` supplies
//! what WGSL does not promise: NaN tests on bits, correctly rounded division and square root, products
//! shielded from fused multiply-add. Reductions sum in one fixed order that the CPU follows too
//! ([`crate::compute::moments`]). So classes, masks and counts are identical and floats equal to the
//! bit, which is what makes the flags of a job identical on both backends.
//!
//! # Failures
//!
//! Every use of the device runs inside error scopes (out of memory, validation, internal); a lost device
//! is noticed by its callback; a chunk that does not finish in two minutes counts as a hung device. Each
//! becomes [`Error::Gpu`](crate::Error::Gpu), never a panic, and results of a failed call are discarded
//! (`linear` leaves its stack untouched, `temporal_update` its states).
//! [`GpuWithFallback`](crate::compute::GpuWithFallback) turns such errors into a warning and a rerun on
//! the CPU.
//!
//! # Adding a kernel
//!
//! A per-pixel kernel (`height_difference` is the smallest) takes three steps:
//! 1. Write `shaders/<name>.wgsl` with `@group(0) @binding(0) var<uniform> params: Params;`, the storage
//!    bindings from 1 on, and `@compute @workgroup_size(64) fn main` that computes its index as
//!    `group_index(wid, groups) * 64u + lid` and returns when it is past `params.len`. Mirror the Rust
//!    scalar function line by line, with `div_rn`, `sqrt_rn`, `keep` and the NaN-safe comparisons of the
//!    prelude wherever the Rust divides, takes a root, adds or subtracts a product or compares a value
//!    that may be NaN; Rust's `f32::max`/`min` ignore a NaN operand, WGSL's promise nothing. Bytes
//!    (masks, classes) travel four to a word: read them with `byte_at`, write whole words, one
//!    invocation per word. Rename Rust variables that WGSL reserves (`class`, `common`, ...); the
//!    naga test says which.
//! 2. Add a line to the `kernels!` list in `kernels.rs`; the naga test then validates the file.
//! 3. Add the method to [`Backend`], to `CpuBackend` (the reference), to `GpuWithFallback`, and here a
//!    function like `pointwise::change_magnitude`: a `#[repr(C)]` params struct matching the WGSL one,
//!    `pixel_chunks` for the chunks, one `engine::Pass` per chunk built from plane slices, and a
//!    closure copying the read-back bytes into the result. Then give it a test body in
//!    `tests/it/backend/parity.rs`, a case in `tests/it/backend/gpu_fallback.rs` and a bench in `benches/kernels.rs`.
//!
//! A kernel that rewrites a record per pixel in place follows `temporal.rs`: the `#[repr(C)]`, 32-bit
//! record array goes up as one `in_out` binding (a WGSL struct field for field; f32 fields declared as
//! `u32` bits where they are only copied, so NaN payloads survive), chunks come from
//! `aligned_pixel_chunks(.., RECORD_ALIGN)` because a wide record fits few pixels in a small binding,
//! and the results replace the input only after every chunk succeeded, so that the CPU fallback starts
//! from the input it was given. A window kernel follows `neighbourhood.rs` (`row_chunks` gives rows with
//! halo); a reduction follows `reduce.rs` (per-workgroup partials the host adds in a fixed order, or
//! integer atomics).

mod chunking;
mod context;
mod engine;
mod kernels;
mod neighbourhood;
mod pointwise;
mod reduce;
mod temporal;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use ndarray::{Array2, ArrayView2};

pub use context::{ALLOW_SOFTWARE_ENV, AdapterPolicy, AdapterSummary, adapters, choose_adapter};
pub use engine::GpuStats;

use super::{Backend, CpuBackend, ObservationPlanes, PairMoments};
use crate::error::Result;
use crate::raster::BandStack;
use crate::spectral::{ClassRules, IndexStack, RgbFeatures};
use crate::temporal::{DateContext, PixelState, TemporalParams};
use context::GpuContext;
use engine::{Pass, Pool};
use kernels::Kernel;

/// Runs every kernel on the process's GPU. Calls from several threads take turns.
pub struct GpuBackend {
    ctx: Arc<GpuContext>,
    pool: Mutex<Pool>,
    binding_limit: Option<u64>,
    /// Injected faults still to come: the chunk whose dispatch fails, one per kernel call.
    faults: Mutex<VecDeque<usize>>,
    cpu: CpuBackend,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend").field("adapter", &self.ctx.adapter).finish_non_exhaustive()
    }
}

impl GpuBackend {
    /// The GPU backend on the best adapter `policy` allows; an error that says why where there is none.
    pub fn new(policy: AdapterPolicy) -> Result<Self> {
        Ok(GpuBackend {
            ctx: GpuContext::get(policy)?,
            pool: Mutex::new(Pool::default()),
            binding_limit: None,
            faults: Mutex::new(VecDeque::new()),
            cpu: CpuBackend::new(),
        })
    }

    /// Caps the bytes of any one storage binding below the device's limit: smaller chunks, the same
    /// results. Tests use it to force chunking without allocating gigabytes; it also bounds the GPU
    /// memory jingtu holds when the device is shared.
    pub fn with_binding_limit(mut self, bytes: u64) -> Self {
        self.binding_limit = Some(bytes);
        self
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.adapter
    }

    /// Dispatches and bytes moved so far by this backend.
    pub fn stats(&self) -> GpuStats {
        self.lock_pool().stats
    }

    /// Blocks until the device has finished all submitted work. Every kernel call already waits for its
    /// results; benches call this too so that nothing is left running when the clock stops.
    pub fn wait_idle(&self) -> Result<()> {
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| crate::Error::Gpu(e.to_string()))
    }

    /// Makes the next dispatch invalid, so that the kernel fails the way a driver or validation error
    /// would. Test support for the CPU fallback; not part of the API.
    #[doc(hidden)]
    pub fn fail_next_dispatch(&self) {
        self.fail_dispatch_of_chunk(0);
    }

    /// Makes the dispatch of chunk `chunk` of the next kernel call invalid (a call with fewer chunks
    /// does not fail), so that the call fails after its earlier chunks came back. Test support for
    /// kernels that must leave their inputs untouched when they fail; not part of the API.
    #[doc(hidden)]
    pub fn fail_dispatch_of_chunk(&self, chunk: usize) {
        self.lock_faults().push_back(chunk);
    }

    fn lock_faults(&self) -> MutexGuard<'_, VecDeque<usize>> {
        // A plain queue of numbers: whatever a panic interrupted, it is still one.
        self.faults.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Destroys the process's GPU device, as a driver reset would; every later GPU call fails. Test
    /// support for the CPU fallback; not part of the API.
    #[doc(hidden)]
    pub fn lose_device(&self) {
        self.ctx.destroy_device();
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        // A panic while the pool was held leaves its buffers in an unknown state: start afresh.
        self.pool.lock().unwrap_or_else(|poisoned| {
            let mut pool = poisoned.into_inner();
            pool.reset();
            pool
        })
    }

    fn runner(&self) -> Runner<'_> {
        let limits = self.ctx.device.limits();
        let device_max = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        Runner {
            ctx: &self.ctx,
            pool: self.lock_pool(),
            max_binding: self.binding_limit.map_or(device_max, |b| b.min(device_max)),
            fault: self.lock_faults().pop_front(),
        }
    }
}

/// One kernel call's hold on the device: the pool, the binding size chunks must fit, a pending fault.
pub(crate) struct Runner<'g> {
    ctx: &'g GpuContext,
    pool: MutexGuard<'g, Pool>,
    max_binding: u64,
    fault: Option<usize>,
}

impl Runner<'_> {
    fn can_run(&self, kernel: Kernel) -> bool {
        self.ctx.pipeline(kernel).is_some()
    }

    fn run<'a>(
        &mut self,
        kernel: Kernel,
        passes: impl IntoIterator<Item = Pass<'a>>,
        done: impl FnMut(usize, &[&[u8]]),
    ) -> Result<()> {
        engine::run(self.ctx, &mut self.pool, kernel, passes, self.fault, done)
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        format!("gpu ({}, {})", self.ctx.adapter.name, self.ctx.adapter.api)
    }

    fn linear(&self, stack: &mut BandStack, gains: &[f32], offsets: &[f32]) -> Result<()> {
        pointwise::linear(&mut self.runner(), stack, gains, offsets)
    }

    fn indices(&self, stack: &BandStack) -> Result<IndexStack> {
        pointwise::indices(&mut self.runner(), stack)
    }

    fn classify(&self, stack: &BandStack, indices: &IndexStack, rules: &ClassRules) -> Result<Array2<u8>> {
        pointwise::classify(&mut self.runner(), stack, indices, rules)
    }

    fn pair_moments(&self, before: &BandStack, after: &BandStack, weights: ArrayView2<u8>) -> Result<Vec<PairMoments>> {
        let mut runner = self.runner();
        if !runner.can_run(Kernel::PairMoments) {
            // No f64 on this adapter: the CPU gives the exact sums (see the context's log).
            return self.cpu.pair_moments(before, after, weights);
        }
        reduce::pair_moments(&mut runner, before, after, weights)
    }

    fn change_magnitude(&self, before: &BandStack, after: &BandStack) -> Result<Array2<f32>> {
        pointwise::change_magnitude(&mut self.runner(), before, after)
    }

    fn box_mean(&self, values: ArrayView2<f32>, radius: usize) -> Result<Array2<f32>> {
        neighbourhood::box_mean(&mut self.runner(), values, radius)
    }

    fn histogram(&self, values: ArrayView2<f32>, lo: f32, hi: f32, bins: usize) -> Result<Vec<u64>> {
        reduce::histogram(&mut self.runner(), values, lo, hi, bins)
    }

    fn dilate(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
        neighbourhood::dilate(&mut self.runner(), mask, radius)
    }

    fn cloud_test(&self, stack: &BandStack) -> Result<Array2<u8>> {
        pointwise::cloud_test(&mut self.runner(), stack)
    }

    fn temporal_update(
        &self,
        state: &mut [PixelState],
        observations: &ObservationPlanes,
        context: &DateContext,
        params: &TemporalParams,
        rules: &ClassRules,
    ) -> Result<Vec<u8>> {
        temporal::temporal_update(state, observations, context, params, rules)
    }

    fn height_difference(&self, before: ArrayView2<f32>, after: ArrayView2<f32>, offset: f32) -> Result<Array2<f32>> {
        pointwise::height_difference(&mut self.runner(), before, after, offset)
    }

    fn slope(&self, surface: ArrayView2<f32>, step: usize, pixel_width: f32, pixel_height: f32) -> Result<Array2<f32>> {
        neighbourhood::slope(&mut self.runner(), surface, step, pixel_width, pixel_height)
    }

    fn erode(&self, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
        neighbourhood::erode(&mut self.runner(), mask, radius)
    }

    fn rgb_features(&self, stack: &BandStack) -> Result<RgbFeatures> {
        pointwise::rgb_features(&mut self.runner(), stack)
    }
}

/// Copies little-endian f32 bytes read back from the device into `dst`.
fn copy_f32(dst: &mut [f32], src: &[u8]) {
    let bytes = dst.len() * 4;
    bytemuck::cast_slice_mut::<f32, u8>(dst).copy_from_slice(&src[..bytes]);
}

/// `planes` of a (plane, pixel) slice with `n` pixels per plane, cut to `range`, as bytes.
fn f32_planes<'a>(
    data: &'a [f32],
    n: usize,
    planes: impl IntoIterator<Item = usize>,
    range: &std::ops::Range<usize>,
) -> Vec<&'a [u8]> {
    planes.into_iter().map(|b| f32_bytes(&data[b * n + range.start..b * n + range.end])).collect()
}

/// The bytes of f32 values, as uploads take them.
fn f32_bytes(values: &[f32]) -> &[u8] {
    bytemuck::cast_slice(values)
}

/// A count within one chunk, as shaders take it.
fn u32_of(v: usize) -> u32 {
    u32::try_from(v).expect("chunks hold fewer than 2^32 pixels")
}

/// Workgroups for `items` invocations.
fn groups_for(items: usize) -> u32 {
    u32::try_from(items.div_ceil(engine::WORKGROUP)).expect("chunks hold far fewer than 2^38 items")
}
