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

/// The STAC version the demo catalogue is written in, and the extension schemas it declares (the
/// versions whose schemas `fixtures/stac-schemas` holds for the validation test). Projection v1.2.0 is the
/// one version that has both `proj:epsg` (which stackstac reads) and `proj:code` (STAC 1.1 clients).
pub const STAC_VERSION: &str = "1.1.0";
/// See [`STAC_VERSION`].
pub const STAC_EXTENSIONS: [&str; 3] = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.2.0/schema.json",
];

/// The media type of a Cloud-Optimized GeoTIFF asset (STAC best practices).
pub const COG_MEDIA_TYPE: &str = "image/tiff; application=geotiff; profile=cloud-optimized";

/// A STAC Item for a scene written by `write_scene`, to be written as `catalog_dir/<id>.json` (asset hrefs
/// relative to `catalog_dir`, so the Item reads the same from its own file and from an ItemCollection
/// beside it). `epsg` is the grid's CRS; geometry and bbox are in WGS84 as the STAC spec (RFC 7946)
/// requires, the native grid in `proj:*`.
#[allow(clippy::too_many_arguments)]
pub fn stac_item(
    id: &str,
    date: &NaiveDate,
    scene_dir: &Path,
    catalog_dir: &Path,
    cloud_cover: f64,
    transform: &GeoTransform,
    size: usize,
    epsg: u32,
) -> Result<Value> {
    let rel = scene_dir.strip_prefix(catalog_dir).unwrap_or(scene_dir).to_string_lossy().replace('\\', "/");
    let mut assets = serde_json::Map::new();
    for (stem, key, common) in BANDS {
        assets.insert(
            key.into(),
            json!({
                "href": format!("./{rel}/{stem}.tif"),
                "type": COG_MEDIA_TYPE,
                "title": format!("{stem} ({common})"),
                "roles": ["data", "reflectance"],
                "eo:bands": [{"name": stem, "common_name": common}],
                "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": 0.0}],
            }),
        );
    }
    assets.insert(
        "scl".into(),
        json!({
            "href": format!("./{rel}/SCL.tif"),
            "type": COG_MEDIA_TYPE,
            "title": "Scene classification (Sentinel-2 L2A SCL)",
            "roles": ["data", "cloud"],
            "raster:bands": [{"data_type": "uint8"}],
        }),
    );
    let (x0, y0) = (transform.0[0], transform.0[3]);
    let (x1, y1) = (x0 + size as f64 * transform.0[1], y0 + size as f64 * transform.0[5]);
    let native = [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)];
    let (ring, bbox) = wgs84_footprint(&native, epsg)?;
    let item_file = catalog_dir.join(format!("{id}.json"));
    Ok(json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": STAC_EXTENSIONS,
        "id": id,
        "bbox": bbox,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "datetime": format!("{date}T02:51:01Z"),
            "platform": "sentinel-2-demo",
            "gsd": transform.0[1].abs(),
            "eo:cloud_cover": (cloud_cover * 100.0).round() / 100.0,
            "proj:epsg": epsg,
            "proj:code": format!("EPSG:{epsg}"),
            "proj:bbox": native,
            "proj:shape": [size, size],
            // STAC's order is the affine's rows, (a, b, c, d, e, f); GDAL's is (c, a, b, f, d, e).
            "proj:transform": [
                transform.0[1], transform.0[2], transform.0[0],
                transform.0[4], transform.0[5], transform.0[3],
                0.0, 0.0, 1.0
            ],
        },
        "assets": assets,
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json", "title": "jingtu demo"},
            {"rel": "parent", "href": "./catalog.json", "type": "application/json"},
            // Absolute, as the spec asks of self links; readers resolve the relative hrefs against it.
            {"rel": "self", "href": absolute(&item_file), "type": "application/geo+json"},
        ],
    }))
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().into_owned()
}

