//! Streaming change detection: full Sentinel-2 tiles and larger, with the same result as
//! [`detect`](crate::change::detect) to the bit (the same change raster, the same flags).
//!
//! The whole-scene detector holds both dates as float stacks, a normalized copy and every index plane:
//! about 150 bytes a pixel, 18 GB for a 10980 x 10980 tile. This path decodes every input block once (the
//! fit's sample a second time) and holds
//! - two or three strips of rows, as read (2 bytes a band for 8- and 16-bit data);
//! - per pixel of the grid: the change statistic (4 bytes) and the classes on both dates where they can
//!   matter (2 bytes), and the plot key (4 bytes) when plots are given; later the change code (1 byte);
//! - the indices of the pixels above the noise floor (up to `kept_pixels` of them), and the changed
//!   regions, cropped from the scene.
//!
//! The passes:
//! 1. (digital numbers only) two reads of the scene for the range and histogram of each band, for
//!    dark-object subtraction;
//! 2. the normalization's fit on its sample ([`FitSample`]: every pixel of small scenes, squares spread
//!    over large ones), decoded once and held while the first two strips are decoded: band-pair moments
//!    summed block by block in the order `compute::moments` fixes, so they are the whole scene's sums to
//!    the bit, and Otsu's cut between iterations from the sample's histogram, as `normalize::normalize`
//!    takes it;
//! 3. one pass down the scene: strips of whole rows of the inputs' blocks, each band of each date decoded
//!    by its own worker (one GDAL dataset per worker: a dataset may move between threads but not be
//!    shared), the next strip decoded while the current one is processed; the processing works on pieces
//!    of rows in parallel: the final statistic, smoothed with the halo rows the strip carries over from
//!    the one above, and the classes and indices of the pixels above the noise floor (`min_change_rms`:
//!    no pixel under it can change);
//! 4. the threshold from the whole histogram; the codes and the smoothing ring from the pixels above the
//!    floor; the minimum mapping unit on groups of touching changed pixels cropped from the scene
//!    (fragment merging runs its rounds in step across groups, as on the whole raster), regions numbered
//!    in raster order as the whole-raster labelling numbers them;
//! 5. the evidence of each region from the indices kept in pass 3 (or read again from the strips that
//!    hold changes, past `kept_pixels`), and polygons traced by GDAL group by group on their crops.
//!
//! Inputs that have to be warped onto the grid go the whole-scene way.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gdal::Metadata;
use ndarray::{Array2, Array3, ArrayView2, Axis, Zip, s};
use rayon::prelude::*;

use super::{ChangeOutcome, ChangeRequest, ChangeSummary, count_by_kind};
use crate::align::window_of;
use crate::change::dark_object::{BINS as DARK_BINS, haze_offset};
use crate::change::evidence::{FlagContext, RegionStats, SceneRef, flags_from_regions};
use crate::change::kinds::absorb_halo_at;
use crate::change::normalize::{FitSample, Normalization, fit_bands, gains_and_offsets};
use crate::change::threshold::{finite_range, otsu, otsu_and_minimum_error_in};
use crate::change::{ChangeCode, ChangeOptions, absorb_halo, change_kind};
use crate::compute::Backend;
use crate::compute::moments::{BLOCK, PairMoments, block_moments};
use crate::error::{Error, Result};
use crate::flags::stable_id;
use crate::io::plots::PlotRegistry;
use crate::io::raster::mark_not_data;
use crate::io::{BandMap, Raster};
use crate::progress::Progress;
use crate::raster::{BandRole, BandStack, Grid, Window};
use crate::spectral::LandClass;
use crate::spectral::classes::{ClassRules, classify_pixel};
use crate::spectral::indices::{Pixel, pixel_indices};
use crate::vectorize::union_find::DisjointSets;
use crate::vectorize::{label_regions, merge_small_parts, polygonize_crop, remove_small};

/// Pixels per piece a strip is processed in: about 48 rows of a Sentinel-2 tile, so that the halo rows
/// recomputed around each piece cost 4% and a strip still splits into a dozen pieces for the workers.
const PIECE_PIXELS: usize = 1 << 19;
/// Fewest rows decoded at a time, so striped files are not read a line at a time.
const MIN_STRIP_ROWS: usize = 64;
/// GDAL's block cache during the job: every block is read once, so nothing is gained by more, and
/// GDAL's default (5% of the memory) would be resident memory of its own.
const GDAL_CACHE_BYTES: i64 = 64 << 20;
/// Columns of the array the sample's statistic is laid out in for Otsu's histogram (any shape gives the
/// same counts; this one suits every backend).
const SAMPLE_COLUMNS: usize = 4096;

/// A pixel's indices on both dates.
type Indices = ([f32; 7], [f32; 7]);

/// Where each input's pixels lie on the analysis grid, when both are read without resampling.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    before: Window,
    after: Window,
}

/// The streaming plan for two inputs on `grid`, or `None` when streaming is off or a date must be warped.
pub fn plan(options: &ChangeOptions, before: &Raster, after: &Raster, grid: &Grid) -> Option<Plan> {
    if !options.streaming {
        return None;
    }
    Some(Plan { before: window_of(before.grid(), grid)?, after: window_of(after.grid(), grid)? })
}

/// What `run_change` resolved before choosing this path.
pub struct Inputs {
    /// Earlier raster.
    pub before: Raster,
    /// Later raster.
    pub after: Raster,
    /// Bands of the earlier raster.
    pub map_before: BandMap,
    /// Bands of the later raster, in the same roles and order.
    pub map_after: BandMap,
    /// The analysis grid.
    pub grid: Grid,
    /// Whether the inputs are georeferenced.
    pub georeferenced: bool,
    /// Warnings so far.
    pub warnings: Vec<String>,
}

/// What the final pass keeps of one piece: the smoothed statistic of its rows and its finite range, their
/// classes, and the pixels above the noise floor with their indices.
type Piece = (Array2<f32>, (f32, f32), Array2<u8>, Array2<u8>, Vec<(u64, u8, u8, Indices)>);

