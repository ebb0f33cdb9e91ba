//! One acquisition over one plot: read the plot's window of every band, mask what is not ground, and
//! classify what is.

use std::collections::HashMap;
use std::path::PathBuf;

use ndarray::{Array2, Array3, Axis, Zip};

use crate::align::{Resampling, read_on_grid};
use crate::compute::{Backend, ObservationPlanes};
use crate::error::{Error, Result};
use crate::io::masks::{qa_pixel_is_valid, scl_is_valid};
use crate::io::raster::{BandMap, MappedBand};
use crate::io::scenes::{MaskKind, Scene, SceneBand};
use crate::io::sensor::generic_scaling;
use crate::io::{BandSelection, Raster};
use crate::raster::{BandRole, BandStack, Grid};
use crate::spectral::{ClassRules, IndexKind, LandClass};
use crate::temporal::model::BANDS;

/// The bands the seasonal model follows, in its order.
const MODEL_BANDS: [BandRole; BANDS] =
    [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir, BandRole::Swir1, BandRole::Swir2];

/// The files of one scene, opened once and read for every plot.
pub struct SceneReader<'a> {
    scene: &'a Scene,
    rasters: HashMap<PathBuf, Raster>,
    bands: Vec<(BandRole, MappedBand, PathBuf)>,
    surface_reflectance: bool,
}

