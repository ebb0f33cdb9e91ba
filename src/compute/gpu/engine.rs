//! Running a kernel over its chunks: the buffers reused from call to call, uploads, dispatches and
//! read-backs, two chunks in flight, and every GPU error caught.
//!
//! A kernel describes each chunk as a [`Pass`]: uniform parameters, storage bindings (planes uploaded
//! back to back, outputs read back) and a workgroup count. Passes alternate between two slots of
//! buffers: while the GPU computes chunk i in one slot, the host copies chunk i + 1 into the other and
//! then collects chunk i - 1's results, so transfers and compute overlap as far as one queue allows.

use std::num::NonZeroU64;
use std::sync::mpsc;
use std::time::Duration;

use super::chunking::dispatch_shape;
use super::context::{GpuContext, scoped};
use super::kernels::Kernel;
use crate::error::{Error, Result};

/// Workgroup width of every kernel (`@workgroup_size(64)`): a multiple of the 32- and 64-wide SIMD
/// groups of NVIDIA, AMD and Intel GPUs.
pub(crate) const WORKGROUP: usize = 64;

/// A chunk that takes longer than this is taken for a hung device.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(120);

/// Storage binding `k + 1` of a pass (binding 0 is the uniform parameters).
pub(crate) struct Binding<'a> {
    /// Planes uploaded back to back, plane j at byte `j * plane_bytes`; none for pure outputs.
    pub(crate) planes: Vec<&'a [u8]>,
    /// Bytes from one plane to the next.
    pub(crate) plane_bytes: u64,
    /// Bytes bound, a multiple of 4.
    pub(crate) size: u64,
    /// Copied back to the host after the dispatch.
    pub(crate) read_back: bool,
    /// Cleared to zero on the GPU before the dispatch (accumulators).
    pub(crate) zeroed: bool,
}

impl<'a> Binding<'a> {
    /// Planes to upload, each padded to `plane_bytes`.
    pub(crate) fn input(planes: Vec<&'a [u8]>, plane_bytes: u64) -> Self {
        let size = (planes.len() as u64 * plane_bytes).max(4);
        Binding { planes, plane_bytes, size, read_back: false, zeroed: false }
    }

    /// Planes uploaded, rewritten in place by the kernel, and read back.
    pub(crate) fn in_out(planes: Vec<&'a [u8]>, plane_bytes: u64) -> Self {
        Binding { read_back: true, ..Binding::input(planes, plane_bytes) }
    }

    /// `size` bytes the kernel writes, read back.
    pub(crate) fn output(size: u64) -> Self {
        Binding {
            planes: Vec::new(),
            plane_bytes: 0,
            size: size.next_multiple_of(4).max(4),
            read_back: true,
            zeroed: false,
        }
    }

    /// `size` bytes starting at zero that the kernel adds into, read back.
    pub(crate) fn accumulator(size: u64) -> Self {
        Binding { zeroed: true, ..Binding::output(size) }
    }
}

/// One dispatch of a kernel over one chunk.
pub(crate) struct Pass<'a> {
    /// The uniform parameters (binding 0), a multiple of 16 bytes.
    pub(crate) params: Vec<u8>,
    /// Storage bindings 1, 2, ...
    pub(crate) bindings: Vec<Binding<'a>>,
    /// Workgroups; past the per-dimension limit they spill into y.
    pub(crate) groups: u32,
    /// Workgroups in z (one per band for reductions by band).
    pub(crate) layers: u32,
}

/// Transfer and dispatch counts, for logs and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Dispatches run (one per kernel and chunk).
    pub dispatches: u64,
    /// Bytes copied to the device.
    pub bytes_uploaded: u64,
    /// Bytes copied back from the device.
    pub bytes_read_back: u64,
}

/// Buffers kept from one call to the next, grown as needed and never shrunk.
#[derive(Default)]
pub(crate) struct Pool {
    slots: [Slot; 2],
    pub(crate) stats: GpuStats,
}

impl Pool {
    /// Drops every buffer, keeping the counts: after a failure buffers may be mapped or half written.
    pub(crate) fn reset(&mut self) {
        self.slots = Default::default();
    }
}

#[derive(Default)]
struct Slot {
    params: Option<wgpu::Buffer>,
    storage: Vec<Option<wgpu::Buffer>>,
    readback: Vec<Option<wgpu::Buffer>>,
}

