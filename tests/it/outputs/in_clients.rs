//! Issue 14, outputs: every file jingtu writes reads right in the clients analysts use, checked with
//! those clients. GeoPackages pass GDAL's `validate_gpkg.py`, GeoTIFFs its COG validator; the changefeed
//! without the `GeoJSONSeq:` prefix reads whole in `ogrinfo` and geopandas and upserts into a registry
//! with `ogr2ogr -upsert` without growing it; GeoJSON follows RFC 7946's winding; raster and vector
//! outputs name the same EPSG code; chips open in place; QGIS 3.22 (offscreen) opens the outputs with
//! their styles, the change raster's class 0 transparent.

use crate::support as common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::Dataset;
use gdal::vector::LayerAccess;
use serde_json::Value;

use common::clients::{
    assert_rfc7946_winding, assert_valid_cog, assert_valid_cogs, assert_valid_gpkg, gdal_tools, gdal_validators,
    geopandas_python, ogrinfo_count, output_of, pyqgis, qgis_views,
};
use common::{jingtu, real_data};

/// Every kind of client, or `None` when one is missing and the test may skip.
fn clients() -> Option<PathBuf> {
    gdal_validators()?;
    gdal_tools()?;
    pyqgis()?;
    geopandas_python()
}

/// An NDJSON export: the feed's lines as text, its features and the `--json` summary.
fn export_ndjson(store: &Path, since: &str, out: &Path) -> (Vec<String>, Vec<Value>, Value) {
    let run = jingtu([
        "export",
        "--store",
        store.to_str().unwrap(),
        "--since",
        since,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    run.expect_code(0, "export ndjson");
    let summary = run.json_summary();
    let lines: Vec<String> = std::fs::read_to_string(out).unwrap().lines().map(String::from).collect();
    let (cursor_line, feature_lines) = lines.split_last().expect("the cursor line");
    let cursor: Value = serde_json::from_str(cursor_line).unwrap();
    assert_eq!(cursor["cursor"], summary["cursor"], "the --json summary carries the feed's cursor");
    let features: Vec<Value> = feature_lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(summary["features"].as_u64().unwrap() as usize, features.len(), "{summary}");
    (feature_lines.to_vec(), features, summary)
}

/// Features of the first layer as geopandas reads them.
fn geopandas_count(python: &Path, path: &Path) -> usize {
    let text = output_of(
        Command::new(python)
            .args(["-c", "import sys, geopandas; print(len(geopandas.read_file(sys.argv[1])))"])
            .arg(path),
    );
    text.trim().parse().unwrap_or_else(|_| panic!("geopandas printed {text}"))
}

/// `ogr2ogr` into the registry `registry` (layer `flags`), keeping the feed's feature ids: the first
/// ingest creates it, the others upsert on the ids.
fn ingest(registry: &Path, feed: &Path) {
    let mut command = Command::new("ogr2ogr");
    if registry.exists() {
        command.args(["-upsert"]);
    } else {
        command.args(["-f", "GPKG"]);
    }
    output_of(command.args(["-preserve_fid", "-nln", "flags"]).arg(registry).arg(feed));
}

/// The EPSG code of the first layer of a vector file, or of a raster, as GDAL reads it.
fn layer_epsg(path: &Path) -> Option<i32> {
    let ds = Dataset::open(path).unwrap();
    let layer = ds.layer(0).unwrap();
    layer.spatial_ref().and_then(|s| s.auth_code().ok())
}

fn raster_epsg(path: &Path) -> Option<i32> {
    Dataset::open(path).unwrap().spatial_ref().ok().and_then(|s| s.auth_code().ok())
}

/// The layers `ogrinfo` lists in a GeoPackage, as QGIS would.
fn listed_layers(path: &Path) -> Vec<String> {
    output_of(Command::new("ogrinfo").args(["-ro", "-q"]).arg(path))
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, rest)| rest.split(" (").next().unwrap().trim().to_string()))
        .collect()
}

