//! Co-registration of two flights: the horizontal shift left between them after georeferencing (phase
//! correlation, Kuglin and Hines 1975, with sub-pixel peak interpolation) and their vertical offset on
//! stable ground.
//!
//! Two flights processed without the same ground control points routinely disagree by a few decimetres
//! horizontally and vertically. Differencing surface models that are 0.3 m apart turns every wall into
//! a strip of false gain on one side and false loss on the other, and a vertical offset turns the whole
//! survey into earthworks, so both are measured and taken out before anything is decided.

use ndarray::{Array2, ArrayView2};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;
use serde::Serialize;

use crate::raster::{Grid, Window};

/// The translation found between two windows by phase correlation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseShift {
    /// Columns: a feature at column `c` of the first window is at `c + dx` in the second.
    pub dx: f64,
    /// Rows, likewise.
    pub dy: f64,
    /// Height of the correlation peak (1 for identical, shifted images; near 0 for unrelated ones).
    pub peak: f64,
}

/// Phase correlation of two equally sized windows. NaN pixels are filled with the window mean, and a
/// Hann taper keeps the window edges from correlating with each other. `None` for windows smaller than
/// 8 x 8 or without any variation.
///
/// The normalized cross-power spectrum is weighted by a Gaussian low-pass before it goes back to space:
/// whitening alone gives the independent pixel noise of two surface models (or two cameras) as much weight
/// as the structure both flights share, and the peak drowns. With the weight the peak is a Gaussian
/// about 1.5 pixels wide, whose position a log-parabola through three samples gives exactly.
pub fn phase_correlation(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Option<PhaseShift> {
    assert_eq!(a.dim(), b.dim(), "windows of one size");
    let (h, w) = a.dim();
    if h < 8 || w < 8 {
        return None;
    }
    let mut planner = FftPlanner::<f32>::new();
    let fa = spectrum(&mut planner, a)?;
    let fb = spectrum(&mut planner, b)?;
    let freq = |k: usize, n: usize| if k <= n / 2 { k as f32 / n as f32 } else { k as f32 / n as f32 - 1.0 };
    let sigma2 = LOW_PASS_CYCLES_PER_PIXEL * LOW_PASS_CYCLES_PER_PIXEL;
    let mut weight_sum = 0.0f32;
    let mut cross: Vec<Complex<f32>> = Vec::with_capacity(w * h);
    for r in 0..h {
        let fy = freq(r, h);
        for c in 0..w {
            let fx = freq(c, w);
            let g = (-(fx * fx + fy * fy) / sigma2).exp();
            let p = fa[r * w + c].conj() * fb[r * w + c];
            let m = p.norm();
            if m > 1e-12 {
                weight_sum += g;
                cross.push(p / m * g);
            } else {
                cross.push(Complex::new(0.0, 0.0));
            }
        }
    }
    if weight_sum <= 0.0 {
        return None;
    }
    fft2(&mut planner, &mut cross, w, h, true);
    // Normalized so that identical windows peak at 1.
    let surface: Vec<f32> = cross.iter().map(|c| c.re / weight_sum).collect();
    let (best, peak) = surface
        .iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |acc, (i, v)| if *v > acc.1 { (i, *v) } else { acc });
    if !peak.is_finite() || peak <= 0.0 {
        return None;
    }
    let (pr, pc) = (best / w, best % w);
    let at = |r: isize, c: isize| surface[r.rem_euclid(h as isize) as usize * w + c.rem_euclid(w as isize) as usize];
    let (r, c) = (pr as isize, pc as isize);
    let sub_c = peak_offset(at(r, c - 1), at(r, c), at(r, c + 1));
    let sub_r = peak_offset(at(r - 1, c), at(r, c), at(r + 1, c));
    let wrap = |i: usize, len: usize| if i > len / 2 { i as f64 - len as f64 } else { i as f64 };
    Some(PhaseShift { dx: wrap(pc, w) + sub_c, dy: wrap(pr, h) + sub_r, peak: peak as f64 })
}