/// The footprint of `native` bounds (in EPSG:`epsg`) in WGS84 longitude/latitude: the counter-clockwise
/// ring (RFC 7946) through its corners and edge midpoints, and its bbox. Reprojected by OGR with the
/// traditional GIS axis order, so longitude comes first whatever EPSG:4326 says.
pub fn wgs84_footprint(native: &[f64; 4], epsg: u32) -> Result<(Vec<[f64; 2]>, [f64; 4])> {
    let from = crs::srs_from_epsg(epsg).ok_or_else(|| Error::Usage(format!("EPSG:{epsg} unknown to PROJ")))?;
    let to = crs::srs_from_epsg(4326).ok_or_else(|| Error::Usage("EPSG:4326 unknown to PROJ".into()))?;
    let t = gdal::spatial_ref::CoordTransform::new(&from, &to)
        .map_err(|e| Error::Usage(format!("no transformation from EPSG:{epsg} to WGS84: {e}")))?;
    let [minx, miny, maxx, maxy] = *native;
    let (mx, my) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
    // Counter-clockwise in a north-up plane from the lower left; edge midpoints keep the ring close to
    // the true (slightly curved) footprint.
    let mut xs = vec![minx, mx, maxx, maxx, maxx, mx, minx, minx, minx];
    let mut ys = vec![miny, miny, miny, my, maxy, maxy, maxy, my, miny];
    let mut zs = vec![0.0; xs.len()];
    t.transform_coords(&mut xs, &mut ys, &mut zs)
        .map_err(|e| Error::Usage(format!("reprojecting the footprint from EPSG:{epsg} to WGS84: {e}")))?;
    let round = |v: f64| (v * 1e7).round() / 1e7;
    let ring: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(x, y)| [round(*x), round(*y)]).collect();
    let bbox = [
        ring.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
        ring.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min),
        ring.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max),
        ring.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max),
    ];
    Ok((ring, bbox))
}

/// The id of the demo's STAC Collection (every Item's `collection`).
pub const COLLECTION_ID: &str = "jingtu-demo";

/// Writes a static STAC Collection: each Item as `dir/<id>.json`, and `dir/catalog.json` linking them
/// (root, self and one `item` link each), with the spatial and temporal extent of the items. A
/// Collection rather than a bare Catalog, so that STAC API servers (rustac, stac-fastapi) load it as it
/// is: their Items must name their collection. Returns the collection's path.
pub fn write_catalog(dir: &Path, items: &mut [Value]) -> Result<std::path::PathBuf> {
    let path = dir.join("catalog.json");
    let mut links = vec![
        json!({"rel": "root", "href": "./catalog.json", "type": "application/json", "title": "jingtu demo"}),
        json!({"rel": "self", "href": absolute(&path), "type": "application/json"}),
    ];
    let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    let mut times: Vec<String> = Vec::new();
    for item in items.iter_mut() {
        let id = item["id"].as_str().expect("items have ids").to_string();
        item["collection"] = COLLECTION_ID.into();
        if let Some(l) = item["links"].as_array_mut() {
            l.push(json!({"rel": "collection", "href": "./catalog.json", "type": "application/json"}));
        }
        for (k, b) in bbox.iter_mut().enumerate() {
            let v = item["bbox"][k].as_f64().unwrap_or(f64::NAN);
            *b = if k < 2 { b.min(v) } else { b.max(v) };
        }
        times.extend(item["properties"]["datetime"].as_str().map(str::to_string));
        let file = dir.join(format!("{id}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(item).expect("serializable"))
            .map_err(|e| Error::io(&file, e))?;
        links.push(json!({"rel": "item", "href": format!("./{id}.json"), "type": "application/geo+json"}));
    }
    times.sort();
    let collection = json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": COLLECTION_ID,
        "title": "jingtu demo area",
        "description": "Synthetic Sentinel-2 L2A-like acquisitions over the jingtu demo area (generated; not real imagery).",
        "license": "MIT",
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[times.first(), times.last()]]},
        },
        "links": links,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&collection).expect("serializable"))
        .map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Writes an ItemCollection (items whose asset hrefs are relative to `path`'s folder).
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
