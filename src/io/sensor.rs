//! Sensor profiles: which file band is which spectral role, and how digital numbers become reflectance.

use std::str::FromStr;

use serde::Serialize;

use crate::raster::BandRole;

/// A known sensor layout, chosen with `--sensor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensor {
    /// Sentinel-2 Level-2A surface reflectance stacked as B02,B03,B04,B08,B11,B12 (or the full 12/13-band order).
    Sentinel2L2a,
    /// Landsat 4/5 TM or 7 ETM+: bands 1,2,3,4,5,7 = blue, green, red, nir, swir1, swir2.
    LandsatTm,
    /// Landsat 8/9 OLI Collection 2 Level-2: SR_B1..SR_B7 = coastal, blue, green, red, nir, swir1, swir2.
    Landsat8C2l2,
    /// Gaofen-1/2/6 multispectral: blue, green, red, nir. No SWIR.
    Gaofen,
    /// A drone RGB orthomosaic: red, green, blue (alpha, if any, is the mask).
    DroneRgb,
    /// A drone multispectral orthomosaic (MicaSense order): blue, green, red, nir, red edge.
    DroneMs,
}

impl Sensor {
    /// Every profile, for help and error messages.
    pub const ALL: [Sensor; 6] = [
        Sensor::Sentinel2L2a,
        Sensor::LandsatTm,
        Sensor::Landsat8C2l2,
        Sensor::Gaofen,
        Sensor::DroneRgb,
        Sensor::DroneMs,
    ];

    /// The `--sensor` name.
    pub fn name(self) -> &'static str {
        match self {
            Sensor::Sentinel2L2a => "sentinel2-l2a",
            Sensor::LandsatTm => "landsat-tm",
            Sensor::Landsat8C2l2 => "landsat8-c2l2",
            Sensor::Gaofen => "gaofen",
            Sensor::DroneRgb => "drone-rgb",
            Sensor::DroneMs => "drone-ms",
        }
    }

    /// Which 1-based file band holds which role, for a file with `band_count` bands.
    pub fn layout(self, band_count: usize) -> Vec<(BandRole, usize)> {
        use BandRole::*;
        match self {
            Sensor::Sentinel2L2a => {
                if band_count >= 12 {
                    // Full L2A order: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12 (B10 is not in L2A).
                    vec![
                        (Coastal, 1),
                        (Blue, 2),
                        (Green, 3),
                        (Red, 4),
                        (RedEdge, 5),
                        (Nir, 8),
                        (Swir1, 11),
                        (Swir2, 12),
                    ]
                } else {
                    vec![(Blue, 1), (Green, 2), (Red, 3), (Nir, 4), (Swir1, 5), (Swir2, 6)]
                }
            }
            Sensor::LandsatTm => {
                if band_count >= 7 {
                    // All seven TM bands in the file, thermal band 6 included.
                    vec![(Blue, 1), (Green, 2), (Red, 3), (Nir, 4), (Swir1, 5), (Swir2, 7)]
                } else {
                    vec![(Blue, 1), (Green, 2), (Red, 3), (Nir, 4), (Swir1, 5), (Swir2, 6)]
                }
            }
            Sensor::Landsat8C2l2 => {
                vec![(Coastal, 1), (Blue, 2), (Green, 3), (Red, 4), (Nir, 5), (Swir1, 6), (Swir2, 7)]
            }
            Sensor::Gaofen => vec![(Blue, 1), (Green, 2), (Red, 3), (Nir, 4)],
            Sensor::DroneRgb => vec![(Red, 1), (Green, 2), (Blue, 3)],
            Sensor::DroneMs => vec![(Blue, 1), (Green, 2), (Red, 3), (Nir, 4), (RedEdge, 5)],
        }
        .into_iter()
        .filter(|(_, idx)| *idx <= band_count)
        .collect()
    }

    /// Digital number to reflectance (`scale`, `offset`) for a storage type, where the file does not say.
    pub fn default_scaling(self, data_type: &str) -> (f64, f64) {
        match (self, data_type) {
            (_, "Float32" | "Float64") => (1.0, 0.0),
            // Collection 2 Level-2 surface reflectance (USGS product guide).
            (Sensor::Landsat8C2l2, _) | (Sensor::LandsatTm, "UInt16") => (2.75e-5, -0.2),
            // 10-bit Gaofen DN, uncalibrated: ratios are exact, absolute thresholds approximate.
            (Sensor::Gaofen, "UInt16") => (1.0 / 1023.0, 0.0),
            (Sensor::DroneRgb | Sensor::DroneMs, "UInt16") => (1.0 / 65535.0, 0.0),
            (_, dt) => generic_scaling(dt),
        }
    }

    /// Whether values of this profile and storage type are surface reflectance (atmospherically
    /// corrected). Level-1 digital numbers are not: haze lifts the blue band and skews every index, so
    /// they get a dark-object subtraction before classes are decided.
    pub fn is_surface_reflectance(self, data_type: &str) -> bool {
        !matches!((self, data_type), (Sensor::LandsatTm, "Byte") | (Sensor::Gaofen, _))
    }

    /// False for sensors whose indices are limited to NDVI and visible-band tests.
    pub fn has_swir(self) -> bool {
        matches!(self, Sensor::Sentinel2L2a | Sensor::LandsatTm | Sensor::Landsat8C2l2)
    }
}