/// Runs the `change` job on `inputs` by strips; outputs and summary are those of the whole-scene path.
pub fn run(
    backend: &dyn Backend,
    req: &ChangeRequest,
    full_codes: bool,
    plan: Plan,
    inputs: Inputs,
    progress: &dyn Progress,
) -> Result<ChangeOutcome> {
    let _cache = CacheLimit::at_most(GDAL_CACHE_BYTES);
    let clock = std::time::Instant::now();
    let lap = |what: &str| log::debug!("streaming change: {what} done at {:.2} s", clock.elapsed().as_secs_f64());
    let Inputs { before, after, map_before, map_after, grid, georeferenced, mut warnings } = inputs;
    let options = &req.options;
    let (h, w) = (grid.height, grid.width);
    let roles = map_before.roles();
    let scene = |r: &Raster, p: &Path| SceneRef {
        id: p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        date: r.info().acquired,
        path: p.display().to_string(),
    };
    let (sb, sa) = (scene(&before, &req.before), scene(&after, &req.after));
    let codec = if [(&before, &map_before), (&after, &map_after)].iter().all(|(r, m)| {
        m.bands.iter().all(|b| matches!(r.info().bands[b.index - 1].data_type.as_str(), "Byte" | "UInt16"))
    }) {
        Codec::U16
    } else {
        Codec::F32
    };
    let block_rows = [&before, &after].map(source_block).into_iter().map(|b| b.0).max().unwrap_or(1).max(1);
    let radius = options.smoothing_radius;
    // Strips of whole block rows (or `strip_rows`), tall enough to carry the halo of the next one.
    let (strip_rows, piece_rows) = if options.strip_rows > 0 {
        (options.strip_rows.max(2 * radius).max(1), options.strip_rows.div_ceil(2))
    } else {
        (block_rows * MIN_STRIP_ROWS.max(2 * radius).div_ceil(block_rows), (PIECE_PIXELS / w.max(1)).max(1))
    };
    let strips = aligned(h, if options.strip_rows > 0 { 0 } else { plan.before.row }, strip_rows);
    let scales = [&map_before, &map_after].map(|m| {
        (m.bands.iter().map(|b| b.scale as f32).collect::<Vec<_>>(), m.bands.iter().map(|b| b.offset as f32).collect())
    });
    let mut source = Source {
        backend,
        pool: Pool { paths: [req.before.clone(), req.after.clone()], free: Mutex::new(vec![[before, after]]) },
        windows: [plan.before, plan.after],
        maps: [&map_before, &map_after],
        codec,
        roles: &roles,
        scales,
        haze: None,
        carry: 2 * radius,
        w,
        nodata: [None, None],
    };
    source.nodata = [
        source.pool.with(|r| r[0].nodata_decides(&map_before))?,
        source.pool.with(|r| r[1].nodata_decides(&map_after))?,
    ];
    if !map_before.surface_reflectance {
        warnings.push(
            "inputs are digital numbers, not surface reflectance: haze removed by dark-object subtraction".into(),
        );
        progress.stage("measuring haze");
        source.haze = Some(haze_offsets(&source, &strips)?);
        lap("haze");
    }

    progress.stage("normalizing");
    let sample = FitSample::of(h, w, options);
    // The first strip is decoded while the fit runs: it does not depend on it.
    // The first two strips are decoded while the fit runs: they do not depend on it, and the fit alone
    // would leave a core idle.
    let (report, first) = rayon::join(
        || fit_on_sample(&source, &sample, options.normalization_iterations),
        || -> Result<(Held, Option<Held>)> {
            let first = source.decode(strips[0].clone(), None, None)?;
            let second = strips.get(1).map(|rows| source.decode(rows.clone(), Some(&first), None)).transpose()?;
            Ok((first, second))
        },
    );
    let (report, (first, mut prefetched)) = (report?, first?);
    lap("normalization fit");
    let fit = gains_and_offsets(&report.bands);

    let (region_keys, plots) = match &req.plots {
        Some(path) => {
            let registry = PlotRegistry::open(path, &req.plot_fields)?;
            warnings.extend(registry.warnings.iter().map(|w| format!("{}: {w}", path.display())));
            (Some(registry.rasterize(&grid)?), Some(registry.plots))
        }
        None => (None, None),
    };
    let pixel_area = georeferenced.then(|| grid.transform.pixel_area());
    let min_pixels = options.min_region_pixels(pixel_area);

    progress.stage("detecting change");
    let floor = if options.min_change_rms.is_finite() { options.min_change_rms } else { f32::NEG_INFINITY };
    let mut magnitude = Array2::<f32>::zeros((h, w));
    let mut classes = [(); 2].map(|_| Array2::from_elem((h, w), LandClass::NoData as u8));
    let mut range = (f32::INFINITY, f32::NEG_INFINITY);
    let mut kept: Option<Vec<(u64, Indices)>> = Some(Vec::new());
    let mut counts = Counts::default();
    // One piece: the statistic on its rows and the halo around them, smoothed, and the classes and indices
    // of its pixels above the floor. On the CPU the statistic is computed in the sweep that unpacks the
    // pixels (`Held::statistic`); other backends get the strips as stacks and run their kernels.
    let fused = backend.name().starts_with("cpu");
    let piece = |held: &Held, rows: Range<usize>| -> Result<Piece> {
        let ext = rows.start.saturating_sub(radius)..(rows.end + radius).min(h);
        let top = rows.start - ext.start;
        let stacks = if fused {
            None
        } else {
            let b = held.stack(&source, 0, ext.clone())?;
            let mut a = held.stack(&source, 1, ext.clone())?;
            backend.linear(&mut a, &fit.0, &fit.1)?;
            Some((b, a))
        };
        let raw = match &stacks {
            None => held.statistic(&source, ext.clone(), (&fit.0, &fit.1)),
            Some((b, a)) => backend.change_magnitude(b, a)?,
        };
        let smooth = backend.box_mean(raw.view(), radius)?;
        let smooth = smooth.slice(s![top..top + rows.len(), ..]).to_owned();
        let mut cb = Array2::from_elem(smooth.dim(), LandClass::NoData as u8);
        let mut ca = cb.clone();
        let above: Vec<(u64, u8, u8, Indices)> = smooth
            .as_slice()
            .expect("standard layout")
            .par_iter()
            .enumerate()
            .filter(|(_, m)| m.is_finite() && **m > floor)
            .map(|(k, _)| {
                let pixel = rows.start * w + k;
                let ((class_b, ib), (class_a, ia)) = match &stacks {
                    None => (
                        held.class_and_indices(&source, 0, pixel, None, &options.rules),
                        held.class_and_indices(&source, 1, pixel, Some((&fit.0, &fit.1)), &options.rules),
                    ),
                    Some((b, a)) => {
                        let i = top * w + k;
                        (class_and_indices(b, i, &options.rules), class_and_indices(a, i, &options.rules))
                    }
                };
                (pixel as u64, class_b, class_a, (ib, ia))
            })
            .collect();
        for (pixel, class_b, class_a, _) in &above {
            let k = *pixel as usize - rows.start * w;
            cb[[k / w, k % w]] = *class_b;
            ca[[k / w, k % w]] = *class_a;
        }
        let found = finite_range(smooth.view());
        Ok((smooth, found, cb, ca, above))
    };
    progress.start("row blocks", strips.len() as u64);
    let mut held = Some(first);
    let mut spare: Option<Held> = None;
    let mut done = 0;
    for (k, rows) in strips.iter().enumerate() {
        let current = held.take().expect("the strip was decoded");
        // The rows whose smoothing the rows decoded so far settle: all but the last `radius`.
        let end = if k + 1 == strips.len() { h } else { rows.end.saturating_sub(radius) };
        let settled = done..end.max(done);
        let pieces: Vec<Range<usize>> =
            settled.clone().step_by(piece_rows).map(|r| r..(r + piece_rows).min(settled.end)).collect();
        // The next strip is decoded while this one is processed and laid into the scene's rasters.
        let (next, processed) = rayon::join(
            || match prefetched.take() {
                Some(next) => Ok(Some(next)),
                None => {
                    strips.get(k + 1).map(|next| source.decode(next.clone(), Some(&current), spare.take())).transpose()
                }
            },
            || -> Result<()> {
                let results = pieces.par_iter().map(|p| piece(&current, p.clone())).collect::<Result<Vec<Piece>>>()?;
                counts.add(&current, rows.clone());
                for (rows, (m, found, cb, ca, above)) in pieces.iter().cloned().zip(results) {
                    range = (range.0.min(found.0), range.1.max(found.1));
                    magnitude.slice_mut(s![rows.clone(), ..]).assign(&m);
                    classes[0].slice_mut(s![rows.clone(), ..]).assign(&cb);
                    classes[1].slice_mut(s![rows, ..]).assign(&ca);
                    // The indices of every pixel that may change, while they are few; past the cap they
                    // are dropped and the region pixels' indices are read again at the end.
                    let fits = kept.as_ref().is_some_and(|k| k.len() + above.len() <= options.kept_pixels);
                    match kept.as_mut() {
                        Some(k) if fits => k.extend(above.into_iter().map(|(p, _, _, i)| (p, i))),
                        _ => kept = None,
                    }
                }
                Ok(())
            },
        );
        processed?;
        done = settled.end;
        held = next?;
        spare = Some(current);
        progress.advance("");
    }
    progress.finish();
    drop(spare);
    release_freed_memory();
    log::debug!("streaming change: {} pixels above the noise floor kept", kept.as_ref().map_or(0, |k| k.len()));
    lap("final statistic and classes");
    for (count, path) in [(counts.before, &req.before), (counts.after, &req.after)] {
        if count == 0 {
            return Err(Error::input(
                path,
                "all pixels are nodata (or NaN, infinite or absurd values) over the area both inputs cover; nothing to compare",
            ));
        }
    }
    if counts.both == 0 {
        return Err(Error::NoOverlap {
            a: req.before.clone(),
            b: req.after.clone(),
            detail: "their valid pixels never coincide (nodata covers one wherever the other has data)".into(),
        });
    }

    let (otsu_threshold, min_error_threshold) = otsu_and_minimum_error_in(backend, magnitude.view(), range)?;
    lap("threshold");
    let threshold = min_error_threshold.or(otsu_threshold).unwrap_or(f32::INFINITY).max(options.min_change_rms);

    // Codes as `detect` sets them, then the ring of the smoothing: from the pixels above the floor where
    // they were kept (every changed pixel is one of them), else from the whole rasters.
    let mut codes = Array2::<u8>::zeros((h, w));
    let coded: Option<Vec<usize>> = match &kept {
        Some(kept) => {
            let found: Vec<(usize, u8)> = kept
                .par_iter()
                .filter_map(|(pixel, _)| {
                    let (r, c) = (*pixel as usize / w, *pixel as usize % w);
                    let m = magnitude[[r, c]];
                    if !(m.is_finite() && m > threshold) {
                        return None;
                    }
                    let code =
                        change_kind(LandClass::from_u8(classes[0][[r, c]]), LandClass::from_u8(classes[1][[r, c]]));
                    (code != ChangeCode::NoData).then_some((*pixel as usize, code as u8))
                })
                .collect();
            let flat = codes.as_slice_mut().expect("standard layout");
            for (pixel, code) in &found {
                flat[*pixel] = *code;
            }
            let cells: Vec<(usize, usize)> = found.iter().map(|(p, _)| (p / w, p % w)).collect();
            absorb_halo_at(&mut codes, classes[0].view(), classes[1].view(), radius, &cells);
            Some(found.into_iter().map(|(p, _)| p).collect())
        }
        None => {
            Zip::from(&mut codes).and(&magnitude).and(&classes[0]).and(&classes[1]).par_for_each(|k, m, cb, ca| {
                if m.is_finite() && *m > threshold {
                    let code = change_kind(LandClass::from_u8(*cb), LandClass::from_u8(*ca));
                    if code != ChangeCode::NoData {
                        *k = code as u8;
                    }
                }
            });
            absorb_halo(&mut codes, classes[0].view(), classes[1].view(), radius);
            None
        }
    };
    lap("codes");
    let key_of = |r: usize, c: usize, code: u8| -> u32 {
        match (&region_keys, code) {
            (_, 0) => 0,
            (Some(p), _) if p[[r, c]] == 0 => 0,
            (Some(p), _) => (p[[r, c]] << 8) | code as u32,
            (None, _) => (1 << 8) | code as u32,
        }
    };
    // The minimum mapping unit on "any change" within a plot, then kind fragments join their neighbours,
    // group by group.
    let runs = match &coded {
        Some(pixels) => runs_of_pixels(pixels, h, w, |r, c| key_of(r, c, codes[[r, c]]) != 0),
        None => runs_of_rows(h, w, |r, c| key_of(r, c, codes[[r, c]]) != 0),
    };
    let mut parts = touching_groups(runs, codes.view(), &key_of);
    lap("groups");
    parts.par_iter_mut().for_each(|p| {
        let mut any = p.keys.mapv(|k| k >> 8);
        remove_small(&mut any, min_pixels);
        Zip::from(&mut p.keys).and(&any).for_each(|k, a| {
            if *a == 0 {
                *k = 0;
            }
        });
    });
    let mut keys: Vec<Array2<u32>> = parts.iter_mut().map(|p| std::mem::take(&mut p.keys)).collect();
    merge_small_parts(&mut keys, min_pixels, |a, b| a >> 8 == b >> 8);
    for (p, k) in parts.iter_mut().zip(keys) {
        p.keys = k;
    }
    // The final codes: the groups' keys, nodata where the statistic is (the change raster shows it).
    match (&coded, full_codes) {
        (Some(pixels), false) => {
            let flat = codes.as_slice_mut().expect("standard layout");
            for p in pixels {
                flat[*p] = 0;
            }
        }
        _ => Zip::from(&mut codes)
            .and(&magnitude)
            .par_for_each(|c, m| *c = if m.is_finite() { 0 } else { ChangeCode::NoData as u8 }),
    }
    for p in &parts {
        for ((r, c), k) in p.keys.indexed_iter() {
            if *k != 0 {
                codes[[p.row + r, p.col + c]] = (*k & 0xff) as u8;
            }
        }
    }
    let changed_pixels: usize = parts.par_iter().map(|p| p.keys.iter().filter(|k| **k != 0).count()).sum();

    lap("minimum mapping unit");
    progress.stage("vectorizing");
    let regions = Numbered::of(&parts, w);
    lap("regions");
    let mut stats = vec![RegionStats::default(); regions.count + 1];
    let add_to = |stats: &mut RegionStats, pixel: u64, (ib, ia): &Indices| {
        let (r, c) = (pixel as usize / w, pixel as usize % w);
        let plot = region_keys.as_ref().map_or(1, |p| p[[r, c]]);
        let key = (plot << 8) | codes[[r, c]] as u32;
        stats.add((r, c), key, magnitude[[r, c]], ib, ia, classes[0][[r, c]], classes[1][[r, c]]);
    };
    match &kept {
        // Region pixels are changed pixels, so among those kept (in raster order). A region lies in one
        // group, whose crop lists its pixels in raster order too: the groups are summed in parallel, each
        // region's pixels in the order the whole-scene path adds them.
        Some(kept) => {
            let found: Vec<Vec<(u32, RegionStats)>> = parts
                .par_iter()
                .zip(&regions.labels)
                .zip(&regions.numbers)
                .map(|((p, labels), numbers)| {
                    let mut local = vec![RegionStats::default(); numbers.len()];
                    for ((r, c), l) in labels.indexed_iter() {
                        if *l == 0 {
                            continue;
                        }
                        let pixel = ((p.row + r) * w + p.col + c) as u64;
                        let at = kept.partition_point(|(k, _)| *k < pixel);
                        debug_assert_eq!(kept[at].0, pixel, "a region pixel is above the floor");
                        add_to(&mut local[*l as usize], pixel, &kept[at].1);
                    }
                    numbers.iter().zip(local).skip(1).map(|(n, s)| (*n, s)).collect()
                })
                .collect();
            for (label, s) in found.into_iter().flatten() {
                stats[label as usize] = s;
            }
        }
        None => {
            log::debug!("streaming change: more pixels above the floor than kept: reading the changed strips again");
            let mut add =
                |pixel: u64, label: u32, indices: &Indices| add_to(&mut stats[label as usize], pixel, indices);
            let region_strips: Vec<Range<usize>> =
                strips.iter().filter(|rows| !regions.in_rows(rows, w).is_empty()).cloned().collect();
            in_order(
                &region_strips,
                |rows| {
                    let held = source.decode(rows.clone(), None, None)?;
                    let b = held.stack(&source, 0, rows.clone())?;
                    let mut a = held.stack(&source, 1, rows.clone())?;
                    backend.linear(&mut a, &fit.0, &fit.1)?;
                    let first = rows.start * w;
                    Ok(regions.pixels[regions.in_rows(&rows, w)]
                        .par_iter()
                        .map(|(pixel, _)| {
                            let i = *pixel as usize - first;
                            (class_and_indices(&b, i, &options.rules).1, class_and_indices(&a, i, &options.rules).1)
                        })
                        .collect::<Vec<_>>())
                },
                |rows, values| {
                    for ((pixel, label), v) in regions.pixels[regions.in_rows(&rows, w)].iter().zip(values) {
                        add(*pixel, *label, &v);
                    }
                    Ok(())
                },
            )?;
        }
    }
    drop(classes);
    lap("evidence");
    let polygons = trace(&parts, &regions, &grid)?;
    lap("polygons");
    let scan_id = stable_id(
        "change",
        &[
            &sb.id,
            &sa.id,
            &sb.date.map(|d| d.to_string()).unwrap_or_default(),
            &sa.date.map(|d| d.to_string()).unwrap_or_default(),
        ],
    );
    // Region keys are read by `flags_from_detection` only; the regions here carry theirs.
    let no_keys = Array2::<u32>::zeros((0, 0));
    let ctx = FlagContext {
        before: &sb,
        after: &sa,
        plots: plots.as_deref(),
        has_swir: roles.contains(&BandRole::Swir1),
        scan_id: &scan_id,
        region_keys: &no_keys,
    };
    let flags = flags_from_regions(&stats, polygons, &grid, &ctx, threshold);
    let summary = ChangeSummary {
        method: "multispectral".to_string(),
        grid: grid.clone(),
        georeferenced,
        valid_pixels: counts.both,
        changed_pixels,
        threshold_rms: threshold,
        otsu_rms: otsu_threshold,
        min_error_rms: min_error_threshold,
        invariant_fraction: report.invariant_fraction,
        flags_by_kind: count_by_kind(&flags),
        flags: flags.len(),
        outputs: Vec::new(),
        backend: backend.name(),
        warnings,
    };
    Ok(ChangeOutcome { summary, flags, codes, grid })
}

