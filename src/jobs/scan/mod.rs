//! The monthly plot scan: every registered plot, every new acquisition, incremental against the store.
//!
//! 1. The registry is read and each plot gets a grid on the store's analysis frame (plot bounds plus a
//!    margin) and a mask of the pixels inside it.
//! 2. Scenes are listed, hashed (so a scene seen before is skipped, whatever its name) and processed in
//!    date order: for each, the plot windows are read ([`crate::scan::observe`]), masked and classified; the
//!    acquisition's season is measured over all windows (for sensors without SWIR); then every plot's
//!    tracker applies the acquisition to each pixel's seasonal model and to its events ([`crate::scan::tracker`]).
//! 3. Flags are polygonized and everything is written to the store in one transaction, then to `--out`.

mod rows;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use chrono::NaiveDate;
use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::align::frame::AnalysisFrame;
use crate::compute::Backend;
use crate::error::{Error, Result};
use crate::export::{RunFiles, VectorFormat, write_flags};
use crate::flags::{ENGINE_VERSION, Flag, FlagKind, FlagSet, FlagStatus, stable_id};
use crate::io::plots::{PlotFields, PlotRegistry, rasterize_geometries};
use crate::io::scenes::{Scene, content_hash, discover};
use crate::io::{BandSelection, Raster, crs};
use crate::progress::Progress;
use crate::raster::Grid;
use crate::scan::observe::{PlotObservation, SceneReader, ValueSample, classify_window, set_aside_bare};
use crate::scan::tracker::{Acquisition, PlotTracker, TrackSettings, TrackedFlag};
use crate::spectral::LandClass;
use crate::store::lock::StoreLock;
use crate::store::{PlotRow, Store, StoredPlot};
use crate::temporal::season::{is_dormant, median};
use crate::temporal::{DateContext, TemporalState, day_number, from_day_number};
use crate::vectorize::polygonize;

use crate::scan::ScanOptions;

/// Height in metres of the bands of rows in which plot windows are read (a few 512-pixel blocks of 10 m
/// data): small enough that one band's blocks stay in GDAL's cache, large enough to hold an estate.
const READ_BAND_M: f64 = 2048.0;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Plot registry.
    pub plots: PathBuf,
    /// Registry field names.
    pub plot_fields: PlotFields,
    /// Scene source.
    pub scenes: PathBuf,
    /// With a STAC API's URL as `scenes`: the collection to search (over the plots' bbox, up to
    /// `as_of`).
    pub collection: Option<String>,
    /// Band mapping for folders of rasters.
    pub bands: BandSelection,
    /// Store; `None` scans from scratch in memory.
    pub store: Option<PathBuf>,
    /// Only acquisitions up to this date.
    pub as_of: Option<NaiveDate>,
    /// Flag output.
    pub out: Option<PathBuf>,
    /// Flag output format.
    pub format: Option<VectorFormat>,
    /// Replace `--out`.
    pub overwrite: bool,
    /// Fail at once when another process is writing the store, instead of waiting for it.
    pub no_wait: bool,
    /// Settings.
    pub options: ScanOptions,
}

/// One plot in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct PlotLine {
    /// Id.
    pub plot_id: String,
    /// Name.
    pub name: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Acquisitions that saw it.
    pub observations: u32,
    /// Active flags by kind.
    pub active: BTreeMap<String, usize>,
    /// `observed`, `unobserved` or `outside_scenes`.
    pub state: String,
}

/// What a scan did.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// Scan id.
    pub scan_id: String,
    /// Latest acquisition processed so far.
    pub as_of: Option<NaiveDate>,
    /// Scenes in the source (up to `--as-of`).
    pub scenes_listed: usize,
    /// Scenes processed by this run.
    pub scenes_new: usize,
    /// Scenes skipped because they were ingested before.
    pub scenes_known: usize,
    /// Scenes skipped for problems (one line each).
    pub scenes_skipped: Vec<String>,
    /// Plots scanned.
    pub plots: usize,
    /// Flags by kind and status after the scan.
    pub flags: BTreeMap<String, BTreeMap<String, usize>>,
    /// Flags whose record changed in this run.
    pub flags_changed: usize,
    /// Per plot.
    pub per_plot: Vec<PlotLine>,
    /// Outputs written.
    pub outputs: Vec<PathBuf>,
    /// Backend.
    pub backend: String,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
    /// True when some input was skipped (exit status 1).
    pub skipped_inputs: bool,
    /// The report written after the scan, if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::report::ReportSummary>,
    /// What reading the scenes cost.
    pub reads: ReadVolume,
}

/// What reading the scenes cost: the plot windows decoded, and what the process read from files.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ReadVolume {
    /// Plot windows read (one per plot and scene that covers it).
    pub windows: u64,
    /// Bytes of those windows as decoded: pixels times the sample size of every band read.
    pub decoded_bytes: u64,
    /// Bytes read from files while the scenes were read (`rchar` of `/proc/self/io`; Linux only): whole
    /// compressed blocks under the windows, and the first and last block of every band, which each scene
    /// is checked with.
    pub file_bytes: Option<u64>,
    /// Bytes read from files to hash scenes not hashed before (whole files: a scene is known by its
    /// content; later scans find the hash in the store's cache). Remote files count what was fetched.
    pub hashed_bytes: Option<u64>,
    /// Bytes fetched over the network while the scenes were read (remote hrefs, through GDAL's
    /// `/vsicurl/` and `/vsis3/`): the byte ranges GDAL downloaded. 0 for a scan of local files.
    pub fetched_bytes: u64,
}

/// Bytes this process has read through system calls so far (Linux), for reporting what a stage read.
pub fn bytes_read_so_far() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("rchar:")).and_then(|v| v.trim().parse().ok())
}

