//! The multispectral change path on the real Taizhou Landsat-7 pair (2000-03-17, 2003-02-06), scored on
//! the labelled pixels only: it must keep kappa >= 0.93 and F1 >= 0.94 whatever RGB imagery does (the
//! RGB detector takes over only where there is no NIR).
//!
//! Data: ../shared/data/real/taizhou-landsat-cd; skipped, saying so, where absent.

use std::path::Path;

use jingtu::change::job::{ChangeRequest, run_change};
use jingtu::compute::CpuBackend;
use jingtu::progress::Silent;

fn band1(path: &Path) -> Vec<u8> {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    ds.rasterband(1).unwrap().read_as::<u8>((0, 0), (w, h), (w, h), None).unwrap().data().to_vec()
}

#[test]
fn taizhou_landsat_change_keeps_its_accuracy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/taizhou-landsat-cd");
    if !root.exists() {
        eprintln!("SKIPPED: {} not found", root.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raster = dir.path().join("codes.tif");
    let req = ChangeRequest {
        before: root.join("2000TM"),
        after: root.join("2003TM"),
        bands: Default::default(),
        plots: None,
        plot_fields: Default::default(),
        out: dir.path().join("flags.gpkg"),
        format: None,
        change_raster: Some(raster.clone()),
        pixel_grid: false,
        overwrite: false,
        options: Default::default(),
    };
    let summary = run_change(&CpuBackend::new(), &req, &Silent).unwrap();
    assert_eq!(summary.method, "multispectral");
    let codes = band1(&raster);
    let changed = band1(&root.join("change.bmp"));
    let unchanged = band1(&root.join("unchanged.bmp"));
    let (mut tp, mut fp, mut fneg, mut tn) = (0f64, 0f64, 0f64, 0f64);
    for ((c, t), u) in codes.iter().zip(&changed).zip(&unchanged) {
        let predicted = *c != 0 && *c != 255;
        match (*t > 0, *u > 0, predicted) {
            (true, _, true) => tp += 1.0,
            (true, _, false) => fneg += 1.0,
            (false, true, true) => fp += 1.0,
            (false, true, false) => tn += 1.0,
            _ => {}
        }
    }
    let n = tp + fp + fneg + tn;
    let oa = (tp + tn) / n;
    let expected = ((tp + fp) * (tp + fneg) + (fneg + tn) * (fp + tn)) / (n * n);
    let kappa = (oa - expected) / (1.0 - expected);
    let f1 = 2.0 * tp / (2.0 * tp + fp + fneg);
    println!("Taizhou: OA {oa:.4}, kappa {kappa:.4}, F1 {f1:.4} on {n} labelled pixels");
    assert!(kappa >= 0.93 && f1 >= 0.94, "kappa {kappa:.4}, F1 {f1:.4}");
}