#[test]
fn the_demo_outputs_pass_the_validators_and_read_whole_in_clients() {
    let Some(python) = clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    jingtu(["demo", "--out", demo.to_str().unwrap(), "-q"]).expect_code(0, "demo");
    let (store, flags_gpkg) = (demo.join("store.gpkg"), demo.join("flags.gpkg"));

    // Every GeoPackage is valid, and the store lists only what analysts open.
    assert_valid_gpkg(&store);
    assert_valid_gpkg(&flags_gpkg);
    let layers = listed_layers(&store);
    for internal in ["plot_state", "file_hashes", "jingtu_meta"] {
        assert!(!layers.iter().any(|l| l == internal), "{internal} is listed as a layer: {layers:?}");
    }
    assert!(layers.iter().any(|l| l == "flags") && layers.iter().any(|l| l == "plots"), "{layers:?}");

    // Every GeoTIFF the demo writes (its scenes) is a valid COG.
    let mut tifs = Vec::new();
    let mut folders = vec![demo.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "tif") {
                tifs.push(path);
            }
        }
    }
    assert!(!tifs.is_empty());
    assert_valid_cogs(&tifs);
    println!("{} GeoTIFFs of the demo are valid COGs", tifs.len());

    // The changefeed: `type` first on every line, an integer id, whole in ogrinfo and geopandas without
    // the GeoJSONSeq: prefix.
    let feed = dir.path().join("feed.ndjson");
    let (lines, features, summary) = export_ndjson(&store, "0", &feed);
    assert!(!features.is_empty());
    for l in &lines {
        assert!(l.starts_with(r#"{"type":"Feature","id":"#), "type first, then the integer id: {l:.80}");
    }
    let ids: Vec<i64> = features.iter().map(|f| f["id"].as_i64().expect("an integer id")).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "one record per flag");
    let last_seq = features.iter().map(|f| f["properties"]["seq"].as_i64().unwrap()).max().unwrap();
    assert_eq!(summary["cursor"], format!("jt1:{last_seq}"), "the cursor is the last record's seq");
    let n = features.len();
    assert_eq!(ogrinfo_count(feed.to_str().unwrap()), n, "ogrinfo reads every feature without the prefix");
    assert_eq!(geopandas_count(&python, &feed), n, "geopandas reads every feature");
    println!("feed: {n} features, cursor {}; ogrinfo and geopandas read {n}", summary["cursor"]);

    // Ingested twice with ogr2ogr -upsert on the feature ids, the registry keeps one row per flag.
    let registry = dir.path().join("registry.gpkg");
    ingest(&registry, &feed);
    ingest(&registry, &feed);
    ingest(&registry, &feed);
    assert_eq!(ogrinfo_count(registry.to_str().unwrap()), n, "upserts replace rows, they do not add them");
    assert_valid_gpkg(&registry);

    // RFC 7946 winding in every GeoJSON output: the feed, the FeatureCollection export, a scan's --out.
    let rings = assert_rfc7946_winding(&features, "feed.ndjson");
    let collection_path = dir.path().join("feed.geojson");
    let run = jingtu([
        "export",
        "--store",
        store.to_str().unwrap(),
        "--since",
        "0",
        "--format",
        "geojson",
        "--out",
        collection_path.to_str().unwrap(),
    ]);
    run.expect_code(0, "export geojson");
    let text = std::fs::read_to_string(&collection_path).unwrap();
    assert!(text.starts_with(r#"{"type":"FeatureCollection""#), "{:.60}", text);
    let collection: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(collection["cursor"], summary["cursor"]);
    assert_rfc7946_winding(collection["features"].as_array().unwrap(), "feed.geojson");
    assert_eq!(ogrinfo_count(collection_path.to_str().unwrap()), n);
    let flags_geojson = dir.path().join("flags.geojson");
    let data = demo.join("data");
    common::scan(
        &data.join("plots.gpkg"),
        &data.join("catalog.json"),
        &store,
        &["--out", flags_geojson.to_str().unwrap(), "--no-report", "-q"],
    )
    .expect_code(0, "scan --out flags.geojson");
    let scanned: Value = serde_json::from_str(&std::fs::read_to_string(&flags_geojson).unwrap()).unwrap();
    let scanned = scanned["features"].as_array().unwrap();
    assert!(!scanned.is_empty());
    let more = assert_rfc7946_winding(scanned, "flags.geojson");
    println!("RFC 7946 winding holds on {} rings of the GeoJSON outputs", rings * 2 + more);
    assert_valid_gpkg(&store);

    // The GeoPackage export: op and seq columns, the feed's ids as FIDs, the cursor in its metadata.
    let export_gpkg = dir.path().join("feed.gpkg");
    let run = jingtu([
        "export",
        "--store",
        store.to_str().unwrap(),
        "--since",
        "0",
        "--format",
        "gpkg",
        "--out",
        export_gpkg.to_str().unwrap(),
        "--json",
    ]);
    run.expect_code(0, "export gpkg");
    assert_eq!(run.json_summary()["cursor"], summary["cursor"]);
    assert_valid_gpkg(&export_gpkg);
    let ds = Dataset::open(&export_gpkg).unwrap();
    assert_eq!(
        gdal::Metadata::metadata_item(&ds, "JINGTU_CURSOR", ""),
        summary["cursor"].as_str().map(String::from),
        "the cursor in the GeoPackage's metadata"
    );
    let mut layer = ds.layer(0).unwrap();
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let idx = |n: &str| names.iter().position(|f| f == n).unwrap_or_else(|| panic!("no {n} column in {names:?}"));
    let (op, seq, flag_id) = (idx("op"), idx("seq"), idx("flag_id"));
    let feed_ids: HashMap<String, (i64, i64, String)> = features
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let key = p["flag_id"].as_str().unwrap().to_string();
            (key, (f["id"].as_i64().unwrap(), p["seq"].as_i64().unwrap(), p["op"].as_str().unwrap().to_string()))
        })
        .collect();
    let mut rows = 0;
    for f in layer.features() {
        let id = f.field_as_string(flag_id).unwrap().unwrap();
        let (fid, s, o) = &feed_ids[&id];
        assert_eq!(f.fid(), Some(*fid as u64), "{id}: the FID is the feed's id");
        assert_eq!(f.field_as_integer64(seq).unwrap(), Some(*s), "{id}: seq");
        assert_eq!(f.field_as_string(op).unwrap().as_deref(), Some(o.as_str()), "{id}: op");
        rows += 1;
    }
    assert_eq!(rows, n);

    // One CRS: the store's layers and the flag output name the demo's EPSG code.
    assert_eq!(layer_epsg(&flags_gpkg), Some(32651));
    assert_eq!(layer_epsg(&store), Some(32651));
    assert_eq!(layer_epsg(&export_gpkg), Some(32651));

    // QGIS opens the store, the flags and the feed whole, styled by the default style, in one CRS.
    let views = qgis_views(&[&store, &flags_gpkg, &feed]);
    for v in &views {
        assert!(v.valid, "QGIS cannot open {}", v.path);
        assert_eq!(v.features, Some(n), "{}: QGIS reads every flag", v.path);
    }
    assert_eq!(views[0].crs, "EPSG:32651");
    assert_eq!(views[1].crs, "EPSG:32651");
    assert_eq!(views[2].crs, "EPSG:4326");
    assert_eq!(views[0].renderer.as_deref(), Some("RuleRenderer"), "the store's flags open with jingtu's style");
    assert_eq!(views[1].renderer.as_deref(), Some("RuleRenderer"), "flags.gpkg opens with jingtu's style");

    // Chips: every panel opens in place, on the ground and in the CRS the index gives.
    let index: Value = serde_json::from_str(&std::fs::read_to_string(demo.join("chips/index.json")).unwrap()).unwrap();
    let mut panels = 0;
    for flag in index["flags"].as_array().unwrap() {
        let mpp = flag["metres_per_pixel"].as_f64().unwrap();
        let (ox, oy) = (flag["origin"][0].as_f64().unwrap(), flag["origin"][1].as_f64().unwrap());
        let listed = flag["panels"].as_array().unwrap();
        assert_eq!(listed.len(), 2 * flag["rows"].as_array().unwrap().len(), "before and after per composite");
        for panel in listed {
            let path = demo.join("chips").join(panel["file"].as_str().unwrap());
            assert!(path.with_extension("pgw").exists(), "{}: no world file", path.display());
            let ds = Dataset::open(&path).unwrap();
            let t = ds.geo_transform().unwrap();
            let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
            assert!(close(t[0], ox) && close(t[3], oy) && close(t[1], mpp) && close(t[5], -mpp), "{path:?}: {t:?}");
            assert_eq!(raster_epsg(&path), flag["epsg"].as_i64().map(|e| e as i32), "{}", path.display());
            panels += 1;
        }
    }
    assert!(panels > 0);
    println!("{panels} chip panels open in place");
}

