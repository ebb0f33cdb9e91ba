//! Naming a change from what covered the ground before and after.

use ndarray::{Array2, ArrayView2, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::spectral::LandClass;

/// The code of a changed pixel in the change raster (UInt8; 0 no change, 255 nodata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum ChangeCode {
    /// No change.
    None = 0,
    /// A new building or hard surface.
    Construction = 1,
    /// Soil disturbed: excavation, fill, stripping of covers, demolition down to soil.
    Earthworks = 2,
    /// Vegetation gone without a building (to bare soil, water or unknown).
    VegetationLoss = 3,
    /// Real change the enforcement rules do not flag (re-greening, covering, crop change, water level).
    Other = 4,
    /// No valid observation on one of the dates.
    NoData = 255,
}

impl ChangeCode {
    /// From the raster byte.
    pub fn from_u8(v: u8) -> ChangeCode {
        match v {
            1 => ChangeCode::Construction,
            2 => ChangeCode::Earthworks,
            3 => ChangeCode::VegetationLoss,
            4 => ChangeCode::Other,
            255 => ChangeCode::NoData,
            _ => ChangeCode::None,
        }
    }

    /// True for the codes that become flags.
    pub fn is_flagged(self) -> bool {
        matches!(self, ChangeCode::Construction | ChangeCode::Earthworks | ChangeCode::VegetationLoss)
    }
}

/// The kind of a pixel's change from its classes on the two dates; only called for changed pixels.
pub fn change_kind(before: LandClass, after: LandClass) -> ChangeCode {
    use LandClass::*;
    match (before, after) {
        (NoData, _) | (_, NoData) => ChangeCode::NoData,
        (b, Built) if b != Built => ChangeCode::Construction,
        (Vegetation, BareSoil) => ChangeCode::VegetationLoss,
        (_, BareSoil) => ChangeCode::Earthworks,
        (BareSoil, Water) => ChangeCode::Earthworks,
        (Vegetation, Water | Unknown) => ChangeCode::VegetationLoss,
        _ => ChangeCode::Other,
    }
}

/// Gives changed pixels without a class transition of their own (`Other`, same class on both dates) the
/// flagged kind most common among the pixels within `radius` of them; other pixels keep their code.
///
/// The change statistic is a mean over (2r+1)^2 pixels, which spreads every change `radius` pixels
/// outward: the ring around a new slab or clearing passes the threshold although its own class did not
/// change. Around a small event the ring outnumbers the core, and the minimum mapping unit then merged a
/// core of four soil pixels into its ring of `Other` and dropped a 900 m2 clearing. Ring pixels carry
/// their neighbours' change, so they take their neighbours' kind. Pixels whose class did change
/// (re-greening, covering) keep their own kind, and only the original codes are looked at, so a kind
/// never spreads further than `radius`.
pub fn absorb_halo(
    codes: &mut Array2<u8>,
    classes_before: ArrayView2<u8>,
    classes_after: ArrayView2<u8>,
    radius: usize,
) {
    let original = codes.clone();
    Zip::indexed(codes).and(classes_before).and(classes_after).par_for_each(|(row, col), code, cb, ca| {
        if *code == ChangeCode::Other as u8 && cb == ca {
            if let Some(kind) = halo_kind(original.view(), row, col, radius) {
                *code = kind;
            }
        }
    });
}

/// [`absorb_halo`] where every changed pixel is among `pixels` (row, column): the same codes, for the
/// price of the changed pixels rather than the scene's.
pub fn absorb_halo_at(
    codes: &mut Array2<u8>,
    classes_before: ArrayView2<u8>,
    classes_after: ArrayView2<u8>,
    radius: usize,
    pixels: &[(usize, usize)],
) {
    let view = codes.view();
    let kinds: Vec<((usize, usize), u8)> = pixels
        .par_iter()
        .filter(|&&(r, c)| view[[r, c]] == ChangeCode::Other as u8 && classes_before[[r, c]] == classes_after[[r, c]])
        .filter_map(|&(r, c)| halo_kind(view, r, c, radius).map(|kind| ((r, c), kind)))
        .collect();
    for ((r, c), kind) in kinds {
        codes[[r, c]] = kind;
    }
}

