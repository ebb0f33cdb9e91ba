//! Bi-temporal change detection: normalize, measure, threshold, name the kind, clean up.
//!
//! 1. The later date is normalized onto the earlier one on pseudo-invariant pixels (`normalize`).
//! 2. The change statistic is the root-mean-square reflectance difference across bands, averaged over
//!    each pixel's 3x3 neighbourhood: real change covers several pixels, noise and misregistration
//!    do not (on Taizhou this alone moves kappa from 0.92 to 0.95).
//! 3. The threshold is Kittler and Illingworth's minimum-error cut on that statistic (Otsu's where it
//!    has none), but never below a floor (`min_change_rms`) that sensor noise and atmosphere stay under,
//!    so a pair without change does not get half its pixels flagged by a threshold forced into a
//!    unimodal histogram. Otsu's cut assumes two classes of similar size and spread; change is a few
//!    percent of the pixels and far more spread out, so Otsu cuts inside it and loses weak change (on
//!    Taizhou kappa 0.954 with Otsu, 0.981 with the minimum-error cut; see `threshold`).
//! 4. Each changed pixel's kind follows from its classes on the two dates (`kinds`); the ring that the
//!    smoothing adds around a change takes that change's kind; regions below the minimum mapping unit
//!    are dropped, and kind fragments below it join their neighbour.
//!
//! Imagery with red, green and blue only (drone orthomosaics, aerial photographs) has no NIR or SWIR
//! for indices and its colours shift with season and camera; it goes to the RGB detector (`rgb`):
//! change as departure from what ground of the same earlier colour usually became, over segments,
//! cut at Kapur's maximum entropy.

pub mod conditional;
pub mod dark_object;
pub mod evidence;
pub mod kinds;
pub mod normalize;
pub mod rgb;
pub mod segments;
pub mod threshold;

use ndarray::{Array2, Zip};
use serde::{Deserialize, Serialize};

use crate::compute::Backend;
use crate::error::Result;
use crate::raster::BandStack;
use crate::spectral::{ClassRules, IndexStack, LandClass};
use crate::vectorize::{merge_small, remove_small};
pub use kinds::{CHANGE_PALETTE, ChangeCode, absorb_halo, change_kind};
pub use normalize::Normalization;

/// Settings of the change detector. Defaults are what every user gets; none is tuned to one dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeOptions {
    /// Class rules for naming the kind of change.
    pub rules: ClassRules,
    /// Fit iterations of the invariant-pixel normalization.
    pub normalization_iterations: usize,
    /// Scenes of more than twice this many pixels fit the normalization on squares of the grid spread over
    /// the scene that hold about this many pixels (see [`normalize::FitSample`]); smaller ones on every pixel.
    pub fit_sample_pixels: usize,
    /// Side in pixels of the squares the normalization is fitted on in large scenes.
    pub fit_sample_side: usize,
    /// Radius of the neighbourhood mean of the change statistic (1 = 3x3).
    pub smoothing_radius: usize,
    /// Smallest threshold on the RMS reflectance difference, whatever the automatic cut says.
    pub min_change_rms: f32,
    /// Minimum mapping unit in square metres.
    pub min_area_m2: f64,
    /// Minimum mapping unit in pixels, whatever the pixel size.
    pub min_pixels: usize,
    /// Pixels of misregistration tolerated when a date had to be warped onto the analysis grid.
    pub misregistration_tolerance_px: usize,
    /// Settings of the detector for imagery with red, green and blue only (`rgb`).
    pub rgb: rgb::RgbChangeOptions,
    /// Inputs whose pixels are the analysis grid's are streamed in strips (see
    /// [`crate::jobs::change::stream`]): the same result as the whole-scene detector, in memory bounded
    /// by the strips and a few bytes per pixel.
    /// False reads both dates whole, as [`detect`] needs them.
    pub streaming: bool,
    /// Rows the streaming path decodes at a time (and half as many per piece it processes); 0 decodes whole
    /// rows of the inputs' blocks, at least 64 rows.
    pub strip_rows: usize,
    /// Pixels above the noise floor whose classes and indices the streaming path keeps (about 70 bytes
    /// each) to name and describe the changes from; a pair with more reads the strips that hold changes
    /// once more instead, and works on the whole rasters.
    pub kept_pixels: usize,
}