#[test]
fn the_next_feed_upserts_into_the_rows_of_the_first() {
    let Some(_) = clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let area = common::demo_area(dir.path());
    let store = dir.path().join("store.gpkg");
    let halfway = area.truth.acquisitions[area.truth.acquisitions.len() - 7].1.to_string();
    common::scan(&area.plots, &area.stac, &store, &["-q", "--no-report", "--as-of", &halfway]).expect_code(0, "scan");
    let (_, first, summary) = export_ndjson(&store, "0", &dir.path().join("first.ndjson"));
    common::scan(&area.plots, &area.stac, &store, &["-q", "--no-report"]).expect_code(0, "scan");
    let cursor = summary["cursor"].as_str().unwrap();
    let (_, second, _) = export_ndjson(&store, cursor, &dir.path().join("second.ndjson"));
    let (_, everything, _) = export_ndjson(&store, "0", &dir.path().join("all.ndjson"));
    let again = first.iter().filter(|f| second.iter().any(|g| g["id"] == f["id"])).count();
    assert!(again > 0, "some flags of the first feed change by the second");
    for f in &second {
        if let Some(earlier) = first.iter().find(|g| g["properties"]["flag_id"] == f["properties"]["flag_id"]) {
            assert_eq!(earlier["id"], f["id"], "a flag keeps its id from feed to feed");
        }
    }
    // The registry ingests the first feed, then the next: one row per flag, in its latest state.
    let registry = dir.path().join("registry.gpkg");
    ingest(&registry, &dir.path().join("first.ndjson"));
    ingest(&registry, &dir.path().join("second.ndjson"));
    assert_eq!(ogrinfo_count(registry.to_str().unwrap()), everything.len());
    println!(
        "first feed {} flags, next {} ({again} of them again), registry {} rows",
        first.len(),
        second.len(),
        everything.len()
    );
}

