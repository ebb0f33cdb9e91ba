//! Helpers shared by the integration tests: the real-data folder, running the `jingtu` binary, reading
//! flags back with GDAL, and scoring them against truth; the backend tests' GPU, scenes and comparisons
//! (`backend`, re-exported here); clients and servers (`clients`), a browser (`browser`), a building
//! case for the report (`building`) and a second test landscape (`landscape`).
// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

pub mod backend;
pub mod browser;
pub mod building;
pub mod clients;
pub mod landscape;

pub use backend::*;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::Dataset;
use gdal::vector::{Geometry, LayerAccess};
use jingtu::synth::pair::{FixturePair, PIXEL_SIZE, PairOptions, Truth, TruthEvent, write_pair};

/// The real-data sets the tests read from the shared folder; [`real_data`] takes no other name, so that
/// [`every_real_data_set_is_present`] checks every set a test may have skipped.
pub const REAL_SETS: [&str; 7] = [
    "eolearn-s2-ndvi-series",
    "levir-cd-samples",
    "rasterio-testdata",
    "riotiler-cogs",
    "sztaki-airchange",
    "taizhou-landsat-cd",
    "webodm-drone-ortho",
];

/// Set to 1 (as `.ci/run` does) to fail a test whose real-data set is absent instead of skipping it.
pub const REQUIRE_REAL_DATA_ENV: &str = "JINGTU_REQUIRE_REAL_DATA";

/// Where the shared real data is, when not at `../shared/data/real` from the project root.
pub const REAL_DATA_DIR_ENV: &str = "JINGTU_REAL_DATA_DIR";

/// The shared real-data folder: `JINGTU_REAL_DATA_DIR`, or `../shared/data/real` from the project root.
pub fn real_data_root() -> PathBuf {
    match std::env::var_os(REAL_DATA_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real"),
    }
}

/// What a test does about a real-data set.
#[derive(Debug, PartialEq)]
pub enum RealData {
    /// The set is there: read it.
    Read,
    /// Absent, and absence is allowed: the test returns early (and [`every_real_data_set_is_present`]
    /// fails, so the skip is not counted as a pass).
    Skip,
    /// Absent with `JINGTU_REQUIRE_REAL_DATA=1`: the test fails.
    Fail,
}

/// The policy: a present set is read; an absent one fails the test where `require` (the value of
/// `JINGTU_REQUIRE_REAL_DATA`) is 1, and is skipped otherwise.
pub fn real_data_policy(present: bool, require: Option<&OsStr>) -> RealData {
    if present {
        RealData::Read
    } else if require.is_some_and(|v| v == "1") {
        RealData::Fail
    } else {
        RealData::Skip
    }
}

/// `<real data root>/<folder>` (see [`real_data_root`]), or `None` when the folder is absent, as on a
/// clone without the shared data: the test then returns without checking, says so on stderr at once
/// (past the harness's capture, so it shows without `--nocapture`), and the summary test
/// [`every_real_data_set_is_present`] fails naming the set. With `JINGTU_REQUIRE_REAL_DATA=1` (as
/// `.ci/run` sets it) a missing folder fails the test itself. Sets copied into `fixtures/real` are read
/// with [`licensed_data`] instead, and are never missing.
pub fn real_data(folder: &str) -> Option<PathBuf> {
    assert!(REAL_SETS.contains(&folder), "{folder} is not in support::REAL_SETS: add it there");
    let path = real_data_root().join(folder);
    match real_data_policy(path.is_dir(), std::env::var_os(REQUIRE_REAL_DATA_ENV).as_deref()) {
        RealData::Read => Some(path),
        RealData::Fail => {
            panic!("{} is absent and {REQUIRE_REAL_DATA_ENV}=1: this test needs the shared real data", path.display())
        }
        RealData::Skip => {
            use std::io::Write;
            // Not eprintln!: the harness captures that and shows it only for a failing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {} is absent; a test that needs it checked nothing",
                path.display()
            );
            None
        }
    }
}

/// `fixtures/real/<folder>`: a real-data set whose license allows a copy in the repository
/// (fixtures/README.md), so that a clone without the shared data still tests with it.
pub fn licensed_data(folder: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/real").join(folder);
    assert!(path.is_dir(), "{} is part of the repository but absent", path.display());
    path
}

