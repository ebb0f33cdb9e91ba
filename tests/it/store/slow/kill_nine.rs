//! Issue 12, acceptance: 20 `kill -9` at random moments of a real `jingtu scan` and 20 of a real
//! `jingtu report` leave the store consistent (SQLite `integrity_check`), no partial file at an output's
//! final path (only temporaries named `.jingtu-tmp-*`), and a rerun gives what an uninterrupted run gave:
//! the same store state, flags file, changefeed and report.
//!
//! The moments come from a seeded generator, spread over the measured duration of an uninterrupted run.
//! The demo area is cut down (fewer plots, a smaller grid) so that 40 kills and their reruns take
//! seconds, not minutes; the processes are the real binary.

use crate::support as common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jingtu::synth::area::{AreaSpec, DemoArea, generate};

const KILLS: usize = 20;

/// splitmix64: a seeded generator, so a failing moment can be replayed.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn jingtu(args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jingtu"));
    c.args(args).env_remove("JINGTU_LOG").stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn scan_command(area: &DemoArea, dir: &Path) -> Command {
    let (store, flags, report) = (dir.join("store.gpkg"), dir.join("flags.geojson"), dir.join("scan.html"));
    jingtu(&[
        "scan".as_ref(),
        "--plots".as_ref(),
        area.plots.as_os_str(),
        "--scenes".as_ref(),
        area.stac.as_os_str(),
        "--store".as_ref(),
        store.as_os_str(),
        "--out".as_ref(),
        flags.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
        "--overwrite".as_ref(),
        "--quiet".as_ref(),
    ])
}

fn report_command(store: &Path, out: &Path) -> Command {
    jingtu(&[
        "report".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--overwrite".as_ref(),
        "--quiet".as_ref(),
    ])
}

/// Runs to the end; the exit status must be 0 or 1 (1: something skipped, said on stderr).
fn complete(mut command: Command, what: &str) -> Duration {
    let start = Instant::now();
    let out = command.output().expect("jingtu starts");
    let code = out.status.code();
    assert!(matches!(code, Some(0) | Some(1)), "{what}: exit {code:?}\n{}", String::from_utf8_lossy(&out.stderr));
    start.elapsed()
}

/// Starts, SIGKILLs after `delay` (if still running), and says whether the kill landed.
fn killed(mut command: Command, delay: Duration) -> bool {
    let mut child = command.stderr(Stdio::null()).spawn().expect("jingtu starts");
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    status.code().is_none()
}

fn integrity(store: &Path, what: &str) {
    if !store.exists() {
        return;
    }
    let conn = rusqlite::Connection::open(store).unwrap_or_else(|e| panic!("{what}: store does not open: {e}"));
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{what}: integrity_check failed to run: {e}"));
    assert_eq!(verdict, "ok", "{what}: store integrity");
}

/// A file at an output's final path is whole: JSON that parses, or HTML that ends.
fn whole_or_absent(path: &Path, what: &str) {
    let Ok(bytes) = std::fs::read(path) else { return };
    match path.extension().and_then(|e| e.to_str()) {
        Some("geojson") => {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{what}: partial {} ({e})", path.display()));
        }
        Some("html") => {
            let text = String::from_utf8_lossy(&bytes);
            assert!(text.trim_end().ends_with("</html>"), "{what}: partial {}", path.display());
        }
        _ => {}
    }
}

/// Everything in `dir` is an expected file, the store's lock or journal, or a temporary named as one.
fn only_expected_files(dir: &Path, expected: &[&str], what: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let ok = expected.contains(&name.as_str())
            || name.starts_with(".jingtu-tmp-")
            || name.starts_with("store.gpkg-")
            || name == "store.gpkg.lock";
        assert!(ok, "{what}: unexpected file {name} left in {}", dir.display());
    }
}

