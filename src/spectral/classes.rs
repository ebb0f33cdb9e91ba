//! Land-cover classes per pixel and date, decided from reflectance and indices by ordered rules.

use serde::{Deserialize, Serialize};

use super::indices::{IndexKind, Pixel};

/// What covers a pixel on one date. The `u8` values are what class rasters and the store hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum LandClass {
    /// Valid, but no rule fits with confidence (deep shadow, mixed pixels).
    Unknown = 0,
    /// Green vegetation: crops, grass, trees, re-greened ground.
    Vegetation = 1,
    /// Exposed soil: stripped, excavated, filled or fallow ground.
    BareSoil = 2,
    /// Buildings and hard surfaces: concrete, asphalt, steel roofs.
    Built = 3,
    /// Open water.
    Water = 4,
    /// Ground under dust-suppression nets or covers: green to the eye, not vegetation.
    Covered = 5,
    /// No valid observation (nodata, cloud, shadow, snow).
    NoData = 255,
}

impl LandClass {
    /// From the stored byte.
    pub fn from_u8(v: u8) -> LandClass {
        match v {
            1 => LandClass::Vegetation,
            2 => LandClass::BareSoil,
            3 => LandClass::Built,
            4 => LandClass::Water,
            5 => LandClass::Covered,
            255 => LandClass::NoData,
            _ => LandClass::Unknown,
        }
    }

    /// Name used in evidence.
    pub fn name(self) -> &'static str {
        match self {
            LandClass::Unknown => "unknown",
            LandClass::Vegetation => "vegetation",
            LandClass::BareSoil => "bare_soil",
            LandClass::Built => "built",
            LandClass::Water => "water",
            LandClass::Covered => "covered",
            LandClass::NoData => "nodata",
        }
    }
}

/// Thresholds of the class rules, all on surface reflectance (0..1) or on indices. Defaults are
/// textbook values for Sentinel-2 and Landsat surface reflectance; the config file can change them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
#[serde(default, deny_unknown_fields)]
pub struct ClassRules {
    /// NDVI at and above which a pixel is vegetation (0.35: sparse crops and grass sit at 0.3-0.5).
    pub vegetation_ndvi: f32,
    /// Water index above which a dark, non-vegetated pixel is water.
    pub water_index: f32,
    /// NIR reflectance below which water is believable (water absorbs NIR).
    pub water_max_nir: f32,
    /// NDVI below which a green-looking pixel is a net rather than leaves.
    pub cover_max_ndvi: f32,
    /// Green-over-red contrast above which a low-NDVI pixel is a green cover.
    pub cover_green_excess: f32,
    /// Green over blue ratio a green cover reaches (dyed nets are about twice as green as blue; blue
    /// steel roofs, which can be greener than red, are not).
    pub cover_green_over_blue: f32,
    /// Red-over-blue slope at and above which non-vegetated ground is soil rather than built.
    pub soil_redness: f32,
    /// BSI below which a reddish pixel is not soil (SWIR sensors only).
    pub soil_min_bsi: f32,
    /// Brightness below which a flat, dark pixel is unknown (shadow) rather than built.
    pub built_min_brightness: f32,
}

impl Default for ClassRules {
    fn default() -> Self {
        ClassRules {
            vegetation_ndvi: 0.35,
            water_index: 0.15,
            water_max_nir: 0.12,
            cover_max_ndvi: 0.25,
            cover_green_excess: 0.06,
            cover_green_over_blue: 1.3,
            soil_redness: 0.12,
            soil_min_bsi: -0.02,
            built_min_brightness: 0.05,
        }
    }
}

/// The class of one valid pixel. Rules are ordered: water, vegetation, cover, soil, built, unknown.
#[inline]
pub fn classify_pixel(p: &Pixel, idx: &[f32; 7], rules: &ClassRules) -> LandClass {
    let ndvi = idx[IndexKind::Ndvi as usize];
    let bsi = idx[IndexKind::Bsi as usize];
    let water = idx[IndexKind::Water as usize];
    let brightness = idx[IndexKind::Brightness as usize];
    let redness = idx[IndexKind::Redness as usize];
    let green_excess = idx[IndexKind::GreenExcess as usize];
    if water > rules.water_index && ndvi < 0.1 && p.nir < rules.water_max_nir {
        return LandClass::Water;
    }
    if ndvi >= rules.vegetation_ndvi {
        return LandClass::Vegetation;
    }
    if ndvi < rules.cover_max_ndvi
        && green_excess > rules.cover_green_excess
        && p.green >= rules.cover_green_over_blue * p.blue
    {
        return LandClass::Covered;
    }
    let soil_like = redness >= rules.soil_redness && (bsi.is_nan() || bsi >= rules.soil_min_bsi);
    if soil_like {
        return LandClass::BareSoil;
    }
    if brightness >= rules.built_min_brightness {
        return LandClass::Built;
    }
    LandClass::Unknown
}

/// NDVI at and above which an NDVI-only observation is vegetation (sparse cover counts: it ends a
/// bare run).
pub const NDVI_ONLY_VEGETATION: f32 = 0.2;
/// NDVI below which an NDVI-only observation is water, snow or shadow rather than soil: no evidence.
pub const NDVI_ONLY_MIN_SOIL: f32 = 0.05;

/// The class from NDVI alone, for series that carry nothing else: vegetation at and above 0.2, bare
/// soil from 0.05 to 0.2, unknown below (water, snow, shadow say nothing about soil).
pub fn classify_ndvi_only(ndvi: f32) -> LandClass {
    if !ndvi.is_finite() {
        LandClass::NoData
    } else if ndvi >= NDVI_ONLY_VEGETATION {
        LandClass::Vegetation
    } else if ndvi >= NDVI_ONLY_MIN_SOIL {
        LandClass::BareSoil
    } else {
        LandClass::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectral::indices::pixel_indices;

    fn class_of(blue: f32, green: f32, red: f32, nir: f32, swir1: f32) -> LandClass {
        let p = Pixel { blue, green, red, nir, swir1 };
        classify_pixel(&p, &pixel_indices(&p), &ClassRules::default())
    }

    #[test]
    fn endmembers_get_their_classes() {
        // Surface reflectance endmembers (approximate, from USGS splib07 convolved to Sentinel-2).
        assert_eq!(class_of(0.03, 0.07, 0.04, 0.40, 0.18), LandClass::Vegetation);
        assert_eq!(class_of(0.10, 0.14, 0.19, 0.24, 0.32), LandClass::BareSoil);
        assert_eq!(class_of(0.20, 0.21, 0.22, 0.24, 0.26), LandClass::Built); // concrete
        assert_eq!(class_of(0.16, 0.15, 0.12, 0.14, 0.12), LandClass::Built); // blue steel roof
        assert_eq!(class_of(0.06, 0.07, 0.04, 0.02, 0.01), LandClass::Water);
        assert_eq!(class_of(0.06, 0.12, 0.07, 0.10, 0.08), LandClass::Covered); // green dust net
    }

    #[test]
    fn class_bytes_round_trip() {
        for c in [
            LandClass::Unknown,
            LandClass::Vegetation,
            LandClass::BareSoil,
            LandClass::Built,
            LandClass::Water,
            LandClass::Covered,
            LandClass::NoData,
        ] {
            assert_eq!(LandClass::from_u8(c as u8), c);
        }
    }
}