/// How pixel values are held between decoding and processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    /// Integers of 8- and 16-bit bands, exactly.
    U16,
    /// Anything else, as read.
    F32,
}

/// One band of one date over a strip, in the codec's type.
enum Plane {
    U16(Vec<u16>),
    F32(Vec<f32>),
}

impl Plane {
    fn empty(codec: Codec) -> Plane {
        match codec {
            Codec::U16 => Plane::U16(Vec::new()),
            Codec::F32 => Plane::F32(Vec::new()),
        }
    }

    fn set_len(&mut self, n: usize) {
        match self {
            Plane::U16(v) => v.resize(n, 0),
            Plane::F32(v) => v.resize(n, 0.0),
        }
    }

    /// Copies values `from` of `other` (of the same codec) to the start of this plane.
    fn copy_head(&mut self, other: &Plane, from: Range<usize>) {
        match (self, other) {
            (Plane::U16(a), Plane::U16(b)) => a[..from.len()].copy_from_slice(&b[from]),
            (Plane::F32(a), Plane::F32(b)) => a[..from.len()].copy_from_slice(&b[from]),
            _ => unreachable!("one codec per job"),
        }
    }

    /// Value `i` as `f32`.
    fn get(&self, i: usize) -> f32 {
        match self {
            Plane::U16(v) => f32::from(v[i]),
            Plane::F32(v) => v[i],
        }
    }

