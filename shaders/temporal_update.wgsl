// Backend::temporal_update: one acquisition's observations applied to every pixel's temporal state,
// then the events each pixel shows. Mirrors temporal::rules::{update_pixel, active_events} line by
// line, and io::dates::add_months in integer arithmetic on day numbers.
//
// The f32 fields of the state and the observations travel as their bits and are only turned into
// floats where the Rust computes with them: what is merely copied (a brightness into `calm_soil`, a
// NaN into `prev_soil`) keeps its exact bits, NaN payloads included, as it does on the CPU.
// One invocation per word of the output, so four pixels, because WGSL cannot store single bytes.

struct Params {
    len: u32,
    // Elements from one plane of `observations` to the next.
    stride: u32,
    // temporal::DateContext.
    day: i32,
    reference_soil: u32,
    // temporal::TemporalParams, field for field.
    idle_months: u32,
    built_confirmations: u32,
    history_before_construction: u32,
    disturbance_contrast: f32,
    disturbance_confirmations: u32,
    disturbance_window_days: i32,
    earthworks_quiet_days: i32,
    max_observation_gap_days: i32,
    // chrono's last date (NaiveDate::MAX) as a day number and its year: add_months gives that date where
    // chrono cannot add the months.
    max_day: i32,
    max_year: i32,
    opaque_zero: u32,
    pad: u32,
}

// temporal::PixelState, field for field (it is #[repr(C)] with 32-bit fields on the host).
struct State {
    class_last: u32,
    valid_obs: u32,
    last_valid: i32,
    bare_start: i32,
    bare_last: i32,
    bare_obs: u32,
    idle_start: i32,
    pending_since: i32,
    built_start: i32,
    built_obs: u32,
    history_before_built: u32,
    nonbuilt_obs: u32,
    disturb_start: i32,
    disturb_last: i32,
    disturb_obs: u32,
    // f32 fields, as bits.
    prev_soil: u32,
    prev_reference: u32,
    calm_soil: u32,
    calm_reference: u32,
    ndvi_last: u32,
    bsi_last: u32,
    ndvi_calm: u32,
    bsi_calm: u32,
}

// temporal::NONE_DAY (i32::MIN).
const NONE_DAY: i32 = -2147483648;

// LandClass values.
const UNKNOWN: u32 = 0u;
const VEGETATION: u32 = 1u;
const BARE_SOIL: u32 = 2u;
const BUILT: u32 = 3u;
const COVERED: u32 = 5u;
const NO_DATA: u32 = 255u;

// Planes of `observations`.
const BRIGHTNESS: u32 = 0u;
const NDVI: u32 = 1u;
const BSI: u32 = 2u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> states: array<State>;
@group(0) @binding(2) var<storage, read> classes: array<u32>;
@group(0) @binding(3) var<storage, read> observations: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

// The float of some bits. A function, so that a constant argument (infinity) is not folded into a
// constant WGSL forbids.
fn from_bits(bits: u32) -> f32 {
    return bitcast<f32>(bits);
}

// LandClass::from_u8.
fn land_class(byte: u32) -> u32 {
    if (byte >= 1u && byte <= 5u) || byte == NO_DATA {
        return byte;
    }
    return UNKNOWN;
}

// u32::saturating_add(1).
fn increment(x: u32) -> u32 {
    return select(x + 1u, x, x == 0xffffffffu);
}

fn relative(a: f32, b: f32) -> f32 {
    if lt(abs_bits(b), 1e-6) {
        return from_bits(F32_EXP);
    }
    return abs_bits(div_rn(a, b));
}

fn deviation(b: f32, then: f32, then_ref: f32, now_ref: f32) -> f32 {
    // `common` in the Rust; a reserved word in WGSL.
    var common_change = 1.0;
    if gt(now_ref, 0.0) && gt(then_ref, 0.0) {
        common_change = div_rn(now_ref, then_ref);
    }
    // Rounded on its own before the subtraction, as on the CPU.
    let expected = keep(then * common_change, params.opaque_zero);
    return relative(b - expected, expected);
}