fn reuse<'b>(
    device: &wgpu::Device,
    slot: &'b mut Vec<Option<wgpu::Buffer>>,
    index: usize,
    size: u64,
    usage: wgpu::BufferUsages,
) -> &'b wgpu::Buffer {
    if slot.len() <= index {
        slot.resize_with(index + 1, || None);
    }
    let entry = &mut slot[index];
    if entry.as_ref().is_none_or(|b| b.size() < size) {
        // Room to grow: a chunk a little larger than the last does not reallocate.
        let size = size.next_power_of_two().min(device.limits().max_buffer_size).max(size);
        *entry = Some(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("jingtu pool"),
            size,
            usage,
            mapped_at_creation: false,
        }));
    }
    entry.as_ref().expect("just filled")
}

/// A read-back buffer, the bytes mapped, and the news of the mapping.
type Mapping = (wgpu::Buffer, u64, mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>);

/// A submitted pass whose results have not been collected yet.
struct InFlight {
    index: usize,
    submission: wgpu::SubmissionIndex,
    /// Read-back buffers in binding order.
    mapped: Vec<Mapping>,
}

/// Runs `kernel` over `passes` and hands each pass's read-back bindings, in binding order, to `done`
/// (called in pass order). `fault` makes the dispatch of that pass invalid, to exercise the failure path.
pub(crate) fn run<'a>(
    ctx: &GpuContext,
    pool: &mut Pool,
    kernel: Kernel,
    passes: impl IntoIterator<Item = Pass<'a>>,
    fault: Option<usize>,
    mut done: impl FnMut(usize, &[&[u8]]),
) -> Result<()> {
    ctx.check_alive()?;
    let pipeline = ctx
        .pipeline(kernel)
        .ok_or_else(|| Error::Gpu(format!("{}: {} cannot run it", kernel.name(), ctx.adapter.name)))?;
    let result = (|| {
        let mut in_flight: Option<InFlight> = None;
        for (index, pass) in passes.into_iter().enumerate() {
            let submitted = submit(ctx, pool, kernel, pipeline, index, &pass, fault == Some(index))?;
            if let Some(previous) = in_flight.take() {
                collect(ctx, previous, &mut done)?;
            }
            in_flight = Some(submitted);
        }
        match in_flight {
            Some(last) => collect(ctx, last, &mut done),
            None => Ok(()),
        }
    })();
    if result.is_err() {
        pool.reset();
        // Whatever failed, a lost device is the cause worth reporting; polling delivers its callback.
        let _ = ctx.device.poll(wgpu::PollType::Poll);
        ctx.check_alive()?;
    }
    result
}

