//! The growing season, judged from the area itself.
//!
//! Without SWIR, "bare" only means "low NDVI", which dormant grass, leafless forest and snow also show in
//! winter. On the real Slovenian Sentinel-2 series (eolearn-s2-ndvi-series) a plain NDVI rule finds
//! 116 "idle" forest pixels in winter, in regions of up to 20 pixels. So for observations without SWIR, a
//! low-NDVI pixel counts as bare only while the area is green: when the median NDVI of the valid pixels
//! read for an acquisition is below [`DORMANT_MEDIAN_NDVI`] (or too little of it is clear to tell), bare
//! evidence from that acquisition is set aside as ambiguous. With SWIR, soil is recognised by its
//! spectrum and the season does not matter.

/// Median NDVI of an area below which its vegetation is dormant (leafless, snowy or brown).
pub const DORMANT_MEDIAN_NDVI: f32 = 0.45;
/// Share of clear pixels below which the season cannot be judged from an acquisition.
pub const MIN_CLEAR_FRACTION: f32 = 0.2;

/// True when the area's vegetation is dormant on an acquisition (or it is too cloudy to tell).
pub fn is_dormant(median_ndvi: f32, clear_fraction: f32) -> bool {
    !(clear_fraction >= MIN_CLEAR_FRACTION && median_ndvi >= DORMANT_MEDIAN_NDVI)
}

/// Median of the finite values (NaN when there are none).
pub fn median(values: impl Iterator<Item = f32>) -> f32 {
    let mut v: Vec<f32> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f32::NAN;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dormancy_needs_green_and_clear() {
        assert!(!is_dormant(0.7, 1.0));
        assert!(is_dormant(0.24, 1.0), "January in the Slovenian series");
        assert!(is_dormant(0.7, 0.08), "too cloudy to judge");
        assert_eq!(median([3.0, f32::NAN, 1.0, 2.0].into_iter()), 2.0);
        assert!(median(std::iter::empty()).is_nan());
    }
}
