//! Per-pixel spectral science: indices and land-cover classes. Scalar functions here are the reference
//! that both backends implement (the CPU backend calls them; the WGSL shaders mirror them line by line).

pub mod classes;
pub mod cloud;
pub mod indices;
pub mod rgb;

pub use classes::{ClassRules, LandClass};
pub use indices::{IndexKind, IndexStack};
pub use rgb::{RgbFeature, RgbFeatures};