/// Runs a scan.
pub fn run_scan(backend: &dyn Backend, req: &ScanRequest, progress: &dyn Progress) -> Result<ScanSummary> {
    run_scan_keeping_store(backend, req, progress).map(|(summary, _)| summary)
}

/// Runs a scan and hands back the store it wrote (in memory without `--store`), so that a report can be
/// drawn from it.
pub fn run_scan_keeping_store(
    backend: &dyn Backend,
    req: &ScanRequest,
    progress: &dyn Progress,
) -> Result<(ScanSummary, Store)> {
    scan(backend, req, progress).map(|(summary, store, _)| (summary, store))
}

/// Runs a scan; hands back, beside the summary and the store, the flags of this scan (every plot's flags
/// as the committed store holds them after it, sorted by id: what `--out` writes) with their CRS.
pub(crate) fn scan(
    backend: &dyn Backend,
    req: &ScanRequest,
    progress: &dyn Progress,
) -> Result<(ScanSummary, Store, FlagSet)> {
    let started_at = crate::store::gpkg_datetime(chrono::Utc::now());
    let out_format = req.out.as_ref().map(|o| crate::export::resolve_format(o, req.format)).transpose()?;
    if let Some(out) = &req.out {
        if out.exists() && !req.overwrite {
            return Err(Error::OutputExists { path: out.clone() });
        }
    }
    progress.stage("reading the plot registry");
    let registry = PlotRegistry::open(&req.plots, &req.plot_fields)?;
    let mut warnings: Vec<String> = registry.warnings.iter().map(|w| format!("{}: {w}", req.plots.display())).collect();
    progress.stage("listing scenes");
    let listing = match &req.collection {
        Some(collection) => {
            let api = req.scenes.to_string_lossy();
            let wgs84 = crate::io::crs::srs_from_epsg(4326)
                .and_then(|s| s.to_wkt().ok())
                .ok_or_else(|| Error::Usage("EPSG:4326 unknown to PROJ".into()))?;
            let bounds = registry.bounds_in(&wgs84)?;
            let bbox =
                bounds.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |b, p| {
                    [b[0].min(p.min_x), b[1].min(p.min_y), b[2].max(p.max_x), b[3].max(p.max_y)]
                });
            crate::io::scenes::discover_search(&api, collection, bbox, req.as_of)?
        }
        None => discover(&req.scenes, &req.bands)?,
    };
    let mut skipped = listing.skipped.clone();
    let scenes: Vec<Scene> = listing.scenes.into_iter().filter(|s| req.as_of.is_none_or(|d| s.date <= d)).collect();
    check_files(req, &scenes)?;
    // Held until the scan is written: a second scan of this store waits here, then finds every scene
    // this one ingests already in the store.
    let _lock = req.store.as_deref().map(|s| StoreLock::acquire(s, !req.no_wait, progress)).transpose()?;
    let mut store = Store::open(req.store.as_deref())?;

    let frame = match store.frame()? {
        Some(f) => f,
        None if scenes.is_empty() && !skipped.is_empty() => {
            // Every scene was skipped: the reasons are the answer, not "no scenes".
            let shown: Vec<&str> = skipped.iter().take(5).map(String::as_str).collect();
            let more = skipped.len().saturating_sub(shown.len());
            return Err(Error::input(
                &req.scenes,
                format!(
                    "no usable scene: all {} skipped: {}{}",
                    skipped.len(),
                    shown.join("; "),
                    if more > 0 { format!("; and {more} more") } else { String::new() }
                ),
            ));
        }
        None => frame_from_scenes(&scenes, &registry)?,
    };
    let options = &req.options;
    let pixel_area = frame.resolution * frame.resolution;
    let mmu =
        |m2: Option<f64>| ((m2.unwrap_or(options.min_area_m2) / pixel_area).ceil() as usize).max(options.min_pixels);
    let settings = TrackSettings {
        params: options.temporal,
        rules: options.rules,
        min_pixels: [
            mmu(options.min_area_by_kind.construction),
            mmu(options.min_area_by_kind.earthworks),
            mmu(options.min_area_by_kind.idle_bare),
        ],
        pixel_area,
    };
    let cloud_buffer_px = (options.cloud_buffer_m / frame.resolution).ceil() as usize;

    progress.stage("preparing plots");
    let geometries = registry.geometries_in(&frame.crs_wkt)?;
    let mut windows: Vec<PlotWindow> = Vec::with_capacity(registry.plots.len());
    progress.start("plots", registry.plots.len() as u64);
    for (plot, geometry) in registry.plots.iter().zip(&geometries) {
        progress.advance(&plot.plot_id);
        let env = geometry.envelope();
        let bounds = crate::raster::Bounds { min_x: env.MinX, min_y: env.MinY, max_x: env.MaxX, max_y: env.MaxY };
        let grid = frame.grid_for(&bounds, options.plot_margin_m);
        let mask = rasterize_geometries(std::slice::from_ref(geometry), &grid, &req.plots)?.mapv(|v| u8::from(v != 0));
        windows.push(PlotWindow { grid, mask });
    }
    progress.finish();

    progress.stage("hashing scenes");
    let hashing_from = bytes_read_so_far();
    let fetched_hashing_from = crate::io::vsi::fetched_so_far();
    let ingested = store.ingested()?;
    let cached = store.file_hashes()?;
    let last_day = ingested.values().filter_map(|s| s.acquired.parse::<NaiveDate>().ok()).max();
    let mut new_scenes: Vec<(Scene, String)> = Vec::new();
    let mut known = 0usize;
    let mut seen_hashes: HashSet<String> = HashSet::new();
    let mut hash_updates = Vec::new();
    for scene in &scenes {
        let (hash, per_file) = match content_hash(&scene.files(), |p, fp| {
            cached.get(p).filter(|(c, _)| c == fp).map(|(_, h)| h.clone())
        }) {
            Ok(h) => h,
            Err(e) => {
                skipped.push(format!("scene {}: {e}", scene.id));
                continue;
            }
        };
        hash_updates.extend(per_file);
        if ingested.contains_key(&hash) || !seen_hashes.insert(hash.clone()) {
            known += 1;
            continue;
        }
        if let Some(last) = last_day {
            if scene.date <= last {
                skipped.push(format!(
                    "scene {} ({}): older than the store's latest acquisition {last}; scan into a fresh store to include it",
                    scene.id, scene.date
                ));
                continue;
            }
        }
        new_scenes.push((scene.clone(), hash));
    }

    let mut reads = ReadVolume::default();
    let reading_from = bytes_read_so_far();
    reads.hashed_bytes =
        hashing_from.zip(reading_from).map(|(a, b)| b - a + (crate::io::vsi::fetched_so_far() - fetched_hashing_from));
    // Hashing read remote files whole through GDAL's cache; emptied so that what reading the plot
    // windows fetches is measured, not served from what hashing left behind.
    if new_scenes.iter().any(|(s, _)| s.files().iter().any(|f| crate::io::vsi::is_network_path(f))) {
        crate::io::vsi::clear_cache();
    }
    let fetched_from = crate::io::vsi::fetched_so_far();
    // Plots are scanned in groups whose per-pixel state fits the budget, so that memory does not grow
    // with the registry. With more than one group, an acquisition's verdicts (its scale checked, its
    // season measured over every plot window) are taken in a first pass over the scenes, before any
    // plot's history changes; with one, in the same pass, as the windows are read only once.
    let groups = groups_in_read_order(&windows, options.state_budget_px);
    let row_bands: Vec<Option<Vec<std::ops::Range<usize>>>> =
        windows.iter().map(|w| rows::row_bands(&w.grid, options.state_budget_px)).collect();
    let scan = ScanContext { backend, bands: &req.bands, options, cloud_buffer_px, settings: &settings };
    let mut processed: Vec<(Scene, String, f64)> = Vec::new();
    let mut verdicts: Vec<Option<SceneVerdict>> = Vec::new();
    if groups.len() > 1 || row_bands.iter().any(Option::is_some) {
        progress.stage("measuring scenes");
        progress.start("scenes", new_scenes.len() as u64);
        for (scene, hash) in &new_scenes {
            match measure_scene(&scan, scene, &windows, &groups, &row_bands, &mut reads) {
                Ok(v) => {
                    processed.push((scene.clone(), hash.clone(), v.plot_clear));
                    verdicts.push(Some(v));
                }
                Err(e) => skipped.push(e.to_string()),
            }
            progress.advance(&scene.id);
        }
        progress.finish();
    } else {
        processed = new_scenes.iter().map(|(s, h)| (s.clone(), h.clone(), 0.0)).collect();
        verdicts = vec![None; processed.len()];
    }

    let iso = |day: i32| from_day_number(day).map(|d| d.to_string()).unwrap_or_default();
    let writer = store.begin()?;
    let dismissed = writer.dismissed_flags()?;
    let confirmed = writer.confirmed_flags()?;
    let mut results: Vec<Option<ScannedPlot>> = (0..windows.len()).map(|_| None).collect();
    let mut restore_warnings: Vec<Option<String>> = vec![None; windows.len()];
    let mut failed = vec![false; processed.len()];
    for (g, group) in groups.iter().enumerate() {
        let mut trackers = Vec::with_capacity(group.len());
        // The stored state blob of a plot scanned by rows that goes on from the store (its bands are
        // read as they are scanned).
        let mut stored_by_rows: Option<Vec<u8>> = None;
        for &i in group {
            let plot = &registry.plots[i];
            let (grid, mask) = (windows[i].grid.clone(), windows[i].mask.clone());
            let mut tracker = match row_bands[i] {
                Some(_) => PlotTracker::by_rows(plot.clone(), grid, mask),
                None => PlotTracker::new(plot.clone(), grid, mask),
            };
            if let Some(stored) = writer.plot(&plot.plot_id)? {
                let by_rows = row_bands[i].is_some();
                if restore(&writer, &mut tracker, &stored, by_rows, &mut restore_warnings[i])? && by_rows {
                    stored_by_rows = Some(stored.state);
                }
                let reviewed = |ids: &std::collections::BTreeSet<String>| {
                    tracker.flags.iter().filter(|f| ids.contains(&f.flag_id)).map(|f| f.flag_id.clone()).collect()
                };
                tracker.dismissed = reviewed(&dismissed);
                tracker.confirmed = reviewed(&confirmed);
            }
            trackers.push(tracker);
        }
        if groups.len() > 1 {
            progress.stage(&format!("scanning plots (group {} of {})", g + 1, groups.len()));
        }
        let by_rows = match (group.as_slice(), trackers.as_mut_slice()) {
            ([i], [tracker]) => row_bands[*i].as_ref().map(|bands| (*i, tracker, bands)),
            _ => None,
        };
        if let Some((i, tracker, bands)) = by_rows {
            // Verdicts were all measured in the first pass, and every scene that failed there is out
            // of `processed`.
            let scenes: Vec<(&Scene, SceneVerdict)> = processed
                .iter()
                .zip(&verdicts)
                .map(|((s, _, _), v)| (s, v.expect("measured before any plot is scanned by rows")))
                .collect();
            progress.stage(&format!("scanning plot {} in {} bands of rows", tracker.plot.plot_id, bands.len()));
            let stored = stored_by_rows.as_deref();
            rows::scan_by_rows(&scan, &writer, tracker, &windows[i], bands, stored, &scenes, &mut reads)?;
        } else {
            progress.start("scenes", processed.len() as u64);
            for (k, (scene, _, clear)) in processed.iter_mut().enumerate() {
                if failed[k] {
                    continue;
                }
                match process_scene(&scan, scene, &mut trackers, verdicts[k], &mut reads) {
                    Ok(c) => *clear = c,
                    // Only with one group: the scene is skipped before any plot's history changed.
                    Err(e) if verdicts[k].is_none() => {
                        failed[k] = true;
                        skipped.push(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
                progress.advance(&scene.id);
            }
            progress.finish();
        }
        // Written in registry order within the group (with one group, the registry's).
        let mut done: Vec<(usize, PlotTracker)> = group.iter().copied().zip(trackers).collect();
        done.sort_by_key(|(i, _)| *i);
        for (i, t) in done {
            let stored = StoredPlot {
                grid_json: serde_json::to_string(&t.grid).map_err(|e| Error::store(store_path(req), e))?,
                mask: t.mask.iter().copied().collect(),
                state: match &row_bands[i] {
                    Some(bands) => rows::row_bands_marker(bands[0].len(), t.grid.height),
                    None => t.state.to_bytes(),
                },
                flags_json: serde_json::to_string(&t.flags).map_err(|e| Error::store(store_path(req), e))?,
                record: serde_json::to_string(&t.record).map_err(|e| Error::store(store_path(req), e))?,
            };
            writer.save_plot_state(&t.plot.plot_id, &stored)?;
            for (k, d) in t.days.iter().enumerate() {
                writer.stage_plot_day(
                    ((i as i64) << 24) | k as i64,
                    &t.plot.plot_id,
                    &iso(d.day),
                    &d.scene_id,
                    d.clear_fraction,
                    d.ndvi,
                    d.bsi,
                    &d.cover.to_string(),
                    &d.active.to_string(),
                )?;
            }
            results[i] =
                Some(ScannedPlot { plot: t.plot, grid: t.grid, flags: t.flags, history: t.history, record: t.record });
        }
    }
    let processed: Vec<(Scene, String, f64)> =
        processed.into_iter().zip(&failed).filter(|(_, f)| !**f).map(|(p, _)| p).collect();
    warnings.extend(restore_warnings.into_iter().flatten());
    let trackers: Vec<ScannedPlot> = results.into_iter().map(|r| r.expect("every plot is in one group")).collect();
    reads.file_bytes = reading_from.zip(bytes_read_so_far()).map(|(a, b)| b - a);
    reads.fetched_bytes = crate::io::vsi::fetched_so_far() - fetched_from;

    progress.stage("vectorizing flags");
    let mut all_hashes: Vec<String> = ingested.keys().cloned().collect();
    all_hashes.extend(processed.iter().map(|(_, h, _)| h.clone()));
    all_hashes.sort();
    let as_of = processed.iter().map(|(s, _, _)| s.date).max().or(last_day);
    let registry_print: Vec<String> = trackers
        .iter()
        .map(|t| format!("{}:{}", t.plot.plot_id, serde_json::to_string(&t.grid).unwrap_or_default()))
        .collect();
    let scan_id = stable_id(
        "scan",
        &[
            &as_of.map(|d| d.to_string()).unwrap_or_default(),
            &all_hashes.join(","),
            &stable_id("plots", &registry_print.iter().map(String::as_str).collect::<Vec<_>>()),
        ],
    );
    progress.start("plots", trackers.len() as u64);
    let plot_flags: Vec<Vec<Flag>> = trackers
        .iter()
        .map(|t| {
            progress.advance(&t.plot.plot_id);
            flags_of(t, &scan_id)
        })
        .collect::<Result<_>>()?;
    progress.finish();

    progress.stage("writing the store");
    let srs_name = crs::srs_from_wkt(&frame.crs_wkt).and_then(|s| s.name()).unwrap_or_else(|| "analysis CRS".into());
    let mut changed_count = 0usize;
    let mut per_plot = Vec::new();
    {
        let srs_id = writer.set_frame(&frame, &srs_name)?;
        for (path, fp, hash) in &hash_updates {
            writer.cache_hash(path, fp, hash)?;
        }
        for (scene, hash, clear) in &processed {
            writer.add_scene(
                hash,
                &scene.id,
                &scene.date.to_string(),
                &absolute(&scene.source),
                scene.cloud_cover,
                *clear,
            )?;
        }
        let mut order: Vec<(i32, String, usize, usize)> = Vec::new();
        for (ti, t) in trackers.iter().enumerate() {
            for (fi, f) in t.flags.iter().enumerate() {
                order.push((f.created, f.flag_id.clone(), ti, fi));
            }
        }
        order.sort();
        for (_, _, ti, fi) in &order {
            let t = &trackers[*ti];
            let flag = &plot_flags[*ti][*fi];
            let envelope = envelope(&flag.geometry);
            let changed = writer.upsert_flag(flag, envelope, srs_id)?;
            let touched = processed.iter().any(|(s, _, _)| day_number(s.date) == t.flags[*fi].changed_on);
            if changed || touched {
                let op = if flag.status == FlagStatus::Resolved { "resolve" } else { "upsert" };
                writer.add_change(&scan_id, &flag.flag_id, op)?;
                changed_count += 1;
            }
        }
        // Rows go in by acquisition, then id: the order one scan of all months would use, so that
        // scanning in monthly steps gives the same row ids.
        let mut history: Vec<_> = trackers.iter().flat_map(|t| t.history.iter()).collect();
        history.sort_by(|a, b| (a.day, &a.flag_id).cmp(&(b.day, &b.flag_id)));
        for h in history {
            writer.add_history(&h.flag_id, &iso(h.day), h.status, h.pixels as f64 * settings.pixel_area)?;
        }
        writer.write_staged_plot_days()?;
        for (index, t) in trackers.iter().enumerate() {
            let line = plot_line(t);
            let geometry = plot_geometry(&geometries[index], &registry)?;
            writer.upsert_plot(
                &PlotRow {
                    plot_id: t.plot.plot_id.clone(),
                    name: t.plot.name.clone(),
                    category: t.plot.category.map(|c| c.name().to_string()),
                    works_allowed: t.plot.works_allowed,
                    listed_on: t.plot.listed_on.map(|d| d.to_string()),
                    observations: t.record.observed,
                    last_observed: t.record.last_observed.and_then(from_day_number).map(|d| d.to_string()),
                    active_flags: line.active.values().sum::<usize>() as u32,
                    state: line.state.clone(),
                    geometry,
                },
                srs_id,
            )?;
            per_plot.push(line);
        }
        let summary_json = serde_json::json!({"scenes_new": processed.len(), "skipped": skipped});
        writer.add_scan(
            &scan_id,
            &started_at,
            as_of.map(|d| d.to_string()).as_deref(),
            &absolute(&req.plots),
            &absolute(&req.scenes),
            processed.len(),
            &summary_json.to_string(),
        )?;
        writer.commit()?;
    }

    let mut outputs = Vec::new();
    let mut flags: Vec<Flag> = plot_flags.into_iter().flatten().collect();
    flags.sort_by(|a, b| a.flag_id.cmp(&b.flag_id));
    let flag_set = FlagSet { flags, crs_wkt: frame.crs_wkt.clone() };
    if let (Some(out), Some(format)) = (&req.out, out_format) {
        progress.stage("writing flags");
        write_flags(out, format, &flag_set, req.overwrite)?;
        outputs.push(out.clone());
    }
    if let Some(p) = &req.store {
        outputs.push(p.clone());
    }
    let outside: Vec<&PlotLine> = per_plot.iter().filter(|p| p.state == "outside_scenes").collect();
    for p in &outside {
        warnings.push(format!("plot {}: unobserved, outside every scene", p.plot_id));
    }
    for p in per_plot.iter().filter(|p| p.state == "unobserved") {
        warnings.push(format!("plot {}: unobserved, no clear acquisition yet", p.plot_id));
    }
    let all_flags = store.flags()?;
    let summary = ScanSummary {
        scan_id,
        as_of,
        scenes_listed: scenes.len(),
        scenes_new: processed.len(),
        scenes_known: known,
        skipped_inputs: !skipped.is_empty() || !outside.is_empty() || registry.skipped > 0,
        scenes_skipped: skipped,
        plots: trackers.len(),
        flags: crate::store::count_by_kind_status(&all_flags),
        flags_changed: changed_count,
        per_plot,
        outputs,
        backend: backend.name(),
        warnings,
        report: None,
        reads,
    };
    Ok((summary, store, flag_set))
}

/// Refuses a scan whose store or `--out` is one of its inputs (the registry, the catalogue, a scene's
/// band: only known once the scenes are listed) or each other, before the store is opened.
fn check_files(req: &ScanRequest, scenes: &[Scene]) -> Result<()> {
    let mut files = RunFiles::new(req.overwrite).input("--plots", &req.plots);
    if req.scenes.is_file() {
        files = files.input("--scenes", &req.scenes);
    }
    // Remote scenes cannot be overwritten by a local output, and have no local file to check.
    let local = |p: &std::path::Path| !crate::io::vsi::is_network_path(p);
    for s in scenes {
        for f in s.files().into_iter().filter(|f| local(f)) {
            files = files.input(&format!("scene {} band", s.id), &f);
        }
        if local(&s.source) {
            files = files.input(&format!("scene {}", s.id), &s.source);
        }
    }
    if let Some(store) = &req.store {
        files = files.store("--store", store);
    }
    if let Some(out) = &req.out {
        files = files.output("--out", out, crate::export::resolve_format(out, req.format)?.sidecars());
    }
    files.check()
}

/// A path as the store keeps it: absolute, so that `report` finds the imagery from any working
/// directory (and, for a folder moved with its store, by the path's tail under the store's folder).
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).to_string_lossy().into_owned()
}

