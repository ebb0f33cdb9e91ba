//! Streaming change detection: full Sentinel-2 tiles and larger in memory bounded by strips, with the
//! same result as [`detect`](super::detect) to the bit (the same change raster, the same flags).
//!
//! The whole-scene detector holds both dates as float stacks, a normalized copy and every index plane:
//! about 150 bytes a pixel, 18 GB for a 10980 x 10980 tile. This path holds
//! - the inputs' pixels once, as read (2 bytes a band for 8- and 16-bit data), in a scratch file in the
//!   temporary folder that the later passes read strip by strip (it is unlinked as soon as it is
//!   created, so nothing is left behind whatever happens; the page cache makes re-reading it cheap);
//! - per pixel of the grid: the change statistic (4 bytes), the classes on both dates where they can
//!   matter (2 bytes), the change code (1 byte), and the plot key (4 bytes) when plots are given;
//! - the changed regions, cropped from the scene.
//!
//! The passes, each over strips of rows processed in parallel:
//! 1. decode: both inputs are read with GDAL in windows of their own blocks, one dataset per worker
//!    (a GDAL dataset may move between threads but not be shared), and written to the scratch file;
//! 2. (digital numbers only) the range and histogram of each band for dark-object subtraction;
//! 3. the normalization's iterations: band-pair moments summed block by block in the order
//!    `compute::moments` fixes, so they are the whole scene's sums to the bit, and the change statistic
//!    under each fit, kept per pixel, so Otsu's cut between iterations comes from the whole histogram;
//! 4. the final statistic, smoothed on strips read with halo rows, and the classes of the pixels above
//!    the noise floor (`min_change_rms`: no pixel under it can change);
//! 5. on the compact rasters: the threshold from the whole histogram, the codes, the smoothing ring, then
//!    the minimum mapping unit on groups of touching changed pixels cropped from the scene (fragment
//!    merging runs its rounds in step across groups, as on the whole raster), regions numbered in raster
//!    order as the whole-raster labelling numbers them;
//! 6. the indices of the region pixels (from the strips that hold any), the evidence, and polygons traced
//!    by GDAL from a sparse label raster in GDAL's memory file system.
//!
//! Inputs that have to be warped onto the grid go the whole-scene way.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use gdal::raster::RasterCreationOptions;
use gdal::{DriverManager, Metadata};
use ndarray::{Array2, Array3, ArrayView2, Axis, Zip, s};
use rayon::prelude::*;

use super::evidence::{FlagContext, RegionStats, SceneRef, flags_from_regions};
use super::job::{CHANGE_PALETTE, ChangeRequest, ChangeSummary};
use super::normalize::{Normalization, fit_bands, gains_and_offsets};
use super::threshold::{finite_range, otsu, otsu_and_minimum_error};
use super::{ChangeCode, ChangeOptions, absorb_halo, change_kind};
use crate::align::window_of;
use crate::compute::Backend;
use crate::compute::moments::{BLOCK, PairMoments, block_moments};
use crate::error::{Error, Result};
use crate::export::raster::write_codes;
use crate::export::{VectorFormat, write_flags};
use crate::flags::{FlagSet, stable_id};
use crate::io::plots::PlotRegistry;
use crate::io::{BandMap, Raster};
use crate::progress::Progress;
use crate::raster::{BandRole, BandStack, Grid, Window};
use crate::spectral::LandClass;
use crate::spectral::classes::{ClassRules, classify_pixel};
use crate::spectral::dark_object::{BINS as DARK_BINS, haze_offset};
use crate::spectral::indices::{Pixel, pixel_indices};
use crate::vectorize::{label_regions, merge_small_parts, polygonize_band, remove_small};

/// Pixels per strip of the later passes when `strip_rows` is 0: small enough that a strip's dozen planes
/// stay in the processor's cache while the kernels sweep them several times (a million pixels per strip
/// ran the passes a third slower, waiting on memory), large enough that reads stay long.
const STRIP_PIXELS: usize = 1 << 17;
/// GDAL's block cache during the job: decode windows are whole blocks, so nothing is gained by more, and
/// GDAL's default (5% of the memory) would be resident memory of its own.
const GDAL_CACHE_BYTES: i64 = 64 << 20;
/// Pixels above the noise floor whose indices the final pass keeps for the evidence (64 bytes each); a
/// pair with more reads the region pixels' strips once more instead.
const KEPT_INDICES: usize = 6 << 20;

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

