//! Opening rasters with GDAL: what is in them (for `inspect` and band mapping) and reading windows of them
//! as band stacks with nodata, mask bands and alpha honoured.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use gdal::raster::{GdalDataType, RasterBand, ResampleAlg};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags, Metadata};
use ndarray::{Array2, Array3};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::sensor::{Sensor, generic_scaling, role_from_description, role_from_wavelength_nm, wavelength_nm};
use crate::io::{crs, dates};
use crate::raster::{BandRole, BandStack, GeoTransform, Grid, Window};

/// How invalid pixels of a band are marked in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskSource {
    /// Every pixel is valid (NaN still counts as invalid in float bands).
    None,
    /// A nodata value.
    Nodata,
    /// A mask band shared by all bands (internal mask or `.msk` sidecar).
    PerDataset,
    /// An alpha band.
    Alpha,
    /// This band is itself the alpha band: it is a mask, not a measurement.
    IsAlpha,
}

/// What the engine knows about one band.
#[derive(Debug, Clone, Serialize)]
pub struct BandInfo {
    /// 1-based band number.
    pub index: usize,
    /// GDAL data type name (`Byte`, `UInt16`, `Float32`, ...).
    pub data_type: String,
    /// The band description, often the band name (`B04`, `red`).
    pub description: String,
    /// GDAL colour interpretation where set (`Red`, `Alpha`, `Gray`, ...).
    pub color: Option<String>,
    /// The nodata value as written in the file (text, so NaN survives JSON).
    pub nodata: Option<String>,
    /// Why a nodata value is not used, when it cannot occur in the band's data type.
    pub nodata_ignored: Option<String>,
    /// Where validity comes from.
    pub mask: MaskSource,
    /// Scale from the file's metadata, where present.
    pub scale: Option<f64>,
    /// Offset from the file's metadata, where present.
    pub offset: Option<f64>,
    /// The role the engine assigns without a sensor profile (from description or colour).
    pub role: Option<BandRole>,
    /// Number of overviews.
    pub overviews: usize,
    /// Block size (columns, rows).
    pub block: (usize, usize),
}

/// What the engine sees in a raster file.
#[derive(Debug, Clone, Serialize)]
pub struct RasterInfo {
    /// The file.
    pub path: PathBuf,
    /// GDAL driver short name.
    pub driver: String,
    /// The raster's own grid.
    pub grid: Grid,
    /// False when the file has no georeferencing (plain PNG or BMP): the grid is then pixel units.
    pub georeferenced: bool,
    /// Bands, in file order.
    pub bands: Vec<BandInfo>,
    /// Acquisition date, where the file name or metadata says.
    pub acquired: Option<NaiveDate>,
    /// Where the acquisition date came from.
    pub acquired_from: Option<String>,
}

/// Which bands of a raster to use as which role and how to scale them.
#[derive(Debug, Clone, Default)]
pub struct BandSelection {
    /// A sensor profile (`--sensor`).
    pub sensor: Option<Sensor>,
    /// Explicit `--bands` pairs; they win over the profile.
    pub overrides: Vec<(BandRole, usize)>,
    /// Explicit reflectance scale and offset; win over the file's metadata and the profile.
    pub scaling: Option<(f64, f64)>,
}

/// One band the engine will read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MappedBand {
    /// What it measures.
    pub role: BandRole,
    /// 1-based band number in the file.
    pub index: usize,
    /// Digital number to reflectance: `value * scale + offset`.
    pub scale: f64,
    /// See `scale`.
    pub offset: f64,
}

/// The resolved band mapping of a raster.
#[derive(Debug, Clone, Serialize)]
pub struct BandMap {
    /// Bands in spectral order.
    pub bands: Vec<MappedBand>,
    /// How the mapping was decided, for evidence and `inspect`.
    pub origin: String,
    /// True when scaled values are surface reflectance; false for uncorrected digital numbers.
    pub surface_reflectance: bool,
}

impl BandMap {
    /// Roles in stack order.
    pub fn roles(&self) -> Vec<BandRole> {
        self.bands.iter().map(|b| b.role).collect()
    }

