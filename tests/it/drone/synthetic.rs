//! Issue 5, acceptance 1: synthetic flights with known truth. New buildings of several heights, a pit, a
//! spoil heap, trees that grew, a parked truck, and a 0.3 m residual shift (plus a 0.35 m vertical
//! offset) between the flights: every building and earthwork is found, volumes are within 10%, and
//! nothing is flagged for the trees, the truck or the building that stood on both dates.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jingtu::compute::CpuBackend;
use jingtu::drone::DroneOptions;
use jingtu::flags::FlagKind;
use jingtu::jobs::drone::{DroneRequest, DroneResult, flag_bounds, run_drone};
use jingtu::progress::Silent;
use jingtu::raster::Bounds;
use jingtu::synth::drone::{DroneSite, Feature, FeatureKind, FlightSpec, write_flight};

/// The flights' georeferencing disagreement: 0.3 m, as in the issue.
const SHIFT: (f64, f64) = (0.24, -0.18);
const VERTICAL: f64 = 0.35;

struct Flights {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// Both flights, written once per test binary. They differ in extent and resolution, as real ones do.
fn flights() -> &'static Flights {
    let _ = env_logger::builder().is_test(true).parse_env("JINGTU_LOG").try_init();
    static FLIGHTS: OnceLock<Flights> = OnceLock::new();
    FLIGHTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let site = DroneSite::standard();
        let before = FlightSpec {
            later: false,
            dsm_resolution: 0.2,
            ortho_resolution: 0.1,
            extent: (0.0, 0.0, 200.0, 160.0),
            shift: (0.0, 0.0),
            vertical_offset: 0.0,
            noise_m: 0.03,
            pix4d_nodata: false,
            date: "2024:03:01 10:00:00",
        };
        let after = FlightSpec {
            later: true,
            dsm_resolution: 0.25,
            ortho_resolution: 0.1,
            extent: (-6.0, -4.0, 196.0, 166.0),
            shift: SHIFT,
            vertical_offset: VERTICAL,
            noise_m: 0.03,
            pix4d_nodata: true,
            date: "2024:09:01 10:00:00",
        };
        write_flight(&site, &before, &root.join("before_dsm.tif"), &root.join("before_ortho.tif")).unwrap();
        write_flight(&site, &after, &root.join("after_dsm.tif"), &root.join("after_ortho.tif")).unwrap();
        Flights { _dir: dir, root }
    })
}

fn request(root: &Path, out: &str, orthos: bool, options: DroneOptions) -> DroneRequest {
    DroneRequest {
        before_dsm: root.join("before_dsm.tif"),
        after_dsm: root.join("after_dsm.tif"),
        before_ortho: orthos.then(|| root.join("before_ortho.tif")),
        after_ortho: orthos.then(|| root.join("after_ortho.tif")),
        bands: Default::default(),
        plots: None,
        plot_fields: Default::default(),
        out: root.join(out),
        format: None,
        height_raster: None,
        overwrite: true,
        options,
    }
}

/// A feature's footprint in map coordinates.
fn footprint(site: &DroneSite, f: &Feature) -> Bounds {
    Bounds {
        min_x: site.origin_x + f.x0,
        max_x: site.origin_x + f.x1,
        min_y: site.origin_y - f.y1,
        max_y: site.origin_y - f.y0,
    }
}

fn overlap(a: &Bounds, b: &Bounds) -> f64 {
    a.intersection(b).map_or(0.0, |i| i.area())
}