/// Runs the `change` job on `inputs` by strips; outputs and summary are those of the whole-scene path.
pub fn run(
    backend: &dyn Backend,
    req: &ChangeRequest,
    format: VectorFormat,
    plan: Plan,
    inputs: Inputs,
    progress: &dyn Progress,
) -> Result<ChangeSummary> {
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
    let decode_tile = [&before, &after].map(source_block).into_iter().fold((1, 1), |a, b| (a.0.max(b.0), a.1.max(b.1)));
    let scratch = Scratch::create(h, w, roles.len(), codec)?;
    let pool = Pool { paths: [req.before.clone(), req.after.clone()], free: Mutex::new(vec![[before, after]]) };
    let maps = [&map_before, &map_after];

    progress.stage("reading inputs");
    decode(&pool, plan, maps, &scratch, decode_tile, progress)?;
    drop(pool);
    lap("decoding");

    let strip_rows = if options.strip_rows > 0 { options.strip_rows } else { (STRIP_PIXELS / w.max(1)).max(1) };
    let strips: Vec<Range<usize>> = (0..h).step_by(strip_rows).map(|r| r..(r + strip_rows).min(h)).collect();
    let scales = maps.map(|m| {
        (m.bands.iter().map(|b| b.scale as f32).collect::<Vec<_>>(), m.bands.iter().map(|b| b.offset as f32).collect())
    });
    let mut reader = Reader { backend, scratch: &scratch, roles: &roles, scales, haze: None };
    if !map_before.surface_reflectance {
        warnings.push(
            "inputs are digital numbers, not surface reflectance: haze removed by dark-object subtraction".into(),
        );
        progress.stage("measuring haze");
        reader.haze = Some(haze_offsets(&reader, &strips)?);
    }

    progress.stage("normalizing");
    let (mut moments, counts) = moments_pass(&reader, &strips, None)?;
    lap("moments");
    for (count, path) in [(counts.before, &req.before), (counts.after, &req.after)] {
        if count == 0 {
            return Err(Error::input(
                path,
                "all pixels are nodata over the area both inputs cover; nothing to compare",
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

    // The normalization of `normalize::normalize`, pass by pass.
    let mut magnitude = Array2::<f32>::zeros((h, w));
    let mut report = Normalization { bands: Vec::new(), invariant_fraction: 1.0, iterations: 0 };
    let iterations = options.normalization_iterations.max(1);
    for iteration in 0..iterations {
        report.bands = fit_bands(&moments, &roles);
        report.iterations = iteration + 1;
        if iteration + 1 == iterations {
            break;
        }
        let fit = gains_and_offsets(&report.bands);
        in_order(
            &strips,
            |rows| {
                let [b, mut a] = reader.stacks(rows)?;
                backend.linear(&mut a, &fit.0, &fit.1)?;
                backend.change_magnitude(&b, &a)
            },
            |rows, m| {
                magnitude.slice_mut(s![rows, ..]).assign(&m);
                Ok(())
            },
        )?;
        lap("statistic under the fit");
        let Some(cut) = otsu(backend, magnitude.view())? else { break };
        lap("cut");
        let kept =
            magnitude.as_slice().expect("standard layout").par_iter().filter(|m| m.is_finite() && **m < cut).count();
        report.invariant_fraction = kept as f64 / counts.both.max(1) as f64;
        moments = moments_pass(&reader, &strips, Some((&magnitude, cut)))?.0;
        lap("moments");
    }
    let fit = gains_and_offsets(&report.bands);

    progress.stage("detecting change");
    let radius = options.smoothing_radius;
    let floor = if options.min_change_rms.is_finite() { options.min_change_rms } else { f32::NEG_INFINITY };
    let mut classes = [(); 2].map(|_| Array2::from_elem((h, w), LandClass::NoData as u8));
    let mut kept: Option<Vec<(u64, Indices)>> = Some(Vec::new());
    in_order(
        &strips,
        |rows| {
            // Halo rows, so that the smoothing of the strip's own rows sees what it sees on the whole grid.
            let ext = rows.start.saturating_sub(radius)..(rows.end + radius).min(h);
            let [b, mut a] = reader.stacks(ext.clone())?;
            backend.linear(&mut a, &fit.0, &fit.1)?;
            let raw = backend.change_magnitude(&b, &a)?;
            let smooth = backend.box_mean(raw.view(), radius)?;
            let top = rows.start - ext.start;
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
                    let i = top * w + k;
                    let ((class_b, ib), (class_a, ia)) =
                        (class_and_indices(&b, i, &options.rules), class_and_indices(&a, i, &options.rules));
                    ((rows.start * w + k) as u64, class_b, class_a, (ib, ia))
                })
                .collect();
            for (pixel, class_b, class_a, _) in &above {
                let k = *pixel as usize - rows.start * w;
                cb[[k / w, k % w]] = *class_b;
                ca[[k / w, k % w]] = *class_a;
            }
            Ok((smooth, cb, ca, above))
        },
        |rows, (m, cb, ca, above)| {
            magnitude.slice_mut(s![rows.clone(), ..]).assign(&m);
            classes[0].slice_mut(s![rows.clone(), ..]).assign(&cb);
            classes[1].slice_mut(s![rows, ..]).assign(&ca);
            // The indices of every pixel that may change, while they are few; past the cap they are
            // dropped and the region pixels' indices are read again at the end.
            let fits = kept.as_ref().is_some_and(|k| k.len() + above.len() <= KEPT_INDICES);
            match kept.as_mut() {
                Some(k) if fits => k.extend(above.into_iter().map(|(p, _, _, i)| (p, i))),
                _ => kept = None,
            }
            Ok(())
        },
    )?;
    lap("final statistic and classes");
    let (otsu_threshold, min_error_threshold) = otsu_and_minimum_error(backend, magnitude.view())?;
    lap("threshold");
    let threshold = min_error_threshold.or(otsu_threshold).unwrap_or(f32::INFINITY).max(options.min_change_rms);

    // Codes as `detect` sets them, then the ring of the smoothing.
    let mut codes = Array2::<u8>::zeros((h, w));
    Zip::from(&mut codes).and(&magnitude).and(&classes[0]).and(&classes[1]).par_for_each(|k, m, cb, ca| {
        if m.is_finite() && *m > threshold {
            let code = change_kind(LandClass::from_u8(*cb), LandClass::from_u8(*ca));
            if code != ChangeCode::NoData {
                *k = code as u8;
            }
        }
    });
    absorb_halo(&mut codes, classes[0].view(), classes[1].view(), radius);
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
    let mut parts = touching_groups(codes.view(), &key_of);
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
    Zip::from(&mut codes)
        .and(&magnitude)
        .par_for_each(|c, m| *c = if m.is_finite() { 0 } else { ChangeCode::NoData as u8 });
    for p in &parts {
        for ((r, c), k) in p.keys.indexed_iter() {
            if *k != 0 {
                codes[[p.row + r, p.col + c]] = (*k & 0xff) as u8;
            }
        }
    }

    lap("minimum mapping unit");
    progress.stage("vectorizing");
    let regions = Numbered::of(&parts, w);
    lap("regions");
    let mut stats = vec![RegionStats::default(); regions.count + 1];
    let mut add = |pixel: u64, label: u32, (ib, ia): &Indices| {
        let (r, c) = (pixel as usize / w, pixel as usize % w);
        let plot = region_keys.as_ref().map_or(1, |p| p[[r, c]]);
        let key = (plot << 8) | codes[[r, c]] as u32;
        stats[label as usize].add((r, c), key, magnitude[[r, c]], ib, ia, classes[0][[r, c]], classes[1][[r, c]]);
    };
    match &kept {
        // Region pixels are changed pixels, so among those kept; both lists are in raster order.
        Some(kept) => {
            let mut j = 0;
            for (pixel, label) in &regions.pixels {
                j += kept[j..].partition_point(|(p, _)| p < pixel);
                debug_assert_eq!(kept[j].0, *pixel, "a region pixel is above the floor");
                add(*pixel, *label, &kept[j].1);
            }
        }
        None => {
            let region_strips: Vec<Range<usize>> =
                strips.iter().filter(|rows| !regions.in_rows(rows, w).is_empty()).cloned().collect();
            in_order(
                &region_strips,
                |rows| {
                    let [b, mut a] = reader.stacks(rows.clone())?;
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
    let mut flags_by_kind = BTreeMap::new();
    for f in &flags {
        *flags_by_kind.entry(f.kind.name().to_string()).or_insert(0) += 1;
    }

    progress.stage("writing");
    let mut outputs = Vec::new();
    let count = flags.len();
    write_flags(&req.out, format, &FlagSet { flags, crs_wkt: grid.crs_wkt.clone() }, req.overwrite)?;
    outputs.push(req.out.clone());
    if let Some(path) = &req.change_raster {
        write_codes(path, &grid, codes.view(), &CHANGE_PALETTE, req.overwrite)?;
        outputs.push(path.clone());
    }
    lap("writing");
    let changed_pixels =
        codes.as_slice().expect("standard layout").par_iter().filter(|c| **c != 0 && **c != 255).count();
    Ok(ChangeSummary {
        grid,
        georeferenced,
        valid_pixels: counts.both,
        changed_pixels,
        threshold_rms: threshold,
        otsu_rms: otsu_threshold,
        min_error_rms: min_error_threshold,
        invariant_fraction: report.invariant_fraction,
        flags_by_kind,
        flags: count,
        outputs,
        backend: backend.name(),
        warnings,
    })
}

/// How pixel values are kept in the scratch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    /// Integers of 8- and 16-bit bands, exactly.
    U16,
    /// Anything else, as read.
    F32,
}

impl Codec {
    fn size(self) -> usize {
        match self {
            Codec::U16 => 2,
            Codec::F32 => 4,
        }
    }

    /// Appends the values `bytes` hold to `out` (no zero-filled buffer first).
    fn decode_into(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Codec::U16 => out.extend(bytes.chunks_exact(2).map(|b| f32::from(u16::from_ne_bytes([b[0], b[1]])))),
            Codec::F32 => out.extend(bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))),
        }
    }
}

/// Both dates' pixels as read: each band of each date a file of rows, and each date's validity one more
/// (separate files, because writes to one file queue on its lock while workers decode in parallel).
struct Scratch {
    files: Vec<File>,
    path: PathBuf,
    h: usize,
    w: usize,
    bands: usize,
    codec: Codec,
}

impl Scratch {
    fn create(h: usize, w: usize, bands: usize, codec: Codec) -> Result<Scratch> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(".jingtu-scratch-{}-{n}", std::process::id()));
        let mut files = Vec::with_capacity(2 * bands + 2);
        for _ in 0..2 * bands + 2 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            // Unlinked at once: the open file is all that holds it, so no run leaves it behind.
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            files.push(file);
        }
        Ok(Scratch { files, path, h, w, bands, codec })
    }

    fn plane(&self, date: usize, band: usize, row: usize) -> (&File, u64) {
        (&self.files[date * self.bands + band], (row * self.w * self.codec.size()) as u64)
    }

    fn validity(&self, date: usize, row: usize) -> (&File, u64) {
        (&self.files[2 * self.bands + date], (row * self.w) as u64)
    }

    fn fail(&self, e: std::io::Error) -> Error {
        Error::input(&self.path, format!("scratch file in the temporary folder (TMPDIR): {e}"))
    }

    fn write_rows(&self, date: usize, row: usize, planes: &[Vec<u8>], valid: &[u8]) -> Result<()> {
        for (b, bytes) in planes.iter().enumerate() {
            let (file, at) = self.plane(date, b, row);
            file.write_all_at(bytes, at).map_err(|e| self.fail(e))?;
        }
        let (file, at) = self.validity(date, row);
        file.write_all_at(valid, at).map_err(|e| self.fail(e))
    }

    /// Rows of one date, scaled by `gains` and `offsets` as the `linear` kernel scales them (a pixel is
    /// invalid where any band comes out non-finite; invalid pixels hold NaN), in the same sweep that
    /// unpacks them.
    fn read_scaled(
        &self,
        date: usize,
        rows: Range<usize>,
        roles: &[BandRole],
        (gains, offsets): (&[f32], &[f32]),
    ) -> Result<BandStack> {
        let n = rows.len() * self.w;
        let mut valid = vec![0u8; n];
        let (file, at) = self.validity(date, rows.start);
        file.read_exact_at(&mut valid, at).map_err(|e| self.fail(e))?;
        let mut data = Vec::with_capacity(self.bands * n);
        let mut bytes = vec![0u8; n * self.codec.size()];
        for b in 0..self.bands {
            let (file, at) = self.plane(date, b, rows.start);
            file.read_exact_at(&mut bytes, at).map_err(|e| self.fail(e))?;
            let (g, o) = (gains[b], offsets[b]);
            let start = data.len();
            self.codec.decode_into(&bytes, &mut data);
            for (x, v) in data[start..].iter_mut().zip(valid.iter_mut()) {
                *x = *x * g + o;
                *v = if x.is_finite() { *v } else { 0 };
            }
        }
        let mut data = Array3::from_shape_vec((self.bands, rows.len(), self.w), data).expect("one plane per band");
        for mut plane in data.axis_iter_mut(Axis(0)) {
            for (x, v) in plane.as_slice_mut().expect("standard layout").iter_mut().zip(&valid) {
                *x = if *v != 0 { *x } else { f32::NAN };
            }
        }
        let valid = Array2::from_shape_vec((rows.len(), self.w), valid).expect("shape");
        Ok(BandStack::new(roles.to_vec(), data, valid))
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

/// Pass 1: both inputs into the scratch file, in rows of whole source blocks, each read window one block
/// (so every compressed block is inflated once, by one worker, with no help from GDAL's cache).
fn decode(
    pool: &Pool,
    plan: Plan,
    maps: [&BandMap; 2],
    scratch: &Scratch,
    (block_rows, block_cols): (usize, usize),
    progress: &dyn Progress,
) -> Result<()> {
    let (h, w) = (scratch.h, scratch.w);
    // Units of at least 64 rows, so striped files are not read a line at a time.
    let unit_rows = block_rows.max(1) * 64usize.div_ceil(block_rows.max(1));
    let aligned = |len: usize, offset: usize, step: usize| {
        let mut out = Vec::new();
        let mut start = 0;
        while start < len {
            let end = ((offset + start) / step * step + step - offset).min(len);
            out.push(start..end);
            start = end;
        }
        out
    };
    let units = aligned(h, plan.before.row, unit_rows);
    let cols = aligned(w, plan.before.col, block_cols.clamp(1, w.max(1)));
    let windows = [plan.before, plan.after];
    let size = scratch.codec.size();
    progress.start("row blocks", units.len() as u64);
    units.par_iter().try_for_each(|rows| {
        pool.with(|rasters| {
            for date in 0..2 {
                let n = rows.len() * w;
                let mut planes = vec![vec![0u8; n * size]; scratch.bands];
                let mut valid = vec![0u8; n];
                for c in &cols {
                    let window = Window {
                        col: windows[date].col + c.start,
                        row: windows[date].row + rows.start,
                        width: c.len(),
                        height: rows.len(),
                    };
                    // Read in the codec's own type: 16-bit data is not converted to float and back.
                    let row_bytes = c.len() * size;
                    let mut place = |b: usize, bytes: &[u8]| {
                        for (r, line) in bytes.chunks_exact(row_bytes).enumerate() {
                            let at = (r * w + c.start) * size;
                            planes[b][at..at + row_bytes].copy_from_slice(line);
                        }
                    };
                    let tile_valid = match scratch.codec {
                        Codec::U16 => {
                            let (tile, valid) = rasters[date].read_raw_as::<u16>(maps[date], window)?;
                            tile.iter().enumerate().for_each(|(b, p)| place(b, bytemuck::cast_slice(p)));
                            valid
                        }
                        Codec::F32 => {
                            let (tile, valid) = rasters[date].read_raw_as::<f32>(maps[date], window)?;
                            tile.iter().enumerate().for_each(|(b, p)| place(b, bytemuck::cast_slice(p)));
                            valid
                        }
                    };
                    for (r, line) in tile_valid.rows().into_iter().enumerate() {
                        valid[r * w + c.start..r * w + c.end]
                            .copy_from_slice(line.as_slice().expect("standard layout"));
                    }
                }
                scratch.write_rows(date, rows.start, &planes, &valid)?;
            }
            progress.advance("");
            Ok(())
        })
    })?;
    progress.finish();
    Ok(())
}

/// Strips of both dates from the scratch file, scaled to reflectance (and haze removed) exactly as the
/// whole-scene path scales its stacks.
struct Reader<'a> {
    backend: &'a dyn Backend,
    scratch: &'a Scratch,
    roles: &'a [BandRole],
    scales: [(Vec<f32>, Vec<f32>); 2],
    haze: Option<[Vec<f32>; 2]>,
}