fn update_pixel(s: ptr<function, State>, class_byte: u32, brightness_bits: u32, ndvi_bits: u32, bsi_bits: u32) {
    let cls = land_class(class_byte);
    if cls == NO_DATA || cls == UNKNOWN {
        return;
    }
    let prev = land_class((*s).class_last & 0xffu);
    let day = params.day;
    let reference = from_bits(params.reference_soil);
    let brightness = from_bits(brightness_bits);
    let contrast = params.disturbance_contrast;

    var disturbed = false;
    if cls == BARE_SOIL && is_finite(brightness) {
        let calm_soil = from_bits((*s).calm_soil);
        let from_calm = !is_finite(calm_soil)
            || gt(deviation(brightness, calm_soil, from_bits((*s).calm_reference), reference), contrast);
        let prev_soil = from_bits((*s).prev_soil);
        var from_previous = false;
        if prev == BARE_SOIL && is_finite(prev_soil) {
            from_previous = gt(deviation(brightness, prev_soil, from_bits((*s).prev_reference), reference), contrast);
        } else {
            from_previous = is_finite(reference)
                && prev != NO_DATA
                && gt(relative(brightness - reference, reference), contrast);
        }
        disturbed = from_calm && from_previous;
    }
    if disturbed {
        if (*s).disturb_start == NONE_DAY || day - (*s).disturb_last > params.disturbance_window_days {
            (*s).disturb_start = day;
            (*s).disturb_obs = 0u;
        }
        (*s).disturb_obs = increment((*s).disturb_obs);
        (*s).disturb_last = day;
    } else if cls == VEGETATION || cls == COVERED || cls == BUILT {
        (*s).disturb_start = NONE_DAY;
        (*s).disturb_obs = 0u;
    }
    let works = disturbed && (*s).disturb_obs >= params.disturbance_confirmations;

    if cls == BARE_SOIL {
        if (*s).bare_start != NONE_DAY && day - (*s).last_valid > params.max_observation_gap_days {
            (*s).bare_start = NONE_DAY;
            (*s).idle_start = NONE_DAY;
        }
        if (*s).bare_start == NONE_DAY {
            (*s).bare_start = day;
            (*s).bare_obs = 0u;
        }
        (*s).bare_last = day;
        (*s).bare_obs = increment((*s).bare_obs);
        (*s).pending_since = NONE_DAY;
        if works {
            (*s).idle_start = NONE_DAY;
        } else if (*s).idle_start == NONE_DAY {
            (*s).idle_start = day;
        }
    } else if cls == BUILT && (*s).bare_start != NONE_DAY && (*s).pending_since == NONE_DAY {
        (*s).pending_since = day;
    } else {
        (*s).bare_start = NONE_DAY;
        (*s).bare_last = NONE_DAY;
        (*s).bare_obs = 0u;
        (*s).idle_start = NONE_DAY;
        (*s).pending_since = NONE_DAY;
    }

    if cls == BUILT {
        if (*s).built_start == NONE_DAY {
            (*s).built_start = day;
            (*s).built_obs = 0u;
            (*s).history_before_built = (*s).nonbuilt_obs;
        }
        (*s).built_obs = increment((*s).built_obs);
    } else {
        (*s).built_start = NONE_DAY;
        (*s).built_obs = 0u;
        (*s).nonbuilt_obs = increment((*s).nonbuilt_obs);
    }

    if cls == BARE_SOIL && !disturbed {
        (*s).calm_soil = brightness_bits;
        (*s).calm_reference = params.reference_soil;
    }
    if cls != BUILT && !disturbed {
        (*s).ndvi_calm = ndvi_bits;
        (*s).bsi_calm = bsi_bits;
    }
    (*s).prev_soil = select(F32_QUIET_NAN, brightness_bits, cls == BARE_SOIL);
    (*s).prev_reference = params.reference_soil;
    (*s).ndvi_last = ndvi_bits;
    (*s).bsi_last = bsi_bits;
    (*s).class_last = cls;
    (*s).last_valid = day;
    (*s).valid_obs = increment((*s).valid_obs);
}

