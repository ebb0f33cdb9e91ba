//! The monthly scan's per-pixel step on the GPU backend.
//!
//! The seasonal model's step (`temporal::update_pixel`) is not yet a WGSL kernel: until it is, the GPU
//! backend runs the CPU reference for it, so both backends give the same states and events.

use crate::compute::{CpuBackend, ObservationPlanes};
use crate::error::Result;
use crate::spectral::ClassRules;
use crate::temporal::{DateContext, PixelState, TemporalParams};

/// `Backend::temporal_update`.
pub(super) fn temporal_update(
    state: &mut [PixelState],
    observations: &ObservationPlanes,
    context: &DateContext,
    params: &TemporalParams,
    rules: &ClassRules,
) -> Result<Vec<u8>> {
    Ok(CpuBackend::temporal(state, observations, context, params, rules))
}