fn submit(
    ctx: &GpuContext,
    pool: &mut Pool,
    kernel: Kernel,
    pipeline: &wgpu::ComputePipeline,
    index: usize,
    pass: &Pass,
    fault: bool,
) -> Result<InFlight> {
    let device = &ctx.device;
    let slot_index = index % 2;
    let what = format!("chunk {index}");
    let (submission, mapped, uploaded, read_back) = scoped(device, &what, || -> Result<_> {
        let slot = &mut pool.slots[slot_index];
        let params_size = (pass.params.len() as u64).next_multiple_of(16).max(16);
        if slot.params.as_ref().is_none_or(|b| b.size() < params_size) {
            slot.params = Some(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("jingtu params"),
                size: params_size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let params = slot.params.as_ref().expect("just filled");
        let mut padded = pass.params.clone();
        padded.resize(params_size as usize, 0);
        ctx.queue.write_buffer(params, 0, &padded);

        let mut uploaded = 0u64;
        let storage_usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        for (k, binding) in pass.bindings.iter().enumerate() {
            let buffer = reuse(device, &mut slot.storage, k, binding.size, storage_usage);
            if binding.planes.is_empty() {
                continue;
            }
            let size = NonZeroU64::new(binding.size).expect("bindings are at least 4 bytes");
            let mut view = ctx
                .queue
                .write_buffer_with(buffer, 0, size)
                .ok_or_else(|| Error::Gpu(format!("{what}: cannot stage {} bytes", binding.size)))?;
            let mut at = 0usize;
            for plane in &binding.planes {
                let end = at + plane.len();
                view.slice(at..end).copy_from_slice(plane);
                let next = at + binding.plane_bytes as usize;
                view.slice(end..next).fill(0);
                at = next;
            }
            view.slice(at..).fill(0);
            uploaded += binding.size;
        }

        let buffers: Vec<&wgpu::Buffer> =
            (0..pass.bindings.len()).map(|k| slot.storage[k].as_ref().expect("allocated above")).collect();
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: params,
                offset: 0,
                size: NonZeroU64::new(params_size),
            }),
        }];
        for (k, (binding, buffer)) in pass.bindings.iter().zip(&buffers).enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: k as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset: 0,
                    size: NonZeroU64::new(binding.size),
                }),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name()),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });

        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(kernel.name()) });
        for (binding, buffer) in pass.bindings.iter().zip(&buffers) {
            if binding.zeroed {
                encoder.clear_buffer(buffer, 0, Some(binding.size));
            }
        }
        {
            let mut cpass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.name()),
                timestamp_writes: None,
            });
            cpass.set_pipeline(pipeline);
            cpass.set_bind_group(0, &bind_group, &[]);
            let max = device.limits().max_compute_workgroups_per_dimension;
            let (x, y) = dispatch_shape(pass.groups, max);
            // The injected fault: more workgroups than the device allows, which wgpu rejects as invalid.
            let x = if fault { max.saturating_add(1) } else { x };
            cpass.dispatch_workgroups(x, y, pass.layers);
        }
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let mut targets = Vec::new();
        let mut read_back = 0u64;
        for (k, (binding, buffer)) in pass.bindings.iter().zip(&buffers).enumerate() {
            if binding.read_back {
                let target = reuse(device, &mut slot.readback, k, binding.size, usage);
                encoder.copy_buffer_to_buffer(buffer, 0, target, 0, binding.size);
                targets.push((target.clone(), binding.size));
                read_back += binding.size;
            }
        }
        let submission = ctx.queue.submit([encoder.finish()]);
        let mapped = targets
            .into_iter()
            .map(|(target, size)| {
                let (tx, rx) = mpsc::channel();
                target.map_async(wgpu::MapMode::Read, 0..size, move |r| {
                    let _ = tx.send(r);
                });
                (target, size, rx)
            })
            .collect();
        Ok((submission, mapped, uploaded, read_back))
    })??;
    pool.stats.dispatches += 1;
    pool.stats.bytes_uploaded += uploaded;
    pool.stats.bytes_read_back += read_back;
    Ok(InFlight { index, submission, mapped })
}

fn collect(ctx: &GpuContext, pass: InFlight, done: &mut impl FnMut(usize, &[&[u8]])) -> Result<()> {
    let what = format!("chunk {}", pass.index);
    let InFlight { index, submission, mapped } = pass;
    scoped(&ctx.device, &what, || -> Result<()> {
        ctx.device
            .poll(wgpu::PollType::Wait { submission_index: Some(submission), timeout: Some(CHUNK_TIMEOUT) })
            .map_err(|e| Error::Gpu(format!("{what}: {e}")))?;
        ctx.check_alive()?;
        // Another thread's poll may have taken this submission's map callbacks and not fired them yet:
        // keep driving the device until they arrive, up to the chunk timeout.
        let started = std::time::Instant::now();
        for (_, _, rx) in &mapped {
            loop {
                match rx.recv_timeout(Duration::from_millis(5)) {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => return Err(Error::Gpu(format!("{what}: reading results back: {e}"))),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(Error::Gpu(format!("{what}: results never came back")));
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() > CHUNK_TIMEOUT => {
                        return Err(Error::Gpu(format!("{what}: results never came back")));
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let _ = ctx.device.poll(wgpu::PollType::Poll);
                    }
                }
            }
        }
        let views = mapped
            .iter()
            .map(|(b, size, _)| {
                b.get_mapped_range(0..*size).map_err(|e| Error::Gpu(format!("{what}: mapping results: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        {
            let bytes: Vec<&[u8]> = views.iter().map(|v| &v[..]).collect();
            done(index, &bytes);
        }
        drop(views);
        for (b, _, _) in &mapped {
            b.unmap();
        }
        Ok(())
    })?
}
