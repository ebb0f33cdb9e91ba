//! The monthly scan on real Sentinel-2: the Changsha street blocks (`changsha-s2-monthly`, 64 monthly
//! composites 2019-02..2024-05, see its PROVENANCE.txt). Each block is one `contaminated_listed` plot,
//! bands blue=1 green=2 red=3 nir=7 swir1=9 swir2=10, one scan over every month.
//!
//! The stable block is an old built-up block where nothing happened: it must raise nothing. The developed
//! block was stripped of its vegetation about 2021-08, left bare through 2022 and built on from 2022: a
//! handful of flags, works first seen 2021-08 or 2021-09, buildings by 2023-06. Scanning month by month
//! must give what one scan gives.
//!
//! Each month is a VRT over the block's GeoTIFF that picks the month's ten bands, marks 32767 (outside
//! the block) as nodata and carries the reflectance scale 1e-4; the plot is the block's own footprint.

use crate::support as common;

use std::path::{Path, PathBuf};

use chrono::{Months, NaiveDate};
use gdal::vector::{FieldDefn, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};

const BANDS: &str = "blue=1,green=2,red=3,nir=7,swir1=9,swir2=10";
const OUTSIDE: f64 = 32767.0;

/// Writes the block's 64 monthly scenes and its plot into `dir`; returns (plots, scenes folder, dates).
fn prepare(block: &Path, dir: &Path) -> (PathBuf, PathBuf, Vec<NaiveDate>) {
    let ds = gdal::Dataset::open(block).unwrap();
    let (w, h) = ds.raster_size();
    assert_eq!(ds.raster_count(), 640, "{}: 64 months x 10 bands", block.display());
    let scenes = dir.join("scenes");
    std::fs::create_dir_all(&scenes).unwrap();
    let gt = ds.geo_transform().unwrap();
    let wkt = ds.projection();
    let first = NaiveDate::from_ymd_opt(2019, 2, 15).unwrap();
    let mut dates = Vec::new();
    for t in 0..64u32 {
        let date = first.checked_add_months(Months::new(t)).unwrap();
        let bands: String = (1..=10)
            .map(|k| {
                format!(
                    r#"<VRTRasterBand dataType="Float32" band="{k}"><NoDataValue>{OUTSIDE}</NoDataValue><Offset>0</Offset><Scale>0.0001</Scale><SimpleSource><SourceFilename relativeToVRT="0">{src}</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"#,
                    src = block.display(),
                    b = t * 10 + k
                )
            })
            .collect();
        let vrt = format!(
            r#"<VRTDataset rasterXSize="{w}" rasterYSize="{h}"><SRS>{srs}</SRS><GeoTransform>{g}</GeoTransform>{bands}</VRTDataset>"#,
            srs = wkt.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;"),
            g = gt.iter().map(|v| format!("{v:.15e}")).collect::<Vec<_>>().join(", "),
        );
        std::fs::write(scenes.join(format!("{date}.vrt")), vrt).unwrap();
        dates.push(date);
    }
    // The plot: the block's pixels, traced.
    let values = ds.rasterband(1).unwrap().read_as::<f64>((0, 0), (w, h), (w, h), None).unwrap();
    let (_, data) = values.into_shape_and_vec();
    let labels = ndarray::Array2::from_shape_fn((h, w), |(r, c)| u32::from(data[r * w + c] != OUTSIDE));
    let raster = jingtu::io::Raster::open(block).unwrap();
    let grid = raster.grid();
    let polygons = jingtu::vectorize::polygonize(labels.view(), grid).unwrap();
    let plots = dir.join("plots.gpkg");
    let mut out = gdal::DriverManager::get_driver_by_name("GPKG").unwrap().create_vector_only(&plots).unwrap();
    let srs = gdal::spatial_ref::SpatialRef::from_wkt(&wkt).unwrap();
    let layer = out
        .create_layer(LayerOptions {
            name: "plots",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbMultiPolygon,
            options: None,
        })
        .unwrap();
    for name in ["plot_id", "category"] {
        FieldDefn::new(name, OGRFieldType::OFTString).unwrap().add_to_layer(&layer).unwrap();
    }
    let mut union: Option<gdal::vector::Geometry> = None;
    for p in polygons.iter().filter(|p| p.label == 1) {
        let g = gdal::vector::Geometry::from_wkb(&p.wkb).unwrap();
        union = Some(match union {
            None => g,
            Some(u) => u.union(&g).unwrap(),
        });
    }
    let mut f = gdal::vector::Feature::new(layer.defn()).unwrap();
    f.set_geometry(union.expect("the block has pixels")).unwrap();
    f.set_field_string(0, block.file_stem().unwrap().to_str().unwrap()).unwrap();
    f.set_field_string(1, "contaminated_listed").unwrap();
    f.create(&layer).unwrap();
    (plots, scenes, dates)
}