/// The flagged kind most common among the original codes within `radius` of (row, col), if any.
fn halo_kind(original: ArrayView2<u8>, row: usize, col: usize, radius: usize) -> Option<u8> {
    let (h, w) = original.dim();
    let r = radius as isize;
    let mut votes = [0u32; 4];
    for dy in -r..=r {
        for dx in -r..=r {
            let (y, x) = (row as isize + dy, col as isize + dx);
            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                continue;
            }
            let c = ChangeCode::from_u8(original[[y as usize, x as usize]]);
            if c.is_flagged() {
                votes[c as usize] += 1;
            }
        }
    }
    // Ties go to the lower code (construction before earthworks before vegetation loss): deterministic.
    let (best, count) = votes.iter().enumerate().skip(1).fold((0, 0), |b, (i, v)| if *v > b.1 { (i, *v) } else { b });
    (count > 0).then_some(best as u8)
}

/// The change raster's legend.
pub const CHANGE_PALETTE: [(u8, [i16; 3], &str); 6] = [
    (0, [0, 0, 0], "no change"),
    (ChangeCode::Construction as u8, [228, 26, 28], "construction"),
    (ChangeCode::Earthworks as u8, [255, 127, 0], "earthworks"),
    (ChangeCode::VegetationLoss as u8, [166, 86, 40], "vegetation_loss"),
    (ChangeCode::Other as u8, [55, 126, 184], "other change"),
    (ChangeCode::NoData as u8, [255, 255, 255], "nodata"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use LandClass::*;

    #[test]
    fn transitions_name_the_kinds() {
        assert_eq!(change_kind(BareSoil, Built), ChangeCode::Construction);
        assert_eq!(change_kind(Vegetation, Built), ChangeCode::Construction);
        assert_eq!(change_kind(Covered, BareSoil), ChangeCode::Earthworks);
        assert_eq!(change_kind(BareSoil, BareSoil), ChangeCode::Earthworks);
        assert_eq!(change_kind(Built, BareSoil), ChangeCode::Earthworks);
        assert_eq!(change_kind(Vegetation, BareSoil), ChangeCode::VegetationLoss);
        // Re-greening and covering are what the plan asks for, not violations.
        assert_eq!(change_kind(BareSoil, Vegetation), ChangeCode::Other);
        assert_eq!(change_kind(BareSoil, Covered), ChangeCode::Other);
        assert_eq!(change_kind(Built, Built), ChangeCode::Other);
        assert_eq!(change_kind(NoData, Built), ChangeCode::NoData);
    }

    #[test]
    fn the_ring_of_a_small_clearing_takes_its_kind_and_regreening_keeps_its_own() {
        use ndarray::array;
        let (o, v) = (ChangeCode::Other as u8, ChangeCode::VegetationLoss as u8);
        // A 2x2 clearing (vegetation -> soil) in its ring of smoothed change (vegetation both dates), and
        // at the right edge a re-greened pixel (soil -> vegetation) that keeps its own kind.
        let mut codes = array![
            [0, o, o, o, o, 0, 0],
            [0, o, v, v, o, 0, 0],
            [0, o, v, v, o, o, 0],
            [0, o, o, o, o, o, o],
            [o, 0, 0, 0, 0, 0, 0],
        ];
        let (g, s) = (Vegetation as u8, BareSoil as u8);
        let before = Array2::from_shape_fn((5, 7), |(r, c)| if r == 2 && c == 5 { s } else { g });
        let after =
            Array2::from_shape_fn((5, 7), |(r, c)| if (1..3).contains(&r) && (2..4).contains(&c) { s } else { g });
        absorb_halo(&mut codes, before.view(), after.view(), 1);
        assert_eq!(codes.slice(ndarray::s![0..4, 1..5]).iter().filter(|c| **c == v).count(), 16);
        assert_eq!(codes[[2, 5]], o, "a real transition keeps its kind");
        assert_eq!(codes[[3, 6]], o, "two pixels from the clearing: not its ring");
        assert_eq!(codes[[4, 0]], o);
        assert_eq!(codes[[0, 0]], 0, "unchanged pixels stay unchanged");
    }
}
