//! Issue 3, acceptance 6: bad input to `scan`. A scene with a missing band or a corrupt file is skipped,
//! named on stderr, with exit status 1, while the others are processed; a plot outside all scenes is
//! reported as unobserved; a STAC href to a missing file names the item and the asset.

use crate::support as common;

use std::path::Path;

use common::demo_area;
use gdal::vector::{Geometry, LayerAccess};

fn scan(plots: &Path, scenes: &Path, store: &Path) -> common::Run {
    common::scan(plots, scenes, store, &["--json"])
}

/// The catalogue's items (in the catalogue's order) with `edit` applied, written as an ItemCollection
/// next to the original (so relative hrefs still resolve).
fn edited_catalog(
    area: &jingtu::synth::area::DemoArea,
    name: &str,
    edit: impl Fn(&mut Vec<serde_json::Value>),
) -> std::path::PathBuf {
    let catalog: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&area.stac).unwrap()).unwrap();
    let mut items: Vec<serde_json::Value> = catalog["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
        .map(|l| {
            let file = area.stac.with_file_name(l["href"].as_str().unwrap());
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
        })
        .collect();
    edit(&mut items);
    let path = area.stac.with_file_name(name);
    std::fs::write(&path, serde_json::json!({"type": "FeatureCollection", "features": items}).to_string()).unwrap();
    path
}

#[test]
fn a_scene_without_a_band_and_a_corrupt_scene_are_skipped_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let ids: Vec<String> = area.truth.acquisitions.iter().map(|(id, _)| id.clone()).collect();
    let catalog = edited_catalog(&area, "no-nir.json", |items| {
        items[2]["assets"].as_object_mut().unwrap().remove("nir");
    });
    // Truncate one band of another scene: its header survives, its tiles do not.
    let scene_dir = area.dir.join("scenes").join(area.truth.acquisitions[4].1.to_string());
    let red = scene_dir.join("B04.tif");
    let bytes = std::fs::read(&red).unwrap();
    std::fs::write(&red, &bytes[..bytes.len() / 3]).unwrap();

    let run = scan(&area.plots, &catalog, &dir.path().join("store.gpkg"));
    run.expect_code(1, "scan with two bad scenes");
    assert!(run.stderr.contains(&ids[2]) && run.stderr.contains("no nir band"), "{}", run.stderr);
    assert!(run.stderr.contains(&ids[4]) && run.stderr.contains("B04.tif"), "{}", run.stderr);
    let summary = run.json_summary();
    assert_eq!(summary["scenes_new"], ids.len() - 2, "the other scenes are processed");
    assert_eq!(summary["scenes_skipped"].as_array().unwrap().len(), 2);
    println!("skipped: {}", summary["scenes_skipped"]);
}

#[test]
fn a_stac_href_to_a_missing_file_names_the_item_and_asset() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let id = area.truth.acquisitions[1].0.clone();
    let catalog = edited_catalog(&area, "broken-href.json", |items| {
        items[1]["assets"]["swir16"]["href"] = "scenes/nowhere/B11.tif".into();
    });
    let run = scan(&area.plots, &catalog, &dir.path().join("store.gpkg"));
    run.expect_code(1, "scan with a dangling href");
    let line =
        run.stderr.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("{} not named: {}", id, run.stderr));
    assert!(
        line.contains("asset swir16") && line.contains("nowhere/B11.tif") && line.contains("does not exist"),
        "{line}"
    );
}

#[test]
fn a_plot_outside_all_scenes_is_reported_unobserved() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let plots = dir.path().join("plots-plus-one.gpkg");
    std::fs::copy(&area.plots, &plots).unwrap();
    {
        let ds = gdal::Dataset::open_ex(
            &plots,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE | gdal::GdalOpenFlags::GDAL_OF_VECTOR,
                ..Default::default()
            },
        )
        .unwrap();
        let layer = ds.layer(0).unwrap();
        // 20 km east of the scenes (which end 6.4 km east of x = 300000).
        let g = Geometry::from_wkt(
            "POLYGON ((320000 3590000, 320200 3590000, 320200 3589800, 320000 3589800, 320000 3590000))",
        )
        .unwrap();
        let mut f = gdal::vector::Feature::new(layer.defn()).unwrap();
        f.set_geometry(g).unwrap();
        f.set_field_string(0, "TZ-FAR-001").unwrap();
        f.set_field_string(1, "远郊化工厂旧址").unwrap();
        f.set_field_string(2, "legacy_industrial").unwrap();
        f.create(&layer).unwrap();
    }
    let run = scan(&plots, &area.stac, &dir.path().join("store.gpkg"));
    run.expect_code(1, "a plot no scene covers");
    assert!(run.stderr.contains("TZ-FAR-001") && run.stderr.contains("outside every scene"), "{}", run.stderr);
    let far = run.json_summary()["per_plot"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plot_id"] == "TZ-FAR-001")
        .unwrap()
        .clone();
    assert_eq!(far["state"], "outside_scenes");
    assert_eq!(far["observations"], 0);
}

