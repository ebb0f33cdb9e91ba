//! The per-pixel temporal logic of the monthly scan.
//!
//! Each plot pixel carries its state from acquisition to acquisition ([`PixelState`]): a seasonal
//! model of what it looks like through the year ([`model`], harmonic regression updated one observation
//! at a time), the observations that currently depart from it, and the runs and events the accepted
//! observations build ([`rules`]). Invalid observations (nodata, cloud, shadow, snow, ambiguous) leave
//! it untouched, so clouds pause a run rather than ending or extending it. A persistent departure
//! from the model is a break; the classes before and after it name the event:
//!
//! | before | after | event |
//! | --- | --- | --- |
//! | vegetation, water, built, other bare soil | bare soil | `earthworks` (stripping, filling, demolition, excavation) |
//! | anything but established buildings | built | `construction` |
//! | bare soil | dust net | covered: ends the idle run, never construction |
//! | bare run of three calendar months the pixel's seasons do not explain | | `idle_bare` |
//!
//! Pixels with too short a history (under [`ModelParams::full_min_obs`] observations over
//! [`ModelParams::full_min_span_days`] in their current segment) are judged by class alone, more cautiously: a change of class must be seen twice in a row,
//! vegetation turning bare is not works (every harvest looks like it), and a flag says so in its
//! evidence.

pub mod model;
pub mod rules;
pub mod season;
pub mod state;

pub use model::ModelParams;
pub use rules::{ActiveEvents, DateContext, TemporalParams, active_events, update_pixel};
pub use state::{NONE_DAY, PixelObservation, PixelState, TemporalState, day_number, from_day_number};
