//! Writing synthetic acquisitions as a real catalogue would hold them: one Cloud-Optimized GeoTIFF per
//! band (UInt16 reflectance x 10000, nodata 0) plus an SCL band, STAC Items with `eo:bands` and
//! `raster:bands`, and a plot registry GeoPackage.

use std::path::Path;

use chrono::NaiveDate;
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::vector::{FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::{DriverManager, Metadata};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::area::TruthPlot;
use super::spectra::Spectrum;
use crate::error::{Error, Result};
use crate::io::crs;
use crate::raster::GeoTransform;

/// Band files of a scene: (file stem, STAC asset key, common name).
pub const BANDS: [(&str, &str, &str); 6] = [
    ("B02", "blue", "blue"),
    ("B03", "green", "green"),
    ("B04", "red", "red"),
    ("B08", "nir", "nir"),
    ("B11", "swir16", "swir16"),
    ("B12", "swir22", "swir22"),
];

/// What a written scene looked like.
#[derive(Debug, Clone, Copy)]
pub struct WrittenScene {
    /// Percent of pixels SCL calls cloud, cirrus or shadow.
    pub cloud_cover: f64,
}

/// Writes one acquisition into `dir` from a per-pixel function giving reflectance (None: nodata) and SCL.
pub fn write_scene<F>(dir: &Path, size: usize, transform: &GeoTransform, pixel: F) -> Result<WrittenScene>
where
    F: Fn(usize, usize) -> (Option<Spectrum>, u8) + Sync,
{
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let rows: Vec<Vec<(Option<Spectrum>, u8)>> =
        (0..size).into_par_iter().map(|r| (0..size).map(|c| pixel(c, r)).collect()).collect();
    let mut cloudy = 0usize;
    let mut scl = Vec::with_capacity(size * size);
    for row in &rows {
        for (_, s) in row {
            if matches!(s, 3 | 8 | 9 | 10) {
                cloudy += 1;
            }
            scl.push(*s);
        }
    }
    for (b, (stem, _, _)) in BANDS.iter().enumerate() {
        let values: Vec<u16> = rows
            .iter()
            .flat_map(|row| {
                row.iter().map(move |(v, _)| v.map_or(0, |s| (s[b] * 10000.0).round().clamp(1.0, 65535.0) as u16))
            })
            .collect();
        write_cog(&dir.join(format!("{stem}.tif")), size, transform, values, stem, Some(0.0))?;
    }
    write_cog(&dir.join("SCL.tif"), size, transform, scl, "SCL", None)?;
    Ok(WrittenScene { cloud_cover: 100.0 * cloudy as f64 / (size * size) as f64 })
}

fn write_cog<T: gdal::raster::GdalType + Copy>(
    path: &Path,
    size: usize,
    transform: &GeoTransform,
    values: Vec<T>,
    description: &str,
    nodata: Option<f64>,
) -> Result<()> {
    let fail = |e: gdal::errors::GdalError| Error::gdal(path, e);
    let mem = DriverManager::get_driver_by_name("MEM").map_err(fail)?;
    let mut ds = mem.create_with_band_type::<T, _>("", size, size, 1).map_err(fail)?;
    ds.set_geo_transform(&transform.0).map_err(fail)?;
    let wkt = crs::srs_from_epsg(32651).and_then(|s| s.to_wkt().ok()).unwrap_or_default();
    ds.set_projection(&wkt).map_err(fail)?;
    {
        let mut band = ds.rasterband(1).map_err(fail)?;
        band.set_description(description).map_err(fail)?;
        band.set_no_data_value(nodata).map_err(fail)?;
        let mut buffer = Buffer::new((size, size), values);
        band.write((0, 0), (size, size), &mut buffer).map_err(fail)?;
    }
    let cog = DriverManager::get_driver_by_name("COG").map_err(fail)?;
    let options =
        RasterCreationOptions::from_iter(["COMPRESS=DEFLATE", "PREDICTOR=2", "BLOCKSIZE=256", "RESAMPLING=NEAREST"]);
    ds.create_copy(&cog, path, &options).map_err(fail)?;
    Ok(())
}

/// A STAC Item for a scene written by `write_scene`, with hrefs relative to `catalog_dir`.
pub fn stac_item(
    id: &str,
    date: &NaiveDate,
    scene_dir: &Path,
    catalog_dir: &Path,
    cloud_cover: f64,
    transform: &GeoTransform,
    size: usize,
) -> Value {
    let rel = scene_dir.strip_prefix(catalog_dir).unwrap_or(scene_dir).to_string_lossy().replace('\\', "/");
    let mut assets = serde_json::Map::new();
    for (stem, key, common) in BANDS {
        assets.insert(
            key.into(),
            json!({
                "href": format!("{rel}/{stem}.tif"),
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "eo:bands": [{"name": stem, "common_name": common}],
                "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": 0.0}],
            }),
        );
    }
    assets.insert(
        "scl".into(),
        json!({"href": format!("{rel}/SCL.tif"), "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"], "title": "Scene classification"}),
    );
    let (x0, y0) = (transform.0[0], transform.0[3]);
    let (x1, y1) = (x0 + size as f64 * transform.0[1], y0 + size as f64 * transform.0[5]);
    json!({
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
        ],
        "id": id,
        "bbox": [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)],
        "geometry": null,
        "properties": {
            "datetime": format!("{date}T02:51:01Z"),
            "platform": "sentinel-2-demo",
            "eo:cloud_cover": (cloud_cover * 100.0).round() / 100.0,
            "proj:epsg": 32651,
        },
        "assets": assets,
        "links": [],
    })
}

