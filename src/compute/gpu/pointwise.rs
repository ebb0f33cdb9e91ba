//! Per-pixel kernels on band stacks: each pixel's result depends on that pixel alone, so chunks are
//! plain runs of pixels (`pixel_chunks`) and each output plane is copied back to its place.

use bytemuck::{Pod, Zeroable};
use ndarray::{Array2, Array3, ArrayView2};

use super::chunking::{pixel_chunks, plane_stride};
use super::engine::{Binding, Pass};
use super::kernels::Kernel;
use super::{Runner, copy_f32, f32_bytes, f32_planes, groups_for, u32_of};
use crate::error::Result;
use crate::raster::{BandRole, BandStack};
use crate::spectral::cloud::{CLOUD_MAX_VISIBLE_SPREAD, CLOUD_MIN_BLUE};
use crate::spectral::{ClassRules, IndexKind, IndexStack, RgbFeature, RgbFeatures};

/// Marks a band the sensor does not have (`ABSENT` in the shaders).
const ABSENT: u32 = u32::MAX;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LinearParams {
    len: u32,
    stride: u32,
    bands: u32,
    opaque_zero: u32,
}

/// `Backend::linear`. The stack changes only when every chunk has succeeded.
pub(super) fn linear(runner: &mut Runner, stack: &mut BandStack, gains: &[f32], offsets: &[f32]) -> Result<()> {
    let (bands, h, w) = stack.data.dim();
    assert!(gains.len() == bands && offsets.len() == bands, "one gain and offset per band");
    let n = h * w;
    if n == 0 || bands == 0 {
        return Ok(());
    }
    let data = stack.data.as_slice().expect("band stacks are in standard layout");
    let valid = stack.valid.as_slice().expect("standard layout");
    let coeffs: Vec<f32> = gains.iter().chain(offsets).copied().collect();
    let chunks = pixel_chunks(n, bands * 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let params =
            LinearParams { len: u32_of(r.len()), stride: u32_of(stride), bands: u32_of(bands), opaque_zero: 0 };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(vec![f32_bytes(&coeffs)], coeffs.len() as u64 * 4),
                Binding::in_out(f32_planes(data, n, 0..bands, r), stride as u64 * 4),
                Binding::in_out(vec![&valid[r.clone()]], stride as u64),
            ],
            groups: groups_for(stride / 4),
            layers: 1,
        }
    });
    let mut new_data = vec![0f32; bands * n];
    let mut new_valid = vec![0u8; n];
    runner.run(Kernel::Linear, passes, |i, out| {
        let r = &chunks[i];
        let plane_bytes = plane_stride(r.len()) * 4;
        for b in 0..bands {
            copy_f32(&mut new_data[b * n + r.start..b * n + r.end], &out[0][b * plane_bytes..]);
        }
        new_valid[r.clone()].copy_from_slice(&out[1][..r.len()]);
    })?;
    stack.data = Array3::from_shape_vec((bands, h, w), new_data).expect("shape of the input");
    stack.valid = Array2::from_shape_vec((h, w), new_valid).expect("shape of the input");
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct IndicesParams {
    len: u32,
    stride: u32,
    blue: u32,
    green: u32,
    red: u32,
    nir: u32,
    swir1: u32,
    pad: u32,
}

/// The stack's planes of `roles` that exist, and for each role its position among them or `ABSENT`.
fn role_planes(stack: &BandStack, roles: &[BandRole]) -> (Vec<usize>, Vec<u32>) {
    let mut planes = Vec::new();
    let slots = roles
        .iter()
        .map(|role| match stack.index_of(*role) {
            Some(b) => {
                planes.push(b);
                u32_of(planes.len() - 1)
            }
            None => ABSENT,
        })
        .collect();
    (planes, slots)
}

/// `Backend::indices`.
pub(super) fn indices(runner: &mut Runner, stack: &BandStack) -> Result<IndexStack> {
    let roles = [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1];
    let data = planes_of_roles(runner, Kernel::Indices, stack, &roles, IndexKind::ALL.len(), |len, stride, slots| {
        IndicesParams {
            len,
            stride,
            blue: slots[0],
            green: slots[1],
            red: slots[2],
            nir: slots[3],
            swir1: slots[4],
            pad: 0,
        }
    })?;
    Ok(IndexStack { data })
}

