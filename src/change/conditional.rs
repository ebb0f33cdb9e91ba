//! What the later image usually looks like where the earlier one had a given colour, learned from the
//! pair itself, and how far each pixel departs from it.
//!
//! Two dates of RGB imagery differ everywhere: season, sun, camera and processing change every colour,
//! and not by one global gain per band (a green field may turn brown or stay green; a roof stays a
//! roof). Grouping pixels by their earlier colour and asking what the later image holds for each group
//! (after the radiometric mapping-by-colour of Benedek and Szirányi 2009) takes the common,
//! colour-dependent differences out; what is left is change. Two measures are kept:
//!
//! - signed residuals of one feature (brightness, chroma) against its mean for the pixel's colour group,
//!   tolerant of a pixel or two of misregistration;
//! - the Mahalanobis distance of a pixel's later colour from its group's robust mean and covariance
//!   (trimmed, so that a group's changed pixels do not define its spread): how rare the transition is.

use ndarray::{Array2, ArrayView2};

/// The colour group of every pixel of a smoothed three-band image: each band (0..1) cut into `levels`
/// equal steps, `u32::MAX` where a band is not finite.
#[derive(Debug, Clone)]
pub struct ColourGroups {
    /// Group per pixel.
    pub group: Array2<u32>,
    /// Number of possible groups (`levels` cubed).
    pub count: usize,
}

impl ColourGroups {
    /// Groups from three planes of values in 0..1.
    pub fn new(planes: [ArrayView2<f32>; 3], levels: usize) -> ColourGroups {
        let q = levels.max(1);
        let step = |v: f32| ((v.clamp(0.0, 0.9999) * q as f32) as usize).min(q - 1);
        let group = Array2::from_shape_fn(planes[0].dim(), |(r, c)| {
            let (a, b, d) = (planes[0][[r, c]], planes[1][[r, c]], planes[2][[r, c]]);
            if a.is_finite() && b.is_finite() && d.is_finite() {
                ((step(a) * q + step(b)) * q + step(d)) as u32
            } else {
                u32::MAX
            }
        });
        ColourGroups { group, count: q * q * q }
    }

    /// Each pixel's group mean of `values` (NaN outside any group or where the group has no finite
    /// value).
    pub fn group_mean(&self, values: ArrayView2<f32>) -> Array2<f32> {
        let mut sum = vec![0f64; self.count];
        let mut n = vec![0u32; self.count];
        for (g, v) in self.group.iter().zip(values.iter()) {
            if *g != u32::MAX && v.is_finite() {
                sum[*g as usize] += *v as f64;
                n[*g as usize] += 1;
            }
        }
        let mean: Vec<f32> =
            sum.iter().zip(&n).map(|(s, c)| if *c > 0 { (*s / *c as f64) as f32 } else { f32::NAN }).collect();
        self.group.mapv(|g| if g == u32::MAX { f32::NAN } else { mean[g as usize] })
    }
}

/// `values - expected`, where `expected` may come from any pixel within `radius` (the smallest residual
/// in magnitude wins, sign kept): a pixel or two of misregistration between the dates must not make
/// every edge a change.
pub fn tolerant_residual(values: ArrayView2<f32>, expected: ArrayView2<f32>, radius: usize) -> Array2<f32> {
    let (h, w) = values.dim();
    let r = radius as isize;
    Array2::from_shape_fn((h, w), |(row, col)| {
        let v = values[[row, col]];
        if !v.is_finite() {
            return f32::NAN;
        }
        let mut best = f32::NAN;
        for dy in -r..=r {
            for dx in -r..=r {
                let (y, x) = (row as isize + dy, col as isize + dx);
                if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                    continue;
                }
                let e = expected[[y as usize, x as usize]];
                let d = v - e;
                if d.is_finite() && (best.is_nan() || d.abs() < best.abs()) {
                    best = d;
                }
            }
        }
        best
    })
}