impl Default for ChangeOptions {
    fn default() -> Self {
        ChangeOptions {
            rules: ClassRules::default(),
            normalization_iterations: 3,
            fit_sample_pixels: 4 << 20,
            fit_sample_side: 512,
            smoothing_radius: 1,
            min_change_rms: 0.03,
            min_area_m2: 500.0,
            min_pixels: 4,
            misregistration_tolerance_px: 1,
            rgb: rgb::RgbChangeOptions::default(),
            streaming: true,
            strip_rows: 0,
            kept_pixels: 6 << 20,
        }
    }
}

impl ChangeOptions {
    /// The minimum mapping unit in pixels for pixels of `pixel_area` square metres (0 for pixel grids).
    pub fn min_region_pixels(&self, pixel_area: Option<f64>) -> usize {
        let by_area = pixel_area.filter(|a| *a > 0.0).map_or(0, |a| (self.min_area_m2 / a).ceil() as usize);
        by_area.max(self.min_pixels).max(1)
    }
}

/// Everything the detector decided, per pixel and overall.
#[derive(Debug, Clone)]
pub struct ChangeDetection {
    /// `ChangeCode` per pixel after the minimum mapping unit.
    pub codes: Array2<u8>,
    /// The smoothed change statistic (RMS reflectance difference), NaN where invalid.
    pub magnitude: Array2<f32>,
    /// The threshold applied.
    pub threshold: f32,
    /// Otsu's cut before the floor (for comparison; the minimum-error cut decides where there is one).
    pub otsu_threshold: Option<f32>,
    /// The minimum-error cut before the floor.
    pub min_error_threshold: Option<f32>,
    /// Classes on the earlier date.
    pub classes_before: Array2<u8>,
    /// Classes on the later date.
    pub classes_after: Array2<u8>,
    /// Indices on the earlier date.
    pub indices_before: IndexStack,
    /// Indices on the later (normalized) date.
    pub indices_after: IndexStack,
    /// What the normalization did.
    pub normalization: Normalization,
    /// Pixels valid on both dates.
    pub valid_pixels: usize,
}

/// Runs the detector on two stacks of reflectance on one grid. `region_keys`, when given, splits regions
/// (e.g. by plot: pixels with key 0 are outside every plot and cannot change); `min_pixels` is the
/// minimum mapping unit; `tolerance_px` (for dates that had to be warped onto the grid) compares each
/// later pixel with the closest earlier one within that many pixels, see [`tolerant_magnitude`].
pub fn detect(
    backend: &dyn Backend,
    before: &BandStack,
    after: &BandStack,
    region_keys: Option<&Array2<u32>>,
    min_pixels: usize,
    tolerance_px: usize,
    options: &ChangeOptions,
) -> Result<ChangeDetection> {
    let sample = normalize::FitSample::of(before.height(), before.width(), options);
    let (normalized, normalization) =
        normalize::normalize(backend, before, after, options.normalization_iterations, &sample)?;
    let raw = if tolerance_px > 0 {
        tolerant_magnitude(backend, before, &normalized, tolerance_px)?
    } else {
        backend.change_magnitude(before, &normalized)?
    };
    let magnitude = backend.box_mean(raw.view(), options.smoothing_radius)?;
    let otsu_threshold = threshold::otsu(backend, magnitude.view())?;
    let min_error_threshold = threshold::minimum_error(backend, magnitude.view())?;
    let threshold = min_error_threshold.or(otsu_threshold).unwrap_or(f32::INFINITY).max(options.min_change_rms);

    let indices_before = backend.indices(before)?;
    let indices_after = backend.indices(&normalized)?;
    let classes_before = backend.classify(before, &indices_before, &options.rules)?;
    let classes_after = backend.classify(&normalized, &indices_after, &options.rules)?;

    let mut pixel_codes = Array2::<u8>::zeros(magnitude.dim());
    Zip::from(&mut pixel_codes).and(&magnitude).and(&classes_before).and(&classes_after).par_for_each(
        |k, m, cb, ca| {
            if m.is_finite() && *m > threshold {
                let code = change_kind(LandClass::from_u8(*cb), LandClass::from_u8(*ca));
                if code != ChangeCode::NoData {
                    *k = code as u8;
                }
            }
        },
    );
    absorb_halo(&mut pixel_codes, classes_before.view(), classes_after.view(), options.smoothing_radius);
    // Region keys: the plot (or 1 everywhere) in the high bits, the change code in the low byte.
    let mut keys = pixel_codes.mapv(u32::from);
    if let Some(plots) = region_keys {
        Zip::from(&mut keys).and(plots).par_for_each(|k, p| *k = if *p == 0 { 0 } else { (*p << 8) | *k & 0xff });
        Zip::from(&mut keys).par_for_each(|k| {
            if *k & 0xff == 0 {
                *k = 0;
            }
        });
    } else {
        Zip::from(&mut keys).par_for_each(|k| {
            if *k != 0 {
                *k |= 1 << 8;
            }
        });
    }
    // Minimum mapping unit on "any change" within a plot, then kind fragments join their neighbours.
    let mut any = keys.mapv(|k| k >> 8);
    remove_small(&mut any, min_pixels);
    Zip::from(&mut keys).and(&any).par_for_each(|k, a| {
        if *a == 0 {
            *k = 0;
        }
    });
    merge_small(&mut keys, min_pixels, |a, b| a >> 8 == b >> 8);

    let valid_pixels = before.valid.iter().zip(after.valid.iter()).filter(|(a, b)| **a != 0 && **b != 0).count();
    let mut codes = Array2::<u8>::zeros(keys.dim());
    Zip::from(&mut codes).and(&keys).and(&magnitude).par_for_each(|c, k, m| {
        *c = if !m.is_finite() { ChangeCode::NoData as u8 } else { (*k & 0xff) as u8 };
    });
    Ok(ChangeDetection {
        codes,
        magnitude,
        threshold,
        otsu_threshold,
        min_error_threshold,
        classes_before,
        classes_after,
        indices_before,
        indices_after,
        normalization,
        valid_pixels,
    })
}

