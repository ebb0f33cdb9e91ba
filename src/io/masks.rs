//! Quality bands: which pixels are observations of the ground.

/// Sentinel-2 L2A scene classification: 0 no data, 1 saturated or defective, 3 cloud shadow,
/// 8 cloud (medium probability), 9 cloud (high probability), 10 thin cirrus, 11 snow or ice are not
/// observations of the ground (ESA L2A product specification).
pub fn scl_is_valid(scl: u8) -> bool {
    !matches!(scl, 0 | 1 | 3 | 8 | 9 | 10 | 11)
}

/// Landsat Collection 2 `qa_pixel`: bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow and
/// 5 snow make a pixel unusable (USGS Collection 2 Level-2 product guide).
pub fn qa_pixel_is_valid(qa: u16) -> bool {
    const UNUSABLE: u16 = 1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4 | 1 << 5;
    qa & UNUSABLE == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scl_classes() {
        for v in [4, 5, 6, 7, 2] {
            assert!(scl_is_valid(v), "{v}");
        }
        for v in [0, 1, 3, 8, 9, 10, 11] {
            assert!(!scl_is_valid(v), "{v}");
        }
    }

    #[test]
    fn qa_pixel_bits() {
        // 21824 = clear land on Landsat 8 (bit 6 clear, bits 8-9 and 12-13 low confidences); 21762 adds
        // the dilated-cloud bit; 22280 is high-confidence cloud.
        assert!(qa_pixel_is_valid(21824));
        assert!(!qa_pixel_is_valid(21762 | 1 << 1));
        assert!(!qa_pixel_is_valid(22280));
        assert!(!qa_pixel_is_valid(1));
    }
}
