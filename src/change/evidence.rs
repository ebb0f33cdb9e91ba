//! Turning changed regions into flags with the evidence an analyst needs to judge them.

use chrono::NaiveDate;
use ndarray::Array2;
use serde_json::json;

use super::{ChangeCode, ChangeDetection, change_kind};
use crate::error::Result;
use crate::flags::{ENGINE_VERSION, Flag, FlagKind, FlagStatus, round4, stable_id};
use crate::io::plots::Plot;
use crate::raster::Grid;
use crate::spectral::{IndexKind, LandClass};
use crate::vectorize::{RegionPolygon, label_regions, polygonize};

/// One acquisition as the evidence names it.
#[derive(Debug, Clone)]
pub struct SceneRef {
    /// Id (file stem or STAC item id).
    pub id: String,
    /// Acquisition date, where known.
    pub date: Option<NaiveDate>,
    /// Path of the file read.
    pub path: String,
}

/// Per-region sums for the evidence, added pixel by pixel in raster order.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegionStats {
    pixels: u64,
    code: u8,
    plot: u32,
    anchor: (usize, usize),
    magnitude: f64,
    index_before: [f64; 7],
    index_after: [f64; 7],
    index_count: [u64; 7],
    matching_transitions: u64,
    class_before: [u64; 6],
    class_after: [u64; 6],
}

impl RegionStats {
    /// Adds the pixel at `at` (row, column) with region key `key` (plot << 8 | code), its smoothed change,
    /// its indices on both dates and its classes on both dates.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        at: (usize, usize),
        key: u32,
        magnitude: f32,
        index_before: &[f32; 7],
        index_after: &[f32; 7],
        class_before: u8,
        class_after: u8,
    ) {
        if self.pixels == 0 {
            self.anchor = at;
            self.code = (key & 0xff) as u8;
            self.plot = key >> 8;
        }
        self.pixels += 1;
        self.magnitude += magnitude as f64;
        for k in IndexKind::ALL {
            let (b, a) = (index_before[k as usize], index_after[k as usize]);
            if b.is_finite() && a.is_finite() {
                self.index_before[k as usize] += b as f64;
                self.index_after[k as usize] += a as f64;
                self.index_count[k as usize] += 1;
            }
        }
        let (cb, ca) = (LandClass::from_u8(class_before), LandClass::from_u8(class_after));
        if change_kind(cb, ca) as u8 == self.code {
            self.matching_transitions += 1;
        }
        self.class_before[(cb as usize).min(5)] += 1;
        self.class_after[(ca as usize).min(5)] += 1;
    }
}

/// Context shared by every flag of one comparison.
pub struct FlagContext<'a> {
    /// Earlier acquisition.
    pub before: &'a SceneRef,
    /// Later acquisition.
    pub after: &'a SceneRef,
    /// Plots, when the comparison is restricted to a registry (region key = plot index + 1).
    pub plots: Option<&'a [Plot]>,
    /// Whether both dates have SWIR; without it soil and built-up are told apart by visible bands only.
    pub has_swir: bool,
    /// Scan or run id.
    pub scan_id: &'a str,
    /// Region key per pixel (plot index + 1, or 1 everywhere).
    pub region_keys: &'a Array2<u32>,
}

/// Flags for every changed region of a flaggable kind, ordered by flag id.
pub fn flags_from_detection(detection: &ChangeDetection, grid: &Grid, ctx: &FlagContext) -> Result<Vec<Flag>> {
    let (h, w) = detection.codes.dim();
    // Regions of one code within one plot.
    let keys = Array2::from_shape_fn((h, w), |(r, c)| {
        let code = detection.codes[[r, c]];
        if code == 0 || code == ChangeCode::NoData as u8 { 0 } else { (ctx.region_keys[[r, c]] << 8) | code as u32 }
    });
    let regions = label_regions(keys.view());
    let mut stats = vec![RegionStats::default(); regions.sizes.len()];
    for r in 0..h {
        for c in 0..w {
            let l = regions.labels[[r, c]] as usize;
            if l == 0 {
                continue;
            }
            let values = |stack: &crate::spectral::IndexStack| IndexKind::ALL.map(|k| stack.get(k)[[r, c]]);
            stats[l].add(
                (r, c),
                keys[[r, c]],
                detection.magnitude[[r, c]],
                &values(&detection.indices_before),
                &values(&detection.indices_after),
                detection.classes_before[[r, c]],
                detection.classes_after[[r, c]],
            );
        }
    }
    let polygons = polygonize(regions.labels.view(), grid)?;
    Ok(flags_from_regions(&stats, polygons, grid, ctx, detection.threshold))
}

