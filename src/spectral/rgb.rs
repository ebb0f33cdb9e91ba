//! Visible-band features for RGB imagery (drone orthomosaics, aerial photographs), which has no NIR or
//! SWIR for the usual indices.
//!
//! | feature | formula | what it separates |
//! | --- | --- | --- |
//! | brightness | (R + G + B) / 3 | new concrete, roofs and fill are brighter than what they replace |
//! | chroma | distance of the chromatic coordinates (R, G, B) / (R + G + B) from grey (1/3, 1/3, 1/3) | grey artificial surfaces from coloured soil and plants |
//! | excess green | 2g - r - b on chromatic coordinates (Woebbecke et al. 1995) | vegetation; unlike (G - R) / (G + R) it stays low on blue steel roofs |
//! | warmth | r - b on chromatic coordinates | soil, brick and clay tiles are warm; steel, concrete in shade and water are cool |

use ndarray::{Array3, ArrayView2, Axis};

/// The RGB features, in the order of `RgbFeatures` planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RgbFeature {
    /// Mean of red, green and blue.
    Brightness = 0,
    /// Distance of the chromatic coordinates from grey (0 for grey, up to about 0.82 for a pure primary).
    Chroma = 1,
    /// Excess green on chromatic coordinates, -1 to 2.
    ExcessGreen = 2,
    /// Red minus blue on chromatic coordinates, -1 to 1.
    Warmth = 3,
}

impl RgbFeature {
    /// Every feature, in plane order.
    pub const ALL: [RgbFeature; 4] =
        [RgbFeature::Brightness, RgbFeature::Chroma, RgbFeature::ExcessGreen, RgbFeature::Warmth];

    /// Name used in evidence.
    pub fn name(self) -> &'static str {
        match self {
            RgbFeature::Brightness => "brightness",
            RgbFeature::Chroma => "chroma",
            RgbFeature::ExcessGreen => "excess_green",
            RgbFeature::Warmth => "warmth",
        }
    }
}

/// Feature planes (feature, row, col); NaN where the pixel is invalid.
#[derive(Debug, Clone)]
pub struct RgbFeatures {
    /// Planes in `RgbFeature` order.
    pub data: Array3<f32>,
}

impl RgbFeatures {
    /// One feature plane.
    pub fn get(&self, feature: RgbFeature) -> ArrayView2<'_, f32> {
        self.data.index_axis(Axis(0), feature as usize)
    }
}

/// The features of one pixel from its red, green and blue values (any consistent unit), in
/// `RgbFeature` order. A black pixel has no colour: chroma, excess green and warmth are 0.
#[inline]
pub fn rgb_pixel_features(red: f32, green: f32, blue: f32) -> [f32; 4] {
    let sum = red + green + blue;
    let brightness = sum / 3.0;
    if sum.abs() < 1e-6 {
        return [brightness, 0.0, 0.0, 0.0];
    }
    let (r, g, b) = (red / sum, green / sum, blue / sum);
    let third = 1.0 / 3.0;
    let chroma = ((r - third) * (r - third) + (g - third) * (g - third) + (b - third) * (b - third)).sqrt();
    [brightness, chroma, 2.0 * g - r - b, r - b]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grass_is_green_blue_roofs_and_concrete_are_not() {
        let grass = rgb_pixel_features(88.0, 128.0, 62.0);
        let blue_roof = rgb_pixel_features(70.0, 110.0, 170.0);
        let concrete = rgb_pixel_features(150.0, 152.0, 155.0);
        assert!(grass[2] > 0.3, "{grass:?}");
        assert!(blue_roof[2] < 0.0, "{blue_roof:?}");
        assert!(concrete[1] < 0.02 && concrete[2].abs() < 0.02, "{concrete:?}");
        assert!((concrete[0] - 152.333).abs() < 1e-3);
        assert!(rgb_pixel_features(150.0, 122.0, 92.0)[3] > 0.1 && blue_roof[3] < 0.0, "soil warm, steel cool");
        assert_eq!(rgb_pixel_features(0.0, 0.0, 0.0), [0.0; 4]);
    }
}
