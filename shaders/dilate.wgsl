// Backend::dilate: 1 where any nonzero pixel lies in the (2r+1)x(2r+1) window, else 0. Mirrors
// CpuBackend::dilate. Rows arrive with halo as for box_mean; bytes are packed four to a word, and one
// invocation writes one word of the output.

struct Params {
    width: u32,
    rows_in: u32,
    row_offset: u32,
    rows_out: u32,
    radius: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

fn set_in_window(row: i32, col: i32) -> u32 {
    let w = i32(params.width);
    let rows = i32(params.rows_in);
    let r = i32(params.radius);
    for (var dy = -r; dy <= r; dy = dy + 1) {
        let y = row + dy;
        if y < 0 || y >= rows {
            continue;
        }
        for (var dx = -r; dx <= r; dx = dx + 1) {
            let x = col + dx;
            if x < 0 || x >= w {
                continue;
            }
            let j = u32(y * w + x);
            if byte_at(mask[j / 4u], j) != 0u {
                return 1u;
            }
        }
    }
    return 0u;
}

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let word = group_index(wid, groups) * 64u + lid;
    let total = params.rows_out * params.width;
    let first = word * 4u;
    if first >= total {
        return;
    }
    var packed = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let o = first + k;
        if o >= total {
            break;
        }
        let row = i32(o / params.width + params.row_offset);
        let col = i32(o % params.width);
        packed = packed | (set_in_window(row, col) << (8u * k));
    }
    out[word] = packed;
}
