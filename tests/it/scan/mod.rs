//! `jingtu scan`: the monthly scan of a plot registry, on generated and real series.

mod backends;
mod bad_input;
mod changefeed;
mod demo_truth;
mod incremental;
mod landscape;
mod large_registry;
mod real_changsha;
mod real_eolearn;
mod registry_formats;
mod remote;
mod reviews;
