// Backend::rgb_features: brightness, chroma, excess green and warmth of every valid pixel from its
// red, green and blue bands, NaN where invalid or where a band is missing.
// Mirrors spectral::rgb::rgb_pixel_features operation by operation: the sum in the same order, every
// division and the root correctly rounded, each square of the chroma rounded before it is added, and
// the threshold test false on NaN as Rust's `<` is.

struct Params {
    len: u32,
    stride: u32,
    // Plane of each band in `bands`, or ABSENT where the stack lacks it.
    red: u32,
    green: u32,
    blue: u32,
    opaque_zero: u32,
    pad0: u32,
    pad1: u32,
}

const ABSENT: u32 = 0xffffffffu;
// Planes of the output, in RgbFeature order.
const FEATURE_PLANES: u32 = 4u;
// 1.0f32 / 3.0 as Rust rounds it (0.33333334), from its bits rather than a WGSL constant expression,
// which would be evaluated in another precision first.
const THIRD_BITS: u32 = 0x3eaaaaabu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bands: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn band(plane: u32, i: u32) -> f32 {
    if plane == ABSENT {
        return nan_from(F32_QUIET_NAN);
    }
    return bands[plane * params.stride + i];
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
    var v: array<f32, FEATURE_PLANES>;
    if byte_at(valid[i / 4u], i) == 0u {
        for (var k = 0u; k < FEATURE_PLANES; k = k + 1u) {
            v[k] = nan_from(F32_QUIET_NAN);
        }
    } else {
        let red = band(params.red, i);
        let green = band(params.green, i);
        let blue = band(params.blue, i);
        let sum = red + green + blue;
        v[0] = div_rn(sum, 3.0);
        if lt(abs_bits(sum), 1e-6) {
            v[1] = 0.0;
            v[2] = 0.0;
            v[3] = 0.0;
        } else {
            let oz = params.opaque_zero;
            let r = div_rn(red, sum);
            let g = div_rn(green, sum);
            let b = div_rn(blue, sum);
            let third = bitcast<f32>(THIRD_BITS | oz);
            let dr = r - third;
            let dg = g - third;
            let db = b - third;
            v[1] = sqrt_rn(keep(dr * dr, oz) + keep(dg * dg, oz) + keep(db * db, oz));
            v[2] = keep(2.0 * g, oz) - r - b;
            v[3] = r - b;
        }
    }
    for (var k = 0u; k < FEATURE_PLANES; k = k + 1u) {
        out[k * params.stride + i] = v[k];
    }
}