/// Robust mean and covariance of three-feature samples: `iterations` rounds of fitting, then keeping
/// the `1 - trim` share closest (in Mahalanobis distance) to the fit. Returns the mean, the inverse
/// covariance, or `None` for fewer than four samples.
fn robust_fit(samples: &[[f64; 3]], trim: f64, iterations: usize) -> Option<([f64; 3], [[f64; 3]; 3])> {
    if samples.len() < 4 {
        return None;
    }
    let mut keep: Vec<bool> = vec![true; samples.len()];
    let mut fit = None;
    for round in 0..iterations.max(1) {
        let kept: Vec<&[f64; 3]> = samples.iter().zip(&keep).filter(|(_, k)| **k).map(|(s, _)| s).collect();
        let n = kept.len() as f64;
        let mut mean = [0f64; 3];
        for s in &kept {
            for k in 0..3 {
                mean[k] += s[k] / n;
            }
        }
        let mut cov = [[0f64; 3]; 3];
        for s in &kept {
            for i in 0..3 {
                for j in 0..3 {
                    cov[i][j] += (s[i] - mean[i]) * (s[j] - mean[j]) / (n - 1.0).max(1.0);
                }
            }
        }
        for (i, row) in cov.iter_mut().enumerate() {
            row[i] += 1e-6;
        }
        let inverse = invert3(&cov)?;
        fit = Some((mean, inverse));
        if round + 1 == iterations.max(1) {
            break;
        }
        let d: Vec<f64> = samples.iter().map(|s| mahalanobis2(s, &mean, &inverse)).collect();
        let mut sorted = d.clone();
        let cut_index = (((1.0 - trim) * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
        let (_, cut, _) = sorted.select_nth_unstable_by(cut_index, |a, b| a.total_cmp(b));
        let cut = *cut;
        keep = d.iter().map(|v| *v <= cut).collect();
    }
    fit
}

fn mahalanobis2(s: &[f64; 3], mean: &[f64; 3], inverse: &[[f64; 3]; 3]) -> f64 {
    let d = [s[0] - mean[0], s[1] - mean[1], s[2] - mean[2]];
    let mut total = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            total += d[i] * inverse[i][j] * d[j];
        }
    }
    total.max(0.0)
}

fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-300 || !det.is_finite() {
        return None;
    }
    let inv = |a: usize, b: usize, c: usize, d: usize| (m[a][b] * m[c][d] - m[a][d] * m[c][b]) / det;
    Some([
        [inv(1, 1, 2, 2), -inv(0, 1, 2, 2), inv(0, 1, 1, 2)],
        [-inv(1, 0, 2, 2), inv(0, 0, 2, 2), -inv(0, 0, 1, 2)],
        [inv(1, 0, 2, 1), -inv(0, 0, 2, 1), inv(0, 0, 1, 1)],
    ])
}