fn store_path(req: &ScanRequest) -> PathBuf {
    req.store.clone().unwrap_or_else(|| PathBuf::from("<memory>"))
}

/// The analysis frame of a new store: the first scene's grid when it is metric, else the UTM zone of
/// the registry's centre at the scene's resolution.
fn frame_from_scenes(scenes: &[Scene], registry: &PlotRegistry) -> Result<AnalysisFrame> {
    let first =
        scenes.first().ok_or_else(|| Error::input(&registry.path, "no scenes to scan: cannot fix an analysis grid"))?;
    let (_, band) = first.bands.first().ok_or_else(|| Error::input(&first.source, "scene without bands"))?;
    let raster = Raster::open(&band.path)?;
    let grid = raster.grid();
    let srs = crs::srs_from_wkt(&grid.crs_wkt).ok_or_else(|| Error::input(&band.path, "has no usable CRS"))?;
    if crs::is_metric_projected(&srs) {
        return Ok(AnalysisFrame::of_grid(grid));
    }
    let wgs84 = crs::srs_from_epsg(4326).expect("EPSG:4326");
    let plots = crs::transform_bounds(
        &registry.bounds_in(&wgs84.to_wkt().map_err(|e| Error::gdal(&registry.path, e))?)?.iter().fold(
            crate::raster::Bounds { min_x: f64::MAX, min_y: f64::MAX, max_x: f64::MIN, max_y: f64::MIN },
            |a, b| a.union(b),
        ),
        &wgs84,
        &wgs84,
    )
    .ok_or_else(|| Error::input(&registry.path, "plot bounds cannot be transformed"))?;
    let epsg = crs::utm_epsg((plots.min_x + plots.max_x) / 2.0, (plots.min_y + plots.max_y) / 2.0);
    let utm = crs::srs_from_epsg(epsg).expect("UTM zones are in the EPSG database");
    let scene_bounds = crs::transform_bounds(&grid.bounds(), &srs, &utm)
        .ok_or_else(|| Error::input(&band.path, "footprint cannot be transformed"))?;
    let resolution = ((scene_bounds.area() / grid.len() as f64).sqrt() * 100.0).round() / 100.0;
    Ok(AnalysisFrame {
        crs_wkt: utm.to_wkt().map_err(|e| Error::gdal(&band.path, e))?,
        epsg: Some(epsg),
        resolution,
        origin_x: 0.0,
        origin_y: 0.0,
    })
}