impl<'a> SceneReader<'a> {
    /// Opens every file of `scene`; fails (naming the scene and file) when one cannot be read or a band
    /// is missing, so the scan can skip the scene.
    pub fn open(scene: &'a Scene, selection: &BandSelection) -> Result<SceneReader<'a>> {
        let mut rasters = HashMap::new();
        for path in scene.files() {
            let raster = Raster::open(&path).map_err(|e| in_scene(scene, e))?;
            raster.verify_readable().map_err(|e| in_scene(scene, e))?;
            rasters.insert(path, raster);
        }
        check_same_ground(scene, &rasters)?;
        let mut bands = Vec::new();
        let mut surface_reflectance = true;
        for (role, b) in &scene.bands {
            let raster = &rasters[&b.path];
            let info = raster.info();
            let Some(band) = info.bands.get(b.index - 1) else {
                return Err(in_scene(
                    scene,
                    Error::MissingBand {
                        path: b.path.clone(),
                        band: role.name().into(),
                        available: format!("{} band(s)", info.bands.len()),
                    },
                ));
            };
            let (scale, offset) = scaling(b, band.scale, band.offset, &band.data_type, selection);
            surface_reflectance &= selection.sensor.is_none_or(|s| s.is_surface_reflectance(&band.data_type));
            bands.push((*role, MappedBand { role: *role, index: b.index, scale, offset }, b.path.clone()));
        }
        Ok(SceneReader { scene, rasters, bands, surface_reflectance })
    }

    /// Bytes a read of `grid` decodes: its pixels times the sample size of every band read (and of the
    /// quality band).
    pub fn decoded_bytes(&self, grid: &Grid) -> u64 {
        let size = |path: &PathBuf, index: usize| {
            self.rasters[path].info().bands.get(index - 1).map_or(4, |b| match b.data_type.as_str() {
                "Byte" | "Int8" => 1,
                "UInt16" | "Int16" => 2,
                "Float64" | "UInt64" | "Int64" => 8,
                _ => 4,
            })
        };
        let bands: u64 = self.bands.iter().map(|(_, m, p)| size(p, m.index)).sum();
        let quality = self.scene.mask.as_ref().map_or(0, |(_, b)| size(&b.path, b.index));
        grid.len() as u64 * (bands + quality)
    }

    /// Whether the scene's scaled values are surface reflectance (what [`ValueSample::check`] checks).
    pub fn surface_reflectance(&self) -> bool {
        self.surface_reflectance
    }

    /// The scene.
    pub fn scene(&self) -> &Scene {
        self.scene
    }

    /// Reads every band on `grid` as raw numbers, plus the quality band's verdict where there is one.
    pub fn read(&self, grid: &Grid) -> Result<RawObservation> {
        let (h, w) = (grid.height, grid.width);
        let mut data = Array3::<f32>::zeros((self.bands.len(), h, w));
        let mut valid = Array2::<u8>::from_elem((h, w), 1);
        let mut flagged = Array2::<u8>::zeros((h, w));
        let mut scales = Vec::new();
        for (slot, (role, mapped, path)) in self.bands.iter().enumerate() {
            let map =
                BandMap { bands: vec![*mapped], origin: "scene".into(), surface_reflectance: self.surface_reflectance };
            let one = read_on_grid(&self.rasters[path], &map, grid, Resampling::Bilinear)
                .map_err(|e| in_scene(self.scene, e))?;
            data.index_axis_mut(Axis(0), slot).assign(&one.data.index_axis(Axis(0), 0));
            Zip::from(&mut valid).and(&one.valid).for_each(|v, o| *v &= *o);
            scales.push((*role, mapped.scale, mapped.offset));
        }
        if let Some((kind, band)) = &self.scene.mask {
            let raster = &self.rasters[&band.path];
            let map = BandMap {
                bands: vec![MappedBand { role: BandRole::Blue, index: band.index, scale: 1.0, offset: 0.0 }],
                origin: "quality".into(),
                surface_reflectance: true,
            };
            let q = read_on_grid(raster, &map, grid, Resampling::Nearest).map_err(|e| in_scene(self.scene, e))?;
            Zip::from(&mut valid).and(&mut flagged).and(q.data.index_axis(Axis(0), 0)).and(&q.valid).for_each(
                |v, f, code, qv| {
                    let (ok, fill) = match kind {
                        MaskKind::SentinelScl => (scl_is_valid(*code as u8), *code as u8 == 0),
                        MaskKind::LandsatQaPixel => (qa_pixel_is_valid(*code as u16), *code as u16 & 1 != 0),
                    };
                    if *qv == 0 || fill {
                        *v = 0;
                    } else if !ok {
                        *v = 0;
                        *f = 1;
                    }
                },
            );
        }
        let roles = self.bands.iter().map(|(r, _, _)| *r).collect();
        Ok(RawObservation { stack: BandStack::new(roles, data, valid), flagged, scales })
    }
}

/// A plot window of one scene before scaling and masking.
pub struct RawObservation {
    /// Raw numbers with validity from nodata and the quality band.
    pub stack: BandStack,
    /// 1 where the quality band marks cloud, shadow, cirrus, snow or saturation (not mere fill).
    pub flagged: Array2<u8>,
    /// Scale and offset per band.
    pub scales: Vec<(BandRole, f64, f64)>,
}

/// A plot window of one scene, classified.
#[derive(Debug, Clone)]
pub struct PlotObservation {
    /// Per-pixel planes for the temporal step.
    pub planes: ObservationPlanes,
    /// The plot's own pixels in the window.
    pub plot_pixels: usize,
    /// Those of them that are clear observations.
    pub clear_pixels: usize,
    /// Whether the scene had SWIR.
    pub has_swir: bool,
    /// Whether the scene's footprint covered the plot at all.
    pub inside_scene: bool,
    /// 1 where the quality band saw the pixel clear but it looked like cloud (masked unless it was
    /// taken as a bright surface), per pixel; empty where nothing was read.
    pub cloud_like: Vec<u8>,
}

impl PlotObservation {
    /// Share of the plot's own pixels that are clear observations.
    pub fn clear_fraction(&self) -> f32 {
        self.clear_pixels as f32 / self.plot_pixels.max(1) as f32
    }
}

/// Scales, masks (quality band, spectral cloud test, buffer) and classifies a raw window. Where
/// `bright_surface` is 1 (a pixel that looked like cloud on its previous clear look too: a white roof
/// or coating, not a cloud, which moves), the spectral cloud test is set aside.
pub fn classify_window(
    backend: &dyn Backend,
    raw: RawObservation,
    plot_mask: &Array2<u8>,
    bright_surface: &[u8],
    rules: &ClassRules,
    cloud_buffer_px: usize,
) -> Result<PlotObservation> {
    let RawObservation { mut stack, flagged, scales } = raw;
    let gains: Vec<f32> = scales.iter().map(|s| s.1 as f32).collect();
    let offsets: Vec<f32> = scales.iter().map(|s| s.2 as f32).collect();
    backend.linear(&mut stack, &gains, &offsets)?;
    mark_absurd(&mut stack);
    let mut cloud = backend.cloud_test(&stack)?;
    let cloud_like: Vec<u8> = cloud.iter().zip(flagged.iter()).map(|(c, f)| u8::from(*c != 0 && *f == 0)).collect();
    for (c, b) in cloud.iter_mut().zip(bright_surface) {
        if *b != 0 {
            *c = 0;
        }
    }
    // Clouds and their shadows have soft edges the masks miss, so they are buffered; the edge of the
    // scene's data (fill, nodata) is sharp and is not.
    let mut invalid = Array2::<u8>::zeros(stack.valid.dim());
    Zip::from(&mut invalid).and(&flagged).and(&cloud).for_each(|i, f, c| *i = u8::from(*f != 0 || *c != 0));
    let buffered = backend.dilate(invalid.view(), cloud_buffer_px)?;
    Zip::from(&mut stack.valid).and(&buffered).for_each(|v, b| {
        if *b != 0 {
            *v = 0;
        }
    });
    let indices = backend.indices(&stack)?;
    let classes = backend.classify(&stack, &indices, rules)?;
    let n = stack.height() * stack.width();
    let mut bands = vec![f32::NAN; BANDS * n];
    let all = stack.data.as_slice().expect("band stacks are in standard layout");
    let valid = stack.valid.as_slice().expect("standard layout");
    for (b, role) in MODEL_BANDS.iter().enumerate() {
        if let Some(k) = stack.index_of(*role) {
            for (i, out) in bands[b * n..(b + 1) * n].iter_mut().enumerate() {
                if valid[i] != 0 {
                    *out = all[k * n + i];
                }
            }
        }
    }
    let plot_pixels = plot_mask.iter().filter(|m| **m != 0).count();
    let clear = plot_mask.iter().zip(stack.valid.iter()).filter(|(m, v)| **m != 0 && **v != 0).count();
    Ok(PlotObservation {
        planes: ObservationPlanes {
            class: classes.iter().copied().collect(),
            bands,
            ndvi: indices.get(IndexKind::Ndvi).iter().copied().collect(),
            bsi: indices.get(IndexKind::Bsi).iter().copied().collect(),
        },
        plot_pixels,
        clear_pixels: clear,
        has_swir: stack.has_swir(),
        inside_scene: true,
        cloud_like,
    })
}

/// Clears the validity of pixels whose scaled value in any band is not finite or absurd (over
/// [`ABSURD_MAGNITUDE`](crate::io::raster::ABSURD_MAGNITUDE)): a scale that overflows, or an offset that
/// throws values far off, must not turn numbers into classes.
fn mark_absurd(stack: &mut BandStack) {
    for band in stack.data.outer_iter() {
        Zip::from(&mut stack.valid).and(&band).for_each(|v, x| {
            if crate::io::raster::is_absurd(*x as f64) {
                *v = 0;
            }
        });
    }
}

/// Sets bare-soil observations aside as ambiguous (used on dormant acquisitions without SWIR).
pub fn set_aside_bare(planes: &mut ObservationPlanes) {
    for c in planes.class.iter_mut() {
        if *c == LandClass::BareSoil as u8 {
            *c = LandClass::Unknown as u8;
        }
    }
}

fn scaling(
    band: &SceneBand,
    file_scale: Option<f64>,
    file_offset: Option<f64>,
    data_type: &str,
    selection: &BandSelection,
) -> (f64, f64) {
    if let Some(s) = selection.scaling {
        return s;
    }
    if band.scale.is_some() || band.offset.is_some() {
        return (band.scale.unwrap_or(1.0), band.offset.unwrap_or(0.0));
    }
    if file_scale.is_some() || file_offset.is_some() {
        return (file_scale.unwrap_or(1.0), file_offset.unwrap_or(0.0));
    }
    match selection.sensor {
        Some(s) => s.default_scaling(data_type),
        None => generic_scaling(data_type),
    }
}

/// Every file of a scene must cover the scene's ground: a band on another grid (another tile, another
/// extent) read as nodata over every plot, and the scene was counted ingested with nothing observed.
/// Bands of different resolutions (Sentinel-2's 10 m and 20 m) cover the same ground and pass.
fn check_same_ground(scene: &Scene, rasters: &HashMap<PathBuf, Raster>) -> Result<()> {
    let Some((_, first)) = scene.bands.first() else { return Ok(()) };
    let reference = rasters[&first.path].grid();
    let ref_bounds = reference.bounds();
    let ref_srs = crate::io::crs::srs_from_wkt(&reference.crs_wkt);
    for path in scene.files() {
        let grid = rasters[&path].grid();
        let pixel = |g: &Grid| g.transform.pixel_size().0.abs().max(g.transform.pixel_size().1.abs());
        let (bounds, tolerance) = if grid.crs_wkt == reference.crs_wkt {
            (grid.bounds(), pixel(grid).max(pixel(reference)) * 1.01)
        } else {
            let srs = crate::io::crs::srs_from_wkt(&grid.crs_wkt);
            let Some(b) =
                srs.zip(ref_srs.as_ref()).and_then(|(s, r)| crate::io::crs::transform_bounds(&grid.bounds(), &s, r))
            else {
                continue;
            };
            // Reprojected footprints bulge: a few percent of the extent is still the same ground.
            let extent = (ref_bounds.max_x - ref_bounds.min_x).max(ref_bounds.max_y - ref_bounds.min_y);
            (b, extent * 0.03 + 2.0 * pixel(reference))
        };
        let off = [
            bounds.min_x - ref_bounds.min_x,
            bounds.min_y - ref_bounds.min_y,
            bounds.max_x - ref_bounds.max_x,
            bounds.max_y - ref_bounds.max_y,
        ];
        if off.iter().any(|d| d.is_nan() || d.abs() > tolerance) {
            let show =
                |b: &crate::raster::Bounds| format!("{:.1} {:.1} {:.1} {:.1}", b.min_x, b.min_y, b.max_x, b.max_y);
            return Err(Error::input(
                &path,
                format!(
                    "covers {} but {} covers {}: the bands of scene {} are not on the same ground (another grid or outside the scene's footprint)",
                    show(&bounds),
                    first.path.display(),
                    show(&ref_bounds),
                    scene.id
                ),
            ));
        }
    }
    Ok(())
}

/// Surface reflectance a scene's bulk of clear pixels may have: below -0.2 or above 1.5 the median
/// of a band is not ground, it is a wrong scale or offset (a scale of 1 on reflectance x 10000 data
/// read 35 flags instead of 42, silently).
pub const PHYSICAL_MEDIAN: (f32, f32) = (-0.2, 1.5);

/// Values a sample takes from each plot window, per band: enough for a median, bounded in memory.
const SAMPLE_PER_WINDOW: usize = 4096;

/// Values a sample keeps per band at most: past that, every other value is dropped and later windows
/// give half as many (so a registry of 100,000 plots does not hold every pixel of every window).
const SAMPLE_MAX: usize = 1 << 20;

/// Scaled values of a scene's valid pixels, sampled over its plot windows, to check that its scale and
/// offset give physical values before the scene changes any plot's history.
#[derive(Debug, Default)]
pub struct ValueSample {
    per_band: Vec<(BandRole, Vec<f32>)>,
    /// Halvings so far: a window gives every `2^thinned`-th of its sampled values.
    thinned: u32,
    /// Windows read inside the scene's footprint, and the data pixels (not nodata, NaN or fill) in them.
    windows: u64,
    data_pixels: u64,
}

impl ValueSample {
    /// Counts a raw window's data pixels, whatever the sensor.
    pub fn count(&mut self, raw: &RawObservation) {
        self.windows += 1;
        self.data_pixels += raw.stack.valid.iter().filter(|v| **v != 0).count() as u64;
    }