    /// Appends values `range` to `out` as `f32`.
    fn extend_f32(&self, range: Range<usize>, out: &mut Vec<f32>) {
        match self {
            Plane::U16(v) => out.extend(v[range].iter().map(|x| f32::from(*x))),
            Plane::F32(v) => out.extend_from_slice(&v[range]),
        }
    }
}

/// Both dates' pixels over rows of the grid, as read, with each date's validity.
struct Held {
    rows: Range<usize>,
    cols: Range<usize>,
    planes: [Vec<Plane>; 2],
    valid: [Vec<u8>; 2],
    /// Each band's own validity as read (kept for the next strip's reads to reuse).
    band_valid: Vec<Vec<u8>>,
}

impl Held {
    /// Rows `rows` (within those held) of one date, scaled to reflectance and haze removed exactly as the
    /// whole-scene path scales its stacks: a pixel is invalid where any band comes out non-finite, and
    /// invalid pixels hold NaN.
    fn stack(&self, source: &Source, date: usize, rows: Range<usize>) -> Result<BandStack> {
        let w = self.cols.len();
        let at = (rows.start - self.rows.start) * w..(rows.end - self.rows.start) * w;
        let n = at.len();
        let mut valid = self.valid[date][at.clone()].to_vec();
        let mut data = Vec::with_capacity(self.planes[date].len() * n);
        let (gains, offsets) = &source.scales[date];
        for (b, plane) in self.planes[date].iter().enumerate() {
            let (g, o) = (gains[b], offsets[b]);
            let start = data.len();
            plane.extend_f32(at.clone(), &mut data);
            for (x, v) in data[start..].iter_mut().zip(valid.iter_mut()) {
                *x = *x * g + o;
                *v = if x.is_finite() { *v } else { 0 };
            }
        }
        let mut data =
            Array3::from_shape_vec((self.planes[date].len(), rows.len(), w), data).expect("one plane per band");
        for mut plane in data.axis_iter_mut(Axis(0)) {
            for (x, v) in plane.as_slice_mut().expect("standard layout").iter_mut().zip(&valid) {
                *x = if *v != 0 { *x } else { f32::NAN };
            }
        }
        let valid = Array2::from_shape_vec((rows.len(), w), valid).expect("shape");
        let mut stack = BandStack::new(source.roles.to_vec(), data, valid);
        if let Some(haze) = &source.haze {
            let gains = vec![1.0f32; source.roles.len()];
            let negative: Vec<f32> = haze[date].iter().map(|o| -o).collect();
            source.backend.linear(&mut stack, &gains, &negative)?;
        }
        Ok(stack)
    }

    /// The change statistic of `rows` (RMS difference across bands, NaN where either date is invalid)
    /// under the fit `(gains, offsets)` of the later date: what `stack` on both dates, `Backend::linear`
    /// with the fit on the later one and `Backend::change_magnitude` give on the CPU, the same operations
    /// in the same order on every valid pixel, in one sweep of a row at a time instead of four passes
    /// over a dozen planes.
    fn statistic(&self, source: &Source, rows: Range<usize>, (gains, offsets): (&[f32], &[f32])) -> Array2<f32> {
        let w = self.cols.len();
        let bands = self.planes[0].len();
        let mut out = Array2::<f32>::zeros((rows.len(), w));
        out.as_slice_mut().expect("standard layout").par_chunks_mut(w.max(1)).zip(rows.into_par_iter()).for_each(
            |(sums, row)| {
                let at = (row - self.rows.start) * w..(row - self.rows.start + 1) * w;
                let mut ok: Vec<bool> = self.valid[0][at.clone()]
                    .iter()
                    .zip(&self.valid[1][at.clone()])
                    .map(|(b, a)| *b != 0 && *a != 0)
                    .collect();
                let (mut x, mut y) = (Vec::with_capacity(w), Vec::with_capacity(w));
                for b in 0..bands {
                    x.clear();
                    y.clear();
                    self.planes[0][b].extend_f32(at.clone(), &mut x);
                    self.planes[1][b].extend_f32(at.clone(), &mut y);
                    let (chain_b, chain_a) = (source.chain(0, b, None), source.chain(1, b, Some((gains, offsets))));
                    for (((s, ok), x), y) in sums.iter_mut().zip(ok.iter_mut()).zip(&x).zip(&y) {
                        let (xb, fine_b) = chain_b.apply(*x);
                        let (ya, fine_a) = chain_a.apply(*y);
                        *ok &= fine_b & fine_a;
                        let d = ya - xb;
                        *s += d * d;
                    }
                }
                for (s, ok) in sums.iter_mut().zip(&ok) {
                    *s = if *ok { (*s / bands as f32).sqrt() } else { f32::NAN };
                }
            },
        );
        out
    }

