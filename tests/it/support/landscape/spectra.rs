//! Endmember spectra and the phenology of every cover, in the six Sentinel-2 bands the scan reads:
//! blue (B2, 490 nm), green (B3, 560 nm), red (B4, 665 nm), nir (B8, 842 nm), swir16 (B11, 1610 nm),
//! swir22 (B12, 2190 nm); surface reflectance as a fraction.
//!
//! Sources. The values are approximations read off published spectra at the band centres and rounded, not
//! exact library values; what matters here is that the materials differ the way they do in reality:
//! - soils, green and dry vegetation, water: USGS Spectral Library Version 7 (Kokaly et al., 2017, USGS
//!   Data Series 1035, doi:10.3133/ds1035) and its Sentinel-2 MSI convolution;
//! - concrete, asphalt, terra-cotta tile: ECOSTRESS spectral library 1.0 man-made materials (Meerdink et
//!   al., 2019, Remote Sensing of Environment 230, 111196);
//! - blue (and red) colour-coated steel roofs: Sentinel-2 L2A signatures in "Mapping Blue and Red
//!   Color-Coated Steel Sheet Roof Buildings over China Using Sentinel-2A/B MSIL2A Images", Remote Sensing
//!   2022, 14(1), 230, doi:10.3390/rs14010230 (high blue, low red, moderate SWIR);
//! - HDPE dust-proof nets (green, black, blue, white): "Time-Series Monitoring of Dust-Proof Nets Covering
//!   Urban Construction Waste by Multispectral Images in Zhengzhou, China", Remote Sensing 2022, 14(15),
//!   3805, doi:10.3390/rs14153805 (green nets peak in green with a weak NIR plateau, far below leaves);
//!   polyethylene's C-H absorptions near 1.73 and 2.31 um lower B12 against B11.
//!
//! Leaf-off deciduous canopy (bark, twigs, litter and dormant understory) is set so its NDVI is about
//! 0.27, what winter Sentinel-2 NDVI of deciduous stands in the Yangtze delta typically shows.

use chrono::{Datelike, NaiveDate};

/// Reflectance in blue, green, red, nir, swir16, swir22.
pub type Spectrum = [f32; 6];

/// Bare soils of the area: several colours and moistures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soil {
    /// Light yellow-brown silty loam (dry loess-derived upland soil).
    DryLoess,
    /// Grey-brown paddy soil of the Lixiahe plain.
    GreyAlluvial,
    /// Iron-rich red-yellow earth.
    RedEarth,
    /// Freshly excavated, moist, dark subsoil.
    MoistSubsoil,
    /// Imported light sandy fill.
    LightFill,
    /// Compacted grey fill with gravel.
    Compacted,
}

/// Roof materials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roof {
    /// Concrete slab.
    Concrete,
    /// Blue colour-coated steel sheet.
    BlueSteel,
    /// Red clay tile.
    RedTile,
    /// White reflective coating.
    WhiteCoating,
}

/// Colours of HDPE dust nets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetColour {
    /// The common green.
    Green,
    /// Black.
    Black,
    /// Blue.
    Blue,
    /// White.
    White,
}

/// What covers a piece of ground at some date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    /// Bare soil.
    Soil(Soil),
    /// Grass, dormant and partly brown in winter.
    Grass,
    /// Shrub, mostly evergreen.
    Shrub,
    /// Deciduous trees: leaves May to October, bare branches December to March.
    DeciduousTrees,
    /// Rice-wheat double cropping: wheat November-May, rice June-October, short bare gaps between.
    RiceWheat,
    /// Single rice with a bare winter fallow of about three and a half months every year.
    RiceFallow,
    /// A roof.
    Roof(Roof),
    /// Asphalt road or yard.
    Asphalt,
    /// Pond or canal.
    Water,
    /// Dust net over soil.
    Net(NetColour),
}

