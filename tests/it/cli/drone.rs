//! The `jingtu drone` command line (CONTRACT.md): outputs, exit statuses, one-line errors, `--json`, and
//! `--pixel-grid` being required for `change` on images without georeferencing.

use std::path::Path;
use std::process::Command;

use jingtu::synth::drone::{DroneSite, FlightSpec, write_flight};

fn jingtu(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jingtu")).current_dir(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write_flights(dir: &Path) {
    let site = DroneSite::standard();
    let spec = |later: bool| FlightSpec {
        later,
        dsm_resolution: 0.5,
        ortho_resolution: 0.25,
        extent: (0.0, 0.0, 200.0, 160.0),
        shift: if later { (0.2, 0.1) } else { (0.0, 0.0) },
        vertical_offset: if later { -0.2 } else { 0.0 },
        noise_m: 0.02,
        pix4d_nodata: false,
        date: if later { "2024:09:01 10:00:00" } else { "2024:03:01 10:00:00" },
    };
    write_flight(&site, &spec(false), &dir.join("b_dsm.tif"), &dir.join("b_rgb.tif")).unwrap();
    write_flight(&site, &spec(true), &dir.join("a_dsm.tif"), &dir.join("a_rgb.tif")).unwrap();
}

#[test]
fn drone_command_writes_flags_and_a_height_raster_and_keeps_existing_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_flights(d);
    let args = [
        "drone",
        "--before-dsm",
        "b_dsm.tif",
        "--after-dsm",
        "a_dsm.tif",
        "--before-ortho",
        "b_rgb.tif",
        "--after-ortho",
        "a_rgb.tif",
        "--out",
        "flags.fgb",
        "--height-raster",
        "dh.tif",
    ];
    let (code, stdout, stderr) = jingtu(d, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("height_gain") && stdout.contains("earthworks") && stdout.contains("corrected"),
        "{stdout}"
    );
    assert!(d.join("flags.fgb").exists() && d.join("dh.tif").exists());
    let flags = jingtu::export::vector::read_flag_summaries(&d.join("flags.fgb")).unwrap();
    assert_eq!(flags.iter().filter(|f| f.kind == "height_gain").count(), 3, "{flags:?}");
    let dh = gdal::Dataset::open(d.join("dh.tif")).unwrap();
    assert_eq!(dh.rasterband(1).unwrap().band_type(), gdal::raster::GdalDataType::Float32);
    let no_leftovers =
        std::fs::read_dir(d).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with(".jingtu"));
    assert!(no_leftovers, "scratch and temporary folders are removed");

    // Existing outputs are kept without --overwrite, with one line naming the file.
    let before = std::fs::metadata(d.join("flags.fgb")).unwrap().len();
    let (code, _, stderr) = jingtu(d, &args);
    assert_eq!(code, 2);
    assert!(
        stderr.trim().lines().count() == 1 && stderr.contains("flags.fgb") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(d.join("flags.fgb")).unwrap().len(), before);

    // --json: progress events and a summary line that parses.
    let mut json_args = args.to_vec();
    json_args.extend(["--overwrite", "--json"]);
    let (code, stdout, _) = jingtu(d, &json_args);
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["flags_by_kind"]["height_gain"], 3);
    assert!(summary["shift"]["corrected"].as_bool().unwrap());
    assert!(stdout.lines().any(|l| l.contains("\"event\":\"progress\"") && l.contains("tiles")));
}

#[test]
fn drone_command_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_flights(d);
    let (code, _, stderr) =
        jingtu(d, &["drone", "--before-dsm", "b_rgb.tif", "--after-dsm", "a_dsm.tif", "--out", "x.gpkg"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("b_rgb.tif") && stderr.contains("orthomosaic, not a surface model"), "{stderr}");
    let (code, _, stderr) =
        jingtu(d, &["drone", "--before-dsm", "b_dsm.tif", "--after-dsm", "missing.tif", "--out", "x.gpkg"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.tif"), "{stderr}");
    let (code, _, stderr) = jingtu(
        d,
        &[
            "drone",
            "--before-dsm",
            "b_dsm.tif",
            "--after-dsm",
            "a_dsm.tif",
            "--before-ortho",
            "b_rgb.tif",
            "--out",
            "x.gpkg",
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("--after-ortho"), "{stderr}");
    assert!(!d.join("x.gpkg").exists());
}

#[test]
fn change_on_images_without_georeferencing_needs_pixel_grid_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let driver = gdal::DriverManager::get_driver_by_name("MEM").unwrap();
    for (name, shift) in [("a.png", 0usize), ("b.png", 1)] {
        let mem = driver.create_with_band_type::<u8, _>("", 64, 64, 3).unwrap();
        for b in 1..=3 {
            let data: Vec<u8> =
                (0..64 * 64).map(|i| if (i % 64) / 16 == shift { 200 } else { 60 + (b * 20) as u8 }).collect();
            let mut buf = gdal::raster::Buffer::new((64, 64), data);
            mem.rasterband(b).unwrap().write((0, 0), (64, 64), &mut buf).unwrap();
        }
        let png = gdal::DriverManager::get_driver_by_name("PNG").unwrap();
        mem.create_copy(&png, d.join(name), &gdal::cpl::CslStringList::new()).unwrap();
    }
    let (code, _, stderr) = jingtu(d, &["change", "a.png", "b.png", "--out", "c.geojson"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("a.png") && stderr.contains("--pixel-grid"), "{stderr}");
    let (code, stdout, stderr) = jingtu(d, &["change", "a.png", "b.png", "--out", "c.geojson", "--pixel-grid"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no georeferencing") && stdout.contains(" px "), "{stdout} {stderr}");
}
