//! Window kernels: each result reads a square around its pixel, so chunks are bands of rows uploaded with
//! `radius` rows of halo either side (`row_chunks`), and results equal the unchunked ones.

use bytemuck::{Pod, Zeroable};
use ndarray::{Array2, ArrayView2};

use super::chunking::{RowChunk, row_chunks};
use super::engine::{Binding, Pass};
use super::kernels::Kernel;
use super::{Runner, copy_f32, f32_bytes, groups_for};
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
    let chunks = row_chunks(h, w, radius, 1, runner.max_binding)?;
    let passes = chunks.iter().map(|c| Pass {
        params: bytemuck::bytes_of(&WindowParams::of(c, w, radius)).to_vec(),
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
    runner.run(Kernel::Dilate, passes, |i, bytes| {
        let c = &chunks[i];
        out[c.out.start * w..c.out.end * w].copy_from_slice(&bytes[0][..c.out.len() * w]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}