// A proleptic Gregorian date.
struct Civil {
    year: i32,
    month: i32,
    day: i32,
}

// The date of a day number (days since 1970-01-01), by H. Hinnant's civil_from_days; WGSL's `/` on
// i32 truncates, as the algorithm expects of C.
fn civil_from_days(n: i32) -> Civil {
    let z = n + 719468;
    var era = z;
    if z < 0 {
        era = z - 146096;
    }
    era = era / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    var month = mp + 3;
    if mp >= 10 {
        month = mp - 9;
    }
    var year = yoe + era * 400;
    if month <= 2 {
        year = year + 1;
    }
    return Civil(year, month, day);
}

// The day number of a date, by H. Hinnant's days_from_civil.
fn days_from_civil(c: Civil) -> i32 {
    var y = c.year;
    if c.month <= 2 {
        y = y - 1;
    }
    var era = y;
    if y < 0 {
        era = y - 399;
    }
    era = era / 400;
    let yoe = y - era * 400;
    var mp = c.month - 3;
    if c.month <= 2 {
        mp = c.month + 9;
    }
    let doy = (153 * mp + 2) / 5 + c.day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

fn days_in_month(year: i32, month: i32) -> i32 {
    if month == 2 {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return select(28, 29, leap);
    }
    if month == 4 || month == 6 || month == 9 || month == 11 {
        return 30;
    }
    return 31;
}

// io::dates::add_months on day numbers: chrono's checked_add_months (calendar months, the day clamped
// to the end of a shorter month), and chrono's last date where that fails.
fn add_months(start: i32, months: u32) -> i32 {
    if months == 0u {
        return start;
    }
    if months > 0x7fffffffu {
        return params.max_day;
    }
    let c = civil_from_days(start);
    let base = c.year * 12 + c.month - 1;
    let k = i32(months);
    if base > 0 && k > 2147483647 - base {
        return params.max_day;
    }
    let total = base + k;
    var year = total / 12;
    var month0 = total % 12;
    if month0 < 0 {
        month0 = month0 + 12;
        year = year - 1;
    }
    if year > params.max_year {
        return params.max_day;
    }
    let month = month0 + 1;
    let day = min(c.day, days_in_month(year, month));
    return days_from_civil(Civil(year, month, day));
}

// temporal::active_events, as ActiveEvents::bits.
fn active_events(s: State) -> u32 {
    let last = land_class(s.class_last & 0xffu);
    let still_bare = last == BARE_SOIL || s.pending_since != NONE_DAY;
    let construction = s.built_start != NONE_DAY
        && s.built_obs >= params.built_confirmations
        && s.history_before_built >= params.history_before_construction;
    let earthworks = s.disturb_start != NONE_DAY
        && s.disturb_obs >= params.disturbance_confirmations
        && params.day - s.disturb_last <= params.earthworks_quiet_days
        && last == BARE_SOIL;
    let idle_bare = s.idle_start != NONE_DAY
        && still_bare
        && s.bare_last != NONE_DAY
        && add_months(s.idle_start, params.idle_months) <= s.bare_last;
    return select(0u, 1u, construction) | select(0u, 2u, earthworks) | select(0u, 4u, idle_bare);
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
    let class_word = classes[word];
    var packed = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let i = first + k;
        if i >= params.len {
            break;
        }
        var s = states[i];
        update_pixel(
            &s,
            byte_at(class_word, k),
            observations[BRIGHTNESS * params.stride + i],
            observations[NDVI * params.stride + i],
            observations[BSI * params.stride + i],
        );
        states[i] = s;
        packed = packed | (active_events(s) << (8u * k));
    }
    out[word] = packed;
}
