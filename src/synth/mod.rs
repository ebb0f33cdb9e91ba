//! Synthetic imagery with known truth, made in code: test fixtures and the bundled demo area.
//! Everything is deterministic for a seed, on every platform.

pub mod area;
pub mod drone;
pub mod noise;
pub mod pair;
pub mod rng;
pub mod scene_writer;
pub mod score;
pub mod spectra;