/// Takes up a plot's stored continuation: its flags, record and (for a plot held whole) per-pixel
/// state; a plot scanned by rows reads its state band by band as it goes ([`rows::scan_by_rows`]).
fn restore(
    writer: &crate::store::StoreWriter,
    tracker: &mut PlotTracker,
    stored: &StoredPlot,
    by_rows: bool,
    warning: &mut Option<String>,
) -> Result<bool> {
    let grid: Option<Grid> = serde_json::from_str(&stored.grid_json).ok();
    let same = grid.as_ref() == Some(&tracker.grid) && stored.mask == tracker.mask.iter().copied().collect::<Vec<u8>>();
    let stored_by_rows = stored.state.starts_with(rows::ROW_BANDS_MAGIC);
    let state = match (same, by_rows) {
        (false, _) => None,
        // Checked band by band as they are read.
        (true, true) if stored_by_rows => Some(TemporalState::new(0, 0)),
        // Stored whole: decoded once here, cut into bands by the scan.
        (true, true) => TemporalState::from_bytes(&stored.state),
        (true, false) => rows::assemble_rows(writer, &tracker.plot.plot_id, &stored.state, &tracker.grid)?,
    };
    if stored_by_rows && !by_rows {
        // Stored whole from now on.
        writer.clear_plot_rows(&tracker.plot.plot_id)?;
    }
    let flags: Option<Vec<TrackedFlag>> = serde_json::from_str(&stored.flags_json).ok();
    match (same, state, flags) {
        (true, Some(state), Some(flags)) => {
            tracker.state = state;
            tracker.flags = flags;
            tracker.record = serde_json::from_str(&stored.record).unwrap_or_default();
            return Ok(true);
        }
        (false, _, _) => {
            *warning = Some(format!(
                "plot {}: its geometry changed since the last scan; its history starts again",
                tracker.plot.plot_id
            ))
        }
        _ => {
            *warning = Some(match TemporalState::layout_of(&stored.state) {
                Some(layout) if !stored.state.starts_with(crate::temporal::state::STATE_MAGIC) => {
                    format!(
                        "plot {}: its stored per-pixel state is of layout {layout}; its history starts again under the \
                     seasonal model, and this scan stores it in the new layout",
                        tracker.plot.plot_id
                    )
                }
                _ => format!("plot {}: stored state unreadable; its history starts again", tracker.plot.plot_id),
            })
        }
    }
    Ok(false)
}

