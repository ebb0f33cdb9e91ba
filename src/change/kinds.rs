//! Naming a change from what covered the ground before and after.

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
}