/// Checks the flags against the truth and returns a line of figures per feature.
fn check_against_truth(result: &DroneResult, label: &str) {
    let site = DroneSite::standard();
    let flags = &result.flags;
    println!("[{label}] {} flags: {:?}", flags.len(), result.summary.flags_by_kind);
    if std::env::var("JINGTU_DEBUG_FLAGS").is_ok() {
        for f in flags {
            let b = flag_bounds(f).unwrap();
            println!(
                "  {:?} {:.1} m2 x {:.1}..{:.1} y {:.1}..{:.1} {}",
                f.kind,
                f.area_m2,
                b.min_x - site.origin_x,
                b.max_x - site.origin_x,
                site.origin_y - b.max_y,
                site.origin_y - b.min_y,
                f.evidence["height_change_m"]
            );
        }
    }
    let mut explained = vec![false; flags.len()];
    for f in &site.features {
        let fp = footprint(&site, f);
        let touching: Vec<usize> =
            (0..flags.len()).filter(|i| overlap(&flag_bounds(&flags[*i]).unwrap(), &fp) > 0.05 * fp.area()).collect();
        match f.kind {
            FeatureKind::NewBuilding { height, .. } => {
                let gains: Vec<usize> =
                    touching.iter().copied().filter(|i| flags[*i].kind == FlagKind::HeightGain).collect();
                assert_eq!(gains.len(), 1, "[{label}] building of {height} m at {fp}: {touching:?}");
                let flag = &flags[gains[0]];
                let area_true = fp.area();
                println!(
                    "[{label}] building {height:>4} m: flag area {:.1} m2 (true {area_true:.1}), height {} m",
                    flag.area_m2, flag.evidence["structure_height_m"]
                );
                let measured = flag.evidence["structure_height_m"].as_f64().unwrap();
                assert!(measured >= height - 0.3, "[{label}] height {measured} for a {height} m building");
                assert!((flag.area_m2 - area_true).abs() / area_true < 0.15, "[{label}] footprint area off");
                explained[gains[0]] = true;
            }
            FeatureKind::Pit { .. } | FeatureKind::SpoilHeap { .. } => {
                let works: Vec<usize> =
                    touching.iter().copied().filter(|i| flags[*i].kind == FlagKind::Earthworks).collect();
                assert_eq!(works.len(), 1, "[{label}] earthwork at {fp}: {touching:?}");
                let flag = &flags[works[0]];
                let (cut_true, fill_true) = site.feature_volume(f, 0.05);
                let cut = flag.evidence["volume_m3"]["cut"].as_f64().unwrap();
                let fill = flag.evidence["volume_m3"]["fill"].as_f64().unwrap();
                let (measured, truth, what) =
                    if cut_true > fill_true { (cut, cut_true, "cut") } else { (fill, fill_true, "fill") };
                let error = (measured - truth) / truth;
                println!(
                    "[{label}] {what:>4}: measured {measured:.1} m3, true {truth:.1} m3, error {:+.1}%",
                    100.0 * error
                );
                assert!(error.abs() < 0.10, "[{label}] {what} volume off by more than 10%");
                explained[works[0]] = true;
            }
            FeatureKind::Trees { .. } | FeatureKind::Truck { .. } | FeatureKind::ExistingBuilding { .. } => {
                assert!(touching.is_empty(), "[{label}] {:?} at {fp} was flagged: {touching:?}", f.kind);
            }
        }
    }
    for (i, ok) in explained.iter().enumerate() {
        assert!(ok, "[{label}] flag not explained by any truth feature: {:?} {}", flags[i].kind, flags[i].evidence);
    }
}

#[test]
fn synthetic_flights_with_orthomosaics_find_every_building_and_earthwork() {
    let f = flights();
    let result =
        run_drone(&CpuBackend::new(), &request(&f.root, "flags.gpkg", true, DroneOptions::default()), &Silent).unwrap();
    let shift = result.summary.shift.as_ref().expect("shift measured");
    println!(
        "shift measured ({}) {:+.3} {:+.3} m (true {:+.2} {:+.2}), corrected: {}; vertical offset {:.3} m (true {VERTICAL})",
        shift.source, shift.dx_m, shift.dy_m, SHIFT.0, SHIFT.1, shift.corrected, result.summary.vertical.offset_m
    );
    assert!(shift.corrected);
    assert!((shift.dx_m - SHIFT.0).abs() < 0.06 && (shift.dy_m - SHIFT.1).abs() < 0.06);
    assert!((result.summary.vertical.offset_m - VERTICAL).abs() < 0.05);
    check_against_truth(&result, "with orthomosaics");
    // The flags file holds what the job returned.
    let written = jingtu::export::vector::read_flag_summaries(&f.root.join("flags.gpkg")).unwrap();
    assert_eq!(written.len(), result.flags.len());
}

