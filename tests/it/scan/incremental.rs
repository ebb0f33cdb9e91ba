//! Issue 3, acceptance 4: the store is incremental and transactional. Scanning months 1-6 and then 1-12
//! gives what one scan of 1-12 gives; rerunning changes nothing; a scan killed midway (a real SIGKILL,
//! while processing scenes and while writing) leaves the store as it was, and the rerun finishes the job.

use crate::support as common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_same_state, demo_area};

fn scan(area: &jingtu::synth::area::DemoArea, store: &Path, as_of: Option<&str>) -> common::Run {
    let mut extra = vec!["--json".to_string()];
    if let Some(d) = as_of {
        extra.extend(["--as-of".to_string(), d.to_string()]);
    }
    common::scan(&area.plots, &area.stac, store, &extra)
}

/// Starts a scan and SIGKILLs it as soon as its JSON progress shows `when` (a predicate on an event line).
fn scan_killed(area: &jingtu::synth::area::DemoArea, store: &Path, when: impl Fn(&serde_json::Value) -> bool) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .args(["scan", "--plots"])
        .arg(&area.plots)
        .arg("--scenes")
        .arg(&area.stac)
        .arg("--store")
        .arg(store)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jingtu starts");
    let stdout = child.stdout.take().expect("piped");
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if serde_json::from_str::<serde_json::Value>(&line).is_ok_and(|v| when(&v)) {
            child.kill().expect("SIGKILL");
            killed = true;
            break;
        }
    }
    let status = child.wait().expect("waited");
    killed && !status.success()
}

#[test]
fn months_in_two_steps_equal_one_scan_and_reruns_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let sixth = area.truth.acquisitions[5].1.to_string();
    let stepwise = dir.path().join("stepwise.gpkg");
    let whole = dir.path().join("whole.gpkg");

    let first = scan(&area, &stepwise, Some(&sixth));
    first.expect_code(0, "months 1-6");
    assert_eq!(first.json_summary()["scenes_new"], 6);
    let second = scan(&area, &stepwise, None);
    second.expect_code(0, "months 1-12 on top");
    assert_eq!(second.json_summary()["scenes_new"], area.truth.acquisitions.len() - 6);
    assert_eq!(second.json_summary()["scenes_known"], 6);
    scan(&area, &whole, None).expect_code(0, "one scan of all months");
    assert_same_state(&stepwise, &whole, "months 1-6 then 1-12 vs 1-12");
    println!("stepwise and whole stores agree on {} flags", common::store_state(&whole)[0].1.len());

    let rerun = scan(&area, &whole, None);
    rerun.expect_code(0, "rerun");
    let summary = rerun.json_summary();
    assert_eq!(summary["scenes_new"], 0);
    assert_eq!(summary["flags_changed"], 0, "a rerun publishes nothing");
    let copy = dir.path().join("whole-before-rerun.gpkg");
    std::fs::copy(&stepwise, &copy).unwrap();
    assert_same_state(&whole, &copy, "after a rerun");
}

#[test]
fn a_killed_scan_leaves_the_store_as_it_was_and_the_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let sixth = area.truth.acquisitions[5].1.to_string();
    let store = dir.path().join("store.gpkg");
    scan(&area, &store, Some(&sixth)).expect_code(0, "months 1-6");
    let before = dir.path().join("before.gpkg");
    std::fs::copy(&store, &before).unwrap();

    // Killed while processing scenes (after the second new scene), then while writing the store.
    assert!(
        scan_killed(&area, &store, |v| v["event"] == "progress" && v["unit"] == "scenes" && v["done"] == 2),
        "the scan was killed mid-way"
    );
    assert_same_state(&store, &before, "killed while processing scenes");
    assert!(
        scan_killed(&area, &store, |v| v["event"] == "stage" && v["stage"] == "writing the store"),
        "killed while writing"
    );
    assert_same_state(&store, &before, "killed while writing the store");

    scan(&area, &store, None).expect_code(0, "rerun after the kills");
    let whole = dir.path().join("whole.gpkg");
    scan(&area, &whole, None).expect_code(0, "uninterrupted");
    assert_same_state(&store, &whole, "rerun after kills vs uninterrupted scan");
}
