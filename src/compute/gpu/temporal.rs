//! The monthly scan's per-pixel step: every pixel's [`PixelState`] goes up as it is (`#[repr(C)]`, 32-bit
//! fields), is rewritten in place by `shaders/temporal_update.wgsl`, and comes back with the pixel's
//! event bits. Chunks are runs of pixels sized by the state, the widest binding, and start on whole
//! words only (`RECORD_ALIGN`), so that a small binding still holds one.

use bytemuck::{Pod, Zeroable};
use chrono::Datelike;

use super::chunking::{RECORD_ALIGN, aligned_pixel_chunks, plane_stride};
use super::engine::{Binding, Pass};
use super::kernels::Kernel;
use super::{Runner, f32_bytes, groups_for, u32_of};
use crate::compute::ObservationPlanes;
use crate::error::Result;
use crate::temporal::{DateContext, PixelState, TemporalParams, day_number};

// temporal_update.wgsl declares `State` with PixelState's 23 fields and `Params` with TemporalParams'
// 8: a field added on the host must be added there too.
const _: () = assert!(size_of::<PixelState>() == 23 * 4 && size_of::<TemporalParams>() == 8 * 4);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TemporalUpdateParams {
    len: u32,
    stride: u32,
    context: DateContext,
    params: TemporalParams,
    max_day: i32,
    max_year: i32,
    opaque_zero: u32,
    pad: u32,
}

/// `Backend::temporal_update`. `state` changes only when every chunk has succeeded, so that a fallback
/// starts from the state the call was given.
pub(super) fn temporal_update(
    runner: &mut Runner,
    state: &mut [PixelState],
    observations: &ObservationPlanes,
    context: &DateContext,
    params: &TemporalParams,
) -> Result<Vec<u8>> {
    let n = state.len();
    let ObservationPlanes { class, brightness, ndvi, bsi } = observations;
    assert_eq!(n, class.len(), "one observation per pixel");
    assert!(brightness.len() == n && ndvi.len() == n && bsi.len() == n, "one observation per pixel");
    if n == 0 {
        return Ok(Vec::new());
    }
    let record = size_of::<PixelState>();
    let before: &[u8] = bytemuck::cast_slice(state);
    let chunks = aligned_pixel_chunks(n, record, runner.max_binding, RECORD_ALIGN)?;
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let uniforms = TemporalUpdateParams {
            len: u32_of(r.len()),
            stride: u32_of(stride),
            context: *context,
            params: *params,
            max_day: day_number(chrono::NaiveDate::MAX),
            max_year: chrono::NaiveDate::MAX.year(),
            opaque_zero: 0,
            pad: 0,
        };
        let planes = [brightness, ndvi, bsi].map(|p| f32_bytes(&p[r.clone()]));
        Pass {
            params: bytemuck::bytes_of(&uniforms).to_vec(),
            bindings: vec![
                Binding::in_out(vec![&before[r.start * record..r.end * record]], (r.len() * record) as u64),
                Binding::input(vec![&class[r.clone()]], stride as u64),
                Binding::input(planes.to_vec(), stride as u64 * 4),
                Binding::output(stride as u64),
            ],
            groups: groups_for(stride / 4),
            layers: 1,
        }
    });
    let mut after = vec![PixelState::zeroed(); n];
    let mut bits = vec![0u8; n];
    runner.run(Kernel::TemporalUpdate, passes, |i, out| {
        let r = &chunks[i];
        bytemuck::cast_slice_mut::<PixelState, u8>(&mut after[r.clone()]).copy_from_slice(&out[0][..r.len() * record]);
        bits[r.clone()].copy_from_slice(&out[1][..r.len()]);
    })?;
    state.copy_from_slice(&after);
    Ok(bits)
}
