//! The `drone` job: two flights in, height-change flags (and optionally a height-change raster) out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gdal::DriverManager;
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::vector::Geometry;
use ndarray::{Array2, ArrayView2, Zip};
use serde::Serialize;
use serde_json::json;

use crate::align::{Resampling, common_grid, read_band_on_grid, read_on_grid, resampling_for};
use crate::compute::Backend;
use crate::drone::DroneOptions;
use crate::drone::classify::{FinalStats, HighStats, HighVerdict, final_keys, judge_final, judge_high};
use crate::drone::height::{
    HIGH_GAIN, HIGH_LOSS, PixelRules, bits, high_classes, tile_heights, vegetation_mask, wall_step_px, walls,
};
use crate::drone::register::{
    PhaseShift, ShiftEstimate, ShiftPolicy, VerticalOffset, combine_shifts, overview_grid, phase_correlation,
    sample_windows, shifted_grid, vertical_offset,
};
use crate::drone::scratch::{ScratchDir, ScratchRaster};
use crate::drone::stitch::{Stitched, TiledLabeller};
use crate::drone::tiles::Tiling;
use crate::error::{Error, Result};
use crate::export::{AtomicOutput, RunFiles, VectorFormat, write_flags};
use crate::flags::{ENGINE_VERSION, Flag, FlagKind, FlagSet, FlagStatus, round4, stable_id};
use crate::io::plots::{Plot, PlotFields, PlotRegistry, rasterize_geometries};
use crate::io::{BandMap, BandSelection, Raster};
use crate::progress::Progress;
use crate::raster::{BandRole, BandStack, Bounds, Grid, Window};
use crate::vectorize::polygonize_band;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct DroneRequest {
    /// Surface model of the earlier flight.
    pub before_dsm: PathBuf,
    /// Surface model of the later flight.
    pub after_dsm: PathBuf,
    /// Orthomosaic of the earlier flight.
    pub before_ortho: Option<PathBuf>,
    /// Orthomosaic of the later flight.
    pub after_ortho: Option<PathBuf>,
    /// Band mapping of the orthomosaics.
    pub bands: BandSelection,
    /// Optional plot registry: only changes inside plots are kept.
    pub plots: Option<PathBuf>,
    /// Registry field names.
    pub plot_fields: PlotFields,
    /// Flag output.
    pub out: PathBuf,
    /// Flag output format (else from the extension).
    pub format: Option<VectorFormat>,
    /// Optional height-change raster (GeoTIFF, Float32 metres, after registration).
    pub height_raster: Option<PathBuf>,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Settings.
    pub options: DroneOptions,
}

/// What the job found, for the terminal and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct DroneSummary {
    /// The analysis grid.
    pub grid: Grid,
    /// Its pixel size (metres).
    pub resolution_m: f64,
    /// Tiles processed per pass.
    pub tiles: usize,
    /// The horizontal shift between the flights, where it could be measured.
    pub shift: Option<ShiftEstimate>,
    /// The vertical offset between the flights.
    pub vertical: VerticalOffset,
    /// Pixels where both surface models have data.
    pub valid_pixels: u64,
    /// Flags by kind.
    pub flags_by_kind: BTreeMap<String, usize>,
    /// Flags written.
    pub flags: usize,
    /// Total cut of the earthworks flags (cubic metres).
    pub cut_m3: f64,
    /// Total fill of the earthworks flags (cubic metres).
    pub fill_m3: f64,
    /// Outputs written.
    pub outputs: Vec<PathBuf>,
    /// Backend that ran the kernels.
    pub backend: String,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
}

/// The job's result: the summary and the flags as written.
#[derive(Debug, Clone)]
pub struct DroneResult {
    /// Summary.
    pub summary: DroneSummary,
    /// Flags, ordered by id.
    pub flags: Vec<Flag>,
}

/// One flight's inputs, opened.
struct Flight {
    dsm: Raster,
    ortho: Option<(Raster, BandMap)>,
    dsm_path: PathBuf,
    ortho_path: Option<PathBuf>,
}

impl Flight {
    fn open(dsm: &Path, ortho_path: Option<&Path>, bands: &BandSelection) -> Result<Flight> {
        let dsm_raster = Raster::open(dsm)?;
        check_surface_model(&dsm_raster)?;
        let ortho = match ortho_path {
            Some(p) => {
                let r = Raster::open(p)?;
                let map = r.band_map(bands, &[BandRole::Blue, BandRole::Green, BandRole::Red]).or_else(|e| {
                    // RGB orthomosaics without colour interpretation: the drone profile's order.
                    let fallback = BandSelection { sensor: Some(crate::io::Sensor::DroneRgb), ..bands.clone() };
                    if bands.sensor.is_none() && bands.overrides.is_empty() {
                        r.band_map(&fallback, &[BandRole::Blue, BandRole::Green, BandRole::Red])
                    } else {
                        Err(e)
                    }
                })?;
                if !r.info().georeferenced {
                    return Err(Error::input(
                        p,
                        "orthomosaic has no georeferencing; it cannot be placed on the surface models",
                    ));
                }
                Some((r, map))
            }
            None => None,
        };
        Ok(Flight {
            dsm: dsm_raster,
            ortho,
            dsm_path: dsm.to_path_buf(),
            ortho_path: ortho_path.map(Path::to_path_buf),
        })
    }