/// Writes an ItemCollection.
pub fn write_item_collection(path: &Path, items: Vec<Value>) -> Result<()> {
    let collection = json!({"type": "FeatureCollection", "features": items});
    std::fs::write(path, serde_json::to_string_pretty(&collection).expect("serializable"))
        .map_err(|e| Error::io(path, e))
}

/// Writes the registry as a GeoPackage in EPSG:32651.
pub fn write_plots(path: &Path, plots: &[TruthPlot], transform: &GeoTransform, listed_before: NaiveDate) -> Result<()> {
    let fail = |e: gdal::errors::GdalError| Error::gdal(path, e);
    let driver = DriverManager::get_driver_by_name("GPKG").map_err(fail)?;
    let mut ds = driver.create_vector_only(path).map_err(fail)?;
    let srs = crs::srs_from_epsg(32651).ok_or_else(|| Error::Usage("EPSG:32651 unknown to PROJ".into()))?;
    let mut txn = ds.start_transaction().map_err(fail)?;
    let layer = txn
        .create_layer(LayerOptions {
            name: "plots",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPolygon,
            options: None,
        })
        .map_err(fail)?;
    for (name, ty) in [
        ("plot_id", OGRFieldType::OFTString),
        ("name", OGRFieldType::OFTString),
        ("category", OGRFieldType::OFTString),
        ("works_allowed", OGRFieldType::OFTInteger),
        ("listed_on", OGRFieldType::OFTString),
    ] {
        FieldDefn::new(name, ty).map_err(fail)?.add_to_layer(&layer).map_err(fail)?;
    }
    for (i, p) in plots.iter().enumerate() {
        let (x0, y0) = transform.pixel_to_geo(p.rect.col as f64, p.rect.row as f64);
        let (x1, y1) = transform.pixel_to_geo((p.rect.col + p.rect.width) as f64, (p.rect.row + p.rect.height) as f64);
        let wkt = format!("POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))");
        let geometry = Geometry::from_wkt(&wkt).map_err(fail)?;
        let mut f = gdal::vector::Feature::new(layer.defn()).map_err(fail)?;
        f.set_geometry(geometry).map_err(fail)?;
        f.set_field_string(0, &p.plot_id).map_err(fail)?;
        f.set_field_string(1, &p.name).map_err(fail)?;
        f.set_field_string(2, p.category.name()).map_err(fail)?;
        f.set_field_integer(3, i32::from(p.works_allowed)).map_err(fail)?;
        let listed = listed_before - chrono::Duration::days(200 + 37 * i as i64);
        f.set_field_string(4, &listed.to_string()).map_err(fail)?;
        f.create(&layer).map_err(fail)?;
    }
    txn.commit().map_err(fail)?;
    Ok(())
}