/// Width of the Gaussian low-pass on the cross-power spectrum (cycles per pixel; Nyquist is 0.5).
const LOW_PASS_CYCLES_PER_PIXEL: f32 = 0.15;

/// Sub-pixel position of a Gaussian peak along one axis from the peak and its two neighbours: the
/// vertex of the parabola through their logarithms.
fn peak_offset(left: f32, centre: f32, right: f32) -> f64 {
    let floor = centre as f64 * 1e-6;
    let (l, c, r) = ((left as f64).max(floor).ln(), (centre as f64).ln(), (right as f64).max(floor).ln());
    let denom = l - 2.0 * c + r;
    if denom >= -1e-12 { 0.0 } else { (0.5 * (l - r) / denom).clamp(-0.5, 0.5) }
}

/// Tapered, mean-free 2-D spectrum of a window (row-major complex values).
fn spectrum(planner: &mut FftPlanner<f32>, values: ArrayView2<f32>) -> Option<Vec<Complex<f32>>> {
    let (h, w) = values.dim();
    let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < (w * h) / 4 {
        return None;
    }
    let mean = finite.iter().map(|v| *v as f64).sum::<f64>() / finite.len() as f64;
    let hann = |i: usize, len: usize| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (len - 1) as f64).cos();
    let mut buf = Vec::with_capacity(w * h);
    let mut energy = 0.0f64;
    for r in 0..h {
        for c in 0..w {
            let v = values[[r, c]];
            let d = if v.is_finite() { v as f64 - mean } else { 0.0 };
            let t = d * hann(r, h) * hann(c, w);
            energy += t * t;
            buf.push(Complex::new(t as f32, 0.0));
        }
    }
    if energy <= 1e-12 {
        return None;
    }
    fft2(planner, &mut buf, w, h, false);
    Some(buf)
}

/// In-place 2-D FFT of a row-major `w` x `h` buffer (unnormalized both ways).
fn fft2(planner: &mut FftPlanner<f32>, buf: &mut [Complex<f32>], w: usize, h: usize, inverse: bool) {
    let row_fft = if inverse { planner.plan_fft_inverse(w) } else { planner.plan_fft_forward(w) };
    for row in buf.chunks_mut(w) {
        row_fft.process(row);
    }
    let col_fft = if inverse { planner.plan_fft_inverse(h) } else { planner.plan_fft_forward(h) };
    let mut column = vec![Complex::new(0.0, 0.0); h];
    for c in 0..w {
        for r in 0..h {
            column[r] = buf[r * w + c];
        }
        col_fft.process(&mut column);
        for r in 0..h {
            buf[r * w + c] = column[r];
        }
    }
}

