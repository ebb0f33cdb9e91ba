//! Height change of one tile: the difference of the two surface models after registration, and the
//! per-pixel evidence that tells a new structure from a spoil heap, a tree or a parked truck.
//!
//! | evidence | how | why |
//! | --- | --- | --- |
//! | height change | `after - before - vertical offset`, 3x3 mean | single-pixel spikes of matching errors must not start regions |
//! | walls | slope of the surface that holds the object (after for gains, before for losses) at the edge of the high part | roofs end in near-vertical walls; heaps, pits and slopes of earthworks do not |
//! | width | the high part survives an erosion to `min_width` | a truck, a car or a container is narrower than any building |
//! | vegetation | NDVI with NIR, else the green-red index NGRDI (Tucker 1979), from the orthomosaic | a tree that grew is not a structure |
//! | roughness | deviation of the surface from its 5x5 mean | tree crowns are bumpy, roofs and graded ground are planes |

use ndarray::{Array2, ArrayView2, Zip};

use crate::compute::Backend;
use crate::compute::RgbFeature;
use crate::error::Result;
use crate::raster::{BandRole, BandStack};
use crate::spectral::IndexKind;

/// Pixel evidence bits stored per pixel between passes.
pub mod bits {
    /// Both surfaces have data.
    pub const VALID: u8 = 1;
    /// Vegetation on the earlier orthomosaic.
    pub const VEG_BEFORE: u8 = 2;
    /// Vegetation on the later orthomosaic.
    pub const VEG_AFTER: u8 = 4;
    /// The earlier orthomosaic covers the pixel (vegetation is known there).
    pub const ORTHO_BEFORE: u8 = 8;
    /// The later orthomosaic covers the pixel.
    pub const ORTHO_AFTER: u8 = 16;
    /// The earlier surface is rough (canopy-like).
    pub const ROUGH_BEFORE: u8 = 32;
    /// The later surface is rough.
    pub const ROUGH_AFTER: u8 = 64;
}

/// Thresholds of the per-pixel evidence.
#[derive(Debug, Clone, Copy)]
pub struct PixelRules {
    /// Vertical bias of the later flight (metres), subtracted from every difference.
    pub vertical_offset: f32,
    /// Deviation from the local mean surface (metres) above which a pixel is rough.
    pub roughness_m: f32,
    /// Radius (pixels) of that local mean: about a metre on the ground, the scale at which roofs are
    /// planes and tree crowns are not.
    pub roughness_radius_px: usize,
    /// NDVI above which a pixel is vegetation (with NIR).
    pub vegetation_min_ndvi: f32,
    /// Excess green above which a pixel is vegetation (RGB only).
    pub vegetation_min_exg: f32,
}

/// The derived planes of one (padded) tile.
#[derive(Debug, Clone)]
pub struct TileHeights {
    /// Smoothed height change (metres), NaN where either surface has no data: for earthworks, whose
    /// thresholds are close to the surfaces' noise.
    pub dh: Array2<f32>,
    /// Unsmoothed height change: for the high parts, whose edges must stay on the walls.
    pub raw_dh: Array2<f32>,
    /// Slope of the earlier surface.
    pub slope_before: Array2<f32>,
    /// Slope of the later surface.
    pub slope_after: Array2<f32>,
    /// Evidence bits (`bits::*`).
    pub bits: Array2<u8>,
}