fn soil_spectrum(soil: Soil) -> Spectrum {
    match soil {
        Soil::DryLoess => [0.095, 0.135, 0.185, 0.245, 0.330, 0.285],
        Soil::GreyAlluvial => [0.075, 0.095, 0.115, 0.165, 0.235, 0.205],
        Soil::RedEarth => [0.070, 0.105, 0.175, 0.235, 0.310, 0.265],
        // Water in the pores darkens every band and the SWIR most (water absorption at 1.45 and 1.94 um).
        Soil::MoistSubsoil => [0.050, 0.066, 0.082, 0.120, 0.150, 0.112],
        Soil::LightFill => [0.150, 0.190, 0.235, 0.285, 0.360, 0.310],
        Soil::Compacted => [0.120, 0.140, 0.160, 0.200, 0.260, 0.230],
    }
}

/// Full green canopy of crops and grass (splib07 green grass/leaves).
const GREEN_LEAVES: Spectrum = [0.030, 0.070, 0.035, 0.420, 0.210, 0.100];
/// Closed broadleaf tree canopy in leaf: darker visible and NIR than a crop (shadows between crowns).
const TREE_CANOPY: Spectrum = [0.025, 0.055, 0.030, 0.360, 0.180, 0.085];
/// Senescent straw and stubble (splib07 dry grass): brighter red and SWIR than leaves, cellulose at 2.1 um.
const STRAW: Spectrum = [0.075, 0.100, 0.130, 0.230, 0.300, 0.220];
/// Leaf-off deciduous canopy seen from above: bark, twigs, litter, dormant understory (NDVI about 0.27).
const LEAF_OFF_CANOPY: Spectrum = [0.045, 0.060, 0.065, 0.115, 0.150, 0.105];
/// Turbid pond and canal water of the plain.
const WATER: Spectrum = [0.065, 0.075, 0.055, 0.030, 0.012, 0.008];

fn roof_spectrum(roof: Roof) -> Spectrum {
    match roof {
        Roof::Concrete => [0.200, 0.220, 0.240, 0.270, 0.300, 0.270],
        Roof::BlueSteel => [0.190, 0.150, 0.090, 0.160, 0.140, 0.120],
        // Terra cotta looks much like red earth in these bands (a real confusion, kept on established
        // roofs); firing removes the clay OH absorption near 2.2 um, so B12 stays closer to B11 than in soil.
        Roof::RedTile => [0.075, 0.095, 0.180, 0.250, 0.320, 0.300],
        Roof::WhiteCoating => [0.520, 0.550, 0.560, 0.580, 0.480, 0.400],
    }
}

const ASPHALT: Spectrum = [0.060, 0.068, 0.075, 0.090, 0.110, 0.100];

fn net_spectrum(net: NetColour) -> Spectrum {
    match net {
        NetColour::Green => [0.050, 0.105, 0.070, 0.200, 0.170, 0.130],
        NetColour::Black => [0.035, 0.037, 0.038, 0.045, 0.055, 0.048],
        NetColour::Blue => [0.150, 0.120, 0.080, 0.150, 0.150, 0.115],
        NetColour::White => [0.350, 0.370, 0.380, 0.420, 0.330, 0.250],
    }
}

/// Share of the ground a dust net's mesh leaves visible.
const NET_OPENNESS: f32 = 0.2;

/// Thick cloud.
pub const CLOUD: Spectrum = [0.550, 0.550, 0.560, 0.580, 0.450, 0.350];
/// Thin cloud and haze: nearly flat, a little brighter in the blue (Rayleigh-like scattering).
pub const HAZE: Spectrum = [0.260, 0.240, 0.230, 0.220, 0.180, 0.150];

/// A pixel's reflectance split into what the soil contributes (darkened by rain and varied by soil
/// texture) and what everything else does, plus the shares that decide the SCL class.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layers {
    /// Soil contribution (already weighted by the soil's share).
    pub soil: Spectrum,
    /// Everything else (weighted).
    pub other: Spectrum,
    /// Share of green leaves.
    pub green: f32,
    /// Share of open water.
    pub water: f32,
}

