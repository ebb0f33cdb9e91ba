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
    /// RMSE of the latest fit per band (already floored).
    pub rmse: [f32; BANDS],
}

impl Default for SegmentFit {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
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
    /// keeps the coefficients and the floored RMSE. Returns false (and keeps nothing) when the normal
    /// matrix is not positive definite.
    pub fn fit(&mut self, m: usize, n: u32, p: &ModelParams) -> bool {
        let Some(l) = self.cholesky(m, p.ridge) else { return false };
        let dof = (n as f32 - m as f32).max(1.0);
        let mut coef = [0.0f32; BANDS * TERMS];
        let mut rmse = [0.0f32; BANDS];
        for b in 0..BANDS {
            // Forward then back substitution.
            let mut z = [0.0f32; TERMS];
            for i in 0..m {
                let mut sum = self.xty[b * TERMS + i];
                for k in 0..i {
                    sum -= l[i * TERMS + k] * z[k];
                }
                z[i] = sum / l[i * TERMS + i];
            }
            let mut c = [0.0f32; TERMS];
            for i in (0..m).rev() {
                let mut sum = z[i];
                for k in i + 1..m {
                    sum -= l[k * TERMS + i] * c[k];
                }
                c[i] = sum / l[i * TERMS + i];
            }
            // RSS = y'y - 2 c'X'y + c'X'X c, from the sums (the ridge is not part of the residuals).
            let mut cxy = 0.0f32;
            let mut cxxc = 0.0f32;
            for i in 0..m {
                cxy += c[i] * self.xty[b * TERMS + i];
                let mut row = 0.0f32;
                for j in 0..m {
                    let a = if i <= j { self.xtx[packed(i, j)] } else { self.xtx[packed(j, i)] };
                    row += a * c[j];
                }
                cxxc += c[i] * row;
            }
            let rss = self.yty[b] - 2.0 * cxy + cxxc;
            let rss = if rss > 0.0 { rss } else { 0.0 };
            let r = (rss / dof).sqrt();
            rmse[b] = if r > p.min_rmse { r } else { p.min_rmse };
            coef[b * TERMS..b * TERMS + TERMS].copy_from_slice(&c);
        }
        self.coef = coef;
        self.rmse = rmse;
        true
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
            sum += r * r / (self.rmse[b] * self.rmse[b] * inflation);
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
        assert!(fit.fit(TERMS, n, &p));
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
        let far = start + 30 * 365;
        assert!(fit.leverage(&terms(&season_terms(far), far, start), &p) > 5.0 * h, "a date decades away");
        assert!(fit.rmse.iter().all(|r| *r >= p.min_rmse));
    }

    #[test]
    fn the_mean_model_and_a_singular_matrix() {
        let p = ModelParams::default();
        let mut fit = SegmentFit::default();
        for k in 0..6 {
            let day = 19000 + k * 30;
            fit.add(&terms(&season_terms(day), day, 19000), &[0.1, 0.14, 0.19, 0.24, 0.32, 0.26]);
        }
        assert!(fit.fit(1, 6, &p));
        assert!((fit.coef[2 * TERMS] - 0.19).abs() < 1e-6, "{:?}", fit.coef);
        assert_eq!(fit.rmse, [p.min_rmse; BANDS]);
        assert!(!SegmentFit::default().fit(TERMS, 0, &ModelParams { ridge: 0.0, ..p }), "no observations");
    }
}