    /// Adds a raw window's valid pixels, scaled as classification will scale them.
    pub fn add(&mut self, raw: &RawObservation) {
        let valid: Vec<usize> = raw.stack.valid.iter().enumerate().filter(|(_, v)| **v != 0).map(|(i, _)| i).collect();
        let stride = (valid.len() / SAMPLE_PER_WINDOW).max(1) << self.thinned;
        for (slot, (role, gain, offset)) in raw.scales.iter().enumerate() {
            let plane = raw.stack.data.index_axis(Axis(0), slot);
            let plane = plane.as_slice();
            let Some(plane) = plane else { continue };
            let values = match self.per_band.iter_mut().find(|(r, _)| r == role) {
                Some((_, v)) => v,
                None => {
                    self.per_band.push((*role, Vec::new()));
                    &mut self.per_band.last_mut().expect("just pushed").1
                }
            };
            values.extend(valid.iter().step_by(stride).map(|i| (plane[*i] as f64 * gain + offset) as f32));
        }
        if self.per_band.iter().any(|(_, v)| v.len() > SAMPLE_MAX) {
            for (_, v) in self.per_band.iter_mut() {
                let kept: Vec<f32> = v.iter().step_by(2).copied().collect();
                *v = kept;
            }
            self.thinned += 1;
        }
    }

