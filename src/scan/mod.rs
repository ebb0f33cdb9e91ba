//! The monthly scan's algorithms: what one acquisition shows in a plot's windows ([`observe`]) and how
//! each plot's pixels and events are tracked from one acquisition to the next, with the flag lifecycle
//! ([`tracker`]); the scan's settings ([`ScanOptions`]). The job that reads the registry and the scenes,
//! runs these over every plot and writes the store is [`crate::jobs::scan`].

pub mod observe;
pub mod tracker;

use serde::{Deserialize, Serialize};

use crate::spectral::ClassRules;
use crate::temporal::TemporalParams;

/// Settings of the scan (config file `[scan]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanOptions {
    /// Temporal rules.
    pub temporal: TemporalParams,
    /// Class rules.
    pub rules: ClassRules,
    /// Minimum mapping unit of a new event in square metres.
    pub min_area_m2: f64,
    /// Minimum mapping units of single kinds, where they differ from `min_area_m2`.
    pub min_area_by_kind: MinAreaByKind,
    /// Minimum mapping unit in pixels, whatever the pixel size.
    pub min_pixels: usize,
    /// Ground read around each plot, so cloud edges and context are seen.
    pub plot_margin_m: f64,
    /// Buffer around clouds, shadows and nodata, so their edges do not become changes.
    pub cloud_buffer_m: f64,
    /// Pixels of per-pixel temporal state held in memory at once: plots are scanned in groups of at
    /// most this many pixels, so memory does not grow with the registry. Not a config key (tests set it
    /// to scan in many groups).
    #[serde(skip)]
    pub state_budget_px: usize,
}

/// Memory the per-pixel temporal state of one group of plots may take (about half a pixel's working
/// memory in a scan: observations, masks and GDAL's block cache come on top).
pub const STATE_BUDGET_BYTES: usize = 384 << 20;

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            temporal: TemporalParams::default(),
            rules: ClassRules::default(),
            min_area_m2: 500.0,
            min_area_by_kind: MinAreaByKind::default(),
            min_pixels: 4,
            plot_margin_m: 60.0,
            cloud_buffer_m: 20.0,
            state_budget_px: STATE_BUDGET_BYTES / std::mem::size_of::<crate::temporal::PixelState>(),
        }
    }
}

/// Minimum mapping units per kind (config file `[scan.min_area_by_kind]`), in square metres; `None`
/// takes `min_area_m2`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinAreaByKind {
    /// New buildings and hard surfaces.
    pub construction: Option<f64>,
    /// Stripping, excavation, fill.
    pub earthworks: Option<f64>,
    /// Idle bare ground.
    pub idle_bare: Option<f64>,
}

impl Default for MinAreaByKind {
    /// Bare soil is judged from mixed pixels at 10 m: a patch of five to nine pixels is as often a
    /// field edge, a track or a yard that the neighbouring pixels bleed into as it is a disturbed piece
    /// of ground, and one such patch on the real Changsha series raised an earthworks and an idle flag
    /// on ground that changed with its neighbours' seasons. Bare-ground events therefore start at 0.1
    /// ha (ten Sentinel-2 pixels); a building is spectrally distinct and keeps `min_area_m2`.
    fn default() -> Self {
        MinAreaByKind { construction: None, earthworks: Some(1000.0), idle_bare: Some(1000.0) }
    }
}