/// Scaling when neither the file nor a profile says: 8-bit to 0..1, 16-bit as the usual 1/10000 reflectance.
pub fn generic_scaling(data_type: &str) -> (f64, f64) {
    match data_type {
        "Byte" | "Int8" => (1.0 / 255.0, 0.0),
        "UInt16" | "Int16" | "UInt32" | "Int32" => (1e-4, 0.0),
        _ => (1.0, 0.0),
    }
}

impl FromStr for Sensor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Sensor::ALL.into_iter().find(|p| p.name() == wanted).ok_or_else(|| {
            let names: Vec<_> = Sensor::ALL.iter().map(|p| p.name()).collect();
            format!("unknown sensor profile '{s}' (known: {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for Sensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `--bands blue=1,green=2,...` into (role, 1-based index) pairs.
pub fn parse_band_overrides(spec: &str) -> Result<Vec<(BandRole, usize)>, String> {
    let mut out: Vec<(BandRole, usize)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, index) =
            part.split_once('=').ok_or_else(|| format!("--bands: '{part}' is not NAME=INDEX (e.g. nir=4)"))?;
        let role = BandRole::parse(name).ok_or_else(|| {
            let names: Vec<_> = BandRole::ALL.iter().map(|r| r.name()).collect();
            format!("--bands: unknown band name '{name}' (known: {})", names.join(", "))
        })?;
        let index: usize = index
            .trim()
            .parse()
            .ok()
            .filter(|i| *i >= 1)
            .ok_or_else(|| format!("--bands: index for {name} must be a band number from 1, got '{index}'"))?;
        out.retain(|(r, _)| *r != role);
        out.push((role, index));
    }
    if out.is_empty() {
        return Err("--bands: no NAME=INDEX pairs given".into());
    }
    Ok(out)
}

/// The role a band description or colour interpretation suggests (`B04`, `red`, `SR_B5` with a profile, ...).
pub fn role_from_description(description: &str, color: Option<&str>) -> Option<BandRole> {
    let d = description.trim();
    if let Some(role) = BandRole::parse(d) {
        return Some(role);
    }
    let upper = d.to_ascii_uppercase();
    // Sentinel-2 band names, with or without the leading zero.
    let s2 = match upper.as_str() {
        "B1" | "B01" => Some(BandRole::Coastal),
        "B2" | "B02" => Some(BandRole::Blue),
        "B3" | "B03" => Some(BandRole::Green),
        "B4" | "B04" => Some(BandRole::Red),
        "B5" | "B05" => Some(BandRole::RedEdge),
        "B8" | "B08" | "B8A" => Some(BandRole::Nir),
        "B11" => Some(BandRole::Swir1),
        "B12" => Some(BandRole::Swir2),
        _ => None,
    };
    if s2.is_some() {
        return s2;
    }
    // Free text such as "Near Infrared (NIR) band" or "Red band".
    let lower = d.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    for w in &words {
        if let Some(role) = BandRole::parse(w) {
            if !(words.contains(&"infrared") && matches!(role, BandRole::Red)) {
                return Some(role);
            }
        }
    }
    if lower.contains("near infrared") || lower.contains("near-infrared") {
        return Some(BandRole::Nir);
    }
    match color {
        Some("Red") => Some(BandRole::Red),
        Some("Green") => Some(BandRole::Green),
        Some("Blue") => Some(BandRole::Blue),
        _ => None,
    }
}

/// The role of a band centred at `nm` nanometres (Landsat, Sentinel-2 and common drone band edges).
pub fn role_from_wavelength_nm(nm: f64) -> Option<BandRole> {
    Some(match nm {
        x if (400.0..455.0).contains(&x) => BandRole::Coastal,
        x if (455.0..520.0).contains(&x) => BandRole::Blue,
        x if (520.0..610.0).contains(&x) => BandRole::Green,
        x if (610.0..690.0).contains(&x) => BandRole::Red,
        x if (690.0..760.0).contains(&x) => BandRole::RedEdge,
        x if (760.0..1000.0).contains(&x) => BandRole::Nir,
        x if (1500.0..1800.0).contains(&x) => BandRole::Swir1,
        x if (2000.0..2450.0).contains(&x) => BandRole::Swir2,
        _ => return None,
    })
}

/// A centre wavelength in nanometres from text such as "(0.482500 Micrometers)", "865 nm" or a bare
/// number with a separate unit (ENVI `wavelength` / `wavelength_units` band metadata).
pub fn wavelength_nm(text: &str, unit_hint: Option<&str>) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let unit_in_text = ["micrometers", "micrometer", "microns", "micron", "um", "µm", "nanometers", "nm"]
        .into_iter()
        .find(|u| lower.contains(u));
    let unit = unit_in_text.or(unit_hint.map(|u| u.trim()).filter(|u| !u.is_empty()))?.to_ascii_lowercase();
    let scale = if unit.starts_with("nano") || unit == "nm" {
        1.0
    } else if unit.starts_with("micro") || unit == "um" || unit == "µm" {
        1000.0
    } else {
        return None;
    };
    // The number right before the unit, or the only number in a metadata value.
    let end = unit_in_text.and_then(|u| lower.rfind(u)).unwrap_or(lower.len());
    let head = &lower[..end];
    let number: String = head
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    number.parse::<f64>().ok().map(|v| v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landsat_tm_layout_skips_thermal_in_seven_band_files() {
        let six = Sensor::LandsatTm.layout(6);
        assert_eq!(six.iter().find(|(r, _)| *r == BandRole::Swir2), Some(&(BandRole::Swir2, 6)));
        let seven = Sensor::LandsatTm.layout(7);
        assert_eq!(seven.iter().find(|(r, _)| *r == BandRole::Swir2), Some(&(BandRole::Swir2, 7)));
    }

    #[test]
    fn overrides_parse_and_reject_nonsense() {
        let b = parse_band_overrides("blue=1, green=2,red=3,nir=4,swir1=5,swir2=6").unwrap();
        assert_eq!(b.len(), 6);
        assert_eq!(b[3], (BandRole::Nir, 4));
        assert!(parse_band_overrides("nir=0").unwrap_err().contains("from 1"));
        assert!(parse_band_overrides("thermal=7").unwrap_err().contains("unknown band name"));
        assert!(parse_band_overrides("nir").unwrap_err().contains("NAME=INDEX"));
    }

    #[test]
    fn descriptions_name_roles() {
        assert_eq!(role_from_description("B8A", None), Some(BandRole::Nir));
        assert_eq!(role_from_description("Near Infrared band", None), Some(BandRole::Nir));
        assert_eq!(role_from_description("red", None), Some(BandRole::Red));
        assert_eq!(role_from_description("", Some("Blue")), Some(BandRole::Blue));
        assert_eq!(role_from_description("Band 1", None), None);
    }

    #[test]
    fn wavelengths_name_roles() {
        // ENVI band names of the Taizhou Landsat-7 pair.
        let nm =
            wavelength_nm("Resize (ETM+ Meta (Band 7):L71119038_03820000317_MTL.txt) (2.220000 Micrometers)", None)
                .unwrap();
        assert!((nm - 2220.0).abs() < 1e-6);
        assert_eq!(role_from_wavelength_nm(nm), Some(BandRole::Swir2));
        assert_eq!(wavelength_nm("0.825", Some("Micrometers")).map(role_from_wavelength_nm), Some(Some(BandRole::Nir)));
        assert_eq!(wavelength_nm("842 nm", None), Some(842.0));
        assert_eq!(wavelength_nm("Band 1", None), None);
        assert_eq!(role_from_wavelength_nm(1200.0), None);
    }

    #[test]
    fn sensor_names_round_trip() {
        for s in Sensor::ALL {
            assert_eq!(s.name().parse::<Sensor>().unwrap(), s);
        }
        assert!("sentinel3".parse::<Sensor>().unwrap_err().contains("landsat-tm"));
    }
}