/// Up to five square windows of `size` pixels spread over the grid (centre, then the four quadrant
/// centres), so that a local disturbance cannot decide the shift alone.
pub fn sample_windows(grid: &Grid, size: usize) -> Vec<Window> {
    let s = size.min(grid.width).min(grid.height) & !1;
    if s < 16 {
        return Vec::new();
    }
    let centres = [(0.5, 0.5), (0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
    let mut out: Vec<Window> = Vec::new();
    for (fx, fy) in centres {
        let col = ((grid.width as f64 * fx) as usize).saturating_sub(s / 2).min(grid.width - s);
        let row = ((grid.height as f64 * fy) as usize).saturating_sub(s / 2).min(grid.height - s);
        let win = Window { col, row, width: s, height: s };
        if !out.contains(&win) {
            out.push(win);
        }
    }
    out
}

/// Limits on what is trusted and corrected.
#[derive(Debug, Clone, Copy)]
pub struct ShiftPolicy {
    /// Shifts up to this length (metres) are corrected.
    pub max_correction_m: f64,
    /// Windows whose correlation peak is lower are not used.
    pub min_peak: f64,
    /// Windows disagreeing by more than this (pixels) make the estimate unreliable.
    pub max_spread_px: f64,
}

/// The shift between the flights, as measured and as acted on.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftEstimate {
    /// East shift of the later flight relative to the earlier one (metres, map units).
    pub dx_m: f64,
    /// North shift, likewise.
    pub dy_m: f64,
    /// The same in analysis-grid pixels (columns, rows).
    pub dx_px: f64,
    /// Rows (positive is south).
    pub dy_px: f64,
    /// Median correlation peak of the windows used.
    pub peak: f64,
    /// Windows whose peak was high enough to be used.
    pub windows_used: usize,
    /// Windows correlated.
    pub windows_tried: usize,
    /// Largest distance of one window's estimate from the median, in pixels.
    pub spread_px: f64,
    /// What was correlated: `orthomosaic` or `surface model`.
    pub source: String,
    /// Whether the later flight was moved back onto the earlier one.
    pub corrected: bool,
    /// Why not, when it was not.
    pub note: Option<String>,
}

impl ShiftEstimate {
    /// Length of the shift in metres.
    pub fn length_m(&self) -> f64 {
        self.dx_m.hypot(self.dy_m)
    }
}

/// Combines per-window shifts into one estimate and decides whether to correct it. Windows that saw
/// a new building or a crane may correlate wrongly, so the estimate is the median of the largest group
/// of windows that agree within `max_spread_px`; it is trusted when that group holds a majority of the
/// windows that correlated at all.
pub fn combine_shifts(shifts: &[PhaseShift], grid: &Grid, source: &str, policy: &ShiftPolicy) -> Option<ShiftEstimate> {
    let used: Vec<&PhaseShift> = shifts.iter().filter(|s| s.peak >= policy.min_peak).collect();
    if used.is_empty() {
        return None;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let m = v.len() / 2;
        if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) }
    };
    // The largest group of windows within the tolerance of one of them (ties: the stronger peaks).
    let group = used
        .iter()
        .map(|a| {
            let members: Vec<&PhaseShift> =
                used.iter().copied().filter(|b| (a.dx - b.dx).hypot(a.dy - b.dy) <= policy.max_spread_px).collect();
            let strength: f64 = members.iter().map(|m| m.peak).sum();
            (members, strength)
        })
        .max_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.1.total_cmp(&b.1)))
        .map(|(members, _)| members)
        .unwrap_or_default();
    let dx_px = median(group.iter().map(|s| s.dx).collect());
    let dy_px = median(group.iter().map(|s| s.dy).collect());
    let peak = median(group.iter().map(|s| s.peak).collect());
    let spread_px = group.iter().map(|s| (s.dx - dx_px).hypot(s.dy - dy_px)).fold(0.0, f64::max);
    let agreeing = group.len();
    let g = &grid.transform.0;
    // Pixel offsets to map offsets through the grid's axes (north-up grids: dy_m = -dy_px * pixel height).
    let dx_m = dx_px * g[1] + dy_px * g[2];
    let dy_m = dx_px * g[4] + dy_px * g[5];
    let mut estimate = ShiftEstimate {
        dx_m,
        dy_m,
        dx_px,
        dy_px,
        peak,
        windows_used: agreeing,
        windows_tried: shifts.len(),
        spread_px,
        source: source.to_string(),
        corrected: false,
        note: None,
    };
    let length = estimate.length_m();
    if 2 * agreeing <= used.len() {
        estimate.note = Some(format!(
            "the flights' shift differs across the survey (only {agreeing} of {} windows agree within {:.1} px): \
             rotation, scale or local distortion; not corrected",
            used.len(),
            policy.max_spread_px
        ));
    } else if length > policy.max_correction_m {
        estimate.note = Some(format!(
            "residual shift of {length:.2} m between the flights is too large to trust (limit {:.2} m): co-register \
             them (same ground control points) before comparing; not corrected",
            policy.max_correction_m
        ));
    } else {
        estimate.corrected = true;
    }
    Some(estimate)
}

/// The grid that, read from the later flight, puts its pixels over the same ground as `grid` in the
/// earlier flight: `grid` moved by the estimated shift.
pub fn shifted_grid(grid: &Grid, estimate: Option<&ShiftEstimate>) -> Grid {
    match estimate.filter(|e| e.corrected) {
        Some(e) => {
            let mut g = grid.clone();
            g.transform.0[0] += e.dx_m;
            g.transform.0[3] += e.dy_m;
            g
        }
        None => grid.clone(),
    }
}