    /// True when the mapping has `role`.
    pub fn has(&self, role: BandRole) -> bool {
        self.bands.iter().any(|b| b.role == role)
    }
}

/// An open raster file.
pub struct Raster {
    dataset: Dataset,
    info: RasterInfo,
}

impl Raster {
    /// Opens a raster, turning every failure into a one-line error that names the file. Rasters whose
    /// rows do not run north to south (south-up, mirrored, rotated) are refused: every window
    /// computation assumes north-up rows.
    pub fn open(path: &Path) -> Result<Raster> {
        Self::open_with(path, true)
    }

    /// Opens a raster to describe it (`jingtu inspect`): south-up and rotated rasters are described
    /// with their geotransform as it is, not refused.
    pub fn open_to_describe(path: &Path) -> Result<Raster> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, north_up_only: bool) -> Result<Raster> {
        crate::io::gdal_env::init();
        if crate::io::vsi::is_network_path(path) {
            return Self::open_remote(path, north_up_only);
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        // A device or a FIFO never ends (/dev/zero) or never starts (a FIFO without a writer): GDAL would
        // wait on it forever. Folders stay allowed for GDAL's folder formats.
        if !meta.is_file() && !meta.is_dir() {
            return Err(Error::input(
                path,
                "not a regular file (a device, FIFO or socket); only regular files are read",
            ));
        }
        if meta.is_file() && meta.len() == 0 {
            return Err(Error::input(path, "empty file (0 bytes), not a raster"));
        }
        if meta.is_file() {
            // The operating system's reason (permissions) in its own words, rather than GDAL's guess.
            std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        }
        // Without GDAL_OF_VERBOSE_ERROR a failed open leaves no message at all, and every bad file reads
        // "GDALOpenEx failed".
        let options = DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
            ..Default::default()
        };
        let dataset = Dataset::open_ex(path, options).map_err(|e| {
            let msg = crate::error::describe_gdal_at(path, &e);
            let known = msg.contains("not recognized as") || msg.contains("not a supported");
            if known {
                Error::input(path, "not a raster GDAL can read (unrecognised format)")
            } else if meta.is_file() {
                // A readable, non-empty file whose format a driver recognised but could not open: its
                // header or directory is cut off or damaged.
                Error::input(path, format!("truncated or corrupt, cannot be opened ({msg})"))
            } else {
                Error::Gdal { path: path.to_path_buf(), message: msg }
            }
        })?;
        Self::from_dataset_with(dataset, path, north_up_only)
    }

    /// A raster behind a GDAL network path (`/vsicurl/`, `/vsis3/`, ...): no local file checks, GDAL's
    /// own message (HTTP status, S3 error code) when it cannot be opened.
    fn open_remote(path: &Path, north_up_only: bool) -> Result<Raster> {
        crate::io::vsi::check_allowed(path)?;
        let options = DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
            ..Default::default()
        };
        let dataset = Dataset::open_ex(path, options).map_err(|e| {
            let msg = crate::error::describe_gdal_at(path, &e);
            Error::input(path, format!("cannot be read over the network ({msg})"))
        })?;
        Self::from_dataset_with(dataset, path, north_up_only)
    }

    /// Wraps an already open dataset (e.g. a warped in-memory copy); `path` is used in messages.
    pub fn from_dataset(dataset: Dataset, path: &Path) -> Result<Raster> {
        Self::from_dataset_with(dataset, path, true)
    }

    fn from_dataset_with(dataset: Dataset, path: &Path, north_up_only: bool) -> Result<Raster> {
        let info = describe(&dataset, path, north_up_only)?;
        Ok(Raster { dataset, info })
    }

    /// What is in the file.
    pub fn info(&self) -> &RasterInfo {
        &self.info
    }

    /// The underlying GDAL dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The raster's grid.
    pub fn grid(&self) -> &Grid {
        &self.info.grid
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.info.path
    }

    /// Decides which bands play which role: `--bands` first, then the sensor profile, then band
    /// descriptions and colour interpretation. Every role in `required` must be found.
    pub fn band_map(&self, selection: &BandSelection, required: &[BandRole]) -> Result<BandMap> {
        let info = &self.info;
        let count = info.bands.len();
        let data_bands: Vec<&BandInfo> = info.bands.iter().filter(|b| b.mask != MaskSource::IsAlpha).collect();
        let (pairs, origin): (Vec<(BandRole, usize)>, String) = if !selection.overrides.is_empty() {
            let mut pairs = selection
                .sensor
                .map(|s| s.layout(data_bands.len()))
                .unwrap_or_default()
                .into_iter()
                .filter(|(r, _)| !selection.overrides.iter().any(|(o, _)| o == r))
                .collect::<Vec<_>>();
            pairs.extend(selection.overrides.iter().copied());
            (pairs, "--bands".to_string())
        } else if let Some(sensor) = selection.sensor {
            (sensor.layout(data_bands.len()), format!("sensor profile {sensor}"))
        } else {
            let mut pairs: Vec<(BandRole, usize)> = Vec::new();
            for b in &data_bands {
                if let Some(role) = b.role {
                    if !pairs.iter().any(|(r, _)| *r == role) {
                        pairs.push((role, b.index));
                    }
                }
            }
            (pairs, "band descriptions".to_string())
        };
        let mut bands = Vec::with_capacity(pairs.len());
        for (role, index) in pairs {
            if index == 0 || index > count {
                return Err(Error::input(
                    &info.path,
                    format!("{role} is mapped to band {index} but the file has {count} band(s)"),
                ));
            }
            let band = &info.bands[index - 1];
            let (scale, offset) = selection
                .scaling
                .or_else(|| match (band.scale, band.offset) {
                    (None, None) => None,
                    (s, o) => Some((s.unwrap_or(1.0), o.unwrap_or(0.0))),
                })
                .unwrap_or_else(|| match selection.sensor {
                    Some(s) => s.default_scaling(&band.data_type),
                    None => generic_scaling(&band.data_type),
                });
            bands.push(MappedBand { role, index, scale, offset });
        }
        bands.sort_by_key(|b| b.role);
        let first_type = bands.first().map(|b| info.bands[b.index - 1].data_type.clone()).unwrap_or_default();
        let calibrated_by_file = bands.iter().any(|b| info.bands[b.index - 1].scale.is_some());
        let surface_reflectance = selection.scaling.is_some()
            || calibrated_by_file
            || match selection.sensor {
                Some(s) => s.is_surface_reflectance(&first_type),
                None => first_type != "Byte",
            };
        let map = BandMap { bands, origin, surface_reflectance };
        for role in required {
            if !map.has(*role) {
                let available = if map.bands.is_empty() {
                    format!("{count} band(s) without recognisable names")
                } else {
                    map.bands.iter().map(|b| format!("{}={}", b.role, b.index)).collect::<Vec<_>>().join(",")
                };
                return Err(Error::MissingBand { path: info.path.clone(), band: role.name().to_string(), available });
            }
        }
        Ok(map)
    }

    /// Reads `window` of the mapped bands as raw digital numbers (scaling is a kernel's job), with the
    /// validity of each pixel from nodata, NaN, mask bands and alpha.
    pub fn read_raw(&self, map: &BandMap, window: Window) -> Result<BandStack> {
        let (planes, valid) = self.read_raw_as::<f32>(map, window)?;
        let (w, h) = (window.width, window.height);
        let data = Array3::from_shape_vec((map.bands.len(), h, w), planes.concat()).expect("one plane per band");
        Ok(BandStack::new(map.roles(), data, valid))
    }

    /// [`read_raw`](Self::read_raw) in the data type `T` (one vector per mapped band), for callers that
    /// keep the numbers as the file has them: 16-bit data read as `u16` skips GDAL's conversion to float
    /// and takes half the room. The validity is the same as `read_raw`'s.
    pub fn read_raw_as<T>(&self, map: &BandMap, window: Window) -> Result<(Vec<Vec<T>>, Array2<u8>)>
    where
        T: Copy + Default + gdal::raster::GdalType + Into<f64> + 'static,
    {
        let (w, h) = (window.width, window.height);
        let mut planes = Vec::with_capacity(map.bands.len());
        let mut valid = Array2::<u8>::from_elem((h, w), 1);
        let vbuf = valid.as_slice_mut().expect("standard layout");
        let mut dataset_mask_done = false;
        for k in 0..map.bands.len() {
            let mut buf = vec![T::default(); w * h];
            dataset_mask_done |= self.read_band_checked(map, k, window, &mut buf, vbuf, !dataset_mask_done)?;
            planes.push(buf);
        }
        self.mask_by_alpha(map, window, vbuf)?;
        Ok((planes, valid))
    }

    /// Reads mapped band `k` of `window` into `buf` as `T` and clears `valid` where that band says a pixel
    /// is not data (nodata, NaN, its mask or alpha band). Together with [`mask_by_alpha`](Self::mask_by_alpha),
    /// the bands read one by one give the validity [`read_raw_as`](Self::read_raw_as) gives, so workers can
    /// read the bands of one window in parallel.
    pub fn read_band_as<T>(
        &self,
        map: &BandMap,
        k: usize,
        window: Window,
        buf: &mut [T],
        valid: &mut [u8],
    ) -> Result<()>
    where
        T: Copy + gdal::raster::GdalType + Into<f64> + 'static,
    {
        self.read_band_checked(map, k, window, buf, valid, true).map(|_| ())
    }

    /// [`read_band_as`](Self::read_band_as); a mask shared by all bands is read only when `dataset_mask`
    /// (it is the same for every band). Returns whether such a mask was read.
    fn read_band_checked<T>(
        &self,
        map: &BandMap,
        k: usize,
        window: Window,
        buf: &mut [T],
        valid: &mut [u8],
        dataset_mask: bool,
    ) -> Result<bool>
    where
        T: Copy + gdal::raster::GdalType + Into<f64> + 'static,
    {
        let path = &self.info.path;
        let mapped = &map.bands[k];
        let band = self.dataset.rasterband(mapped.index).map_err(|e| Error::gdal(path, e))?;
        read_window(&band, window, buf).map_err(|e| unreadable(path, mapped.index, &e))?;
        let info = &self.info.bands[mapped.index - 1];
        mark_not_data(valid, buf, compared_nodata(&band));
        let read_mask = match info.mask {
            MaskSource::Alpha => true,
            MaskSource::PerDataset => dataset_mask,
            _ => false,
        };
        if read_mask {
            let mask = band.open_mask_band().map_err(|e| Error::gdal(path, e))?;
            let mut mbuf = vec![0u8; window.len()];
            read_window(&mask, window, &mut mbuf).map_err(|e| unreadable(path, mapped.index, &e))?;
            for (v, m) in valid.iter_mut().zip(&mbuf) {
                if *m == 0 {
                    *v = 0;
                }
            }
        }
        Ok(read_mask && info.mask == MaskSource::PerDataset)
    }

    /// When nothing but the values decide which pixels are data (no mask band, no alpha band), the nodata
    /// value of each mapped band as [`read_band_as`](Self::read_band_as) compares it (`None` for a band
    /// without one: there only NaN is not data). A caller holding the values can then find the valid
    /// pixels in one sweep over all bands, where reading band by band makes a validity per band to
    /// combine. `None` when a mask or alpha band has to be read.
    pub fn nodata_decides(&self, map: &BandMap) -> Result<Option<Vec<Option<f64>>>> {
        if self.info.bands.iter().any(|b| b.mask == MaskSource::IsAlpha) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(map.bands.len());
        for mapped in &map.bands {
            if matches!(self.info.bands[mapped.index - 1].mask, MaskSource::PerDataset | MaskSource::Alpha) {
                return Ok(None);
            }
            let band = self.dataset.rasterband(mapped.index).map_err(|e| Error::gdal(&self.info.path, e))?;
            out.push(compared_nodata(&band));
        }
        Ok(Some(out))
    }

    /// Reads mapped band `k` of `window` into `buf` as `T`, values only (see
    /// [`nodata_decides`](Self::nodata_decides)).
    pub fn read_band_values<T: Copy + gdal::raster::GdalType>(
        &self,
        map: &BandMap,
        k: usize,
        window: Window,
        buf: &mut [T],
    ) -> Result<()> {
        let path = &self.info.path;
        let index = map.bands[k].index;
        let band = self.dataset.rasterband(index).map_err(|e| Error::gdal(path, e))?;
        read_window(&band, window, buf).map_err(|e| unreadable(path, index, &e))
    }

    /// Clears `valid` where the raster's alpha band is 0, when it has one that none of the mapped bands
    /// already uses as its mask: an alpha band that GDAL ignores (because a nonsense nodata value took
    /// precedence) still masks.
    pub fn mask_by_alpha(&self, map: &BandMap, window: Window, valid: &mut [u8]) -> Result<()> {
        let path = &self.info.path;
        if let Some(alpha) = self.info.bands.iter().find(|b| b.mask == MaskSource::IsAlpha) {
            let uses_alpha = map.bands.iter().any(|m| self.info.bands[m.index - 1].mask == MaskSource::Alpha);
            if !uses_alpha {
                let band = self.dataset.rasterband(alpha.index).map_err(|e| Error::gdal(path, e))?;
                let mut abuf = vec![0f32; window.len()];
                read_window(&band, window, &mut abuf).map_err(|e| unreadable(path, alpha.index, &e))?;
                for (v, a) in valid.iter_mut().zip(&abuf) {
                    if *a <= 0.0 {
                        *v = 0;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads a single band (1-based) as `f32`, for masks such as Sentinel-2 SCL or DSM heights.
    pub fn read_band(&self, index: usize, window: Window) -> Result<(Vec<f32>, Option<f64>)> {
        let path = &self.info.path;
        let band = self.dataset.rasterband(index).map_err(|e| Error::gdal(path, e))?;
        let mut buf = vec![0f32; window.len()];
        read_window(&band, window, &mut buf).map_err(|e| unreadable(path, index, &e))?;
        Ok((buf, usable_nodata(&band)))
    }

    /// The full window of the raster.
    pub fn full_window(&self) -> Window {
        Window { col: 0, row: 0, width: self.info.grid.width, height: self.info.grid.height }
    }

    /// Whether band `index` (1-based) holds any data pixel, looked at through a grid of at most 1024
    /// pixels a side (GDAL's nearest-neighbour decimation; overviews where the file has them): a scene of
    /// nothing but nodata, NaN or fill values says so, where the plot windows alone cannot tell it from
    /// plots lying in the empty part of a swath.
    pub fn has_data(&self, index: usize) -> Result<bool> {
        let path = &self.info.path;
        let band = self.dataset.rasterband(index).map_err(|e| Error::gdal(path, e))?;
        let (w, h) = band.size();
        let (bw, bh) = (w.clamp(1, 1024), h.clamp(1, 1024));
        let read = |b: &RasterBand| -> Result<Vec<f64>> {
            let mut buf = vec![0f64; bw * bh];
            b.read_into_slice::<f64>((0, 0), (w, h), (bw, bh), &mut buf, Some(ResampleAlg::NearestNeighbour))
                .map_err(|e| unreadable(path, index, &e))?;
            Ok(buf)
        };
        let values = read(&band)?;
        let mask = read(&band.open_mask_band().map_err(|e| Error::gdal(path, e))?)?;
        let nodata = compared_nodata(&band);
        Ok(values.iter().zip(&mask).any(|(v, m)| *m != 0.0 && !is_absurd(*v) && nodata.is_none_or(|nd| *v != nd)))
    }

    /// Reads the first and last block of every band, which fails on truncated or corrupt files that GDAL
    /// otherwise opens happily because their header is intact.
    pub fn verify_readable(&self) -> Result<()> {
        let path = &self.info.path;
        for b in &self.info.bands {
            let band = self.dataset.rasterband(b.index).map_err(|e| Error::gdal(path, e))?;
            let (bw, bh) = band.block_size();
            let (w, h) = band.size();
            let (bw, bh) = (bw.clamp(1, w.max(1)), bh.clamp(1, h.max(1)));
            let corners = [(0, 0), ((w - 1) / bw * bw, (h - 1) / bh * bh)];
            for (c, r) in corners {
                let win = Window { col: c, row: r, width: bw.min(w - c), height: bh.min(h - r) };
                let mut buf = vec![0f64; win.len()];
                band.read_into_slice::<f64>(
                    (win.col as isize, win.row as isize),
                    (win.width, win.height),
                    (win.width, win.height),
                    &mut buf,
                    None,
                )
                .map_err(|e| unreadable(path, b.index, &e))?;
            }
        }
        Ok(())
    }
}

fn read_window<T: Copy + gdal::raster::GdalType>(
    band: &RasterBand,
    window: Window,
    buf: &mut [T],
) -> gdal::errors::Result<()> {
    band.read_into_slice::<T>(
        (window.col as isize, window.row as isize),
        (window.width, window.height),
        (window.width, window.height),
        buf,
        Some(ResampleAlg::NearestNeighbour),
    )
}

/// The band's usable nodata value as values are compared with it: in f32, as `read_raw` always compared.
fn compared_nodata(band: &RasterBand) -> Option<f64> {
    usable_nodata(band).map(|nd| if nd.is_nan() { nd } else { nd as f32 as f64 })
}

/// Beyond this magnitude a floating-point sample is not a measurement of anything this engine reads
/// (reflectance, digital numbers up to 65535, heights in metres): -1e30 fill values and infinities are
/// not data, like nodata; they passed as valid and made thresholds infinite.
pub const ABSURD_MAGNITUDE: f64 = 1e6;

/// True for NaN, infinities and values beyond [`ABSURD_MAGNITUDE`].
#[inline(always)]
pub fn is_absurd(v: f64) -> bool {
    v.is_nan() || v.abs() > ABSURD_MAGNITUDE
}

/// Clears `valid` where `values` of one band are not data: equal to `nodata` (as [`compared_nodata`]
/// gives it), NaN, infinite or absurd (over [`ABSURD_MAGNITUDE`]). Integers are never NaN or infinite:
/// that sweep is only for floating-point values.
pub(crate) fn mark_not_data<T>(valid: &mut [u8], values: &[T], nodata: Option<f64>)
where
    T: Copy + gdal::raster::GdalType + Into<f64> + 'static,
{
    let float = matches!(T::datatype(), GdalDataType::Float32 | GdalDataType::Float64);
    match nodata {
        Some(nd) if nd.is_nan() && !float => {}
        Some(nd) if nd.is_nan() => mark(valid, values, is_absurd),
        Some(nd) if float => mark(valid, values, |v| v == nd || is_absurd(v)),
        Some(nd) => mark_nodata(valid, values, nd),
        None if float => mark(valid, values, is_absurd),
        None => {}
    }
}

/// Clears `valid` where an integer band holds `nd`: compared in the band's own type where it is 16-bit
/// (the sweep over a Sentinel-2 band then runs at memory speed), else in f64 as [`mark`] compares.
fn mark_nodata<T: Copy + Into<f64> + 'static>(valid: &mut [u8], values: &[T], nd: f64) {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<u16>() {
        if nd.fract() != 0.0 || !(0.0..=65535.0).contains(&nd) {
            return;
        }
        // SAFETY: T is u16 (same type id), so the slice is a slice of u16.
        let values: &[u16] = unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), values.len()) };
        let nd = nd as u16;
        for (v, x) in valid.iter_mut().zip(values) {
            *v &= u8::from(*x != nd);
        }
        return;
    }
    mark(valid, values, |v| v == nd)
}

