//! The `change` job: two rasters in, flags and a change raster out.

pub mod stream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Serialize;

use crate::align::{common_grid, read_on_grid, resampling_for, window_of};
use crate::change::dark_object::subtract_dark_object;
use crate::change::evidence::{FlagContext, SceneRef, flags_from_detection};
use crate::change::{CHANGE_PALETTE, ChangeCode, ChangeOptions, detect};
use crate::compute::Backend;
use crate::error::{Error, Result};
use crate::export::raster::write_codes;
use crate::export::{RunFiles, VectorFormat, write_flags};
use crate::flags::{Flag, FlagSet, stable_id};
use crate::io::plots::{PlotFields, PlotRegistry};
use crate::io::{BandSelection, Raster};
use crate::progress::Progress;
use crate::raster::{BandRole, BandStack, Grid};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    /// Earlier raster.
    pub before: PathBuf,
    /// Later raster.
    pub after: PathBuf,
    /// Band mapping and scaling.
    pub bands: BandSelection,
    /// Optional plot registry: only changes inside plots are kept.
    pub plots: Option<PathBuf>,
    /// Registry field names.
    pub plot_fields: PlotFields,
    /// Flag output.
    pub out: PathBuf,
    /// Flag output format (else from the extension).
    pub format: Option<VectorFormat>,
    /// Optional change raster output.
    pub change_raster: Option<PathBuf>,
    /// Accept inputs without georeferencing and compare them pixel by pixel (`--pixel-grid`).
    pub pixel_grid: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Detector settings.
    pub options: ChangeOptions,
}

/// What the job found, for the terminal and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeSummary {
    /// The detector that ran: `multispectral` or `rgb`.
    pub method: String,
    /// The analysis grid.
    pub grid: Grid,
    /// False when the inputs had no georeferencing and were compared pixel by pixel.
    pub georeferenced: bool,
    /// Pixels valid on both dates.
    pub valid_pixels: usize,
    /// Pixels changed (any kind, after the minimum mapping unit).
    pub changed_pixels: usize,
    /// Threshold applied to the RMS change.
    pub threshold_rms: f32,
    /// Otsu's cut before the floor (reported for comparison).
    pub otsu_rms: Option<f32>,
    /// The minimum-error cut before the floor (what the threshold follows where there is one).
    pub min_error_rms: Option<f32>,
    /// Share of pixels used as invariant for normalization.
    pub invariant_fraction: f64,
    /// Flags by kind.
    pub flags_by_kind: BTreeMap<String, usize>,
    /// Flags written.
    pub flags: usize,
    /// Outputs written.
    pub outputs: Vec<PathBuf>,
    /// Backend that ran the kernels.
    pub backend: String,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
}

/// Runs the job. Outputs are checked before any work and written atomically at the end.
pub fn run_change(backend: &dyn Backend, req: &ChangeRequest, progress: &dyn Progress) -> Result<ChangeSummary> {
    let format = crate::export::resolve_format(&req.out, req.format)?;
    check_outputs(req, format)?;
    // Without a change raster the streaming path need not mark nodata in the codes: nobody sees them.
    let outcome = compute(backend, req, req.change_raster.is_some(), progress)?;
    progress.stage("writing");
    let outputs = outcome.write_outputs(&req.out, format, req.change_raster.as_deref(), req.overwrite)?;
    Ok(ChangeSummary { outputs, ..outcome.summary })
}

/// What the `change` job found, in memory: the flags and the change raster, before anything is written.
#[derive(Debug, Clone)]
pub struct ChangeOutcome {
    /// What was found; `outputs` is empty until written.
    pub summary: ChangeSummary,
    /// The flags, in the order `jingtu change` writes them.
    pub flags: Vec<Flag>,
    /// The change raster: one [`ChangeCode`] per pixel of `grid`, as `--change-raster` writes it.
    pub codes: Array2<u8>,
    /// The analysis grid: size, geotransform and CRS (WKT, empty for pixel grids).
    pub grid: Grid,
}

impl ChangeOutcome {
    /// Writes the flags as `jingtu change --out PATH` does (the format from the extension); refuses an
    /// existing file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        self.write_to(path, None, false)
    }

    /// Writes the flags in `format` (else from the extension), replacing an existing file when `overwrite`.
    pub fn write_to(&self, path: impl AsRef<Path>, format: Option<VectorFormat>, overwrite: bool) -> Result<PathBuf> {
        let path = path.as_ref();
        let format = crate::export::resolve_format(path, format)?;
        write_flags(path, format, &self.flag_set(), overwrite)?;
        Ok(path.to_path_buf())
    }

    /// Writes the change raster as `jingtu change --change-raster PATH` does.
    pub fn write_change_raster(&self, path: impl AsRef<Path>, overwrite: bool) -> Result<PathBuf> {
        let path = path.as_ref();
        write_codes(path, &self.grid, self.codes.view(), &CHANGE_PALETTE, overwrite)?;
        Ok(path.to_path_buf())
    }

    /// The flags with their CRS, as the writers take them.
    pub fn flag_set(&self) -> FlagSet {
        FlagSet { flags: self.flags.clone(), crs_wkt: self.grid.crs_wkt.clone() }
    }

    /// Writes the flags (and the change raster when asked for) of either path of the job.
    fn write_outputs(
        &self,
        out: &Path,
        format: VectorFormat,
        change_raster: Option<&Path>,
        overwrite: bool,
    ) -> Result<Vec<PathBuf>> {
        let mut outputs = vec![self.write_to(out, Some(format), overwrite)?];
        if let Some(path) = change_raster {
            outputs.push(self.write_change_raster(path, overwrite)?);
        }
        Ok(outputs)
    }
}

