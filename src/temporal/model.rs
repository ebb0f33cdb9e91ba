//! The per-pixel seasonal model: a harmonic regression of the six reflectance bands on the date, in the
//! spirit of CCDC/COLD (Zhu & Woodcock 2014; Zhu et al. 2020), kept as running sums so that it is
//! updated one observation at a time, as S-CCD does (Ye et al. 2021): a monthly scan only adds the new
//! acquisitions, and the store keeps the sums, not the series.
//!
//! For each band b, over the observations of the pixel's current segment (the time since its last
//! break), the model is
//!
//! ```text
//! y_b(t) = c0 + c1 * (t - t0) / 365.25 + c2 cos(w d) + c3 sin(w d) + c4 cos(2 w d) + c5 sin(2 w d)
//! ```
//!
//! with `d` the day number, `w = 2 pi / 365.25` and `t0` the segment's first day. Until a segment has
//! [`ModelParams::full_min_obs`] observations over [`ModelParams::full_min_span_days`] there is no model
//! and the scan falls back to class rules: a mean alone, without the seasons, would take every harvest
//! and every spring for a break.
//!
//! Each accepted look updates the fit by recursive least squares (the coefficients and the inverse of
//! the normal matrix, Sherman-Morrison), as S-CCD's filter does, and the fit is made again from the
//! sums whenever the segment has a third more looks than at its last refit ([`refit_due`]). The
//! leverage of a new look is read from the kept inverse. Per look that is some two hundred
//! multiplications and no factorization.
//!
//! Everything here is f32 with one rounding per `+ - * / sqrt` and no fused operations, so that the
//! GPU kernel (`shaders/temporal_update.wgsl`) computes the same bits. The seasonal terms depend only on
//! the date; the host computes them once per acquisition ([`season_terms`]) and both backends read them.
//! Loops index their arrays as the kernel does, so that the two read alike.
#![allow(clippy::needless_range_loop)]

use serde::{Deserialize, Serialize};

/// Bands modelled: blue, green, red, nir, swir1, swir2.
pub const BANDS: usize = 6;
/// Terms of the full model: mean, trend, annual and semi-annual harmonics.
pub const TERMS: usize = 6;
/// Entries of the upper triangle of the 6 x 6 normal matrix.
pub const PACKED: usize = TERMS * (TERMS + 1) / 2;
/// Length of a year in days: the period of the harmonics and the unit of the trend.
pub const YEAR_DAYS: f32 = 365.25;
/// Whether a segment's model is refitted from its sums: once it has a third more observations than at
/// its last fit, the schedule on which CCDC refits (Zhu & Woodcock 2014, section 3.3). Between refits
/// every accepted look still updates the fit, by [`SegmentFit::track`]; a refit clears the rounding
/// those recursive updates gather, and a decade of Landsat looks costs some twenty factorizations, not
/// hundreds.
pub fn refit_due(seg_obs: u32, fitted_obs: u32) -> bool {
    fitted_obs == 0 || 3 * u64::from(seg_obs) >= 4 * u64::from(fitted_obs)
}

/// Settings of the model (config file `[scan.temporal]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
#[serde(default)]
pub struct ModelParams {
    /// Observations after which the full seasonal model judges new observations.
    pub full_min_obs: u32,
    /// Days the full model's observations must span (about a year, so every season has been seen).
    pub full_min_span_days: i32,
    /// Mean squared standardized residual over the bands above which an observation departs from the
    /// model. COLD tests chi-square with 5-6 degrees of freedom at 99% on six observations in a row; three
    /// in a row at the same false-break rate need about 99.95%: 24 for 6 degrees of freedom, 4.0 per band.
    pub change_score: f32,
    /// Floor of each band's RMSE in reflectance: below it a residual is sensor noise, not change.
    pub min_rmse: f32,
    /// Consecutive departing observations that make a break (COLD uses 6 on Landsat's 16-day revisit;
    /// three monthly acquisitions span the same season).
    pub break_confirmations: u32,
    /// Ridge added to the normal equations of every term but the mean, so that a year of monthly
    /// observations cannot make the trend or the harmonics swing.
    pub ridge: f32,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            full_min_obs: 12,
            full_min_span_days: 330,
            change_score: 4.0,
            min_rmse: 0.012,
            break_confirmations: 3,
            ridge: 1.0,
        }
    }
}

