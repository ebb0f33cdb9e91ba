//! Issue 5, acceptance 2: real drone orthomosaics are read with their nodata and alpha honoured, and the
//! drone job registers them.
//!
//! - `riotiler-cogs/my-bucket/pix4d/pix4d_alpha_nodata.tif`: Pix4D RGBA, nodata -10000 declared on 8-bit
//!   bands (impossible, so ignored) with the alpha band marking the edge; RGB is 0 under alpha 0.
//! - `webodm-drone-ortho/orthophoto.tif`: OpenDroneMap RGBA at 0.5 m; under alpha 0 the RGB holds
//!   leftover colours, so only the alpha band tells data from edge.
//!
//! Data: ../shared/data/real (see its README); the tests skip, saying so, where the folder is absent.

use crate::support as common;

use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::{Dataset, DriverManager};
use jingtu::align::{Resampling, read_on_grid};
use jingtu::compute::CpuBackend;
use jingtu::drone::DroneOptions;
use jingtu::io::Raster;
use jingtu::io::raster::MaskSource;
use jingtu::jobs::drone::{DroneRequest, run_drone};
use jingtu::progress::Silent;
use jingtu::raster::{BandRole, Grid};

const PIX4D: &str = "riotiler-cogs/my-bucket/pix4d/pix4d_alpha_nodata.tif";
const WEBODM: &str = "webodm-drone-ortho/orthophoto.tif";

/// A file of the shared real data (`folder/file`), by the suite's one policy for absent real data.
fn real(relative: &str) -> Option<PathBuf> {
    let (folder, file) = relative.split_once('/').expect("folder/file");
    let path = common::real_data(folder)?.join(file);
    assert!(path.exists(), "{} is missing from the shared real data", path.display());
    Some(path)
}

/// Alpha and mean RGB under alpha > 0, read with plain GDAL calls as the independent reference.
fn reference(path: &Path) -> (Vec<u8>, [f64; 3]) {
    let ds = Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let read =
        |i: usize| ds.rasterband(i).unwrap().read_as::<u8>((0, 0), (w, h), (w, h), None).unwrap().data().to_vec();
    let alpha = read(4);
    let mut mean = [0.0f64; 3];
    let n = alpha.iter().filter(|a| **a > 0).count() as f64;
    for (k, m) in mean.iter_mut().enumerate() {
        let band = read(k + 1);
        *m = band.iter().zip(&alpha).filter(|(_, a)| **a > 0).map(|(v, _)| *v as f64).sum::<f64>() / n;
    }
    (alpha, mean)
}

#[test]
fn real_orthomosaics_are_read_with_alpha_and_odd_nodata_honoured() {
    for rel in [PIX4D, WEBODM] {
        let Some(path) = real(rel) else { continue };
        let raster = Raster::open(&path).unwrap();
        let info = raster.info();
        assert_eq!(info.bands[3].mask, MaskSource::IsAlpha, "{rel}: band 4 is the alpha mask");
        if rel == PIX4D {
            for b in &info.bands[..3] {
                assert!(b.nodata_ignored.as_deref().unwrap_or("").contains("cannot occur"), "{rel}: {b:?}");
            }
        }
        let map = raster.band_map(&Default::default(), &[BandRole::Red, BandRole::Green, BandRole::Blue]).unwrap();
        assert_eq!(map.bands.len(), 3, "{rel}: the alpha band is a mask, not a colour");
        let stack = raster.read_raw(&map, raster.full_window()).unwrap();
        let (alpha, mean) = reference(&path);
        let expected_valid = alpha.iter().filter(|a| **a > 0).count();
        assert_eq!(stack.valid_count(), expected_valid, "{rel}: valid pixels are exactly alpha > 0");
        for (v, a) in stack.valid.iter().zip(&alpha) {
            assert_eq!(*v != 0, *a > 0);
        }
        // Stack order is spectral (blue, green, red); the reference is file order (red, green, blue).
        for (role, expect) in [(BandRole::Red, mean[0]), (BandRole::Green, mean[1]), (BandRole::Blue, mean[2])] {
            let band = stack.band(role).unwrap();
            let sum: f64 = band.iter().zip(stack.valid.iter()).filter(|(_, v)| **v != 0).map(|(x, _)| *x as f64).sum();
            let got = sum / expected_valid as f64;
            assert!((got - expect).abs() < 1e-6, "{rel} {role}: {got} vs {expect}");
        }
        println!("{rel}: {expected_valid} valid pixels of {}, mean RGB {mean:.1?}", alpha.len());

        // Warped to a coarser grid, the edge stays an edge: no masked pixel leaks in as dark ground.
        let g = raster.grid();
        let coarse = Grid::covering(g.crs_wkt.clone(), g.epsg, &g.bounds(), g.transform.pixel_size().0 * 2.5);
        let warped = read_on_grid(&raster, &map, &coarse, Resampling::Average).unwrap();
        let fraction = warped.valid_count() as f64 / coarse.len() as f64;
        let expected_fraction = expected_valid as f64 / alpha.len() as f64;
        assert!((fraction - expected_fraction).abs() < 0.03, "{rel}: {fraction} vs {expected_fraction}");
        let red = warped.band(BandRole::Red).unwrap();
        let dark = red.iter().zip(warped.valid.iter()).filter(|(x, v)| **v != 0 && **x < 1.0).count();
        assert!(dark * 1000 < warped.valid_count(), "{rel}: {dark} black pixels counted as data");
    }
}