    /// The class and indices of grid pixel `pixel` on one date (under `fit` for the later date), as
    /// `class_and_indices` gives them on the stacks `stack` and `Backend::linear` make.
    fn class_and_indices(
        &self,
        source: &Source,
        date: usize,
        pixel: usize,
        fit: Option<(&[f32], &[f32])>,
        rules: &ClassRules,
    ) -> (u8, [f32; 7]) {
        let i = pixel - self.rows.start * self.cols.len();
        let mut valid = self.valid[date][i] != 0;
        let mut values = Vec::with_capacity(self.planes[date].len());
        for (b, plane) in self.planes[date].iter().enumerate() {
            let (v, fine) = source.chain(date, b, fit).apply(plane.get(i));
            valid &= fine;
            values.push(v);
        }
        if !valid {
            return (LandClass::NoData as u8, [f32::NAN; 7]);
        }
        class_of(source.roles, |k| values[k], rules)
    }

    /// Both dates of every row held, as [`stack`](Self::stack) gives them.
    fn stacks(&self, source: &Source) -> Result<[BandStack; 2]> {
        Ok([self.stack(source, 0, self.rows.clone())?, self.stack(source, 1, self.rows.clone())?])
    }
}

/// Both inputs as the job reads them: where they lie on the grid, their bands, scaling and haze.
struct Source<'a> {
    backend: &'a dyn Backend,
    pool: Pool,
    windows: [Window; 2],
    maps: [&'a BandMap; 2],
    codec: Codec,
    roles: &'a [BandRole],
    scales: [(Vec<f32>, Vec<f32>); 2],
    haze: Option<[Vec<f32>; 2]>,
    /// Rows of the strip above that a strip carries (the smoothing's halo on both sides).
    carry: usize,
    w: usize,
    /// Per date, each band's nodata value when nothing but the values decide validity.
    nodata: [Option<Vec<Option<f64>>>; 2],
}

impl Source<'_> {
    /// The chain of band `b` of `date`, under `fit` (gains and offsets per band) where given.
    fn chain(&self, date: usize, b: usize, fit: Option<(&[f32], &[f32])>) -> Chain {
        Chain {
            gain: self.scales[date].0[b],
            offset: self.scales[date].1[b],
            haze: self.haze.as_ref().map(|h| h[date][b]),
            fit: fit.map(|(g, o)| (g[b], o[b])),
        }
    }

    /// Full rows `rows` of both dates, with the last rows of `above` (the strip just above) carried over,
    /// in the buffers of `reuse` (a strip done with) where given: a strip of a Sentinel-2 tile is over a
    /// hundred megabytes, which the system would otherwise map, fault in and zero afresh every time.
    fn decode(&self, rows: Range<usize>, above: Option<&Held>, reuse: Option<Held>) -> Result<Held> {
        self.decode_window(rows, 0..self.w, above, reuse)
    }

    /// `rows` x `cols` of both dates: every band of every date read by its own worker, straight into its
    /// plane; the validity of each band then combined as `Raster::read_raw_as` combines it.
    fn decode_window(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
        above: Option<&Held>,
        reuse: Option<Held>,
    ) -> Result<Held> {
        let w = cols.len();
        let above = above.filter(|a| a.rows.end == rows.start && a.cols == cols);
        let carried = above.map_or(0, |a| self.carry.min(a.rows.len()));
        let start = rows.start - carried;
        let n = (rows.end - start) * w;
        let fresh = carried * w..n;
        let bands = self.roles.len();
        let (mut planes, mut valid, mut band_valid) = match reuse {
            Some(h) if h.cols.len() == w => (h.planes, h.valid, h.band_valid),
            _ => (
                [(); 2].map(|_| (0..bands).map(|_| Plane::empty(self.codec)).collect::<Vec<_>>()),
                [Vec::new(), Vec::new()],
                (0..2 * bands).map(|_| Vec::new()).collect(),
            ),
        };
        // Every value is written below (carried or read), so only new room is zeroed.
        planes.iter_mut().flatten().for_each(|p| p.set_len(n));
        valid.iter_mut().for_each(|v| v.resize(n, 1));
        band_valid.iter_mut().for_each(|v: &mut Vec<u8>| {
            v.clear();
            v.resize(fresh.len(), 1);
        });
        if let Some(a) = above {
            let from = (a.rows.len() - carried) * w..a.rows.len() * w;
            for date in 0..2 {
                for (p, q) in planes[date].iter_mut().zip(&a.planes[date]) {
                    p.copy_head(q, from.clone());
                }
                valid[date][..from.len()].copy_from_slice(&a.valid[date][from.clone()]);
            }
        }
        let window = |date: usize| Window {
            col: self.windows[date].col + cols.start,
            row: self.windows[date].row + rows.start,
            width: w,
            height: rows.len(),
        };
        {
            let [planes_b, planes_a] = &mut planes;
            let mut tasks: Vec<(usize, usize, &mut Plane, &mut Vec<u8>)> = Vec::with_capacity(2 * bands);
            let mut band_valid_iter = band_valid.iter_mut();
            for (date, ps) in [(0, planes_b), (1, planes_a)] {
                for (k, p) in ps.iter_mut().enumerate() {
                    tasks.push((date, k, p, band_valid_iter.next().expect("one per band and date")));
                }
            }
            tasks.par_iter_mut().try_for_each(|(date, k, plane, band_valid)| {
                self.pool.with(|rasters| {
                    let (raster, map, win) = (&rasters[*date], self.maps[*date], window(*date));
                    let values_only = self.nodata[*date].is_some();
                    match plane {
                        Plane::U16(v) if values_only => {
                            raster.read_band_values::<u16>(map, *k, win, &mut v[fresh.clone()])
                        }
                        Plane::F32(v) if values_only => {
                            raster.read_band_values::<f32>(map, *k, win, &mut v[fresh.clone()])
                        }
                        Plane::U16(v) => raster.read_band_as::<u16>(map, *k, win, &mut v[fresh.clone()], band_valid),
                        Plane::F32(v) => raster.read_band_as::<f32>(map, *k, win, &mut v[fresh.clone()], band_valid),
                    }
                })
            })?;
        }
        for (date, v) in valid.iter_mut().enumerate() {
            let v = &mut v[fresh.clone()];
            match &self.nodata[date] {
                Some(nodata) => validity_from_values(&planes[date], fresh.start, nodata, v),
                None => {
                    v.fill(1);
                    for b in &band_valid[date * bands..(date + 1) * bands] {
                        for (x, y) in v.iter_mut().zip(b) {
                            *x &= *y;
                        }
                    }
                    self.pool.with(|rasters| rasters[date].mask_by_alpha(self.maps[date], window(date), v))?;
                }
            }
        }
        Ok(Held { rows: start..rows.end, cols, planes, valid, band_valid })
    }
}