    /// Fails, naming the scene, the band and its median, when a band's median is not a physical
    /// surface reflectance.
    /// Fails as well when no window held a data pixel and neither does the scene anywhere: a scene of
    /// nothing but nodata or NaN is skipped by name, not counted as ingested with nothing observed.
    pub fn check(&self, scene: &Scene) -> Result<()> {
        if self.windows > 0 && self.data_pixels == 0 {
            scene_has_data(scene)?;
        }
        for (role, values) in &self.per_band {
            // Non-finite values stay in (NaN and +inf sort last): a scale of 1e300 overflows every
            // value, and that is a wrong scale too.
            let mut v = values.clone();
            if v.is_empty() {
                continue;
            }
            let mid = v.len() / 2;
            let median = *v.select_nth_unstable_by(mid, f32::total_cmp).1;
            if !(PHYSICAL_MEDIAN.0..=PHYSICAL_MEDIAN.1).contains(&median) {
                let band = scene.band(*role).map_or(scene.source.clone(), |b| b.path.clone());
                return Err(Error::input(
                    &band,
                    format!(
                        "scene {}: the {} band's median over clear pixels is {median} after scaling, outside the \
                         physical range of surface reflectance ({} to {}); its scale or offset is wrong",
                        scene.id,
                        role.name(),
                        PHYSICAL_MEDIAN.0,
                        PHYSICAL_MEDIAN.1
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Fails, naming the scene's first band, when none of its bands holds a data pixel.
fn scene_has_data(scene: &Scene) -> Result<()> {
    for (_, band) in &scene.bands {
        let raster = Raster::open(&band.path)?;
        if raster.has_data(band.index)? {
            return Ok(());
        }
    }
    let path = scene.bands.first().map_or(scene.source.clone(), |(_, b)| b.path.clone());
    Err(Error::input(
        &path,
        format!("scene {}: no valid pixel: every pixel of every band is nodata, NaN or a fill value", scene.id),
    ))
}

fn in_scene(scene: &Scene, e: Error) -> Error {
    match e {
        Error::Input { path, problem } => Error::Input { path, problem: format!("{problem} (scene {})", scene.id) },
        Error::Gdal { path, message } => Error::Gdal { path, message: format!("{message} (scene {})", scene.id) },
        other => other,
    }
}
