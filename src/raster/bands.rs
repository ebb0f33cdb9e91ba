//! Band roles and the in-memory band stack every kernel works on.

use ndarray::{Array2, Array3, ArrayView2};
use serde::{Deserialize, Serialize};

/// What a band measures, independent of its position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BandRole {
    /// Coastal aerosol, about 443 nm.
    Coastal,
    /// Blue, about 490 nm.
    Blue,
    /// Green, about 560 nm.
    Green,
    /// Red, about 665 nm.
    Red,
    /// Red edge, about 705-783 nm.
    RedEdge,
    /// Near infrared, about 842-865 nm.
    Nir,
    /// Short-wave infrared, about 1610 nm (`swir16`).
    Swir1,
    /// Short-wave infrared, about 2200 nm (`swir22`).
    Swir2,
}

impl BandRole {
    /// Every role, in spectral order.
    pub const ALL: [BandRole; 8] = [
        BandRole::Coastal,
        BandRole::Blue,
        BandRole::Green,
        BandRole::Red,
        BandRole::RedEdge,
        BandRole::Nir,
        BandRole::Swir1,
        BandRole::Swir2,
    ];

    /// The name used on the command line and in output (`--bands nir=4`).
    pub fn name(self) -> &'static str {
        match self {
            BandRole::Coastal => "coastal",
            BandRole::Blue => "blue",
            BandRole::Green => "green",
            BandRole::Red => "red",
            BandRole::RedEdge => "rededge",
            BandRole::Nir => "nir",
            BandRole::Swir1 => "swir1",
            BandRole::Swir2 => "swir2",
        }
    }

    /// Parses role names, STAC `eo:bands` common names and the usual synonyms.
    pub fn parse(name: &str) -> Option<BandRole> {
        let n = name.trim().to_ascii_lowercase();
        Some(match n.as_str() {
            "coastal" | "aerosol" | "coastal_aerosol" => BandRole::Coastal,
            "blue" | "b" => BandRole::Blue,
            "green" | "g" => BandRole::Green,
            "red" | "r" => BandRole::Red,
            "rededge" | "red_edge" | "rededge1" | "rededge2" | "rededge3" => BandRole::RedEdge,
            "nir" | "nir08" | "nir09" | "near_infrared" | "near-infrared" | "nearinfrared" => BandRole::Nir,
            "swir1" | "swir16" | "swir_1" | "swir" => BandRole::Swir1,
            "swir2" | "swir22" | "swir_2" => BandRole::Swir2,
            _ => return None,
        })
    }
}

impl std::fmt::Display for BandRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bands of one acquisition on one grid, as reflectance (0..1 nominal) in `f32`.
///
/// `data` is (band, row, col) in standard layout so a band is one contiguous slice (what GPU uploads want).
/// `valid` is 1 where every band holds an observation; invalid pixels hold NaN in `data` so no kernel can
/// mistake them for dark ground.
#[derive(Debug, Clone)]
pub struct BandStack {
    /// Role of each band, in `data` order.
    pub roles: Vec<BandRole>,
    /// Values, (band, row, col).
    pub data: Array3<f32>,
    /// 1 where the pixel is an observation, 0 for nodata, masked or cloud.
    pub valid: Array2<u8>,
}

impl BandStack {
    /// Builds a stack, checking that the pieces agree in shape.
    pub fn new(roles: Vec<BandRole>, data: Array3<f32>, valid: Array2<u8>) -> Self {
        assert_eq!(roles.len(), data.dim().0, "one role per band");
        assert_eq!((data.dim().1, data.dim().2), valid.dim(), "mask and data share a shape");
        BandStack { roles, data, valid }
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.data.dim().1
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.data.dim().2
    }

    /// Position of `role` in the stack.
    pub fn index_of(&self, role: BandRole) -> Option<usize> {
        self.roles.iter().position(|r| *r == role)
    }

    /// The band with `role`, if present.
    pub fn band(&self, role: BandRole) -> Option<ArrayView2<'_, f32>> {
        self.index_of(role).map(|i| self.data.index_axis(ndarray::Axis(0), i))
    }

    /// True when the stack has short-wave infrared, which soil and built-up tests need to be trustworthy.
    pub fn has_swir(&self) -> bool {
        self.index_of(BandRole::Swir1).is_some()
    }

    /// Number of valid pixels.
    pub fn valid_count(&self) -> usize {
        self.valid.iter().filter(|v| **v != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stac_common_names_parse_to_roles() {
        assert_eq!(BandRole::parse("swir16"), Some(BandRole::Swir1));
        assert_eq!(BandRole::parse("SWIR22"), Some(BandRole::Swir2));
        assert_eq!(BandRole::parse("nir08"), Some(BandRole::Nir));
        assert_eq!(BandRole::parse("pan"), None);
        for r in BandRole::ALL {
            assert_eq!(BandRole::parse(r.name()), Some(r));
        }
    }
}