/// Computes the job's flags and change raster in memory; reads `req`'s inputs and settings, not its
/// outputs. With `full_codes` false, the streaming path may leave nodata unmarked in the codes.
pub(crate) fn compute(
    backend: &dyn Backend,
    req: &ChangeRequest,
    full_codes: bool,
    progress: &dyn Progress,
) -> Result<ChangeOutcome> {
    progress.stage("reading inputs");
    let before = Raster::open(&req.before)?;
    let after = Raster::open(&req.after)?;
    let map_before = before.band_map(&req.bands, &[BandRole::Blue, BandRole::Green, BandRole::Red])?;
    let map_after = after.band_map(&req.bands, &map_before.roles())?;
    // Compare only what both dates have, in the same order.
    let roles = map_before.roles();
    let map_after = crate::io::BandMap {
        bands: roles
            .iter()
            .map(|r| *map_after.bands.iter().find(|b| b.role == *r).expect("checked by band_map"))
            .collect(),
        origin: map_after.origin,
        surface_reflectance: map_after.surface_reflectance,
    };
    let mut warnings = Vec::new();
    let mut grid = common_grid(&before, &after)?;
    // RGB imagery (drone orthomosaics at a few centimetres) is compared at a working resolution: the
    // detector's segments and neighbourhoods are sized for buildings at 0.5 to 1.5 m pixels, and a
    // 20000-pixel orthomosaic pair at 5 cm reads as 2000 pixels at 0.5 m, averaged, in bounded memory.
    let rgb_bands = !map_before.has(BandRole::Nir);
    let min_rgb = req.options.rgb.min_resolution_m;
    if rgb_bands
        && before.info().georeferenced
        && grid.transform.pixel_size().0.max(grid.transform.pixel_size().1) < min_rgb
    {
        grid = Grid::covering(grid.crs_wkt.clone(), grid.epsg, &grid.bounds(), min_rgb);
        warnings.push(format!("RGB imagery compared at {min_rgb} m, its colours averaged over each pixel"));
    }
    let georeferenced = before.info().georeferenced;
    if !georeferenced {
        if !req.pixel_grid {
            return Err(Error::input(
                &req.before,
                "has no georeferencing; pass --pixel-grid to compare the two images pixel by pixel (areas in pixels)",
            ));
        }
        warnings.push("inputs have no georeferencing: compared on their pixel grid; areas are in pixels".to_string());
    }
    // Inputs whose pixels are the grid's stream through in strips: the same result in bounded memory.
    // (Imagery with red, green and blue only has a detector of its own, which works on the whole scene.)
    let streamed = if rgb_bands { None } else { stream::plan(&req.options, &before, &after, &grid) };
    if let Some(plan) = streamed {
        let inputs = stream::Inputs { before, after, map_before, map_after, grid, georeferenced, warnings };
        return stream::run(backend, req, full_codes, plan, inputs, progress);
    }
    progress.stage("aligning");
    let mut stack_before = read_on_grid(&before, &map_before, &grid, resampling_for(&before, &grid))?;
    let mut stack_after = read_on_grid(&after, &map_after, &grid, resampling_for(&after, &grid))?;
    scale(backend, &mut stack_before, &map_before)?;
    scale(backend, &mut stack_after, &map_after)?;
    // RGB without NIR has its own detector, which learns the colour relation between the dates from
    // the pair itself, so haze removal (a per-band offset) would only shift its colour groups.
    let rgb_only = crate::change::rgb::is_rgb_only(&stack_before);
    if rgb_only {
        warnings.push(
            "red, green and blue only: no NIR or SWIR indices; change from colour relations between the dates, \
             judged over image segments"
                .into(),
        );
    } else if !map_before.surface_reflectance {
        warnings.push(
            "inputs are digital numbers, not surface reflectance: haze removed by dark-object subtraction".into(),
        );
        subtract_dark_object(backend, &mut stack_before)?;
        subtract_dark_object(backend, &mut stack_after)?;
    }
    for (stack, path) in [(&stack_before, &req.before), (&stack_after, &req.after)] {
        if stack.valid_count() == 0 {
            return Err(Error::input(
                path,
                "all pixels are nodata (or NaN, infinite or absurd values) over the area both inputs cover; nothing to compare",
            ));
        }
    }
    let both_valid =
        stack_before.valid.iter().zip(stack_after.valid.iter()).filter(|(a, b)| **a != 0 && **b != 0).count();
    if both_valid == 0 {
        return Err(Error::NoOverlap {
            a: req.before.clone(),
            b: req.after.clone(),
            detail: "their valid pixels never coincide (nodata covers one wherever the other has data)".into(),
        });
    }
    let (region_keys, plots) = match &req.plots {
        Some(path) => {
            let registry = PlotRegistry::open(path, &req.plot_fields)?;
            warnings.extend(registry.warnings.iter().map(|w| format!("{}: {w}", path.display())));
            (registry.rasterize(&grid)?, Some(registry.plots))
        }
        None => (Array2::from_elem((grid.height, grid.width), 1u32), None),
    };
    progress.stage("detecting change");
    let pixel_area = georeferenced.then(|| grid.transform.pixel_area());
    // The minimum mapping unit of satellite change (500 m2, five 10 m pixels) would erase every house
    // on drone and aerial imagery; RGB change has its own.
    let min_pixels = if rgb_only {
        let rgb = &req.options.rgb;
        pixel_area.filter(|a| *a > 0.0).map_or(0, |a| (rgb.min_area_m2 / a).ceil() as usize).max(req.options.min_pixels)
    } else {
        req.options.min_region_pixels(pixel_area)
    };
    let keys_for_detect = req.plots.as_ref().map(|_| &region_keys);
    // A date that had to be warped onto the grid is off by a fraction of a pixel: compare with tolerance.
    let warped = window_of(before.grid(), &grid).is_none() || window_of(after.grid(), &grid).is_none();
    let tolerance = if warped { req.options.misregistration_tolerance_px } else { 0 };
    let detection = if rgb_only {
        crate::change::rgb::detect_rgb(backend, &stack_before, &stack_after, keys_for_detect, min_pixels, &req.options)?
    } else {
        detect(backend, &stack_before, &stack_after, keys_for_detect, min_pixels, tolerance, &req.options)?
    };

    progress.stage("vectorizing");
    let scene = |r: &Raster, p: &Path| SceneRef {
        id: p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        date: r.info().acquired,
        path: p.display().to_string(),
    };
    let (sb, sa) = (scene(&before, &req.before), scene(&after, &req.after));
    let scan_id = stable_id(
        "change",
        &[
            &sb.id,
            &sa.id,
            &sb.date.map(|d| d.to_string()).unwrap_or_default(),
            &sa.date.map(|d| d.to_string()).unwrap_or_default(),
        ],
    );
    let ctx = FlagContext {
        before: &sb,
        after: &sa,
        plots: plots.as_deref(),
        has_swir: stack_before.has_swir(),
        scan_id: &scan_id,
        region_keys: &region_keys,
    };
    let flags = flags_from_detection(&detection, &grid, &ctx)?;
    let changed_pixels = detection.codes.iter().filter(|c| **c != 0 && **c != ChangeCode::NoData as u8).count();
    let summary = ChangeSummary {
        method: if rgb_only { "rgb" } else { "multispectral" }.to_string(),
        grid: grid.clone(),
        georeferenced,
        valid_pixels: detection.valid_pixels,
        changed_pixels,
        threshold_rms: detection.threshold,
        otsu_rms: detection.otsu_threshold,
        min_error_rms: detection.min_error_threshold,
        invariant_fraction: detection.normalization.invariant_fraction,
        flags_by_kind: count_by_kind(&flags),
        flags: flags.len(),
        outputs: Vec::new(),
        backend: backend.name(),
        warnings,
    };
    Ok(ChangeOutcome { summary, flags, codes: detection.codes, grid })
}

