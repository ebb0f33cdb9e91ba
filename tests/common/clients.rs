//! The clients analysts open jingtu's outputs with, run for real: GDAL's GeoPackage and Cloud Optimized
//! GeoTIFF validators (Debian's python3-gdal), GDAL's command-line tools, and geopandas (from PyPI, in
//! the virtual environment `.ci/setup-debian` makes). A missing client fails the test under
//! `JINGTU_REQUIRE_REAL_DATA=1` (as CI runs) and otherwise skips it with a message: a check that
//! cannot run must never pass in silence.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python that carries GDAL's bindings and samples (Debian's, not a pyenv or venv one).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// GDAL's sample scripts as Debian's python3-gdal installs them.
pub const GDAL_SAMPLES: &str = "/usr/lib/python3/dist-packages/osgeo_utils/samples";

fn required() -> bool {
    std::env::var_os("JINGTU_REQUIRE_REAL_DATA").is_some_and(|v| v == "1")
}

/// `Some(())` when `ok`; otherwise a failure under `JINGTU_REQUIRE_REAL_DATA=1`, or a SKIPPED message.
fn available(ok: bool, what: &str) -> Option<()> {
    if ok {
        Some(())
    } else if required() {
        panic!("{what} is missing and JINGTU_REQUIRE_REAL_DATA=1: run ./.ci/setup-debian");
    } else {
        eprintln!("SKIPPED: {what} is missing (./.ci/setup-debian installs it)");
        None
    }
}

/// The validators, or `None` (see the module's note).
pub fn gdal_validators() -> Option<()> {
    let ok = Path::new(SYSTEM_PYTHON).exists()
        && Path::new(GDAL_SAMPLES).join("validate_gpkg.py").exists()
        && Path::new(GDAL_SAMPLES).join("validate_cloud_optimized_geotiff.py").exists();
    available(ok, &format!("GDAL's validators ({GDAL_SAMPLES}, Debian package python3-gdal)"))
}

/// GDAL's command-line tools, or `None`.
pub fn gdal_tools() -> Option<()> {
    let ok = ["ogrinfo", "ogr2ogr", "gdalinfo"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success()));
    available(ok, "ogrinfo, ogr2ogr and gdalinfo (Debian package gdal-bin)")
}

/// The Python of the project's test environment with geopandas, or `None`.
pub fn geopandas_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = Command::new(&python).args(["-c", "import geopandas, pyogrio"]).output().is_ok_and(|o| o.status.success());
    available(ok, &format!("geopandas in {}", python.display())).map(|_| python)
}

/// Runs `validate_gpkg.py` on `path` with every check it has (`--extra`), warnings as errors, and
/// panics with its report unless it passes.
pub fn assert_valid_gpkg(path: &Path) {
    let script = Path::new(GDAL_SAMPLES).join("validate_gpkg.py");
    let out = Command::new(SYSTEM_PYTHON)
        .arg(&script)
        .args(["-k", "--extra", "--warning-as-error"])
        .arg(path)
        .output()
        .expect("python3 runs");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} fails validate_gpkg.py:\n{report}", path.display());
}

/// Runs `validate_cloud_optimized_geotiff.py --full-check=yes` on `path` and panics with its report
/// unless it says the file is a valid COG without warnings.
pub fn assert_valid_cog(path: &Path) {
    let script = Path::new(GDAL_SAMPLES).join("validate_cloud_optimized_geotiff.py");
    let out =
        Command::new(SYSTEM_PYTHON).arg(&script).arg("--full-check=yes").arg(path).output().expect("python3 runs");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success()
            && report.contains("is a valid cloud optimized GeoTIFF")
            && !report.contains("warnings were found"),
        "{} fails validate_cloud_optimized_geotiff.py:\n{report}",
        path.display()
    );
}

/// A command's standard output, panicking with its standard error unless it succeeds.
pub fn output_of(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?} does not run: {e}"));
    assert!(out.status.success(), "{command:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The features `ogrinfo` lists in the first layer of `source` (a path or a GDAL connection string),
/// opened as a user would open it. (Its "Feature Count" of a GeoJSON sequence counts every JSON object,
/// the changefeed's closing cursor line included; the features it reads are what a client gets.)
pub fn ogrinfo_count(source: &str) -> usize {
    let text = output_of(Command::new("ogrinfo").args(["-ro", "-al", "-q", source]));
    text.lines().filter(|l| l.starts_with("OGRFeature(")).count()
}

/// Twice the signed area of a ring of GeoJSON positions: positive when counter-clockwise.
pub fn signed_area2(ring: &[serde_json::Value]) -> f64 {
    ring.windows(2)
        .map(|w| {
            let (x0, y0) = (w[0][0].as_f64().unwrap(), w[0][1].as_f64().unwrap());
            let (x1, y1) = (w[1][0].as_f64().unwrap(), w[1][1].as_f64().unwrap());
            x0 * y1 - x1 * y0
        })
        .sum()
}

/// Checks RFC 7946's winding (exterior rings counter-clockwise, holes clockwise) on every polygon of
/// every feature; returns how many rings were checked.
pub fn assert_rfc7946_winding(features: &[serde_json::Value], what: &str) -> usize {
    let mut rings = 0;
    for (k, f) in features.iter().enumerate() {
        let g = &f["geometry"];
        let polygons: Vec<&serde_json::Value> = match g["type"].as_str() {
            Some("Polygon") => vec![&g["coordinates"]],
            Some("MultiPolygon") => g["coordinates"].as_array().unwrap().iter().collect(),
            other => panic!("{what}: feature {k} has geometry {other:?}"),
        };
        for polygon in polygons {
            for (i, ring) in polygon.as_array().unwrap().iter().enumerate() {
                let area = signed_area2(ring.as_array().unwrap());
                let id = &f["properties"]["flag_id"];
                if i == 0 {
                    assert!(area > 0.0, "{what}: feature {k} ({id}): exterior ring is clockwise");
                } else {
                    assert!(area < 0.0, "{what}: feature {k} ({id}): hole {i} is counter-clockwise");
                }
                rings += 1;
            }
        }
    }
    rings
}
