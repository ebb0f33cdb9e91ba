//! Region rasters to polygons with GDALPolygonize.

use gdal::raster::{Buffer, RasterBand};
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
    let raster = memory_raster_i32(labels, grid).map_err(fail)?;
    let band = raster.rasterband(1).map_err(fail)?;
    polygonize_band(&band, grid)
}

/// Traces the regions of `labels`, a crop of `grid` whose first pixel is at `row`, `col`: the polygons
/// [`polygonize`] gives for the same regions on the whole grid, to the bit, for the price of the crop.
/// The crop is traced in pixel units, where every vertex is an exact integer, and the vertices are put on
/// the grid with GDALPolygonize's own arithmetic (`x = t0 + col t1 + row t2`, `y = t3 + col t4 + row t5`,
/// added left to right), so they round exactly as on the whole grid.
pub fn polygonize_crop(labels: ArrayView2<u32>, row: usize, col: usize, grid: &Grid) -> Result<Vec<RegionPolygon>> {
    crate::io::gdal_env::init();
    let (h, w) = labels.dim();
    let pixels = Grid {
        crs_wkt: String::new(),
        epsg: None,
        transform: crate::raster::GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        width: w,
        height: h,
    };
    let raster = memory_raster_i32(labels, &pixels).map_err(fail)?;
    let band = raster.rasterband(1).map_err(fail)?;
    let mut out = polygonize_band(&band, &pixels)?;
    let t = grid.transform.0;
    for p in &mut out {
        place_vertices(&mut p.wkb, |x, y| {
            let (c, r) = (col as f64 + x, row as f64 + y);
            (t[0] + c * t[1] + r * t[2], t[3] + c * t[4] + r * t[5])
        })?;
        p.area = Geometry::from_wkb(&p.wkb).map_err(fail)?.area();
    }
    Ok(out)
}

/// Maps every vertex of a WKB polygon (as GDALPolygonize writes them: one byte order, type 3, rings of
/// x, y pairs) through `f`, in place.
fn place_vertices(wkb: &mut [u8], f: impl Fn(f64, f64) -> (f64, f64)) -> Result<()> {
    let bad = || Error::Gdal { path: "<polygonize>".into(), message: "unexpected polygon WKB".into() };
    let little = match wkb.first() {
        Some(1) => true,
        Some(0) => false,
        _ => return Err(bad()),
    };
    let u32_at = |b: &[u8], at: usize| -> Result<usize> {
        let bytes: [u8; 4] = b.get(at..at + 4).ok_or_else(bad)?.try_into().expect("four bytes");
        Ok((if little { u32::from_le_bytes(bytes) } else { u32::from_be_bytes(bytes) }) as usize)
    };
    let f64_at = |b: &[u8], at: usize| -> f64 {
        let bytes: [u8; 8] = b[at..at + 8].try_into().expect("eight bytes");
        if little { f64::from_le_bytes(bytes) } else { f64::from_be_bytes(bytes) }
    };
    if u32_at(wkb, 1)? != 3 {
        return Err(bad());
    }
    let rings = u32_at(wkb, 5)?;
    let mut at = 9;
    for _ in 0..rings {
        let points = u32_at(wkb, at)?;
        at += 4;
        if wkb.len() < at + 16 * points {
            return Err(bad());
        }
        for _ in 0..points {
            let (x, y) = f(f64_at(wkb, at), f64_at(wkb, at + 8));
            let (x, y) = if little { (x.to_le_bytes(), y.to_le_bytes()) } else { (x.to_be_bytes(), y.to_be_bytes()) };
            wkb[at..at + 8].copy_from_slice(&x);
            wkb[at + 8..at + 16].copy_from_slice(&y);
            at += 16;
        }
    }
    Ok(())
}

/// Traces every nonzero region of an integer label band on `grid`, such as a label raster on disk too
/// large to hold in memory: GDAL reads it line by line.
pub fn polygonize_band(band: &RasterBand, grid: &Grid) -> Result<Vec<RegionPolygon>> {
    crate::io::gdal_env::init();
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

fn fail(e: gdal::errors::GdalError) -> Error {
    Error::Gdal { path: "<polygonize>".into(), message: crate::error::describe_gdal(&e) }
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
