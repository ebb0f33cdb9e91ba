//! What a report shows, gathered from the store: the scan it reports on and the one before, the scenes
//! ingested up to it, the plots with their per-acquisition summaries, and the flags as they stood.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::align::frame::AnalysisFrame;
use crate::error::{Error, Result};
use crate::flags::{Flag, FlagStatus};
use crate::raster::Bounds;
use crate::store::{Store, gpkg};
use chrono::NaiveDate;

/// One row of the store's scan log.
#[derive(Debug, Clone)]
pub struct ScanRow {
    /// Scan id.
    pub scan_id: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Latest acquisition it had processed.
    pub as_of: Option<NaiveDate>,
    /// `--plots` as given.
    pub plots_source: String,
    /// `--scenes` as given.
    pub scenes_source: String,
    /// Scenes it processed.
    pub scenes_new: i64,
}

/// An ingested acquisition.
#[derive(Debug, Clone)]
pub struct SceneRow {
    /// Content hash (identity).
    pub content_hash: String,
    /// Scene id.
    pub scene_id: String,
    /// Acquisition date.
    pub acquired: NaiveDate,
    /// The STAC item JSON or raster it came from.
    pub source: String,
    /// Scene cloud cover in percent, where the catalogue said.
    pub cloud_cover: Option<f64>,
    /// Mean clear share of the plots on it.
    pub plots_clear: Option<f64>,
}

/// One acquisition of a plot (`plot_summary`).
#[derive(Debug, Clone)]
pub struct PlotDay {
    /// Acquisition date.
    pub acquired: NaiveDate,
    /// Share of the plot clear.
    pub clear_fraction: f64,
    /// Mean NDVI of its clear pixels.
    pub ndvi: Option<f64>,
    /// Mean BSI of its clear pixels.
    pub bsi: Option<f64>,
}

/// A registered plot as scanned.
#[derive(Debug, Clone)]
pub struct PlotInfo {
    /// Registry id.
    pub plot_id: String,
    /// Name.
    pub name: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Approved works allowed.
    pub works_allowed: bool,
    /// Acquisitions that saw it.
    pub observations: i64,
    /// Latest acquisition that saw it.
    pub last_observed: Option<String>,
    /// `observed`, `unobserved` or `outside_scenes`.
    pub state: String,
    /// Outline rings in the analysis CRS.
    pub rings: Vec<Vec<(f64, f64)>>,
    /// Bounds in the analysis CRS.
    pub bounds: Bounds,
    /// Per-acquisition summaries up to the scan.
    pub days: Vec<PlotDay>,
}

/// A flag as it stood at the reported scan.
#[derive(Debug, Clone)]
pub struct FlagInfo {
    /// The stored flag (evidence and outline as stored now).
    pub flag: Flag,
    /// Status at the scan (from the flag's history when the scan is not the latest).
    pub status: FlagStatus,
    /// First appeared after the previous scan's latest acquisition.
    pub new_since_previous: bool,
    /// Outline rings in the analysis CRS.
    pub rings: Vec<Vec<(f64, f64)>>,
    /// Bounds in the analysis CRS.
    pub bounds: Bounds,
    /// Analysts' field checks of the flag (`jingtu review`, `jingtu serve`), oldest first.
    pub reviews: Vec<crate::store::reviews::Review>,
}

/// Everything the report draws from the store.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// The store file.
    pub store_path: PathBuf,
    /// The analysis frame.
    pub frame: AnalysisFrame,
    /// The reported scan.
    pub scan: ScanRow,
    /// The scan before it (an earlier `as_of`), if any.
    pub previous: Option<ScanRow>,
    /// Every scan logged, oldest first (sources for finding imagery again).
    pub scans: Vec<ScanRow>,
    /// Acquisitions up to the scan, by date.
    pub scenes: Vec<SceneRow>,
    /// Plots, by id.
    pub plots: Vec<PlotInfo>,
    /// Flags that existed at the scan, by plot then first acquisition.
    pub flags: Vec<FlagInfo>,
    /// Cached file hashes of the store (path, size, modified_ns, sha256), to verify imagery cheaply.
    pub file_hashes: HashMap<PathBuf, (crate::io::scenes::FileFingerprint, String)>,
}

impl ReportData {
    /// The plot with `plot_id`.
    pub fn plot(&self, plot_id: &str) -> Option<&PlotInfo> {
        self.plots.iter().find(|p| p.plot_id == plot_id)
    }