fn add(acc: &mut Spectrum, s: &Spectrum, w: f32) {
    for b in 0..6 {
        acc[b] += s[b] * w;
    }
}

/// Cyclic piecewise-linear curve over the year: `points` are (day of year, value), sorted; the curve
/// wraps from the last point to the first of the next year.
fn yearly(day: f64, points: &[(f64, f32)]) -> f32 {
    let day = day.rem_euclid(365.0);
    let n = points.len();
    for i in 0..n {
        let (d0, v0) = points[i];
        let (d1, v1) = if i + 1 < n { points[i + 1] } else { (points[0].0 + 365.0, points[0].1) };
        let d = if day < points[0].0 { day + 365.0 } else { day };
        if d >= d0 && d < d1 {
            let t = ((d - d0) / (d1 - d0)) as f32;
            return v0 + (v1 - v0) * t;
        }
    }
    points[0].1
}

/// Green share of rice-wheat fields: wheat sown early November, slow over winter, heading in April,
/// harvested around 1 June; rice transplanted late June into flooded paddies, harvested around 22
/// October. Bare gaps (green under 0.15): about 1-25 June and 22 October-mid November.
const RICE_WHEAT_GREEN: [(f64, f32); 16] = [
    (0.0, 0.33),
    (46.0, 0.40),
    (79.0, 0.75),
    (110.0, 0.90),
    (130.0, 0.75),
    (148.0, 0.20),
    (152.0, 0.03),
    (176.0, 0.05),
    (196.0, 0.45),
    (222.0, 0.90),
    (263.0, 0.85),
    (283.0, 0.50),
    (294.0, 0.30),
    (295.0, 0.02),
    (319.0, 0.10),
    (344.0, 0.25),
];
const RICE_WHEAT_STRAW: [(f64, f32); 10] = [
    (0.0, 0.0),
    (120.0, 0.10),
    (148.0, 0.70),
    (152.0, 0.35),
    (176.0, 0.10),
    (196.0, 0.0),
    (270.0, 0.10),
    (294.0, 0.45),
    (295.0, 0.35),
    (330.0, 0.05),
];
/// Flooded paddy water share around rice transplanting.
const PADDY_WATER: [(f64, f32); 5] = [(0.0, 0.0), (170.0, 0.0), (176.0, 0.70), (200.0, 0.30), (225.0, 0.0)];

/// Single rice then winter fallow: rice harvested around 28 October, stubble and soil until weeds and
/// green manure green up in February (a bare run of about 3.4 months), ploughed late May, transplanted
/// mid June.
const RICE_FALLOW_GREEN: [(f64, f32); 14] = [
    (0.0, 0.03),
    (25.0, 0.05),
    (51.0, 0.25),
    (79.0, 0.45),
    (110.0, 0.60),
    (140.0, 0.55),
    (145.0, 0.03),
    (166.0, 0.05),
    (191.0, 0.45),
    (222.0, 0.90),
    (263.0, 0.85),
    (290.0, 0.50),
    (300.0, 0.35),
    (301.0, 0.02),
];
const RICE_FALLOW_STRAW: [(f64, f32); 8] = [
    (0.0, 0.25),
    (51.0, 0.10),
    (145.0, 0.05),
    (166.0, 0.05),
    (270.0, 0.10),
    (300.0, 0.45),
    (301.0, 0.40),
    (340.0, 0.30),
];
const FALLOW_PADDY_WATER: [(f64, f32); 5] = [(0.0, 0.0), (160.0, 0.0), (166.0, 0.70), (191.0, 0.30), (215.0, 0.0)];

