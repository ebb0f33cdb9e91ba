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
//! | put inputs on one analysis grid (windows, GDAL warp) | [`align`] |
//! | per-pixel kernels behind one interface (CPU; GPU) | [`compute`] |
//! | indices, land-cover classes, haze correction | [`spectral`] |
//! | bi-temporal change: normalization, statistic, threshold, kinds | [`change`] |
//! | regions, minimum mapping unit, polygons | [`vectorize`] |
//! | flags and their ids | [`flags`] |
//! | GeoPackage, GeoJSON, Shapefile, FlatGeobuf, CSV, GeoTIFF outputs; QGIS styles | [`export`] |
//! | the HTML scan report, image chips and quicklooks | [`report`] |
//! | synthetic scenes with known truth (fixtures, demo) | [`synth`] |
//! | the command line | [`cli`] |
//!
//! # Indices
//!
//! NDVI, BSI (Rikimaru 2002), NDBI (Zha 2003), MNDWI (Xu 2006) or NDWI without SWIR, brightness,
//! redness and green excess: see [`spectral::indices`].
//!
//! # Detectors
//!
//! - Change: invariant-pixel normalization, 3x3-smoothed RMS difference, minimum-error threshold
//!   (Kittler-Illingworth) above a noise floor ([`change`]).
#![deny(missing_docs)]

pub mod align;
pub mod change;
pub mod cli;
pub mod compute;
pub mod error;
pub mod export;
pub mod flags;
pub mod io;
pub mod progress;
pub mod raster;
pub mod report;
pub mod scan;
pub mod spectral;
pub mod store;
pub mod synth;
pub mod temporal;
pub mod vectorize;

pub use error::{Error, Result};