/// The tests that need a shared real-data set return early without it: this test fails instead, naming
/// every absent set, so that `cargo test` never reports their skips as passes. Where the shared data
/// cannot be had, `cargo test --release --test it -- --skip support::every_real_data_set` leaves it out,
/// and the summary line says one test was filtered out.
#[test]
fn every_real_data_set_is_present() {
    let root = real_data_root();
    let missing: Vec<&str> = REAL_SETS.iter().copied().filter(|set| !root.join(set).is_dir()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} real-data sets are absent from {}: {}. The tests that read them returned without checking \
         (set {REQUIRE_REAL_DATA_ENV}=1 to fail each of them instead, or {REAL_DATA_DIR_ENV}=DIR if the data is \
         elsewhere).",
        missing.len(),
        REAL_SETS.len(),
        root.display(),
        missing.join(", ")
    );
}

#[test]
fn a_missing_real_data_set_fails_where_required_and_is_skipped_otherwise() {
    let one = Some(OsStr::new("1"));
    assert_eq!(real_data_policy(true, None), RealData::Read);
    assert_eq!(real_data_policy(true, one), RealData::Read);
    assert_eq!(real_data_policy(false, one), RealData::Fail);
    assert_eq!(real_data_policy(false, None), RealData::Skip);
    assert_eq!(real_data_policy(false, Some(OsStr::new("0"))), RealData::Skip);
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit status (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard error's lines, for the one-line error rule.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Panics with everything the run printed unless it exited with `code`.
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code, code,
            "{what}: exit status {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// The `--json` summary line (the last line of stdout with `"event":"summary"`).
    pub fn json_summary(&self) -> serde_json::Value {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["event"] == "summary")
            .unwrap_or_else(|| panic!("no JSON summary line in stdout:\n{}", self.stdout))
    }
}

/// Runs the `jingtu` binary that cargo built for these tests.
pub fn jingtu<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .args(args)
        .env_remove("JINGTU_LOG")
        .output()
        .expect("the jingtu binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The fixture pair written into `dir`.
pub fn fixture(dir: &Path, options: &PairOptions) -> FixturePair {
    write_pair(dir, options).expect("the fixture pair is written")
}

/// One flag as read back from an output file.
pub struct ReadFlag {
    /// `flag_id`.
    pub flag_id: String,
    /// `kind`.
    pub kind: String,
    /// `plot_id`, if any.
    pub plot_id: Option<String>,
    /// `plot_name`, if any.
    pub plot_name: Option<String>,
    /// `area_m2`.
    pub area_m2: f64,
    /// The polygon, in the file's CRS.
    pub geometry: Geometry,
}

/// Every flag of the first layer of `path`, read with GDAL.
pub fn read_flags(path: &Path) -> Vec<ReadFlag> {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut layer = ds.layer(0).expect("a layer");
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let idx = |n: &str| names.iter().position(|f| f == n).unwrap_or_else(|| panic!("no field {n} in {names:?}"));
    let (fi, ki, pi, ni, ai) = (idx("flag_id"), idx("kind"), idx("plot_id"), idx("plot_name"), idx("area_m2"));
    layer
        .features()
        .map(|f| ReadFlag {
            flag_id: f.field_as_string(fi).unwrap().unwrap_or_default(),
            kind: f.field_as_string(ki).unwrap().unwrap_or_default(),
            plot_id: f.field_as_string(pi).unwrap(),
            plot_name: f.field_as_string(ni).unwrap(),
            area_m2: f.field_as_double(ai).unwrap().unwrap_or(f64::NAN),
            geometry: f.geometry().expect("every flag has a geometry").clone(),
        })
        .collect()
}

/// The contract name of an event's kind (`construction`, ...).
pub fn kind_name(event: &TruthEvent) -> &'static str {
    event.kind.name()
}

/// Share of `event`'s area that flags of its own kind cover (flags of one kind never overlap: they are
/// regions of one raster).
pub fn covered_by_own_kind(event: &TruthEvent, flags: &[ReadFlag]) -> f64 {
    let shape = Geometry::from_wkt(&event.wkt()).expect("event WKT");
    let covered: f64 = flags
        .iter()
        .filter(|f| f.kind == kind_name(event))
        .filter_map(|f| f.geometry.intersection(&shape))
        .map(|g| g.area())
        .sum();
    covered / shape.area()
}