/// Vertical offset between the flights on stable ground and how much they disagree there.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VerticalOffset {
    /// Median of after - before (metres): the bias taken out of every height change.
    pub offset_m: f64,
    /// Median absolute deviation about it, scaled to a standard deviation (metres).
    pub spread_m: f64,
    /// Pixels compared.
    pub samples: usize,
}

/// The median height difference and its robust spread. Most of a survey does not change between two
/// flights, so the median is the bias, whatever was built or dug.
pub fn vertical_offset(dh: ArrayView2<f32>) -> Option<VerticalOffset> {
    let mut v: Vec<f32> = dh.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 16 {
        return None;
    }
    let samples = v.len();
    let median = |v: &mut Vec<f32>| {
        let m = v.len() / 2;
        let (_, x, _) = v.select_nth_unstable_by(m, |a, b| a.total_cmp(b));
        *x as f64
    };
    let offset_m = median(&mut v);
    let mut dev: Vec<f32> = v.iter().map(|x| (*x as f64 - offset_m).abs() as f32).collect();
    let spread_m = 1.4826 * median(&mut dev);
    Some(VerticalOffset { offset_m, spread_m, samples })
}

/// A coarse grid over `grid` with at most `max_side` pixels on its long side (for whole-survey
/// statistics that need no detail).
pub fn overview_grid(grid: &Grid, max_side: usize) -> Grid {
    let long = grid.width.max(grid.height);
    if long <= max_side {
        return grid.clone();
    }
    let factor = long as f64 / max_side as f64;
    let width = ((grid.width as f64 / factor).round() as usize).max(1);
    let height = ((grid.height as f64 / factor).round() as usize).max(1);
    let mut g = grid.clone();
    let t = &mut g.transform.0;
    t[1] *= grid.width as f64 / width as f64;
    t[2] *= grid.height as f64 / height as f64;
    t[4] *= grid.width as f64 / width as f64;
    t[5] *= grid.height as f64 / height as f64;
    g.width = width;
    g.height = height;
    g
}

