//! The report job: reads a scan from the store, finds its imagery again, measures the flagged areas on
//! every acquisition, draws the chips and writes the HTML page and the quicklooks ([`crate::report`]
//! renders them).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

use crate::compute::Backend;
use crate::error::{Error, Result};
use crate::export::{AtomicOutput, RunFiles};
use crate::flags::FlagKind;
use crate::io::plots::rasterize_geometries;
use crate::io::scenes::Scene;
use crate::progress::Progress;
use crate::raster::{Bounds, Grid};
use crate::report::charts::{CLEAR_ENOUGH, SeriesPoint};
use crate::report::chips::{self, Rgb, Stretch};
use crate::report::data::{self, FlagInfo, ReportData};
use crate::report::imagery::{self, Window};
use crate::report::{AreaStats, FlagView, Pick, ReportOptions, ReportSummary, anchor, html, svg_path};
use crate::scan::observe::SceneReader;
use crate::store::Store;
use crate::store::style::hex;

/// Chip grids larger than this many pixels across are cut down around the flag.
const MAX_CHIP_PX: usize = 320;
/// Share of the flagged area that should be clear on the "before" chip; the latest acquisition that
/// reaches it is taken, else the clearest.
const BEFORE_CLEAR: f64 = 0.8;

/// Fails early (before any work is done) when an output exists and `overwrite` is off, or when an
/// output is the store (`--out store.gpkg --overwrite` would replace it with the report) or the other.
pub fn check_outputs(store: Option<&Path>, options: &ReportOptions) -> Result<()> {
    if let Some(d) = &options.chips {
        if d.exists() && !d.is_dir() {
            return Err(Error::input(d, "--chips must be a folder"));
        }
    }
    report_files(RunFiles::new(options.overwrite), store, options).check()
}

/// The report's files added to a run's: the store it reads, the HTML and the quicklooks' index.
pub fn report_files(mut files: RunFiles, store: Option<&Path>, options: &ReportOptions) -> RunFiles {
    if let Some(s) = store.filter(|s| s.exists()) {
        files = files.input("--store", s);
    }
    if let Some(h) = &options.html {
        files = files.output("--out", h, &[]);
    }
    match &options.chips {
        Some(d) if d.is_dir() => files = files.output("--chips", &d.join("index.json"), &[]),
        // Created by the report.
        Some(d) => files = files.optional_output("--chips", d),
        None => {}
    }
    files
}

