//! Spectral indices.
//!
//! | index | formula | reference |
//! | --- | --- | --- |
//! | NDVI | (nir - red) / (nir + red) | Rouse et al. 1974 |
//! | BSI | ((swir1 + red) - (nir + blue)) / ((swir1 + red) + (nir + blue)) | Rikimaru et al. 2002 |
//! | NDBI | (swir1 - nir) / (swir1 + nir) | Zha et al. 2003 |
//! | MNDWI | (green - swir1) / (green + swir1) | Xu 2006; NDWI (green - nir) / (green + nir) (McFeeters 1996) without SWIR |
//! | brightness | mean of the visible and NIR bands | |
//! | redness | (red - blue) / (red + blue): soils redden, concrete and steel are flat or blue | |
//! | green excess | (green - red) / (green + red): dust nets and leaves are green to the eye | |

use ndarray::{Array3, ArrayView2, Axis};

/// The indices the engine computes, in the order of `IndexStack` planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum IndexKind {
    /// Normalized difference vegetation index.
    Ndvi = 0,
    /// Bare soil index (NaN without SWIR).
    Bsi = 1,
    /// Normalized difference built-up index (NaN without SWIR).
    Ndbi = 2,
    /// Water index: MNDWI with SWIR, McFeeters NDWI without.
    Water = 3,
    /// Mean reflectance of blue, green, red and NIR.
    Brightness = 4,
    /// Visible-spectrum slope from blue to red.
    Redness = 5,
    /// Green over red contrast.
    GreenExcess = 6,
}

impl IndexKind {
    /// All indices, in plane order.
    pub const ALL: [IndexKind; 7] = [
        IndexKind::Ndvi,
        IndexKind::Bsi,
        IndexKind::Ndbi,
        IndexKind::Water,
        IndexKind::Brightness,
        IndexKind::Redness,
        IndexKind::GreenExcess,
    ];

    /// Name used in evidence (`ndvi`, `bsi`, ...).
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Ndvi => "ndvi",
            IndexKind::Bsi => "bsi",
            IndexKind::Ndbi => "ndbi",
            IndexKind::Water => "water",
            IndexKind::Brightness => "brightness",
            IndexKind::Redness => "redness",
            IndexKind::GreenExcess => "green_excess",
        }
    }
}

/// Index planes (index, row, col); NaN where the pixel is invalid or the sensor lacks the bands.
#[derive(Debug, Clone)]
pub struct IndexStack {
    /// Planes in `IndexKind` order.
    pub data: Array3<f32>,
}

impl IndexStack {
    /// One index plane.
    pub fn get(&self, kind: IndexKind) -> ArrayView2<'_, f32> {
        self.data.index_axis(Axis(0), kind as usize)
    }
}

/// Reflectance of one pixel; NaN for bands the sensor does not have.
#[derive(Debug, Clone, Copy)]
pub struct Pixel {
    /// Blue.
    pub blue: f32,
    /// Green.
    pub green: f32,
    /// Red.
    pub red: f32,
    /// Near infrared.
    pub nir: f32,
    /// SWIR 1.6 um.
    pub swir1: f32,
    /// SWIR 2.2 um (NaN where the sensor has none).
    pub swir2: f32,
}

/// `(a - b) / (a + b)`, 0 where the sum vanishes (black pixels carry no contrast).
#[inline]
pub fn normalized_difference(a: f32, b: f32) -> f32 {
    let s = a + b;
    if s.abs() < 1e-6 { 0.0 } else { (a - b) / s }
}

/// All indices of one pixel, in `IndexKind` order.
#[inline]
pub fn pixel_indices(p: &Pixel) -> [f32; 7] {
    let ndvi = normalized_difference(p.nir, p.red);
    let (bsi, ndbi, water) = if p.swir1.is_nan() {
        (f32::NAN, f32::NAN, normalized_difference(p.green, p.nir))
    } else {
        (
            normalized_difference(p.swir1 + p.red, p.nir + p.blue),
            normalized_difference(p.swir1, p.nir),
            normalized_difference(p.green, p.swir1),
        )
    };
    let nir = if p.nir.is_nan() { 0.0 } else { p.nir };
    let count = if p.nir.is_nan() { 3.0 } else { 4.0 };
    let brightness = (p.blue + p.green + p.red + nir) / count;
    let redness = normalized_difference(p.red, p.blue);
    let green_excess = normalized_difference(p.green, p.red);
    [ndvi, bsi, ndbi, water, brightness, redness, green_excess]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vegetation_and_soil_have_textbook_index_signs() {
        // Typical Sentinel-2 surface reflectance of a crop canopy and of dry loam.
        let leaf = Pixel { blue: 0.03, green: 0.07, red: 0.04, nir: 0.40, swir1: 0.18, swir2: 0.09 };
        let soil = Pixel { blue: 0.10, green: 0.14, red: 0.19, nir: 0.24, swir1: 0.32, swir2: 0.26 };
        let l = pixel_indices(&leaf);
        let s = pixel_indices(&soil);
        assert!(l[IndexKind::Ndvi as usize] > 0.8);
        assert!(s[IndexKind::Ndvi as usize] < 0.2);
        assert!(s[IndexKind::Bsi as usize] > 0.0 && l[IndexKind::Bsi as usize] < 0.0);
        assert!(s[IndexKind::Ndbi as usize] > 0.0 && l[IndexKind::Ndbi as usize] < 0.0);
        assert!(s[IndexKind::Redness as usize] > 0.2);
    }

    #[test]
    fn without_swir_the_swir_indices_are_nan_and_water_uses_nir() {
        let water = Pixel { blue: 0.06, green: 0.07, red: 0.04, nir: 0.02, swir1: f32::NAN, swir2: f32::NAN };
        let i = pixel_indices(&water);
        assert!(i[IndexKind::Bsi as usize].is_nan() && i[IndexKind::Ndbi as usize].is_nan());
        assert!(i[IndexKind::Water as usize] > 0.5);
    }

    #[test]
    fn black_pixels_do_not_divide_by_zero() {
        assert_eq!(normalized_difference(0.0, 0.0), 0.0);
    }
}
