// Backend::height_difference: `after - before - offset` per pixel, NaN where either surface is NaN.
// Mirrors CpuBackend::height_difference: two subtractions in the same order, each correctly rounded.
// The NaN test is on the bits, before any arithmetic, so that a compiler that assumes finite floats
// cannot turn a missing height into a number.

struct Params {
    len: u32,
    pad0: u32,
    pad1: u32,
    offset: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> before: array<f32>;
@group(0) @binding(2) var<storage, read> after: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = group_index(wid, groups) * 64u + lid;
    if i >= params.len {
        return;
    }
    let b = before[i];
    let a = after[i];
    if is_nan(a) || is_nan(b) || is_nan(params.offset) {
        out[i] = nan_from(F32_QUIET_NAN);
        return;
    }
    out[i] = (a - b) - params.offset;
}