/// A plot's analysis window: its grid on the frame and the mask of its pixels.
struct PlotWindow {
    grid: Grid,
    mask: Array2<u8>,
}

/// What a scan keeps of a plot once its group is scanned and its per-pixel state stored: what the
/// flags, the plot row and the history are written from.
struct ScannedPlot {
    plot: crate::io::plots::Plot,
    grid: Grid,
    flags: Vec<TrackedFlag>,
    history: Vec<crate::scan::tracker::FlagHistoryEntry>,
    record: crate::scan::tracker::PlotRecord,
}

/// The fixed inputs of reading and applying scenes.
struct ScanContext<'a> {
    backend: &'a dyn Backend,
    bands: &'a BandSelection,
    options: &'a ScanOptions,
    cloud_buffer_px: usize,
    settings: &'a TrackSettings,
}

/// What an acquisition as a whole says, measured over every plot window before any plot's history
/// changes: whether the area is dormant (no green season), and the clear share of plot pixels.
#[derive(Debug, Clone, Copy)]
struct SceneVerdict {
    dormant: bool,
    plot_clear: f64,
}

/// The sums a [`SceneVerdict`] is taken from, added window by window.
#[derive(Default)]
struct SceneTotals {
    sample: ValueSample,
    ndvi: Vec<f32>,
    total: usize,
    clear: usize,
    /// (plot index, clear plot pixels, plot pixels), per plot or per band of a plot's rows; summed in
    /// plot order at the end.
    plot_clear: Vec<(usize, usize, usize)>,
}

