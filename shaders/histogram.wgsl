// Backend::histogram: counts of the finite values per bin over [lo, hi), values outside clamped into
// the end bins. Mirrors compute::histogram_bin. Counts are integers, so the order in which workgroups
// add them cannot change the result.

struct Params {
    len: u32,
    bins: u32,
    lo: f32,
    // Bins per unit, computed on the host by compute::histogram_scale exactly as the CPU computes it.
    scale: f32,
}

// Values each workgroup counts, so that flushing its private histogram is amortised.
const LANES: u32 = 64u;
const ROUNDS: u32 = 256u;
// Bins that fit the 16 KiB of workgroup memory every device has; wider histograms count straight
// into device memory.
const LOCAL_BINS: u32 = 4096u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> hist: array<atomic<u32>>;

var<workgroup> local_hist: array<atomic<u32>, LOCAL_BINS>;

fn histogram_bin(v: f32) -> u32 {
    let b = floor((v - params.lo) * params.scale);
    // Rust's `as usize` takes NaN to 0 and saturates infinities.
    if is_nan(b) || bitcast<u32>(b) == (F32_SIGN | F32_EXP) || b < 0.0 {
        return 0u;
    }
    if bitcast<u32>(b) == F32_EXP || b >= f32(params.bins - 1u) {
        return params.bins - 1u;
    }
    return u32(b);
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let local = params.bins <= LOCAL_BINS;
    if local {
        for (var b = lid; b < params.bins; b = b + LANES) {
            atomicStore(&local_hist[b], 0u);
        }
    }
    workgroupBarrier();
    let base = group_index(wid, groups) * LANES * ROUNDS;
    for (var r = 0u; r < ROUNDS; r = r + 1u) {
        let i = base + r * LANES + lid;
        if i < params.len {
            let v = values[i];
            if is_finite(v) {
                let b = histogram_bin(v);
                if local {
                    atomicAdd(&local_hist[b], 1u);
                } else {
                    atomicAdd(&hist[b], 1u);
                }
            }
        }
    }
    workgroupBarrier();
    if local {
        for (var b = lid; b < params.bins; b = b + LANES) {
            let count = atomicLoad(&local_hist[b]);
            if count != 0u {
                atomicAdd(&hist[b], count);
            }
        }
    }
}