/// Clears `valid` (0 or 1 per pixel) where `invalid` holds; without a branch, so the sweep vectorizes.
fn mark<T: Copy + Into<f64>>(valid: &mut [u8], values: &[T], invalid: impl Fn(f64) -> bool) {
    for (v, x) in valid.iter_mut().zip(values) {
        *v &= u8::from(!invalid((*x).into()));
    }
}

/// The nodata value if it can actually occur in the band's type: a Byte band with nodata -10000 (as some
/// drone software writes) has no nodata pixels at all, and its alpha band is what marks the edges.
fn usable_nodata(band: &RasterBand) -> Option<f64> {
    let nd = band.no_data_value()?;
    nodata_problem(band.band_type(), nd).is_none().then_some(nd)
}

fn nodata_problem(data_type: GdalDataType, nd: f64) -> Option<String> {
    let range = match data_type {
        GdalDataType::UInt8 => Some((0.0, 255.0)),
        GdalDataType::UInt16 => Some((0.0, 65535.0)),
        GdalDataType::Int16 => Some((-32768.0, 32767.0)),
        GdalDataType::UInt32 => Some((0.0, 4294967295.0)),
        GdalDataType::Int32 => Some((-2147483648.0, 2147483647.0)),
        _ => None,
    };
    let (lo, hi) = range?;
    if nd.is_nan() || nd < lo || nd > hi || nd.fract() != 0.0 {
        Some(format!("nodata {nd} cannot occur in {data_type} data; ignored"))
    } else {
        None
    }
}

