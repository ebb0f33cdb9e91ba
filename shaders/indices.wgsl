// Backend::indices: every spectral index of every valid pixel, NaN where invalid.
// Mirrors spectral::indices::pixel_indices operation by operation (normalized_difference is in the prelude).

struct Params {
    len: u32,
    stride: u32,
    // Plane of each role in `bands`, or ABSENT where the sensor lacks the band.
    blue: u32,
    green: u32,
    red: u32,
    nir: u32,
    swir1: u32,
    pad: u32,
}

const ABSENT: u32 = 0xffffffffu;
// Planes of the output, in IndexKind order.
const INDEX_PLANES: u32 = 7u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bands: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

struct Pixel {
    blue: f32,
    green: f32,
    red: f32,
    nir: f32,
    swir1: f32,
}

fn band(plane: u32, i: u32) -> f32 {
    if plane == ABSENT {
        return nan_from(F32_QUIET_NAN);
    }
    return bands[plane * params.stride + i];
}

fn brightness(p: Pixel) -> f32 {
    if is_nan(p.blue) || is_nan(p.green) || is_nan(p.red) {
        return nan_from(F32_QUIET_NAN);
    }
    var nir = p.nir;
    var count = 4.0;
    if is_nan(p.nir) {
        nir = 0.0;
        count = 3.0;
    }
    return div_rn(p.blue + p.green + p.red + nir, count);
}

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
    var v: array<f32, INDEX_PLANES>;
    if byte_at(valid[i / 4u], i) == 0u {
        for (var k = 0u; k < INDEX_PLANES; k = k + 1u) {
            v[k] = nan_from(F32_QUIET_NAN);
        }
    } else {
        let p = Pixel(
            band(params.blue, i),
            band(params.green, i),
            band(params.red, i),
            band(params.nir, i),
            band(params.swir1, i),
        );
        v[0] = normalized_difference(p.nir, p.red);
        if is_nan(p.swir1) {
            v[1] = nan_from(F32_QUIET_NAN);
            v[2] = nan_from(F32_QUIET_NAN);
            v[3] = normalized_difference(p.green, p.nir);
        } else {
            v[1] = normalized_difference(p.swir1 + p.red, p.nir + p.blue);
            v[2] = normalized_difference(p.swir1, p.nir);
            v[3] = normalized_difference(p.green, p.swir1);
        }
        v[4] = brightness(p);
        v[5] = normalized_difference(p.red, p.blue);
        v[6] = normalized_difference(p.green, p.red);
    }
    for (var k = 0u; k < INDEX_PLANES; k = k + 1u) {
        out[k * params.stride + i] = v[k];
    }
}