impl SceneTotals {
    fn add(&mut self, index: usize, o: &PlotObservation) {
        self.total += o.planes.class.len();
        self.clear += o.planes.class.iter().filter(|c| **c != LandClass::NoData as u8).count();
        self.ndvi.extend(o.planes.ndvi.iter().copied().filter(|v| v.is_finite()));
        self.plot_clear.push((index, o.clear_pixels, o.plot_pixels));
    }

    /// Fails when the scene's scale is wrong (before any plot's history changes).
    fn verdict(mut self, scene: &Scene) -> Result<SceneVerdict> {
        self.sample.check(scene)?;
        let median_ndvi = median(self.ndvi.into_iter());
        let clear_fraction = self.clear as f32 / self.total.max(1) as f32;
        self.plot_clear.sort_by_key(|(i, _, _)| *i);
        let mut per_plot: Vec<(usize, usize, usize)> = Vec::with_capacity(self.plot_clear.len());
        for (i, clear, all) in self.plot_clear {
            match per_plot.last_mut() {
                Some(last) if last.0 == i => {
                    last.1 += clear;
                    last.2 += all;
                }
                _ => per_plot.push((i, clear, all)),
            }
        }
        let n = per_plot.len();
        let share = |(_, clear, all): &(usize, usize, usize)| (*clear as f32 / (*all).max(1) as f32) as f64;
        let plot_clear = per_plot.iter().map(share).sum::<f64>() / n.max(1) as f64;
        Ok(SceneVerdict { dormant: is_dormant(median_ndvi, clear_fraction), plot_clear })
    }
}

