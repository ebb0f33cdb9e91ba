//! The clients analysts open jingtu's outputs with, run for real: GDAL's GeoPackage and Cloud Optimized
//! GeoTIFF validators (Debian's python3-gdal), GDAL's command-line tools, QGIS 3.22 offscreen (Debian's
//! python3-qgis) and geopandas (from PyPI, in the virtual environment `.ci/setup-debian` makes). A missing client fails the test under
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

/// QGIS's Python bindings (Debian's python3-qgis), or `None`.
pub fn pyqgis() -> Option<()> {
    let ok = Command::new(SYSTEM_PYTHON).args(["-c", "import qgis.core"]).output().is_ok_and(|o| o.status.success());
    available(ok, "QGIS's Python bindings (Debian package python3-qgis)")
}

/// What QGIS (offscreen, as a user opening the file) makes of one file.
#[derive(Debug, serde::Deserialize)]
pub struct QgisView {
    pub path: String,
    pub valid: bool,
    /// `EPSG:NNNN`.
    pub crs: String,
    /// The renderer QGIS styles the layer with (the file's default style where it has one).
    pub renderer: Option<String>,
    /// Vectors: features read by iterating the layer.
    pub features: Option<usize>,
    /// Paletted rasters: (value, label, alpha) per class.
    pub classes: Option<Vec<(f64, String, u8)>>,
    /// Rasters: share of a rendered 64 x 64 view that is fully transparent.
    pub transparent_share: Option<f64>,
}

/// Opens every file in QGIS 3 offscreen (rasters by GDAL, vectors by OGR, as dragging them in does).
pub fn qgis_views(paths: &[&Path]) -> Vec<QgisView> {
    let script = r#"
import json, sys
from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
for path in sys.argv[1:]:
    view = {"path": path}
    if path.endswith((".tif", ".tiff")):
        layer = QgsRasterLayer(path, "raster")
        renderer = layer.renderer()
        if hasattr(renderer, "classes"):
            view["classes"] = [[c.value, c.label, c.color.alpha()] for c in renderer.classes()]
        block = renderer.block(1, layer.extent(), 64, 64) if renderer else None
        if block is not None:
            clear = sum(1 for i in range(64) for j in range(64) if (block.color(i, j) >> 24) & 255 == 0)
            view["transparent_share"] = clear / 4096.0
    else:
        layer = QgsVectorLayer(path, "vector", "ogr")
        renderer = layer.renderer()
        view["features"] = sum(1 for _ in layer.getFeatures())
    view["valid"] = layer.isValid()
    view["crs"] = layer.crs().authid()
    view["renderer"] = renderer.type() if renderer else None
    print(json.dumps(view), flush=True)
# QGIS 3.22's exitQgis() can crash while tearing down the providers; the views are printed by now.
import os
os._exit(0)
"#;
    // Qt wants a private runtime folder (0700), which /tmp is not.
    let runtime = tempfile::tempdir().expect("a temporary folder");
    let out = Command::new(SYSTEM_PYTHON)
        .args(["-c", script])
        .args(paths)
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "PyQGIS failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("a view")).collect()
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

/// Runs GDAL's COG validation (`--full-check=yes`'s checks) on many files in one Python process and
/// panics naming every file that has an error or a warning.
pub fn assert_valid_cogs(paths: &[PathBuf]) {
    let script = r#"
import sys
sys.path.insert(0, sys.argv[1])
from validate_cloud_optimized_geotiff import validate
failed = []
for path in sys.argv[2:]:
    warnings, errors, _ = validate(path, full_check=True)
    if warnings or errors:
        failed.append("%s: %s" % (path, "; ".join(errors + warnings)))
print("\n".join(failed))
sys.exit(1 if failed else 0)
"#;
    let out =
        Command::new(SYSTEM_PYTHON).args(["-c", script, GDAL_SAMPLES]).args(paths).output().expect("python3 runs");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "not valid cloud optimized GeoTIFFs:\n{report}");
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