/// The seasonal terms of day `day`: cos and sin of the annual and semi-annual phase. Computed on the
/// host in f64 and rounded once, identically for every backend.
pub fn season_terms(day: i32) -> [f32; 4] {
    let w = 2.0 * std::f64::consts::PI / YEAR_DAYS as f64;
    let a = w * day as f64;
    [a.cos() as f32, a.sin() as f32, (2.0 * a).cos() as f32, (2.0 * a).sin() as f32]
}

/// The regression terms of an observation on `day` in a segment that began on `segment_start`.
#[inline]
pub fn terms(season: &[f32; 4], day: i32, segment_start: i32) -> [f32; TERMS] {
    let t = (day - segment_start) as f32 / YEAR_DAYS;
    [1.0, t, season[0], season[1], season[2], season[3]]
}

/// Index of entry (i, j), i <= j, in the packed upper triangle.
#[inline]
pub const fn packed(i: usize, j: usize) -> usize {
    i * TERMS - i * (i + 1) / 2 + j
}

/// The full symmetric matrix of a packed upper triangle, row-major: products with it then run without
/// index arithmetic or branches.
#[inline]
fn unpacked(upper: &[f32; PACKED]) -> [f32; TERMS * TERMS] {
    let mut full = [0.0f32; TERMS * TERMS];
    for i in 0..TERMS {
        for j in i..TERMS {
            full[i * TERMS + j] = upper[packed(i, j)];
            full[j * TERMS + i] = upper[packed(i, j)];
        }
    }
    full
}

/// `a v` over the first `m` terms (`a` row-major, zero beyond them), each row summed in term order.
#[inline]
fn product(a: &[f32; TERMS * TERMS], v: &[f32], m: usize) -> [f32; TERMS] {
    let mut out = [0.0f32; TERMS];
    for i in 0..m {
        let mut sum = 0.0f32;
        for j in 0..m {
            sum += a[i * TERMS + j] * v[j];
        }
        out[i] = sum;
    }
    out
}

/// The running sums of one segment, and the fit last made from them.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct SegmentFit {
    /// Sum of x x' over the segment (upper triangle).
    pub xtx: [f32; PACKED],
    /// Sum of x y_b, band-major.
    pub xty: [f32; BANDS * TERMS],
    /// Sum of y_b^2.
    pub yty: [f32; BANDS],
    /// Coefficients of the latest fit, band-major (zero where a term is not fitted).
    pub coef: [f32; BANDS * TERMS],
    /// Residual variance (RMSE^2) of the latest fit per band, floored at `min_rmse^2`: kept squared,
    /// because the departure divides by it and a root per band and look was a third of the model's time.
    pub variance: [f32; BANDS],
}

impl Default for SegmentFit {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// What the recursive update of a fit ([`SegmentFit::track`]) carries from one look to the next,
/// besides the coefficients.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Recursion {
    /// A^-1 of the regularized normal matrix (upper triangle): the leverage of a new look and the gain
    /// of the update.
    pub inverse: [f32; PACKED],
    /// Per band, the ridge objective at the fit, ||y - X c||^2 + c'R c: it grows by each look's
    /// squared prior residual times the gain, so the residual variance needs no pass over the sums.
    pub objective: [f32; BANDS],
    /// Observations of the segment at its latest refit from the sums, 0 when nothing is kept (the
    /// leverage is then factorized from the sums and the next accepted look refits).
    pub fitted_obs: u32,
}

impl Default for Recursion {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// A look as the model judged it ([`SegmentFit::judge`]): what the recursive update of the fit reuses
/// when the look is taken in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// The model's expectation of every band.
    pub expected: [f32; BANDS],
    /// `A^-1 x`: the direction the coefficients move in when the look is taken in.
    pub gain_direction: [f32; TERMS],
    /// `x' A^-1 x`.
    pub leverage: f32,
}

impl SegmentFit {
    /// Adds one observation to the sums.
    #[inline]
    pub fn add(&mut self, x: &[f32; TERMS], y: &[f32; BANDS]) {
        for i in 0..TERMS {
            for j in i..TERMS {
                self.xtx[packed(i, j)] += x[i] * x[j];
            }
        }
        for b in 0..BANDS {
            for i in 0..TERMS {
                self.xty[b * TERMS + i] += x[i] * y[b];
            }
            self.yty[b] += y[b] * y[b];
        }
    }