/// Which of the pixels from `start` on are data, from the values of every band and their nodata values
/// (`mark_not_data`, as `Raster::read_band_as` decides it band by band), in one sweep over all bands, a
/// cache-sized run of pixels at a time.
fn validity_from_values(planes: &[Plane], start: usize, nodata: &[Option<f64>], valid: &mut [u8]) {
    const RUN: usize = 1 << 12;
    valid.par_chunks_mut(RUN).enumerate().for_each(|(c, run)| {
        run.fill(1);
        let at = start + c * RUN..start + c * RUN + run.len();
        for (plane, nd) in planes.iter().zip(nodata) {
            match plane {
                Plane::U16(p) => mark_not_data(run, &p[at.clone()], *nd),
                Plane::F32(p) => mark_not_data(run, &p[at.clone()], *nd),
            }
        }
    });
}

/// What a value goes through between the file and the detector, for one band of one date: the band's
/// scale and offset, the haze (digital numbers only) and, for the later date, the fit: the arithmetic of
/// `Held::stack` and then `Backend::linear` on the CPU, value by value, with whether the value stayed
/// finite throughout (a pixel with a non-finite value in any band is invalid).
#[derive(Debug, Clone, Copy)]
struct Chain {
    gain: f32,
    offset: f32,
    haze: Option<f32>,
    fit: Option<(f32, f32)>,
}

impl Chain {
    #[inline(always)]
    fn apply(self, x: f32) -> (f32, bool) {
        let mut v = x * self.gain + self.offset;
        let mut fine = v.is_finite();
        if let Some(h) = self.haze {
            v = v * 1.0 + -h;
            fine &= v.is_finite();
        }
        if let Some((g, o)) = self.fit {
            v = v * g + o;
            fine &= v.is_finite();
        }
        (v, fine)
    }
}

/// Open datasets of both inputs, one pair per worker at a time.
struct Pool {
    paths: [PathBuf; 2],
    free: Mutex<Vec<[Raster; 2]>>,
}

impl Pool {
    fn with<R>(&self, f: impl FnOnce(&[Raster; 2]) -> Result<R>) -> Result<R> {
        let pair = self.free.lock().expect("pool lock").pop();
        let pair = match pair {
            Some(p) => p,
            None => [Raster::open(&self.paths[0])?, Raster::open(&self.paths[1])?],
        };
        let out = f(&pair);
        self.free.lock().expect("pool lock").push(pair);
        out
    }
}

/// Rows and columns of a raster's own blocks, looking through VRTs (nested ones too) to the file they read:
/// gdalbuildvrt gives a VRT blocks of its own that say nothing about the compressed blocks underneath.
fn source_block(r: &Raster) -> (usize, usize) {
    let own = r.info().bands.first().map_or((256, 256), |b| (b.block.1, b.block.0));
    if r.info().driver != "VRT" {
        return own;
    }
    let mut dataset: Option<gdal::Dataset> = None;
    for _ in 0..4 {
        let band = match &dataset {
            Some(d) => d.rasterband(1),
            None => r.dataset().rasterband(1),
        };
        let Ok(band) = band else { break };
        let is_vrt = dataset.as_ref().is_none_or(|d| d.driver().short_name() == "VRT");
        if !is_vrt {
            let (bw, bh) = band.block_size();
            return (bh, bw);
        }
        let file = band.metadata_item("Pixel_0_0", "LocationInfo").and_then(|x| {
            let start = x.find("<File>")? + "<File>".len();
            let end = x[start..].find("</File>")? + start;
            Some(x[start..end].to_string())
        });
        let Some(next) = file.and_then(|f| gdal::Dataset::open(&f).ok()) else { break };
        dataset = Some(next);
    }
    own
}

/// `0..len` cut where `offset + i` is a multiple of `step`: strips of the grid that are whole rows of the
/// input's blocks when the input starts `offset` rows above the grid.
fn aligned(len: usize, offset: usize, step: usize) -> Vec<Range<usize>> {
    let step = step.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let end = ((offset + start) / step * step + step - offset).min(len);
        out.push(start..end);
        start = end;
    }
    out
}

/// Runs `work` on every strip, a few strips at a time in parallel, and hands the results to `fold` in
/// strip order (sums that must be added in one order are added in that order).
fn in_order<T: Send>(
    strips: &[Range<usize>],
    work: impl Fn(Range<usize>) -> Result<T> + Sync,
    mut fold: impl FnMut(Range<usize>, T) -> Result<()>,
) -> Result<()> {
    let batch = (2 * rayon::current_num_threads()).max(1);
    for chunk in strips.chunks(batch) {
        let done: Vec<Result<T>> = chunk.par_iter().map(|rows| work(rows.clone())).collect();
        for (rows, d) in chunk.iter().zip(done) {
            fold(rows.clone(), d?)?;
        }
    }
    Ok(())
}

/// The haze offset of every band of both dates (`dark_object`), from the whole scene's range
/// and histogram of each band: two reads of the scene, which only inputs in digital numbers pay.
fn haze_offsets(source: &Source, strips: &[Range<usize>]) -> Result<[Vec<f32>; 2]> {
    let bands = source.roles.len();
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); 2 * bands];
    for rows in strips {
        let stacks = source.decode(rows.clone(), None, None)?.stacks(source)?;
        let found = stacks.iter().flat_map(|s| s.data.axis_iter(Axis(0)).map(finite_range).collect::<Vec<_>>());
        for (r, f) in ranges.iter_mut().zip(found) {
            *r = (r.0.min(f.0), r.1.max(f.1));
        }
    }
    let mut hists = vec![vec![0u64; DARK_BINS]; 2 * bands];
    let spread = |(lo, hi): (f32, f32)| hi.partial_cmp(&lo) == Some(std::cmp::Ordering::Greater);
    for rows in strips {
        let stacks = source.decode(rows.clone(), None, None)?.stacks(source)?;
        for (date, stack) in stacks.iter().enumerate() {
            for (b, plane) in stack.data.axis_iter(Axis(0)).enumerate() {
                let (lo, hi) = ranges[date * bands + b];
                if spread((lo, hi)) {
                    let found = source.backend.histogram(plane, lo, hi, DARK_BINS)?;
                    for (t, f) in hists[date * bands + b].iter_mut().zip(found) {
                        *t += f;
                    }
                }
            }
        }
    }
    let offsets = |date: usize| {
        (0..bands)
            .map(|b| haze_offset(ranges[date * bands + b].0, ranges[date * bands + b].1, &hists[date * bands + b]))
            .collect()
    };
    Ok([offsets(0), offsets(1)])
}

/// Valid pixels of each date and of both.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    before: usize,
    after: usize,
    both: usize,
}

impl Counts {
    /// Adds the pixels of `rows` (held by `held`).
    fn add(&mut self, held: &Held, rows: Range<usize>) {
        let w = held.cols.len();
        let at = (rows.start - held.rows.start) * w..(rows.end - held.rows.start) * w;
        let (vb, va) = (&held.valid[0][at.clone()], &held.valid[1][at]);
        self.before += vb.par_iter().filter(|v| **v != 0).count();
        self.after += va.par_iter().filter(|v| **v != 0).count();
        self.both += vb.par_iter().zip(va.par_iter()).filter(|(x, y)| **x != 0 && **y != 0).count();
    }
}

