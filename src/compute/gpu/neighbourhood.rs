//! Window kernels: each result reads a square around its pixel, so chunks are bands of rows uploaded with
//! `radius` rows of halo either side (`row_chunks`), and results equal the unchunked ones. `slope` reads
//! the pixels `step` away, so its halo is `step` rows; `erode` runs twice, along rows without halo and
//! then along columns with `radius` rows of it.

use bytemuck::{Pod, Zeroable};
use ndarray::{Array2, ArrayView2};

use super::chunking::{RowChunk, max_halo, row_chunks};
use super::engine::{Binding, Pass};
use super::kernels::Kernel;
use super::{Runner, copy_f32, f32_bytes, groups_for, u32_of};
use crate::error::Result;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct WindowParams {
    width: u32,
    rows_in: u32,
    row_offset: u32,
    rows_out: u32,
    radius: u32,
    pad: [u32; 3],
}

impl WindowParams {
    fn of(c: &RowChunk, width: usize, radius: usize) -> Self {
        WindowParams {
            width: width as u32,
            rows_in: c.input.len() as u32,
            row_offset: (c.out.start - c.input.start) as u32,
            rows_out: c.out.len() as u32,
            radius: radius as u32,
            pad: [0; 3],
        }
    }
}

/// `Backend::box_mean`.
pub(super) fn box_mean(runner: &mut Runner, values: ArrayView2<f32>, radius: usize) -> Result<Array2<f32>> {
    let (h, w) = values.dim();
    if h == 0 || w == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let src = values.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    // A window wider than the image sees all of it, whatever its radius.
    let radius = radius.min(h.max(w));
    let chunks = row_chunks(h, w, radius, 4, runner.max_binding)?;
    let passes = chunks.iter().map(|c| Pass {
        params: bytemuck::bytes_of(&WindowParams::of(c, w, radius)).to_vec(),
        bindings: vec![
            Binding::input(vec![f32_bytes(&src[c.input.start * w..c.input.end * w])], (c.input.len() * w * 4) as u64),
            Binding::output((c.out.len() * w * 4) as u64),
        ],
        groups: groups_for(c.out.len() * w),
        layers: 1,
    });
    let mut out = vec![0f32; h * w];
    runner.run(Kernel::BoxMean, passes, |i, bytes| {
        let c = &chunks[i];
        copy_f32(&mut out[c.out.start * w..c.out.end * w], bytes[0]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

/// `Backend::dilate`.
pub(super) fn dilate(runner: &mut Runner, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
    let (h, w) = mask.dim();
    if h == 0 || w == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let src = mask.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    // A window wider than the image sees all of it, whatever its radius.
    let radius = radius.min(h.max(w));
    let out = mask_pass(runner, Kernel::Dilate, src, h, w, radius, |c| WindowParams::of(c, w, radius))?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

/// One pass of a kernel from a mask (one byte per pixel) to a mask over row chunks that read `halo`
/// rows around the rows they write, with the parameters `params_of` gives each chunk.
fn mask_pass<P: Pod>(
    runner: &mut Runner,
    kernel: Kernel,
    src: &[u8],
    h: usize,
    w: usize,
    halo: usize,
    params_of: impl Fn(&RowChunk) -> P,
) -> Result<Vec<u8>> {
    let chunks = row_chunks(h, w, halo, 1, runner.max_binding)?;
    let passes = chunks.iter().map(|c| Pass {
        params: bytemuck::bytes_of(&params_of(c)).to_vec(),
        bindings: vec![
            Binding::input(
                vec![&src[c.input.start * w..c.input.end * w]],
                (c.input.len() * w).next_multiple_of(4) as u64,
            ),
            Binding::output((c.out.len() * w) as u64),
        ],
        groups: groups_for((c.out.len() * w).div_ceil(4)),
        layers: 1,
    });
    let mut out = vec![0u8; h * w];
    runner.run(kernel, passes, |i, bytes| {
        let c = &chunks[i];
        out[c.out.start * w..c.out.end * w].copy_from_slice(&bytes[0][..c.out.len() * w]);
    })?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SlopeParams {
    width: u32,
    rows_in: u32,
    row_offset: u32,
    rows_out: u32,
    step: u32,
    opaque_zero: u32,
    pad: [u32; 2],
    run_x: f32,
    run_y: f32,
    twice_run_x: f32,
    twice_run_y: f32,
}

/// `Backend::slope`.
pub(super) fn slope(
    runner: &mut Runner,
    surface: ArrayView2<f32>,
    step: usize,
    pixel_width: f32,
    pixel_height: f32,
) -> Result<Array2<f32>> {
    let (h, w) = surface.dim();
    if h == 0 || w == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let src = surface.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    let k = step.max(1);
    // The runs exactly as CpuBackend::slope computes them, from the step asked for.
    let (run_x, run_y) = (pixel_width * k as f32, pixel_height * k as f32);
    // A step past both dimensions finds no neighbour whatever its size, so the shader's can stop there;
    // a step past the height finds none above or below, so no halo rows are needed then.
    let shader_step = k.min(h.max(w));
    let halo = if k >= h { 0 } else { k };
    let chunks = row_chunks(h, w, halo, 4, runner.max_binding)?;
    let passes = chunks.iter().map(|c| {
        let params = SlopeParams {
            width: u32_of(w),
            rows_in: u32_of(c.input.len()),
            row_offset: u32_of(c.out.start - c.input.start),
            rows_out: u32_of(c.out.len()),
            step: u32_of(shader_step),
            opaque_zero: 0,
            pad: [0; 2],
            run_x,
            run_y,
            twice_run_x: 2.0 * run_x,
            twice_run_y: 2.0 * run_y,
        };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(
                    vec![f32_bytes(&src[c.input.start * w..c.input.end * w])],
                    (c.input.len() * w * 4) as u64,
                ),
                Binding::output((c.out.len() * w * 4) as u64),
            ],
            groups: groups_for(c.out.len() * w),
            layers: 1,
        }
    });
    let mut out = vec![0f32; h * w];
    runner.run(Kernel::Slope, passes, |i, bytes| {
        let c = &chunks[i];
        copy_f32(&mut out[c.out.start * w..c.out.end * w], bytes[0]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

/// Which way a pass of erode.wgsl runs its window segment.
#[derive(Clone, Copy)]
enum Axis {
    Rows = 0,
    Columns = 1,
}

/// `Backend::erode`: a pass along rows into a plane of row results, then passes along columns of that
/// plane (see erode.wgsl). An injected fault fails whichever pass first has the chunk it names.
pub(super) fn erode(runner: &mut Runner, mask: ArrayView2<u8>, radius: usize) -> Result<Array2<u8>> {
    let (h, w) = mask.dim();
    if h == 0 || w == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let src = mask.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    // A segment longer than the image covers all of it from every pixel, whatever its radius.
    let rows_ok = erode_pass(runner, src, h, w, radius.min(w - 1), Axis::Rows)?;
    // Along columns the radius is the halo. Where it would crowd out the rows a chunk computes, the
    // radius is split over several passes, which compose exactly: a segment of radius a + b is one of
    // radius a swept along one of radius b, and beyond the image is set in every pass.
    let most = max_halo(h, w, 1, runner.max_binding).max(1);
    let mut left = radius.min(h - 1);
    let mut out = erode_pass(runner, &rows_ok, h, w, left.min(most), Axis::Columns)?;
    left -= left.min(most);
    while left > 0 {
        let r = left.min(most);
        out = erode_pass(runner, &out, h, w, r, Axis::Columns)?;
        left -= r;
    }
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

fn erode_pass(runner: &mut Runner, src: &[u8], h: usize, w: usize, radius: usize, axis: Axis) -> Result<Vec<u8>> {
    // Along rows a pixel reads its own row only: no halo.
    let halo = match axis {
        Axis::Rows => 0,
        Axis::Columns => radius,
    };
    mask_pass(runner, Kernel::Erode, src, h, w, halo, |c| ErodeParams {
        width: u32_of(w),
        rows_in: u32_of(c.input.len()),
        row_offset: u32_of(c.out.start - c.input.start),
        rows_out: u32_of(c.out.len()),
        radius: u32_of(radius),
        axis: axis as u32,
        pad: [0; 2],
    })
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ErodeParams {
    width: u32,
    rows_in: u32,
    row_offset: u32,
    rows_out: u32,
    radius: u32,
    axis: u32,
    pad: [u32; 2],
}