impl Reader<'_> {
    fn stacks(&self, rows: Range<usize>) -> Result<[BandStack; 2]> {
        let mut out = Vec::with_capacity(2);
        for date in 0..2 {
            let scale = (self.scales[date].0.as_slice(), self.scales[date].1.as_slice());
            let mut stack = self.scratch.read_scaled(date, rows.clone(), self.roles, scale)?;
            if let Some(haze) = &self.haze {
                let gains = vec![1.0f32; self.roles.len()];
                let negative: Vec<f32> = haze[date].iter().map(|o| -o).collect();
                self.backend.linear(&mut stack, &gains, &negative)?;
            }
            out.push(stack);
        }
        Ok(out.try_into().map_err(|_| ()).expect("two dates"))
    }
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

/// The haze offset of every band of both dates (`spectral::dark_object`), from the whole scene's range
/// and histogram of each band.
fn haze_offsets(reader: &Reader, strips: &[Range<usize>]) -> Result<[Vec<f32>; 2]> {
    let bands = reader.roles.len();
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); 2 * bands];
    in_order(
        strips,
        |rows| {
            Ok(reader
                .stacks(rows)?
                .iter()
                .flat_map(|s| s.data.axis_iter(Axis(0)).map(finite_range).collect::<Vec<_>>())
                .collect::<Vec<_>>())
        },
        |_, found| {
            for (r, f) in ranges.iter_mut().zip(found) {
                *r = (r.0.min(f.0), r.1.max(f.1));
            }
            Ok(())
        },
    )?;
    let mut hists = vec![vec![0u64; DARK_BINS]; 2 * bands];
    let spread = |(lo, hi): (f32, f32)| hi.partial_cmp(&lo) == Some(std::cmp::Ordering::Greater);
    in_order(
        strips,
        |rows| {
            let stacks = reader.stacks(rows)?;
            let mut out = Vec::with_capacity(2 * bands);
            for (date, stack) in stacks.iter().enumerate() {
                for (b, plane) in stack.data.axis_iter(Axis(0)).enumerate() {
                    let (lo, hi) = ranges[date * bands + b];
                    out.push(if spread((lo, hi)) {
                        reader.backend.histogram(plane, lo, hi, DARK_BINS)?
                    } else {
                        Vec::new()
                    });
                }
            }
            Ok(out)
        },
        |_, found| {
            for (t, f) in hists.iter_mut().zip(found) {
                for (a, b) in t.iter_mut().zip(f) {
                    *a += b;
                }
            }
            Ok(())
        },
    )?;
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