    /// Fits the first `m` terms (1 or 6) by ridge-regularized least squares over `n` observations and
    /// keeps the coefficients and the floored residual variance. Returns what the recursive updates of
    /// the next looks start from (the inverse of the regularized normal matrix over those terms, zero
    /// elsewhere), or `None` (and keeps nothing) when the matrix is not positive definite.
    pub fn fit(&mut self, m: usize, n: u32, p: &ModelParams) -> Option<Recursion> {
        let inverse = self.inverse(m, p.ridge)?;
        let a = unpacked(&inverse);
        let dof = (n as f32 - m as f32).max(1.0);
        let floor = p.min_rmse * p.min_rmse;
        let mut coef = [0.0f32; BANDS * TERMS];
        let mut variance = [0.0f32; BANDS];
        let mut objective = [0.0f32; BANDS];
        for b in 0..BANDS {
            let xy = &self.xty[b * TERMS..b * TERMS + TERMS];
            let c = product(&a, xy, m);
            // RSS = y'y - 2 c'X'y + c'X'X c, and (X'X + R) c = X'y makes c'X'X c = c'X'y - c'R c: the
            // residuals from the sums without the quadratic form (the ridge is not part of them).
            let mut cxy = 0.0f32;
            let mut penalty = 0.0f32;
            for i in 0..m {
                cxy += c[i] * xy[i];
                if i > 0 {
                    penalty += c[i] * c[i];
                }
            }
            objective[b] = self.yty[b] - cxy;
            let rss = objective[b] - p.ridge * penalty;
            let v = rss / dof;
            variance[b] = if v > floor { v } else { floor };
            coef[b * TERMS..b * TERMS + TERMS].copy_from_slice(&c);
        }
        self.coef = coef;
        self.variance = variance;
        Some(Recursion { inverse, objective, fitted_obs: n })
    }

    /// How the model judges a look with terms `x`: its expectation, and `A^-1 x` with the leverage
    /// `x' A^-1 x` read from the recursion kept since the latest fit (no factorization). Between
    /// refits the inverse is that of every look taken in, so the leverage is that of the current fit.
    pub fn judge(&self, recursion: &Recursion, x: &[f32; TERMS]) -> Judged {
        let gain_direction = product(&unpacked(&recursion.inverse), x, TERMS);
        let mut leverage = 0.0f32;
        for i in 0..TERMS {
            leverage += x[i] * gain_direction[i];
        }
        Judged { expected: self.predict(x), gain_direction, leverage }
    }

    /// Takes in the look with terms `x` and (summable) bands `y`, already added to the sums and judged
    /// by [`SegmentFit::judge`] against the fit as it was, by the recursive least-squares update of the
    /// coefficients and of `recursion` (Sherman-Morrison: the same fit as a refit from the sums,
    /// without a factorization), over the `n` observations of the full model.
    pub fn track(&mut self, recursion: &mut Recursion, judged: &Judged, y: &[f32; BANDS], n: u32, p: &ModelParams) {
        let u = &judged.gain_direction;
        let e = &judged.expected;
        let gain = 1.0 / (1.0 + judged.leverage);
        for i in 0..TERMS {
            for j in i..TERMS {
                recursion.inverse[packed(i, j)] -= u[i] * u[j] * gain;
            }
        }
        let per_dof = 1.0 / (n as f32 - TERMS as f32).max(1.0);
        let floor = p.min_rmse * p.min_rmse;
        let mut step = [0.0f32; BANDS];
        for b in 0..BANDS {
            let residual = y[b] - e[b];
            step[b] = residual * gain;
            recursion.objective[b] += residual * step[b];
        }
        let mut penalty = [0.0f32; BANDS];
        for i in 0..TERMS {
            for b in 0..BANDS {
                let c = self.coef[b * TERMS + i] + u[i] * step[b];
                self.coef[b * TERMS + i] = c;
                if i > 0 {
                    penalty[b] += c * c;
                }
            }
        }
        for b in 0..BANDS {
            let v = (recursion.objective[b] - p.ridge * penalty[b]) * per_dof;
            self.variance[b] = if v > floor { v } else { floor };
        }
    }

