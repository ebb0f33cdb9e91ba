// Backend::change_magnitude: root-mean-square difference across bands, NaN where either date is
// invalid. Mirrors CpuBackend::change_magnitude: the same band order, each square rounded before it is
// added, and division and square root correctly rounded.

struct Params {
    len: u32,
    stride: u32,
    bands: u32,
    opaque_zero: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> before: array<f32>;
@group(0) @binding(2) var<storage, read> after: array<f32>;
@group(0) @binding(3) var<storage, read> valid_before: array<u32>;
@group(0) @binding(4) var<storage, read> valid_after: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

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
    if byte_at(valid_before[i / 4u], i) == 0u || byte_at(valid_after[i / 4u], i) == 0u {
        out[i] = nan_from(F32_QUIET_NAN);
        return;
    }
    var s = 0.0;
    for (var b = 0u; b < params.bands; b = b + 1u) {
        let d = after[b * params.stride + i] - before[b * params.stride + i];
        s = s + keep(d * d, params.opaque_zero);
    }
    out[i] = sqrt_rn(div_rn(s, f32(params.bands)));
}
