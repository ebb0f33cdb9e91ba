//! Issue 4, acceptance 1 for the monthly scan: the demo area scanned on the CPU and on the GPU gives
//! identical flags (ids, kinds, statuses, dates, areas, evidence, geometry) and identical stores, the
//! temporal states of every plot pixel included. The GPU run must have stayed on the GPU: a run that
//! fell back to the CPU would pass the comparison without testing anything.

use crate::support as common;
use crate::support;

use std::path::Path;

use gdal::Dataset;
use gdal::vector::LayerAccess;
use jingtu::compute::{Backend, CpuBackend, GpuWithFallback};
use jingtu::jobs::scan::{ScanRequest, ScanSummary, run_scan};
use jingtu::progress::Silent;
use jingtu::scan::ScanOptions;
use jingtu::synth::area::DemoArea;

fn scan(backend: &dyn Backend, area: &DemoArea, dir: &Path) -> ScanSummary {
    let request = ScanRequest {
        plots: area.plots.clone(),
        plot_fields: Default::default(),
        scenes: area.stac.clone(),
        collection: None,
        bands: Default::default(),
        store: Some(dir.join("store.gpkg")),
        as_of: None,
        out: Some(dir.join("flags.gpkg")),
        format: None,
        overwrite: false,
        no_wait: false,
        options: ScanOptions::default(),
    };
    run_scan(backend, &request, &Silent).expect("the demo scan runs")
}

/// Every feature of the first layer of `path` as one line of text: each field by name, then the
/// geometry as WKT (GDAL writes the coordinates with full precision). Sorted, so that the order of
/// writing does not matter.
fn feature_lines(path: &Path) -> Vec<String> {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut layer = ds.layer(0).expect("a layer");
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let mut lines: Vec<String> = layer
        .features()
        .map(|f| {
            let mut line: Vec<String> =
                names.iter().enumerate().map(|(i, n)| format!("{n}={:?}", f.field_as_string(i).unwrap())).collect();
            line.push(f.geometry().expect("every flag has a geometry").wkt().expect("WKT"));
            line.join("|")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_demo_scan_gives_the_same_flags_and_store_on_cpu_and_gpu() {
    let Some(gpu) = support::gpu() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let area = common::demo_area(tmp.path());
    let (on_cpu, on_gpu) = (tmp.path().join("cpu"), tmp.path().join("gpu"));
    std::fs::create_dir_all(&on_cpu).unwrap();
    std::fs::create_dir_all(&on_gpu).unwrap();

    let cpu_summary = scan(&CpuBackend::new(), &area, &on_cpu);
    let gpu = GpuWithFallback::new(gpu);
    let gpu_summary = scan(&gpu, &area, &on_gpu);
    assert_eq!(gpu.failure(), None, "the GPU scan fell back to the CPU");
    assert!(gpu_summary.backend.starts_with("gpu"), "the GPU scan ran on {}", gpu_summary.backend);
    assert!(gpu.gpu().stats().dispatches > 0);

    let (want, got) = (feature_lines(&on_cpu.join("flags.gpkg")), feature_lines(&on_gpu.join("flags.gpkg")));
    assert_eq!(got.len(), want.len(), "flags written");
    for (g, w) in got.iter().zip(&want) {
        assert!(g == w, "a flag differs:\n  gpu {g}\n  cpu {w}");
    }
    // The comparison means something only if the demo flags what it was built to flag.
    for kind in ["construction", "earthworks", "idle_bare"] {
        let n = want.iter().filter(|l| l.contains(&format!("kind=Some(\"{kind}\")"))).count();
        assert!(n > 0, "no {kind} flags in the demo scan");
    }
    eprintln!("{} flags identical on cpu and {}", want.len(), gpu_summary.backend);

    assert_eq!(gpu_summary.flags, cpu_summary.flags, "flags by kind and status");
    assert_eq!(gpu_summary.scan_id, cpu_summary.scan_id);
    common::assert_same_state(&on_cpu.join("store.gpkg"), &on_gpu.join("store.gpkg"), "stores");
}