    /// A^-1 of the ridge-regularized normal matrix over the first `m` terms (upper triangle, zero
    /// beyond `m`); `None` when it is not positive definite.
    pub fn inverse(&self, m: usize, ridge: f32) -> Option<[f32; PACKED]> {
        let l = self.cholesky(m, ridge)?;
        // W = L^-1, lower triangular, by forward substitution on the unit columns.
        let mut w = [0.0f32; TERMS * TERMS];
        for i in 0..m {
            let d = 1.0 / l[i * TERMS + i];
            for j in 0..=i {
                let mut sum = if i == j { 1.0f32 } else { 0.0 };
                for k in j..i {
                    sum -= l[i * TERMS + k] * w[k * TERMS + j];
                }
                w[i * TERMS + j] = sum * d;
            }
        }
        // A^-1 = W' W.
        let mut inv = [0.0f32; PACKED];
        for i in 0..m {
            for j in i..m {
                let mut sum = 0.0f32;
                for k in j..m {
                    sum += w[k * TERMS + i] * w[k * TERMS + j];
                }
                inv[packed(i, j)] = sum;
            }
        }
        Some(inv)
    }

    /// Cholesky factor L (row-major lower triangle) of A = X'X + ridge over the first `m` terms (the mean
    /// is not penalized); `None` when A is not positive definite.
    fn cholesky(&self, m: usize, ridge: f32) -> Option<[f32; TERMS * TERMS]> {
        let mut l = [0.0f32; TERMS * TERMS];
        for i in 0..m {
            for j in 0..=i {
                let mut sum = self.xtx[packed(j, i)];
                if i == j && i > 0 {
                    sum += ridge;
                }
                for k in 0..j {
                    sum -= l[i * TERMS + k] * l[j * TERMS + k];
                }
                if i == j {
                    if sum.is_nan() || sum <= 0.0 {
                        return None;
                    }
                    l[i * TERMS + i] = sum.sqrt();
                } else {
                    l[i * TERMS + j] = sum / l[j * TERMS + j];
                }
            }
        }
        Some(l)
    }

    /// The leverage of a new observation with terms `x`: x' A^-1 x. The variance of its residual is
    /// the model's (RMSE^2) times 1 + leverage: a year of monthly observations pins the seasons down
    /// far less than a decade of them, and a date far from the fitted ones less than one among them.
    pub fn leverage(&self, x: &[f32; TERMS], p: &ModelParams) -> f32 {
        let Some(l) = self.cholesky(TERMS, p.ridge) else { return 0.0 };
        let mut z = [0.0f32; TERMS];
        let mut h = 0.0f32;
        for i in 0..TERMS {
            let mut sum = x[i];
            for k in 0..i {
                sum -= l[i * TERMS + k] * z[k];
            }
            z[i] = sum / l[i * TERMS + i];
            h += z[i] * z[i];
        }
        h
    }