    fn id(&self) -> String {
        self.dsm_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The acquisition date of the flight: the surface model's, else the orthomosaic's.
    fn date(&self) -> Option<chrono::NaiveDate> {
        self.dsm.info().acquired.or_else(|| self.ortho.as_ref().and_then(|(r, _)| r.info().acquired))
    }

    fn surface(&self, grid: &Grid) -> Result<Array2<f32>> {
        read_band_on_grid(&self.dsm, 1, grid, resampling_for(&self.dsm, grid))
    }

    /// The orthomosaic on `grid` as reflectance (0..1).
    fn ortho_stack(&self, backend: &dyn Backend, grid: &Grid) -> Result<Option<BandStack>> {
        let Some((raster, map)) = &self.ortho else { return Ok(None) };
        let mut stack = read_on_grid(raster, map, grid, resampling_for(raster, grid))?;
        let gains: Vec<f32> = map.bands.iter().map(|b| b.scale as f32).collect();
        let offsets: Vec<f32> = map.bands.iter().map(|b| b.offset as f32).collect();
        backend.linear(&mut stack, &gains, &offsets)?;
        Ok(Some(stack))
    }
}

/// A surface model is one band of heights; an orthomosaic passed by mistake is caught here.
fn check_surface_model(r: &Raster) -> Result<()> {
    let info = r.info();
    if !info.georeferenced {
        return Err(Error::input(r.path(), "surface model has no georeferencing; heights need a ground grid"));
    }
    let data_bands = info.bands.iter().filter(|b| b.mask != crate::io::raster::MaskSource::IsAlpha).count();
    if data_bands >= 3 && info.bands[0].data_type == "Byte" {
        return Err(Error::input(
            r.path(),
            format!(
                "has {data_bands} 8-bit bands: an orthomosaic, not a surface model (pass it with --before-ortho/--after-ortho)"
            ),
        ));
    }
    Ok(())
}

/// Runs the job. Outputs are checked before any work and written atomically at the end.
pub fn run_drone(backend: &dyn Backend, req: &DroneRequest, progress: &dyn Progress) -> Result<DroneResult> {
    let format = crate::export::resolve_format(&req.out, req.format)?;
    check_outputs(req, format)?;
    let o = &req.options;
    if req.before_ortho.is_some() != req.after_ortho.is_some() {
        return Err(Error::Usage(
            "give both --before-ortho and --after-ortho, or neither: one orthomosaic cannot show change".into(),
        ));
    }
    progress.stage("reading inputs");
    let before = Flight::open(&req.before_dsm, req.before_ortho.as_deref(), &req.bands)?;
    let after = Flight::open(&req.after_dsm, req.after_ortho.as_deref(), &req.bands)?;
    let mut warnings = Vec::new();
    let grid = analysis_grid(&before.dsm, &after.dsm, o.min_resolution_m)?;
    let (px, py) = grid.transform.pixel_size();
    let pixel_area = grid.transform.pixel_area();

    progress.stage("registering the flights");
    let policy = ShiftPolicy {
        max_correction_m: o.max_shift_correction_m,
        min_peak: o.shift_min_peak,
        max_spread_px: o.shift_max_spread_px,
    };
    let shift = estimate_shift(backend, &before, &after, &grid, o.shift_window_px, &policy)?;
    match &shift {
        None => warnings.push(
            "the shift between the flights could not be measured (too little texture or overlap in the sample \
             windows): compared as georeferenced"
                .to_string(),
        ),
        Some(e) if !e.corrected => warnings.push(e.note.clone().unwrap_or_default()),
        Some(_) => {}
    }
    let after_grid = shifted_grid(&grid, shift.as_ref());
    let vertical = measure_vertical_offset(backend, &before, &after, &grid, &after_grid, req)?;
    if vertical.spread_m > o.earthworks_min_change_m {
        warnings.push(format!(
            "the surface models disagree by {:.2} m (robust standard deviation) on unchanged ground, more than the \
             {:.2} m earthworks threshold: expect false earthworks; check the flights' ground control",
            vertical.spread_m, o.earthworks_min_change_m
        ));
    }

    let plots = match &req.plots {
        Some(path) => {
            let registry = PlotRegistry::open(path, &req.plot_fields)?;
            warnings.extend(registry.warnings.iter().map(|w| format!("{}: {w}", path.display())));
            let geometries = registry.geometries_in(&grid.crs_wkt)?;
            Some((registry, geometries))
        }
        None => None,
    };

    let width_radius = ((o.structure_min_width_m / 2.0) / px.min(py)).floor().max(1.0) as usize;
    let roughness_radius = (ROUGHNESS_SCALE_M / px.min(py)).round().max(2.0) as usize;
    // Roughness sees walls up to its radius (plus the 3 x 3 smoothing) away: only pixels this deep inside
    // a high part tell whether its top is rough.
    let roughness_reach = roughness_radius + 1;
    // Every neighbourhood used below fits in the halo: box means (3), slope (1), erosion, dilation.
    let halo = width_radius.max(roughness_reach).max(wall_step_px(px.min(py))) + 2 * STRUCTURE_MARGIN_PX + 8;
    let tiling = Tiling::new(grid.width, grid.height, o.tile_size, halo);
    let parent = req.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let scratch = ScratchDir::new(parent)?;
    let mut dh_store = ScratchRaster::<i16>::create(&scratch, "dh_cm.tif", &grid)?;
    let mut bit_store = ScratchRaster::<u8>::create(&scratch, "evidence.tif", &grid)?;
    let mut high_store = ScratchRaster::<u32>::create(&scratch, "high.tif", &grid)?;
    let mut region_store = ScratchRaster::<u32>::create(&scratch, "regions.tif", &grid)?;
    let mut final_store = ScratchRaster::<u32>::create(&scratch, "final.tif", &grid)?;
    let mut height_out = match &req.height_raster {
        Some(p) => Some(HeightRaster::create(p, &grid, req.overwrite)?),
        None => None,
    };
    let plot_keys = |window: Window| -> Result<Option<Array2<u32>>> {
        match &plots {
            Some((registry, geometries)) => {
                Ok(Some(rasterize_geometries(geometries, &grid.window(window), &registry.path)?))
            }
            None => Ok(None),
        }
    };
    let rules = PixelRules {
        vertical_offset: vertical.offset_m as f32,
        roughness_m: o.roughness_m as f32,
        roughness_radius_px: roughness_radius,
        vegetation_min_ndvi: o.vegetation_min_ndvi as f32,
        vegetation_min_exg: o.vegetation_min_exg as f32,
    };

    // Pass 1: height change and the high parts, judged as regions.
    progress.stage("height change 1/3: surfaces and high parts");
    progress.start("tiles", tiling.len() as u64);
    let mut high = TiledLabeller::<HighStats>::new(tiling);
    let mut valid_pixels = 0u64;
    for tile in tiling.tiles() {
        let padded_grid = grid.window(tile.padded);
        let before_z = before.surface(&padded_grid)?;
        let after_z = after.surface(&after_grid.window(tile.padded))?;
        let veg = |f: &Flight, g: &Grid| -> Result<Option<Array2<u8>>> {
            match f.ortho_stack(backend, g)? {
                Some(stack) => Ok(Some(vegetation_mask(backend, &stack, &rules)?)),
                None => Ok(None),
            }
        };
        let veg_before = veg(&before, &padded_grid)?;
        let veg_after = veg(&after, &after_grid.window(tile.padded))?;
        let t = tile_heights(
            backend,
            before_z.view(),
            after_z.view(),
            veg_before.as_ref().map(|v| v.view()),
            veg_after.as_ref().map(|v| v.view()),
            (px as f32, py as f32),
            &rules,
        )?;
        let mut classes = high_classes(t.raw_dh.view(), o.structure_min_height_m as f32);
        if let Some(plot_ids) = plot_keys(tile.padded)? {
            Zip::from(&mut classes)
                .and(&plot_ids)
                .for_each(|k, p| *k = if *p == 0 || *k == 0 { 0 } else { *k | (*p << 8) });
        }
        let (edge, steep) = walls(classes.view(), t.slope_after.view(), t.slope_before.view(), o.wall_min_slope as f32);
        let gain = classes.mapv(|k| u8::from(k & 0xff == HIGH_GAIN));
        let loss = classes.mapv(|k| u8::from(k & 0xff == HIGH_LOSS));
        // Pixels of a high part that survive an erosion: to the minimum width (is it wide enough?), and
        // by the roughness window (is the surface rough away from its walls?).
        let eroded = |radius: usize| -> Result<Array2<u8>> {
            let mut e = backend.erode(gain.view(), radius)?;
            let l = backend.erode(loss.view(), radius)?;
            Zip::from(&mut e).and(&l).for_each(|a, b| *a |= *b);
            Ok(e)
        };
        let core_mask = eroded(width_radius)?;
        let deep_mask = eroded(roughness_reach)?;
        let core = tile.core;
        let keys = tile.core_of(classes.view());
        let (edge_c, steep_c, core_c, deep_c, bits_c) = (
            tile.core_of(edge.view()),
            tile.core_of(steep.view()),
            tile.core_of(core_mask.view()),
            tile.core_of(deep_mask.view()),
            tile.core_of(t.bits.view()),
        );
        let labels = high.add_tile(
            &tile,
            keys,
            |st, r, c| {
                let b = bits_c[[r, c]];
                let gain = keys[[r, c]] & 0xff == HIGH_GAIN;
                st.pixels += 1;
                st.core += core_c[[r, c]] as u64;
                if edge_c[[r, c]] != 0 {
                    st.edge += 1;
                    st.steep_edge += steep_c[[r, c]] as u64;
                }
                if deep_c[[r, c]] != 0 {
                    st.interior += 1;
                    let rough = if gain { bits::ROUGH_AFTER } else { bits::ROUGH_BEFORE };
                    st.rough += u64::from(b & rough != 0);
                }
                let (known, veg) =
                    if gain { (bits::ORTHO_AFTER, bits::VEG_AFTER) } else { (bits::ORTHO_BEFORE, bits::VEG_BEFORE) };
                if b & known != 0 {
                    st.veg_known += 1;
                    st.veg += u64::from(b & veg != 0);
                }
                let anchor = ((core.row + r) as u64, (core.col + c) as u64);
                st.anchor = Some(st.anchor.map_or(anchor, |a| a.min(anchor)));
            },
            |_, st| st.pixels >= MIN_HIGH_PIXELS,
        );
        high_store.write(core, labels.view())?;
        let dh_core = tile.core_of(t.dh.view());
        dh_store.write(core, dh_core.mapv(to_centimetres).view())?;
        bit_store.write(core, bits_c)?;
        valid_pixels += bits_c.iter().filter(|b| **b & bits::VALID != 0).count() as u64;
        if let Some(out) = &mut height_out {
            out.write(core, dh_core)?;
        }
        progress.advance(&format!("tile {}", tile.index + 1));
    }
    progress.finish();
    let high = high.finish(|_, st| st.pixels >= MIN_HIGH_PIXELS);
    let verdicts: Vec<u8> = high
        .regions
        .iter()
        .map(|r| {
            let verdict = judge_high(&r.stats, pixel_area, o);
            log::debug!("high part {:?} key {}: {verdict:?}", r.stats, r.key);
            verdict as u8
        })
        .collect();
    high_store.flush()?;
    dh_store.flush()?;
    bit_store.flush()?;

    // Pass 2: final regions: structures (with their wall margin), earthworks, nothing for what was set aside.
    progress.stage("height change 2/3: regions");
    progress.start("tiles", tiling.len() as u64);
    let mut finals = TiledLabeller::<FinalStats>::new(tiling);
    let structure_height = o.structure_min_height_m as f32;
    let (earth_min, earth_extent) = (o.earthworks_min_change_m as f32, o.earthworks_extent_m as f32);
    let half_height = structure_height / 2.0;
    for tile in tiling.tiles() {
        let dh = dh_store.read(tile.padded)?.mapv(from_centimetres);
        let evidence = bit_store.read(tile.padded)?;
        let high_labels = high_store.read(tile.padded)?;
        let zones = Zones::of(backend, high_labels.view(), &high, &verdicts)?;
        let plot_ids = plot_keys(tile.padded)?;
        let mut keys = Array2::<u32>::zeros(dh.dim());
        Zip::indexed(&mut keys).for_each(|(r, c), k| {
            let d = dh[[r, c]];
            if !d.is_finite() {
                return;
            }
            let b = evidence[[r, c]];
            // Around a structure, its footprint is where the change passes half the structure height
            // (the half-maximum of walls blurred by resampling); the blurred rest of the walls is
            // neither structure nor earthworks.
            let class = if zones.gain[[r, c]] != 0 && d >= earth_extent {
                if d >= half_height { final_keys::STRUCTURE_GAIN } else { 0 }
            } else if zones.loss[[r, c]] != 0 && d <= -earth_extent {
                if d <= -half_height { final_keys::STRUCTURE_LOSS } else { 0 }
            } else if zones.excluded[[r, c]] != 0 || d.abs() < earth_extent {
                0
            } else {
                // Fill leaves bare ground: a rise that is green or rough is growth (trees, crops), not fill.
                // A fall where rough canopy stood is felling; one where smooth grass stood is digging.
                let set_aside = if d > 0.0 { bits::VEG_AFTER | bits::ROUGH_AFTER } else { bits::ROUGH_BEFORE };
                if b & set_aside != 0 { 0 } else { final_keys::EARTHWORKS }
            };
            *k = match (&plot_ids, class) {
                (_, 0) => 0,
                (Some(p), _) if p[[r, c]] == 0 => 0,
                (Some(p), _) => class | (p[[r, c]] << 8),
                (None, _) => class,
            };
        });
        let core = tile.core;
        let keys_c = tile.core_of(keys.view());
        let dh_c = tile.core_of(dh.view());
        let ev_c = tile.core_of(evidence.view());
        let labels = finals.add_tile(
            &tile,
            keys_c,
            |st, r, c| {
                let d = dh_c[[r, c]];
                st.add_change(d);
                let strong = if keys_c[[r, c]] & 0xff == final_keys::EARTHWORKS { earth_min } else { structure_height };
                if d.abs() >= strong {
                    st.strong += 1;
                    st.sum_strong += d as f64;
                }
                let b = ev_c[[r, c]];
                if b & bits::ORTHO_BEFORE != 0 && b & bits::ORTHO_AFTER != 0 {
                    st.ortho_known += 1;
                    st.veg_before += u64::from(b & bits::VEG_BEFORE != 0);
                    st.veg_after += u64::from(b & bits::VEG_AFTER != 0);
                }
                let anchor = ((core.row + r) as u64, (core.col + c) as u64);
                st.anchor = Some(st.anchor.map_or(anchor, |a| a.min(anchor)));
            },
            |key, st| judge_final(key, st, pixel_area, o).is_some(),
        );
        region_store.write(core, labels.view())?;
        progress.advance(&format!("tile {}", tile.index + 1));
    }
    progress.finish();
    let finals = finals.finish(|key, st| judge_final(key, st, pixel_area, o).is_some());
    region_store.flush()?;

    // Pass 3: one raster of final region ids, polygonized at once so no polygon splits at a tile border.
    progress.stage("height change 3/3: polygons");
    progress.start("tiles", tiling.len() as u64);
    for tile in tiling.tiles() {
        let provisional = region_store.read(tile.core)?;
        final_store.write(tile.core, provisional.mapv(|p| finals.final_id(p)).view())?;
        progress.advance(&format!("tile {}", tile.index + 1));
    }
    progress.finish();
    final_store.flush()?;
    let band = final_store.dataset().rasterband(1).map_err(|e| Error::gdal(scratch.path(), e))?;
    let polygons = polygonize_band(&band, &grid)?;

    progress.stage("writing");
    let ctx = EvidenceContext {
        before: &before,
        after: &after,
        shift: shift.as_ref(),
        vertical: &vertical,
        grid: &grid,
        plots: plots.as_ref().map(|(r, _)| r.plots.as_slice()),
        options: o,
    };
    let mut flags = Vec::new();
    for poly in polygons {
        let Some(region) = finals.region(poly.label) else { continue };
        let Some(kind) = judge_final(region.key, &region.stats, pixel_area, o) else { continue };
        flags.push(flag_for(&ctx, region.key, &region.stats, kind, poly.wkb)?);
    }
    flags.sort_by(|a, b| a.flag_id.cmp(&b.flag_id));
    let mut flags_by_kind = BTreeMap::new();
    let (mut cut_m3, mut fill_m3) = (0.0, 0.0);
    for f in &flags {
        *flags_by_kind.entry(f.kind.name().to_string()).or_insert(0) += 1;
        if f.kind == FlagKind::Earthworks {
            cut_m3 += f.evidence["volume_m3"]["cut"].as_f64().unwrap_or(0.0);
            fill_m3 += f.evidence["volume_m3"]["fill"].as_f64().unwrap_or(0.0);
        }
    }
    let mut outputs = Vec::new();
    write_flags(&req.out, format, &FlagSet { flags: flags.clone(), crs_wkt: grid.crs_wkt.clone() }, req.overwrite)?;
    outputs.push(req.out.clone());
    if let (Some(out), Some(path)) = (height_out, &req.height_raster) {
        out.commit()?;
        outputs.push(path.clone());
    }
    drop(scratch);
    let summary = DroneSummary {
        resolution_m: px,
        tiles: tiling.len(),
        grid,
        shift,
        vertical,
        valid_pixels,
        flags: flags.len(),
        flags_by_kind,
        cut_m3: round2(cut_m3),
        fill_m3: round2(fill_m3),
        outputs,
        backend: backend.name(),
        warnings,
    };
    Ok(DroneResult { summary, flags })
}

/// High parts of fewer pixels are too small to be anything, whatever they are; the same rule applies
/// inside a tile and after stitching, so the result does not depend on the tiling.
const MIN_HIGH_PIXELS: u64 = 4;

/// Ground radius (metres) of the mean surface that roughness is measured against.
const ROUGHNESS_SCALE_M: f64 = 1.0;

/// Pixels around accepted structures (walls lean and blur over a pixel or two) that belong to them.
const STRUCTURE_MARGIN_PX: usize = 2;

/// Where, in a padded tile, structures claim pixels and set-aside objects exclude them.
struct Zones {
    gain: Array2<u8>,
    loss: Array2<u8>,
    excluded: Array2<u8>,
}

impl Zones {
    fn of(
        backend: &dyn Backend,
        labels: ArrayView2<u32>,
        high: &Stitched<HighStats>,
        verdicts: &[u8],
    ) -> Result<Zones> {
        let verdict_of = |p: u32| -> (Option<HighVerdict>, u32) {
            let id = high.final_id(p);
            match high.region(id) {
                Some(r) => (HighVerdict::from_u8(verdicts[id as usize - 1]), r.key & 0xff),
                None => (None, 0),
            }
        };
        let mut gain = Array2::<u8>::zeros(labels.dim());
        let mut loss = Array2::<u8>::zeros(labels.dim());
        let mut excluded = Array2::<u8>::zeros(labels.dim());
        let mut cache: std::collections::HashMap<u32, (Option<HighVerdict>, u32)> = Default::default();
        for ((r, c), p) in labels.indexed_iter() {
            if *p == 0 {
                continue;
            }
            let (verdict, key) = *cache.entry(*p).or_insert_with(|| verdict_of(*p));
            match verdict {
                Some(HighVerdict::Structure) if key == HIGH_GAIN => gain[[r, c]] = 1,
                Some(HighVerdict::Structure) => loss[[r, c]] = 1,
                Some(HighVerdict::Object | HighVerdict::Vegetation) => excluded[[r, c]] = 1,
                _ => {}
            }
        }
        Ok(Zones {
            gain: backend.dilate(gain.view(), STRUCTURE_MARGIN_PX)?,
            loss: backend.dilate(loss.view(), STRUCTURE_MARGIN_PX)?,
            excluded: backend.dilate(excluded.view(), STRUCTURE_MARGIN_PX)?,
        })
    }
}

/// Height change stored in centimetres (`i16::MIN` for no data): 1 cm is far below what photogrammetric
/// surfaces resolve, and it halves the scratch disk and I/O of Float32.
fn to_centimetres(d: f32) -> i16 {
    if d.is_finite() { (d * 100.0).round().clamp(-32767.0, 32767.0) as i16 } else { i16::MIN }
}

fn from_centimetres(v: i16) -> f32 {
    if v == i16::MIN { f32::NAN } else { v as f32 / 100.0 }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The analysis grid of two surface models: their shared ground at the coarser resolution, coarsened
/// further to `min_resolution` where both are finer.
pub fn analysis_grid(before: &Raster, after: &Raster, min_resolution: f64) -> Result<Grid> {
    let grid = common_grid(before, after)?;
    let (px, py) = grid.transform.pixel_size();
    if px.max(py) >= min_resolution {
        return Ok(grid);
    }
    Ok(Grid::covering(grid.crs_wkt.clone(), grid.epsg, &grid.bounds(), min_resolution))
}

/// Phase correlation in sample windows: on the orthomosaics' brightness where both flights have one,
/// else on the surface models.
fn estimate_shift(
    backend: &dyn Backend,
    before: &Flight,
    after: &Flight,
    grid: &Grid,
    window_px: usize,
    policy: &ShiftPolicy,
) -> Result<Option<ShiftEstimate>> {
    let use_ortho = before.ortho.is_some() && after.ortho.is_some();
    let mut shifts: Vec<PhaseShift> = Vec::new();
    for window in sample_windows(grid, window_px) {
        let g = grid.window(window);
        let (a, b) = if use_ortho {
            let brightness = |f: &Flight| -> Result<Array2<f32>> {
                let stack = f.ortho_stack(backend, &g)?.expect("orthomosaic present");
                let mean = stack.data.mean_axis(ndarray::Axis(0)).expect("bands");
                Ok(Array2::from_shape_fn(
                    mean.dim(),
                    |(r, c)| if stack.valid[[r, c]] != 0 { mean[[r, c]] } else { f32::NAN },
                ))
            };
            (brightness(before)?, brightness(after)?)
        } else {
            (before.surface(&g)?, after.surface(&g)?)
        };
        let valid = |x: &Array2<f32>| x.iter().filter(|v| v.is_finite()).count() as f64 / x.len() as f64;
        if valid(&a) < 0.5 || valid(&b) < 0.5 {
            continue;
        }
        if let Some(s) = phase_correlation(a.view(), b.view()) {
            shifts.push(s);
        }
    }
    let source = if use_ortho { "orthomosaic" } else { "surface model" };
    Ok(combine_shifts(&shifts, grid, source, policy))
}

/// The vertical offset on a coarse overview of the whole survey.
fn measure_vertical_offset(
    backend: &dyn Backend,
    before: &Flight,
    after: &Flight,
    grid: &Grid,
    after_grid: &Grid,
    req: &DroneRequest,
) -> Result<VerticalOffset> {
    let overview = overview_grid(grid, 1024);
    let moved = overview_grid(after_grid, 1024);
    let zb = read_band_on_grid(&before.dsm, 1, &overview, Resampling::Average)?;
    let za = read_band_on_grid(&after.dsm, 1, &moved, Resampling::Average)?;
    let dh = backend.height_difference(zb.view(), za.view(), 0.0)?;
    vertical_offset(dh.view()).ok_or_else(|| Error::NoOverlap {
        a: req.before_dsm.clone(),
        b: req.after_dsm.clone(),
        detail: "their surface models have no valid heights over the same ground".into(),
    })
}

/// The optional height-change raster, written tile by tile into a scratch GeoTIFF beside the temporary
/// output, rewritten as a Cloud Optimized GeoTIFF (with overviews) at the end and moved into place.
struct HeightRaster {
    dataset: gdal::Dataset,
    output: AtomicOutput,
    scratch: PathBuf,
    path: PathBuf,
}

impl HeightRaster {
    fn create(path: &Path, grid: &Grid, overwrite: bool) -> Result<HeightRaster> {
        let output = AtomicOutput::new(path, &[], overwrite)?;
        let scratch = crate::export::raster::scratch_path(&output);
        let fail = |e: gdal::errors::GdalError| Error::gdal(path, e);
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(fail)?;
        // Fast to write and read once: the COG copy compresses.
        let options = RasterCreationOptions::from_iter([
            "TILED=YES",
            "BLOCKXSIZE=512",
            "BLOCKYSIZE=512",
            "COMPRESS=LZW",
            "BIGTIFF=IF_SAFER",
        ]);
        let mut dataset = driver
            .create_with_band_type_with_options::<f32, _>(&scratch, grid.width, grid.height, 1, &options)
            .map_err(fail)?;
        dataset.set_geo_transform(&grid.transform.0).map_err(fail)?;
        match crate::io::crs::canonical_srs(&grid.crs_wkt) {
            Some(srs) => dataset.set_spatial_ref(&srs).map_err(fail)?,
            None => dataset.set_projection(&grid.crs_wkt).map_err(fail)?,
        }
        let mut band = dataset.rasterband(1).map_err(fail)?;
        band.set_no_data_value(Some(f64::NAN)).map_err(fail)?;
        gdal::Metadata::set_description(&mut band, "height change after - before (m), registered").map_err(fail)?;
        Ok(HeightRaster { dataset, output, scratch, path: path.to_path_buf() })
    }

    fn write(&mut self, window: Window, values: ArrayView2<f32>) -> Result<()> {
        let mut buffer = Buffer::new((window.width, window.height), values.iter().copied().collect());
        let mut band = self.dataset.rasterband(1).map_err(|e| Error::gdal(&self.path, e))?;
        band.write((window.col as isize, window.row as isize), (window.width, window.height), &mut buffer)
            .map_err(|e| Error::gdal(&self.path, e))
    }

    fn commit(self) -> Result<()> {
        let HeightRaster { dataset, output, scratch, path } = self;
        dataset.close().map_err(|e| Error::gdal(&path, e))?;
        crate::export::raster::finish_as_cog(
            &scratch,
            output.temp_path(),
            &["PREDICTOR=YES", "RESAMPLING=AVERAGE"],
            &path,
        )?;
        output.commit()
    }
}

/// Refuses, before any work, outputs that exist without `--overwrite` and outputs that are an input or
/// each other.
fn check_outputs(req: &DroneRequest, format: VectorFormat) -> Result<()> {
    let mut files =
        RunFiles::new(req.overwrite).input("--before-dsm", &req.before_dsm).input("--after-dsm", &req.after_dsm);
    for (role, p) in
        [("--before-ortho", &req.before_ortho), ("--after-ortho", &req.after_ortho), ("--plots", &req.plots)]
    {
        if let Some(p) = p {
            files = files.input(role, p);
        }
    }
    files = files.output("--out", &req.out, format.sidecars());
    if let Some(p) = &req.height_raster {
        files = files.output("--height-raster", p, &[]);
    }
    files.check()
}

/// Everything the evidence of every flag shares.
struct EvidenceContext<'a> {
    before: &'a Flight,
    after: &'a Flight,
    shift: Option<&'a ShiftEstimate>,
    vertical: &'a VerticalOffset,
    grid: &'a Grid,
    plots: Option<&'a [Plot]>,
    options: &'a DroneOptions,
}

fn flag_for(ctx: &EvidenceContext, key: u32, s: &FinalStats, kind: FlagKind, wkb: Vec<u8>) -> Result<Flag> {
    let o = ctx.options;
    let pixel_area = ctx.grid.transform.pixel_area();
    let (px, _) = ctx.grid.transform.pixel_size();
    let plot_index = key >> 8;
    let plot = ctx.plots.and_then(|p| p.get((plot_index as usize).checked_sub(1)?));
    let (row, col) = s.anchor.unwrap_or((0, 0));
    let (x, y) = ctx.grid.transform.pixel_to_geo(col as f64 + 0.5, row as f64 + 0.5);
    let plot_id = plot.map(|p| p.plot_id.clone());
    let (before_id, after_id) = (ctx.before.id(), ctx.after.id());
    let flag_id = stable_id(
        "drn",
        &[
            &before_id,
            &after_id,
            kind.name(),
            plot_id.as_deref().unwrap_or(""),
            &format!("{x:.2},{y:.2}"),
            &s.pixels.to_string(),
        ],
    );
    let cut = s.sum_down * pixel_area;
    let fill = s.sum_up * pixel_area;
    let flight = |f: &Flight, role: &str| {
        json!({
            "role": role,
            "id": f.id(),
            "date": f.date().map(|d| d.to_string()),
            "dsm": f.dsm_path.display().to_string(),
            "ortho": f.ortho_path.as_ref().map(|p| p.display().to_string()),
        })
    };
    let registration = json!({
        "shift_m": ctx.shift.map(|e| [round4(e.dx_m), round4(e.dy_m)]),
        "shift_corrected": ctx.shift.is_some_and(|e| e.corrected),
        "shift_peak": ctx.shift.map(|e| round4(e.peak)),
        "shift_source": ctx.shift.map(|e| e.source.clone()),
        "vertical_offset_m": round4(ctx.vertical.offset_m),
        "stable_ground_spread_m": round4(ctx.vertical.spread_m),
    });
    let mean = s.mean_dh();
    let mut evidence = json!({
        "method": "drone surface-model difference",
        "scenes": [flight(ctx.before, "before"), flight(ctx.after, "after")],
        "registration": registration,
        "height_change_m": {
            "mean": round4(mean),
            "max": round4(s.max_dh as f64),
            "min": round4(s.min_dh as f64),
        },
        "pixels": s.pixels,
        "resolution_m": round4(px),
        "valid_observations": 2,
        "cloud_fraction": 0.0,
    });
    let strong_share = s.strong as f64 / s.pixels.max(1) as f64;
    let registered = ctx.shift.is_some_and(|e| e.corrected || e.length_m() < px);
    let confidence = match kind {
        FlagKind::HeightGain | FlagKind::HeightLoss => {
            evidence["volume_m3"] = json!(round2(if kind == FlagKind::HeightGain { fill } else { cut }));
            evidence["structure_height_m"] = json!(round4(s.mean_strong_dh().abs()));
            evidence["thresholds"] = json!({
                "structure_min_height_m": o.structure_min_height_m,
                "structure_min_area_m2": o.structure_min_area_m2,
                "structure_min_width_m": o.structure_min_width_m,
            });
            let height_margin =
                ((s.mean_strong_dh().abs() - o.structure_min_height_m) / o.structure_min_height_m).clamp(0.0, 1.0);
            0.55 + 0.25 * height_margin + 0.1 * strong_share + if registered { 0.1 } else { 0.0 }
        }
        _ => {
            evidence["volume_m3"] = json!({"cut": round2(cut), "fill": round2(fill), "net": round2(fill - cut)});
            evidence["thresholds"] = json!({
                "earthworks_min_change_m": o.earthworks_min_change_m,
                "earthworks_min_area_m2": o.earthworks_min_area_m2,
                "earthworks_extent_m": o.earthworks_extent_m,
            });
            let area_margin = (s.strong as f64 * pixel_area / (2.0 * o.earthworks_min_area_m2)).min(1.0);
            0.45 + 0.25 * area_margin + 0.2 * strong_share + if registered { 0.1 } else { 0.0 }
        }
    };
    if s.ortho_known > 0 {
        let n = s.ortho_known as f64;
        evidence["vegetation_fraction"] =
            json!({"before": round4(s.veg_before as f64 / n), "after": round4(s.veg_after as f64 / n)});
    } else {
        evidence["limitations"] = json!("no orthomosaics: vegetation told from surface roughness only");
    }
    if let Some(p) = plot {
        if p.works_allowed {
            evidence["permitted_works"] = json!(true);
        }
    }
    let date = ctx.after.date();
    Ok(Flag {
        flag_id,
        plot_id,
        plot_name: plot.and_then(|p| p.name.clone()),
        kind,
        status: FlagStatus::New,
        first_seen: date,
        last_seen: date,
        bare_since: None,
        idle_days: None,
        area_m2: round4(s.pixels as f64 * pixel_area),
        confidence: round4(confidence.clamp(0.0, 1.0)),
        evidence,
        scan_id: stable_id("drone", &[&before_id, &after_id]),
        engine_version: ENGINE_VERSION.to_string(),
        geometry: wkb,
    })
}

/// Bounds of a flag's geometry (for tests and summaries).
pub fn flag_bounds(flag: &Flag) -> Option<Bounds> {
    let g = Geometry::from_wkb(&flag.geometry).ok()?;
    let e = g.envelope();
    Some(Bounds { min_x: e.MinX, min_y: e.MinY, max_x: e.MaxX, max_y: e.MaxY })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centimetres_round_trip_and_keep_nodata() {
        assert_eq!(to_centimetres(2.504), 250);
        assert_eq!(from_centimetres(to_centimetres(-3.21)), -3.21);
        assert!(from_centimetres(to_centimetres(f32::NAN)).is_nan());
        assert_eq!(to_centimetres(1000.0), 32767, "clamped, not wrapped");
    }
}
