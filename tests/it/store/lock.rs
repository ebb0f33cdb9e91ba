//! Issue 12, item 7: two scans on one store are serialized. Two real processes of the binary started
//! together, on a new store and on an existing one, both succeed, and the store records every scene
//! once: the second finds what the first ingested. `--no-wait` fails at once naming the holder.

use crate::support as common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::demo_area;

fn start_scan(plots: &Path, scenes: &Path, store: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .arg("scan")
        .arg("--plots")
        .arg(plots)
        .arg("--scenes")
        .arg(scenes)
        .arg("--store")
        .arg(store)
        .args(["--no-report", "--json"])
        .args(extra)
        .env_remove("JINGTU_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jingtu binary starts")
}

fn finish(child: std::process::Child) -> common::Run {
    let out = child.wait_with_output().unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn count(store: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(store).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Runs two scans of `store` at once and checks that together they ingested `expected_new` scenes once.
fn two_at_once(plots: &Path, scenes: &Path, store: &Path, expected_new: u64, scans_before: i64) {
    let a = start_scan(plots, scenes, store, &[]);
    let b = start_scan(plots, scenes, store, &[]);
    let (a, b) = (finish(a), finish(b));
    a.expect_code(0, "first of two concurrent scans");
    b.expect_code(0, "second of two concurrent scans");
    let new: Vec<u64> = [&a, &b].iter().map(|r| r.json_summary()["scenes_new"].as_u64().unwrap()).collect();
    let mut sorted = new.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, expected_new], "one scan ingests, the other finds it all done: {new:?}");
    let known: Vec<u64> = [&a, &b].iter().map(|r| r.json_summary()["scenes_known"].as_u64().unwrap()).collect();
    assert!(known.iter().any(|k| *k >= expected_new), "the second finds every scene ingested: {known:?}");
    assert_eq!(count(store, "SELECT count(*) FROM scans"), scans_before + 2);
    assert_eq!(
        count(store, "SELECT coalesce(sum(scenes_new), 0) FROM scans") as u64,
        count(store, "SELECT count(*) FROM scenes") as u64,
        "the scans table does not double-count"
    );
}

#[test]
fn two_scans_on_a_new_and_on_an_existing_store_are_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let n = area.truth.acquisitions.len() as u64;

    let fresh = dir.path().join("fresh.gpkg");
    two_at_once(&area.plots, &area.stac, &fresh, n, 0);
    assert_eq!(count(&fresh, "SELECT count(*) FROM scenes") as u64, n);

    // An existing store holding the first half of the year.
    let existing = dir.path().join("existing.gpkg");
    let half = area.truth.acquisitions[n as usize / 2 - 1].1.to_string();
    common::scan(&area.plots, &area.stac, &existing, &["--as-of", &half, "--no-report"]).expect_code(0, "first half");
    let before = count(&existing, "SELECT count(*) FROM scenes") as u64;
    two_at_once(&area.plots, &area.stac, &existing, n - before, 1);
    assert_eq!(count(&existing, "SELECT count(*) FROM scenes") as u64, n);
}

#[test]
fn no_wait_names_the_holder_and_a_waiting_scan_says_so_then_runs() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let store = dir.path().join("store.gpkg");
    let mut lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.path().join("store.gpkg.lock"))
        .unwrap();
    // SAFETY: the descriptor is open; flock has no other preconditions.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) }, 0);
    lock.write_all(b"pid 4242 on test-host (a test holding the lock)").unwrap();

    let run = finish(start_scan(&area.plots, &area.stac, &store, &["--no-wait"]));
    run.expect_code(2, "--no-wait on a held store");
    assert!(run.stderr.contains("pid 4242 on test-host") && run.stderr.contains("store.gpkg"), "{}", run.stderr);

    let waiting = start_scan(&area.plots, &area.stac, &store, &[]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(lock);
    let run = finish(waiting);
    run.expect_code(0, "a scan that waited");
    assert!(run.stderr.contains("waiting") && run.stderr.contains("pid 4242"), "{}", run.stderr);
}
