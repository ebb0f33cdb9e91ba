// Backend::cloud_test: 1 where a valid pixel looks like cloud, else 0.
// Mirrors spectral::cloud::looks_like_cloud operation by operation; every comparison is false on NaN,
// as in Rust. One invocation per word of the output, so four pixels, because WGSL cannot store single
// bytes.

struct Params {
    len: u32,
    stride: u32,
    // Plane of each band in `bands`, or ABSENT where the sensor lacks it.
    blue: u32,
    green: u32,
    red: u32,
    nir: u32,
    // spectral::cloud::{CLOUD_MIN_BLUE, CLOUD_MAX_VISIBLE_SPREAD}, from the host so that they have one
    // definition.
    min_blue: f32,
    max_visible_spread: f32,
}

const ABSENT: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bands: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

fn band(plane: u32, i: u32) -> f32 {
    if plane == ABSENT {
        return nan_from(F32_QUIET_NAN);
    }
    return bands[plane * params.stride + i];
}

// Rust's f32::max and f32::min: the other operand where one is NaN. WGSL's max and min promise
// nothing about NaN.
fn max_num(a: f32, b: f32) -> f32 {
    if is_nan(a) {
        return b;
    }
    if is_nan(b) {
        return a;
    }
    return select(b, a, a > b);
}

fn min_num(a: f32, b: f32) -> f32 {
    if is_nan(a) {
        return b;
    }
    if is_nan(b) {
        return a;
    }
    return select(b, a, a < b);
}

fn looks_like_cloud(i: u32) -> bool {
    let blue = band(params.blue, i);
    let green = band(params.green, i);
    let red = band(params.red, i);
    let nir = band(params.nir, i);
    let mean = div_rn(blue + green + red, 3.0);
    let spread = div_rn(max_num(max_num(blue, green), red) - min_num(min_num(blue, green), red), max_num(mean, 1e-6));
    let ndvi = normalized_difference(nir, red);
    return ge(blue, params.min_blue) && le(spread, params.max_visible_spread) && lt(ndvi, 0.3);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let word = group_index(wid, groups) * 64u + lid;
    let first = word * 4u;
    if first >= params.len {
        return;
    }
    let flags = valid[word];
    var packed = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let i = first + k;
        if i >= params.len {
            break;
        }
        if byte_at(flags, k) != 0u && looks_like_cloud(i) {
            packed = packed | (1u << (8u * k));
        }
    }
    out[word] = packed;
}
