//! The per-pixel temporal logic of the monthly scan.
//!
//! Each plot pixel carries a small state from acquisition to acquisition ([`PixelState`]): its last valid
//! class, the unbroken run of bare observations it is in, the run of built observations, and the
//! episode of soil disturbance. Every valid observation updates it ([`rules::update_pixel`]); invalid
//! ones (nodata, cloud, shadow, snow, ambiguous) leave it untouched, so clouds pause a run rather than
//! ending or extending it. After each update the state says which events a pixel shows
//! ([`rules::active_events`]):
//!
//! - `construction`: built on two consecutive valid observations after at least two valid observations
//!   of something else (a building that was already there is not construction);
//! - `earthworks`: soil disturbed on two observations within 120 days: bare soil whose brightness
//!   changed beyond what the whole scene's bare soil did (rain, sun), or ground that turns into bare soil
//!   that is not ordinary dry soil (moist excavated soil, light fill). Harvest turns crops into ordinary
//!   soil and is not earthworks; an irrigated field once is not either;
//! - `idle_bare`: an unbroken run of undisturbed bare observations that has lasted the idle period
//!   (three calendar months) with the latest valid observation still bare. Vegetation (re-greened),
//!   covers (dust nets), buildings and water end the run; works restart it.

pub mod rules;
pub mod season;
pub mod state;

pub use rules::{ActiveEvents, DateContext, TemporalParams, active_events, update_pixel};
pub use state::{NONE_DAY, PixelObservation, PixelState, TemporalState, day_number, from_day_number};
