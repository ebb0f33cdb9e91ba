//! Relative radiometric normalization fitted on pixels that did not change (pseudo-invariant features).
//!
//! Matching each band's global mean and standard deviation lets the changed ground drag the fit; on the
//! Taizhou Landsat pair it tops out at kappa 0.91. Here the fit is iterated: fit, measure change, keep the
//! pixels below Otsu's cut as the invariant set, refit on them only (after Canty and Nielsen's
//! iteratively re-weighted idea, with a hard no-change set).
//!
//! A Sentinel-2 tile has 120 million pixels; a linear fit per band needs far fewer, and decoding the
//! whole scene once more for every iteration would cost more than the rest of the job. Large scenes are
//! fitted on a sample of whole squares of the grid spread over the scene ([`FitSample`]), decoded once;
//! the fit is then applied to every pixel.

use std::ops::Range;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use super::threshold::otsu;
use crate::compute::{Backend, PairMoments};
use crate::error::Result;
use crate::raster::{BandRole, BandStack};

/// The linear map from the later date's values onto the earlier date's radiometry, for one band.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BandFit {
    /// The band.
    pub band: BandRole,
    /// Multiplier applied to the later date.
    pub gain: f64,
    /// Added after the gain.
    pub offset: f64,
    /// Correlation of the two dates over the invariant pixels.
    pub correlation: f64,
}

/// What the normalization did, for the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Normalization {
    /// Per-band fits.
    pub bands: Vec<BandFit>,
    /// Share of the commonly valid pixels used as invariant in the final fit.
    pub invariant_fraction: f64,
    /// Fit iterations run.
    pub iterations: usize,
}

/// The pixels the normalization is fitted on: squares of `side` pixels of the grid (the last row and
/// column of squares cut by the grid's edge), all of them in scenes of at most twice the target size,
/// else about one in `k` so that they hold about the target number of pixels. A square is taken when
/// `(column + 7 row) mod k` is 0: a diagonal lattice, so that every row and every column of squares has
/// its share and no stripe of the scene is left out. Whole squares of 512 pixels are whole blocks of a
/// Sentinel-2 COG: the sample costs its own blocks' decoding and nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitSample {
    /// Grid height.
    pub height: usize,
    /// Grid width.
    pub width: usize,
    /// Side of a square.
    pub side: usize,
    /// Every square of the grid is in the sample.
    pub whole: bool,
    /// The squares taken (row and column of the square), in raster order.
    pub squares: Vec<(usize, usize)>,
}

impl FitSample {
    /// The sample for a grid of `height` x `width` under `options`.
    pub fn of(height: usize, width: usize, options: &super::ChangeOptions) -> FitSample {
        let side = options.fit_sample_side.max(1);
        let (rows, cols) = (height.div_ceil(side), width.div_ceil(side));
        let pixels = height * width;
        let target = options.fit_sample_pixels.max(1);
        let whole = pixels <= target.saturating_mul(2);
        let every = if whole { 1 } else { pixels.div_ceil(target) };
        let squares =
            (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).filter(|(r, c)| (c + 7 * r) % every == 0).collect();
        FitSample { height, width, side, whole, squares }
    }

    /// Rows and columns of the grid that square `(row, col)` covers.
    pub fn window(&self, (row, col): (usize, usize)) -> (Range<usize>, Range<usize>) {
        let rows = row * self.side..((row + 1) * self.side).min(self.height);
        let cols = col * self.side..((col + 1) * self.side).min(self.width);
        (rows, cols)
    }

    /// 1 on the sampled pixels, 0 elsewhere.
    pub fn mask(&self) -> Array2<u8> {
        let mut mask = Array2::<u8>::zeros((self.height, self.width));
        for square in &self.squares {
            let (rows, cols) = self.window(*square);
            mask.slice_mut(ndarray::s![rows, cols]).fill(1);
        }
        mask
    }
}

/// Fits and applies the normalization: returns the later date mapped onto the earlier one. The fit sees
/// the pixels of `sample` only; Otsu's cut between iterations is taken over them too.
pub fn normalize(
    backend: &dyn Backend,
    before: &BandStack,
    after: &BandStack,
    iterations: usize,
    sample: &FitSample,
) -> Result<(BandStack, Normalization)> {
    let (h, w) = (before.height(), before.width());
    let mask = (!sample.whole).then(|| sample.mask());
    let mut weights = mask.clone().unwrap_or_else(|| Array2::<u8>::from_elem((h, w), 1));
    let mut fitted = after.clone();
    let mut report = Normalization { bands: Vec::new(), invariant_fraction: 1.0, iterations: 0 };
    let common = ndarray::Zip::from(&before.valid)
        .and(&after.valid)
        .and(&weights)
        .fold(0usize, |n, a, b, s| n + usize::from(*a != 0 && *b != 0 && *s != 0))
        .max(1);
    for iteration in 0..iterations.max(1) {
        let moments = backend.pair_moments(before, after, weights.view())?;
        let fits = fit_bands(&moments, &before.roles);
        fitted = after.clone();
        let (gains, offsets) = gains_and_offsets(&fits);
        backend.linear(&mut fitted, &gains, &offsets)?;
        report.bands = fits;
        report.iterations = iteration + 1;
        if iteration + 1 == iterations.max(1) {
            break;
        }
        let mut magnitude = backend.change_magnitude(before, &fitted)?;
        if let Some(mask) = &mask {
            ndarray::Zip::from(&mut magnitude).and(mask).par_for_each(|m, s| {
                if *s == 0 {
                    *m = f32::NAN;
                }
            });
        }
        let Some(cut) = otsu(backend, magnitude.view())? else { break };
        let mag = magnitude.as_slice().expect("standard layout");
        weights
            .as_slice_mut()
            .expect("standard layout")
            .par_iter_mut()
            .zip(mag.par_iter())
            .for_each(|(w, m)| *w = u8::from(m.is_finite() && *m < cut));
        let kept = weights.iter().filter(|w| **w != 0).count();
        report.invariant_fraction = kept as f64 / common as f64;
    }
    Ok((fitted, report))
}

/// The fit of each band from its moments over the invariant pixels.
pub fn fit_bands(moments: &[PairMoments], roles: &[BandRole]) -> Vec<BandFit> {
    moments
        .iter()
        .zip(roles)
        .map(|(m, role)| match m.stats() {
            // Reduced major axis: symmetric in the two dates, so noise in either does not bias the gain.
            Some((mx, my, sx, sy, r)) if sy > 0.0 => {
                let gain = sx / sy;
                BandFit { band: *role, gain, offset: mx - gain * my, correlation: r }
            }
            _ => BandFit { band: *role, gain: 1.0, offset: 0.0, correlation: 0.0 },
        })
        .collect()
}

/// The fits as the gains and offsets the `linear` kernel applies to the later date.
pub fn gains_and_offsets(fits: &[BandFit]) -> (Vec<f32>, Vec<f32>) {
    (fits.iter().map(|f| f.gain as f32).collect(), fits.iter().map(|f| f.offset as f32).collect())
}
