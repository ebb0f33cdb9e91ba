//! Land-cover classes per pixel and date, decided from reflectance and indices by ordered rules.

use serde::{Deserialize, Serialize};

use super::indices::{IndexKind, Pixel, normalized_difference};

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
    /// Normalized difference of SWIR1 and SWIR2 (the tillage index NDTI, van Deventer et al. 1997)
    /// below which a reddish pixel is not soil (sensors with SWIR2 only). Clay minerals absorb near
    /// 2.2 um, so soil is darker in SWIR2 than in SWIR1; concrete, asphalt and painted roofs are flat
    /// there. On the real Changsha series (Sentinel-2) bare soil sits at 0.09-0.13 and the pixels of
    /// an old built-up block that the other rules call soil at 0.00-0.02.
    pub soil_min_ndti: f32,
    /// Brightness (mean of blue, green, red and NIR) under which a pixel with soil's NDTI is a black
    /// dust net over soil: wet soil stays above 0.1.
    pub net_max_dark: f32,
    /// NDVI at and above which a dark pixel is not a black net: the HDPE mesh is flat from red to NIR
    /// (NDVI near 0.05, about 0.1 with a fifth of soil showing through), while leafless deciduous
    /// canopy in winter (bark, twigs, litter and evergreen understorey), as dark in the visible, keeps
    /// some red edge (NDVI 0.2-0.35 on Sentinel-2 in the Yangtze delta winter).
    pub net_max_dark_ndvi: f32,
    /// NIR over green below which a green, low-NDVI pixel is a net: a young crop of the same NDVI
    /// reflects two to three times more NIR than green.
    pub net_max_nir_over_green: f32,
    /// Blue-over-red excess (normalized difference) of blue and blue-and-white HDPE nets.
    pub net_min_blue_excess: f32,
    /// Blue reflectance from which a SWIR1-dark pixel is white (a blue steel roof, flat or falling
    /// into SWIR too, stays under 0.2).
    pub net_min_blue: f32,
    /// Blue reflectance under which a white, SWIR1-dark pixel is a white net (a mesh, so the soil
    /// beneath dims it) rather than a solid white roof coating (0.45 and more).
    pub net_max_blue: f32,
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
            soil_min_ndti: 0.04,
            net_max_dark: 0.085,
            net_max_dark_ndvi: 0.16,
            net_max_nir_over_green: 1.6,
            net_min_blue_excess: 0.08,
            net_min_blue: 0.2,
            net_max_blue: 0.4,
        }
    }
}

