//! Intermediate planes too large to hold in memory for a whole survey (height change, region labels)
//! kept on disk as tiled, compressed GeoTIFFs in a private folder that is removed when the job ends.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, GdalType, RasterCreationOptions};
use gdal::{Dataset, DriverManager};
use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::raster::{Grid, Window};

/// A private folder for scratch rasters, deleted (with everything in it) when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates a hidden folder inside `parent` (beside the job's output, so it is on a disk the user
    /// chose and has room for the survey).
    pub fn new(parent: &Path) -> Result<ScratchDir> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = parent.join(format!(".jingtu-scratch-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        Ok(ScratchDir { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One single-band scratch raster of `T` on a grid; windows are written once and read back any number
/// of times. Blocks never written read as zero.
pub struct ScratchRaster<T: GdalType + Copy> {
    dataset: Dataset,
    path: PathBuf,
    _type: PhantomData<T>,
}

impl<T: GdalType + Copy + Default> ScratchRaster<T> {
    /// Creates `name` in `dir` covering `grid`.
    pub fn create(dir: &ScratchDir, name: &str, grid: &Grid) -> Result<Self> {
        crate::io::gdal_env::init();
        let path = dir.path().join(name);
        let fail = |e: gdal::errors::GdalError| Error::gdal(&path, e);
        let driver = DriverManager::get_driver_by_name("GTiff").map_err(fail)?;
        // Fast compression: these files live for one job, and zeros (most of a label plane) vanish.
        let options = RasterCreationOptions::from_iter([
            "TILED=YES",
            "BLOCKXSIZE=256",
            "BLOCKYSIZE=256",
            "COMPRESS=DEFLATE",
            "ZLEVEL=1",
            "SPARSE_OK=TRUE",
            "BIGTIFF=IF_SAFER",
        ]);
        let mut dataset = driver
            .create_with_band_type_with_options::<T, _>(&path, grid.width, grid.height, 1, &options)
            .map_err(fail)?;
        dataset.set_geo_transform(&grid.transform.0).map_err(fail)?;
        if !grid.crs_wkt.is_empty() {
            dataset.set_projection(&grid.crs_wkt).map_err(fail)?;
        }
        Ok(ScratchRaster { dataset, path, _type: PhantomData })
    }

    /// The file, for GDAL algorithms that read it directly.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Writes `values` (covering `window`).
    pub fn write(&mut self, window: Window, values: ArrayView2<T>) -> Result<()> {
        assert_eq!(values.dim(), (window.height, window.width), "values cover the window");
        let data: Vec<T> = values.iter().copied().collect();
        let mut buffer = Buffer::new((window.width, window.height), data);
        let mut band = self.dataset.rasterband(1).map_err(|e| Error::gdal(&self.path, e))?;
        band.write((window.col as isize, window.row as isize), (window.width, window.height), &mut buffer)
            .map_err(|e| Error::gdal(&self.path, e))
    }

    /// Reads `window` back.
    pub fn read(&self, window: Window) -> Result<Array2<T>> {
        let band = self.dataset.rasterband(1).map_err(|e| Error::gdal(&self.path, e))?;
        let mut buf = vec![T::default(); window.len()];
        band.read_into_slice::<T>(
            (window.col as isize, window.row as isize),
            (window.width, window.height),
            (window.width, window.height),
            &mut buf,
            None,
        )
        .map_err(|e| Error::gdal(&self.path, e))?;
        Ok(Array2::from_shape_vec((window.height, window.width), buf).expect("shape"))
    }

    /// Writes pending blocks to disk so that other readers of the file (GDAL algorithms) see them.
    pub fn flush(&mut self) -> Result<()> {
        self.dataset.flush_cache().map_err(|e| Error::gdal(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::GeoTransform;

    #[test]
    fn windows_round_trip_and_unwritten_blocks_read_zero() {
        let parent = tempfile::tempdir().unwrap();
        let dir = ScratchDir::new(parent.path()).unwrap();
        let grid = Grid {
            crs_wkt: String::new(),
            epsg: None,
            transform: GeoTransform::north_up(0.0, 0.0, 1.0, 1.0),
            width: 600,
            height: 300,
        };
        let mut r = ScratchRaster::<u32>::create(&dir, "labels.tif", &grid).unwrap();
        let w = Window { col: 250, row: 10, width: 20, height: 5 };
        let values = Array2::from_shape_fn((5, 20), |(r, c)| (r * 100 + c) as u32 + 1);
        r.write(w, values.view()).unwrap();
        assert_eq!(r.read(w).unwrap(), values);
        assert!(r.read(Window { col: 500, row: 200, width: 10, height: 10 }).unwrap().iter().all(|v| *v == 0));
        let kept = dir.path().to_path_buf();
        drop(r);
        drop(dir);
        assert!(!kept.exists(), "scratch folder removed");
    }
}
