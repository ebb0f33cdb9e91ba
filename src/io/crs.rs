//! Coordinate reference systems: EPSG identification, metric analysis CRSs, footprint transforms.

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

use crate::raster::Bounds;

/// A spatial reference with GIS-friendly (x = easting/longitude) axis order, as every jingtu grid uses.
pub fn srs_from_wkt(wkt: &str) -> Option<SpatialRef> {
    let mut srs = SpatialRef::from_wkt(wkt).or_else(|_| SpatialRef::from_definition(wkt)).ok()?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Some(srs)
}

/// An EPSG code, GIS axis order.
pub fn srs_from_epsg(code: u32) -> Option<SpatialRef> {
    let mut srs = SpatialRef::from_epsg(code).ok()?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Some(srs)
}

/// The CRS to write into an output: the EPSG definition where one is identified (so every output of a
/// run, raster and vector, names the same EPSG code, whatever spelling the input's WKT had: an ENVI
/// header's ESRI WKT "UTM_Zone_51N" is EPSG:32651), else the definition as given.
pub fn canonical_srs(wkt: &str) -> Option<SpatialRef> {
    let srs = srs_from_wkt(wkt)?;
    match epsg_of(&srs).and_then(srs_from_epsg) {
        Some(epsg) => Some(epsg),
        None => Some(srs),
    }
}

/// The EPSG code of a CRS, identifying it from its definition where the file does not carry one
/// (ENVI and ESRI WKT rarely do).
pub fn epsg_of(srs: &SpatialRef) -> Option<u32> {
    let authority_code = |s: &SpatialRef| {
        (s.auth_name().as_deref() == Some("EPSG")).then(|| s.auth_code().ok()).flatten().map(|c| c as u32)
    };
    if let Some(code) = authority_code(srs) {
        return Some(code);
    }
    let mut copy = srs.clone();
    if copy.auto_identify_epsg().is_ok() {
        if let Some(code) = authority_code(&copy) {
            return Some(code);
        }
    }
    best_match(srs)
}

/// PROJ's identification of a CRS (ESRI WKT such as "UTM_Zone_51N" on WGS 84): the EPSG entry it is
/// at least 70% sure of, where there is exactly one best.
fn best_match(srs: &SpatialRef) -> Option<u32> {
    let mut count = 0;
    let mut confidence: *mut std::ffi::c_int = std::ptr::null_mut();
    // SAFETY: OSRFindMatches returns an array of `count` SRS handles and confidences that we free below.
    unsafe {
        let matches = gdal_sys::OSRFindMatches(srs.to_c_hsrs(), std::ptr::null_mut(), &mut count, &mut confidence);
        if matches.is_null() {
            return None;
        }
        let mut found = None;
        if count > 0 && *confidence >= 70 {
            let first = SpatialRef::from_c_obj(*matches).ok();
            found = first.and_then(|m| {
                (m.auth_name().as_deref() == Some("EPSG")).then(|| m.auth_code().ok()).flatten().map(|c| c as u32)
            });
        }
        gdal_sys::OSRFreeSRSArray(matches);
        gdal_sys::VSIFree(confidence as *mut std::ffi::c_void);
        found
    }
}

/// The WGS 84 UTM zone (EPSG:326xx/327xx) holding a longitude and latitude.
pub fn utm_epsg(lon: f64, lat: f64) -> u32 {
    let zone = (((lon + 180.0) / 6.0).floor() as i64).clamp(0, 59) as u32 + 1;
    if lat >= 0.0 { 32600 + zone } else { 32700 + zone }
}

/// True where coordinates are metres on a projection, as analysis grids need for areas and distances.
pub fn is_metric_projected(srs: &SpatialRef) -> bool {
    srs.is_projected() && (srs.linear_units() - 1.0).abs() < 1e-9
}

/// Transforms a rectangle between CRSs (densified edges, so curved footprints are covered).
pub fn transform_bounds(bounds: &Bounds, from: &SpatialRef, to: &SpatialRef) -> Option<Bounds> {
    let t = CoordTransform::new(from, to).ok()?;
    let b = t.transform_bounds(&[bounds.min_x, bounds.min_y, bounds.max_x, bounds.max_y], 21).ok()?;
    Some(Bounds { min_x: b[0], min_y: b[1], max_x: b[2], max_y: b[3] })
}

/// Whether two CRSs describe the same coordinates.
pub fn same_crs(a: &SpatialRef, b: &SpatialRef) -> bool {
    match (epsg_of(a), epsg_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_zone_of_jiangsu_is_51n() {
        // Taizhou, Jiangsu: about 120.0 E, 32.5 N lies in zone 51 (120-126 E).
        assert_eq!(utm_epsg(120.5, 32.5), 32651);
        assert_eq!(utm_epsg(119.9, 32.5), 32650);
        assert_eq!(utm_epsg(-70.0, -33.0), 32719);
    }

    #[test]
    fn cgcs2000_gauss_kruger_is_metric() {
        crate::io::gdal_env::init();
        let gk = srs_from_epsg(4549).unwrap();
        assert!(is_metric_projected(&gk));
        let geo = srs_from_epsg(4490).unwrap();
        assert!(!is_metric_projected(&geo));
        assert_eq!(epsg_of(&gk), Some(4549));
    }
}
