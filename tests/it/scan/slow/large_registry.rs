//! Issue 12, item 10: large registries are scanned in groups of plots whose per-pixel state fits a
//! memory budget, so that memory does not grow with the registry. Scanning in groups must give exactly
//! what scanning every plot at once gives: the same flags, history, plot summaries and per-pixel state,
//! row ids included, also when the store is continued month by month. (Timing is benches/large_registry.py.)

use crate::support as common;

use std::path::Path;

use common::{assert_same_state, demo_area};
use jingtu::compute::CpuBackend;
use jingtu::jobs::scan::{ScanRequest, ScanSummary, run_scan};
use jingtu::progress::Silent;
use jingtu::scan::ScanOptions;

fn scan(area: &jingtu::synth::area::DemoArea, store: &Path, as_of: Option<&str>, budget_px: usize) -> ScanSummary {
    let request = ScanRequest {
        plots: area.plots.clone(),
        plot_fields: Default::default(),
        scenes: area.stac.clone(),
        collection: None,
        bands: Default::default(),
        store: Some(store.to_path_buf()),
        as_of: as_of.map(|d| d.parse().unwrap()),
        out: None,
        format: None,
        overwrite: false,
        no_wait: false,
        options: ScanOptions { state_budget_px: budget_px, ..ScanOptions::default() },
    };
    run_scan(&CpuBackend::new(), &request, &Silent).expect("the scan runs")
}

#[test]
fn scanning_plots_in_groups_gives_what_one_group_gives() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let sixth = area.truth.acquisitions[5].1.to_string();
    let whole = dir.path().join("whole.gpkg");
    let grouped = dir.path().join("grouped.gpkg");
    let single = dir.path().join("single.gpkg");

    // The default budget holds the demo's plots in one group.
    let one = scan(&area, &whole, None, ScanOptions::default().state_budget_px);
    // About five plots a group (demo windows are some 1,000 pixels), in two monthly steps.
    scan(&area, &grouped, Some(&sixth), 5_000);
    let many = scan(&area, &grouped, None, 5_000);
    // A budget smaller than most plots: every plot is a group of its own, and most are scanned in
    // bands of rows (a few hundred pixels each).
    let each = scan(&area, &single, None, 300);
    assert!(bands_stored(&single) > 20, "plots were scanned by rows");

    assert!(one.plots > 20 && !one.flags.is_empty(), "the demo scan flags something: {:?}", one.flags);
    for (what, other, store) in
        [("groups of ~5 plots, stepwise", &many, &grouped), ("one plot a group, by rows", &each, &single)]
    {
        assert_eq!(other.flags, one.flags, "{what}: flags by kind and status");
        assert_eq!(other.scenes_skipped, one.scenes_skipped, "{what}: skipped scenes");
        let lines = |s: &ScanSummary| serde_json::to_string(&s.per_plot).unwrap();
        assert_eq!(lines(other), lines(&one), "{what}: per-plot lines");
        assert_same_state(store, &whole, what);
    }
    // Each group reads every scene once more to measure it: the read volume says so.
    assert!(each.reads.windows > one.reads.windows, "{} vs {}", each.reads.windows, one.reads.windows);
}

/// Bands of rows stored for plots too large to hold whole.
fn bands_stored(store: &Path) -> i64 {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.query_row("SELECT count(*) FROM plot_state_rows", [], |r| r.get(0)).unwrap()
}

/// Issue 12, item 10: a plot larger than the state budget is scanned in bands of rows, its state stored
/// band by band; it gives what scanning it whole gives, month by month too, and a store continues
/// across a change of budget (held whole, then by rows, then whole again) without losing history.
#[test]
fn a_plot_larger_than_the_budget_is_scanned_by_rows_as_it_would_be_whole() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let months: Vec<String> = area.truth.acquisitions.iter().map(|(_, d)| d.to_string()).collect();
    let whole = dir.path().join("whole.gpkg");
    let one = scan(&area, &whole, None, ScanOptions::default().state_budget_px);

    // By rows, month by month, the second time in other bands (the stored ones are joined and cut anew).
    let stepwise = dir.path().join("stepwise.gpkg");
    scan(&area, &stepwise, Some(&months[6]), 700);
    let stepwise_summary = scan(&area, &stepwise, None, 400);
    assert!(bands_stored(&stepwise) > 10, "plots were scanned by rows");

    // Whole, then by rows (the stored states are cut into bands), then whole again (assembled).
    let switching = dir.path().join("switching.gpkg");
    scan(&area, &switching, Some(&months[4]), ScanOptions::default().state_budget_px);
    scan(&area, &switching, Some(&months[8]), 500);
    assert!(bands_stored(&switching) > 10, "plots were continued by rows");
    let switched = scan(&area, &switching, None, ScanOptions::default().state_budget_px);
    assert_eq!(bands_stored(&switching), 0, "held whole again, no band is left over");

    assert!(!one.flags.is_empty(), "the demo scan flags something");
    for (what, other, store) in
        [("by rows, stepwise", &stepwise_summary, &stepwise), ("switching", &switched, &switching)]
    {
        assert_eq!(other.flags, one.flags, "{what}: flags by kind and status");
        let lines = |s: &ScanSummary| serde_json::to_string(&s.per_plot).unwrap();
        assert_eq!(lines(other), lines(&one), "{what}: per-plot lines");
        assert_same_state(store, &whole, what);
    }
}