    /// Flags by kind and status at the scan.
    pub fn counts(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for f in &self.flags {
            *out.entry(f.flag.kind.name().into()).or_default().entry(f.status.name().into()).or_default() += 1;
        }
        out
    }
}

fn date(s: Option<String>) -> Option<NaiveDate> {
    s.and_then(|s| s.get(..10).and_then(|d| d.parse().ok()))
}

/// Reads the report's data for `scan` (a scan id; the latest scan when `None`).
pub fn gather(store: &Store, scan: Option<&str>) -> Result<ReportData> {
    let path = store.path().to_path_buf();
    let fail = |e: rusqlite::Error| Error::store(&path, e);
    let conn = store.connection();
    let frame = store.frame()?.ok_or_else(|| Error::store(&path, "has no scan yet; run jingtu scan first"))?;

    let mut stmt = conn
        .prepare(
            "SELECT scan_id, finished_at, as_of, plots_source, scenes_source, coalesce(scenes_new, 0) FROM scans ORDER BY fid",
        )
        .map_err(fail)?;
    let scans: Vec<ScanRow> = stmt
        .query_map([], |r| {
            Ok(ScanRow {
                scan_id: r.get(0)?,
                finished_at: r.get(1)?,
                as_of: date(r.get(2)?),
                plots_source: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                scenes_source: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                scenes_new: r.get(5)?,
            })
        })
        .map_err(fail)?
        .collect::<rusqlite::Result<_>>()
        .map_err(fail)?;
    let chosen = match scan {
        Some(id) => scans.iter().rposition(|s| s.scan_id == id).ok_or_else(|| {
            let known: Vec<&str> = scans.iter().rev().take(5).map(|s| s.scan_id.as_str()).collect();
            Error::Usage(format!("--scan {id}: no such scan in {} (latest: {})", path.display(), known.join(", ")))
        })?,
        None => scans.len().checked_sub(1).ok_or_else(|| Error::store(&path, "has no scan yet"))?,
    };
    let report_scan = scans[chosen].clone();
    let latest = chosen + 1 == scans.len()
        || scans[chosen + 1..].iter().all(|s| s.as_of == report_scan.as_of && s.scenes_new == 0);
    // The previous scan is the latest one that had seen less: a rerun that ingested nothing is not one.
    let previous = scans[..chosen].iter().rev().find(|s| s.as_of < report_scan.as_of).cloned();
    let as_of = report_scan.as_of;
    let upto = |d: NaiveDate| as_of.is_none_or(|a| d <= a);

    let mut stmt = conn
        .prepare("SELECT content_hash, scene_id, acquired, coalesce(source, ''), cloud_cover, plots_clear FROM scenes")
        .map_err(fail)?;
    let mut scenes: Vec<SceneRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, Option<f64>>(5)?,
            ))
        })
        .map_err(fail)?
        .filter_map(|r| r.ok())
        .filter_map(|(h, id, acq, source, cc, pc)| {
            let acquired = date(Some(acq))?;
            Some(SceneRow { content_hash: h, scene_id: id, acquired, source, cloud_cover: cc, plots_clear: pc })
        })
        .filter(|s| upto(s.acquired))
        .collect();
    scenes.sort_by(|a, b| (a.acquired, &a.scene_id).cmp(&(b.acquired, &b.scene_id)));

    let mut days: HashMap<String, Vec<PlotDay>> = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT plot_id, acquired, clear_fraction, ndvi, bsi FROM plot_summary ORDER BY acquired")
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<f64>>(2)?,
                r.get::<_, Option<f64>>(3)?,
                r.get::<_, Option<f64>>(4)?,
            ))
        })
        .map_err(fail)?;
    for row in rows {
        let (plot, acq, clear, ndvi, bsi) = row.map_err(fail)?;
        if let Some(acquired) = date(Some(acq)).filter(|d| upto(*d)) {
            days.entry(plot).or_default().push(PlotDay { acquired, clear_fraction: clear.unwrap_or(0.0), ndvi, bsi });
        }
    }

    let mut stmt = conn
        .prepare(
            "SELECT plot_id, name, category, works_allowed, observations, last_observed, state, geom FROM plots ORDER BY plot_id",
        )
        .map_err(fail)?;
    let plots: Vec<PlotInfo> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<bool>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<Vec<u8>>>(7)?,
            ))
        })
        .map_err(fail)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(fail)?
        .into_iter()
        .map(|(plot_id, name, category, works, obs, last, state, geom)| {
            let wkb = geom.as_deref().and_then(gpkg::decode).map(|(_, w)| w.to_vec()).unwrap_or_default();
            let rings = rings_of(&wkb);
            let bounds = bounds_of(&rings);
            let plot_days = days.remove(&plot_id).unwrap_or_default();
            // The plots table holds the latest scan; an older scan's counts come from its summaries.
            let (observations, last_observed) = if latest {
                (obs.unwrap_or(0), last)
            } else {
                let seen: Vec<&PlotDay> = plot_days.iter().filter(|d| d.clear_fraction > 0.0).collect();
                (seen.len() as i64, seen.last().map(|d| d.acquired.to_string()))
            };
            PlotInfo {
                plot_id,
                name,
                category,
                works_allowed: works.unwrap_or(false),
                observations,
                last_observed,
                state: state.unwrap_or_else(|| "observed".into()),
                rings,
                bounds,
                days: plot_days,
            }
        })
        .collect();

    // A flag's history says when it appeared and its status on every acquisition it changed.
    let mut history: HashMap<String, Vec<(NaiveDate, FlagStatus)>> = HashMap::new();
    let mut stmt =
        conn.prepare("SELECT flag_id, acquired, status FROM flag_history ORDER BY acquired").map_err(fail)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .map_err(fail)?;
    for row in rows {
        let (id, acq, status) = row.map_err(fail)?;
        if let (Some(d), Some(s)) = (date(Some(acq)), FlagStatus::parse(&status)) {
            history.entry(id).or_default().push((d, s));
        }
    }
    let mut flags = Vec::new();
    for (_, flag) in store.flags()? {
        let h = history.get(&flag.flag_id).map(Vec::as_slice).unwrap_or(&[]);
        let appeared = h.first().map(|(d, _)| *d).or(flag.first_seen);
        if appeared.is_some_and(|d| !upto(d)) {
            continue;
        }
        let status = if latest {
            flag.status
        } else {
            h.iter().rev().find(|(d, _)| upto(*d)).map(|(_, s)| *s).unwrap_or(flag.status)
        };
        let new_since_previous = match (&previous, appeared) {
            (Some(p), Some(d)) => p.as_of.is_none_or(|pa| d > pa),
            (None, _) => true,
            (Some(_), None) => false,
        };
        let rings = rings_of(&flag.geometry);
        let bounds = bounds_of(&rings);
        let reviews = store.reviews(&flag.flag_id)?;
        flags.push(FlagInfo { flag, status, new_since_previous, rings, bounds, reviews });
    }
    flags.sort_by(|a, b| {
        (a.flag.plot_id.as_deref(), a.flag.first_seen, &a.flag.flag_id).cmp(&(
            b.flag.plot_id.as_deref(),
            b.flag.first_seen,
            &b.flag.flag_id,
        ))
    });

    let file_hashes = store.file_hashes()?;
    Ok(ReportData { store_path: path, frame, scan: report_scan, previous, scans, scenes, plots, flags, file_hashes })
}