/// Pixels per band a raster may declare unless `JINGTU_MAX_RASTER_PIXELS` says otherwise: 4e9 (a
/// 63,000-pixel square, 16 GB per band as f32), beyond what one job here reads in reasonable time and
/// memory. A 2 KB VRT declaring 1e6 x 1e6 pixels ran at full CPU for minutes; now it is refused at once.
pub const DEFAULT_MAX_RASTER_PIXELS: u64 = 4_000_000_000;

/// The limit on declared pixels per band (see [`DEFAULT_MAX_RASTER_PIXELS`]).
pub fn max_raster_pixels() -> u64 {
    std::env::var("JINGTU_MAX_RASTER_PIXELS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 1.0)
        .map_or(DEFAULT_MAX_RASTER_PIXELS, |v| v as u64)
}

/// Refuses what cannot be read correctly or in bounded time: a declared size over the limit, and
/// geotransforms whose rows do not run north to south (south-up or rotated): every window computation
/// assumes north-up rows and cropped such rasters to a sliver silently.
fn check_shape(
    path: &Path,
    width: usize,
    height: usize,
    transform: Option<&[f64; 6]>,
    north_up_only: bool,
) -> Result<()> {
    let pixels = width as u64 * height as u64;
    let limit = max_raster_pixels();
    if pixels > limit {
        return Err(Error::input(
            path,
            format!(
                "declares {width} x {height} pixels ({pixels:.3e} per band), over the limit of {limit:.3e} \
                 (JINGTU_MAX_RASTER_PIXELS); refused rather than read for hours",
                pixels = pixels as f64,
                limit = limit as f64
            ),
        ));
    }
    if let Some(gt) = transform {
        let finite = gt.iter().all(|v| v.is_finite());
        if !finite || gt[1] == 0.0 || gt[5] == 0.0 {
            return Err(Error::input(path, format!("unusable geotransform {gt:?}")));
        }
        if north_up_only && (gt[2] != 0.0 || gt[4] != 0.0 || gt[1] < 0.0 || gt[5] > 0.0) {
            return Err(Error::input(
                path,
                format!(
                    "{} geotransform (pixel size {} x {}, rotation {} / {}); warp it north-up first, e.g. \
                     gdalwarp -overwrite IN.tif OUT.tif",
                    if gt[2] != 0.0 || gt[4] != 0.0 { "rotated" } else { "south-up or mirrored" },
                    gt[1],
                    gt[5],
                    gt[2],
                    gt[4]
                ),
            ));
        }
    }
    Ok(())
}

fn describe(dataset: &Dataset, path: &Path, north_up_only: bool) -> Result<RasterInfo> {
    let (width, height) = dataset.raster_size();
    if dataset.raster_count() == 0 {
        return Err(Error::input(path, "has no raster bands (a vector file or an empty container?)"));
    }
    let (transform, georeferenced) = match dataset.geo_transform() {
        Ok(gt) => (GeoTransform(gt), true),
        Err(_) => (GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]), false),
    };
    check_shape(path, width, height, georeferenced.then_some(&transform.0), north_up_only)?;
    let wkt = dataset.projection();
    let epsg = crs::srs_from_wkt(&wkt).as_ref().and_then(crs::epsg_of);
    let grid = Grid { crs_wkt: wkt, epsg, transform, width, height };
    let mut bands = Vec::new();
    for index in 1..=dataset.raster_count() {
        let band = dataset.rasterband(index).map_err(|e| Error::gdal(path, e))?;
        let data_type = band.band_type();
        let color = band.color_interpretation();
        let color_name = color.name();
        let color = (color_name != "Undefined").then_some(color_name);
        let description = band.description().unwrap_or_default();
        let nodata_value = band.no_data_value();
        let nodata_ignored = nodata_value.and_then(|nd| nodata_problem(data_type, nd));
        let flags = band.mask_flags().map_err(|e| Error::gdal(path, e))?;
        let mask = if color.as_deref() == Some("Alpha") {
            MaskSource::IsAlpha
        } else if flags.is_nodata() && nodata_ignored.is_none() {
            MaskSource::Nodata
        } else if flags.is_alpha() {
            MaskSource::Alpha
        } else if flags.is_per_dataset() {
            MaskSource::PerDataset
        } else {
            MaskSource::None
        };
        let role = if mask == MaskSource::IsAlpha {
            None
        } else {
            role_from_description(&description, color.as_deref()).or_else(|| {
                let unit = band.metadata_item("wavelength_units", "");
                band.metadata_item("wavelength", "")
                    .and_then(|w| wavelength_nm(&w, unit.as_deref()))
                    .or_else(|| wavelength_nm(&description, None))
                    .and_then(role_from_wavelength_nm)
            })
        };
        bands.push(BandInfo {
            index,
            data_type: data_type.name(),
            description,
            color,
            nodata: nodata_value.map(|v| v.to_string()),
            nodata_ignored,
            mask,
            scale: band.scale().filter(|s| *s != 1.0),
            offset: band.offset().filter(|o| *o != 0.0),
            role,
            overviews: band.overview_count().unwrap_or(0).max(0) as usize,
            block: band.block_size(),
        });
    }
    let (acquired, acquired_from) = match acquisition_date(dataset, path) {
        Some((d, from)) => (Some(d), Some(from)),
        None => (None, None),
    };
    let driver = dataset.driver().short_name();
    Ok(RasterInfo { path: path.to_path_buf(), driver, grid, georeferenced, bands, acquired, acquired_from })
}

