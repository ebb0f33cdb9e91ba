//! Surface reflectance of the ground covers the demo and fixtures paint, in the six bands
//! blue, green, red, nir, swir1, swir2 (Sentinel-2 B02, B03, B04, B08, B11, B12).
//!
//! Values approximate USGS splib07 library spectra convolved to Sentinel-2 bands; what matters for the
//! engine is their shape (red edge of leaves, rising soil spectra with the clay absorption that puts
//! SWIR2 below SWIR1, flat concrete, NIR-dark nets and water).

/// Reflectance in blue, green, red, nir, swir1, swir2.
pub type Spectrum = [f32; 6];

/// A dense green crop or grass canopy.
pub const VEGETATION: Spectrum = [0.03, 0.07, 0.04, 0.40, 0.20, 0.10];
/// Sparse grass or a young crop.
pub const SPARSE_VEGETATION: Spectrum = [0.05, 0.09, 0.07, 0.30, 0.25, 0.15];
/// Trees.
pub const FOREST: Spectrum = [0.025, 0.05, 0.03, 0.33, 0.16, 0.08];
/// Dry loam, as on fallow fields and stripped ground.
pub const SOIL: Spectrum = [0.10, 0.14, 0.19, 0.24, 0.32, 0.26];
/// Fresh, moist excavated soil: about 30% darker than dry topsoil.
pub const MOIST_SOIL: Spectrum = [0.065, 0.09, 0.13, 0.17, 0.22, 0.17];
/// Light subsoil or imported fill: a third brighter than topsoil.
pub const FILL: Spectrum = [0.16, 0.20, 0.26, 0.30, 0.38, 0.31];
/// Concrete slabs and new roofs.
pub const CONCRETE: Spectrum = [0.20, 0.21, 0.22, 0.24, 0.26, 0.24];
/// Blue-painted steel roofs, common on factory buildings in Jiangsu.
pub const BLUE_ROOF: Spectrum = [0.16, 0.15, 0.12, 0.14, 0.12, 0.10];
/// Asphalt roads.
pub const ASPHALT: Spectrum = [0.06, 0.065, 0.07, 0.08, 0.09, 0.085];
/// Turbid inland water.
pub const WATER: Spectrum = [0.06, 0.07, 0.04, 0.02, 0.01, 0.005];
/// Green dust-suppression net over soil: green to the eye, dark in NIR.
pub const DUST_NET: Spectrum = [0.06, 0.12, 0.07, 0.10, 0.08, 0.06];
/// Thick cloud.
pub const CLOUD: Spectrum = [0.55, 0.55, 0.56, 0.58, 0.45, 0.35];

/// A mix of two spectra: `t` of `b`, the rest `a`.
pub fn mix(a: &Spectrum, b: &Spectrum, t: f32) -> Spectrum {
    let mut out = [0.0; 6];
    for i in 0..6 {
        out[i] = a[i] * (1.0 - t) + b[i] * t;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectral::LandClass;
    use crate::spectral::classes::{ClassRules, classify_pixel};
    use crate::spectral::indices::{Pixel, pixel_indices};

    fn class(s: &Spectrum) -> LandClass {
        let p = Pixel { blue: s[0], green: s[1], red: s[2], nir: s[3], swir1: s[4], swir2: s[5] };
        classify_pixel(&p, &pixel_indices(&p), &ClassRules::default())
    }

    #[test]
    fn painted_covers_get_the_classes_the_truth_says() {
        assert_eq!(class(&VEGETATION), LandClass::Vegetation);
        assert_eq!(class(&SPARSE_VEGETATION), LandClass::Vegetation);
        assert_eq!(class(&FOREST), LandClass::Vegetation);
        assert_eq!(class(&SOIL), LandClass::BareSoil);
        assert_eq!(class(&MOIST_SOIL), LandClass::BareSoil);
        assert_eq!(class(&FILL), LandClass::BareSoil);
        assert_eq!(class(&CONCRETE), LandClass::Built);
        assert_eq!(class(&BLUE_ROOF), LandClass::Built);
        assert_eq!(class(&ASPHALT), LandClass::Built);
        assert_eq!(class(&WATER), LandClass::Water);
        assert_eq!(class(&DUST_NET), LandClass::Covered);
    }
}