/// Flags for the regions of `stats` (indexed by label) that `polygons` trace, ordered by flag id; the
/// regions are changes thresholded at `threshold`.
pub(crate) fn flags_from_regions(
    stats: &[RegionStats],
    polygons: Vec<RegionPolygon>,
    grid: &Grid,
    ctx: &FlagContext,
    threshold: f32,
) -> Vec<Flag> {
    let pixel_area = grid.transform.pixel_area();
    let mut flags = Vec::new();
    for poly in polygons {
        let s = &stats[poly.label as usize];
        let code = ChangeCode::from_u8(s.code);
        let kind = match code {
            ChangeCode::Construction => FlagKind::Construction,
            ChangeCode::Earthworks => FlagKind::Earthworks,
            ChangeCode::VegetationLoss => FlagKind::VegetationLoss,
            _ => continue,
        };
        let plot = ctx.plots.and_then(|plots| plots.get(s.plot as usize - 1));
        let mean_mag = s.magnitude / s.pixels as f64;
        let purity = s.matching_transitions as f64 / s.pixels as f64;
        // Strength: how far past the threshold the region's change is (0 at the threshold, ~1 at 3x).
        let strength = 1.0 - (-(mean_mag / threshold as f64 - 1.0).max(0.0) * 1.5).exp();
        let sensor_factor = if ctx.has_swir { 1.0 } else { 0.8 };
        let confidence = ((0.2 + 0.4 * strength + 0.4 * purity) * sensor_factor).clamp(0.0, 1.0);
        let indices = |sums: &[f64; 7]| {
            let mut m = serde_json::Map::new();
            for k in IndexKind::ALL {
                let n = s.index_count[k as usize];
                if n > 0 {
                    m.insert(k.name().into(), json!(round4(sums[k as usize] / n as f64)));
                }
            }
            serde_json::Value::Object(m)
        };
        let dominant = |counts: &[u64; 6]| {
            let (i, _) = counts.iter().enumerate().max_by_key(|(i, c)| (**c, usize::MAX - i)).expect("six classes");
            LandClass::from_u8(i as u8).name()
        };
        let (x, y) = grid.transform.pixel_to_geo(s.anchor.1 as f64 + 0.5, s.anchor.0 as f64 + 0.5);
        let plot_id = plot.map(|p| p.plot_id.clone());
        let flag_id = stable_id(
            "chg",
            &[
                &ctx.before.id,
                &ctx.after.id,
                kind.name(),
                plot_id.as_deref().unwrap_or(""),
                &format!("{x:.2},{y:.2}"),
                &s.pixels.to_string(),
            ],
        );
        let mut evidence = json!({
            "method": "bi-temporal change",
            "scenes": [
                {"id": ctx.before.id, "date": ctx.before.date.map(|d| d.to_string()), "role": "before", "path": ctx.before.path},
                {"id": ctx.after.id, "date": ctx.after.date.map(|d| d.to_string()), "role": "after", "path": ctx.after.path},
            ],
            "before": indices(&s.index_before),
            "after": indices(&s.index_after),
            "class_before": dominant(&s.class_before),
            "class_after": dominant(&s.class_after),
            "change_rms": round4(mean_mag),
            "threshold_rms": round4(threshold as f64),
            "transition_agreement": round4(purity),
            "pixels": s.pixels,
            "valid_observations": 2,
            "cloud_fraction": 0.0,
        });
        if !ctx.has_swir {
            evidence["limitations"] =
                json!("no SWIR band: bare soil and built-up are told apart by visible bands only");
        }
        if let Some(p) = plot {
            if p.works_allowed && matches!(kind, FlagKind::Construction | FlagKind::Earthworks) {
                evidence["permitted_works"] = json!(true);
            }
        }
        flags.push(Flag {
            flag_id,
            plot_id,
            plot_name: plot.and_then(|p| p.name.clone()),
            kind,
            status: FlagStatus::New,
            first_seen: ctx.after.date,
            last_seen: ctx.after.date,
            bare_since: None,
            idle_days: None,
            area_m2: round4(s.pixels as f64 * pixel_area),
            confidence: round4(confidence),
            evidence,
            scan_id: ctx.scan_id.to_string(),
            engine_version: ENGINE_VERSION.to_string(),
            geometry: poly.wkb,
        });
    }
    flags.sort_by(|a, b| a.flag_id.cmp(&b.flag_id));
    flags
}
