//! `jingtu change`: bi-temporal change detection on generated pairs and real ones.

mod bad_input;
mod formats;
mod real_taizhou;
mod rgb_real;
mod rgb_synthetic;
mod streaming;
mod synthetic;
