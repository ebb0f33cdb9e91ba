//! Acquisitions: their dates and nuisances, rendering from the 2 m sub-grid to 10 m pixels, and writing
//! them as a Sentinel-2 L2A-like STAC ItemCollection (one 6-band UInt16 GeoTIFF and one SCL GeoTIFF per
//! acquisition) next to the plot registry GeoPackage.
//!
//! Nuisances, per acquisition: SCL-marked clouds (SCL 8 and 9) with thin edges the SCL does not mark, and
//! their shadows (SCL 3) cast to the north-west; on a few acquisitions thin clouds and cloud shadows the
//! SCL misses altogether (SCL keeps the ground's class); one wet month in which every soil is 30% darker;
//! per-band atmospheric gain and offset over the whole scene; sensor noise.

use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::vector::{FieldDefn, FieldValue, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::{DriverManager, Metadata};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::geometry::{EPSG, HEIGHT_PX, ORIGIN_E, ORIGIN_N, PIXEL_M, SUB, SUB_WIDTH, WIDTH_PX};
use super::spectra::{CLOUD, HAZE, Layers, ndvi};
use super::truth::{FIRST_MONTH, Landscape, MONTHS};
use super::{Rng, add_months};

/// Pixels of a scene.
const PIXELS: usize = WIDTH_PX * HEIGHT_PX;
/// The scan's cloud buffer (`ScanOptions::cloud_buffer_m`, 20 m) in pixels: the truth treats buffered
/// pixels as unseen, as the scan does.
const BUFFER_PX: i64 = 2;
/// Darkening of soil in the wet month.
const WET_SOIL_FACTOR: f32 = 0.7;

/// One acquisition and everything that disturbs it.
#[derive(Debug, Clone)]
pub struct Acquisition {
    /// Product id.
    pub id: String,
    /// Date.
    pub date: NaiveDate,
    /// Atmospheric gain per band.
    pub gain: [f32; 6],
    /// Atmospheric offset per band.
    pub offset: [f32; 6],
    /// The wet month: all soil darker.
    pub wet: bool,
    /// Cloud opacity per pixel (SCL marks it above 0.15).
    pub cloud: Vec<f32>,
    /// Cloud shadow per pixel (SCL marks it).
    pub shadow: Vec<bool>,
    /// Thin cloud the SCL misses: share of haze mixed in per pixel.
    pub haze: Vec<f32>,
    /// Cloud shadow the SCL misses: brightness factor per pixel (1 where none).
    pub dark: Vec<f32>,
    /// Pixels a scan can use: outside SCL clouds and shadows and their buffer.
    pub usable: Vec<bool>,
}

/// A soft blob of radius `radius` px around (cx, cy) with a lobed outline: 1 inside, falling to 0 over
/// the outer 30% of the radius.
fn blob(values: &mut [f32], rng: &mut Rng, cx: f64, cy: f64, radius: f64, peak: f32) {
    let (p1, p2) = (rng.uniform(0.0, 6.3), rng.uniform(0.0, 6.3));
    let reach = (radius * 1.4) as i64 + 1;
    for y in (cy as i64 - reach).max(0)..(cy as i64 + reach).min(HEIGHT_PX as i64) {
        for x in (cx as i64 - reach).max(0)..(cx as i64 + reach).min(WIDTH_PX as i64) {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            let angle = dy.atan2(dx);
            let edge = radius * (1.0 + 0.22 * (3.0 * angle + p1).sin() + 0.1 * (5.0 * angle + p2).sin());
            let d = (dx * dx + dy * dy).sqrt();
            let v = (((edge - d) / (0.3 * edge)).clamp(0.0, 1.0) as f32) * peak;
            let i = y as usize * WIDTH_PX + x as usize;
            values[i] = values[i].max(v);
        }
    }
}

/// The acquisition dates (day of month jittered, one or two months lost) and their nuisances.
pub fn plan_acquisitions(rng: &mut Rng) -> Vec<Acquisition> {
    let first = NaiveDate::from_ymd_opt(FIRST_MONTH.0, FIRST_MONTH.1, 1).expect("date");
    // Lost months: never the first three nor two in a row (a bare run cannot span two lost looks).
    let lost_a = 3 + rng.below(MONTHS as usize - 4);
    let lost_b = if rng.chance(0.5) { Some(3 + rng.below(MONTHS as usize - 4)) } else { None };
    let lost: Vec<usize> = [Some(lost_a), lost_b.filter(|b| b.abs_diff(lost_a) > 1)].into_iter().flatten().collect();
    let months: Vec<u32> = (0..MONTHS).filter(|m| !lost.contains(&(*m as usize))).collect();
    let n = months.len();
    let wet = 16 + rng.below(n - 18);
    let mut hazy: Vec<usize> = (2..n).collect();
    rng.shuffle(&mut hazy);
    let (haze_at, dark_at) = (&hazy[..4], &hazy[4..7]);
    months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let month = add_months(first, *m);
            let date = month.with_day(3 + rng.below(23) as u32).expect("days 3-25 exist");
            let mut r = rng.derive(1000 + *m as u64);
            let mut gain = [0f32; 6];
            let mut offset = [0f32; 6];
            for b in 0..6 {
                gain[b] = r.uniform(0.93, 1.07) as f32;
                offset[b] = r.uniform(-0.01, 0.01) as f32;
            }
            let mut cloud = vec![0f32; PIXELS];
            let blobs = match r.unit() {
                u if u < 0.3 => 0,
                u if u < 0.8 => 1 + r.below(3),
                _ => 4 + r.below(5),
            };
            for _ in 0..blobs {
                let (cx, cy) = (r.uniform(0.0, WIDTH_PX as f64), r.uniform(0.0, HEIGHT_PX as f64));
                let radius = r.uniform(6.0, 22.0);
                blob(&mut cloud, &mut r, cx, cy, radius, 1.0);
            }
            // Shadows fall to the north-west of the clouds (late-morning sun in the south-east).
            let (sx, sy) = (r.uniform(7.0, 13.0) as usize, r.uniform(5.0, 10.0) as usize);
            let mut shadow = vec![false; PIXELS];
            for y in 0..HEIGHT_PX - sy {
                for x in 0..WIDTH_PX - sx {
                    let casting = cloud[(y + sy) * WIDTH_PX + x + sx];
                    shadow[y * WIDTH_PX + x] = casting > 0.4 && cloud[y * WIDTH_PX + x] < 0.15;
                }
            }
            let mut haze = vec![0f32; PIXELS];
            if haze_at.contains(&i) {
                for _ in 0..1 + r.below(2) {
                    let (cx, cy) = (r.uniform(0.0, WIDTH_PX as f64), r.uniform(0.0, HEIGHT_PX as f64));
                    let (radius, peak) = (r.uniform(10.0, 20.0), r.uniform(0.15, 0.28) as f32);
                    blob(&mut haze, &mut r, cx, cy, radius, peak);
                }
            }
            let mut shade = vec![0f32; PIXELS];
            if dark_at.contains(&i) {
                let (cx, cy) = (r.uniform(0.0, WIDTH_PX as f64), r.uniform(0.0, HEIGHT_PX as f64));
                let (radius, depth) = (r.uniform(8.0, 15.0), r.uniform(0.25, 0.4) as f32);
                blob(&mut shade, &mut r, cx, cy, radius, depth);
            }
            let dark: Vec<f32> = shade.iter().map(|s| 1.0 - s).collect();
            let masked: Vec<bool> = (0..PIXELS).map(|p| cloud[p] > 0.15 || shadow[p]).collect();
            let mut usable = vec![true; PIXELS];
            for p in (0..PIXELS).filter(|p| masked[*p]) {
                let (x, y) = ((p % WIDTH_PX) as i64, (p / WIDTH_PX) as i64);
                for yy in (y - BUFFER_PX).max(0)..(y + BUFFER_PX + 1).min(HEIGHT_PX as i64) {
                    for xx in (x - BUFFER_PX).max(0)..(x + BUFFER_PX + 1).min(WIDTH_PX as i64) {
                        usable[yy as usize * WIDTH_PX + xx as usize] = false;
                    }
                }
            }
            Acquisition {
                id: format!(
                    "S2{}_MSIL2A_{}T024701_N0510_R132_T51STS",
                    if i % 2 == 0 { "A" } else { "B" },
                    date.format("%Y%m%d")
                ),
                date,
                gain,
                offset,
                wet: i == wet,
                cloud,
                shadow,
                haze,
                dark,
                usable,
            }
        })
        .collect()
}