/// A kernel that reads the bands of `roles` of a stack (where it has them) and its validity, and writes
/// `planes_out` planes of f32 per pixel: the chunks, a pass per chunk with the parameters `params_of`
/// makes from its length, plane stride and the role slots, and the planes gathered in stack shape.
fn planes_of_roles<P: bytemuck::Pod>(
    runner: &mut Runner,
    kernel: Kernel,
    stack: &BandStack,
    roles: &[BandRole],
    planes_out: usize,
    params_of: impl Fn(u32, u32, &[u32]) -> P,
) -> Result<Array3<f32>> {
    let (h, w) = (stack.height(), stack.width());
    let n = h * w;
    if n == 0 {
        return Ok(Array3::zeros((planes_out, h, w)));
    }
    let data = stack.data.as_slice().expect("band stacks are in standard layout");
    let valid = stack.valid.as_slice().expect("standard layout");
    let (planes, slots) = role_planes(stack, roles);
    let chunks = pixel_chunks(n, planes_out.max(planes.len()) * 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let params = params_of(u32_of(r.len()), u32_of(stride), &slots);
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(f32_planes(data, n, planes.iter().copied(), r), stride as u64 * 4),
                Binding::input(vec![&valid[r.clone()]], stride as u64),
                Binding::output((planes_out * stride * 4) as u64),
            ],
            groups: groups_for(r.len()),
            layers: 1,
        }
    });
    let mut out = vec![0f32; planes_out * n];
    runner.run(kernel, passes, |i, bytes| {
        let r = &chunks[i];
        let plane_bytes = plane_stride(r.len()) * 4;
        for k in 0..planes_out {
            copy_f32(&mut out[k * n + r.start..k * n + r.end], &bytes[0][k * plane_bytes..]);
        }
    })?;
    Ok(Array3::from_shape_vec((planes_out, h, w), out).expect("shape of the input"))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ClassifyParams {
    rules: ClassRules,
    len: u32,
    stride: u32,
    blue: u32,
    green: u32,
    nir: u32,
    red: u32,
    swir1: u32,
    swir2: u32,
}

/// The index planes the class rules read, in the order classify.wgsl expects them.
const CLASSIFY_INDICES: [IndexKind; 6] = [
    IndexKind::Ndvi,
    IndexKind::Bsi,
    IndexKind::Water,
    IndexKind::Brightness,
    IndexKind::Redness,
    IndexKind::GreenExcess,
];

