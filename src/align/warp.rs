//! Warping a raster onto an analysis grid with GDAL's warper (gdalwarp as a library).

use std::ffi::CString;
use std::path::Path;

use gdal::Dataset;
use gdal::cpl::CslStringList;

use crate::error::{Error, Result};
use crate::io::Raster;
use crate::raster::Grid;

/// How values are interpolated when a raster is resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampling {
    /// Nearest neighbour: for classes, masks (SCL, QA) and anything categorical.
    Nearest,
    /// Bilinear: for reflectance and heights.
    Bilinear,
    /// Mean of contributing pixels: for reflectance when coarsening by a large factor.
    Average,
}

impl Resampling {
    fn gdal_name(self) -> &'static str {
        match self {
            Resampling::Nearest => "near",
            Resampling::Bilinear => "bilinear",
            Resampling::Average => "average",
        }
    }
}

/// The gdalwarp arguments that put a raster onto `grid` as Float32 with NaN where there is no data.
#[derive(Debug, Clone)]
pub struct WarpArgs<'a> {
    grid: &'a Grid,
    resampling: Resampling,
    threads: usize,
    ignore_source_nodata: bool,
    scale: Option<(f64, f64)>,
}

impl<'a> WarpArgs<'a> {
    /// Arguments for warping onto `grid`.
    pub fn new(grid: &'a Grid) -> Self {
        WarpArgs { grid, resampling: Resampling::Bilinear, threads: 1, ignore_source_nodata: false, scale: None }
    }

    /// Sets the resampling method.
    pub fn with_resampling(&mut self, resampling: Resampling) -> &mut Self {
        self.resampling = resampling;
        self
    }

    /// Lets GDAL use `threads` worker threads for this warp.
    pub fn with_threads(&mut self, threads: usize) -> &mut Self {
        self.threads = threads.max(1);
        self
    }

    /// Disregards the source's nodata value (when it cannot occur in the data, so alpha must decide).
    pub fn ignoring_source_nodata(&mut self, ignore: bool) -> &mut Self {
        self.ignore_source_nodata = ignore;
        self
    }

    /// Fixes the resampling scale (destination pixels per source pixel, along x and y). GDAL otherwise
    /// derives it from each processing chunk, so the same pixel comes out slightly different when a
    /// raster is warped whole or tile by tile; fixed, tiles agree with the whole to the last bit.
    pub fn with_scale(&mut self, x: f64, y: f64) -> &mut Self {
        self.scale = Some((x, y));
        self
    }

    /// The argument vector, as `gdalwarp` would take it.
    pub fn to_args(&self) -> Vec<String> {
        let b = self.grid.bounds();
        let mut args: Vec<String> = vec![
            "-of".into(),
            "MEM".into(),
            "-ot".into(),
            "Float32".into(),
            "-te".into(),
            format!("{:.10}", b.min_x),
            format!("{:.10}", b.min_y),
            format!("{:.10}", b.max_x),
            format!("{:.10}", b.max_y),
            "-ts".into(),
            self.grid.width.to_string(),
            self.grid.height.to_string(),
            "-r".into(),
            self.resampling.gdal_name().into(),
            "-dstnodata".into(),
            "nan".into(),
            "-wo".into(),
            "INIT_DEST=NO_DATA".into(),
            "-wo".into(),
            format!("NUM_THREADS={}", self.threads),
        ];
        if !self.grid.crs_wkt.is_empty() {
            args.push("-t_srs".into());
            args.push(self.grid.crs_wkt.clone());
        }
        if self.ignore_source_nodata {
            args.push("-srcnodata".into());
            args.push("None".into());
        }
        if let Some((x, y)) = self.scale {
            args.extend(["-wo".into(), format!("XSCALE={x}"), "-wo".into(), format!("YSCALE={y}")]);
        }
        args
    }

    /// Warps `source` into a new in-memory raster; `path` names the source in errors.
    pub fn run(&self, source: &Raster) -> Result<Raster> {
        let path = source.path().to_path_buf();
        let dataset = warp_dataset(source.dataset(), &self.to_args(), &path)?;
        Raster::from_dataset(dataset, &path)
    }
}

/// Runs GDALWarp on `source` with gdalwarp's `args` (`-of MEM` for an in-memory result); `path` names the
/// source in errors.
pub(crate) fn warp_dataset(source: &Dataset, args: &[String], path: &Path) -> Result<Dataset> {
    let mut list = CslStringList::new();
    for a in args {
        list.add_string(a).map_err(|e| Error::gdal(path, e))?;
    }
    let dest = CString::new("").expect("no NUL");
    // SAFETY: the option list and source handle outlive the calls; GDALWarp returns a new dataset that
    // we take ownership of, or NULL on failure.
    unsafe {
        let options = gdal_sys::GDALWarpAppOptionsNew(list.as_ptr(), std::ptr::null_mut());
        if options.is_null() {
            return Err(Error::Gdal { path: path.to_path_buf(), message: last_gdal_message("bad warp options") });
        }
        let mut sources = [source.c_dataset()];
        let mut usage_error = 0;
        let out =
            gdal_sys::GDALWarp(dest.as_ptr(), std::ptr::null_mut(), 1, sources.as_mut_ptr(), options, &mut usage_error);
        gdal_sys::GDALWarpAppOptionsFree(options);
        if out.is_null() {
            return Err(Error::Gdal { path: path.to_path_buf(), message: last_gdal_message("warping failed") });
        }
        Ok(Dataset::from_c_dataset(out))
    }
}

/// GDAL's last error message, or `fallback`.
pub(crate) fn last_gdal_message(fallback: &str) -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local, NUL-terminated buffer.
    let msg = unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned();
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.is_empty() { fallback.to_string() } else { msg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::GeoTransform;

    #[test]
    fn warp_args_pin_the_grid_exactly() {
        let grid = Grid {
            crs_wkt: "EPSG:32651".into(),
            epsg: Some(32651),
            transform: GeoTransform::north_up(203325.0, 3604935.0, 30.0, 30.0),
            width: 400,
            height: 300,
        };
        let mut w = WarpArgs::new(&grid);
        w.with_resampling(Resampling::Nearest).with_threads(2).ignoring_source_nodata(true);
        let args = w.to_args();
        let joined = args.join(" ");
        assert!(
            joined.contains("-te 203325.0000000000 3595935.0000000000 215325.0000000000 3604935.0000000000"),
            "{joined}"
        );
        assert!(joined.contains("-ts 400 300"));
        assert!(joined.contains("-r near"));
        assert!(joined.contains("-dstnodata nan"));
        assert!(joined.contains("-t_srs EPSG:32651"));
        assert!(joined.contains("NUM_THREADS=2"));
        assert!(joined.ends_with("-srcnodata None"));
        w.with_scale(0.8, 0.4);
        assert!(w.to_args().join(" ").ends_with("-wo XSCALE=0.8 -wo YSCALE=0.4"));
    }
}
