//! Writing results: flag vectors in every format users ask for, change rasters, all atomically.

pub mod atomic;
pub mod changefeed;
pub mod files;
pub mod raster;
pub mod vector;

pub use atomic::AtomicOutput;
pub use files::RunFiles;
pub use vector::{VectorFormat, resolve_format, write_flags};