/// Vegetation per pixel from an orthomosaic stack (reflectance): 1 vegetation, 0 not, 255 not covered.
pub fn vegetation_mask(backend: &dyn Backend, stack: &BandStack, rules: &PixelRules) -> Result<Array2<u8>> {
    let mut out = Array2::<u8>::zeros((stack.height(), stack.width()));
    if stack.index_of(BandRole::Nir).is_some() {
        let indices = backend.indices(stack)?;
        let ndvi = indices.get(IndexKind::Ndvi);
        Zip::from(&mut out).and(&ndvi).and(&stack.valid).for_each(|o, v, ok| {
            *o = if *ok == 0 || !v.is_finite() { 255 } else { u8::from(*v >= rules.vegetation_min_ndvi) };
        });
        return Ok(out);
    }
    let features = backend.rgb_features(stack)?;
    let exg = features.get(RgbFeature::ExcessGreen);
    Zip::from(&mut out).and(&exg).and(&stack.valid).for_each(|o, v, ok| {
        *o = if *ok == 0 || !v.is_finite() { 255 } else { u8::from(*v >= rules.vegetation_min_exg) };
    });
    Ok(out)
}

/// Horizontal run (metres) over which wall slopes are measured.
const WALL_RUN_M: f64 = 1.0;

/// Pixels on either side of a pixel whose heights give its wall slope. Walls are judged over a fixed
/// run of about a metre, so that photogrammetric blur of half a metre and any pixel size from 5 cm to
/// 50 cm leave a wall a wall and a 45-degree heap slope a slope.
pub fn wall_step_px(pixel_size: f64) -> usize {
    ((WALL_RUN_M / 2.0) / pixel_size).round().max(1.0) as usize
}

/// Height change and evidence of a padded tile from its two surfaces (already on one grid, the later
/// one moved onto the earlier) and optional vegetation masks.
pub fn tile_heights(
    backend: &dyn Backend,
    before: ArrayView2<f32>,
    after: ArrayView2<f32>,
    veg_before: Option<ArrayView2<u8>>,
    veg_after: Option<ArrayView2<u8>>,
    pixel_size: (f32, f32),
    rules: &PixelRules,
) -> Result<TileHeights> {
    let raw = backend.height_difference(before, after, rules.vertical_offset)?;
    let dh = backend.box_mean(raw.view(), 1)?;
    let smooth_before = backend.box_mean(before, 1)?;
    let smooth_after = backend.box_mean(after, 1)?;
    let step = wall_step_px(pixel_size.0.min(pixel_size.1) as f64);
    let slope_before = backend.slope(before, step, pixel_size.0, pixel_size.1)?;
    let slope_after = backend.slope(after, step, pixel_size.0, pixel_size.1)?;
    let local_before = backend.box_mean(smooth_before.view(), rules.roughness_radius_px)?;
    let local_after = backend.box_mean(smooth_after.view(), rules.roughness_radius_px)?;
    let mut bits = Array2::<u8>::zeros(dh.dim());
    Zip::from(&mut bits).and(&dh).and(&smooth_before).and(&local_before).and(&smooth_after).and(&local_after).for_each(
        |b, d, sb, lb, sa, la| {
            if d.is_finite() {
                *b |= bits::VALID;
            }
            if (sb - lb).abs() >= rules.roughness_m {
                *b |= bits::ROUGH_BEFORE;
            }
            if (sa - la).abs() >= rules.roughness_m {
                *b |= bits::ROUGH_AFTER;
            }
        },
    );
    for (mask, known, veg) in
        [(veg_before, bits::ORTHO_BEFORE, bits::VEG_BEFORE), (veg_after, bits::ORTHO_AFTER, bits::VEG_AFTER)]
    {
        if let Some(mask) = mask {
            Zip::from(&mut bits).and(&mask).for_each(|b, m| match *m {
                1 => *b |= known | veg,
                0 => *b |= known,
                _ => {}
            });
        }
    }
    Ok(TileHeights { dh, raw_dh: raw, slope_before, slope_after, bits })
}

/// The high parts of a tile: 1 where the surface rose by at least `min_height`, 2 where it fell by at
/// least that much, 0 elsewhere.
pub fn high_classes(dh: ArrayView2<f32>, min_height: f32) -> Array2<u32> {
    dh.mapv(|d| {
        if d >= min_height {
            HIGH_GAIN
        } else if d <= -min_height {
            HIGH_LOSS
        } else {
            0
        }
    })
}