/// Issue 12, item 1: `--out` equal to `--store` (or to the registry, through a symlink) replaced it with
/// the flag layer, exit 0. Now exit 2 before anything is written; the store and registry are untouched.
#[test]
fn an_output_that_is_the_store_or_the_registry_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let store = dir.path().join("store.gpkg");
    scan(&area.plots, &area.stac, &store).expect_code(0, "first scan");
    // Issue 12, item 11: the report's policy lets only its own script run, by hash.
    let html = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("the scan wrote its report beside the store");
    let page = std::fs::read_to_string(&html).unwrap();
    let policy = page.split("Content-Security-Policy\" content=\"").nth(1).unwrap().split('"').next().unwrap();
    let script_src = policy.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
    assert!(!script_src.contains("unsafe-inline") && script_src.contains("'sha256-"), "{policy}");
    let script = page.rsplit("<script>").next().unwrap().split("</script>").next().unwrap();
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    assert!(script_src.contains(&hash), "the hash is the page script's: {script_src}");
    let store_bytes = std::fs::read(&store).unwrap();
    let plots_bytes = std::fs::read(&area.plots).unwrap();
    let link = dir.path().join("registry-link.gpkg");
    std::os::unix::fs::symlink(&area.plots, &link).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    for (out, fragment) in [(s(&store), "same file as --store"), (s(&link), "same file as --plots")] {
        let run = common::scan(&area.plots, &area.stac, &store, &["--out", &out, "--overwrite"]);
        run.expect_code(2, fragment);
        assert!(run.stderr.contains(fragment), "{}", run.stderr);
    }
    // The report of `jingtu report` over its own store.
    let run = common::jingtu(["report", "--store", &s(&store), "--out", &s(&store), "--overwrite"]);
    run.expect_code(2, "report over the store");
    assert!(run.stderr.contains("same file as --store"), "{}", run.stderr);
    let run = common::jingtu(["export", "--store", &s(&store), "--out", &s(&store), "--overwrite"]);
    run.expect_code(2, "export over the store");
    assert_eq!(std::fs::read(&store).unwrap(), store_bytes, "store untouched");
    assert_eq!(std::fs::read(&area.plots).unwrap(), plots_bytes, "registry untouched");
}

/// `demo --overwrite` deletes its folder before writing it again: a folder it did not write is refused.
#[test]
fn demo_overwrite_never_deletes_a_folder_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), b"years of work").unwrap();
    let run = common::jingtu(["demo", "--out", dir.path().to_str().unwrap(), "--overwrite"]);
    run.expect_code(2, "demo over a foreign folder");
    assert!(run.stderr.contains("thesis.tex"), "{}", run.stderr);
    assert!(dir.path().join("thesis.tex").exists());
}

