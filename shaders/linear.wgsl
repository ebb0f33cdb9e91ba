// Backend::linear: x * gain + offset on every band of the valid pixels; a pixel whose result is not
// finite on any band becomes invalid, and invalid pixels hold NaN. Mirrors CpuBackend::linear.
// One invocation per word of the mask, so four pixels, because WGSL cannot store single bytes.

struct Params {
    // Pixels in this chunk.
    len: u32,
    // Elements between two band planes.
    stride: u32,
    bands: u32,
    opaque_zero: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// Gains of every band, then offsets.
@group(0) @binding(1) var<storage, read> coeffs: array<f32>;
// Band planes, rescaled in place.
@group(0) @binding(2) var<storage, read_write> data: array<f32>;
// Validity bytes, four to a word, updated in place.
@group(0) @binding(3) var<storage, read_write> valid: array<u32>;

fn scaled(b: u32, x: f32) -> f32 {
    return keep(x * coeffs[b], params.opaque_zero) + coeffs[params.bands + b];
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
    var out = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let i = first + k;
        if i >= params.len {
            break;
        }
        var v = byte_at(flags, k);
        if v != 0u {
            for (var b = 0u; b < params.bands; b = b + 1u) {
                let x = data[b * params.stride + i];
                // A non-finite input gives a non-finite result on the CPU whatever the gain.
                if !is_finite(x) || !is_finite(scaled(b, x)) {
                    v = 0u;
                }
            }
        }
        for (var b = 0u; b < params.bands; b = b + 1u) {
            let at = b * params.stride + i;
            if v != 0u {
                data[at] = scaled(b, data[at]);
            } else {
                data[at] = nan_from(F32_QUIET_NAN);
            }
        }
        out = out | (v << (8u * k));
    }
    valid[word] = out;
}