/// The acquisition date from the file name, then TIFF or product metadata, then band names (ENVI headers
/// of Landsat scenes keep the scene id there).
fn acquisition_date(dataset: &Dataset, path: &Path) -> Option<(NaiveDate, String)> {
    if let Some(d) = path.file_name().and_then(|n| n.to_str()).and_then(dates::date_in_text) {
        return Some((d, "file name".into()));
    }
    for key in [
        "TIFFTAG_DATETIME",
        "ACQUISITIONDATETIME",
        "DATE_ACQUIRED",
        "ACQUISITION_DATE",
        "datetime",
        "DATATAKE_1_DATATAKE_SENSING_START",
    ] {
        if let Some(v) = dataset.metadata_item(key, "") {
            if let Some(d) = dates::date_in_text(&v) {
                return Some((d, format!("metadata {key}")));
            }
        }
    }
    for index in 1..=dataset.raster_count() {
        let desc = dataset.rasterband(index).ok()?.description().unwrap_or_default();
        if let Some(d) = dates::date_in_text(&desc) {
            return Some((d, format!("band {index} name")));
        }
    }
    None
}

/// A band whose pixels GDAL cannot decode: the file opened (its header is intact) but the data under it
/// is cut short or damaged. Said the same way wherever a read fails, naming the file and the band.
fn unreadable(path: &Path, band: usize, e: &gdal::errors::GdalError) -> Error {
    Error::input(
        path,
        format!("truncated or corrupt: band {band} cannot be read ({})", crate::error::describe_gdal_at(path, e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodata_outside_the_type_is_reported_not_used() {
        assert!(nodata_problem(GdalDataType::UInt8, -10000.0).unwrap().contains("ignored"));
        assert!(nodata_problem(GdalDataType::UInt8, 0.0).is_none());
        assert!(nodata_problem(GdalDataType::Int16, -9999.0).is_none());
        assert!(nodata_problem(GdalDataType::UInt16, 0.5).is_some());
        assert!(nodata_problem(GdalDataType::Float32, f64::NAN).is_none());
    }
}
