// Prepended to every kernel (see src/compute/gpu/kernels.rs): the float arithmetic that makes a kernel
// give the bits the CPU gives, not merely close ones.
//
// WGSL lets an implementation assume that no NaN or infinity occurs, computes `x / y` to 2.5 ULP and
// `sqrt` to about 3 ULP, and SPIR-V drivers may fuse `a * b + c` into one rounding. The CPU path rounds
// every operation to nearest even. One ULP is enough to move a pixel across a class threshold or a
// histogram bin edge, and with it Otsu's cut and the flags, so:
// - NaN and infinity are recognised from the bits, never with float comparisons;
// - division and square root are done here in integer arithmetic, correctly rounded;
// - products that feed a sum pass through `keep`, which hides them from contraction.
// `+`, `-` and `*` themselves are correctly rounded in Vulkan, Metal and D3D12.
// One difference remains: a GPU may flush subnormal results (below 1.2e-38) to zero, which reflectance
// never comes near.

const F32_SIGN: u32 = 0x80000000u;
const F32_ABS: u32 = 0x7fffffffu;
const F32_EXP: u32 = 0x7f800000u;
const F32_FRAC: u32 = 0x007fffffu;
const F32_HIDDEN: u32 = 0x00800000u;
const F32_QUIET_NAN: u32 = 0x7fc00000u;

fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & F32_ABS) > F32_EXP;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & F32_EXP) != F32_EXP;
}

// A quiet NaN from its bits. A function argument, so no WGSL front end folds it into a NaN constant,
// which WGSL forbids.
fn nan_from(bits: u32) -> f32 {
    return bitcast<f32>(bits);
}

// Rust's f32::abs: the sign bit cleared, on NaN too, whatever the compiler assumes about `abs`.
fn abs_bits(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) & F32_ABS);
}

// Comparisons that are false when either side is NaN, as in Rust, whatever the compiler assumes.
fn lt(a: f32, b: f32) -> bool {
    return !is_nan(a) && !is_nan(b) && a < b;
}

fn le(a: f32, b: f32) -> bool {
    return !is_nan(a) && !is_nan(b) && a <= b;
}

fn ge(a: f32, b: f32) -> bool {
    return !is_nan(a) && !is_nan(b) && a >= b;
}

fn gt(a: f32, b: f32) -> bool {
    return !is_nan(a) && !is_nan(b) && a > b;
}

// `x` unchanged, but opaque to the optimiser (`opaque_zero` is a uniform that is always 0), so a
// product passed through it is rounded on its own before it is added, as on the CPU.
fn keep(x: f32, opaque_zero: u32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) | opaque_zero);
}

// A finite nonzero magnitude as m * 2^(e - 23), with bit 23 of m set (subnormals normalised).
struct Unpacked {
    m: u32,
    e: i32,
}

fn unpack(bits: u32) -> Unpacked {
    let biased = (bits & F32_EXP) >> 23u;
    let frac = bits & F32_FRAC;
    if biased == 0u {
        let shift = countLeadingZeros(frac) - 8u;
        return Unpacked(frac << shift, -126 - i32(shift));
    }
    return Unpacked(frac | F32_HIDDEN, i32(biased) - 127);
}

// What was cut off below the last place of a result: nothing, less than half that place, exactly half,
// more than half.
const REST_NONE: u32 = 0u;
const REST_BELOW_HALF: u32 = 1u;
const REST_HALF: u32 = 2u;
const REST_ABOVE_HALF: u32 = 3u;

// Rounds (q + rest) * 2^(e - 23), q in [2^23, 2^24), to the nearest f32, ties to even, with the sign
// bit `sgn`: what IEEE 754 division and square root return.
fn round_pack(sgn: u32, q: u32, e: i32, rest: u32) -> f32 {
    let biased = e + 127;
    if biased >= 1 {
        var m = q;
        var ue = e;
        if rest == REST_ABOVE_HALF || (rest == REST_HALF && (m & 1u) == 1u) {
            m = m + 1u;
            if m == 0x01000000u {
                m = F32_HIDDEN;
                ue = ue + 1;
            }
        }
        if ue + 127 >= 255 {
            return bitcast<f32>(sgn | F32_EXP);
        }
        return bitcast<f32>(sgn | (u32(ue + 127) << 23u) | (m & F32_FRAC));
    }
    // Subnormal: s more bits of q fall below the last place and join the rest.
    let s = u32(1 - biased);
    if s > 24u {
        return bitcast<f32>(sgn);
    }
    let kept = q >> s;
    let lost = q & ((1u << s) - 1u);
    let halfway = 1u << (s - 1u);
    var frac = kept;
    if lost > halfway || (lost == halfway && (rest != REST_NONE || (kept & 1u) == 1u)) {
        frac = frac + 1u;
    }
    // A carry into bit 23 yields the smallest normal number, as the encoding intends.
    return bitcast<f32>(sgn | frac);
}

