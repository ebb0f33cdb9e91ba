//! Everything that touches files through GDAL: rasters, sensor profiles, dates, CRSs, plot registries.

pub mod crs;
pub mod dates;
pub mod gdal_env;
pub mod masks;
pub mod plots;
pub mod raster;
pub mod scenes;
pub mod sensor;
pub mod vector_info;
pub mod vsi;

pub use raster::{BandMap, BandSelection, MappedBand, Raster, RasterInfo};
pub use sensor::Sensor;