/// The change statistic tolerant of sub-pixel misregistration: for each pixel, the smallest difference
/// between the later date and the earlier date anywhere within `radius` pixels. A date warped from
/// another CRS is off by a fraction of a pixel and softened by resampling; edges of fields and roads
/// then differ pixel by pixel although nothing changed. On the fixture pair with its later date in
/// EPSG:4326 this takes the flags away from any event from 7 to 1 and keeps every event; on inputs that
/// already share a grid it is not used (it would cost the Taizhou pair 0.015 of kappa).
pub fn tolerant_magnitude(
    backend: &dyn Backend,
    before: &BandStack,
    after: &BandStack,
    radius: usize,
) -> Result<Array2<f32>> {
    let (bands, h, w) = before.data.dim();
    let r = radius as isize;
    let mut best = Array2::<f32>::from_elem((h, w), f32::INFINITY);
    let mut shifted = before.clone();
    for dy in -r..=r {
        for dx in -r..=r {
            shifted.data.fill(f32::NAN);
            shifted.valid.fill(0);
            // Rows and columns of the earlier date that land on the grid after the shift.
            let (r0, r1) = ((-dy).max(0) as usize, (h as isize - dy.max(0)) as usize);
            let (c0, c1) = ((-dx).max(0) as usize, (w as isize - dx.max(0)) as usize);
            if r1 <= r0 || c1 <= c0 {
                continue;
            }
            let src = |a: usize, b: usize| ((a as isize + dy) as usize, (b as isize + dx) as usize);
            let (sr0, sc0) = src(r0, c0);
            let (sr1, sc1) = src(r1, c1);
            for b in 0..bands {
                shifted.data.slice_mut(ndarray::s![b, r0..r1, c0..c1]).assign(&before.data.slice(ndarray::s![
                    b,
                    sr0..sr1,
                    sc0..sc1
                ]));
            }
            shifted
                .valid
                .slice_mut(ndarray::s![r0..r1, c0..c1])
                .assign(&before.valid.slice(ndarray::s![sr0..sr1, sc0..sc1]));
            let m = backend.change_magnitude(&shifted, after)?;
            Zip::from(&mut best).and(&m).par_for_each(|b, v| {
                if v.is_finite() && *v < *b {
                    *b = *v;
                }
            });
        }
    }
    // Where the pixel itself is invalid on either date there is no comparison at all.
    let own = backend.change_magnitude(before, after)?;
    Zip::from(&mut best).and(&own).par_for_each(|b, o| {
        if !o.is_finite() || !b.is_finite() {
            *b = f32::NAN;
        }
    });
    Ok(best)
}