/// The ground a flag of a truth event may reach: the events grown by two pixels, one for the pixels an
/// event's edge only partly covers and one for the ring the 3x3 smoothing of the change statistic adds.
pub fn event_zone(truth: &Truth) -> Geometry {
    let mut zone: Option<Geometry> = None;
    for e in &truth.events {
        let g = Geometry::from_wkt(&e.wkt()).unwrap().buffer(2.0 * PIXEL_SIZE, 1).unwrap();
        zone = Some(match zone {
            None => g,
            Some(z) => z.union(&g).expect("union of event zones"),
        });
    }
    zone.expect("the truth has events")
}

/// Area of `flag` outside `zone`, in square metres.
pub fn area_outside(flag: &Geometry, zone: &Geometry) -> f64 {
    let inside = flag.intersection(zone).map_or(0.0, |g| g.area());
    (flag.area() - inside).max(0.0)
}

/// The per-kind detection table the synthetic tests print.
pub fn detection_table(truth: &Truth, flags: &[ReadFlag]) -> String {
    let mut s = String::from("kind              events  found  mean cover  flags\n");
    for kind in ["construction", "earthworks", "vegetation_loss"] {
        let events: Vec<&TruthEvent> = truth.events.iter().filter(|e| kind_name(e) == kind).collect();
        let covers: Vec<f64> = events.iter().map(|e| covered_by_own_kind(e, flags)).collect();
        let found = covers.iter().filter(|c| **c >= 0.3).count();
        let mean = covers.iter().sum::<f64>() / covers.len().max(1) as f64;
        let n_flags = flags.iter().filter(|f| f.kind == kind).count();
        s.push_str(&format!("{kind:<16}  {:>6}  {found:>5}  {:>9.0}%  {n_flags:>5}\n", events.len(), mean * 100.0));
    }
    s
}

/// Cohen's kappa and F1 of predictions against sparse labels.
#[derive(Debug, Default, Clone, Copy)]
pub struct Confusion {
    /// Labelled changed, predicted changed.
    pub tp: u64,
    /// Labelled unchanged, predicted changed.
    pub fp: u64,
    /// Labelled changed, predicted unchanged.
    pub fn_: u64,
    /// Labelled unchanged, predicted unchanged.
    pub tn: u64,
}

impl Confusion {
    /// Adds one labelled pixel.
    pub fn add(&mut self, labelled_changed: bool, predicted_changed: bool) {
        match (labelled_changed, predicted_changed) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    /// Pixels counted.
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    /// Overall accuracy.
    pub fn overall_accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / self.total() as f64
    }

    /// Cohen's kappa: agreement beyond what the two marginals give by chance.
    pub fn kappa(&self) -> f64 {
        let n = self.total() as f64;
        let (tp, fp, fn_, tn) = (self.tp as f64, self.fp as f64, self.fn_ as f64, self.tn as f64);
        let po = (tp + tn) / n;
        let pe = ((tp + fp) * (tp + fn_) + (fn_ + tn) * (fp + tn)) / (n * n);
        (po - pe) / (1.0 - pe)
    }

    /// F1 of the changed class.
    pub fn f1(&self) -> f64 {
        2.0 * self.tp as f64 / (2 * self.tp + self.fp + self.fn_) as f64
    }
}

/// The demo area (default spec) generated into `dir`.
pub fn demo_area(dir: &Path) -> jingtu::synth::area::DemoArea {
    jingtu::synth::area::generate(&dir.join("data"), &jingtu::synth::area::AreaSpec::default())
        .expect("the demo area is generated")
}

/// The tables of a store that hold its state (not its run log), each as sorted text rows.
pub fn store_state(store: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(store).expect("store opens");
    let tables = ["flags", "flag_history", "plot_state", "plot_summary", "scenes", "plots", "gpkg_contents"];
    tables
        .iter()
        .map(|t| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).expect("table exists");
            let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    let mut fields = Vec::new();
                    for (i, name) in columns.iter().enumerate() {
                        // The run log's times are not state.
                        if *t == "gpkg_contents" && name == "last_change" {
                            continue;
                        }
                        let mut v: rusqlite::types::Value = r.get(i)?;
                        if *t == "plot_state" && name == "state" {
                            // A plot too large to hold whole is stored by bands of rows: its state is
                            // what the bands hold together.
                            if let rusqlite::types::Value::Blob(blob) = &v {
                                let plot_id: String = r.get("plot_id")?;
                                v = rusqlite::types::Value::Blob(whole_state(&conn, &plot_id, blob));
                            }
                        }
                        fields.push(format!("{name}={v:?}"));
                    }
                    Ok(fields.join("|"))
                })
                .expect("query")
                .map(|r| r.expect("row"))
                .collect();
            rows.sort();
            (t.to_string(), rows)
        })
        .collect()
}

