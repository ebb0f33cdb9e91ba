//! The jobs: each reads its inputs, runs the algorithms below it and writes its outputs. This is the
//! only layer below the command line that both reads files and writes them; the algorithm modules
//! ([`crate::change`], [`crate::drone`], [`crate::scan`], ...) take and return values, and the output
//! modules ([`crate::store`], [`crate::export`], [`crate::report`]) only write what they are given.
//!
//! | job | command | inputs | outputs |
//! | --- | --- | --- | --- |
//! | [`change`] | `jingtu change` | two rasters, optionally plots | flags, change raster |
//! | [`scan`] | `jingtu scan`, `jingtu demo` | plot registry, scenes, the store | the store, flags |
//! | [`drone`] | `jingtu drone` | two flights' surface models and orthomosaics | flags, height raster |
//! | [`report`] | `jingtu report`, after `jingtu scan` | the store, the scanned imagery | HTML report, quicklooks |
//!
//! [`api`] is the same jobs for a Rust caller: [`api::ChangeJob`] and [`api::ScanJob`] hand the flags back in
//! memory and write them only when asked.

pub mod api;
pub mod change;
pub mod drone;
pub mod report;
pub mod scan;
