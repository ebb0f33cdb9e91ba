// Backend::pair_moments: per-block partial moments (n, sx, sy, sxx, syy, sxy) of each band pair over
// the pixels valid on both dates with nonzero weight. The host adds the partials in block order.
// The summation order is fixed (compute::moments): in a block of 1024 pixels, lane t of 64 adds pixels
// t, t + 64, ... in turn, then the lanes are added pairwise in a tree. The CPU follows the same order,
// and every product of two f32 is exact in f64, so both backends produce the same bits.

struct Params {
    len: u32,
    stride: u32,
    bands: u32,
    // Blocks in this chunk.
    blocks: u32,
}

const LANES: u32 = 64u;
const ROUNDS: u32 = 16u;
const MOMENTS: u32 = 6u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> before: array<f32>;
@group(0) @binding(2) var<storage, read> after: array<f32>;
@group(0) @binding(3) var<storage, read> valid_before: array<u32>;
@group(0) @binding(4) var<storage, read> valid_after: array<u32>;
@group(0) @binding(5) var<storage, read> weights: array<u32>;
// MOMENTS values per (block, band), blocks outer.
@group(0) @binding(6) var<storage, read_write> partials: array<f64>;

var<workgroup> lanes: array<array<f64, MOMENTS>, LANES>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let block = group_index(wid, groups);
    // Uniform across the workgroup, so returning early keeps the barriers below in uniform control flow.
    if block >= params.blocks {
        return;
    }
    let band = wid.z;
    var acc: array<f64, MOMENTS>;
    for (var k = 0u; k < MOMENTS; k = k + 1u) {
        acc[k] = f64(0.0);
    }
    for (var r = 0u; r < ROUNDS; r = r + 1u) {
        let i = block * LANES * ROUNDS + r * LANES + lid;
        if i < params.len {
            let w = i / 4u;
            if byte_at(weights[w], i) != 0u && byte_at(valid_before[w], i) != 0u && byte_at(valid_after[w], i) != 0u {
                let x = f64(before[band * params.stride + i]);
                let y = f64(after[band * params.stride + i]);
                acc[0] = acc[0] + f64(1.0);
                acc[1] = acc[1] + x;
                acc[2] = acc[2] + y;
                acc[3] = acc[3] + x * x;
                acc[4] = acc[4] + y * y;
                acc[5] = acc[5] + x * y;
            }
        }
    }
    lanes[lid] = acc;
    workgroupBarrier();
    for (var span = LANES / 2u; span > 0u; span = span / 2u) {
        if lid < span {
            for (var k = 0u; k < MOMENTS; k = k + 1u) {
                lanes[lid][k] = lanes[lid][k] + lanes[lid + span][k];
            }
        }
        workgroupBarrier();
    }
    if lid < MOMENTS {
        partials[(block * params.bands + band) * MOMENTS + lid] = lanes[0][lid];
    }
}