/// Writes the report of `store` (HTML and/or quicklooks, as `options` ask).
pub fn write_report(
    store: &Store,
    backend: &dyn Backend,
    options: &ReportOptions,
    progress: &dyn Progress,
) -> Result<ReportSummary> {
    let started = Instant::now();
    check_outputs(Some(store.path()), options)?;
    progress.stage("report: reading the store");
    let data = data::gather(store, options.scan.as_deref())?;
    let mut warnings = Vec::new();

    progress.stage("report: finding the imagery");
    let located = imagery::locate(&data, &options.bands);
    warnings.extend(located.warnings.iter().cloned());
    let scenes: Vec<Option<&Scene>> = data.scenes.iter().map(|s| located.by_hash.get(&s.content_hash)).collect();

    let groups = chip_groups(&data)?;
    let cloud_buffer_px = (options.scan_options.cloud_buffer_m / data.frame.resolution).ceil() as usize;
    let rules = &options.scan_options.rules;

    // Pass 1: the flagged areas on every acquisition.
    progress.start("acquisitions", scenes.iter().filter(|s| s.is_some()).count() as u64);
    type SceneStats = Vec<Vec<AreaStats>>;
    let per_scene: Vec<(usize, std::result::Result<SceneStats, String>)> = scenes
        .par_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .map(|(i, scene)| {
            let result = (|| -> Result<SceneStats> {
                let reader = SceneReader::open(scene, &options.bands)?;
                groups
                    .iter()
                    .map(|g| {
                        let w = imagery::read_window(backend, &reader, &g.grid, rules, cloud_buffer_px)?;
                        Ok(g.masks.iter().map(|m| area_stats(&w, m)).collect())
                    })
                    .collect()
            })();
            progress.advance(&data.scenes[i].scene_id);
            (i, result.map_err(|e| e.to_string()))
        })
        .collect();
    progress.finish();
    // stats[group][flag in group][scene]
    let mut stats: Vec<Vec<Vec<Option<AreaStats>>>> =
        groups.iter().map(|g| vec![vec![None; data.scenes.len()]; g.flags.len()]).collect();
    for (i, r) in per_scene {
        match r {
            Ok(per_group) => {
                for (g, flags) in per_group.into_iter().enumerate() {
                    for (k, v) in flags.into_iter().enumerate() {
                        stats[g][k][i] = Some(v);
                    }
                }
            }
            Err(e) => {
                warnings.push(format!("scene {}: {e}; its chips and series are left out", data.scenes[i].scene_id));
            }
        }
    }

    // Before and after per flag.
    let mut choices: Vec<Vec<(Pick, Pick)>> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        choices
            .push(g.flags.iter().enumerate().map(|(k, fi)| choose(&data, &data.flags[*fi], &stats[gi][k])).collect());
    }

    // Pass 2: read the chosen windows again, with reflectance kept.
    progress.stage("report: drawing chips");
    let mut wanted: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (gi, c) in choices.iter().enumerate() {
        for (b, a) in c {
            for s in [b, a].into_iter().flatten() {
                let v = wanted.entry(s.0).or_default();
                if !v.contains(&gi) {
                    v.push(gi);
                }
            }
        }
    }
    let windows: HashMap<(usize, usize), Window> = wanted
        .par_iter()
        .filter_map(|(si, gis)| {
            let scene = scenes[*si]?;
            let reader = SceneReader::open(scene, &options.bands).ok()?;
            Some(
                gis.iter()
                    .filter_map(|gi| {
                        imagery::read_window(backend, &reader, &groups[*gi].grid, rules, cloud_buffer_px)
                            .ok()
                            .map(|w| ((*si, *gi), w))
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();

    // Per flag: stretch, chips, quicklooks, series.
    let jobs: Vec<(usize, usize)> =
        groups.iter().enumerate().flat_map(|(gi, g)| (0..g.flags.len()).map(move |k| (gi, k))).collect();
    let rendered: Vec<Result<(FlagView, Option<Quicklook>)>> = jobs
        .par_iter()
        .map(|(gi, k)| {
            let g = &groups[*gi];
            let fi = g.flags[*k];
            let (before, after) = choices[*gi][*k];
            let series: Vec<SeriesPoint> = data
                .scenes
                .iter()
                .enumerate()
                .map(|(si, s)| {
                    let st = stats[*gi][*k][si];
                    SeriesPoint {
                        date: s.acquired,
                        scene_id: s.scene_id.clone(),
                        clear: st.map(|v| v.0),
                        ndvi: st.and_then(|v| v.1),
                        bsi: st.and_then(|v| v.2),
                    }
                })
                .collect();
            let flag = &data.flags[fi];
            let plot_rings = flag.flag.plot_id.as_deref().and_then(|p| data.plot(p)).map(|p| p.rings.clone());
            let flag_px = chips::to_pixels(&g.grid, &flag.rings, 1.0);
            let plot_px = chips::to_pixels(&g.grid, plot_rings.as_deref().unwrap_or(&[]), 1.0);
            let mut view = FlagView {
                flag: fi,
                grid: g.grid.clone(),
                before,
                after,
                images: Vec::new(),
                flag_path: svg_path(&flag_px),
                plot_path: svg_path(&plot_px),
                series,
                missing: None,
            };
            let pair = before.zip(after).and_then(|(b, a)| windows.get(&(b.0, *gi)).zip(windows.get(&(a.0, *gi))));
            let Some((wb, wa)) = pair else {
                view.missing = Some(if scenes.iter().all(|s| s.is_none()) {
                    "imagery not available: the scanned scenes were not found unchanged".into()
                } else {
                    "no acquisition with imagery before and after the flag".into()
                });
                return Ok((view, None));
            };
            let mut quick: Vec<(Rgb, Rgb)> = Vec::new();
            for composite in chips::composites(&wb.reflectance.roles) {
                if !wa.reflectance.roles.iter().any(|r| *r == composite.roles[0]) {
                    continue;
                }
                let Some(stretch) = chips::shared_stretch(&[wb, wa], &composite) else { continue };
                let (rb, ra) = (chips::render(wb, &stretch), chips::render(wa, &stretch));
                view.images.push((composite, stretch, chips::encode_png(&rb)?, chips::encode_png(&ra)?));
                if options.chips.is_some() {
                    quick.push((rb, ra));
                }
            }
            let quicklook = options
                .chips
                .as_ref()
                .map(|_| quicklook(&quick, &g.grid, &flag.rings, plot_rings.as_deref().unwrap_or(&[])));
            Ok((view, quicklook))
        })
        .collect();
    let mut views = Vec::with_capacity(rendered.len());
    let mut quicklooks = Vec::new();
    for r in rendered {
        let (view, q) = r?;
        if let Some(q) = q {
            quicklooks.push((view.flag, q));
        }
        views.push(view);
    }
    views.sort_by_key(|v| v.flag);
    let flags_with_chips = views.iter().filter(|v| !v.images.is_empty()).count();

    let mut chips_written = 0;
    if let Some(dir) = &options.chips {
        progress.stage("report: writing quicklooks");
        chips_written = write_quicklooks(dir, &data, &views, &quicklooks, options.overwrite)?;
    }
    let mut html_bytes = 0;
    if let Some(path) = &options.html {
        progress.stage("report: writing HTML");
        let page = html::render(&data, &views, &warnings, scenes.iter().filter(|s| s.is_some()).count());
        let out = AtomicOutput::new(path, &[], options.overwrite)?;
        std::fs::write(out.temp_path(), page.as_bytes()).map_err(|e| Error::io(path, e))?;
        out.commit()?;
        html_bytes = page.len() as u64;
    }
    Ok(ReportSummary {
        scan_id: data.scan.scan_id.clone(),
        as_of: data.scan.as_of,
        plots: data.plots.len(),
        scenes: data.scenes.len(),
        scenes_with_imagery: scenes.iter().filter(|s| s.is_some()).count(),
        flags: data.counts(),
        flags_total: data.flags.len(),
        flags_new: data.flags.iter().filter(|f| f.new_since_previous).count(),
        flags_with_chips,
        html: options.html.clone(),
        html_bytes,
        chips_dir: options.chips.clone(),
        chips_written,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// Flags that share a chip grid: those of one plot, on a grid around the plot and its flags.
struct ChipGroup {
    grid: Grid,
    flags: Vec<usize>,
    masks: Vec<Vec<bool>>,
}

fn chip_groups(data: &ReportData) -> Result<Vec<ChipGroup>> {
    let mut by_plot: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, f) in data.flags.iter().enumerate() {
        by_plot.entry(f.flag.plot_id.as_deref()).or_default().push(i);
    }
    let frame = &data.frame;
    let res = frame.resolution;
    let grid_around = |b: &Bounds| {
        let extent = (b.max_x - b.min_x).max(b.max_y - b.min_y);
        frame.grid_for(b, (3.0 * res).max(0.15 * extent))
    };
    let mut groups = Vec::new();
    for (plot, flags) in by_plot {
        let mut bounds = plot.and_then(|p| data.plot(p)).map(|p| p.bounds);
        for f in &flags {
            let b = data.flags[*f].bounds;
            bounds = Some(bounds.map_or(b, |a| a.union(&b)));
        }
        let Some(bounds) = bounds else { continue };
        let grid = grid_around(&bounds);
        let sets: Vec<(Grid, Vec<usize>)> = if grid.width.max(grid.height) <= MAX_CHIP_PX {
            vec![(grid, flags)]
        } else {
            // A large plot: each flag gets its own chip, cut to MAX_CHIP_PX around its centre.
            flags
                .into_iter()
                .map(|f| {
                    let b = data.flags[f].bounds;
                    let mut g = grid_around(&b);
                    if g.width.max(g.height) > MAX_CHIP_PX {
                        let (cx, cy) = ((b.min_x + b.max_x) / 2.0, (b.min_y + b.max_y) / 2.0);
                        let half = MAX_CHIP_PX as f64 * res / 2.0 - res;
                        g = frame.grid_for(
                            &Bounds { min_x: cx - half, min_y: cy - half, max_x: cx + half, max_y: cy + half },
                            0.0,
                        );
                    }
                    (g, vec![f])
                })
                .collect()
        };
        for (grid, flags) in sets {
            let masks = flags
                .iter()
                .map(|f| {
                    let wkb = &data.flags[*f].flag.geometry;
                    let g = gdal::vector::Geometry::from_wkb(wkb).map_err(|e| Error::gdal(&data.store_path, e))?;
                    let burnt = rasterize_geometries(&[g], &grid, &data.store_path)?;
                    Ok(burnt.iter().map(|v| *v > 0).collect())
                })
                .collect::<Result<Vec<Vec<bool>>>>()?;
            groups.push(ChipGroup { grid, flags, masks });
        }
    }
    Ok(groups)
}

/// Clear share, mean NDVI and mean BSI of the flagged pixels of a window.
fn area_stats(w: &Window, mask: &[bool]) -> AreaStats {
    let (mut n, mut clear, mut ndvi, mut nn, mut bsi, mut nb) = (0usize, 0usize, 0.0f64, 0usize, 0.0f64, 0usize);
    for (i, m) in mask.iter().enumerate() {
        if !*m {
            continue;
        }
        n += 1;
        if !w.clear(i) {
            continue;
        }
        clear += 1;
        if w.ndvi[i].is_finite() {
            ndvi += w.ndvi[i] as f64;
            nn += 1;
        }
        if w.bsi[i].is_finite() {
            bsi += w.bsi[i] as f64;
            nb += 1;
        }
    }
    let mean = |s: f64, k: usize| (k > 0).then(|| crate::flags::round4(s / k as f64));
    (if n == 0 { 0.0 } else { clear as f64 / n as f64 }, mean(ndvi, nn), mean(bsi, nb))
}

/// The before and after acquisitions of a flag (scene index and clear share of the flagged area).
fn choose(data: &ReportData, flag: &FlagInfo, stats: &[Option<AreaStats>]) -> (Pick, Pick) {
    let f = &flag.flag;
    let anchor = match f.kind {
        FlagKind::IdleBare => f.bare_since.or(f.first_seen),
        _ => f.first_seen,
    };
    let with_imagery = |i: usize| stats[i].map(|s| (i, s.0));
    let before_candidates: Vec<(usize, f64)> = data
        .scenes
        .iter()
        .enumerate()
        .filter(|(_, s)| anchor.is_none_or(|a| s.acquired < a))
        .filter_map(|(i, _)| with_imagery(i))
        .collect();
    let before = before_candidates
        .iter()
        .rev()
        .find(|(_, c)| *c >= BEFORE_CLEAR)
        .or_else(|| before_candidates.iter().rev().max_by(|a, b| a.1.total_cmp(&b.1)))
        .copied()
        // Shown from the first acquisition: nothing earlier exists, so the first one stands in.
        .or_else(|| (0..data.scenes.len()).find_map(|i| with_imagery(i).filter(|(_, c)| *c >= CLEAR_ENOUGH)));
    let last_seen = f.last_seen;
    let after = data
        .scenes
        .iter()
        .enumerate()
        .filter(|(_, s)| last_seen.is_some_and(|d| s.acquired == d))
        .find_map(|(i, _)| with_imagery(i))
        .or_else(|| (0..data.scenes.len()).rev().find_map(|i| with_imagery(i).filter(|(_, c)| *c >= CLEAR_ENOUGH)));
    (before, after)
}

/// The quicklook of a flag: before | after per composite, upscaled, with the plot boundary (dashed
/// cyan) and the flag outline (yellow) drawn in; and each of its panels alone, to be written
/// georeferenced (a GIS places a panel on its ground; the quicklook's panels lie side by side).
fn quicklook(
    panels: &[(Rgb, Rgb)],
    grid: &Grid,
    flag: &[Vec<(f64, f64)>],
    plot: &[Vec<(f64, f64)>],
) -> (Rgb, Vec<(Rgb, Rgb)>) {
    let factor = chips::quicklook_factor(grid.width, grid.height);
    let (pw, ph) = (grid.width * factor, grid.height * factor);
    let gap = chips::QUICKLOOK_GAP;
    let rows = panels.len().max(1);
    let mut out = Rgb::filled(2 * pw + gap, rows * ph + (rows - 1) * gap, [255, 255, 255]);
    let flag_px = chips::to_pixels(grid, flag, factor as f64);
    let plot_px = chips::to_pixels(grid, plot, factor as f64);
    let mut drawn = Vec::with_capacity(panels.len());
    for (row, (b, a)) in panels.iter().enumerate() {
        let mut pair = Vec::with_capacity(2);
        for (col, img) in [b, a].into_iter().enumerate() {
            let mut big = img.upscaled(factor);
            chips::draw_rings(&mut big, &plot_px, chips::PLOT_OUTLINE, 1.0, Some((4.0, 3.0)));
            chips::draw_rings(&mut big, &flag_px, chips::FLAG_OUTLINE, 2.0, None);
            out.paste(&big, col * (pw + gap), row * (ph + gap));
            pair.push(big);
        }
        let after = pair.pop().expect("two panels");
        drawn.push((pair.pop().expect("two panels"), after));
    }
    (out, drawn)
}

/// One line of the quicklook index.
#[derive(Debug, Serialize)]
struct QuicklookEntry<'a> {
    flag_id: &'a str,
    plot_id: Option<&'a str>,
    kind: &'a str,
    status: &'a str,
    file: String,
    /// Panels: rows are composites, columns are before and after.
    rows: Vec<&'a str>,
    panel_width: usize,
    panel_height: usize,
    gap: usize,
    /// Ground size of one image pixel, metres.
    metres_per_pixel: f64,
    /// Upper-left corner of the panels in the analysis CRS, and its EPSG code.
    origin: (f64, f64),
    epsg: Option<u32>,
    before: Option<(String, NaiveDate)>,
    after: Option<(String, NaiveDate)>,
    stretch: Vec<Stretch>,
    /// Each panel alone, georeferenced (world file and CRS beside it), to open in place in a GIS.
    panels: Vec<PanelEntry>,
}

/// One georeferenced panel of a quicklook.
#[derive(Debug, Serialize)]
struct PanelEntry {
    file: String,
    /// `before` or `after`.
    when: &'static str,
    /// `true` or `false` colour.
    composite: &'static str,
    acquired: Option<NaiveDate>,
}

/// A flag's quicklook and its panels (before, after per composite), outlines drawn in.
type Quicklook = (Rgb, Vec<(Rgb, Rgb)>);

fn write_quicklooks(
    dir: &Path,
    data: &ReportData,
    views: &[FlagView],
    quicklooks: &[(usize, Quicklook)],
    overwrite: bool,
) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let files: HashMap<usize, &Quicklook> = quicklooks.iter().map(|(f, q)| (*f, q)).collect();
    let mut index = Vec::new();
    let mut written = 0;
    for v in views {
        let (Some((img, panels)), false) = (files.get(&v.flag), v.images.is_empty()) else { continue };
        let flag = &data.flags[v.flag].flag;
        let stem = anchor("", &flag.flag_id);
        let name = format!("{stem}.png");
        let path = dir.join(&name);
        let out = AtomicOutput::new(&path, &[], overwrite)?;
        std::fs::write(out.temp_path(), chips::encode_png(img)?).map_err(|e| Error::io(&path, e))?;
        out.commit()?;
        written += 1;
        let factor = chips::quicklook_factor(v.grid.width, v.grid.height);
        let scene =
            |p: Option<(usize, f64)>| p.map(|(i, _)| (data.scenes[i].scene_id.clone(), data.scenes[i].acquired));
        let mut panel_files = Vec::new();
        for ((composite, ..), (before, after)) in v.images.iter().zip(panels.iter()) {
            for (when, image, acquisition) in [("before", before, v.before), ("after", after, v.after)] {
                let file = format!("{stem}.{when}-{}.png", composite.key);
                chips::write_georeferenced_png(&dir.join(&file), image, &v.grid, factor, overwrite)?;
                panel_files.push(PanelEntry {
                    file,
                    when,
                    composite: composite.key,
                    acquired: acquisition.map(|(i, _)| data.scenes[i].acquired),
                });
            }
        }
        index.push(QuicklookEntry {
            flag_id: &flag.flag_id,
            plot_id: flag.plot_id.as_deref(),
            kind: flag.kind.name(),
            status: data.flags[v.flag].status.name(),
            file: name,
            rows: v.images.iter().map(|(c, ..)| c.key).collect(),
            panel_width: v.grid.width * factor,
            panel_height: v.grid.height * factor,
            gap: chips::QUICKLOOK_GAP,
            metres_per_pixel: v.grid.transform.pixel_size().0 / factor as f64,
            origin: (v.grid.transform.0[0], v.grid.transform.0[3]),
            epsg: v.grid.epsg,
            before: scene(v.before),
            after: scene(v.after),
            stretch: v.images.iter().map(|(_, s, ..)| *s).collect(),
            panels: panel_files,
        });
    }
    let path = dir.join("index.json");
    let out = AtomicOutput::new(&path, &[], overwrite)?;
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "scan_id": data.scan.scan_id,
        "as_of": data.scan.as_of,
        "outline_colours": {"flag": hex(chips::FLAG_OUTLINE), "plot": hex(chips::PLOT_OUTLINE)},
        "flags": index,
    }))
    .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
    std::fs::write(out.temp_path(), text).map_err(|e| Error::io(&path, e))?;
    out.commit()?;
    Ok(written)
}
