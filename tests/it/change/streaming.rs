//! Issue 7, acceptance 3: `jingtu change` streamed in strips gives what the whole-scene detector gives, to
//! the bit: the same change raster and the same flags (ids, kinds, every property, the same polygons).
//!
//! Strips of 7 rows are used on the 256 x 256 fixture pair so that everything the streaming path must get
//! right crosses strip edges: the 3x3 smoothing needs the rows above and below (carried from strip to
//! strip, and around pieces of 4 rows), and changed regions, the minimum mapping unit and the polygons
//! (traced group by group) run across strips. A sample of small squares makes both paths fit the
//! normalization as they fit it on scenes of tens of millions of pixels. The run is asked to log its passes, so a silent fall-back to the whole-scene path would fail
//! the test instead of passing it.

use crate::support as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::Dataset;
use gdal::vector::LayerAccess;
use jingtu::synth::pair::{FixturePair, PairOptions};

use common::{fixture, real_data};

/// One feature of a flag file: every field as text, and the geometry as WKB.
type FlagRow = (Vec<String>, Vec<u8>);

/// Runs `jingtu change` with the `[change]` settings in `config`; returns the change raster's pixels and
/// the flags as written.
fn change(
    before: &Path,
    after: &Path,
    dir: &Path,
    name: &str,
    config: &str,
    extra: &[&str],
) -> (Vec<u8>, Vec<FlagRow>) {
    let config_path = dir.join(format!("{name}.toml"));
    std::fs::write(&config_path, format!("[change]\n{config}\n")).unwrap();
    let (out, raster) = (dir.join(format!("{name}.gpkg")), dir.join(format!("{name}.tif")));
    let run = Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .arg("change")
        .args([before, after])
        .arg("--out")
        .arg(&out)
        .arg("--change-raster")
        .arg(&raster)
        .arg("--config")
        .arg(&config_path)
        .args(["--backend", "cpu", "-q"])
        .args(extra)
        .env("JINGTU_LOG", "jingtu::jobs::change::stream=debug")
        .output()
        .expect("the jingtu binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{name}: {}\n{stderr}", run.status);
    let streamed = stderr.contains("streaming change: final statistic and classes done");
    assert_eq!(streamed, !config.contains("streaming = false"), "{name}: which path ran\n{stderr}");
    let read_again = stderr.contains("reading the changed strips again");
    assert_eq!(read_again, config.contains("kept_pixels = 100"), "{name}: which way the evidence came\n{stderr}");
    (codes(&raster), flags(&out))
}

fn codes(path: &Path) -> Vec<u8> {
    let ds = Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let mut buf = vec![0u8; w * h];
    ds.rasterband(1).unwrap().read_into_slice::<u8>((0, 0), (w, h), (w, h), &mut buf, None).unwrap();
    buf
}

fn flags(path: &Path) -> Vec<FlagRow> {
    let ds = Dataset::open(path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    layer
        .features()
        .map(|f| {
            let fields =
                (0..names.len()).map(|i| format!("{}={:?}", names[i], f.field_as_string(i).ok().flatten())).collect();
            (fields, f.geometry().map(|g| g.wkb().unwrap()).unwrap_or_default())
        })
        .collect()
}

fn assert_same(name: &str, whole: &(Vec<u8>, Vec<FlagRow>), streamed: &(Vec<u8>, Vec<FlagRow>)) {
    assert_eq!(whole.0.len(), streamed.0.len(), "{name}: raster sizes");
    let differing = whole.0.iter().zip(&streamed.0).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{name}: {differing} pixels of the change raster differ");
    assert_eq!(whole.1.len(), streamed.1.len(), "{name}: number of flags");
    for (a, b) in whole.1.iter().zip(&streamed.1) {
        assert_eq!(a.0, b.0, "{name}: flag properties");
        assert_eq!(a.1, b.1, "{name}: flag geometry of {:?}", a.0.first());
    }
}

fn pair(dir: &Path, seed: u64) -> FixturePair {
    fixture(dir, &PairOptions::new(seed))
}

#[test]
fn streamed_in_strips_the_fixture_pair_gives_the_whole_scene_result_to_the_bit() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [1, 5] {
        let p = pair(dir.path(), seed);
        let whole = change(&p.before, &p.after, dir.path(), &format!("whole{seed}"), "streaming = false", &[]);
        assert!(!whole.1.is_empty(), "the fixture has changes to flag");
        assert!(whole.0.contains(&255), "and nodata holes");
        for rows in [7, 0] {
            let name = format!("strips{seed}-{rows}");
            let streamed = change(&p.before, &p.after, dir.path(), &name, &format!("strip_rows = {rows}"), &[]);
            assert_same(&name, &whole, &streamed);
        }
    }
}

