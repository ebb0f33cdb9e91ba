//! Issue 2, acceptance 3: bad input to `jingtu change`, each case made from the fixture pair.
//!
//! - inputs in different CRSs are reprojected and the truth events are still found;
//! - inputs that do not overlap: exit 2, one line saying so;
//! - a missing band: exit 2, one line naming the band;
//! - an all-nodata input: exit 2, one line saying so, nothing written;
//! - an existing output without `--overwrite`: exit 2, the file untouched.

use crate::support as common;

use std::path::{Path, PathBuf};

use gdal::raster::Buffer;
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags, Metadata};
use jingtu::synth::pair::{EPSG, FixturePair, PairOptions};

use common::{Run, area_outside, covered_by_own_kind, detection_table, event_zone, fixture, jingtu, read_flags};

fn change(before: &Path, after: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> =
        vec!["change".into(), before.into(), after.into(), "--out".into(), out.into()];
    args.extend(extra.iter().map(Into::into));
    jingtu(args)
}

/// Exit status 2 and exactly one error line, which names `file`; returns the line.
fn fails_naming(run: &Run, file: &Path) -> String {
    run.expect_code(2, "a bad input");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr, got {lines:#?}");
    assert!(lines[0].starts_with("jingtu: error: "), "{}", lines[0]);
    assert!(lines[0].contains(&file.display().to_string()), "names {}: {}", file.display(), lines[0]);
    lines[0].to_string()
}

/// Nothing but the inputs left in `dir`: no output, no half-written temporary folder.
fn nothing_written(dir: &Path, pair: &FixturePair, extra_inputs: &[&Path]) {
    let mut expected: Vec<PathBuf> = vec![
        pair.before.clone(),
        pair.after.clone(),
        pair.truth_raster.clone(),
        pair.truth_json.clone(),
        pair.plots.clone(),
    ];
    // The truth raster is written like every code raster, with its colour table and QGIS style beside it.
    for sidecar in jingtu::export::raster::CODE_RASTER_SIDECARS {
        expected.push(jingtu::export::atomic::sidecar_path(&pair.truth_raster, sidecar));
    }
    expected.extend(extra_inputs.iter().map(|p| p.to_path_buf()));
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        assert!(expected.contains(&p), "{} was left behind", p.display());
    }
}

fn open_for_update(path: &Path) -> Dataset {
    let options = DatasetOptions { open_flags: GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() };
    Dataset::open_ex(path, options).unwrap()
}

#[test]
fn inputs_in_different_crss_are_reprojected_and_every_event_is_still_found() {
    for epsg in [4326, 32650] {
        let dir = tempfile::tempdir().unwrap();
        let pair = fixture(dir.path(), PairOptions::new(1).with_after_crs(epsg));
        let after = Dataset::open(&pair.after).unwrap();
        assert_ne!(after.spatial_ref().unwrap().auth_code().ok(), Some(EPSG as i32), "the later date is elsewhere");
        let out = dir.path().join("flags.gpkg");
        let run = change(&pair.before, &pair.after, &out, &["--json"]);
        run.expect_code(0, &format!("later date in EPSG:{epsg}"));
        // The analysis CRS is the earlier date's: the first input in metres.
        assert_eq!(run.json_summary()["grid"]["epsg"].as_u64(), Some(EPSG as u64));
        let flags = read_flags(&out);
        let zone = event_zone(&pair.truth);
        let off_event = flags.iter().filter(|f| area_outside(&f.geometry, &zone) >= 1.0).count();
        let mostly_off = flags.iter().filter(|f| area_outside(&f.geometry, &zone) >= 0.5 * f.geometry.area()).count();
        // Both dates pass through the same resampling and are compared with a pixel of tolerance, so
        // road and field edges do not turn into changes (7 and 9 such flags before that).
        assert_eq!(mostly_off, 0, "EPSG:{epsg}: flags lying mostly away from every event");
        println!(
            "later date in EPSG:{epsg}: {} flags, {off_event} of them away from every event\n{}",
            flags.len(),
            detection_table(&pair.truth, &flags)
        );
        for event in &pair.truth.events {
            let cover = covered_by_own_kind(event, &flags);
            assert!(
                cover >= 0.3,
                "EPSG:{epsg}: event {} ({}) only {:.0}% found",
                event.id,
                event.kind.name(),
                cover * 100.0
            );
        }
    }
}

#[test]
fn inputs_that_do_not_overlap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(2));
    let moved = dir.path().join("moved-100km-east.tif");
    std::fs::copy(&pair.after, &moved).unwrap();
    {
        let mut ds = open_for_update(&moved);
        let mut gt = ds.geo_transform().unwrap();
        gt[0] += 100_000.0;
        ds.set_geo_transform(&gt).unwrap();
    }
    let out = dir.path().join("flags.gpkg");
    let line = fails_naming(&change(&pair.before, &moved, &out, &[]), &moved);
    assert!(line.contains("do not overlap"), "{line}");
    assert!(line.contains(&pair.before.display().to_string()), "both files are named: {line}");
    nothing_written(dir.path(), &pair, &[&moved]);
}