/// A plot's per-pixel state blob as one piece: as stored for a plot held whole, assembled from the
/// `plot_state_rows` bands for one stored by rows (`JTR1`).
fn whole_state(conn: &rusqlite::Connection, plot_id: &str, blob: &[u8]) -> Vec<u8> {
    use jingtu::temporal::TemporalState;
    if !blob.starts_with(b"JTR1") {
        return blob.to_vec();
    }
    let mut stmt =
        conn.prepare("SELECT state FROM plot_state_rows WHERE plot_id = ?1 ORDER BY first_row").expect("bands table");
    let bands: Vec<TemporalState> = stmt
        .query_map([plot_id], |r| r.get::<_, Vec<u8>>(0))
        .expect("query")
        .map(|b| TemporalState::from_bytes(&b.expect("row")).expect("a band's state decodes"))
        .collect();
    let width = bands[0].width;
    let height = bands.iter().map(|b| b.height).sum();
    let pixels = bands.into_iter().flat_map(|b| b.pixels).collect();
    TemporalState { width, height, pixels }.to_bytes()
}

/// Asserts two stores hold the same state, naming the first table and row that differ.
pub fn assert_same_state(a: &Path, b: &Path, what: &str) {
    let (sa, sb) = (store_state(a), store_state(b));
    for ((ta, ra), (_, rb)) in sa.iter().zip(&sb) {
        assert_eq!(ra.len(), rb.len(), "{what}: table {ta} has {} rows vs {}", ra.len(), rb.len());
        for (x, y) in ra.iter().zip(rb) {
            assert!(x == y, "{what}: table {ta} differs:\n  {x}\n  {y}");
        }
    }
}

/// Asserts two stores hold the same outcome: the same flags, history, summaries, scenes and plots, row
/// for row, every number in them equal to a relative `tolerance` (evidence figures such as a break
/// score are computed in f32 and print their rounding). The per-pixel state is left out: this is for
/// stores whose models were fitted by different versions of the arithmetic, which agree in what they
/// found, not in the last bits of their sums.
pub fn assert_same_outcome(a: &Path, b: &Path, what: &str, tolerance: f64) {
    let (sa, sb) = (store_state(a), store_state(b));
    for ((ta, ra), (_, rb)) in sa.iter().zip(&sb) {
        if ta == "plot_state" {
            continue;
        }
        assert_eq!(ra.len(), rb.len(), "{what}: table {ta} has {} rows vs {}", ra.len(), rb.len());
        for (x, y) in ra.iter().zip(rb) {
            assert!(same_within(x, y, tolerance), "{what}: table {ta} differs beyond {tolerance}:\n  {x}\n  {y}");
        }
    }
}

/// The text of `a` and `b` alike but for numbers that differ by at most `tolerance` relatively.
fn same_within(a: &str, b: &str, tolerance: f64) -> bool {
    fn tokens(s: &str) -> Vec<Result<f64, &str>> {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let (mut i, mut text) = (0, 0);
        while i < bytes.len() {
            let starts_number =
                bytes[i].is_ascii_digit() || (bytes[i] == b'-' && bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit()));
            if !starts_number {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || matches!(bytes[j], b'.' | b'e' | b'E')) {
                j += 1;
            }
            out.push(Err(&s[text..i]));
            out.push(s[i..j].parse::<f64>().map_err(|_| &s[i..j]));
            (i, text) = (j, j);
        }
        out.push(Err(&s[text..]));
        out
    }
    let (ta, tb) = (tokens(a), tokens(b));
    ta.len() == tb.len()
        && ta.iter().zip(&tb).all(|(x, y)| match (x, y) {
            (Ok(x), Ok(y)) => x == y || (x - y).abs() <= tolerance * x.abs().max(y.abs()),
            _ => x == y,
        })
}

/// `jingtu scan --plots PLOTS --scenes SCENES --store STORE` followed by `extra`.
pub fn scan<S: AsRef<OsStr>>(plots: &Path, scenes: &Path, store: &Path, extra: &[S]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec![
        "scan".into(),
        "--plots".into(),
        plots.into(),
        "--scenes".into(),
        scenes.into(),
        "--store".into(),
        store.into(),
    ];
    args.extend(extra.iter().map(|a| a.as_ref().to_os_string()));
    jingtu(args)
}