/// How rare each pixel's later features (three planes) are for its colour group: the Mahalanobis
/// distance from the group's robust mean and covariance. Groups with fewer than `min_group` pixels use
/// the fit of the whole image. NaN where a feature or the group is missing.
pub fn rarity(groups: &ColourGroups, features: [ArrayView2<f32>; 3], min_group: usize, trim: f64) -> Array2<f32> {
    const ROUNDS: usize = 3;
    let (h, w) = groups.group.dim();
    let sample = |r: usize, c: usize| -> Option<[f64; 3]> {
        let v = [features[0][[r, c]], features[1][[r, c]], features[2][[r, c]]];
        v.iter().all(|x| x.is_finite()).then(|| [v[0] as f64, v[1] as f64, v[2] as f64])
    };
    let mut members: Vec<Vec<(usize, [f64; 3])>> = vec![Vec::new(); groups.count];
    let mut all: Vec<[f64; 3]> = Vec::new();
    for r in 0..h {
        for c in 0..w {
            let g = groups.group[[r, c]];
            if let (true, Some(s)) = (g != u32::MAX, sample(r, c)) {
                members[g as usize].push((r * w + c, s));
                all.push(s);
            }
        }
    }
    let whole = robust_fit(&all, trim, ROUNDS);
    let mut out = Array2::<f32>::from_elem((h, w), f32::NAN);
    let flat = out.as_slice_mut().expect("standard layout");
    for group in &members {
        if group.is_empty() {
            continue;
        }
        let samples: Vec<[f64; 3]> = group.iter().map(|(_, s)| *s).collect();
        let fit = if group.len() >= min_group { robust_fit(&samples, trim, ROUNDS).or(whole) } else { whole };
        let Some((mean, inverse)) = fit else { continue };
        for (i, s) in group {
            flat[*i] = mahalanobis2(s, &mean, &inverse).sqrt() as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_means_take_out_colour_dependent_differences() {
        // Two colours before; after, the dark one turned bright everywhere (season), except one pixel.
        let before = Array2::from_shape_fn((4, 4), |(_, c)| if c < 2 { 0.1f32 } else { 0.8 });
        let mut after = Array2::from_shape_fn((4, 4), |(_, c)| if c < 2 { 0.5f32 } else { 0.8 });
        after[[0, 0]] = 0.9;
        let groups = ColourGroups::new([before.view(), before.view(), before.view()], 12);
        let expected = groups.group_mean(after.view());
        // Seven pixels of 0.5 and one of 0.9 in the dark group.
        assert!((expected[[3, 0]] - 0.55).abs() < 1e-6);
        let residual = tolerant_residual(after.view(), expected.view(), 0);
        assert!(residual[[0, 0]] > 0.3 && residual[[3, 1]].abs() < 0.06 && residual[[2, 3]].abs() < 1e-6);
    }

    #[test]
    fn tolerance_forgives_a_shifted_edge() {
        let values = Array2::from_shape_fn((3, 6), |(_, c)| if c >= 3 { 1.0f32 } else { 0.0 });
        let expected = Array2::from_shape_fn((3, 6), |(_, c)| if c >= 4 { 1.0f32 } else { 0.0 });
        assert_eq!(tolerant_residual(values.view(), expected.view(), 0)[[1, 3]], 1.0);
        assert_eq!(tolerant_residual(values.view(), expected.view(), 1)[[1, 3]], 0.0);
    }

    #[test]
    fn rare_transitions_stand_out_and_trimming_ignores_them() {
        // One colour group; 95 pixels stay close to (0.5, 0.1, 0.0), 5 become (0.9, -0.2, 0.3).
        let mut f = [Array2::<f32>::zeros((10, 10)), Array2::<f32>::zeros((10, 10)), Array2::<f32>::zeros((10, 10))];
        for i in 0..100 {
            let (r, c) = (i / 10, i % 10);
            let jitter = ((i * 37) % 11) as f32 / 11.0 * 0.02 - 0.01;
            let v = if i % 20 == 0 { [0.9, -0.2, 0.3] } else { [0.5 + jitter, 0.1 - jitter, jitter * 0.5] };
            for k in 0..3 {
                f[k][[r, c]] = v[k];
            }
        }
        let before = Array2::<f32>::from_elem((10, 10), 0.3);
        let groups = ColourGroups::new([before.view(), before.view(), before.view()], 8);
        let d = rarity(&groups, [f[0].view(), f[1].view(), f[2].view()], 30, 0.2);
        assert!(d[[0, 0]] > 20.0, "rare: {}", d[[0, 0]]);
        assert!(d[[0, 1]] < 4.0, "common: {}", d[[0, 1]]);
    }

    #[test]
    fn a_3x3_inverse_is_an_inverse() {
        let m = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let inv = invert3(&m).unwrap();
        for (i, row) in m.iter().enumerate() {
            for j in 0..3 {
                let p: f64 = row.iter().zip(&inv).map(|(a, inv_row)| a * inv_row[j]).sum();
                assert!((p - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }
}