/// Where a window is read from: its band of rows, then west to east. Plots clustered in one estate
/// share compressed blocks, which GDAL's cache then inflates once for all of them.
fn read_order_key(grid: &Grid) -> (i64, i64) {
    let (x, y) = (grid.transform.0[0], grid.transform.0[3]);
    ((-y / READ_BAND_M).floor() as i64, x.floor() as i64)
}

/// Plot indices in read order, cut into groups of at most `budget_px` pixels of per-pixel state (a
/// plot larger than that is a group of its own).
fn groups_in_read_order(windows: &[PlotWindow], budget_px: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|i| read_order_key(&windows[*i].grid));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut pixels = 0usize;
    for i in order {
        let n = windows[i].grid.len();
        match groups.last_mut() {
            Some(g) if pixels + n <= budget_px.max(1) => g.push(i),
            _ => {
                groups.push(vec![i]);
                pixels = 0;
            }
        }
        pixels += n;
    }
    groups
}

/// Reads and classifies the windows `indices` (in that order) of one scene.
fn read_windows(
    scan: &ScanContext,
    reader: &SceneReader,
    footprint: Option<&crate::raster::Bounds>,
    windows: &[(&Grid, &Array2<u8>, Vec<u8>)],
    indices: &[usize],
    mut sample: Option<&mut ValueSample>,
    reads: &mut ReadVolume,
) -> Result<Vec<PlotObservation>> {
    let scene = reader.scene();
    let mut out = Vec::with_capacity(indices.len());
    for &i in indices {
        let (grid, mask, bright) = (windows[i].0, windows[i].1, windows[i].2.as_slice());
        let inside = footprint.is_none_or(|f| grid.bounds().intersection(f).is_some());
        let obs = if inside {
            let raw = reader.read(grid)?;
            if let Some(s) = sample.as_deref_mut() {
                s.count(&raw);
                if reader.surface_reflectance() {
                    s.add(&raw);
                }
            }
            reads.windows += 1;
            reads.decoded_bytes += reader.decoded_bytes(grid);
            classify_window(scan.backend, raw, mask, bright, &scan.options.rules, scan.cloud_buffer_px)?
        } else {
            empty_observation(grid, scene.has_swir())
        };
        out.push(obs);
    }
    Ok(out)
}

/// The verdict of one scene over every plot window, group by group, without holding more than a
/// group's observations.
fn measure_scene(
    scan: &ScanContext,
    scene: &Scene,
    windows: &[PlotWindow],
    groups: &[Vec<usize>],
    row_bands: &[Option<Vec<std::ops::Range<usize>>>],
    reads: &mut ReadVolume,
) -> Result<SceneVerdict> {
    let reader = SceneReader::open(scene, scan.bands)?;
    let footprint = scene_footprint(&reader, windows.first().map(|w| &w.grid))?;
    // The plots' states are not loaded for this pass, so white roofs the states know are masked like
    // clouds here; they are a few pixels of a scene, and only the area's median NDVI and clear share,
    // not any pixel's class, come from this pass.
    let windows: Vec<(&Grid, &Array2<u8>, Vec<u8>)> = windows.iter().map(|w| (&w.grid, &w.mask, Vec::new())).collect();
    let mut totals = SceneTotals::default();
    for group in groups {
        if let [i] = group.as_slice() {
            if let Some(bands) = &row_bands[*i] {
                for band in bands {
                    let read = rows::ReadBand::new(windows[*i].0, windows[*i].1, band.clone(), scan.cloud_buffer_px);
                    let observation = read.observe(scan, scene, &[], Some(&mut totals.sample), reads)?;
                    totals.add(*i, &observation);
                }
                continue;
            }
        }
        let observations =
            read_windows(scan, &reader, footprint.as_ref(), &windows, group, Some(&mut totals.sample), reads)?;
        for (i, o) in group.iter().zip(&observations) {
            totals.add(*i, o);
        }
    }
    totals.verdict(scene)
}

