//! A spectral cloud test for scenes without a quality band, and for the clouds a quality band misses:
//! bright, spectrally flat and not green.

use super::indices::Pixel;

/// Blue reflectance above which a flat, non-vegetated pixel is taken for cloud. Concrete and fill stay
/// below 0.25 in blue; thick cloud is 0.3 and more.
pub const CLOUD_MIN_BLUE: f32 = 0.27;
/// Spread of blue, green and red relative to their mean below which a bright pixel is "white".
pub const CLOUD_MAX_VISIBLE_SPREAD: f32 = 0.25;

/// True for a pixel that looks like cloud.
pub fn looks_like_cloud(p: &Pixel) -> bool {
    let mean = (p.blue + p.green + p.red) / 3.0;
    let spread = (p.blue.max(p.green).max(p.red) - p.blue.min(p.green).min(p.red)) / mean.max(1e-6);
    let ndvi = super::indices::normalized_difference(p.nir, p.red);
    p.blue >= CLOUD_MIN_BLUE && spread <= CLOUD_MAX_VISIBLE_SPREAD && ndvi < 0.3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::spectra::*;

    fn px(s: &Spectrum) -> Pixel {
        Pixel { blue: s[0], green: s[1], red: s[2], nir: s[3], swir1: s[4], swir2: s[5] }
    }

    #[test]
    fn clouds_yes_ground_no() {
        assert!(looks_like_cloud(&px(&CLOUD)));
        for ground in [CONCRETE, SOIL, FILL, VEGETATION, WATER, BLUE_ROOF, DUST_NET] {
            assert!(!looks_like_cloud(&px(&ground)), "{ground:?}");
        }
    }
}