const GRASS_GREEN: [(f64, f32); 5] = [(0.0, 0.45), (100.0, 0.75), (190.0, 0.88), (290.0, 0.75), (345.0, 0.50)];
const SHRUB_GREEN: [(f64, f32); 3] = [(0.0, 0.60), (190.0, 0.85), (300.0, 0.75)];
/// Leaf share of deciduous trees: bud burst early April, full leaf May to mid October, bare by early
/// December.
const TREE_LEAVES: [(f64, f32); 6] =
    [(0.0, 0.0), (84.0, 0.0), (121.0, 0.85), (288.0, 0.85), (329.0, 0.10), (339.0, 0.0)];

/// The reflectance layers of `cover` on `date`. `soil_under` is the soil beneath vegetation, nets and
/// stubble; `phase_days` shifts the phenology of one parcel (sowing and leaf-out are not synchronous).
pub fn layers(cover: Cover, soil_under: Soil, date: NaiveDate, phase_days: f64) -> Layers {
    let day = date.ordinal0() as f64 - phase_days;
    let soil = soil_spectrum(soil_under);
    let mut out = Layers::default();
    let mut vegetated = |green: f32, green_spec: &Spectrum, straw: f32, straw_spec: &Spectrum, water: f32| {
        let soil_share = (1.0 - green - straw - water).max(0.0);
        add(&mut out.other, green_spec, green);
        add(&mut out.other, straw_spec, straw);
        add(&mut out.other, &WATER, water);
        add(&mut out.soil, &soil, soil_share);
        out.green = green;
        out.water = water;
    };
    match cover {
        Cover::Soil(s) => {
            out.soil = soil_spectrum(s);
        }
        Cover::Grass => {
            let g = yearly(day, &GRASS_GREEN);
            vegetated(g, &GREEN_LEAVES, (1.0 - g) * 0.5, &STRAW, 0.0);
        }
        Cover::Shrub => {
            let g = yearly(day, &SHRUB_GREEN);
            vegetated(g, &GREEN_LEAVES, (1.0 - g) * 0.6, &LEAF_OFF_CANOPY, 0.0);
        }
        Cover::DeciduousTrees => {
            let leaves = yearly(day, &TREE_LEAVES);
            vegetated(leaves, &TREE_CANOPY, 1.0 - leaves, &LEAF_OFF_CANOPY, 0.0);
        }
        Cover::RiceWheat => {
            let g = yearly(day, &RICE_WHEAT_GREEN);
            let w = yearly(day, &PADDY_WATER);
            let s = yearly(day, &RICE_WHEAT_STRAW).min(1.0 - g - w);
            vegetated(g, &GREEN_LEAVES, s, &STRAW, w);
        }
        Cover::RiceFallow => {
            let g = yearly(day, &RICE_FALLOW_GREEN);
            let w = yearly(day, &FALLOW_PADDY_WATER);
            let s = yearly(day, &RICE_FALLOW_STRAW).min(1.0 - g - w);
            vegetated(g, &GREEN_LEAVES, s, &STRAW, w);
        }
        Cover::Roof(r) => out.other = roof_spectrum(r),
        Cover::Asphalt => out.other = ASPHALT,
        Cover::Water => {
            out.other = WATER;
            out.water = 1.0;
        }
        Cover::Net(n) => {
            add(&mut out.other, &net_spectrum(n), 1.0 - NET_OPENNESS);
            add(&mut out.soil, &soil, NET_OPENNESS);
        }
    }
    out
}

/// Whether `cover` shows bare ground on `date`: soil, or a crop or grass with under 15% green cover and
/// no flood. Used to check that the truth's bare runs are unambiguous, never by the scan.
pub fn is_bare(cover: Cover, soil_under: Soil, date: NaiveDate, phase_days: f64) -> bool {
    match cover {
        Cover::Soil(_) => true,
        Cover::RiceWheat | Cover::RiceFallow | Cover::Grass => {
            let l = layers(cover, soil_under, date, phase_days);
            l.green < 0.15 && l.water < 0.2
        }
        _ => false,
    }
}

/// Normalized difference of nir and red, for readable checks.
pub fn ndvi(s: &Spectrum) -> f32 {
    (s[3] - s[2]) / (s[3] + s[2]).max(1e-6)
}