/// The class of one valid pixel. Rules are ordered: water, vegetation, nets, soil, built, unknown.
///
/// Dust nets (HDPE mesh laid over soil and spoil) are told apart with what the literature reports of
/// them on Sentinel-2 and Landsat 8 (Remote Sens. 2022, 14(15), 3805, "Time-series monitoring of
/// dust-proof nets covering urban construction waste ... Zhengzhou"): green and blue nets are coloured
/// in the visible but dark in NIR, unlike leaves, so their NDVI stays low; and, being a mesh, they let
/// the soil beneath show in SWIR. So a net is (a) green: green above red and blue with low NDVI; (b) blue
/// or blue-and-white: blue above red with low NDVI, with the soil's clay absorption (NDTI) and its SWIR
/// rise above NIR showing through; blue colour-coated steel roofs (Remote Sens. 2022, 14(1), 230) are
/// flat or falling from NIR into SWIR and stay built; (c) black: dark in every visible and NIR band
/// with the soil's NDTI beneath; asphalt, equally dark, has no clay absorption and stays built; (d) white
/// or grey: plastic reflects less in SWIR1 than in red, where soil and concrete reflect more (the
/// plastic-mulch index PMLI = (SWIR1 - red) / (SWIR1 + red) is negative over plastic: Lu, Di and Ye 2014,
/// IEEE JSTARS 7(11), 4549), with the soil's NDTI beneath the mesh, white in the visible (brighter in blue than
/// blue steel roofs, which also fall into SWIR) and dimmer than a solid white roof coating.
#[inline]
pub fn classify_pixel(p: &Pixel, idx: &[f32; 7], rules: &ClassRules) -> LandClass {
    let ndvi = idx[IndexKind::Ndvi as usize];
    let bsi = idx[IndexKind::Bsi as usize];
    let water = idx[IndexKind::Water as usize];
    let brightness = idx[IndexKind::Brightness as usize];
    let redness = idx[IndexKind::Redness as usize];
    let green_excess = idx[IndexKind::GreenExcess as usize];
    let ndti = normalized_difference(p.swir1, p.swir2);
    // NaN (no SWIR2) does not speak against soil; every comparison with NaN is false.
    let soil_beneath = ndti.is_nan() || ndti >= rules.soil_min_ndti;
    if water > rules.water_index && ndvi < 0.1 && p.nir < rules.water_max_nir {
        return LandClass::Water;
    }
    if ndvi >= rules.vegetation_ndvi {
        return LandClass::Vegetation;
    }
    if green_excess > rules.cover_green_excess
        && p.green >= rules.cover_green_over_blue * p.blue
        && p.nir < rules.net_max_nir_over_green * p.green
    {
        return LandClass::Covered;
    }
    let mesh_over_soil = ndti >= rules.soil_min_ndti && p.swir1 > p.nir;
    if ndvi < rules.cover_max_ndvi && -redness > rules.net_min_blue_excess && mesh_over_soil {
        return LandClass::Covered;
    }
    if brightness < rules.net_max_dark && ndvi < rules.net_max_dark_ndvi && ndti >= rules.soil_min_ndti {
        return LandClass::Covered;
    }
    let white = p.blue >= rules.net_min_blue && p.blue < rules.net_max_blue;
    if ndvi < rules.cover_max_ndvi && p.swir1 <= p.red && ndti >= rules.soil_min_ndti && white {
        return LandClass::Covered;
    }
    let soil_like = redness >= rules.soil_redness && (bsi.is_nan() || bsi >= rules.soil_min_bsi) && soil_beneath;
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
        class6(blue, green, red, nir, swir1, f32::NAN)
    }

    fn class6(blue: f32, green: f32, red: f32, nir: f32, swir1: f32, swir2: f32) -> LandClass {
        let p = Pixel { blue, green, red, nir, swir1, swir2 };
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
    fn soil_needs_the_clay_absorption_where_swir2_is_measured() {
        // Changsha development block, bare 2021-11 (mean of the block): NDTI 0.13.
        assert_eq!(class6(0.086, 0.143, 0.221, 0.260, 0.358, 0.277), LandClass::BareSoil);
        // Changsha stable block, a reddish old roof: reddish like soil but flat from SWIR1 to SWIR2.
        assert_eq!(class6(0.120, 0.130, 0.160, 0.220, 0.300, 0.300), LandClass::Built);
        // Without SWIR2 the rule cannot speak.
        assert_eq!(class_of(0.120, 0.130, 0.160, 0.220, 0.300), LandClass::BareSoil);
    }

    /// Nets of the colours in use, pure and as mixed pixels with the soil they cover or the roofs and
    /// leaves beside them.
    #[test]
    fn dust_nets_of_every_colour_are_covers_not_roofs_or_leaves() {
        let soil = [0.10, 0.14, 0.19, 0.24, 0.32, 0.26];
        let green_net = [0.06, 0.12, 0.07, 0.10, 0.08, 0.06];
        let blue_net = [0.16, 0.13, 0.10, 0.14, 0.19, 0.15];
        let black_net = [0.045, 0.05, 0.055, 0.065, 0.09, 0.07];
        let blue_roof = [0.16, 0.15, 0.12, 0.14, 0.12, 0.10];
        let asphalt = [0.06, 0.065, 0.07, 0.08, 0.09, 0.085];
        let leaves = [0.03, 0.07, 0.04, 0.40, 0.20, 0.10];
        let mix =
            |a: [f32; 6], b: [f32; 6], t: f32| -> [f32; 6] { std::array::from_fn(|i| a[i] * (1.0 - t) + b[i] * t) };
        let class = |s: [f32; 6]| class6(s[0], s[1], s[2], s[3], s[4], s[5]);
        for net in [green_net, blue_net, black_net] {
            assert_eq!(class(net), LandClass::Covered, "{net:?}");
            assert_eq!(class(mix(net, soil, 0.2)), LandClass::Covered, "net with a fifth of soil {net:?}");
        }
        assert_eq!(class(blue_roof), LandClass::Built);
        assert_eq!(class(asphalt), LandClass::Built);
        assert_eq!(class(leaves), LandClass::Vegetation);
        assert_eq!(class(mix(green_net, leaves, 0.1)), LandClass::Covered, "a net edge with some leaves");
        let young_crop = [0.06, 0.09, 0.08, 0.16, 0.22, 0.15];
        assert_ne!(class(young_crop), LandClass::Covered, "a young crop of NDVI 0.33 is no net");
        assert_eq!(class(mix(leaves, green_net, 0.3)), LandClass::Vegetation, "leaves with a net edge");
        assert_eq!(class(mix(blue_roof, blue_net, 0.2)), LandClass::Built, "a roof beside a net");
        // White HDPE: bright and flat in the visible, darker in SWIR1 than in red.
        let white_net = [0.36, 0.38, 0.39, 0.43, 0.33, 0.25];
        let white_coating = [0.52, 0.55, 0.56, 0.58, 0.48, 0.40];
        let concrete = [0.20, 0.22, 0.24, 0.27, 0.30, 0.27];
        assert_eq!(class(white_net), LandClass::Covered);
        assert_eq!(class(mix(white_net, soil, 0.2)), LandClass::Covered, "a white net with a fifth of soil");
        assert_eq!(class(white_coating), LandClass::Built, "a solid white roof coating");
        assert_eq!(class(concrete), LandClass::Built);
        assert_eq!(class(mix(concrete, white_net, 0.3)), LandClass::Built, "concrete beside a white net");
        assert_eq!(class(soil), LandClass::BareSoil);
        // Leafless deciduous canopy in winter is as dark as a black net but keeps a red edge.
        let leaf_off_canopy = [0.045, 0.060, 0.065, 0.115, 0.150, 0.105];
        assert_ne!(class(leaf_off_canopy), LandClass::Covered, "winter trees are no net");
        assert_ne!(class(mix(leaf_off_canopy, leaves, 0.15)), LandClass::Covered, "winter trees with evergreens");
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