/// A flat surface model over `grid` (10 m with 2 cm noise), as a flight over unchanged ground gives.
fn flat_dsm(path: &Path, grid: &Grid, seed: u64) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<f32, _>(
            path,
            grid.width,
            grid.height,
            1,
            &RasterCreationOptions::default(),
        )
        .unwrap();
    ds.set_geo_transform(&grid.transform.0).unwrap();
    ds.set_projection(&grid.crs_wkt).unwrap();
    let mut rng = jingtu::synth::rng::Rng::new(seed);
    let data: Vec<f32> = (0..grid.len()).map(|_| 10.0 + 0.02 * rng.normal() as f32).collect();
    let mut buf = Buffer::new((grid.width, grid.height), data);
    let mut band = ds.rasterband(1).unwrap();
    band.set_no_data_value(Some(-9999.0)).unwrap();
    band.write((0, 0), (grid.width, grid.height), &mut buf).unwrap();
}

#[test]
fn the_drone_job_measures_a_known_shift_on_real_orthomosaics_and_flags_nothing() {
    for rel in [PIX4D, WEBODM] {
        let Some(path) = real(rel) else { continue };
        let dir = tempfile::tempdir().unwrap();
        let before_ortho = dir.path().join("before_ortho.tif");
        let after_ortho = dir.path().join("after_ortho.tif");
        std::fs::copy(&path, &before_ortho).unwrap();
        std::fs::copy(&path, &after_ortho).unwrap();
        // The later flight's georeferencing is off by 0.30 m east and 0.15 m south: the same pixels are
        // labelled with positions moved by that much.
        let (dx, dy) = (0.30, -0.15);
        {
            let mut ds = Dataset::open_ex(
                &after_ortho,
                gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
            )
            .unwrap();
            let mut gt = ds.geo_transform().unwrap();
            gt[0] += dx;
            gt[3] += dy;
            ds.set_geo_transform(&gt).unwrap();
        }
        let g = Raster::open(&path).unwrap().grid().clone();
        let dsm_grid = Grid::covering(g.crs_wkt.clone(), g.epsg, &g.bounds(), 0.5);
        flat_dsm(&dir.path().join("before_dsm.tif"), &dsm_grid, 1);
        flat_dsm(&dir.path().join("after_dsm.tif"), &dsm_grid, 2);
        let request = DroneRequest {
            before_dsm: dir.path().join("before_dsm.tif"),
            after_dsm: dir.path().join("after_dsm.tif"),
            before_ortho: Some(before_ortho),
            after_ortho: Some(after_ortho),
            bands: Default::default(),
            plots: None,
            plot_fields: Default::default(),
            out: dir.path().join("flags.geojson"),
            format: None,
            height_raster: None,
            overwrite: false,
            options: DroneOptions::default(),
        };
        let result = run_drone(&CpuBackend::new(), &request, &Silent).unwrap();
        let shift = result.summary.shift.as_ref().expect("shift measured on real imagery");
        println!(
            "{rel}: shift {:+.3} {:+.3} m (true {dx:+.2} {dy:+.2}), peak {:.2}, {} window(s)",
            shift.dx_m, shift.dy_m, shift.peak, shift.windows_used
        );
        assert!(shift.corrected && (shift.dx_m - dx).abs() < 0.05 && (shift.dy_m - dy).abs() < 0.05);
        assert!(result.flags.is_empty(), "{rel}: nothing changed, nothing flagged: {:?}", result.summary.flags_by_kind);
    }
}
