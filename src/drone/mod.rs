//! Drone flights: two surface models (and optionally two orthomosaics) of one site, flown at different
//! times, compared for what was built, demolished, dug or heaped up (`jingtu drone`).
//!
//! 1. Both flights go onto one grid: the CRS and the coarser resolution of the two surface models (never
//!    finer than `min_resolution_m`), over the ground they share ([`crate::align::common_grid`]).
//! 2. Registration ([`register`]): the horizontal shift left between the flights is measured by phase
//!    correlation on the orthomosaics (else on the surface models) in a few windows, and corrected when
//!    it is small and consistent; the vertical offset is the median height change over the survey.
//! 3. Height change, tile by tile with bounded memory ([`tiles`], [`height`]), in three passes over
//!    scratch rasters ([`scratch`]) whose regions are joined across tile borders ([`stitch`]):
//!    - the high parts (at least `structure_min_height_m` up or down) are judged as regions
//!      ([`classify`]): a structure has walls, is wide enough and is not vegetation; narrow walled
//!      objects (vehicles) and vegetation are set aside; smooth high parts are heaps or pits;
//!    - everything else that moved by at least `earthworks_extent_m` forms earthworks regions, kept
//!      where at least `earthworks_min_area_m2` moved by `earthworks_min_change_m`, with cut and fill
//!      volumes ([`classify`]);
//!    - the final regions are written as one raster and polygonized in one go, so polygons do not
//!      split along tile borders.
//! 4. Flags (`height_gain`, `height_loss`, `earthworks`) with the evidence: heights, volumes,
//!    registration ([`crate::jobs::drone`], the job that runs these steps and writes the outputs).

pub mod classify;
pub mod height;
pub mod register;
pub mod scratch;
pub mod stitch;
pub mod tiles;

use serde::{Deserialize, Serialize};

/// Settings of the drone job (config file `[drone]`). Defaults are what every user gets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DroneOptions {
    /// Finest analysis resolution (metres): finer surface models are averaged up to it. Buildings and
    /// earthworks need no more than 10 cm, and every halving of the pixel quadruples the work.
    pub min_resolution_m: f64,
    /// Height change (metres) a new or removed structure must reach (ISPRS building-change practice).
    pub structure_min_height_m: f64,
    /// Smallest footprint (square metres) of a structure at that height.
    pub structure_min_area_m2: f64,
    /// Narrowest structure (metres): anything narrower (a truck is 2.5 m) is a vehicle or a container.
    pub structure_min_width_m: f64,
    /// Slope (rise over run) from which the edge of a high part counts as a wall (2.0 is 63 degrees).
    pub wall_min_slope: f64,
    /// Share of a high part's edge that must be walls for a structure.
    pub wall_min_fraction: f64,
    /// Height change (metres) that marks cut or fill.
    pub earthworks_min_change_m: f64,
    /// Smallest area (square metres) cut or filled by that much for an earthworks flag.
    pub earthworks_min_area_m2: f64,
    /// Earthworks regions extend to where the change falls below this (metres), so their volumes
    /// include the shallow rims.
    pub earthworks_extent_m: f64,
    /// Deviation of the surface from its local mean (metres) that makes a pixel rough (tree crowns).
    pub roughness_m: f64,
    /// Share of vegetation on the orthomosaic that makes a rough high part vegetation rather than a
    /// structure or a heap.
    pub vegetation_min_fraction: f64,
    /// Without orthomosaics: share of rough surface (away from the walls) that makes a high part tree
    /// canopy. Crowns measure over half; flat roofs next to none, gable roofs a tenth (the ridge).
    pub canopy_min_rough_fraction: f64,
    /// NDVI from which an orthomosaic pixel with NIR is vegetation.
    pub vegetation_min_ndvi: f64,
    /// Excess green (2g - r - b on chromatic coordinates) from which an RGB orthomosaic pixel is
    /// vegetation; grass and leaves are about 0.15 to 0.5, soil and roofs below 0.05.
    pub vegetation_min_exg: f64,
    /// Residual shifts up to this length (metres) are corrected; longer ones are reported and left.
    pub max_shift_correction_m: f64,
    /// Correlation peak below which a registration window is not used.
    pub shift_min_peak: f64,
    /// Windows disagreeing by more than this (pixels) leave the shift uncorrected.
    pub shift_max_spread_px: f64,
    /// Size (pixels) of the square windows the shift is measured in.
    pub shift_window_px: usize,
    /// Core size (pixels) of the tiles processed at once.
    pub tile_size: usize,
}

impl Default for DroneOptions {
    fn default() -> Self {
        DroneOptions {
            min_resolution_m: 0.1,
            structure_min_height_m: 2.5,
            structure_min_area_m2: 15.0,
            structure_min_width_m: 3.0,
            wall_min_slope: 2.0,
            wall_min_fraction: 0.5,
            earthworks_min_change_m: 0.5,
            earthworks_min_area_m2: 100.0,
            earthworks_extent_m: 0.25,
            roughness_m: 0.2,
            vegetation_min_fraction: 0.5,
            canopy_min_rough_fraction: 0.35,
            vegetation_min_ndvi: 0.3,
            vegetation_min_exg: 0.1,
            max_shift_correction_m: 1.0,
            shift_min_peak: 0.05,
            shift_max_spread_px: 1.5,
            shift_window_px: 512,
            tile_size: 1024,
        }
    }
}
