//! Pure raster types: where pixels are on the ground and what each band of a stack means. No GDAL here.

mod bands;
mod grid;

pub use bands::{BandRole, BandStack};
pub use grid::{Bounds, GeoTransform, Grid, Window};
