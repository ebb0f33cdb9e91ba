// Backend::slope: the gradient magnitude of a surface from differences between the pixels `step` away
// on either side, one-sided at the grid's edges and beside NaN, NaN where the pixel itself is NaN.
// Mirrors CpuBackend::slope and its central_difference: the host computes the runs (`pixel_width *
// step` and twice that) with the same f32 operations, the divisions and the root are correctly rounded
// and the squares are kept apart from their sum, so the result is the CPU's to the bit.
// Rows arrive with `step` rows of halo above and below (fewer at the image edges, none when `step`
// reaches past the image), so a neighbour outside the band is outside the image too.

struct Params {
    width: u32,
    // Rows uploaded, halo included.
    rows_in: u32,
    // First output row, in uploaded rows.
    row_offset: u32,
    rows_out: u32,
    step: u32,
    opaque_zero: u32,
    pad0: u32,
    pad1: u32,
    // pixel_width * step, pixel_height * step, and twice each.
    run_x: f32,
    run_y: f32,
    twice_run_x: f32,
    twice_run_y: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> surface: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// A neighbour the difference may use: inside the band and finite (Rust's `Option<f32>`).
struct Side {
    ok: bool,
    v: f32,
}

fn side(y: i32, x: i32) -> Side {
    if y < 0 || y >= i32(params.rows_in) || x < 0 || x >= i32(params.width) {
        return Side(false, 0.0);
    }
    let v = surface[u32(y) * params.width + u32(x)];
    return Side(is_finite(v), v);
}

// central_difference: `ok` false where neither side exists (Rust's `None`); `d` may still be NaN
// where it does (a zero run), which then is a result, not an absence.
struct Diff {
    ok: bool,
    d: f32,
}

fn central_difference(before: Side, centre: f32, after: Side, run: f32, twice_run: f32) -> Diff {
    if before.ok && after.ok {
        return Diff(true, div_rn(after.v - before.v, twice_run));
    }
    if after.ok {
        return Diff(true, div_rn(after.v - centre, run));
    }
    if before.ok {
        return Diff(true, div_rn(centre - before.v, run));
    }
    return Diff(false, 0.0);
}

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
    let row = i32(o / params.width + params.row_offset);
    let col = i32(o % params.width);
    let k = i32(params.step);
    let z = surface[u32(row) * params.width + u32(col)];
    if is_nan(z) {
        out[o] = nan_from(F32_QUIET_NAN);
        return;
    }
    let dx = central_difference(side(row, col - k), z, side(row, col + k), params.run_x, params.twice_run_x);
    let dy = central_difference(side(row - k, col), z, side(row + k, col), params.run_y, params.twice_run_y);
    if dx.ok && dy.ok {
        let oz = params.opaque_zero;
        out[o] = sqrt_rn(keep(dx.d * dx.d, oz) + keep(dy.d * dy.d, oz));
    } else if dx.ok {
        out[o] = abs_bits(dx.d);
    } else if dy.ok {
        out[o] = abs_bits(dy.d);
    } else {
        out[o] = nan_from(F32_QUIET_NAN);
    }
}
