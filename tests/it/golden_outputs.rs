//! Golden outputs: today's results of three jobs, held to the bit, so that a refactoring that should
//! change nothing provably changes nothing.
//!
//! Each case runs the release binary as a user would and reduces what it wrote to canonical content
//! (pixel bytes with their georeferencing; every row of every table, sorted, with geometries as WKB hex)
//! minus what a rerun changes by design (clock times, absolute paths, the hash cache's file times). The
//! SHA-256 of each part and a few readable counts are kept in `fixtures/golden/CASE.json`:
//!
//! - `taizhou_change`: `jingtu change` on the real Taizhou Landsat pair (`../shared/data/real`), as
//!   `tests/change_real_taizhou.rs` runs it: the change raster and the flags;
//! - `demo_scan`: `jingtu demo` (generated area, monthly scan, CPU backend): the store's tables (flags,
//!   flag history, plot summaries, changefeed, plots, scenes, scans, per-pixel state) and `flags.gpkg`;
//! - `drone_synthetic`: `jingtu drone` on the generated flights of `tests/cli_drone.rs`: the height
//!   raster and the flags.
//!
//! A mismatch names the parts that differ and writes `fixtures/golden/CASE.actual.json` beside the
//! recording (git ignores it). A missing recording is written on the first run (and the test fails, so a
//! missing file is never a silent pass). To record again on purpose, after a change that is meant to
//! change outputs:
//!
//! ```sh
//! cargo test --release --test it golden_outputs::record -- --ignored                     # every case
//! GOLDEN_CASES=demo_scan cargo test --release --test it golden_outputs::record -- --ignored
//! ```
//!
//! `fixtures/golden/README.md` says from which commit the recordings come.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::Dataset;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What a case reduces its outputs to: a digest per part and counts a reader can check by eye.
#[derive(Default)]
struct Golden {
    digests: BTreeMap<String, String>,
    counts: BTreeMap<String, Value>,
}

impl Golden {
    fn digest(&mut self, part: &str, canonical: &[u8]) {
        self.digests.insert(part.to_string(), hex(&Sha256::digest(canonical)));
    }

    fn count(&mut self, name: &str, value: impl Into<Value>) {
        self.counts.insert(name.to_string(), value.into());
    }