/// Moves `values` by (dx, dy) pixels with bilinear interpolation (test and synthetic-data helper):
/// out(r, c) = values(r - dy, c - dx), NaN outside.
pub fn translate(values: ArrayView2<f32>, dx: f64, dy: f64) -> Array2<f32> {
    let (h, w) = values.dim();
    Array2::from_shape_fn((h, w), |(r, c)| {
        let (y, x) = (r as f64 - dy, c as f64 - dx);
        let (x0, y0) = (x.floor(), y.floor());
        if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= w as f64 || y0 + 1.0 >= h as f64 {
            return f32::NAN;
        }
        let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
        let (i, j) = (y0 as usize, x0 as usize);
        let v = |r: usize, c: usize| values[[r, c]];
        v(i, j) * (1.0 - fx) * (1.0 - fy)
            + v(i, j + 1) * fx * (1.0 - fy)
            + v(i + 1, j) * (1.0 - fx) * fy
            + v(i + 1, j + 1) * fx * fy
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::GeoTransform;
    use crate::synth::noise::ValueNoise;

    fn texture(h: usize, w: usize) -> Array2<f32> {
        let n = ValueNoise::new(11, 6.0, 3);
        Array2::from_shape_fn((h, w), |(r, c)| n.at(c as f64, r as f64) as f32)
    }

    #[test]
    fn phase_correlation_finds_integer_and_sub_pixel_shifts_with_the_right_sign() {
        let base = texture(160, 160);
        for (dx, dy) in [(3.0, -2.0), (1.2, 0.0), (-0.4, 0.7)] {
            let moved = translate(base.view(), dx, dy);
            let crop = |a: &Array2<f32>| a.slice(ndarray::s![16..144, 16..144]).to_owned();
            let s = phase_correlation(crop(&base).view(), crop(&moved).view()).unwrap();
            assert!((s.dx - dx).abs() < 0.15 && (s.dy - dy).abs() < 0.15, "want {dx},{dy} got {s:?}");
            assert!(s.peak > 0.3, "{s:?}");
        }
    }

    #[test]
    fn unrelated_windows_have_a_low_peak() {
        let a = texture(64, 64);
        let b = Array2::from_shape_fn((64, 64), |(r, c)| ValueNoise::new(99, 6.0, 3).at(c as f64, r as f64) as f32);
        let s = phase_correlation(a.view(), b.view()).unwrap();
        assert!(s.peak < 0.2, "{s:?}");
        assert!(phase_correlation(Array2::<f32>::zeros((64, 64)).view(), b.view()).is_none(), "flat window");
    }

    fn grid() -> Grid {
        Grid {
            crs_wkt: String::new(),
            epsg: Some(32651),
            transform: GeoTransform::north_up(500000.0, 3600000.0, 0.25, 0.25),
            width: 800,
            height: 600,
        }
    }

    #[test]
    fn shifts_become_metres_and_large_or_inconsistent_ones_are_not_corrected() {
        let policy = ShiftPolicy { max_correction_m: 1.0, min_peak: 0.05, max_spread_px: 1.0 };
        let s = |dx, dy, peak| PhaseShift { dx, dy, peak };
        let e =
            combine_shifts(&[s(1.2, 0.0, 0.5), s(1.1, 0.1, 0.4), s(9.0, 9.0, 0.01)], &grid(), "t", &policy).unwrap();
        assert_eq!(e.windows_used, 2);
        let outvoted = combine_shifts(&[s(1.2, 0.0, 0.5), s(1.1, 0.1, 0.4), s(40.0, 9.0, 0.3)], &grid(), "t", &policy);
        assert!(
            outvoted.as_ref().unwrap().corrected && (outvoted.unwrap().dx_px - 1.15).abs() < 1e-9,
            "outlier outvoted"
        );
        assert!((e.dx_m - 0.2875).abs() < 1e-9 && (e.dy_m + 0.0125).abs() < 1e-9, "{e:?}");
        assert!(e.corrected);
        let moved = shifted_grid(&grid(), Some(&e));
        assert!((moved.transform.0[0] - 500000.2875).abs() < 1e-9);
        let far = combine_shifts(&[s(8.0, 0.0, 0.5)], &grid(), "t", &policy).unwrap();
        assert!(!far.corrected && far.note.as_deref().unwrap().contains("too large"));
        assert_eq!(shifted_grid(&grid(), Some(&far)), grid());
        let messy = combine_shifts(
            &[s(0.0, 0.0, 0.5), s(3.0, 0.0, 0.5), s(6.0, 0.0, 0.5), s(9.0, 0.0, 0.5)],
            &grid(),
            "t",
            &policy,
        );
        assert!(!messy.unwrap().corrected, "no majority");
        assert!(combine_shifts(&[s(0.0, 0.0, 0.01)], &grid(), "t", &policy).is_none());
    }

    #[test]
    fn vertical_offset_is_the_median_whatever_was_built() {
        let mut dh = Array2::from_shape_fn((100, 100), |(r, c)| 0.4 + ((r * 7 + c * 13) % 11) as f32 * 0.01 - 0.05);
        dh.slice_mut(ndarray::s![0..30, 0..30]).fill(6.0);
        dh[[50, 50]] = f32::NAN;
        let v = vertical_offset(dh.view()).unwrap();
        assert!((v.offset_m - 0.4).abs() < 0.02, "{v:?}");
        assert!(v.spread_m < 0.1);
        assert_eq!(v.samples, 9999);
    }

    #[test]
    fn windows_and_overviews_stay_on_the_grid() {
        let g = grid();
        let wins = sample_windows(&g, 512);
        assert_eq!(wins.len(), 5);
        for w in wins {
            assert!(w.col + w.width <= g.width && w.row + w.height <= g.height && w.width == 512);
        }
        let o = overview_grid(&g, 200);
        assert_eq!((o.width, o.height), (200, 150));
        assert!((o.transform.0[1] - 1.0).abs() < 1e-12);
        assert_eq!(o.bounds(), g.bounds());
    }
}