/// Pixels of a block that a strip holds only part of: their values per band, and which count.
struct Fragment {
    start: usize,
    x: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
    keep: Vec<bool>,
}

/// What one strip adds to the moments: the head of a block begun in an earlier strip, the blocks it holds
/// whole, and the beginning of a block that a later strip completes.
struct StripMoments {
    head: Option<Fragment>,
    blocks: Vec<Vec<PairMoments>>,
    tail: Option<Fragment>,
    counts: Counts,
}

/// Moments of every band pair over the pixels valid on both dates (and below `below.1` in `below.0`, the
/// statistic under the previous fit), summed as `Backend::pair_moments` sums them.
fn moments_pass(
    reader: &Reader,
    strips: &[Range<usize>],
    below: Option<(&Array2<f32>, f32)>,
) -> Result<(Vec<PairMoments>, Counts)> {
    let (w, n) = (reader.scratch.w, reader.scratch.w * reader.scratch.h);
    let bands = reader.roles.len();
    let block_end = |b: usize| ((b + 1) * BLOCK).min(n);
    let mut total = vec![PairMoments::default(); bands];
    let mut counts = Counts::default();
    let mut pending: Option<Fragment> = None;
    in_order(
        strips,
        |rows| {
            let [b, a] = reader.stacks(rows.clone())?;
            let (p0, len) = (rows.start * w, rows.len() * w);
            let (vb, va) = (b.valid.as_slice().expect("standard layout"), a.valid.as_slice().expect("standard layout"));
            // Weights as `normalize` sets them: below the cut of the statistic under the previous fit.
            let below = below.map(|(m, cut)| (&m.as_slice().expect("standard layout")[p0..p0 + len], cut));
            let keep: Vec<bool> = (0..len)
                .into_par_iter()
                .map(|i| vb[i] != 0 && va[i] != 0 && below.is_none_or(|(m, cut)| m[i].is_finite() && m[i] < cut))
                .collect();
            let counts = Counts {
                before: vb.par_iter().filter(|v| **v != 0).count(),
                after: va.par_iter().filter(|v| **v != 0).count(),
                both: vb.par_iter().zip(va.par_iter()).filter(|(x, y)| **x != 0 && **y != 0).count(),
            };
            let (xs, ys) = (b.data.as_slice().expect("standard layout"), a.data.as_slice().expect("standard layout"));
            let fragment = |range: Range<usize>| {
                (!range.is_empty()).then(|| Fragment {
                    start: range.start,
                    x: (0..bands).map(|k| xs[k * len + range.start - p0..k * len + range.end - p0].to_vec()).collect(),
                    y: (0..bands).map(|k| ys[k * len + range.start - p0..k * len + range.end - p0].to_vec()).collect(),
                    keep: keep[range.start - p0..range.end - p0].to_vec(),
                })
            };
            let first_whole = p0.div_ceil(BLOCK);
            let mut last_whole = first_whole;
            while last_whole * BLOCK < p0 + len && block_end(last_whole) <= p0 + len {
                last_whole += 1;
            }
            let head = fragment(p0..(first_whole * BLOCK).min(p0 + len));
            let tail = fragment((last_whole * BLOCK).max(p0).min(p0 + len)..p0 + len);
            let blocks = (first_whole..last_whole)
                .into_par_iter()
                .map(|blk| {
                    let range = blk * BLOCK - p0..block_end(blk) - p0;
                    (0..bands)
                        .map(|k| {
                            let plane = k * len + range.start..k * len + range.end;
                            block_moments(&xs[plane.clone()], &ys[plane], &keep[range.clone()])
                        })
                        .collect()
                })
                .collect();
            Ok(StripMoments { head, blocks, tail, counts })
        },
        |_, strip| {
            counts.before += strip.counts.before;
            counts.after += strip.counts.after;
            counts.both += strip.counts.both;
            let mut add = |f: Fragment, total: &mut Vec<PairMoments>| {
                let block = f.start / BLOCK;
                let p = pending.get_or_insert_with(|| Fragment {
                    start: block * BLOCK,
                    x: vec![Vec::with_capacity(BLOCK); bands],
                    y: vec![Vec::with_capacity(BLOCK); bands],
                    keep: Vec::with_capacity(BLOCK),
                });
                debug_assert_eq!(p.start + p.keep.len(), f.start, "fragments arrive in pixel order");
                for k in 0..bands {
                    p.x[k].extend_from_slice(&f.x[k]);
                    p.y[k].extend_from_slice(&f.y[k]);
                }
                p.keep.extend_from_slice(&f.keep);
                if p.start + p.keep.len() == block_end(block) {
                    let p = pending.take().expect("pending block");
                    for (k, t) in total.iter_mut().enumerate() {
                        t.merge(&block_moments(&p.x[k], &p.y[k], &p.keep));
                    }
                }
            };
            if let Some(f) = strip.head {
                add(f, &mut total);
            }
            for block in &strip.blocks {
                for (t, m) in total.iter_mut().zip(block) {
                    t.merge(m);
                }
            }
            if let Some(f) = strip.tail {
                add(f, &mut total);
            }
            Ok(())
        },
    )?;
    Ok((total, counts))
}

