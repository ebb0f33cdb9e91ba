//! Reductions: the device returns small partial results per chunk, which the host adds in a fixed order.

use bytemuck::{Pod, Zeroable};
use ndarray::ArrayView2;

use super::chunking::{pixel_chunks, plane_stride};
use super::engine::{Binding, Pass};
use super::kernels::Kernel;
use super::{Runner, f32_bytes, f32_planes};
use crate::compute::moments::{self, MOMENTS};
use crate::compute::{PairMoments, histogram_scale};
use crate::error::Result;
use crate::raster::BandStack;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MomentParams {
    len: u32,
    stride: u32,
    bands: u32,
    blocks: u32,
}

/// `Backend::pair_moments`: one workgroup per block and band returns the block's moments in f64,
/// summed in the order `compute::moments` fixes; the host adds the blocks in image order, as the CPU does.
pub(super) fn pair_moments(
    runner: &mut Runner,
    before: &BandStack,
    after: &BandStack,
    weights: ArrayView2<u8>,
) -> Result<Vec<PairMoments>> {
    assert_eq!(before.data.dim(), after.data.dim(), "both dates share bands and grid");
    assert_eq!(weights.dim(), before.valid.dim(), "weights cover the grid");
    let bands = before.data.dim().0;
    let n = before.height() * before.width();
    let mut total = vec![PairMoments::default(); bands];
    if n == 0 || bands == 0 {
        return Ok(total);
    }
    let xb = before.data.as_slice().expect("band stacks are in standard layout");
    let yb = after.data.as_slice().expect("band stacks are in standard layout");
    let vb = before.valid.as_slice().expect("standard layout");
    let va = after.valid.as_slice().expect("standard layout");
    let weights = weights.as_standard_layout();
    let wt = weights.as_slice().expect("standard layout");
    let chunks = pixel_chunks(n, bands * 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let blocks = r.len().div_ceil(moments::BLOCK);
        let params =
            MomentParams { len: r.len() as u32, stride: stride as u32, bands: bands as u32, blocks: blocks as u32 };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(f32_planes(xb, n, 0..bands, r), stride as u64 * 4),
                Binding::input(f32_planes(yb, n, 0..bands, r), stride as u64 * 4),
                Binding::input(vec![&vb[r.clone()]], stride as u64),
                Binding::input(vec![&va[r.clone()]], stride as u64),
                Binding::input(vec![&wt[r.clone()]], stride as u64),
                Binding::output((blocks * bands * MOMENTS * 8) as u64),
            ],
            groups: blocks as u32,
            layers: bands as u32,
        }
    });
    runner.run(Kernel::PairMoments, passes, |_, bytes| {
        let mut partial = [0f64; MOMENTS];
        for (k, values) in bytes[0].chunks_exact(MOMENTS * 8).enumerate() {
            for (slot, value) in partial.iter_mut().zip(values.chunks_exact(8)) {
                *slot = f64::from_le_bytes(value.try_into().expect("8 bytes"));
            }
            total[k % bands].merge(&PairMoments::from_sums(partial));
        }
    })?;
    Ok(total)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct HistogramParams {
    len: u32,
    bins: u32,
    lo: f32,
    scale: f32,
}

/// Values one histogram workgroup counts (`LANES * ROUNDS` in histogram.wgsl).
const HISTOGRAM_SPAN: usize = 64 * 256;

/// `Backend::histogram`: integer counts, exact whatever the order the device adds them in.
pub(super) fn histogram(
    runner: &mut Runner,
    values: ArrayView2<f32>,
    lo: f32,
    hi: f32,
    bins: usize,
) -> Result<Vec<u64>> {
    let mut total = vec![0u64; bins];
    let src = values.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    if bins == 0 || src.is_empty() {
        return Ok(total);
    }
    let bins32 = u32::try_from(bins).map_err(|_| crate::Error::Gpu(format!("{bins} histogram bins")))?;
    let scale = histogram_scale(lo, hi, bins);
    let chunks = pixel_chunks(src.len(), 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let params = HistogramParams { len: r.len() as u32, bins: bins32, lo, scale };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(vec![f32_bytes(&src[r.clone()])], plane_stride(r.len()) as u64 * 4),
                Binding::accumulator(bins as u64 * 4),
            ],
            groups: r.len().div_ceil(HISTOGRAM_SPAN) as u32,
            layers: 1,
        }
    });
    runner.run(Kernel::Histogram, passes, |_, bytes| {
        for (t, c) in total.iter_mut().zip(bytes[0].chunks_exact(4)) {
            *t += u64::from(u32::from_le_bytes(c.try_into().expect("4 bytes")));
        }
    })?;
    Ok(total)
}