/// `Backend::classify`.
pub(super) fn classify(
    runner: &mut Runner,
    stack: &BandStack,
    indices: &IndexStack,
    rules: &ClassRules,
) -> Result<Array2<u8>> {
    let (h, w) = (stack.height(), stack.width());
    let n = h * w;
    if n == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let data = stack.data.as_slice().expect("band stacks are in standard layout");
    let valid = stack.valid.as_slice().expect("standard layout");
    let idx = indices.data.as_slice().expect("index stacks are in standard layout");
    let (planes, slots) = role_planes(
        stack,
        &[BandRole::Blue, BandRole::Green, BandRole::Nir, BandRole::Red, BandRole::Swir1, BandRole::Swir2],
    );
    let chunks = pixel_chunks(n, CLASSIFY_INDICES.len().max(planes.len()) * 4, runner.max_binding)?;
    let index_planes: Vec<usize> = CLASSIFY_INDICES.iter().map(|k| *k as usize).collect();
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let params = ClassifyParams {
            rules: *rules,
            len: u32_of(r.len()),
            stride: u32_of(stride),
            blue: slots[0],
            green: slots[1],
            nir: slots[2],
            red: slots[3],
            swir1: slots[4],
            swir2: slots[5],
        };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(f32_planes(data, n, planes.iter().copied(), r), stride as u64 * 4),
                Binding::input(f32_planes(idx, n, index_planes.iter().copied(), r), stride as u64 * 4),
                Binding::input(vec![&valid[r.clone()]], stride as u64),
                Binding::output(stride as u64),
            ],
            groups: groups_for(stride / 4),
            layers: 1,
        }
    });
    let mut out = vec![0u8; n];
    runner.run(Kernel::Classify, passes, |i, bytes| {
        let r = &chunks[i];
        out[r.clone()].copy_from_slice(&bytes[0][..r.len()]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ChangeParams {
    len: u32,
    stride: u32,
    bands: u32,
    opaque_zero: u32,
}

/// `Backend::change_magnitude`.
pub(super) fn change_magnitude(runner: &mut Runner, before: &BandStack, after: &BandStack) -> Result<Array2<f32>> {
    assert_eq!(before.data.dim(), after.data.dim(), "both dates share bands and grid");
    let (bands, h, w) = before.data.dim();
    let n = h * w;
    if n == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let xb = before.data.as_slice().expect("band stacks are in standard layout");
    let yb = after.data.as_slice().expect("band stacks are in standard layout");
    let vb = before.valid.as_slice().expect("standard layout");
    let va = after.valid.as_slice().expect("standard layout");
    let chunks = pixel_chunks(n, bands.max(1) * 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let params =
            ChangeParams { len: u32_of(r.len()), stride: u32_of(stride), bands: u32_of(bands), opaque_zero: 0 };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(f32_planes(xb, n, 0..bands, r), stride as u64 * 4),
                Binding::input(f32_planes(yb, n, 0..bands, r), stride as u64 * 4),
                Binding::input(vec![&vb[r.clone()]], stride as u64),
                Binding::input(vec![&va[r.clone()]], stride as u64),
                Binding::output(stride as u64 * 4),
            ],
            groups: groups_for(r.len()),
            layers: 1,
        }
    });
    let mut out = vec![0f32; n];
    runner.run(Kernel::ChangeMagnitude, passes, |i, bytes| {
        let r = &chunks[i];
        copy_f32(&mut out[r.clone()], bytes[0]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CloudParams {
    len: u32,
    stride: u32,
    blue: u32,
    green: u32,
    red: u32,
    nir: u32,
    min_blue: f32,
    max_visible_spread: f32,
}

/// `Backend::cloud_test`.
pub(super) fn cloud_test(runner: &mut Runner, stack: &BandStack) -> Result<Array2<u8>> {
    let (h, w) = (stack.height(), stack.width());
    let n = h * w;
    if n == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let data = stack.data.as_slice().expect("band stacks are in standard layout");
    let valid = stack.valid.as_slice().expect("standard layout");
    let (planes, slots) = role_planes(stack, &[BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir]);
    let chunks = pixel_chunks(n, planes.len().max(1) * 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let stride = plane_stride(r.len());
        let params = CloudParams {
            len: u32_of(r.len()),
            stride: u32_of(stride),
            blue: slots[0],
            green: slots[1],
            red: slots[2],
            nir: slots[3],
            min_blue: CLOUD_MIN_BLUE,
            max_visible_spread: CLOUD_MAX_VISIBLE_SPREAD,
        };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(f32_planes(data, n, planes.iter().copied(), r), stride as u64 * 4),
                Binding::input(vec![&valid[r.clone()]], stride as u64),
                Binding::output(stride as u64),
            ],
            groups: groups_for(stride / 4),
            layers: 1,
        }
    });
    let mut out = vec![0u8; n];
    runner.run(Kernel::CloudTest, passes, |i, bytes| {
        let r = &chunks[i];
        out[r.clone()].copy_from_slice(&bytes[0][..r.len()]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct HeightParams {
    len: u32,
    pad: [u32; 2],
    offset: f32,
}

/// `Backend::height_difference`.
pub(super) fn height_difference(
    runner: &mut Runner,
    before: ArrayView2<f32>,
    after: ArrayView2<f32>,
    offset: f32,
) -> Result<Array2<f32>> {
    assert_eq!(before.dim(), after.dim(), "surfaces share a grid");
    let (h, w) = before.dim();
    let n = h * w;
    if n == 0 {
        return Ok(Array2::zeros((h, w)));
    }
    let before = before.as_standard_layout();
    let after = after.as_standard_layout();
    let b = before.as_slice().expect("standard layout");
    let a = after.as_slice().expect("standard layout");
    let chunks = pixel_chunks(n, 4, runner.max_binding)?;
    let passes = chunks.iter().map(|r| {
        let params = HeightParams { len: u32_of(r.len()), pad: [0; 2], offset };
        Pass {
            params: bytemuck::bytes_of(&params).to_vec(),
            bindings: vec![
                Binding::input(vec![f32_bytes(&b[r.clone()])], r.len() as u64 * 4),
                Binding::input(vec![f32_bytes(&a[r.clone()])], r.len() as u64 * 4),
                Binding::output(r.len() as u64 * 4),
            ],
            groups: groups_for(r.len()),
            layers: 1,
        }
    });
    let mut out = vec![0f32; n];
    runner.run(Kernel::HeightDifference, passes, |i, bytes| {
        copy_f32(&mut out[chunks[i].clone()], bytes[0]);
    })?;
    Ok(Array2::from_shape_vec((h, w), out).expect("shape of the input"))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RgbParams {
    len: u32,
    stride: u32,
    red: u32,
    green: u32,
    blue: u32,
    opaque_zero: u32,
    pad: [u32; 2],
}

/// `Backend::rgb_features`. A stack without one of red, green and blue gets NaN planes, as on the
/// CPU: the shader reads a missing band as NaN.
pub(super) fn rgb_features(runner: &mut Runner, stack: &BandStack) -> Result<RgbFeatures> {
    let roles = [BandRole::Red, BandRole::Green, BandRole::Blue];
    let data =
        planes_of_roles(runner, Kernel::RgbFeatures, stack, &roles, RgbFeature::ALL.len(), |len, stride, slots| {
            RgbParams { len, stride, red: slots[0], green: slots[1], blue: slots[2], opaque_zero: 0, pad: [0; 2] }
        })?;
    Ok(RgbFeatures { data })
}
