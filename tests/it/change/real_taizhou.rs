//! Issue 2, acceptance 1: `jingtu change` with default settings on the real Taizhou Landsat-7 pair, scored
//! on the labelled pixels only.
//!
//! The labels are sparse: `change.bmp` marks 4,227 changed pixels (255), `unchanged.bmp` 17,163 unchanged
//! ones (255); every other pixel is unlabelled and not scored. A pixel is predicted changed where the
//! change raster holds any change code (nonzero and not 255, nodata). For reference, on the same labels:
//! change-vector magnitude with Otsu scores kappa 0.06; after matching each band's mean and standard
//! deviation, kappa 0.91 and F1 0.93 (issue 2).

use crate::support as common;

use gdal::Dataset;

use common::{Confusion, jingtu, real_data};

/// The acceptance bar of issue 2.
const MIN_KAPPA: f64 = 0.93;
const MIN_F1: f64 = 0.94;

fn read_byte_raster(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = ds.raster_size();
    let band = ds.rasterband(1).unwrap();
    let mut buf = vec![0u8; w * h];
    band.read_into_slice::<u8>((0, 0), (w, h), (w, h), &mut buf, None).unwrap();
    (w, h, buf)
}

#[test]
fn default_change_detection_beats_the_bar_on_the_labelled_taizhou_pixels() {
    let Some(dir) = real_data("taizhou-landsat-cd") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (out, raster) = (tmp.path().join("taizhou.gpkg"), tmp.path().join("taizhou.tif"));
    let run = jingtu([
        "change".as_ref(),
        dir.join("2000TM").as_os_str(),
        dir.join("2003TM").as_os_str(),
        "--sensor".as_ref(),
        "landsat-tm".as_ref(),
        "--change-raster".as_ref(),
        raster.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    run.expect_code(0, "jingtu change on Taizhou");

    let (w, h, predicted) = read_byte_raster(&raster);
    let (lw, lh, changed) = read_byte_raster(&dir.join("change.bmp"));
    let (uw, uh, unchanged) = read_byte_raster(&dir.join("unchanged.bmp"));
    assert_eq!((w, h), (400, 400), "the change raster is on the inputs' own grid");
    assert_eq!(((lw, lh), (uw, uh)), ((w, h), (w, h)), "labels share the grid");

    let mut c = Confusion::default();
    for i in 0..w * h {
        let is_changed = changed[i] == 255;
        let is_unchanged = unchanged[i] == 255;
        assert!(!(is_changed && is_unchanged), "pixel {i} is labelled both ways");
        if is_changed || is_unchanged {
            c.add(is_changed, predicted[i] != 0 && predicted[i] != 255);
        }
    }
    // The label counts of PROVENANCE.txt: a check that the labels were read as intended.
    assert_eq!((c.tp + c.fn_, c.fp + c.tn), (4227, 17163));
    println!(
        "Taizhou: kappa {:.4}, F1 {:.4}, overall accuracy {:.4} (tp {} fp {} fn {} tn {})",
        c.kappa(),
        c.f1(),
        c.overall_accuracy(),
        c.tp,
        c.fp,
        c.fn_,
        c.tn
    );
    assert!(c.kappa() >= MIN_KAPPA, "kappa {:.4} below {MIN_KAPPA}", c.kappa());
    assert!(c.f1() >= MIN_F1, "F1 {:.4} below {MIN_F1}", c.f1());
    assert!(out.exists(), "the flags were written");
}

#[test]
fn kappa_and_f1_match_a_hand_computed_example() {
    // tp 40, fp 10, fn 5, tn 45: observed agreement 0.85, chance agreement (50*45 + 50*55) / 100^2 = 0.5,
    // so kappa = (0.85 - 0.5) / 0.5 = 0.7; F1 = 80 / 95.
    let c = Confusion { tp: 40, fp: 10, fn_: 5, tn: 45 };
    assert!((c.kappa() - 0.7).abs() < 1e-12, "{}", c.kappa());
    assert!((c.f1() - 80.0 / 95.0).abs() < 1e-12);
    assert!((c.overall_accuracy() - 0.85).abs() < 1e-12);
}