/// Flags by kind name.
pub(crate) fn count_by_kind(flags: &[Flag]) -> BTreeMap<String, usize> {
    let mut by_kind = BTreeMap::new();
    for f in flags {
        *by_kind.entry(f.kind.name().to_string()).or_insert(0) += 1;
    }
    by_kind
}

fn scale(backend: &dyn Backend, stack: &mut BandStack, map: &crate::io::BandMap) -> Result<()> {
    let gains: Vec<f32> = map.bands.iter().map(|b| b.scale as f32).collect();
    let offsets: Vec<f32> = map.bands.iter().map(|b| b.offset as f32).collect();
    backend.linear(stack, &gains, &offsets)
}

/// Refuses, before any work, outputs that exist (writing checks again, atomically; a Shapefile's
/// sidecars count) and outputs that are an input or each other (`--change-raster` equal to BEFORE would
/// replace the image it was computed from).
fn check_outputs(req: &ChangeRequest, format: VectorFormat) -> Result<()> {
    let mut files = RunFiles::new(req.overwrite).input("BEFORE", &req.before).input("AFTER", &req.after);
    if let Some(p) = &req.plots {
        files = files.input("--plots", p);
    }
    files = files.output("--out", &req.out, format.sidecars());
    if let Some(p) = &req.change_raster {
        files = files.output("--change-raster", p, &crate::export::raster::CODE_RASTER_SIDECARS);
    }
    files.check()
}
