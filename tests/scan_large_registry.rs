//! Issue 12, item 10: large registries are scanned in groups of plots whose per-pixel state fits a
//! memory budget, so that memory does not grow with the registry. Scanning in groups must give exactly
//! what scanning every plot at once gives: the same flags, history, plot summaries and per-pixel state,
//! row ids included, also when the store is continued month by month. (Timing is benches/large_registry.py.)

mod common;

use std::path::Path;

use common::{assert_same_state, demo_area};
use jingtu::compute::CpuBackend;
use jingtu::progress::Silent;
use jingtu::scan::{ScanOptions, ScanRequest, ScanSummary, run_scan};

fn scan(area: &jingtu::synth::area::DemoArea, store: &Path, as_of: Option<&str>, budget_px: usize) -> ScanSummary {
    let request = ScanRequest {
        plots: area.plots.clone(),
        plot_fields: Default::default(),
        scenes: area.stac.clone(),
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
    // A budget smaller than any plot: every plot is a group of its own.
    let each = scan(&area, &single, None, 1);

    assert!(one.plots > 20 && !one.flags.is_empty(), "the demo scan flags something: {:?}", one.flags);
    for (what, other, store) in
        [("groups of ~5 plots, stepwise", &many, &grouped), ("one plot a group", &each, &single)]
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
