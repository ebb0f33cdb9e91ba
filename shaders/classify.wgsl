// Backend::classify: the land-cover class of every pixel (LandClass bytes, 255 where invalid).
// Mirrors spectral::classes::classify_pixel rule by rule; every comparison is false on NaN, as in Rust.
// One invocation per word of the output, so four pixels, because WGSL cannot store single bytes.

struct Params {
    // ClassRules, field for field (it is #[repr(C)] on the host).
    vegetation_ndvi: f32,
    water_index: f32,
    water_max_nir: f32,
    cover_max_ndvi: f32,
    cover_green_excess: f32,
    cover_green_over_blue: f32,
    soil_redness: f32,
    soil_min_bsi: f32,
    built_min_brightness: f32,
    soil_min_ndti: f32,
    net_max_dark: f32,
    net_max_dark_ndvi: f32,
    net_max_nir_over_green: f32,
    net_min_blue_excess: f32,
    net_min_blue: f32,
    net_max_blue: f32,
    len: u32,
    stride: u32,
    // Plane of each band in `bands`, or ABSENT.
    blue: u32,
    green: u32,
    nir: u32,
    red: u32,
    swir1: u32,
    swir2: u32,
}

const ABSENT: u32 = 0xffffffffu;

// Planes of `indices`: the indices the rules read, in this order (see gpu/pointwise.rs).
const NDVI: u32 = 0u;
const BSI: u32 = 1u;
const WATER_INDEX: u32 = 2u;
const BRIGHTNESS: u32 = 3u;
const REDNESS: u32 = 4u;
const GREEN_EXCESS: u32 = 5u;

// LandClass values.
const UNKNOWN: u32 = 0u;
const VEGETATION: u32 = 1u;
const BARE_SOIL: u32 = 2u;
const BUILT: u32 = 3u;
const WATER: u32 = 4u;
const COVERED: u32 = 5u;
const NO_DATA: u32 = 255u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bands: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

fn band(plane: u32, i: u32) -> f32 {
    if plane == ABSENT {
        return nan_from(F32_QUIET_NAN);
    }
    return bands[plane * params.stride + i];
}

fn index(plane: u32, i: u32) -> f32 {
    return indices[plane * params.stride + i];
}

fn classify_pixel(i: u32) -> u32 {
    let ndvi = index(NDVI, i);
    let bsi = index(BSI, i);
    let water = index(WATER_INDEX, i);
    let brightness = index(BRIGHTNESS, i);
    let redness = index(REDNESS, i);
    let green_excess = index(GREEN_EXCESS, i);
    let blue = band(params.blue, i);
    let green = band(params.green, i);
    let nir = band(params.nir, i);
    let red = band(params.red, i);
    let swir1 = band(params.swir1, i);
    let swir2 = band(params.swir2, i);
    let ndti = normalized_difference(swir1, swir2);
    let soil_beneath = !lt(ndti, params.soil_min_ndti);
    if gt(water, params.water_index) && lt(ndvi, 0.1) && lt(nir, params.water_max_nir) {
        return WATER;
    }
    if ge(ndvi, params.vegetation_ndvi) {
        return VEGETATION;
    }
    if gt(green_excess, params.cover_green_excess) && ge(green, params.cover_green_over_blue * blue) && lt(nir, params.net_max_nir_over_green * green) {
        return COVERED;
    }
    let mesh_over_soil = ge(ndti, params.soil_min_ndti) && gt(swir1, nir);
    if lt(ndvi, params.cover_max_ndvi) && gt(-redness, params.net_min_blue_excess) && mesh_over_soil {
        return COVERED;
    }
    if lt(brightness, params.net_max_dark) && lt(ndvi, params.net_max_dark_ndvi) && ge(ndti, params.soil_min_ndti) {
        return COVERED;
    }
    let white = ge(blue, params.net_min_blue) && lt(blue, params.net_max_blue);
    if lt(ndvi, params.cover_max_ndvi) && ge(red, swir1) && ge(ndti, params.soil_min_ndti) && white {
        return COVERED;
    }
    let soil_like = ge(redness, params.soil_redness) && (is_nan(bsi) || ge(bsi, params.soil_min_bsi)) && soil_beneath;
    if soil_like {
        return BARE_SOIL;
    }
    if ge(brightness, params.built_min_brightness) {
        return BUILT;
    }
    return UNKNOWN;
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
        var cls = NO_DATA;
        if byte_at(flags, k) != 0u {
            cls = classify_pixel(i);
        }
        packed = packed | (cls << (8u * k));
    }
    out[word] = packed;
}
