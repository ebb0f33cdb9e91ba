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
        use std::io::Write;
        // Not eprintln!: the harness captures that and shows it only for a failing test.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {what} is missing (./.ci/setup-debian installs it)");
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

/// The Python of the project's STAC environment (`.venv-stac`, made by `.ci/setup-debian` from
/// `.ci/python-stac-requirements.txt`: pystac, odc-stac, stackstac, rio-stac, moto), or `None`. Apart
/// from geopandas' `.venv` because stackstac needs a pandas before 3.
pub fn stac_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-stac/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import pystac, jsonschema, odc.stac, stackstac, rio_stac, moto, boto3, rustac"])
        .output()
        .is_ok_and(|o| o.status.success());
    available(ok, &format!("pystac, odc-stac, stackstac, rio-stac and moto in {}", python.display())).map(|_| python)
}

/// The STAC extension schemas the demo catalogue declares, vendored (no network in tests).
pub fn stac_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stac-schemas")
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port()
}

/// Waits until something accepts connections on `port`, or panics naming `what` and its log.
fn wait_for_port(port: u16, what: &str, log: &Path) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} does not listen on port {port}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

/// A server process a test started; killed (by its own pid) when dropped.
pub struct Server {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its folder (configuration, logs).
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, not Child::kill's SIGKILL: nginx's master then stops its workers, which a killed
        // master leaves running.
        // SAFETY: signals our own child, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Server {
    /// The server's log (nginx's access log, moto's output).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

/// nginx from Debian (`nginx-light`), or `None`.
pub fn nginx() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/sbin/nginx");
    let ok = Command::new(&path).arg("-v").output().is_ok_and(|o| o.status.success());
    available(ok, "nginx (Debian package nginx-light)").map(|_| path)
}

/// nginx serving `root` on a free port of 127.0.0.1, in the foreground, with byte ranges (its default
/// for static files) and an access log of the bytes it sent.
pub fn serve_with_nginx(nginx: &Path, root: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    // `user` applies only when started as root (CI containers): the workers then read as root, which
    // the test's temporary files need.
    let conf = format!(
        r#"user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    log_format bytes '$request $status $body_bytes_sent';
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{ application/json json; image/tiff tif; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        access_log {d}/access.log bytes;
    }}
}}
"#,
        root = root.display()
    );
    let conf = if nix_root() { conf } else { conf.replacen("user root;\n", "", 1) };
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("nginx starts");
    wait_for_port(port, "nginx", &dir.path().join("error.log"));
    Server { child, port, dir }
}

fn nix_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// moto's S3 server (`moto_server` from the STAC environment) on a free port of 127.0.0.1, holding
/// every file under `root` in `bucket` under the same relative keys.
pub fn serve_with_moto(python: &Path, root: &Path, bucket: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = python.with_file_name("moto_server");
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::fs::File::create(dir.path().join("access.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("moto_server starts");
    wait_for_port(port, "moto_server", &dir.path().join("stderr.log"));
    let upload = r#"
import os, sys, boto3
port, root, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.create_bucket(Bucket=bucket)
for folder, _, files in os.walk(root):
    for f in files:
        path = os.path.join(folder, f)
        s3.upload_file(path, bucket, os.path.relpath(path, root))
"#;
    output_of(Command::new(python).args(["-c", upload, &port.to_string()]).arg(root).arg(bucket));
    Server { child, port, dir }
}

/// rustac's STAC API server (`rustac serve`, in-memory backend, from the STAC environment) on a free
/// port of 127.0.0.1, loaded with the Collection `collection` and its item links. Started in the
/// collection's folder: rustac resolves the relative item links against its working directory.
pub fn serve_with_rustac(python: &Path, collection: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(python.with_file_name("rustac"))
        .current_dir(collection.parent().unwrap())
        .args(["serve", "--load-collection-items", "-a", &format!("127.0.0.1:{port}")])
        .arg(collection.file_name().unwrap())
        .stdout(std::fs::File::create(dir.path().join("access.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("rustac serve starts");
    wait_for_port(port, "rustac serve", &dir.path().join("stderr.log"));
    Server { child, port, dir }
}
