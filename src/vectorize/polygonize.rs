//! Region rasters to polygons with GDALPolygonize.

use gdal::raster::Buffer;
use gdal::vector::{FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::{Dataset, DriverManager};
use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::io::crs;
use crate::raster::Grid;

/// One polygon of a region raster.
#[derive(Debug, Clone)]
pub struct RegionPolygon {
    /// The region id the polygon was traced from.
    pub label: u32,
    /// Geometry as ISO WKB in the grid's CRS.
    pub wkb: Vec<u8>,
    /// Area in CRS units squared (square metres on analysis grids).
    pub area: f64,
}

/// In-memory GDAL raster of `labels` on `grid`, for polygonizing and rasterizing.
pub fn memory_raster_i32(labels: ArrayView2<u32>, grid: &Grid) -> gdal::errors::Result<Dataset> {
    let (h, w) = labels.dim();
    let driver = DriverManager::get_driver_by_name("MEM")?;
    let mut ds = driver.create_with_band_type::<i32, _>("", w, h, 1)?;
    ds.set_geo_transform(&grid.transform.0)?;
    if !grid.crs_wkt.is_empty() {
        ds.set_projection(&grid.crs_wkt)?;
    }
    let data: Vec<i32> = labels.iter().map(|l| *l as i32).collect();
    let mut buffer = Buffer::new((w, h), data);
    ds.rasterband(1)?.write((0, 0), (w, h), &mut buffer)?;
    Ok(ds)
}

/// Traces every nonzero region of `labels` (4-connected, one polygon per region, holes kept).
pub fn polygonize(labels: ArrayView2<u32>, grid: &Grid) -> Result<Vec<RegionPolygon>> {
    crate::io::gdal_env::init();
    let raster = memory_raster_i32(labels, grid).map_err(polygonize_error)?;
    let band = raster.rasterband(1).map_err(polygonize_error)?;
    polygonize_band(&band, grid)
}

fn polygonize_error(e: gdal::errors::GdalError) -> Error {
    Error::Gdal { path: "<polygonize>".into(), message: crate::io::gdal_env::describe(&e) }
}

/// Traces every nonzero region of a label band of any dataset (one polygon per region, by label), for
/// label rasters too large to hold in memory: GDALPolygonize reads the band a line at a time.
pub fn polygonize_band(band: &gdal::raster::RasterBand, grid: &Grid) -> Result<Vec<RegionPolygon>> {
    let fail = polygonize_error;
    let mut vector = DriverManager::get_driver_by_name("Memory").map_err(fail)?.create_vector_only("").map_err(fail)?;
    let srs = if grid.crs_wkt.is_empty() { None } else { crs::srs_from_wkt(&grid.crs_wkt) };
    let layer = vector
        .create_layer(LayerOptions {
            name: "regions",
            srs: srs.as_ref(),
            ty: OGRwkbGeometryType::wkbPolygon,
            options: None,
        })
        .map_err(fail)?;
    FieldDefn::new("label", OGRFieldType::OFTInteger).map_err(fail)?.add_to_layer(&layer).map_err(fail)?;
    // SAFETY: band and layer handles are alive for the call; the mask band is the label band itself,
    // so zero (background) is skipped.
    let rv = unsafe {
        gdal_sys::GDALPolygonize(
            band.c_rasterband(),
            band.c_rasterband(),
            layer.c_layer(),
            0,
            std::ptr::null_mut(),
            None,
            std::ptr::null_mut(),
        )
    };
    if rv != gdal_sys::CPLErr::CE_None {
        return Err(Error::Gdal {
            path: "<polygonize>".into(),
            message: crate::align::warp::last_gdal_message("polygonize failed"),
        });
    }
    let mut layer = vector.layer(0).map_err(fail)?;
    let mut out = Vec::new();
    for feature in layer.features() {
        let label = feature.field_as_integer(0).map_err(fail)?.unwrap_or(0) as u32;
        let Some(geometry) = feature.geometry() else { continue };
        out.push(RegionPolygon { label, wkb: geometry.wkb().map_err(fail)?, area: geometry.area() });
    }
    out.sort_by_key(|p| p.label);
    Ok(out)
}

/// Geometry from WKB, for writers.
pub fn geometry_from_wkb(wkb: &[u8]) -> gdal::errors::Result<Geometry> {
    Geometry::from_wkb(wkb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::GeoTransform;
    use ndarray::array;

    #[test]
    fn regions_become_polygons_with_pixel_areas() {
        let labels = array![[1u32, 1, 0, 0], [1, 1, 0, 2], [0, 0, 0, 2]];
        let grid = Grid {
            crs_wkt: crs::srs_from_epsg(32651).unwrap().to_wkt().unwrap(),
            epsg: Some(32651),
            transform: GeoTransform::north_up(500000.0, 3600000.0, 10.0, 10.0),
            width: 4,
            height: 3,
        };
        let polys = polygonize(labels.view(), &grid).unwrap();
        assert_eq!(polys.len(), 2);
        assert_eq!(polys[0].label, 1);
        assert!((polys[0].area - 400.0).abs() < 1e-6);
        assert!((polys[1].area - 200.0).abs() < 1e-6);
    }
}