// a / b rounded to nearest even, as IEEE 754 (and the CPU) divides.
fn div_rn(a: f32, b: f32) -> f32 {
    let ua = bitcast<u32>(a);
    let ub = bitcast<u32>(b);
    let sgn = (ua ^ ub) & F32_SIGN;
    if is_nan(a) || is_nan(b) {
        return nan_from(F32_QUIET_NAN);
    }
    let a_inf = (ua & F32_ABS) == F32_EXP;
    let b_inf = (ub & F32_ABS) == F32_EXP;
    let a_zero = (ua & F32_ABS) == 0u;
    let b_zero = (ub & F32_ABS) == 0u;
    if (a_inf && b_inf) || (a_zero && b_zero) {
        return nan_from(F32_QUIET_NAN);
    }
    if a_inf || b_zero {
        return bitcast<f32>(sgn | F32_EXP);
    }
    if b_inf || a_zero {
        return bitcast<f32>(sgn);
    }
    let x = unpack(ua);
    let y = unpack(ub);
    var rem = x.m;
    var e = x.e - y.e;
    if rem < y.m {
        rem = rem << 1u;
        e = e - 1;
    }
    // Restoring long division: 24 quotient bits; rem ends as twice the remainder.
    var q = 0u;
    for (var i = 0u; i < 24u; i = i + 1u) {
        q = q << 1u;
        if rem >= y.m {
            rem = rem - y.m;
            q = q | 1u;
        }
        rem = rem << 1u;
    }
    var rest = REST_NONE;
    if rem > y.m {
        rest = REST_ABOVE_HALF;
    } else if rem == y.m {
        rest = REST_HALF;
    } else if rem != 0u {
        rest = REST_BELOW_HALF;
    }
    return round_pack(sgn, q, e, rest);
}

// sqrt(x) rounded to nearest even, as IEEE 754 (and the CPU) takes it.
fn sqrt_rn(x: f32) -> f32 {
    let ux = bitcast<u32>(x);
    if is_nan(x) || (ux > F32_SIGN) {
        return nan_from(F32_QUIET_NAN);
    }
    if (ux & F32_ABS) == 0u || ux == F32_EXP {
        return x;
    }
    let v = unpack(ux);
    var m = v.m;
    var e = v.e;
    if (e & 1) != 0 {
        m = m << 1u;
        e = e - 1;
    }
    // Digit-by-digit root of m * 2^23 (a 48-bit radicand whose low 23 bits are zero); `w` is the
    // radicand shifted right by 22.
    let w = m << 1u;
    var rem = 0u;
    var root = 0u;
    for (var i = 0u; i < 24u; i = i + 1u) {
        let low = 46u - 2u * i;
        var pair = 0u;
        if low >= 22u {
            pair = (w >> (low - 22u)) & 3u;
        }
        rem = (rem << 2u) | pair;
        let trial = (root << 2u) | 1u;
        if rem >= trial {
            rem = rem - trial;
            root = (root << 1u) | 1u;
        } else {
            root = root << 1u;
        }
    }
    // rem = radicand - root^2; the exact root passes root + 1/2 where rem > root, and never sits on it.
    var rest = REST_NONE;
    if rem > root {
        rest = REST_ABOVE_HALF;
    } else if rem != 0u {
        rest = REST_BELOW_HALF;
    }
    return round_pack(0u, root, e / 2, rest);
}

// spectral::indices::normalized_difference: (a - b) / (a + b), 0 where the sum vanishes. Any
// non-finite input makes the CPU's result NaN. Here because indices and cloud_test both take it.
fn normalized_difference(a: f32, b: f32) -> f32 {
    if !is_finite(a) || !is_finite(b) {
        return nan_from(F32_QUIET_NAN);
    }
    let s = a + b;
    if abs(s) < 1e-6 {
        return 0.0;
    }
    return div_rn(a - b, s);
}

// Byte `i` of a plane of bytes packed four to a word (little-endian, as the host lays them out).
fn byte_at(word: u32, i: u32) -> u32 {
    return (word >> (8u * (i & 3u))) & 0xffu;
}

// The flat index of a workgroup in a dispatch that spills over into y past 65535 groups in x.
fn group_index(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.y * groups.x + wid.x;
}