/// One rendered acquisition: reflectance x 10000 per band (row-major) and SCL.
pub struct Rendered {
    /// Six bands.
    pub bands: Vec<Vec<u16>>,
    /// Scene classification.
    pub scl: Vec<u8>,
}

/// Renders acquisition `a` of `land`: every 2 m cell's cover, texture and soil moisture averaged over its
/// pixel, then the atmosphere, clouds and noise on the 10 m pixel.
pub fn render(land: &Landscape, a: usize) -> Rendered {
    let acq = &land.acquisitions[a];
    let layers: Vec<Layers> = land
        .surfaces
        .iter()
        .map(|s| super::spectra::layers(s.cover_on(acq.date), s.soil_under, acq.date, s.phase_days))
        .collect();
    let wet = if acq.wet { WET_SOIL_FACTOR } else { 1.0 };
    let rows: Vec<Vec<([f32; 6], u8)>> = (0..HEIGHT_PX)
        .into_par_iter()
        .map(|row| {
            let mut noise = Rng::new(land.seed).derive(((a as u64) << 20) | row as u64);
            (0..WIDTH_PX)
                .map(|col| {
                    let mut value = [0f32; 6];
                    let (mut green, mut water) = (0f32, 0f32);
                    for sy in 0..SUB {
                        for sx in 0..SUB {
                            let cell = (row * SUB + sy) * SUB_WIDTH + col * SUB + sx;
                            let s = land.surface_of_cell[cell] as usize;
                            let l = &layers[s];
                            let t = land.texture[cell];
                            // Soil varies most within a field (moisture, tillage); canopies and roofs less.
                            let soil_k = land.surfaces[s].brightness * (1.0 + 0.12 * t) * wet;
                            let other_k = 1.0 + 0.05 * t;
                            for (b, v) in value.iter_mut().enumerate() {
                                *v += l.soil[b] * soil_k + l.other[b] * other_k;
                            }
                            green += l.green;
                            water += l.water;
                        }
                    }
                    let n = (SUB * SUB) as f32;
                    value.iter_mut().for_each(|v| *v /= n);
                    let (green, water) = (green / n, water / n);
                    let ground_ndvi = ndvi(&value);
                    let p = row * WIDTH_PX + col;
                    for b in 0..6 {
                        value[b] = value[b] * acq.gain[b] + acq.offset[b];
                        value[b] = value[b] * (1.0 - acq.haze[p]) + HAZE[b] * acq.haze[p];
                        value[b] *= acq.dark[p];
                        value[b] = value[b] * (1.0 - acq.cloud[p]) + CLOUD[b] * acq.cloud[p];
                        if acq.shadow[p] {
                            value[b] *= 0.45;
                        }
                        value[b] += 0.003 * noise.gauss() as f32;
                    }
                    let scl = if acq.cloud[p] > 0.5 {
                        9
                    } else if acq.cloud[p] > 0.15 {
                        8
                    } else if acq.shadow[p] {
                        3
                    } else if water > 0.5 {
                        6
                    } else if ground_ndvi > 0.4 || green > 0.5 {
                        4
                    } else {
                        5
                    };
                    (value, scl)
                })
                .collect()
        })
        .collect();
    let mut bands: Vec<Vec<u16>> = (0..6).map(|_| Vec::with_capacity(PIXELS)).collect();
    let mut scl = Vec::with_capacity(PIXELS);
    for row in rows {
        for (value, class) in row {
            for b in 0..6 {
                bands[b].push((value[b] * 10_000.0).round().clamp(1.0, 65_535.0) as u16);
            }
            scl.push(class);
        }
    }
    Rendered { bands, scl }
}