/// Share of a code raster's pixels equal to `code`.
fn codes_share(path: &Path, code: u8) -> f64 {
    let ds = Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let buffer = ds.rasterband(1).unwrap().read_as::<u8>((0, 0), (w, h), (w, h), None).unwrap();
    let data = buffer.data();
    data.iter().filter(|c| **c == code).count() as f64 / data.len() as f64
}

/// The QGIS palette entries of a QML: (value, label).
fn qml_entries(qml: &str) -> Vec<(u32, String)> {
    qml.split("<paletteEntry ")
        .skip(1)
        .map(|e| {
            let attr = |name: &str| {
                let start = e.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                e[start..start + e[start..].find('"').unwrap()].to_string()
            };
            (attr("value").parse().unwrap(), attr("label"))
        })
        .collect()
}

/// The colour table and category names of a code raster, as GDAL (and so QGIS) reads them.
fn palette_of(path: &Path) -> (Vec<[i16; 4]>, Vec<String>) {
    let ds = Dataset::open(path).unwrap();
    let band = ds.rasterband(1).unwrap();
    let table = band.color_table().expect("a colour table");
    let colours = (0..table.entry_count())
        .map(|i| {
            let c = table.entry_as_rgb(i).unwrap();
            [c.r, c.g, c.b, c.a]
        })
        .collect();
    // SAFETY: the band is alive; GDAL owns the returned list.
    let names = unsafe {
        let list = gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband());
        let mut out = Vec::new();
        if !list.is_null() {
            let mut k = 0;
            while !(*list.add(k)).is_null() {
                out.push(std::ffi::CStr::from_ptr(*list.add(k)).to_string_lossy().into_owned());
                k += 1;
            }
        }
        out
    };
    (colours, names)
}