    /// The model's expectation of every band for regression terms `x`.
    #[inline]
    pub fn predict(&self, x: &[f32; TERMS]) -> [f32; BANDS] {
        let mut out = [0.0f32; BANDS];
        for (b, o) in out.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for i in 0..TERMS {
                sum += self.coef[b * TERMS + i] * x[i];
            }
            *o = sum;
        }
        out
    }

    /// Mean squared standardized residual of `y` against the expectation `expected` over the bands
    /// measured (`bands`: 6 with SWIR, 4 without), each residual's variance being RMSE^2 (1 + leverage).
    #[inline]
    pub fn departure(&self, y: &[f32; BANDS], expected: &[f32; BANDS], bands: usize, leverage: f32) -> f32 {
        let inflation = 1.0 + leverage;
        let mut sum = 0.0f32;
        for b in 0..bands {
            let r = y[b] - expected[b];
            sum += r * r / (self.variance[b] * inflation);
        }
        sum / bands as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vegetated pixel: NIR swings with the season around 0.3, red against it, a little noise.
    fn crop(day: i32, noise: f32) -> [f32; BANDS] {
        let s = season_terms(day);
        let g = 0.5 + 0.4 * s[0];
        [0.04 + noise, 0.07, 0.12 - 0.08 * g + noise, 0.2 + 0.2 * g - noise, 0.25 - 0.05 * g, 0.18 - 0.08 * g]
    }

    #[test]
    fn packed_indices_cover_the_upper_triangle_once() {
        let mut seen = [false; PACKED];
        for i in 0..TERMS {
            for j in i..TERMS {
                assert!(!seen[packed(i, j)]);
                seen[packed(i, j)] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn the_fit_reproduces_a_seasonal_cycle_and_judges_a_stripped_field() {
        let p = ModelParams::default();
        let mut fit = SegmentFit::default();
        let start = 18000;
        let mut n = 0;
        for k in 0..30 {
            let day = start + k * 30;
            let noise = if k % 2 == 0 { 0.004 } else { -0.004 };
            fit.add(&terms(&season_terms(day), day, start), &crop(day, noise));
            n += 1;
        }
        let recursion = fit.fit(TERMS, n, &p).expect("positive definite");
        let day = start + 30 * 30 + 7;
        let expected = fit.predict(&terms(&season_terms(day), day, start));
        for (e, t) in expected.iter().zip(crop(day, 0.0)) {
            assert!((e - t).abs() < 0.01, "{expected:?} against {:?}", crop(day, 0.0));
        }
        let h = fit.leverage(&terms(&season_terms(day), day, start), &p);
        assert!(h > 0.0 && h < 1.0, "leverage {h}");
        assert!(fit.departure(&crop(day, 0.0), &expected, BANDS, h) < p.change_score, "the season is no change");
        let soil = [0.10, 0.14, 0.19, 0.24, 0.32, 0.26];
        assert!(fit.departure(&soil, &expected, BANDS, h) > 10.0 * p.change_score, "stripped to soil");
        let x = terms(&season_terms(day), day, start);
        let judged = fit.judge(&recursion, &x);
        assert!((judged.leverage - h).abs() <= 1e-4 * h, "the kept inverse gives the same leverage");
        assert_eq!(judged.expected, expected);
        let far = start + 30 * 365;
        assert!(fit.leverage(&terms(&season_terms(far), far, start), &p) > 5.0 * h, "a date decades away");
        assert!(fit.variance.iter().all(|v| *v >= p.min_rmse * p.min_rmse));
    }

    #[test]
    fn the_recursive_update_is_the_refit_of_the_sums() {
        let p = ModelParams::default();
        let mut fit = SegmentFit::default();
        let start = 18000;
        let day_of = |k: i32| start + k * 30 + (k * 7) % 11;
        let look = |k: i32| crop(day_of(k), if k % 3 == 0 { 0.006 } else { -0.003 });
        for k in 0..12 {
            fit.add(&terms(&season_terms(day_of(k)), day_of(k), start), &look(k));
        }
        let mut recursion = fit.fit(TERMS, 12, &p).unwrap();
        for k in 12..24 {
            let x = terms(&season_terms(day_of(k)), day_of(k), start);
            let judged = fit.judge(&recursion, &x);
            fit.add(&x, &look(k));
            fit.track(&mut recursion, &judged, &look(k), k as u32 + 1, &p);
        }
        let mut exact = fit;
        let exact_recursion = exact.fit(TERMS, 24, &p).unwrap();
        for (a, b) in fit.coef.iter().zip(exact.coef) {
            assert!((a - b).abs() < 1e-4, "{:?} against {:?}", fit.coef, exact.coef);
        }
        for (a, b) in fit.variance.iter().zip(exact.variance) {
            assert!((a - b).abs() < 1e-6, "{:?} against {:?}", fit.variance, exact.variance);
        }
        for (a, b) in recursion.inverse.iter().zip(exact_recursion.inverse) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{recursion:?} against {exact_recursion:?}");
        }
        for (a, b) in recursion.objective.iter().zip(exact_recursion.objective) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{recursion:?} against {exact_recursion:?}");
        }
    }

    #[test]
    fn refits_come_when_the_segment_has_a_third_more_looks() {
        assert!(refit_due(16, 12) && !refit_due(15, 12));
        assert!(!refit_due(25, 24) && !refit_due(31, 24) && refit_due(32, 24));
        assert!(refit_due(500, 0), "no fit kept yet");
        let mut fitted = 12;
        let mut refits = 0;
        for n in 13..=724 {
            if refit_due(n, fitted) {
                fitted = n;
                refits += 1;
            }
        }
        assert!(refits < 40, "{refits} refits over a Landsat record");
    }

    #[test]
    fn the_mean_model_and_a_singular_matrix() {
        let p = ModelParams::default();
        let mut fit = SegmentFit::default();
        for k in 0..6 {
            let day = 19000 + k * 30;
            fit.add(&terms(&season_terms(day), day, 19000), &[0.1, 0.14, 0.19, 0.24, 0.32, 0.26]);
        }
        assert!(fit.fit(1, 6, &p).is_some());
        assert!((fit.coef[2 * TERMS] - 0.19).abs() < 1e-6, "{:?}", fit.coef);
        assert_eq!(fit.variance, [p.min_rmse * p.min_rmse; BANDS]);
        assert!(SegmentFit::default().fit(TERMS, 0, &ModelParams { ridge: 0.0, ..p }).is_none(), "no observations");
    }
}