fn changefeed(store: &Path) -> String {
    let out = jingtu(&["export".as_ref(), "--store".as_ref(), store.as_os_str(), "--since".as_ref(), "0".as_ref()])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "export: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The report without what differs between two runs on the same data by design: the time it was made.
/// The report's text, with the path of the store it was made from (which the report names, and which
/// differs from one folder to the next) replaced by `STORE`.
fn report_text(path: &Path, store: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace(&store.display().to_string(), "STORE")
}

fn small_area(dir: &Path) -> DemoArea {
    let spec = AreaSpec { size: 320, plots_per_category: 5, months: 16, history_months: 12, ..AreaSpec::default() };
    generate(&dir.join("data"), &spec).expect("the demo area is generated")
}

#[test]
fn kill_nine_at_random_moments_of_scan_and_report_leaves_everything_consistent() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let area = small_area(tmp.path());

    // The uninterrupted reference, and how long it takes.
    let reference = tmp.path().join("reference");
    std::fs::create_dir(&reference).unwrap();
    let scan_time = complete(scan_command(&area, &reference), "reference scan");
    let ref_store = reference.join("store.gpkg");
    let ref_flags = std::fs::read_to_string(reference.join("flags.geojson")).unwrap();
    let ref_feed = changefeed(&ref_store);
    assert!(ref_feed.lines().count() > 1, "the reference scan flags something: {ref_feed}");
    let ref_report = reference.join("report.html");
    let report_time = complete(report_command(&ref_store, &ref_report), "reference report");
    let ref_report = report_text(&ref_report, &ref_store);
    eprintln!("uninterrupted: scan {scan_time:?}, report {report_time:?}");

    let mut rng = Rng(0x6a69_6e67_7475_0012);
    let mut landed = [0usize; 2];
    for i in 0..KILLS {
        // scan: a fresh folder, killed at a moment within the uninterrupted run's duration, then rerun.
        let dir = tmp.path().join(format!("scan{i}"));
        std::fs::create_dir(&dir).unwrap();
        let delay = scan_time.mul_f64(rng.next_f64());
        let what = format!("scan killed after {delay:?} (kill {i})");
        landed[0] += killed(scan_command(&area, &dir), delay) as usize;
        integrity(&dir.join("store.gpkg"), &what);
        whole_or_absent(&dir.join("flags.geojson"), &what);
        whole_or_absent(&dir.join("scan.html"), &what);
        only_expected_files(&dir, &["store.gpkg", "flags.geojson", "scan.html"], &what);
        complete(scan_command(&area, &dir), &format!("{what}, rerun"));
        let store = dir.join("store.gpkg");
        integrity(&store, &format!("{what}, rerun"));
        common::assert_same_state(&ref_store, &store, &format!("{what}, rerun"));
        assert!(std::fs::read_to_string(dir.join("flags.geojson")).unwrap() == ref_flags, "{what}: flags differ");
        assert!(changefeed(&store) == ref_feed, "{what}: changefeed differs");
        only_expected_files(&dir, &["store.gpkg", "flags.geojson", "scan.html"], &what);

        // report: on a copy of the reference store, killed, then rerun.
        let dir = tmp.path().join(format!("report{i}"));
        std::fs::create_dir(&dir).unwrap();
        let store = dir.join("store.gpkg");
        std::fs::copy(&ref_store, &store).unwrap();
        let out: PathBuf = dir.join("report.html");
        let delay = report_time.mul_f64(rng.next_f64());
        let what = format!("report killed after {delay:?} (kill {i})");
        landed[1] += killed(report_command(&store, &out), delay) as usize;
        integrity(&store, &what);
        whole_or_absent(&out, &what);
        only_expected_files(&dir, &["store.gpkg", "report.html"], &what);
        complete(report_command(&store, &out), &format!("{what}, rerun"));
        assert!(report_text(&out, &store) == ref_report, "{what}: the rerun's report differs from the reference");
        common::assert_same_state(&ref_store, &store, &what);
        assert!(changefeed(&store) == ref_feed, "{what}: changefeed differs");
    }
    eprintln!(
        "{} of {KILLS} scan kills and {} of {KILLS} report kills landed while running; {:?} in all",
        landed[0],
        landed[1],
        started.elapsed()
    );
    // Moments spread over the whole run land mostly before it ends.
    assert!(landed[0] >= KILLS / 2 && landed[1] >= KILLS / 2, "kills landed: {landed:?}");
}