#[test]
fn the_change_outputs_on_the_taizhou_pair_share_one_crs_and_read_right() {
    let Some(data) = real_data("taizhou-landsat-cd") else { return };
    let Some(_) = clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (gpkg, tif, geojson) = (dir.path().join("tz.gpkg"), dir.path().join("tz.tif"), dir.path().join("tz.geojson"));
    let (before, after) = (data.join("2000TM"), data.join("2003TM"));
    let args = |out: &Path, raster: Option<&Path>| {
        let mut a = vec![
            "change".to_string(),
            before.display().to_string(),
            after.display().to_string(),
            "--sensor".into(),
            "landsat-tm".into(),
            "--out".into(),
            out.display().to_string(),
            "-q".into(),
        ];
        if let Some(r) = raster {
            a.extend(["--change-raster".to_string(), r.display().to_string()]);
        }
        a
    };
    jingtu(args(&gpkg, Some(&tif))).expect_code(0, "change to gpkg and tif");
    jingtu(args(&geojson, None)).expect_code(0, "change to geojson");

    assert_valid_gpkg(&gpkg);
    assert_valid_cog(&tif);
    // The ENVI header spells the CRS as ESRI WKT; both outputs name its EPSG code.
    assert_eq!(raster_epsg(&tif), Some(32651));
    assert_eq!(layer_epsg(&gpkg), Some(32651), "the GeoPackage registers EPSG:32651, not a custom SRS");

    let (colours, names) = palette_of(&tif);
    assert_eq!(colours[0][3], 0, "no change (class 0) is transparent: {:?}", colours[0]);
    for (code, colour) in colours.iter().enumerate().take(5).skip(1) {
        assert_eq!(colour[3], 255, "class {code} is opaque");
    }
    assert_eq!(&names[..5], ["no change", "construction", "earthworks", "vegetation_loss", "other change"]);
    let qml = std::fs::read_to_string(dir.path().join("tz.qml")).expect("a QGIS style beside the raster");
    assert!(qml.contains(r#"<rasterrenderer type="paletted""#), "{qml}");
    let entries = qml_entries(&qml);
    let expected: Vec<(u32, String)> = ["construction", "earthworks", "vegetation_loss", "other change"]
        .iter()
        .enumerate()
        .map(|(i, n)| (i as u32 + 1, n.to_string()))
        .collect();
    assert_eq!(entries, expected, "the legend names the change classes, class 0 and nodata left out");

    // In QGIS: the style beside the raster is applied, its legend is the four classes, and no change
    // (most of the scene) is transparent; the flags lie in the raster's CRS.
    let views = qgis_views(&[&tif, &gpkg]);
    assert!(views.iter().all(|v| v.valid), "{views:?}");
    assert_eq!(views[0].renderer.as_deref(), Some("paletted"));
    let classes: Vec<(u32, String, u8)> =
        views[0].classes.as_ref().unwrap().iter().map(|(v, l, a)| (*v as u32, l.clone(), *a)).collect();
    let with_alpha: Vec<(u32, String, u8)> = expected.iter().map(|(v, l)| (*v, l.clone(), 255)).collect();
    assert_eq!(classes, with_alpha, "QGIS applies tz.qml");
    let unchanged = codes_share(&tif, 0);
    let clear = views[0].transparent_share.unwrap();
    assert!(clear > 0.5 && (clear - unchanged).abs() < 0.1, "{clear} of the view transparent, {unchanged} unchanged");
    assert_eq!(views[0].crs, "EPSG:32651");
    assert_eq!(views[1].crs, "EPSG:32651");

    let features: Value = serde_json::from_str(&std::fs::read_to_string(&geojson).unwrap()).unwrap();
    let rings = assert_rfc7946_winding(features["features"].as_array().unwrap(), "tz.geojson");
    println!("Taizhou: gpkg and tif on EPSG:32651, COG valid, {rings} rings wound as RFC 7946 says");
}

#[test]
fn rasters_larger_than_a_tile_have_overviews_and_stay_cloud_optimized() {
    let Some(_) = clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The standard site four times over, so both rasters are larger than one 512-pixel tile.
    let site = jingtu::synth::drone::DroneSite::repeated(2, 2);
    let spec = |later: bool| jingtu::synth::drone::FlightSpec {
        later,
        dsm_resolution: 0.5,
        ortho_resolution: 0.25,
        extent: (0.0, 0.0, 400.0, 320.0),
        shift: (0.0, 0.0),
        vertical_offset: 0.0,
        noise_m: 0.02,
        pix4d_nodata: false,
        date: if later { "2024:09:01 10:00:00" } else { "2024:03:01 10:00:00" },
    };
    jingtu::synth::drone::write_flight(&site, &spec(false), &d.join("b_dsm.tif"), &d.join("b_rgb.tif")).unwrap();
    jingtu::synth::drone::write_flight(&site, &spec(true), &d.join("a_dsm.tif"), &d.join("a_rgb.tif")).unwrap();
    let p = |name: &str| d.join(name).display().to_string();
    jingtu([
        "drone",
        "--before-dsm",
        &p("b_dsm.tif"),
        "--after-dsm",
        &p("a_dsm.tif"),
        "--out",
        &p("drone.gpkg"),
        "--height-raster",
        &p("dh.tif"),
        "-q",
    ])
    .expect_code(0, "drone");
    jingtu([
        "change",
        &p("b_rgb.tif"),
        &p("a_rgb.tif"),
        "--out",
        &p("change.gpkg"),
        "--change-raster",
        &p("change.tif"),
        "-q",
    ])
    .expect_code(0, "change of the orthomosaics");
    for tif in ["dh.tif", "change.tif"] {
        let path = d.join(tif);
        assert_valid_cog(&path);
        let ds = Dataset::open(&path).unwrap();
        let (w, h) = ds.raster_size();
        assert!(w.max(h) > 512, "{tif}: {w} x {h} is the case under test");
        let overviews = ds.rasterband(1).unwrap().overview_count().unwrap();
        assert!(overviews >= 1, "{tif}: {w} x {h} without overviews");
        println!("{tif}: {w} x {h}, {overviews} overview(s), a valid COG");
    }
    assert_valid_gpkg(&d.join("drone.gpkg"));
    assert_valid_gpkg(&d.join("change.gpkg"));
}