/// The normalization of `normalize::normalize`, fitted on `sample` decoded once and held.
fn fit_on_sample(source: &Source, sample: &FitSample, iterations: usize) -> Result<Normalization> {
    let backend = source.backend;
    let clock = std::time::Instant::now();
    let lap = |what: &str| log::debug!("normalization fit: {what} at {:.2} s", clock.elapsed().as_secs_f64());
    let squares: Vec<[BandStack; 2]> = sample
        .squares
        .par_iter()
        .map(|square| {
            let (rows, cols) = sample.window(*square);
            source.decode_window(rows, cols, None, None)?.stacks(source)
        })
        .collect::<Result<_>>()?;
    lap("sample decoded");
    let both = |[b, a]: &[BandStack; 2]| {
        Zip::from(&b.valid).and(&a.valid).fold(0usize, |n, x, y| n + usize::from(*x != 0 && *y != 0))
    };
    let common = squares.par_iter().map(both).sum::<usize>().max(1);
    let mut moments = sample_moments(sample, &squares, None, source.roles.len());
    let mut report = Normalization { bands: Vec::new(), invariant_fraction: 1.0, iterations: 0 };
    let iterations = iterations.max(1);
    for iteration in 0..iterations {
        report.bands = fit_bands(&moments, source.roles);
        report.iterations = iteration + 1;
        if iteration + 1 == iterations {
            break;
        }
        let (gains, offsets) = gains_and_offsets(&report.bands);
        let statistic: Vec<Array2<f32>> = squares
            .par_iter()
            .map(|[b, a]| {
                let mut a = a.clone();
                backend.linear(&mut a, &gains, &offsets)?;
                backend.change_magnitude(b, &a)
            })
            .collect::<Result<_>>()?;
        // Laid out in one array for the histogram, padded with NaN (which no histogram counts).
        let mut values: Vec<f32> = statistic.iter().flat_map(|m| m.iter().copied()).collect();
        values.resize(values.len().div_ceil(SAMPLE_COLUMNS).max(1) * SAMPLE_COLUMNS, f32::NAN);
        let values = Array2::from_shape_vec((values.len() / SAMPLE_COLUMNS, SAMPLE_COLUMNS), values).expect("shape");
        let Some(cut) = otsu(backend, values.view())? else { break };
        let kept =
            values.as_slice().expect("standard layout").par_iter().filter(|m| m.is_finite() && **m < cut).count();
        report.invariant_fraction = kept as f64 / common as f64;
        moments = sample_moments(sample, &squares, Some((&statistic, cut)), source.roles.len());
        lap("iteration");
    }
    Ok(report)
}

/// Moments of every band pair over the sample's pixels valid on both dates (and below `below.1` in
/// `below.0`, the statistic under the previous fit, square by square), summed as
/// `Backend::pair_moments` sums them on the whole grid with the pixels outside the sample weighted 0:
/// every block of the grid that holds sample pixels, assembled with +0.0 and "not kept" elsewhere (what
/// such a pixel adds in `block_moments`), the block sums added in block order. Blocks without sample
/// pixels add +0.0 to every sum, which changes nothing.
fn sample_moments(
    sample: &FitSample,
    squares: &[[BandStack; 2]],
    below: Option<(&[Array2<f32>], f32)>,
    bands: usize,
) -> Vec<PairMoments> {
    let (h, w, side) = (sample.height, sample.width, sample.side);
    let n = h * w;
    let per_row = w.div_ceil(side);
    let mut which = vec![usize::MAX; h.div_ceil(side) * per_row];
    for (i, (r, c)) in sample.squares.iter().enumerate() {
        which[r * per_row + c] = i;
    }
    let mut blocks: Vec<usize> = sample
        .squares
        .par_iter()
        .flat_map_iter(|square| {
            let (rows, cols) = sample.window(*square);
            rows.flat_map(move |r| (r * w + cols.start) / BLOCK..=(r * w + cols.end - 1) / BLOCK)
        })
        .collect();
    blocks.par_sort_unstable();
    blocks.dedup();
    let partials: Vec<Vec<PairMoments>> = blocks
        .par_iter()
        .map(|block| {
            let range = block * BLOCK..((block + 1) * BLOCK).min(n);
            let len = range.len();
            let mut x = vec![vec![0f32; len]; bands];
            let mut y = vec![vec![0f32; len]; bands];
            let mut keep = vec![false; len];
            let mut i = range.start;
            while i < range.end {
                let (r, c) = (i / w, i % w);
                // A run that stays in one row and one column of squares.
                let end = range.end.min(r * w + ((c / side + 1) * side).min(w));
                let s = which[(r / side) * per_row + c / side];
                if s != usize::MAX {
                    let [b, a] = &squares[s];
                    let (rows, cols) = sample.window(sample.squares[s]);
                    let sw = cols.len();
                    let at = (r - rows.start) * sw + (c - cols.start);
                    let (count, o) = (end - i, i - range.start);
                    let plane = sw * rows.len();
                    let (xb, ya) =
                        (b.data.as_slice().expect("standard layout"), a.data.as_slice().expect("standard layout"));
                    for k in 0..bands {
                        x[k][o..o + count].copy_from_slice(&xb[k * plane + at..k * plane + at + count]);
                        y[k][o..o + count].copy_from_slice(&ya[k * plane + at..k * plane + at + count]);
                    }
                    let (vb, va) =
                        (b.valid.as_slice().expect("standard layout"), a.valid.as_slice().expect("standard layout"));
                    for j in 0..count {
                        let under = below.is_none_or(|(m, cut)| {
                            let m = m[s].as_slice().expect("standard layout")[at + j];
                            m.is_finite() && m < cut
                        });
                        keep[o + j] = vb[at + j] != 0 && va[at + j] != 0 && under;
                    }
                }
                i = end;
            }
            (0..bands).map(|k| block_moments(&x[k], &y[k], &keep)).collect()
        })
        .collect();
    let mut total = vec![PairMoments::default(); bands];
    for p in &partials {
        for (t, q) in total.iter_mut().zip(p) {
            t.merge(q);
        }
    }
    total
}

/// The class and indices of pixel `i`, as `Backend::classify` and `Backend::indices` give them.
fn class_and_indices(stack: &BandStack, i: usize, rules: &ClassRules) -> (u8, [f32; 7]) {
    if stack.valid.as_slice().expect("standard layout")[i] == 0 {
        return (LandClass::NoData as u8, [f32::NAN; 7]);
    }
    let n = stack.height() * stack.width();
    let data = stack.data.as_slice().expect("standard layout");
    class_of(&stack.roles, |k| data[k * n + i], rules)
}

/// The class and indices of a valid pixel whose band `k` (in `roles` order) holds `value(k)`; bands it
/// lacks read as NaN, as the CPU backend's kernels see them.
fn class_of(roles: &[BandRole], value: impl Fn(usize) -> f32, rules: &ClassRules) -> (u8, [f32; 7]) {
    let get = |role| roles.iter().position(|r| *r == role).map_or(f32::NAN, &value);
    let p = Pixel {
        blue: get(BandRole::Blue),
        green: get(BandRole::Green),
        red: get(BandRole::Red),
        nir: get(BandRole::Nir),
        swir1: get(BandRole::Swir1),
        swir2: get(BandRole::Swir2),
    };
    let idx = pixel_indices(&p);
    (classify_pixel(&p, &idx, rules) as u8, idx)
}

/// A group of touching changed pixels, cropped: its keys (plot << 8 | code) on its bounding box, zero
/// elsewhere (pixels of other groups inside the box included).
#[derive(Debug, Default)]
struct Part {
    row: usize,
    col: usize,
    keys: Array2<u32>,
}

/// Per row, the runs (first and past-the-last column) of pixels where `on` holds, from a sweep of every
/// pixel.
fn runs_of_rows(h: usize, w: usize, on: impl Fn(usize, usize) -> bool + Sync) -> Vec<Vec<(usize, usize)>> {
    (0..h)
        .into_par_iter()
        .map(|r| {
            let mut runs = Vec::new();
            let mut start = None;
            for c in 0..=w {
                let here = c < w && on(r, c);
                match (here, start) {
                    (true, None) => start = Some(c),
                    (false, Some(s)) => {
                        runs.push((s, c));
                        start = None;
                    }
                    _ => {}
                }
            }
            runs
        })
        .collect()
}

