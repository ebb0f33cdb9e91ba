//! The scanned imagery, found again and read around flags: where the scenes of the store are now
//! (verified by content hash, so a chip never shows a different file than the scan saw), and windows of
//! them on a chip grid, both as reflectance (for the image chips) and classified the way the scan
//! classifies (for the flagged area's time series).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3, Axis};

use super::data::ReportData;
use crate::compute::Backend;
use crate::error::Result;
use crate::io::BandSelection;
use crate::io::scenes::{Scene, content_hash, discover};
use crate::raster::{BandRole, BandStack, Grid};
use crate::scan::observe::{RawObservation, SceneReader, classify_window};
use crate::spectral::{ClassRules, LandClass};

/// Scenes of the store whose files were found unchanged, by content hash.
#[derive(Debug, Default)]
pub struct Located {
    /// Scene per content hash.
    pub by_hash: HashMap<String, Scene>,
    /// What could not be found (one line each).
    pub warnings: Vec<String>,
}

/// Finds the store's scenes again: through the `--scenes` sources of its scans and the sources recorded
/// per scene, as given and relative to the store's folder (a store moved together with its imagery).
pub fn locate(data: &ReportData, bands: &BandSelection) -> Located {
    let store_dir = data.store_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut push = |p: PathBuf| {
        // As recorded, then relative to the store's folder, then by ever shorter tails of the recorded
        // path under the store's folder: a folder moved or copied with its store keeps its layout.
        let parts: Vec<_> = p.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
        let tails = (1..parts.len()).map(|k| parts[k..].iter().collect::<PathBuf>()).map(|t| store_dir.join(t));
        for c in [p.clone(), store_dir.join(&p)].into_iter().chain(tails) {
            if c.exists() && !candidates.contains(&c) {
                candidates.push(c);
                return;
            }
        }
    };
    for s in data.scans.iter().rev() {
        if !s.scenes_source.is_empty() {
            push(PathBuf::from(&s.scenes_source));
        }
    }
    for s in &data.scenes {
        let p = PathBuf::from(&s.source);
        let is_json = p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("json"));
        match (is_json, p.parent()) {
            (true, _) => push(p),
            (false, Some(dir)) if !s.source.is_empty() => push(dir.to_path_buf()),
            _ => {}
        }
    }
    let wanted: HashSet<&str> = data.scenes.iter().map(|s| s.content_hash.as_str()).collect();
    let wanted_ids: HashSet<&str> = data.scenes.iter().map(|s| s.scene_id.as_str()).collect();
    let mut located = Located::default();
    let mut tried: BTreeSet<Vec<PathBuf>> = BTreeSet::new();
    for source in candidates {
        if located.by_hash.len() == wanted.len() {
            break;
        }
        let Ok(list) = discover(&source, bands) else { continue };
        for scene in list.scenes {
            if !wanted_ids.contains(scene.id.as_str()) || !tried.insert(scene.files()) {
                continue;
            }
            let hashed = content_hash(&scene.files(), |p, fp| {
                data.file_hashes.get(p).filter(|(c, _)| c == fp).map(|(_, h)| h.clone())
            });
            if let Ok((hash, _)) = hashed {
                if wanted.contains(hash.as_str()) {
                    located.by_hash.entry(hash).or_insert(scene);
                }
            }
        }
    }
    for s in &data.scenes {
        if !located.by_hash.contains_key(&s.content_hash) {
            located.warnings.push(format!(
                "scene {} ({}): imagery not found unchanged (looked in {}); its chips and series are left out",
                s.scene_id,
                s.acquired,
                if s.source.is_empty() { "no recorded source".to_string() } else { s.source.clone() }
            ));
        }
    }
    located
}

/// One scene read on one chip grid.
#[derive(Debug, Clone)]
pub struct Window {
    /// Surface reflectance per band (validity from nodata and the quality band).
    pub reflectance: BandStack,
    /// `LandClass` byte per pixel as the scan classifies it (255: not a clear observation).
    pub class: Vec<u8>,
    /// NDVI per pixel.
    pub ndvi: Vec<f32>,
    /// BSI per pixel (NaN without SWIR).
    pub bsi: Vec<f32>,
}

impl Window {
    /// True where the pixel is a clear observation (not nodata, cloud, shadow or their buffer).
    pub fn clear(&self, i: usize) -> bool {
        self.class[i] != LandClass::NoData as u8
    }
}

/// Reads `grid` from an open scene: reflectance for the chips, and the scan's own masking and
/// classification (with the same rules and cloud buffer) for the series.
pub fn read_window(
    backend: &dyn Backend,
    reader: &SceneReader,
    grid: &Grid,
    rules: &ClassRules,
    cloud_buffer_px: usize,
) -> Result<Window> {
    let raw = reader.read(grid)?;
    let reflectance = scaled(&raw);
    let ones = Array2::<u8>::ones((grid.height, grid.width));
    let observed = classify_window(backend, raw, &ones, &[], rules, cloud_buffer_px)?;
    Ok(Window { reflectance, class: observed.planes.class, ndvi: observed.planes.ndvi, bsi: observed.planes.bsi })
}

/// The raw numbers with each band's scale and offset applied (what `backend.linear` does in the scan).
fn scaled(raw: &RawObservation) -> BandStack {
    let mut data: Array3<f32> = raw.stack.data.clone();
    for (slot, (_, scale, offset)) in raw.scales.iter().enumerate() {
        data.index_axis_mut(Axis(0), slot).mapv_inplace(|v| (v as f64 * scale + offset) as f32);
    }
    let roles: Vec<BandRole> = raw.stack.roles.clone();
    BandStack::new(roles, data, raw.stack.valid.clone())
}
