//! jingtu: a remote-sensing raster engine for the surveillance of development on contaminated land.
#![deny(missing_docs)]

pub mod error;
pub mod io;
pub mod raster;

pub use error::{Error, Result};
pub mod align;
pub mod change;
pub mod cli;
pub mod compute;
pub mod export;
pub mod flags;
pub mod progress;
pub mod spectral;
pub mod vectorize;