/// A copy of `source` with only its first `bands` bands (descriptions, nodata and georeferencing kept).
fn first_bands(source: &Path, target: &Path, bands: usize) {
    let src = Dataset::open(source).unwrap();
    let (w, h) = src.raster_size();
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut dst = driver.create_with_band_type::<u16, _>(target, w, h, bands).unwrap();
    dst.set_geo_transform(&src.geo_transform().unwrap()).unwrap();
    dst.set_projection(&src.projection()).unwrap();
    for b in 1..=bands {
        let from = src.rasterband(b).unwrap();
        let mut buf: Buffer<u16> = from.read_as((0, 0), (w, h), (w, h), None).unwrap();
        let mut to = dst.rasterband(b).unwrap();
        to.set_no_data_value(from.no_data_value()).unwrap();
        to.set_description(&from.description().unwrap()).unwrap();
        to.write((0, 0), (w, h), &mut buf).unwrap();
    }
}

#[test]
fn a_missing_band_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(3));
    let four = dir.path().join("after-4-bands.tif");
    first_bands(&pair.after, &four, 4);
    let out = dir.path().join("flags.gpkg");
    // Sentinel-2 profile, six bands before, B02 B03 B04 B08 after: no SWIR on the later date.
    let line = fails_naming(&change(&pair.before, &four, &out, &["--sensor", "sentinel2-l2a"]), &four);
    assert!(line.contains("no swir1 band"), "{line}");
    // A mapping that points past the last band names the band and the number.
    let line = fails_naming(&change(&pair.before, &pair.after, &out, &["--bands", "nir=9"]), &pair.before);
    assert!(line.contains("nir") && line.contains("band 9"), "{line}");
    nothing_written(dir.path(), &pair, &[&four]);
}

#[test]
fn an_all_nodata_input_says_so_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(4));
    let empty = dir.path().join("after-all-nodata.tif");
    std::fs::copy(&pair.after, &empty).unwrap();
    {
        let ds = open_for_update(&empty);
        let (w, h) = ds.raster_size();
        for b in 1..=ds.raster_count() {
            let mut zeros = Buffer::new((w, h), vec![0u16; w * h]);
            ds.rasterband(b).unwrap().write((0, 0), (w, h), &mut zeros).unwrap();
        }
    }
    let (out, raster) = (dir.path().join("flags.gpkg"), dir.path().join("change.tif"));
    let run = change(&pair.before, &empty, &out, &["--change-raster", raster.to_str().unwrap()]);
    let line = fails_naming(&run, &empty);
    assert!(line.contains("nodata"), "{line}");
    nothing_written(dir.path(), &pair, &[&empty]);
}

#[test]
fn a_real_all_nodata_raster_says_so() {
    let rio = common::licensed_data("rasterio-testdata");
    // gdalinfo: 71 x 2475, 4 UInt16 bands (blue, green, red, nir), NoData Value=0 and no other value.
    let path = rio.join("all-nodata.tif");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flags.gpkg");
    let line = fails_naming(&change(&path, &path, &out, &[]), &path);
    assert!(line.contains("nodata"), "{line}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

#[test]
fn existing_outputs_are_left_untouched_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(5));
    let (out, raster) = (dir.path().join("flags.gpkg"), dir.path().join("change.tif"));
    let precious = b"an analyst's earlier result, not to be lost".to_vec();

    // The flag output exists.
    std::fs::write(&out, &precious).unwrap();
    let run = change(&pair.before, &pair.after, &out, &["--change-raster", raster.to_str().unwrap()]);
    let line = fails_naming(&run, &out);
    assert!(line.contains("already exists") && line.contains("--overwrite"), "{line}");
    assert_eq!(std::fs::read(&out).unwrap(), precious, "byte-identical");
    assert!(!raster.exists(), "nothing else written either");

    // Only the change raster exists.
    std::fs::remove_file(&out).unwrap();
    std::fs::write(&raster, &precious).unwrap();
    let run = change(&pair.before, &pair.after, &out, &["--change-raster", raster.to_str().unwrap()]);
    fails_naming(&run, &raster);
    assert_eq!(std::fs::read(&raster).unwrap(), precious);
    assert!(!out.exists());

    // A Shapefile is several files: an existing .dbf of another Shapefile counts.
    let shp = dir.path().join("flags.shp");
    let dbf = shp.with_extension("dbf");
    std::fs::write(&dbf, &precious).unwrap();
    let run = change(&pair.before, &pair.after, &shp, &[]);
    fails_naming(&run, &dbf);
    assert_eq!(std::fs::read(&dbf).unwrap(), precious);
    assert!(!shp.exists());
    std::fs::remove_file(&dbf).unwrap();
    nothing_written(dir.path(), &pair, &[&raster]);

    // With --overwrite both are replaced by real outputs.
    std::fs::write(&out, &precious).unwrap();
    let run = change(&pair.before, &pair.after, &out, &["--change-raster", raster.to_str().unwrap(), "--overwrite"]);
    run.expect_code(0, "--overwrite");
    assert!(!read_flags(&out).is_empty(), "a GeoPackage of flags replaced the old file");
    assert_eq!(Dataset::open(&raster).unwrap().raster_count(), 1, "a GeoTIFF replaced the old file");
}