/// The exterior and interior rings of a polygon or multipolygon WKB (empty when unreadable).
pub fn rings_of(wkb: &[u8]) -> Vec<Vec<(f64, f64)>> {
    let Ok(g) = gdal::vector::Geometry::from_wkb(wkb) else { return Vec::new() };
    let mut out = Vec::new();
    collect_rings(&g, &mut out);
    out
}

fn collect_rings(g: &gdal::vector::Geometry, out: &mut Vec<Vec<(f64, f64)>>) {
    let n = g.geometry_count();
    if n == 0 {
        let mut raw = Vec::new();
        g.get_points(&mut raw);
        let points: Vec<(f64, f64)> = raw.into_iter().map(|(x, y, _)| (x, y)).collect();
        if points.len() >= 2 {
            out.push(points);
        }
        return;
    }
    for i in 0..n {
        collect_rings(&g.get_geometry(i), out);
    }
}

/// Bounds of rings (a degenerate box at the origin when there are none).
pub fn bounds_of(rings: &[Vec<(f64, f64)>]) -> Bounds {
    let mut b = Bounds { min_x: f64::MAX, min_y: f64::MAX, max_x: f64::MIN, max_y: f64::MIN };
    for (x, y) in rings.iter().flatten() {
        b.min_x = b.min_x.min(*x);
        b.max_x = b.max_x.max(*x);
        b.min_y = b.min_y.min(*y);
        b.max_y = b.max_y.max(*y);
    }
    if b.min_x > b.max_x {
        return Bounds { min_x: 0.0, min_y: 0.0, max_x: 0.0, max_y: 0.0 };
    }
    b
}