/// Issue 12, items 2, 3 and 6: scenes whose metadata would make silently wrong flags, or hang the scan,
/// are skipped by name with the reason, exit 1, and the others are scanned: a `raster:bands` scale of
/// "abc", a scale of 0, a scale of 1 on reflectance x 10000 data (values outside the physical range),
/// an item dated 2099, an href to /dev/zero and to a FIFO, a band on another grid.
#[test]
fn scenes_with_wrong_metadata_or_unreadable_assets_are_skipped_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let ids: Vec<String> = area.truth.acquisitions.iter().map(|(id, _)| id.clone()).collect();
    let fifo = dir.path().join("fifo.tif");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // One scene's NIR band moved 3.2 km east: the same pixels, on another grid.
    let shifted_dir = area.dir.join("scenes").join(area.truth.acquisitions[8].1.to_string());
    let shifted = shifted_dir.join("B08-shifted.tif");
    std::fs::copy(shifted_dir.join("B08.tif"), &shifted).unwrap();
    {
        let mut ds = gdal::Dataset::open_ex(
            &shifted,
            gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
        )
        .unwrap();
        let mut gt = ds.geo_transform().unwrap();
        gt[0] += 3200.0;
        ds.set_geo_transform(&gt).unwrap();
    }
    let shifted_href = shifted.strip_prefix(&area.dir).unwrap().to_str().unwrap().to_string();
    let fifo_href = fifo.to_str().unwrap().to_string();
    let catalog = edited_catalog(&area, "bad-metadata.json", |items| {
        items[1]["assets"]["red"]["raster:bands"][0]["scale"] = "abc".into();
        items[2]["assets"]["nir"]["raster:bands"][0]["scale"] = 0.into();
        // Scale 10 on UInt16 counts: stated, and wrong. (1.0 with offset 0 on integer counts is what
        // rio-stac writes for a file without scaling metadata, and is read as "not stated".)
        for band in ["blue", "green", "red", "nir", "swir16", "swir22"] {
            if let Some(a) = items[3]["assets"].get_mut(band) {
                a["raster:bands"][0]["scale"] = 10.0.into();
            }
        }
        // Overflows every value to infinity (found by the bad-input campaign).
        items[4]["assets"]["red"]["raster:bands"][0]["scale"] = 1e300.into();
        items[5]["properties"]["datetime"] = "2099-06-01T02:50:00Z".into();
        items[6]["assets"]["green"]["href"] = "/dev/zero".into();
        items[7]["assets"]["blue"]["href"] = fifo_href.clone().into();
        items[8]["assets"]["nir"]["href"] = shifted_href.clone().into();
    });
    let started = std::time::Instant::now();
    let run = scan(&area.plots, &catalog, &dir.path().join("store.gpkg"));
    assert!(started.elapsed().as_secs() < 120, "no hang");
    run.expect_code(1, "scan with seven bad scenes");
    let line_of = |id: &str| {
        run.stderr
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} not named:\n{}", run.stderr))
            .to_string()
    };
    let expect = [
        (1, "asset red", "not a finite number"),
        (2, "asset nir", "scale is 0"),
        (3, "median", "physical range"),
        (4, "red band", "physical range"),
        (5, "2099-06-01", "in the future"),
        (6, "/dev/zero", "not a regular file"),
        (7, "fifo.tif", "not a regular file"),
        (8, "B08-shifted.tif", "not on the same ground"),
    ];
    for (i, a, b) in expect {
        let line = line_of(&ids[i]);
        assert!(line.contains(a) && line.contains(b), "scene {i}: {line}");
    }
    let summary = run.json_summary();
    assert_eq!(summary["scenes_new"], ids.len() - expect.len(), "the other scenes are processed");
}