#[test]
fn fitted_on_a_sample_of_squares_streamed_and_whole_scene_agree_to_the_bit() {
    // The fixture pair is small enough to be fitted on every pixel; asked for about 4096 pixels in squares
    // of 32, both paths fit on the four squares of the diagonal lattice instead, whose 1024-pixel moment
    // blocks straddle the squares' edges and hold pixels outside the sample.
    let dir = tempfile::tempdir().unwrap();
    let p = pair(dir.path(), 3);
    let sample = "fit_sample_pixels = 4096\nfit_sample_side = 32";
    let whole = change(&p.before, &p.after, dir.path(), "whole", &format!("{sample}\nstreaming = false"), &[]);
    let all = change(&p.before, &p.after, dir.path(), "all", "streaming = false", &[]);
    let streamed = change(&p.before, &p.after, dir.path(), "strips", &format!("{sample}\nstrip_rows = 7"), &[]);
    assert!(!whole.1.is_empty());
    assert_same("sampled fit", &whole, &streamed);
    // The sample is what both fitted on: the fit on every pixel comes out different, if only in the evidence.
    assert_ne!(whole.1, all.1, "the sampled fit changed nothing: was the sample used?");
}

#[test]
fn streamed_with_too_many_pixels_above_the_floor_to_keep_the_result_is_the_same() {
    // Past `kept_pixels` the streaming path drops what it kept, names the changes on the whole rasters and
    // reads the strips that hold changes again for their indices: the other way to the same result.
    let dir = tempfile::tempdir().unwrap();
    let p = pair(dir.path(), 5);
    let whole = change(&p.before, &p.after, dir.path(), "whole", "streaming = false", &[]);
    let streamed = change(&p.before, &p.after, dir.path(), "strips", "strip_rows = 7\nkept_pixels = 100", &[]);
    assert!(!whole.1.is_empty());
    assert_same("past the cap", &whole, &streamed);
}

#[test]
fn streamed_with_plots_the_flags_keep_their_plots_as_on_the_whole_scene() {
    let dir = tempfile::tempdir().unwrap();
    let p = pair(dir.path(), 6);
    let plots = ["--plots", p.plots.to_str().unwrap()];
    let whole = change(&p.before, &p.after, dir.path(), "whole", "streaming = false", &plots);
    let streamed = change(&p.before, &p.after, dir.path(), "strips", "strip_rows = 5", &plots);
    assert!(!whole.1.is_empty());
    assert_same("with plots", &whole, &streamed);
}

#[test]
fn streamed_digital_numbers_of_the_real_taizhou_pair_give_the_whole_scene_result() {
    // Landsat-7 digital numbers: the streaming path also has to find the dark objects of the whole scene.
    let Some(real) = real_data("taizhou-landsat-cd") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (before, after): (PathBuf, PathBuf) = (real.join("2000TM"), real.join("2003TM"));
    let sensor = ["--sensor", "landsat-tm"];
    let whole = change(&before, &after, dir.path(), "whole", "streaming = false", &sensor);
    let streamed = change(&before, &after, dir.path(), "strips", "strip_rows = 9", &sensor);
    assert_same("Taizhou", &whole, &streamed);
}
