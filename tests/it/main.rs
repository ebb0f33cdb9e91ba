//! The integration tests, one binary: a module per area, each file a former test binary of its own, and
//! one folder of helpers (`support`): GDAL, wgpu and the crate are linked once, not once per file.
//!
//! `cargo test --release --test it scan::` runs one area, `cargo test --release --test it ::slow::` the
//! slow tests alone and `cargo test --release --test it -- --skip ::slow::` the rest (README.md).
//!
//! The former binaries now share one process, so a test must not change what is process-wide: no
//! `std::env::set_var` or current directory (give a child process its environment with
//! `Command::env`), no GDAL config option (pass `--config` to the binary), and a logger only where it
//! keeps to its own thread's records (`backend::gpu_fallback`).

mod backend;
mod change;
mod cli;
mod drone;
mod examples;
mod golden_outputs;
mod layers;
mod outputs;
mod report;
mod scan;
mod serve;
mod stac;
mod store;
mod support;
mod temporal;