/// Issue 12, item 1: an output that is an input, seen through a hard link, a symlink or another
/// spelling, is refused with exit 2 before anything is written, even with `--overwrite`; so is an
/// output that is the other output.
#[test]
fn an_output_that_is_an_input_or_the_other_output_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(4));
    let before_bytes = std::fs::read(&pair.before).unwrap();
    let hard = dir.path().join("hard-link.tif");
    std::fs::hard_link(&pair.before, &hard).unwrap();
    let soft = dir.path().join("sym-link.tif");
    std::os::unix::fs::symlink(&pair.after, &soft).unwrap();
    let out = dir.path().join("flags.gpkg");
    let dotted = dir.path().join(".").join("flags.gpkg");
    let plots_shp = pair.plots.clone();
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (vec!["--change-raster".into(), hard.clone().into()], "same file as BEFORE"),
        (vec!["--change-raster".into(), soft.clone().into()], "same file as AFTER"),
        (vec!["--change-raster".into(), dotted.clone().into()], "same file as --out"),
    ];
    for (extra, fragment) in cases {
        let mut args: Vec<std::ffi::OsString> = vec![
            "change".into(),
            pair.before.clone().into(),
            pair.after.clone().into(),
            "--out".into(),
            out.clone().into(),
        ];
        args.extend(extra);
        args.push("--overwrite".into());
        let run = jingtu(args);
        run.expect_code(2, fragment);
        assert!(run.stderr.contains(fragment), "{fragment}: {}", run.stderr);
        assert!(!out.exists(), "nothing written");
    }
    // --out equal to the plot registry.
    let run = change(&pair.before, &pair.after, &plots_shp, &["--plots", plots_shp.to_str().unwrap(), "--overwrite"]);
    run.expect_code(2, "--out is --plots");
    assert!(run.stderr.contains("same file as --plots"), "{}", run.stderr);
    assert_eq!(std::fs::read(&pair.before).unwrap(), before_bytes, "BEFORE untouched");
    std::fs::remove_file(&hard).unwrap();
    std::fs::remove_file(&soft).unwrap();
    nothing_written(dir.path(), &pair, &[]);
}

/// Issue 12, item 4: +-Inf and absurd values (-1e30) passed as data ("threshold inf", 0 flags, exit 0).
/// They are not data, like nodata: an input holding nothing else is an error naming it. A south-up copy
/// of an input (positive y pixel size) is refused with a clear message, not cropped to a sliver.
#[test]
fn infinite_and_absurd_values_are_not_data_and_south_up_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(6));
    let src = Dataset::open(&pair.after).unwrap();
    let (w, h) = src.raster_size();
    let bad = dir.path().join("after-inf.tif");
    {
        let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = driver.create_with_band_type::<f32, _>(&bad, w, h, src.raster_count()).unwrap();
        ds.set_geo_transform(&src.geo_transform().unwrap()).unwrap();
        ds.set_projection(&src.projection()).unwrap();
        for b in 1..=src.raster_count() {
            let from = src.rasterband(b).unwrap();
            let mut to = ds.rasterband(b).unwrap();
            to.set_description(&from.description().unwrap()).unwrap();
            to.set_color_interpretation(from.color_interpretation()).unwrap();
            let fill = match b % 3 {
                0 => f32::INFINITY,
                1 => f32::NEG_INFINITY,
                _ => -1e30,
            };
            let mut values = Buffer::new((w, h), vec![fill; w * h]);
            to.write((0, 0), (w, h), &mut values).unwrap();
        }
    }
    let out = dir.path().join("flags.gpkg");
    let line = fails_naming(&change(&pair.before, &bad, &out, &[]), &bad);
    assert!(line.contains("infinite"), "{line}");
    assert!(!out.exists());

    let south_up = dir.path().join("after-south-up.tif");
    std::fs::copy(&pair.after, &south_up).unwrap();
    {
        let mut ds = open_for_update(&south_up);
        let mut gt = ds.geo_transform().unwrap();
        gt[3] -= gt[5].abs() * h as f64;
        gt[5] = gt[5].abs();
        ds.set_geo_transform(&gt).unwrap();
    }
    let line = fails_naming(&change(&pair.before, &south_up, &out, &[]), &south_up);
    assert!(line.contains("south-up") && line.contains("gdalwarp"), "{line}");
    assert!(!out.exists());
}
