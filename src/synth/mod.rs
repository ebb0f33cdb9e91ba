//! Synthetic imagery with known truth, made in code: test fixtures and the bundled demo area.
//! Everything is deterministic for a seed, on every platform.

pub mod drone;
pub mod noise;
pub mod rng;
pub mod spectra;
