//! A small generated case with one known change, for tests of what is drawn from a scan: image chips,
//! styles.
//!
//! ```text
//!   48 x 48 px at 10 m, EPSG:32651, four monthly scenes, nothing varies but the event (and one corner
//!   pixel far from the plot, so that no two months have the same content hash):
//!   +------------------------------------------------+
//!   | checkered fields (soil / grass, 4 px blocks)   |
//!   |        +------ plot (cols 10-33, rows 12-35) --+   grass inside the plot
//!   |        |       +--------+                      |   event (cols 18-25, rows 20-26):
//!   |        |       | ###### |                      |     grass in January, concrete from February
//!   |        |       +--------+                      |   -> one construction flag, first seen February
//!   |        +---------------------------------------+
//!   +------------------------------------------------+
//! ```
// Each test file uses its own subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use jingtu::io::plots::Category;
use jingtu::raster::GeoTransform;
use jingtu::synth::area::{PixRect, TruthPlot};
use jingtu::synth::scene_writer::{stac_item, write_item_collection, write_plots, write_scene};
use jingtu::synth::spectra::{CONCRETE, SOIL, VEGETATION, mix};

/// Pixels per side.
pub const SIZE: usize = 48;
/// West edge (UTM 51N).
pub const X0: f64 = 300_000.0;
/// North edge.
pub const Y0: f64 = 3_600_000.0;
/// Pixel size in metres.
pub const PIXEL: f64 = 10.0;
/// The registered plot.
pub const PLOT: PixRect = PixRect { col: 10, row: 12, width: 24, height: 24 };
/// Where the building goes up.
pub const EVENT: PixRect = PixRect { col: 18, row: 20, width: 8, height: 7 };

/// Whether pixel (`c`, `row`) is in `r`.
pub fn inside(r: &PixRect, c: i64, row: i64) -> bool {
    c >= r.col as i64 && c < (r.col + r.width) as i64 && row >= r.row as i64 && row < (r.row + r.height) as i64
}

/// `r` grown (or shrunk, for negative `by`) by `by` pixels on every side.
pub fn grown(r: &PixRect, by: i64) -> PixRect {
    PixRect {
        col: (r.col as i64 - by) as usize,
        row: (r.row as i64 - by) as usize,
        width: (r.width as i64 + 2 * by) as usize,
        height: (r.height as i64 + 2 * by) as usize,
    }
}

/// `s` with a ripple of 0-2 digital numbers (1e-4 reflectance) that repeats every three months: two
/// real acquisitions never agree to the last bit (the scan takes a month that repeats the previous one
/// bit for bit for a gap-filled composite, no look at all), and the quicklook dates, three months
/// apart, still show unchanged ground in the same colour.
fn ripple(s: &jingtu::synth::spectra::Spectrum, month: usize) -> jingtu::synth::spectra::Spectrum {
    s.map(|v| v + 1e-4 * (month % 3) as f32)
}

/// Writes the case into `dir`; returns (plots, catalogue).
pub fn write_case(dir: &Path) -> (PathBuf, PathBuf) {
    let transform = GeoTransform::north_up(X0, Y0, PIXEL, PIXEL);
    // Thirteen months of grass before the building (from 2026-02-10): a pixel's seasonal model needs a
    // year of history before a change is new construction.
    let dates: Vec<NaiveDate> =
        (0..16).map(|m| NaiveDate::from_ymd_opt(2025 + m / 12, (m % 12 + 1) as u32, 10).unwrap()).collect();
    let mut items = Vec::new();
    for (m, date) in dates.iter().enumerate() {
        let scene_dir = dir.join("scenes").join(date.to_string());
        let written = write_scene(&scene_dir, SIZE, &transform, |c, r| {
            let (ci, ri) = (c as i64, r as i64);
            if (c, r) == (SIZE - 1, SIZE - 1) {
                // Far outside the chips: makes each date's files differ, or identical months would be
                // one scene to the content hash.
                (Some(mix(&SOIL, &VEGETATION, m as f32 * 0.05)), 5)
            } else if m >= 13 && inside(&EVENT, ci, ri) {
                (Some(ripple(&CONCRETE, m)), 5)
            } else if inside(&PLOT, ci, ri) || ((c / 4) + (r / 4)) % 2 == 0 {
                (Some(ripple(&VEGETATION, m)), 4)
            } else {
                (Some(ripple(&SOIL, m)), 5)
            }
        })
        .unwrap();
        items.push(
            stac_item(
                &format!("S2A_MSIL2A_{}T025101_T51STR", date.format("%Y%m%d")),
                date,
                &scene_dir,
                dir,
                written.cloud_cover,
                &transform,
                SIZE,
                32651,
            )
            .unwrap(),
        );
    }
    let catalog = dir.join("catalog.json");
    write_item_collection(&catalog, items).unwrap();
    let plots = dir.join("plots.gpkg");
    let plot = TruthPlot {
        plot_id: "TEST-001".into(),
        name: "化工厂旧址测试地块".into(),
        category: Category::ContaminatedListed,
        works_allowed: false,
        rect: PLOT,
    };
    write_plots(&plots, &[plot], &transform, dates[0]).unwrap();
    (plots, catalog)
}