#[test]
fn synthetic_flights_without_orthomosaics_use_the_surfaces_alone() {
    let f = flights();
    let result =
        run_drone(&CpuBackend::new(), &request(&f.root, "flags-dsm.geojson", false, DroneOptions::default()), &Silent)
            .unwrap();
    let shift = result.summary.shift.as_ref().expect("shift measured");
    assert_eq!(shift.source, "surface model");
    assert!((shift.dx_m - SHIFT.0).abs() < 0.08 && (shift.dy_m - SHIFT.1).abs() < 0.08, "{shift:?}");
    check_against_truth(&result, "surfaces only");
}

#[test]
fn tile_borders_do_not_change_the_result() {
    let f = flights();
    let whole =
        run_drone(&CpuBackend::new(), &request(&f.root, "whole.gpkg", true, DroneOptions::default()), &Silent).unwrap();
    let small = DroneOptions { tile_size: 96, ..DroneOptions::default() };
    let tiled = run_drone(&CpuBackend::new(), &request(&f.root, "tiled.gpkg", true, small), &Silent).unwrap();
    assert!(tiled.summary.tiles > 40, "{} tiles", tiled.summary.tiles);
    let ids = |r: &DroneResult| r.flags.iter().map(|f| (f.flag_id.clone(), f.area_m2)).collect::<Vec<_>>();
    assert_eq!(ids(&whole), ids(&tiled), "same flags, same ids and areas whatever the tiling");
}

#[test]
fn a_shift_too_large_to_trust_is_reported_and_left_alone() {
    let f = flights();
    let strict = DroneOptions { max_shift_correction_m: 0.1, ..DroneOptions::default() };
    let result = run_drone(&CpuBackend::new(), &request(&f.root, "strict.gpkg", true, strict), &Silent).unwrap();
    let shift = result.summary.shift.as_ref().unwrap();
    assert!(!shift.corrected);
    assert!(result.summary.warnings.iter().any(|w| w.contains("too large to trust")), "{:?}", result.summary.warnings);
}

#[test]
fn plots_keep_only_changes_inside_them_and_name_the_plot() {
    let f = flights();
    // One plot over the western 80 m of the site: building B1 (3.5 m), the pit, the truck and the old
    // hall are inside; the other buildings, the heap and the trees are not.
    let site = DroneSite::standard();
    let (x0, x1, y0, y1) = (site.origin_x, site.origin_x + 80.0, site.origin_y - 160.0, site.origin_y);
    let registry = f.root.join("plots.geojson");
    std::fs::write(
        &registry,
        format!(
            r#"{{"type":"FeatureCollection","crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::32651"}}}},
            "features":[{{"type":"Feature","properties":{{"plot_id":"JS-320581-007","name":"原化工厂地块","category":"contaminated_listed","works_allowed":"true"}},
            "geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}]}}"#
        ),
    )
    .unwrap();
    let mut req = request(&f.root, "plots.gpkg", true, DroneOptions::default());
    req.plots = Some(registry);
    let result = run_drone(&CpuBackend::new(), &req, &Silent).unwrap();
    let kinds: Vec<FlagKind> = result.flags.iter().map(|f| f.kind).collect();
    assert_eq!(kinds.len(), 2, "{:?}", result.summary.flags_by_kind);
    assert!(kinds.contains(&FlagKind::HeightGain) && kinds.contains(&FlagKind::Earthworks));
    for flag in &result.flags {
        assert_eq!(flag.plot_id.as_deref(), Some("JS-320581-007"));
        assert_eq!(flag.plot_name.as_deref(), Some("原化工厂地块"));
        assert_eq!(flag.evidence["permitted_works"], true, "works are allowed on this plot");
        let b = flag_bounds(flag).unwrap();
        assert!(b.max_x <= x1 + 0.5, "flag reaches beyond the plot: {b}");
    }
    let written = jingtu::export::vector::read_flag_summaries(&f.root.join("plots.gpkg")).unwrap();
    assert!(written.iter().all(|w| w.plot_id.as_deref() == Some("JS-320581-007")));
}
