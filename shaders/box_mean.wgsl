// Backend::box_mean: mean of the finite values in the (2r+1)x(2r+1) window around each pixel; NaN stays
// NaN. Mirrors CpuBackend::box_mean: the same window order, so the same f32 sum, and a correctly
// rounded division.
// The host uploads a band of rows with `radius` rows of halo above and below (fewer at the image
// edges), so a window that leaves the band leaves the image too.

struct Params {
    width: u32,
    // Rows uploaded, halo included.
    rows_in: u32,
    // First output row, in uploaded rows.
    row_offset: u32,
    rows_out: u32,
    radius: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let o = group_index(wid, groups) * 64u + lid;
    if o >= params.rows_out * params.width {
        return;
    }
    let w = i32(params.width);
    let rows = i32(params.rows_in);
    let r = i32(params.radius);
    let row = i32(o / params.width + params.row_offset);
    let col = i32(o % params.width);
    let centre = values[row * w + col];
    if is_nan(centre) {
        out[o] = nan_from(F32_QUIET_NAN);
        return;
    }
    var sum = 0.0;
    var count = 0.0;
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
            let v = values[y * w + x];
            if is_finite(v) {
                sum = sum + v;
                count = count + 1.0;
            }
        }
    }
    out[o] = div_rn(sum, count);
}