/// A flag as read back: kind, status, first seen.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    flag_id: String,
    kind: String,
    first_seen: String,
    status: String,
    /// For idle ground: the first day of its bare run.
    bare_since: String,
}

fn flags_in(geojson: &Path) -> Vec<Seen> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(geojson).unwrap()).unwrap();
    let mut out: Vec<Seen> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            Seen {
                flag_id: text("flag_id"),
                kind: text("kind"),
                first_seen: text("first_seen"),
                status: text("status"),
                bare_since: text("bare_since"),
            }
        })
        .collect();
    out.sort_by(|a, b| a.flag_id.cmp(&b.flag_id));
    out
}

fn scan(plots: &Path, scenes: &Path, store: &Path, out: &Path, as_of: Option<NaiveDate>) {
    let mut args: Vec<String> = vec![
        "scan".into(),
        "--plots".into(),
        plots.display().to_string(),
        "--scenes".into(),
        scenes.display().to_string(),
        "--bands".into(),
        BANDS.into(),
        "--store".into(),
        store.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--overwrite".into(),
        "--backend".into(),
        "cpu".into(),
        "-q".into(),
    ];
    if let Some(d) = as_of {
        args.extend(["--as-of".into(), d.to_string()]);
    }
    common::jingtu(&args).expect_code(0, "scan of a Changsha block");
}

/// A scanned block: its flags, plot registry, scenes folder, the folder holding them, and the dates.
type Scanned = (Vec<Seen>, PathBuf, PathBuf, tempfile::TempDir, Vec<NaiveDate>);

fn scan_block(name: &str) -> Option<Scanned> {
    let dir = common::licensed_data("changsha-s2-monthly");
    let tmp = tempfile::tempdir().unwrap();
    let (plots, scenes, dates) = prepare(&dir.join(format!("{name}.tif")), tmp.path());
    let out = tmp.path().join("flags.geojson");
    scan(&plots, &scenes, &tmp.path().join("store.gpkg"), &out, None);
    let flags = flags_in(&out);
    println!("{name}: {} flags", flags.len());
    for f in &flags {
        println!("  {:<13} {:<9} first seen {}", f.kind, f.status, f.first_seen);
    }
    Some((flags, plots, scenes, tmp, dates))
}

#[test]
fn the_stable_block_raises_nothing() {
    let Some((flags, ..)) = scan_block("stable") else { return };
    assert!(flags.is_empty(), "an old built-up block where nothing happened: {flags:?}");
}

/// The developed block's events in at most five flags, each at its month: the stripping of 2021-08/09 as a flag of its own
/// (not the continuation of an older one), idle ground within one acquisition of three months into its
/// bare run, and the buildings by 2023-06; scanned month by month, the same flags.
#[test]
fn the_developed_block_gives_its_works_idle_ground_and_buildings_at_their_months() {
    let Some((flags, plots, scenes, tmp, dates)) = scan_block("development") else { return };
    assert!(flags.len() <= 5, "a handful of flags, not dozens: {flags:?}");
    let stripping = flags.iter().any(|f| {
        f.kind == "earthworks" && (f.first_seen.starts_with("2021-08") || f.first_seen.starts_with("2021-09"))
    });
    assert!(stripping, "the stripping of 2021-08 is a flag of its own: {flags:?}");
    let built = flags.iter().filter(|f| f.kind == "construction").map(|f| f.first_seen.clone()).min();
    let built = built.expect("the buildings are found");
    assert!(built.as_str() <= "2023-06-30", "construction first seen {built}");
    // The block went bare in 2021-08/09 (PROVENANCE.txt): idle three months on, give or take one
    // monthly acquisition, so from 2021-10 (one early for a run from 2021-08) to 2022-01.
    let idle = flags
        .iter()
        .filter(|f| f.kind == "idle_bare" && f.first_seen.as_str() >= "2021-08-01")
        .map(|f| f.first_seen.clone())
        .min()
        .expect("the ground left bare from 2021-08 is idle");
    assert!(("2021-10-01".."2022-02-01").contains(&idle.as_str()), "idle first seen {idle}: {flags:?}");

    // Month by month into a second store: the same flags.
    let store = tmp.path().join("monthly.gpkg");
    let out = tmp.path().join("monthly.geojson");
    for d in &dates {
        scan(&plots, &scenes, &store, &out, Some(*d));
    }
    let monthly = flags_in(&out);
    let key = |v: &[Seen]| {
        v.iter()
            .map(|f| (f.flag_id.clone(), f.kind.clone(), f.first_seen.clone(), f.status.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&monthly), key(&flags), "month-by-month scanning gives the flags of one scan");
}
