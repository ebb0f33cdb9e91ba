//! Issue 6: the report on the command line. Which scan a report shows and what is new since the
//! previous one; where `scan` writes its report by default and that nothing is overwritten without
//! `--overwrite`; imagery that has gone missing is named, not fatal. On the one-building case
//! (`common::building`), whose building goes up on 2026-02-10 after a year of grass.

use crate::support as common;

use std::path::Path;

use common::building::write_case;

fn scan(plots: &Path, catalog: &Path, store: &Path, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "scan",
        "--plots",
        plots.to_str().unwrap(),
        "--scenes",
        catalog.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    common::jingtu(args)
}

#[test]
fn reports_show_the_chosen_scan_and_what_is_new_since_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let (plots, catalog) = write_case(dir.path());
    let store = dir.path().join("store.gpkg");
    // February: the building is seen once, not yet a flag. The default report goes beside the store.
    let feb = scan(&plots, &catalog, &store, &["--as-of", "2026-02-10", "--json"]);
    feb.expect_code(0, "February scan");
    let first_id = feb.json_summary()["scan_id"].as_str().unwrap().to_string();
    let dated = dir.path().join("store-2026-02-10.html");
    assert!(dated.is_file(), "the scan's default report is STORE-AS_OF.html beside the store");
    // April: the flag appears (March) and is still there.
    let apr = scan(&plots, &catalog, &store, &["--json"]);
    apr.expect_code(0, "April scan");
    let report = &apr.json_summary()["report"];
    assert_eq!(report["html"], dir.path().join("store-2026-04-10.html").to_str().unwrap());
    assert_eq!(report["flags_total"], 1);
    assert_eq!(report["flags_new"], 1, "the flag appeared after February's scan: {report}");
    let html = std::fs::read_to_string(dir.path().join("store-2026-04-10.html")).unwrap();
    assert!(html.contains("New since the previous scan (as of 2026-02-10)"), "the summary names the previous scan");
    assert!(html.contains("化工厂旧址测试地块"), "the plot's Chinese name is in the page as text");

    // The February scan, reported again later: no flag yet, three acquisitions fewer.
    let out = dir.path().join("feb.html");
    let run = common::jingtu([
        "report",
        "--store",
        store.to_str().unwrap(),
        "--scan",
        &first_id,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    run.expect_code(0, "report of the first scan");
    let s = run.json_summary();
    assert_eq!(
        (s["flags_total"].as_u64(), s["scenes"].as_u64(), s["as_of"].as_str()),
        (Some(0), Some(14), Some("2026-02-10"))
    );

    // Outputs are never replaced without --overwrite, and a wrong scan id is a usage error.
    let again = common::jingtu(["report", "--store", store.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    again.expect_code(2, "existing report");
    assert!(again.stderr.contains("already exists") && again.stderr.contains("--overwrite"), "{}", again.stderr);
    assert_eq!(again.stderr_lines().len(), 1, "one error line");
    let elsewhere = dir.path().join("x.html");
    let wrong = common::jingtu([
        "report",
        "--store",
        store.to_str().unwrap(),
        "--scan",
        "scan-nope",
        "--out",
        elsewhere.to_str().unwrap(),
    ]);
    wrong.expect_code(2, "unknown scan");
    assert!(wrong.stderr.contains("scan-nope"), "{}", wrong.stderr);

    // A rerun that reaches the same date keeps the month's report and says so.
    let before = std::fs::metadata(dir.path().join("store-2026-04-10.html")).unwrap().modified().unwrap();
    let rerun = scan(&plots, &catalog, &store, &[]);
    rerun.expect_code(0, "rerun");
    assert!(rerun.stderr.contains("store-2026-04-10.html exists; kept"), "{}", rerun.stderr);
    let after = std::fs::metadata(dir.path().join("store-2026-04-10.html")).unwrap().modified().unwrap();
    assert_eq!(before, after, "kept as it was");
}

#[test]
fn scan_reports_beside_its_output_and_missing_imagery_is_named_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (plots, catalog) = write_case(dir.path());
    let store = dir.path().join("store.gpkg");
    let out = dir.path().join("flags.gpkg");
    let run = scan(&plots, &catalog, &store, &["--out", out.to_str().unwrap()]);
    run.expect_code(0, "scan with --out");
    assert!(dir.path().join("flags.html").is_file(), "the default report is beside --out");
    assert!(run.stdout.contains("report: ") && run.stdout.contains("flags.html"), "{}", run.stdout);
    // --out and its report are checked together, before any work.
    let again = scan(
        &plots,
        &catalog,
        &dir.path().join("other.gpkg"),
        &[
            "--out",
            dir.path().join("x.gpkg").to_str().unwrap(),
            "--report",
            dir.path().join("flags.html").to_str().unwrap(),
        ],
    );
    again.expect_code(2, "existing --report");
    assert!(!dir.path().join("other.gpkg").exists(), "nothing was scanned");

    // The imagery moves away: the report is still written, the scenes are named, the exit status is 1.
    std::fs::rename(dir.path().join("scenes"), dir.path().join("scenes-archived")).unwrap();
    let report = dir.path().join("r.html");
    let run = common::jingtu(["report", "--store", store.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    run.expect_code(1, "report without imagery");
    assert!(run.stderr.contains("imagery not found"), "{}", run.stderr);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("imagery not available"), "the flag says why it has no chips");
    assert!(html.contains("class=\"reason\""), "and still shows its evidence");
}

/// A store scanned with paths relative to one working directory reports from any other, and from a
/// folder moved with its imagery.
#[test]
fn report_finds_the_imagery_from_any_directory_and_after_the_folder_moves() {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("area");
    std::fs::create_dir_all(&dir).unwrap();
    write_case(&dir);
    let run_in = |cwd: &std::path::Path, args: &[&str]| {
        let out =
            std::process::Command::new(env!("CARGO_BIN_EXE_jingtu")).args(args).current_dir(cwd).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Scanned from the folder above, so the recorded paths are relative to neither the store nor the
    // directory the report runs in.
    let scan_args = [
        "scan",
        "--plots",
        "area/plots.gpkg",
        "--scenes",
        "area/catalog.json",
        "--store",
        "area/store.gpkg",
        "--no-report",
        "-q",
    ];
    let (code, err) = run_in(top.path(), &scan_args);
    assert_eq!(code, 0, "scan with relative paths: {err}");

    let elsewhere = tempfile::tempdir().unwrap();
    let store = dir.join("store.gpkg");
    let report = elsewhere.path().join("r.html");
    let (code, err) =
        run_in(elsewhere.path(), &["report", "--store", store.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert_eq!(code, 0, "report from another directory: {err}");
    assert!(!err.contains("imagery not found"), "{err}");

    let moved = top.path().join("moved-area");
    std::fs::rename(&dir, &moved).unwrap();
    let report = elsewhere.path().join("r2.html");
    let store = moved.join("store.gpkg");
    let (code, err) =
        run_in(elsewhere.path(), &["report", "--store", store.to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert_eq!(code, 0, "report of a moved folder: {err}");
    assert!(!err.contains("imagery not found"), "{err}");
}
