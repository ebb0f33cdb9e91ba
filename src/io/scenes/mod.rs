//! Scene sources: a STAC ItemCollection (or a folder of STAC Items), or a folder of dated multi-band
//! rasters. Each acquisition becomes a [`Scene`]: its date, the file and band holding each spectral
//! role, and its cloud mask where one exists.

pub mod api;
mod folder;
mod hash;
pub mod stac;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

pub use hash::{FileFingerprint, content_hash};

use crate::error::{Error, Result};
use crate::io::BandSelection;
use crate::raster::BandRole;

/// Where one band of a scene is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneBand {
    /// File.
    pub path: PathBuf,
    /// 1-based band number in the file.
    pub index: usize,
    /// Reflectance scale, when the catalogue says (STAC `raster:bands`).
    pub scale: Option<f64>,
    /// Reflectance offset, when the catalogue says.
    pub offset: Option<f64>,
}

/// How a scene's quality band encodes invalid pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// Sentinel-2 L2A scene classification (SCL).
    SentinelScl,
    /// Landsat Collection 2 `qa_pixel` bit flags.
    LandsatQaPixel,
}

/// One acquisition.
#[derive(Debug, Clone, Serialize)]
pub struct Scene {
    /// Scene id (STAC item id, or the file stem).
    pub id: String,
    /// Acquisition date (UTC).
    pub date: NaiveDate,
    /// The item JSON or raster file it came from.
    pub source: PathBuf,
    /// Bands by role.
    pub bands: Vec<(BandRole, SceneBand)>,
    /// Quality band, where one exists.
    pub mask: Option<(MaskKind, SceneBand)>,
    /// Scene cloud cover in percent, where the catalogue says.
    pub cloud_cover: Option<f64>,
}

impl Scene {
    /// Every file the scene reads, sorted and deduplicated (for hashing).
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.bands.iter().map(|(_, b)| b.path.clone()).collect();
        if let Some((_, m)) = &self.mask {
            files.push(m.path.clone());
        }
        files.sort();
        files.dedup();
        files
    }

    /// The band for `role`.
    pub fn band(&self, role: BandRole) -> Option<&SceneBand> {
        self.bands.iter().find(|(r, _)| *r == role).map(|(_, b)| b)
    }

    /// True when the scene has short-wave infrared.
    pub fn has_swir(&self) -> bool {
        self.band(BandRole::Swir1).is_some()
    }
}

/// Scenes found in a source, in date order, and the entries that had to be skipped (one line each,
/// naming the item or file and the problem).
#[derive(Debug, Clone, Default)]
pub struct SceneList {
    /// Usable scenes, by date then id.
    pub scenes: Vec<Scene>,
    /// Skipped entries.
    pub skipped: Vec<String>,
}

/// The roles a scan needs from every scene.
pub const REQUIRED_ROLES: [BandRole; 4] = [BandRole::Blue, BandRole::Green, BandRole::Red, BandRole::Nir];

/// Reads a scene source: a STAC ItemCollection or Item JSON file, a folder of STAC Item JSON files, or
/// a folder of dated rasters.
pub fn discover(source: &Path, selection: &BandSelection) -> Result<SceneList> {
    let remote = source.to_str().filter(|s| crate::io::vsi::is_remote(s));
    if remote.is_none() && !source.exists() {
        return Err(Error::input(source, "no such file or folder"));
    }
    let list = if let Some(href) = remote {
        // A catalogue on a server or in a bucket: read through GDAL, its relative hrefs resolved there.
        stac::discover_items(&[PathBuf::from(crate::io::vsi::gdal_path(href))])?
    } else if source.is_dir() {
        let jsons = json_files(source)?;
        if jsons.is_empty() { folder::discover(source, selection)? } else { stac::discover_items(&jsons)? }
    } else {
        stac::discover_items(&[source.to_path_buf()])?
    };
    finish(source, list)
}

/// The scenes a STAC API search finds (`--scenes URL --collection NAME`): see [`api::search`].
pub fn discover_search(api: &str, collection: &str, bbox: [f64; 4], until: Option<NaiveDate>) -> Result<SceneList> {
    let list = api::search(api, collection, bbox, until)?;
    if list.scenes.is_empty() && list.skipped.is_empty() {
        let until = until.map_or(String::new(), |d| format!(" acquired up to {d}"));
        return Err(Error::input(
            api,
            format!(
                "the STAC API search found no item of collection {collection} over the plots' bbox {bbox:?}{until}"
            ),
        ));
    }
    finish(Path::new(api), list)
}

/// Future-dated scenes set aside, the rest in date order; nothing found at all is an error.
fn finish(source: &Path, mut list: SceneList) -> Result<SceneList> {
    // An acquisition dated after tomorrow (any time zone's today) is a catalogue or file-name error,
    // and would end every later scan's history at that date ("older than the store's latest").
    let latest = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let (future, scenes): (Vec<Scene>, Vec<Scene>) = list.scenes.into_iter().partition(|s| s.date > latest);
    list.scenes = scenes;
    for s in future {
        list.skipped.push(format!(
            "scene {} ({}): dated {}, in the future; not scanned",
            s.id,
            s.source.display(),
            s.date
        ));
    }
    list.scenes.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    if list.scenes.is_empty() && list.skipped.is_empty() {
        return Err(Error::input(source, "no scenes found (expected STAC JSON or dated raster files)"));
    }
    Ok(list)
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("json")))
        .collect();
    out.sort();
    Ok(out)
}
