//! `jingtu scan`: the monthly scan of a plot registry, on generated and real series.

mod backends;
mod bad_input;
mod changefeed;
mod demo_truth;
mod incremental;
mod landscape;
mod real_eolearn;
mod registry_formats;
mod remote;
mod reviews;
mod slow;