/// Key of a region where the surface rose by a structure's height.
pub const HIGH_GAIN: u32 = 1;
/// Key of a region where it fell by as much.
pub const HIGH_LOSS: u32 = 2;

/// Edge pixels of each class region (a 4-neighbour outside the region) whose surface is steep: walls.
/// Keys are `high_classes` values in the low byte, optionally with a plot index above. Returns (edge,
/// steep edge) masks.
pub fn walls(
    classes: ArrayView2<u32>,
    slope_gain: ArrayView2<f32>,
    slope_loss: ArrayView2<f32>,
    min_slope: f32,
) -> (Array2<u8>, Array2<u8>) {
    let (h, w) = classes.dim();
    let mut edge = Array2::<u8>::zeros((h, w));
    let mut steep = Array2::<u8>::zeros((h, w));
    for r in 0..h {
        for c in 0..w {
            let k = classes[[r, c]];
            if k == 0 {
                continue;
            }
            let outside = |rr: isize, cc: isize| {
                rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w && classes[[rr as usize, cc as usize]] != k
            };
            let (ri, ci) = (r as isize, c as isize);
            if outside(ri - 1, ci) || outside(ri + 1, ci) || outside(ri, ci - 1) || outside(ri, ci + 1) {
                edge[[r, c]] = 1;
                // The low byte is the class; the bits above may carry a plot.
                let s = if k & 0xff == HIGH_GAIN { slope_gain[[r, c]] } else { slope_loss[[r, c]] };
                if s >= min_slope {
                    steep[[r, c]] = 1;
                }
            }
        }
    }
    (edge, steep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::CpuBackend;
    use ndarray::s;

    fn rules() -> PixelRules {
        PixelRules {
            vertical_offset: 0.4,
            roughness_m: 0.2,
            roughness_radius_px: 4,
            vegetation_min_ndvi: 0.3,
            vegetation_min_exg: 0.1,
        }
    }

    #[test]
    fn a_box_has_walls_and_a_mound_does_not() {
        // 60 x 60 px at 0.25 m: a 6 m box (building) on the left, a 4 m smooth mound on the right.
        let before = Array2::<f32>::from_elem((60, 60), 10.0);
        let mut after = before.clone() + 0.4;
        after.slice_mut(s![20..40, 5..25]).mapv_inplace(|z| z + 6.0);
        for r in 0..60 {
            for c in 30..60 {
                let d = ((r as f32 - 30.0).powi(2) + (c as f32 - 45.0).powi(2)).sqrt() * 0.25;
                after[[r, c]] += (4.0 - d * 0.6).max(0.0);
            }
        }
        let t =
            tile_heights(&CpuBackend::new(), before.view(), after.view(), None, None, (0.25, 0.25), &rules()).unwrap();
        assert!((t.dh[[30, 15]] - 6.0).abs() < 1e-4 && t.dh[[5, 5]].abs() < 1e-4, "offset removed");
        let classes = high_classes(t.raw_dh.view(), 2.5);
        let (edge, steep) = walls(classes.view(), t.slope_after.view(), t.slope_before.view(), 2.0);
        let frac = |c0: usize, c1: usize| {
            let e: u32 = edge.slice(s![.., c0..c1]).iter().map(|v| *v as u32).sum();
            let st: u32 = steep.slice(s![.., c0..c1]).iter().map(|v| *v as u32).sum();
            st as f64 / e as f64
        };
        assert!(frac(0, 28) > 0.9, "box walls {}", frac(0, 28));
        assert!(frac(30, 60) < 0.1, "mound slopes {}", frac(30, 60));
        assert_eq!(t.bits[[30, 15]] & bits::ROUGH_AFTER, 0, "a flat roof is not rough");
        assert_ne!(t.bits[[30, 15]] & bits::VALID, 0);
    }
}
