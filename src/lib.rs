//! jingtu: a remote-sensing raster engine for the surveillance of development on contaminated land.
//!
//! It compares multi-temporal satellite and drone imagery over a registry of contaminated plots, finds
//! construction and ground disturbance, finds bare ground left idle, and exports flagged areas as
//! polygons with evidence.
//!
//! # Pipeline
//!
//! | step | module |
//! | --- | --- |
//! | read rasters, sensor profiles, plot registries (GDAL) | [`io`] |
//! | put inputs on one analysis grid (windows, GDAL warp); the scan's analysis frame | [`align`] |
//! | per-pixel kernels behind one interface (CPU with rayon; GPU with wgpu) | [`compute`] |
//! | indices, land-cover classes, cloud test | [`spectral`] |
//! | bi-temporal change: haze, normalization, statistic, threshold, kinds; RGB-only imagery | [`change`] |
//! | per-pixel temporal state of the monthly scan: bare runs, built runs, works | [`temporal`] |
//! | the monthly scan's observations, trackers and flag lifecycle | [`scan`] |
//! | drone flights: registration, tiled height change, structures, earthworks volumes | [`drone`] |
//! | regions, minimum mapping unit, polygons | [`vectorize`] |
//! | flags and their ids | [`flags`] |
//! | the GeoPackage store: state between scans, flag history, changefeed, QGIS styles | [`store`] |
//! | GeoPackage, GeoJSON, Shapefile, FlatGeobuf, CSV, GeoTIFF outputs; the changefeed's formats | [`export`] |
//! | the HTML scan report, image chips and quicklooks | [`report`] |
//! | the jobs: `change`, `scan`, `drone`, `report` read inputs, run the steps above, write outputs | [`jobs`] |
//! | synthetic scenes with known truth (fixtures, demo) | [`synth`] |
//! | the command line; the HTTP API | [`cli`], [`serve`] |
//!
//! # Library use
//!
//! The jobs the command line runs are called from Rust through [`ChangeJob`] and [`ScanJob`]; their
//! outcomes hold the flags (and, for a change, the change raster with its grid) in memory, and write the
//! files the command line writes only when asked:
//!
//! ```no_run
//! # fn main() -> jingtu::Result<()> {
//! use jingtu::{BackendChoice, ChangeJob, ScanJob};
//!
//! let change = ChangeJob::new("before.tif", "after.tif").backend(BackendChoice::Cpu).run()?;
//! for flag in &change.flags {
//!     println!("{} {:.0} m2", flag.kind.name(), flag.area_m2);
//! }
//! change.write("flags.gpkg")?; // what `jingtu change before.tif after.tif --out flags.gpkg` writes
//!
//! let scan = ScanJob::new("plots.gpkg", "scenes/").store("store.gpkg").run()?;
//! println!("{} flags, {} changed by this scan", scan.flags.len(), scan.summary.flags_changed);
//! # Ok(())
//! # }
//! ```
//!
//! `cargo run --release --example change_two_files` and `--example scan_registry` run both on
//! synthetic data.
//!
//! # Layers
//!
//! A module uses its own layer and those below, never one above, and no two modules use each other
//! (`tests/it/layers.rs` checks every `crate::` path against this table):
//!
//! | layer | modules |
//! | --- | --- |
//! | front ends | [`cli`], [`serve`] |
//! | jobs | [`jobs`], [`synth`] |
//! | outputs | [`store`], [`export`], [`report`] |
//! | algorithms | [`spectral`], [`temporal`], [`compute`], [`align`], [`vectorize`], [`change`], [`drone`], [`scan`] |
//! | base | [`error`], [`raster`], [`flags`], [`progress`], [`io`] |
//!
//! # Indices
//!
//! NDVI, BSI (Rikimaru 2002), NDBI (Zha 2003), MNDWI (Xu 2006) or NDWI without SWIR, brightness,
//! redness and green excess: see [`spectral::indices`]. For RGB imagery: brightness, chroma, excess
//! green ExG (Woebbecke 1995) and warmth on chromatic coordinates: see [`spectral::rgb`].
//!
//! # Detectors
//!
//! - Change: invariant-pixel normalization, 3x3-smoothed RMS difference, minimum-error threshold
//!   (Kittler-Illingworth) above a noise floor ([`change`]).
//! - Construction, earthworks and idle bare ground over time: runs and episodes per pixel
//!   ([`temporal`]), regions with hysteresis and a lifecycle per plot ([`scan::tracker`]).
//! - RGB change: departures from what ground of the same earlier colour usually became (brightening,
//!   greying, rarity), averaged over Felzenszwalb segments, Kapur's maximum-entropy cut
//!   ([`change::rgb`]).
//! - Drone height change: phase-correlation registration, walls, width and roughness tell structures
//!   from heaps, vehicles and trees; cut and fill volumes ([`drone`]).
#![deny(missing_docs)]

pub mod align;
pub mod change;
pub mod cli;
pub mod compute;
pub mod drone;
pub mod error;
pub mod export;
pub mod flags;
pub mod io;
pub mod jobs;
pub mod progress;
pub mod raster;
pub mod report;
pub mod scan;
pub mod serve;
pub mod spectral;
pub mod store;
pub mod synth;
pub mod temporal;
pub mod vectorize;

pub use compute::{Backend, BackendChoice};
pub use error::{Error, Result};
pub use flags::{Flag, FlagKind, FlagSet, FlagStatus};
pub use jobs::api::{ChangeJob, ScanJob, ScanOutcome};
pub use jobs::change::{ChangeOutcome, ChangeSummary};
pub use jobs::scan::ScanSummary;
