// Backend::erode: 1 where every pixel of the (2r+1)x(2r+1) window is nonzero, pixels beyond the image
// counting as nonzero. Mirrors CpuBackend::erode, which is separable in the same way: a square is all
// set when each of its rows is, so the host runs this shader twice, first along rows (`axis` 0: the
// window's row segment, on bands of rows without halo), then along columns (`axis` 1: the column
// segment of the first pass's output, on bands with `radius` rows of halo). Each pass reads 2r+1 bytes
// per pixel instead of the (2r+1)^2 of a direct window, which matters at the drone jobs' radii of tens
// of pixels. A segment that leaves the band leaves the image, where everything counts as set.
// Bytes are packed four to a word, and one invocation writes one word of the output.

struct Params {
    width: u32,
    rows_in: u32,
    row_offset: u32,
    rows_out: u32,
    radius: u32,
    // 0: along rows; 1: along columns.
    axis: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

fn set_at(y: i32, x: i32) -> bool {
    let j = u32(y) * params.width + u32(x);
    return byte_at(mask[j / 4u], j) != 0u;
}

fn segment_set(row: i32, col: i32) -> u32 {
    let r = i32(params.radius);
    if params.axis == 0u {
        let lo = max(col - r, 0);
        let hi = min(col + r, i32(params.width) - 1);
        for (var x = lo; x <= hi; x = x + 1) {
            if !set_at(row, x) {
                return 0u;
            }
        }
    } else {
        let lo = max(row - r, 0);
        let hi = min(row + r, i32(params.rows_in) - 1);
        for (var y = lo; y <= hi; y = y + 1) {
            if !set_at(y, col) {
                return 0u;
            }
        }
    }
    return 1u;
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
        packed = packed | (segment_set(row, col) << (8u * k));
    }
    out[word] = packed;
}