/// Reads one scene for a group of plots and applies it to their trackers. Without a `verdict` (the
/// group is every plot), the acquisition is measured on the windows read, before any history changes.
/// Returns the clear share of plot pixels.
fn process_scene(
    scan: &ScanContext,
    scene: &Scene,
    trackers: &mut [PlotTracker],
    verdict: Option<SceneVerdict>,
    reads: &mut ReadVolume,
) -> Result<f64> {
    let reader = SceneReader::open(scene, scan.bands)?;
    let footprint = scene_footprint(&reader, trackers.first().map(|t| &t.grid))?;
    let windows: Vec<(&Grid, &Array2<u8>, Vec<u8>)> =
        trackers.iter().map(|t| (&t.grid, &t.mask, t.bright_surfaces())).collect();
    let mut order: Vec<usize> = (0..trackers.len()).collect();
    order.sort_by_key(|i| read_order_key(windows[*i].0));
    let mut totals = SceneTotals::default();
    let sample = verdict.is_none().then_some(&mut totals.sample);
    let read = read_windows(scan, &reader, footprint.as_ref(), &windows, &order, sample, reads)?;
    drop(windows);
    let mut observations: Vec<Option<PlotObservation>> = (0..trackers.len()).map(|_| None).collect();
    for (i, o) in order.into_iter().zip(read) {
        observations[i] = Some(o);
    }
    let mut observations: Vec<PlotObservation> =
        observations.into_iter().map(|o| o.expect("every plot observed or marked outside")).collect();
    let verdict = match verdict {
        Some(v) => v,
        None => {
            for (i, o) in observations.iter().enumerate() {
                totals.add(i, o);
            }
            totals.verdict(scene)?
        }
    };
    if !scene.has_swir() && verdict.dormant {
        for o in observations.iter_mut() {
            set_aside_bare(&mut o.planes);
        }
    }
    let ctx = DateContext::on(day_number(scene.date), !verdict.dormant);
    let acq = Acquisition { day: ctx.day, scene_id: scene.id.clone() };
    let results: Vec<Result<()>> = trackers
        .par_iter_mut()
        .zip(observations.par_iter())
        .map(|(t, o)| t.observe(scan.backend, &acq, o, &ctx, scan.settings))
        .collect();
    for r in results {
        r?;
    }
    Ok(verdict.plot_clear)
}

fn scene_footprint(reader: &SceneReader, sample: Option<&Grid>) -> Result<Option<crate::raster::Bounds>> {
    let Some(sample) = sample else { return Ok(None) };
    let Some((_, band)) = reader.scene().bands.first() else { return Ok(None) };
    let raster = Raster::open(&band.path)?;
    let grid = raster.grid();
    let (Some(from), Some(to)) = (crs::srs_from_wkt(&grid.crs_wkt), crs::srs_from_wkt(&sample.crs_wkt)) else {
        return Ok(None);
    };
    Ok(crs::transform_bounds(&grid.bounds(), &from, &to))
}

fn empty_observation(grid: &Grid, has_swir: bool) -> PlotObservation {
    let n = grid.len();
    PlotObservation {
        planes: crate::compute::ObservationPlanes {
            class: vec![LandClass::NoData as u8; n],
            bands: vec![f32::NAN; crate::temporal::model::BANDS * n],
            ndvi: vec![f32::NAN; n],
            bsi: vec![f32::NAN; n],
        },
        plot_pixels: 0,
        clear_pixels: 0,
        has_swir,
        inside_scene: false,
        cloud_like: Vec::new(),
    }
}

/// The contract's flags of one tracker, polygonized.
fn flags_of(t: &ScannedPlot, scan_id: &str) -> Result<Vec<Flag>> {
    let pixel_area = t.grid.transform.pixel_area();
    t.flags
        .iter()
        .map(|f| {
            let mut labels = Array2::<u32>::zeros((t.grid.height, t.grid.width));
            for p in &f.footprint {
                labels[[*p as usize / t.grid.width, *p as usize % t.grid.width]] = 1;
            }
            let polygons = polygonize(labels.view(), &t.grid)?;
            let geometry =
                polygons.into_iter().max_by(|a, b| a.area.total_cmp(&b.area)).map(|p| p.wkb).unwrap_or_default();
            let last_seen = from_day_number(f.last_seen);
            let bare_since = (f.kind == FlagKind::IdleBare).then(|| from_day_number(f.bare_since)).flatten();
            Ok(Flag {
                flag_id: f.flag_id.clone(),
                plot_id: Some(t.plot.plot_id.clone()),
                plot_name: t.plot.name.clone(),
                kind: f.kind,
                status: f.status,
                first_seen: from_day_number(f.first_seen),
                last_seen,
                bare_since,
                idle_days: bare_since.zip(last_seen).map(|(s, l)| (l - s).num_days()),
                area_m2: f.footprint.len() as f64 * pixel_area,
                confidence: f.confidence,
                evidence: f.evidence.clone(),
                scan_id: scan_id.to_string(),
                engine_version: ENGINE_VERSION.to_string(),
                geometry,
            })
        })
        .collect()
}

fn plot_line(t: &ScannedPlot) -> PlotLine {
    let mut active = BTreeMap::new();
    for f in t.flags.iter().filter(|f| f.status != FlagStatus::Resolved) {
        *active.entry(f.kind.name().to_string()).or_insert(0) += 1;
    }
    PlotLine {
        plot_id: t.plot.plot_id.clone(),
        name: t.plot.name.clone(),
        category: t.plot.category.map(|c| c.name().to_string()),
        observations: t.record.observed,
        active,
        state: t.record.state().to_string(),
    }
}

fn plot_geometry(g: &gdal::vector::Geometry, registry: &PlotRegistry) -> Result<(Vec<u8>, [f64; 4])> {
    let e = g.envelope();
    Ok((g.wkb().map_err(|e| Error::gdal(&registry.path, e))?, [e.MinX, e.MaxX, e.MinY, e.MaxY]))
}

fn envelope(wkb: &[u8]) -> [f64; 4] {
    gdal::vector::Geometry::from_wkb(wkb)
        .map(|g| {
            let e = g.envelope();
            [e.MinX, e.MaxX, e.MinY, e.MaxY]
        })
        .unwrap_or([0.0; 4])
}