/// Issue 12, item 4: a scene whose every pixel is nodata, or NaN, is skipped with its name and the
/// reason (exit 1), not counted as ingested with nothing observed.
#[test]
fn a_scene_without_a_valid_pixel_is_skipped_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let ids: Vec<String> = area.truth.acquisitions.iter().map(|(id, _)| id.clone()).collect();
    let source = area.dir.join("scenes").join(area.truth.acquisitions[0].1.to_string()).join("B04.tif");
    let translate = |name: &str, args: &[&str]| {
        let out = dir.path().join(name);
        let status = std::process::Command::new("gdal_translate")
            .args(["-q", "-ot", "Float32"])
            .args(args)
            .arg(&source)
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "gdal_translate {name}");
        out.to_str().unwrap().to_string()
    };
    // Every value scaled to 0 with 0 declared nodata; every value NaN.
    let nodata = translate("all-nodata.tif", &["-a_nodata", "0", "-scale", "0", "65535", "0", "0"]);
    let nan = dir.path().join("all-nan.tif");
    {
        let src = gdal::Dataset::open(&source).unwrap();
        let (w, h) = src.raster_size();
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = driver.create_with_band_type::<f32, _>(&nan, w, h, 1).unwrap();
        ds.set_geo_transform(&src.geo_transform().unwrap()).unwrap();
        ds.set_projection(&src.projection()).unwrap();
        let mut buffer = gdal::raster::Buffer::new((w, h), vec![f32::NAN; w * h]);
        ds.rasterband(1).unwrap().write((0, 0), (w, h), &mut buffer).unwrap();
    }
    let nan = nan.to_str().unwrap().to_string();
    let catalog = edited_catalog(&area, "no-valid-pixel.json", |items| {
        for (i, href) in [(2, &nodata), (5, &nan)] {
            for asset in items[i]["assets"].as_object_mut().unwrap().values_mut() {
                if asset.get("eo:bands").is_some() {
                    asset["href"] = href.clone().into();
                }
            }
        }
    });
    let run = scan(&area.plots, &catalog, &dir.path().join("store.gpkg"));
    run.expect_code(1, "scan with two scenes of no data");
    for (i, file) in [(2, "all-nodata.tif"), (5, "all-nan.tif")] {
        let line =
            run.stderr.lines().find(|l| l.contains(&ids[i])).unwrap_or_else(|| panic!("{}: {}", ids[i], run.stderr));
        assert!(line.contains(file) && line.contains("no valid pixel"), "scene {i}: {line}");
    }
    let summary = run.json_summary();
    assert_eq!(summary["scenes_new"], ids.len() - 2, "the other scenes are processed");
}

/// Issue 12, item 8: skipped plots (no id, empty or NaN geometry) give exit 1, each named; a `listed_on`
/// that is not a date is a warning naming the plot; out-of-range config values name their key; an
/// empty changefeed cursor is an error.
#[test]
fn skipped_plots_exit_1_and_bad_settings_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let plots = dir.path().join("plots-with-bad-rows.gpkg");
    std::fs::copy(&area.plots, &plots).unwrap();
    {
        let ds = gdal::Dataset::open_ex(
            &plots,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE | gdal::GdalOpenFlags::GDAL_OF_VECTOR,
                ..Default::default()
            },
        )
        .unwrap();
        let layer = ds.layer(0).unwrap();
        let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
        let idx = |n: &str| names.iter().position(|f| f == n).unwrap();
        let square = "POLYGON ((300100 3590100, 300300 3590100, 300300 3589900, 300100 3589900, 300100 3590100))";
        for (id, wkt, listed) in [
            ("", Some(square), None),
            ("TZ-EMPTY-GEOM", Some("POLYGON EMPTY"), None),
            ("TZ-NAN-GEOM", Some("POLYGON ((nan 3590100, 300300 3590100, 300300 3589900, nan 3590100))"), None),
            ("TZ-BAD-DATE", Some(square), Some("next spring")),
        ] {
            let mut f = gdal::vector::Feature::new(layer.defn()).unwrap();
            if let Some(g) = wkt.and_then(|w| Geometry::from_wkt(w).ok()) {
                f.set_geometry(g).unwrap();
            }
            f.set_field_string(idx("plot_id"), id).unwrap();
            if let Some(d) = listed {
                f.set_field_string(idx("listed_on"), d).unwrap();
            }
            f.create(&layer).unwrap();
        }
    }
    let run = scan(&plots, &area.stac, &dir.path().join("store.gpkg"));
    run.expect_code(1, "a registry with skipped plots");
    for fragment in [
        "empty plot_id (skipped)",
        "TZ-EMPTY-GEOM",
        "TZ-NAN-GEOM",
        "TZ-BAD-DATE: listed_on 'next spring' is not a date",
    ] {
        assert!(run.stderr.contains(fragment), "{fragment}: {}", run.stderr);
    }

    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[scan.temporal]\nidle_months = 0\n").unwrap();
    let run =
        common::scan(&area.plots, &area.stac, &dir.path().join("other.gpkg"), &["--config", config.to_str().unwrap()]);
    run.expect_code(2, "idle_months = 0");
    assert!(run.stderr.contains("scan.temporal.idle_months") && run.stderr.contains("bad.toml"), "{}", run.stderr);

    let store = dir.path().join("store.gpkg");
    let run = common::jingtu(["export", "--store", store.to_str().unwrap(), "--since", ""]);
    run.expect_code(2, "export --since ''");
    assert!(run.stderr.contains("empty cursor"), "{}", run.stderr);
}
