//! A folder of rasters, one multi-band file per acquisition.

use std::path::{Path, PathBuf};

use super::{Scene, SceneBand, SceneList};
use crate::error::{Error, Result};
use crate::io::{BandSelection, Raster};

const RASTER_EXTENSIONS: [&str; 6] = ["tif", "tiff", "jp2", "img", "vrt", "hdr"];

/// Every raster in `dir` (not recursive) with a date in its name or metadata.
pub fn discover(dir: &Path, selection: &BandSelection) -> Result<SceneList> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| RASTER_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    let mut list = SceneList::default();
    for path in files {
        let raster = match Raster::open(&path) {
            Ok(r) => r,
            Err(e) => {
                list.skipped.push(e.to_string());
                continue;
            }
        };
        let Some(date) = raster.info().acquired else {
            list.skipped.push(format!(
                "{}: no acquisition date in its name (YYYY-MM-DD or YYYYMMDD) or metadata",
                path.display()
            ));
            continue;
        };
        let map = match raster.band_map(selection, &super::REQUIRED_ROLES) {
            Ok(m) => m,
            Err(e) => {
                list.skipped.push(e.to_string());
                continue;
            }
        };
        let bands = map
            .bands
            .iter()
            .map(|b| {
                (b.role, SceneBand { path: path.clone(), index: b.index, scale: Some(b.scale), offset: Some(b.offset) })
            })
            .collect();
        let id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        list.scenes.push(Scene { id, date, source: path.clone(), bands, mask: None, cloud_cover: None });
    }
    Ok(list)
}