/// The reflectance of pixel `i` of a stack, NaN for bands it lacks (as the CPU backend's kernels see it).
fn pixel_at(stack: &BandStack, i: usize) -> Pixel {
    let n = stack.height() * stack.width();
    let data = stack.data.as_slice().expect("standard layout");
    let get = |role| stack.index_of(role).map_or(f32::NAN, |k| data[k * n + i]);
    Pixel {
        blue: get(BandRole::Blue),
        green: get(BandRole::Green),
        red: get(BandRole::Red),
        nir: get(BandRole::Nir),
        swir1: get(BandRole::Swir1),
    }
}

/// The class and indices of pixel `i`, as `Backend::classify` and `Backend::indices` give them.
fn class_and_indices(stack: &BandStack, i: usize, rules: &ClassRules) -> (u8, [f32; 7]) {
    if stack.valid.as_slice().expect("standard layout")[i] == 0 {
        return (LandClass::NoData as u8, [f32::NAN; 7]);
    }
    let p = pixel_at(stack, i);
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

/// The 4-connected groups of pixels with a nonzero key, found on runs of such pixels row by row.
fn touching_groups(codes: ArrayView2<u8>, key_of: &(impl Fn(usize, usize, u8) -> u32 + Sync)) -> Vec<Part> {
    let (h, w) = codes.dim();
    let rows: Vec<Vec<(usize, usize)>> = (0..h)
        .into_par_iter()
        .map(|r| {
            let mut runs = Vec::new();
            let mut start = None;
            for c in 0..=w {
                let on = c < w && key_of(r, c, codes[[r, c]]) != 0;
                match (on, start) {
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
        .collect();
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut first_of_row = Vec::with_capacity(h + 1);
    for (r, row) in rows.iter().enumerate() {
        first_of_row.push(runs.len());
        runs.extend(row.iter().map(|(a, b)| (r, *a, *b)));
    }
    first_of_row.push(runs.len());
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for r in 1..h {
        let (mut i, mut j) = (first_of_row[r - 1], first_of_row[r]);
        while i < first_of_row[r] && j < first_of_row[r + 1] {
            let (a, b) = ((runs[i].1, runs[i].2), (runs[j].1, runs[j].2));
            if a.0 < b.1 && b.0 < a.1 {
                let (x, y) = (find(&mut parent, i), find(&mut parent, j));
                parent[x.max(y)] = x.min(y);
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
        let root = find(&mut parent, i);
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

/// Polygons of the numbered regions, traced by GDAL from a sparse label raster in its memory file system
/// (only blocks that hold a region take memory).
fn trace(parts: &[Part], regions: &Numbered, grid: &Grid) -> Result<Vec<crate::vectorize::RegionPolygon>> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!("/vsimem/jingtu-regions-{}-{}.tif", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let fail = |e: gdal::errors::GdalError| Error::Gdal {
        path: name.clone().into(),
        message: crate::io::gdal_env::describe(&e),
    };
    let polygons = {
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(fail)?;
        let options = RasterCreationOptions::from_iter([
            "TILED=YES",
            "SPARSE_OK=TRUE",
            "COMPRESS=DEFLATE",
            "BLOCKXSIZE=256",
            "BLOCKYSIZE=256",
        ]);
        let mut ds = driver
            .create_with_band_type_with_options::<i32, _>(&name, grid.width, grid.height, 1, &options)
            .map_err(fail)?;
        ds.set_geo_transform(&grid.transform.0).map_err(fail)?;
        let mut band = ds.rasterband(1).map_err(fail)?;
        for ((p, labels), numbers) in parts.iter().zip(&regions.labels).zip(&regions.numbers) {
            let (bh, bw) = labels.dim();
            if regions.count == 0 || labels.iter().all(|l| *l == 0) {
                continue;
            }
            // Other groups may lie inside this one's box: keep what is there.
            let mut buffer =
                band.read_as::<i32>((p.col as isize, p.row as isize), (bw, bh), (bw, bh), None).map_err(fail)?;
            for (v, l) in buffer.data_mut().iter_mut().zip(labels.iter()) {
                if *l != 0 {
                    *v = numbers[*l as usize] as i32;
                }
            }
            band.write((p.col as isize, p.row as isize), (bw, bh), &mut buffer).map_err(fail)?;
        }
        let out = polygonize_band(&band, grid);
        drop(ds);
        out
    };
    let _ = gdal::vsi::unlink_mem_file(&name);
    let mut polygons = polygons?;
    polygons.sort_by_key(|p| p.label);
    Ok(polygons)
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
