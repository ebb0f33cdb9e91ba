//! Issue 3, acceptance 3: the temporal logic on a real Sentinel-2 NDVI series (eo-learn's Slovenian test
//! patch: 68 dates 2015-07..2017-12, mostly forest, snowy winters, s2cloudless cloud mask) treated as one
//! plot raises no idle_bare flag. A plain NDVI rule without the season check does: that is what the test
//! proves the season check is for.

use crate::support as common;

use chrono::NaiveDate;
use jingtu::compute::{CpuBackend, ObservationPlanes};
use jingtu::flags::FlagKind;
use jingtu::io::plots::Plot;
use jingtu::raster::{GeoTransform, Grid};
use jingtu::scan::observe::{PlotObservation, set_aside_bare};
use jingtu::scan::tracker::{Acquisition, PlotTracker, TrackSettings};
use jingtu::spectral::LandClass;
use jingtu::spectral::classes::classify_ndvi_only;
use jingtu::temporal::season::{is_dormant, median};
use jingtu::temporal::{DateContext, TemporalParams, day_number};
use ndarray::Array2;

/// A numpy `.npy` array of `(T, H, W, 1)` as f32 (reads `<f4`, `|u1` and `|b1`, C order).
fn read_npy(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'fortran_order': False"));
    let shape_text = &header[header.find("'shape': (").unwrap() + 10..];
    let shape: Vec<usize> =
        shape_text[..shape_text.find(')').unwrap()].split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let data = &bytes[10 + header_len..];
    let values = if header.contains("'<f4'") {
        data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else if header.contains("'|u1'") || header.contains("'|b1'") {
        data.iter().map(|b| *b as f32).collect()
    } else {
        panic!("unexpected dtype in {header}");
    };
    (shape, values)
}

struct Series {
    dates: Vec<NaiveDate>,
    height: usize,
    width: usize,
    ndvi: Vec<f32>,
    cloud: Vec<f32>,
}

fn load(dir: &std::path::Path) -> Series {
    let (shape, ndvi) = read_npy(&dir.join("data/NDVI.npy"));
    let (_, cloud) = read_npy(&dir.join("mask/CLM.npy"));
    let stamps: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("timestamps.json")).unwrap()).unwrap();
    let dates = stamps.iter().map(|s| s[..10].parse().unwrap()).collect::<Vec<NaiveDate>>();
    assert_eq!(dates.len(), shape[0]);
    Series { dates, height: shape[1], width: shape[2], ndvi, cloud }
}

/// Runs the tracker over the series; `season` switches the dormancy check. Returns idle flags raised.
fn idle_flags(s: &Series, season: bool) -> usize {
    let grid = Grid {
        crs_wkt: jingtu::io::crs::srs_from_epsg(32633).unwrap().to_wkt().unwrap(),
        epsg: Some(32633),
        // bbox.geojson: x 465181.05, y 5080254.63 (north-west corner), 10 m.
        transform: GeoTransform::north_up(465181.05, 5080254.63, 10.0, 10.0),
        width: s.width,
        height: s.height,
    };
    let plot = Plot {
        plot_id: "eolearn-patch".into(),
        name: None,
        category: Some(jingtu::io::plots::Category::BareSoil),
        works_allowed: false,
        listed_on: None,
        geometry: Vec::new(),
    };
    let mut tracker = PlotTracker::new(plot, grid, Array2::from_elem((s.height, s.width), 1));
    let settings = TrackSettings {
        params: TemporalParams::default(),
        rules: Default::default(),
        min_pixels: [5; 3],
        pixel_area: 100.0,
    };
    let n = s.height * s.width;
    for (t, date) in s.dates.iter().enumerate() {
        let ndvi: Vec<f32> =
            (0..n).map(|i| if s.cloud[t * n + i] == 0.0 { s.ndvi[t * n + i] } else { f32::NAN }).collect();
        let class: Vec<u8> = ndvi.iter().map(|v| classify_ndvi_only(*v) as u8).collect();
        let clear_pixels = class.iter().filter(|c| **c != LandClass::NoData as u8).count();
        let clear = clear_pixels as f32 / n as f32;
        // NDVI alone: no reflectance for the seasonal model, which then judges by class.
        let mut planes =
            ObservationPlanes { class, bands: vec![f32::NAN; 6 * n], ndvi: ndvi.clone(), bsi: vec![f32::NAN; n] };
        let dormant = season && is_dormant(median(ndvi.iter().copied()), clear);
        if dormant {
            set_aside_bare(&mut planes);
        }
        let obs = PlotObservation {
            planes,
            plot_pixels: n,
            clear_pixels,
            has_swir: false,
            inside_scene: true,
            cloud_like: Vec::new(),
        };
        let ctx = DateContext::on(day_number(*date), !dormant);
        let acq = Acquisition { day: ctx.day, scene_id: format!("eolearn-{date}") };
        tracker.observe(&CpuBackend::new(), &acq, &obs, &ctx, &settings).unwrap();
    }
    tracker.flags.iter().filter(|f| f.kind == FlagKind::IdleBare).count()
}

#[test]
fn seasonal_low_ndvi_and_clouds_raise_no_idle_flag() {
    let Some(dir) = common::real_data("eolearn-s2-ndvi-series") else { return };
    let series = load(&dir);
    let with_season = idle_flags(&series, true);
    let without = idle_flags(&series, false);
    println!(
        "eolearn NDVI series, {} dates: idle_bare flags {with_season} (without the season check: {without})",
        series.dates.len()
    );
    assert_eq!(with_season, 0, "no idle ground in a forest patch");
    assert!(without > 0, "the series does hold winters that a plain NDVI rule takes for idle ground");
}
