//! From pixel decisions to polygons: connected regions, minimum mapping unit, polygonizing.

pub mod components;
pub mod polygonize;
pub mod union_find;

pub use components::{Regions, label_regions, merge_small, merge_small_parts, remove_small};
pub use polygonize::{RegionPolygon, polygonize, polygonize_band, polygonize_crop};