/// Where a landscape was written.
#[derive(Debug, Clone)]
pub struct WrittenLandscape {
    /// Plot registry (GeoPackage, EPSG:32651).
    pub plots: PathBuf,
    /// STAC ItemCollection.
    pub catalog: PathBuf,
}

/// Band names: (file band description, STAC common name).
const BANDS: [(&str, &str); 6] =
    [("B02", "blue"), ("B03", "green"), ("B04", "red"), ("B08", "nir"), ("B11", "swir16"), ("B12", "swir22")];

fn geo_transform() -> [f64; 6] {
    [ORIGIN_E, PIXEL_M, 0.0, ORIGIN_N, 0.0, -PIXEL_M]
}

fn write_tiff<T: gdal::raster::GdalType + Copy>(path: &Path, bands: &[(&str, Vec<T>)], nodata: Option<f64>) {
    let driver = DriverManager::get_driver_by_name("GTiff").expect("GTiff driver");
    let options =
        RasterCreationOptions::from_iter(["COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]);
    let mut ds = driver
        .create_with_band_type_with_options::<T, _>(path, WIDTH_PX, HEIGHT_PX, bands.len(), &options)
        .expect("create GeoTIFF");
    ds.set_geo_transform(&geo_transform()).expect("geotransform");
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(EPSG).expect("EPSG:32651");
    ds.set_spatial_ref(&srs).expect("CRS");
    for (i, (name, values)) in bands.iter().enumerate() {
        let mut band = ds.rasterband(i + 1).expect("band");
        band.set_description(name).expect("description");
        band.set_no_data_value(nodata).expect("nodata");
        let mut buffer = Buffer::new((WIDTH_PX, HEIGHT_PX), values.clone());
        band.write((0, 0), (WIDTH_PX, HEIGHT_PX), &mut buffer).expect("write band");
    }
}

fn stac_item(acq: &Acquisition, scene_rel: &str, cloud_cover: f64) -> Value {
    let (x1, y1) = (ORIGIN_E + WIDTH_PX as f64 * PIXEL_M, ORIGIN_N - HEIGHT_PX as f64 * PIXEL_M);
    json!({
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
        ],
        "id": acq.id,
        "bbox": [ORIGIN_E, y1, x1, ORIGIN_N],
        "geometry": null,
        "properties": {
            "datetime": format!("{}T02:47:01Z", acq.date),
            "platform": "sentinel-2-landscape-test",
            "eo:cloud_cover": (cloud_cover * 100.0).round() / 100.0,
            "proj:epsg": EPSG,
        },
        "assets": {
            "reflectance": {
                "href": format!("{scene_rel}/reflectance.tif"),
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "eo:bands": BANDS.iter().map(|(name, common)| json!({"name": name, "common_name": common})).collect::<Vec<_>>(),
                "raster:bands": BANDS.iter().map(|_| json!({"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": 0.0})).collect::<Vec<_>>(),
            },
            "scl": {
                "href": format!("{scene_rel}/scl.tif"),
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "title": "Scene classification map (SCL)",
            },
        },
        "links": [],
    })
}

/// Writes every acquisition, the ItemCollection, the plot registry and a human-readable truth.json into
/// `dir`.
pub fn write_landscape(land: &Landscape, dir: &Path) -> WrittenLandscape {
    std::fs::create_dir_all(dir.join("scenes")).expect("scenes folder");
    let mut items = Vec::new();
    for (a, acq) in land.acquisitions.iter().enumerate() {
        let rendered = render(land, a);
        let rel = format!("scenes/{}", acq.date);
        std::fs::create_dir_all(dir.join(&rel)).expect("scene folder");
        let bands: Vec<(&str, Vec<u16>)> = BANDS.iter().map(|(n, _)| *n).zip(rendered.bands).collect();
        write_tiff(&dir.join(&rel).join("reflectance.tif"), &bands, Some(0.0));
        let cloudy = rendered.scl.iter().filter(|c| matches!(c, 3 | 8 | 9)).count();
        write_tiff(&dir.join(&rel).join("scl.tif"), &[("SCL", rendered.scl)], None);
        items.push(stac_item(acq, &rel, 100.0 * cloudy as f64 / PIXELS as f64));
    }
    let catalog = dir.join("catalog.json");
    let collection = json!({"type": "FeatureCollection", "features": items});
    std::fs::write(&catalog, serde_json::to_string_pretty(&collection).expect("json")).expect("write catalog");
    let plots = dir.join("plots.gpkg");
    write_plots(land, &plots);
    write_truth_json(land, &dir.join("truth.json"));
    WrittenLandscape { plots, catalog }
}

/// The registry: plot_id, name, category, works_allowed (a real boolean field), listed_on (a date).
fn write_plots(land: &Landscape, path: &Path) {
    let driver = DriverManager::get_driver_by_name("GPKG").expect("GPKG driver");
    let mut ds = driver.create_vector_only(path).expect("create registry");
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(EPSG).expect("EPSG:32651");
    let mut txn = ds.start_transaction().expect("transaction");
    let layer = txn
        .create_layer(LayerOptions {
            name: "plots",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPolygon,
            options: None,
        })
        .expect("layer");
    for (name, ty) in
        [("plot_id", OGRFieldType::OFTString), ("name", OGRFieldType::OFTString), ("category", OGRFieldType::OFTString)]
    {
        FieldDefn::new(name, ty).expect("field").add_to_layer(&layer).expect("add field");
    }
    // GeoPackage stores booleans as integers with a boolean subtype, which the safe bindings cannot set.
    let works = std::ffi::CString::new("works_allowed").expect("name");
    // SAFETY: the field definition is created, added and destroyed here while the layer is alive.
    unsafe {
        let field = gdal_sys::OGR_Fld_Create(works.as_ptr(), OGRFieldType::OFTInteger);
        gdal_sys::OGR_Fld_SetSubType(field, gdal_sys::OGRFieldSubType::OFSTBoolean);
        let rv = gdal_sys::OGR_L_CreateField(layer.c_layer(), field, 1);
        gdal_sys::OGR_Fld_Destroy(field);
        assert_eq!(rv, gdal_sys::OGRErr::OGRERR_NONE, "works_allowed field");
    }
    FieldDefn::new("listed_on", OGRFieldType::OFTDate).expect("field").add_to_layer(&layer).expect("add field");
    for plot in &land.plots {
        let mut f = gdal::vector::Feature::new(layer.defn()).expect("feature");
        f.set_geometry(Geometry::from_wkt(&plot.polygon.to_utm_wkt()).expect("wkt")).expect("geometry");
        f.set_field_string(0, &plot.plot_id).expect("plot_id");
        f.set_field_string(1, &plot.name).expect("name");
        f.set_field_string(2, plot.category).expect("category");
        f.set_field_integer(3, i32::from(plot.works_allowed)).expect("works_allowed");
        f.set_field(4, &FieldValue::DateValue(plot.listed_on)).expect("listed_on");
        f.create(&layer).expect("create feature");
    }
    txn.commit().expect("commit");
}

/// The truth for people reading a failure: plots, expected flags with their windows, acquisitions.
fn write_truth_json(land: &Landscape, path: &Path) {
    let truth = json!({
        "seed": land.seed,
        "epsg": EPSG,
        "geotransform": geo_transform(),
        "size": [WIDTH_PX, HEIGHT_PX],
        "acquisitions": land.acquisitions.iter().map(|a| json!({"id": a.id, "date": a.date.to_string(), "wet": a.wet})).collect::<Vec<_>>(),
        "plots": land.plots.iter().map(|p| json!({"plot_id": p.plot_id, "category": p.category, "works_allowed": p.works_allowed, "scenario": format!("{:?}", p.scenario), "pixels": p.footprint.len()})).collect::<Vec<_>>(),
        "events": land.expected.iter().map(|e| json!({
            "id": e.event_id,
            "plot_id": e.plot_id,
            "kind": e.kind.name(),
            "permitted": e.permitted,
            "start": e.start.to_string(),
            "first_seen_earliest": e.first_seen_earliest.to_string(),
            "first_seen_latest": e.first_seen_latest.map(|d| d.to_string()),
            "required": e.required(),
            "pixels": e.footprint,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(path, serde_json::to_string_pretty(&truth).expect("json")).expect("write truth");
}