/// [`runs_of_rows`] when `on` can hold only at `pixels` (row * width + column, ascending): the same runs
/// from those pixels alone.
fn runs_of_pixels(pixels: &[usize], h: usize, w: usize, on: impl Fn(usize, usize) -> bool) -> Vec<Vec<(usize, usize)>> {
    let mut rows = vec![Vec::new(); h];
    let mut open: Option<(usize, usize, usize)> = None;
    for p in pixels.iter().copied().filter(|p| on(p / w, p % w)) {
        let (r, c) = (p / w, p % w);
        match open {
            Some((row, start, end)) if row == r && end == c => open = Some((row, start, c + 1)),
            _ => {
                if let Some((row, start, end)) = open {
                    rows[row].push((start, end));
                }
                open = Some((r, c, c + 1));
            }
        }
    }
    if let Some((row, start, end)) = open {
        rows[row].push((start, end));
    }
    rows
}

/// The 4-connected groups of pixels with a nonzero key, from the runs of such pixels row by row.
fn touching_groups(
    rows: Vec<Vec<(usize, usize)>>,
    codes: ArrayView2<u8>,
    key_of: &(impl Fn(usize, usize, u8) -> u32 + Sync),
) -> Vec<Part> {
    let h = rows.len();
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut first_of_row = Vec::with_capacity(h + 1);
    for (r, row) in rows.iter().enumerate() {
        first_of_row.push(runs.len());
        runs.extend(row.iter().map(|(a, b)| (r, *a, *b)));
    }
    first_of_row.push(runs.len());
    let mut sets = DisjointSets::new(runs.len());
    for r in 1..h {
        let (mut i, mut j) = (first_of_row[r - 1], first_of_row[r]);
        while i < first_of_row[r] && j < first_of_row[r + 1] {
            let (a, b) = ((runs[i].1, runs[i].2), (runs[j].1, runs[j].2));
            if a.0 < b.1 && b.0 < a.1 {
                sets.join_to_lower(i, j);
            }
            if a.1 <= b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
    }
    let mut group_of = vec![usize::MAX; runs.len()];
    let mut members: Vec<Vec<usize>> = Vec::new();
    for i in 0..runs.len() {
        let root = sets.find(i);
        if group_of[root] == usize::MAX {
            group_of[root] = members.len();
            members.push(Vec::new());
        }
        members[group_of[root]].push(i);
    }
    members
        .par_iter()
        .map(|m| {
            let row0 = runs[m[0]].0;
            let row1 = runs[*m.last().expect("a group has runs")].0 + 1;
            let col0 = m.iter().map(|i| runs[*i].1).min().expect("runs");
            let col1 = m.iter().map(|i| runs[*i].2).max().expect("runs");
            let mut keys = Array2::<u32>::zeros((row1 - row0, col1 - col0));
            for i in m {
                let (r, a, b) = runs[*i];
                for c in a..b {
                    keys[[r - row0, c - col0]] = key_of(r, c, codes[[r, c]]);
                }
            }
            Part { row: row0, col: col0, keys }
        })
        .collect()
}

/// The final regions of every group, numbered as `label_regions` numbers them on the whole raster: in
/// raster order of their first pixel.
struct Numbered {
    /// Regions.
    count: usize,
    /// Per group, the number of each of its local regions.
    numbers: Vec<Vec<u32>>,
    /// Per group, its local labels.
    labels: Vec<Array2<u32>>,
    /// Every region pixel (row * width + column) with its number, in raster order.
    pixels: Vec<(u64, u32)>,
}

impl Numbered {
    fn of(parts: &[Part], w: usize) -> Numbered {
        let local: Vec<_> = parts.par_iter().map(|p| label_regions(p.keys.view())).collect();
        let mut firsts: Vec<(usize, usize, usize, u32)> = Vec::new();
        for (g, (p, regions)) in parts.iter().zip(&local).enumerate() {
            let mut seen = vec![false; regions.sizes.len()];
            for ((r, c), l) in regions.labels.indexed_iter() {
                if *l != 0 && !seen[*l as usize] {
                    seen[*l as usize] = true;
                    firsts.push((p.row + r, p.col + c, g, *l));
                }
            }
        }
        firsts.par_sort_unstable();
        let mut numbers: Vec<Vec<u32>> = local.iter().map(|r| vec![0; r.sizes.len()]).collect();
        for (n, (_, _, g, l)) in firsts.iter().enumerate() {
            numbers[*g][*l as usize] = n as u32 + 1;
        }
        let mut pixels: Vec<(u64, u32)> = parts
            .par_iter()
            .zip(&local)
            .zip(&numbers)
            .flat_map_iter(|((p, regions), numbers)| {
                regions
                    .labels
                    .indexed_iter()
                    .filter(|(_, l)| **l != 0)
                    .map(move |((r, c), l)| (((p.row + r) * w + p.col + c) as u64, numbers[*l as usize]))
                    .collect::<Vec<_>>()
            })
            .collect();
        pixels.par_sort_unstable();
        Numbered { count: firsts.len(), numbers, labels: local.into_iter().map(|r| r.labels).collect(), pixels }
    }

    /// The positions in `pixels` of the region pixels in `rows`.
    fn in_rows(&self, rows: &Range<usize>, w: usize) -> Range<usize> {
        let lo = self.pixels.partition_point(|(p, _)| (*p as usize) < rows.start * w);
        let hi = self.pixels.partition_point(|(p, _)| (*p as usize) < rows.end * w);
        lo..hi
    }
}

/// Polygons of the numbered regions, each group traced by GDAL on its own crop, in parallel: what tracing
/// the whole label raster gives (`polygonize_crop`), without sweeping the scene's empty pixels.
fn trace(parts: &[Part], regions: &Numbered, grid: &Grid) -> Result<Vec<crate::vectorize::RegionPolygon>> {
    let traced: Vec<Vec<crate::vectorize::RegionPolygon>> = parts
        .par_iter()
        .zip(&regions.labels)
        .zip(&regions.numbers)
        .map(|((p, labels), numbers)| {
            if labels.iter().all(|l| *l == 0) {
                return Ok(Vec::new());
            }
            let numbered = labels.mapv(|l| if l == 0 { 0 } else { numbers[l as usize] });
            polygonize_crop(numbered.view(), p.row, p.col, grid)
        })
        .collect::<Result<_>>()?;
    let mut polygons: Vec<_> = traced.into_iter().flatten().collect();
    polygons.sort_by_key(|p| p.label);
    Ok(polygons)
}

/// Hands the memory the strips were decoded into back to the system before the scene-sized steps that
/// follow (the binary has the allocator keep freed memory for reuse while strips come and go, see
/// `cli::cmd_change`).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Keeps GDAL's block cache at most `bytes` for as long as it lives.
struct CacheLimit(i64);

impl CacheLimit {
    fn at_most(bytes: i64) -> CacheLimit {
        crate::io::gdal_env::init();
        // SAFETY: plain getters and setters of GDAL's global cache size.
        let old = unsafe { gdal_sys::GDALGetCacheMax64() };
        if old > bytes {
            unsafe { gdal_sys::GDALSetCacheMax64(bytes) };
        }
        CacheLimit(old)
    }
}

impl Drop for CacheLimit {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { gdal_sys::GDALSetCacheMax64(self.0) };
    }
}