    fn to_json(&self, case: &str) -> Value {
        json!({
            "case": case,
            "recorded_from": recorded_from(),
            "counts": self.counts,
            "digests": self.digests,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The commit the recording is made from, `-dirty` when the work tree has changes.
fn recorded_from() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty { format!("{commit}-dirty") } else { commit }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

/// Runs the binary in `cwd`, so that every path the job sees (and may record) is relative.
fn jingtu<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) {
    let out = Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .current_dir(cwd)
        .args(args)
        .env_remove("JINGTU_LOG")
        .output()
        .expect("the jingtu binary runs");
    assert!(
        out.status.success(),
        "jingtu {:?}: exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect::<Vec<_>>(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Band 1 of a raster as canonical bytes: size, geotransform (as bit patterns), CRS WKT, pixel type and
/// the pixels in native byte order (the file's own bytes would also hold GDAL's choices of layout).
fn raster_bytes(path: &Path) -> (Vec<u8>, usize, usize) {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = ds.raster_size();
    let mut out = format!("{w}x{h}\n").into_bytes();
    for v in ds.geo_transform().expect("georeferenced") {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    out.extend_from_slice(ds.projection().as_bytes());
    let band = ds.rasterband(1).unwrap();
    out.extend_from_slice(format!("\n{:?} nodata {:?}\n", band.band_type(), band.no_data_value()).as_bytes());
    match band.band_type() {
        gdal::raster::GdalDataType::UInt8 => {
            let mut buf = vec![0u8; w * h];
            band.read_into_slice::<u8>((0, 0), (w, h), (w, h), &mut buf, None).unwrap();
            out.extend_from_slice(&buf);
        }
        gdal::raster::GdalDataType::Float32 => {
            let mut buf = vec![0f32; w * h];
            band.read_into_slice::<f32>((0, 0), (w, h), (w, h), &mut buf, None).unwrap();
            for v in buf {
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        t => panic!("{}: no canonical form for {t:?}", path.display()),
    }
    (out, w, h)
}

/// The WKB inside a GeoPackage geometry blob: the header (magic, version, flags, SRS id, envelope of the
/// size the flags give) is dropped.
fn gpkg_wkb(blob: &[u8]) -> &[u8] {
    assert!(blob.len() >= 8 && &blob[..2] == b"GP", "not a GeoPackage geometry");
    let envelope = match (blob[3] >> 1) & 0x7 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => panic!("GeoPackage envelope code {e}"),
    };
    &blob[8 + envelope..]
}

/// One column value as canonical text: floats by their bits' shortest round-trip form, blobs as hex,
/// GeoPackage geometries as WKB hex.
fn cell(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => "null".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => format!("{f:?}"),
        ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
        ValueRef::Blob(b) if b.starts_with(b"GP") && b.len() >= 8 => format!("wkb:{}", hex(gpkg_wkb(b))),
        ValueRef::Blob(b) => format!("blob:{}", hex(b)),
    }
}

/// Every row of `table` but the columns in `skip`, each as `name=value|...`, sorted.
fn table_rows(conn: &rusqlite::Connection, table: &str, skip: &[&str]) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap_or_else(|e| panic!("{table}: {e}"));
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut rows: Vec<String> = stmt
        .query_map([], |r| {
            let mut fields = Vec::new();
            for (i, name) in columns.iter().enumerate() {
                if !skip.contains(&name.as_str()) {
                    fields.push(format!("{name}={}", cell(r.get_ref(i)?)));
                }
            }
            Ok(fields.join("|"))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    rows.sort();
    rows
}

/// Digests a table (rows joined by newlines) and counts its rows.
fn digest_table(g: &mut Golden, conn: &rusqlite::Connection, part: &str, table: &str, skip: &[&str]) -> Vec<String> {
    let rows = table_rows(conn, table, skip);
    g.digest(part, rows.join("\n").as_bytes());
    g.count(&format!("{part}.rows"), rows.len());
    rows
}

/// Flags by `kind` (and `status` where there is one), from a flags table.
fn count_flags(g: &mut Golden, conn: &rusqlite::Connection, part: &str) {
    let has_status: bool =
        conn.prepare(&format!("SELECT * FROM \"{part}\" LIMIT 0")).unwrap().column_names().contains(&"status");
    let sql = if has_status {
        format!("SELECT kind || '/' || status, count(*) FROM \"{part}\" GROUP BY 1 ORDER BY 1")
    } else {
        format!("SELECT kind, count(*) FROM \"{part}\" GROUP BY 1 ORDER BY 1")
    };
    let mut stmt = conn.prepare(&sql).unwrap();
    let by: BTreeMap<String, i64> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect();
    g.count(&format!("{part}.by_kind"), serde_json::to_value(by).unwrap());
}

/// The feature table of a flag output (`--out FILE.gpkg`): its one layer in `gpkg_contents`.
fn flag_output(g: &mut Golden, path: &Path, part: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let layer: String = conn
        .query_row("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'", [], |r| r.get(0))
        .expect("one feature layer");
    // fid is the row's place in the file, an artefact of writing order, not content.
    let rows = table_rows(&conn, &layer, &["fid"]);
    g.digest(part, rows.join("\n").as_bytes());
    g.count(&format!("{part}.rows"), rows.len());
    let mut by: BTreeMap<String, i64> = BTreeMap::new();
    let mut stmt = conn.prepare(&format!("SELECT kind FROM \"{layer}\"")).unwrap();
    for kind in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        *by.entry(kind.unwrap()).or_default() += 1;
    }
    g.count(&format!("{part}.by_kind"), serde_json::to_value(by).unwrap());
}

/// `jingtu change` on the Taizhou pair, run from the data folder (the inputs' paths are relative, as the
/// flags' evidence records them).
fn taizhou_change() -> Option<Golden> {
    let dir = crate::support::real_data("taizhou-landsat-cd")?;
    let tmp = tempfile::tempdir().unwrap();
    let (out, raster) = (tmp.path().join("taizhou.gpkg"), tmp.path().join("taizhou.tif"));
    let (out, raster) = (out.to_str().expect("a UTF-8 temporary path"), raster.to_str().expect("UTF-8"));
    let change = ["change", "2000TM", "2003TM", "--sensor", "landsat-tm"];
    jingtu(&dir, &[&change[..], &["--change-raster", raster, "--out", out]].concat());
    let mut g = Golden::default();
    let (bytes, w, h) = raster_bytes(Path::new(raster));
    g.digest("change_raster", &bytes);
    g.count("change_raster.size", format!("{w}x{h}"));
    let ds = Dataset::open(raster).unwrap();
    let mut codes = vec![0u8; w * h];
    ds.rasterband(1).unwrap().read_into_slice::<u8>((0, 0), (w, h), (w, h), &mut codes, None).unwrap();
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for c in codes {
        *histogram.entry(c.to_string()).or_default() += 1;
    }
    g.count("change_raster.pixels_by_code", serde_json::to_value(histogram).unwrap());
    flag_output(&mut g, Path::new(out), "flags");
    Some(g)
}

/// `jingtu demo --backend cpu` in a scratch folder (so the store's sources are relative), then the
/// store's tables. Left out, because a rerun changes them by design: row ids (`fid`), the scans' clock
/// times, their sources and run summary (paths, timings, byte counts), the scenes' sources, the hash
/// cache (`file_hashes`: paths and file times), API tokens and reviews (none in a demo), `gpkg_contents`'
/// times. The report and chips are not covered.
fn demo_scan() -> Option<Golden> {
    let tmp = tempfile::tempdir().unwrap();
    jingtu(tmp.path(), &["demo", "--out", "demo", "--backend", "cpu", "-q"]);
    let demo = tmp.path().join("demo");
    let conn = rusqlite::Connection::open(demo.join("store.gpkg")).unwrap();
    let mut g = Golden::default();
    digest_table(&mut g, &conn, "flags", "flags", &["fid"]);
    count_flags(&mut g, &conn, "flags");
    digest_table(&mut g, &conn, "flag_history", "flag_history", &["fid"]);
    digest_table(&mut g, &conn, "plot_summary", "plot_summary", &["fid"]);
    // seq is the export cursor, part of the changefeed's contract.
    digest_table(&mut g, &conn, "changes", "changes", &[]);
    digest_table(&mut g, &conn, "plots", "plots", &["fid"]);
    digest_table(&mut g, &conn, "scenes", "scenes", &["fid", "source"]);
    digest_table(
        &mut g,
        &conn,
        "scans",
        "scans",
        &["fid", "started_at", "finished_at", "plots_source", "scenes_source", "summary"],
    );
    digest_table(&mut g, &conn, "plot_state", "plot_state", &[]);
    digest_table(&mut g, &conn, "plot_state_rows", "plot_state_rows", &[]);
    digest_table(&mut g, &conn, "jingtu_meta", "jingtu_meta", &[]);
    flag_output(&mut g, &demo.join("flags.gpkg"), "flags_gpkg");
    Some(g)
}

/// `jingtu drone` on the flights of `tests/cli_drone.rs`, written into a scratch folder.
fn drone_synthetic() -> Option<Golden> {
    use jingtu::synth::drone::{DroneSite, FlightSpec, write_flight};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let site = DroneSite::standard();
    // The flights of tests/cli_drone.rs: the later one shifted by (0.2, 0.1) m and 0.2 m lower.
    let before = FlightSpec {
        later: false,
        dsm_resolution: 0.5,
        ortho_resolution: 0.25,
        extent: (0.0, 0.0, 200.0, 160.0),
        shift: (0.0, 0.0),
        vertical_offset: 0.0,
        noise_m: 0.02,
        pix4d_nodata: false,
        date: "2024:03:01 10:00:00",
    };
    let after = FlightSpec {
        later: true,
        shift: (0.2, 0.1),
        vertical_offset: -0.2,
        date: "2024:09:01 10:00:00",
        ..before.clone()
    };
    write_flight(&site, &before, &d.join("b_dsm.tif"), &d.join("b_rgb.tif")).unwrap();
    write_flight(&site, &after, &d.join("a_dsm.tif"), &d.join("a_rgb.tif")).unwrap();
    let flights = "--before-dsm b_dsm.tif --after-dsm a_dsm.tif --before-ortho b_rgb.tif --after-ortho a_rgb.tif";
    let args: Vec<&str> = flights.split(' ').collect();
    jingtu(d, &[&["drone"], &args[..], &["--out", "flags.gpkg", "--height-raster", "dh.tif", "-q"]].concat());
    let mut g = Golden::default();
    let (bytes, w, h) = raster_bytes(&d.join("dh.tif"));
    g.digest("height_raster", &bytes);
    g.count("height_raster.size", format!("{w}x{h}"));
    flag_output(&mut g, &d.join("flags.gpkg"), "flags");
    Some(g)
}

type Case = (&'static str, fn() -> Option<Golden>);

const CASES: [Case; 3] =
    [("taizhou_change", taizhou_change), ("demo_scan", demo_scan), ("drone_synthetic", drone_synthetic)];

/// Compares a case with its recording; writes the recording when there is none, `CASE.actual.json` on a
/// mismatch.
fn check(name: &str) {
    let (_, run) = CASES.iter().find(|(n, _)| *n == name).expect("a known case");
    let Some(got) = run() else { return };
    let actual = got.to_json(name);
    let path = golden_dir().join(format!("{name}.json"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        write_json(&path, &actual);
        panic!("{} was missing and has been written: check it and commit it", path.display());
    };
    let expected: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut differ = Vec::new();
    for key in ["digests", "counts"] {
        let (e, a) = (&expected[key], &actual[key]);
        let names: std::collections::BTreeSet<&String> = e
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .chain(a.as_object().into_iter().flat_map(|o| o.keys()))
            .collect();
        for n in names {
            if e.get(n) != a.get(n) {
                differ.push(format!(
                    "  {key}.{n}: recorded {}, now {}",
                    e.get(n).unwrap_or(&Value::Null),
                    a[n.as_str()]
                ));
            }
        }
    }
    let actual_path = golden_dir().join(format!("{name}.actual.json"));
    if differ.is_empty() {
        let _ = std::fs::remove_file(&actual_path);
        return;
    }
    write_json(&actual_path, &actual);
    panic!(
        "{name} differs from {} (recorded from {}):\n{}\nnow written to {}; if the change is intended, record \
         again: GOLDEN_CASES={name} cargo test --release --test it golden_outputs::record -- --ignored",
        path.display(),
        expected["recorded_from"],
        differ.join("\n"),
        actual_path.display()
    );
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
}

#[test]
fn taizhou_change_is_unchanged() {
    check("taizhou_change");
}

#[test]
fn demo_scan_is_unchanged() {
    check("demo_scan");
}

#[test]
fn drone_synthetic_is_unchanged() {
    check("drone_synthetic");
}

/// Records the cases named in `GOLDEN_CASES` (comma-separated; all when unset) into `fixtures/golden/`.
#[test]
#[ignore = "records the golden outputs: run on purpose, see the file's doc comment"]
fn record() {
    let wanted = std::env::var("GOLDEN_CASES").ok();
    let wanted: Option<Vec<&str>> = wanted.as_deref().map(|w| w.split(',').map(str::trim).collect());
    for (name, run) in CASES {
        if wanted.as_ref().is_some_and(|w| !w.contains(&name)) {
            continue;
        }
        let Some(g) = run() else { panic!("{name}: its inputs are absent, nothing recorded") };
        let path = golden_dir().join(format!("{name}.json"));
        write_json(&path, &g.to_json(name));
        println!("recorded {}", path.display());
    }
}
