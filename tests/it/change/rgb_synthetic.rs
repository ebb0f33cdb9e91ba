//! `jingtu change` on two georeferenced RGBA drone orthomosaics without surface models: compared at the
//! RGB working resolution (0.5 m, colours averaged), every new building and the earthworks of the
//! synthetic site are flagged, and the trees that grew are not.

use gdal::vector::LayerAccess;
use jingtu::compute::CpuBackend;
use jingtu::jobs::change::{ChangeRequest, run_change};
use jingtu::progress::Silent;
use jingtu::raster::Bounds;
use jingtu::synth::drone::{DroneSite, FeatureKind, FlightSpec, write_flight};

#[test]
fn rgb_orthomosaics_alone_show_new_buildings_and_earthworks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let site = DroneSite::standard();
    for later in [false, true] {
        let spec = FlightSpec {
            later,
            dsm_resolution: 1.0,
            ortho_resolution: 0.1,
            extent: (0.0, 0.0, 200.0, 160.0),
            shift: (0.0, 0.0),
            vertical_offset: 0.0,
            noise_m: 0.0,
            pix4d_nodata: later,
            date: if later { "2024:09:01 10:00:00" } else { "2024:03:01 10:00:00" },
        };
        let name = if later { "after" } else { "before" };
        write_flight(&site, &spec, &d.join(format!("{name}_dsm.tif")), &d.join(format!("{name}.tif"))).unwrap();
    }
    let req = ChangeRequest {
        before: d.join("before.tif"),
        after: d.join("after.tif"),
        bands: Default::default(),
        plots: None,
        plot_fields: Default::default(),
        out: d.join("flags.gpkg"),
        format: None,
        change_raster: None,
        pixel_grid: false,
        overwrite: false,
        options: Default::default(),
    };
    let summary = run_change(&CpuBackend::new(), &req, &Silent).unwrap();
    assert_eq!(summary.method, "rgb");
    assert!((summary.grid.transform.pixel_size().0 - 0.5).abs() < 1e-9, "compared at 0.5 m");
    let flags = jingtu::export::vector::read_flag_summaries(&d.join("flags.gpkg")).unwrap();
    println!("{} flags: {:?}", flags.len(), summary.flags_by_kind);
    // Flag footprints, read back from the output.
    let ds = gdal::Dataset::open(d.join("flags.gpkg")).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let boxes: Vec<Bounds> = layer
        .features()
        .map(|f| {
            let e = f.geometry().unwrap().envelope();
            Bounds { min_x: e.MinX, min_y: e.MinY, max_x: e.MaxX, max_y: e.MaxY }
        })
        .collect();
    for f in &site.features {
        let fp = Bounds {
            min_x: site.origin_x + f.x0,
            max_x: site.origin_x + f.x1,
            min_y: site.origin_y - f.y1,
            max_y: site.origin_y - f.y0,
        };
        let hit = boxes.iter().any(|b| b.intersection(&fp).is_some_and(|i| i.area() > 0.3 * fp.area()));
        match f.kind {
            FeatureKind::NewBuilding { .. } | FeatureKind::Pit { .. } | FeatureKind::SpoilHeap { .. } => {
                assert!(hit, "{:?} at {fp} not flagged", f.kind)
            }
            FeatureKind::Trees { .. } | FeatureKind::ExistingBuilding { .. } => {
                assert!(!hit, "{:?} at {fp} flagged", f.kind)
            }
            FeatureKind::Truck { .. } => {}
        }
    }
}
