//! The changefeed registry services pull: flags whose record changed since a cursor, as GeoJSON
//! Features (RFC 7946, WGS 84) with an `op` property (`upsert` or `resolve` after a scan, `review` after
//! an analyst's review). Each line carries the flag's full current state keyed by `flag_id`, with its
//! latest review, so ingesting the same lines twice changes nothing. NDJSON ends with
//! `{"cursor": "..."}`, which GeoJSON-sequence readers such as GDAL skip. `jingtu export` writes it to a
//! file or stdout; `jingtu serve` answers `GET /changes` with the same text ([`render_feed`]).

use std::io::Write;
use std::path::Path;

use gdal::spatial_ref::CoordTransform;
use gdal::vector::Geometry;
use serde_json::{Value, json};

use super::atomic::AtomicOutput;
use super::vector::{FeedRecord, write_feed_geopackage};
use crate::error::{Error, Result};
use crate::flags::{FlagSet, FlagStatus};
use crate::io::crs;
use crate::store::{FlagChange, Store};

/// Output of `jingtu export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// One Feature per line, then the cursor line.
    Ndjson,
    /// A FeatureCollection with a top-level `cursor` member.
    GeoJson,
    /// A GeoPackage layer (analysis CRS) with `op` and `seq` columns, the cursor in its metadata.
    GeoPackage,
}

/// Cursor text for a changefeed position.
pub fn cursor_text(seq: i64) -> String {
    format!("jt1:{seq}")
}

/// Parses a cursor (`jt1:N` or a bare number; 0 for the beginning). An empty one is an error: it is
/// what a script passes when it lost the previous cursor, and starting over silently re-sends everything.
pub fn parse_cursor(text: &str) -> Result<i64> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Usage(
            "--since: empty cursor; pass the previous export's cursor, or 0 for everything".into(),
        ));
    }
    let n = t.strip_prefix("jt1:").unwrap_or(t);
    n.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| Error::Usage(format!("--since: '{text}' is not a cursor from jingtu export")))
}

/// What one export wrote: the `--json` summary of `jingtu export`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    /// The cursor to pass as `--since` next time.
    pub cursor: String,
    /// The cursor this export started after.
    pub since: String,
    /// Records written (one per flag that changed).
    pub features: usize,
    /// Records with `op` = `upsert`.
    pub upserts: usize,
    /// Records with `op` = `resolve`.
    pub resolves: usize,
    /// Records with `op` = `review` (flags whose latest change is an analyst's review).
    pub reviews: usize,
    /// `ndjson`, `geojson` or `gpkg`.
    pub format: &'static str,
    /// The file written, or none for standard output.
    pub out: Option<std::path::PathBuf>,
}

impl FeedFormat {
    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            FeedFormat::Ndjson => "ndjson",
            FeedFormat::GeoJson => "geojson",
            FeedFormat::GeoPackage => "gpkg",
        }
    }
}

/// The changefeed operation a flag's latest change stands for: its review, or the state a scan left.
fn op_of(c: &FlagChange) -> &'static str {
    if c.cause == "review" {
        "review"
    } else if c.flag.status == FlagStatus::Resolved {
        "resolve"
    } else {
        "upsert"
    }
}

/// The NDJSON or GeoJSON text of the flags changed after `since` in an open store, and what it holds.
/// `jingtu export` writes this text; `jingtu serve` answers `GET /changes` with it, inside one read
/// transaction of the caller's, so both give the same records and cursors.
pub fn render_feed(store: &Store, since: i64, format: FeedFormat) -> Result<(String, ExportSummary)> {
    let store_path = store.path();
    if format == FeedFormat::GeoPackage {
        return Err(Error::Usage("render_feed: a GeoPackage feed is written with export_changes".into()));
    }
    let frame = store.frame()?.ok_or_else(|| Error::store(store_path, "has no scan yet"))?;
    let changes = store.flags_changed_since(since)?;
    let summary = summarize(&changes, since, format, None);
    let source =
        crs::srs_from_wkt(&frame.crs_wkt).ok_or_else(|| Error::store(store_path, "analysis CRS unreadable"))?;
    let wgs84 = crs::srs_from_epsg(4326).ok_or_else(|| Error::store(store_path, "EPSG:4326 unknown to PROJ"))?;
    let transform = CoordTransform::new(&source, &wgs84).map_err(|e| Error::gdal(store_path, e))?;
    let features: Vec<FeedFeature> =
        changes.iter().map(|c| feature(store_path, c, &transform)).collect::<Result<_>>()?;
    let cursor = &summary.cursor;
    let text = if format == FeedFormat::Ndjson {
        let mut s = String::new();
        for f in &features {
            s.push_str(&to_json(f));
            s.push('\n');
        }
        s.push_str(&to_json(&CursorLine { cursor }));
        s.push('\n');
        s
    } else {
        to_json(&FeatureCollection { kind: "FeatureCollection", cursor, features: &features })
    };
    Ok((text, summary))
}

/// What a feed of `changes` after `since` holds.
fn summarize(changes: &[FlagChange], since: i64, format: FeedFormat, out: Option<&Path>) -> ExportSummary {
    let count = |op: &str| changes.iter().filter(|c| op_of(c) == op).count();
    ExportSummary {
        cursor: cursor_text(changes.iter().map(|c| c.seq).max().unwrap_or(since)),
        since: cursor_text(since),
        features: changes.len(),
        upserts: count("upsert"),
        resolves: count("resolve"),
        reviews: count("review"),
        format: format.name(),
        out: out.map(Path::to_path_buf),
    }
}

/// Writes the flags changed after `since` and says what it wrote, with the new cursor.
pub fn export_changes(
    store_path: &Path,
    since: &str,
    format: FeedFormat,
    out: Option<&Path>,
    overwrite: bool,
) -> Result<ExportSummary> {
    crate::io::gdal_env::init();
    let since = parse_cursor(since)?;
    let store = Store::open(Some(store_path))?;
    match format {
        FeedFormat::GeoPackage => {
            let out = out.ok_or_else(|| Error::Usage("--format gpkg needs --out FILE.gpkg".into()))?;
            let frame = store.frame()?.ok_or_else(|| Error::store(store_path, "has no scan yet"))?;
            let changes = store.flags_changed_since(since)?;
            let summary = summarize(&changes, since, format, Some(out));
            let records: Vec<FeedRecord> =
                changes.iter().map(|c| FeedRecord { fid: c.fid, seq: c.seq, op: op_of(c) }).collect();
            let flags = changes.into_iter().map(|c| c.flag).collect();
            let set = FlagSet { flags, crs_wkt: frame.crs_wkt.clone() };
            write_feed_geopackage(out, &set, &records, &summary.cursor, overwrite)?;
            Ok(summary)
        }
        FeedFormat::Ndjson | FeedFormat::GeoJson => {
            let (text, mut summary) = render_feed(&store, since, format)?;
            summary.out = out.map(Path::to_path_buf);
            match out {
                Some(path) => {
                    let pending = AtomicOutput::new(path, &[], overwrite)?;
                    std::fs::write(pending.temp_path(), text).map_err(|e| Error::io(path, e))?;
                    pending.commit()?;
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(text.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
                }
            }
            Ok(summary)
        }
    }
}

/// A feed record as one line of JSON (typed records of strings, numbers and JSON values always serialize).
fn to_json<T: serde::Serialize>(record: &T) -> String {
    serde_json::to_string(record).expect("feed records serialize")
}

/// One changefeed record. Members are written in declaration order, `type` first: GDAL (and so QGIS,
/// geopandas and pyogrio) recognises a GeoJSON text sequence by a first line that starts like a
/// Feature, and took the whole file for one object while the keys were sorted and `type` came last.
#[derive(Debug, serde::Serialize)]
struct FeedFeature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The flag's number in the store: an integer, so GDAL takes it as the feature id (FID), and
    /// stable across exports, so `ogr2ogr -upsert` replaces the flag's row when a later feed carries
    /// its new state instead of adding a second row for it.
    id: i64,
    geometry: FeedGeometry,
    properties: FeedProperties<'a>,
}

#[derive(Debug, serde::Serialize)]
struct FeedGeometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Value,
}

#[derive(Debug, serde::Serialize)]
struct FeedProperties<'a> {
    op: &'static str,
    /// The changefeed position of this record: `jt1:SEQ` of the last record is the next cursor.
    seq: i64,
    flag_id: &'a str,
    plot_id: Option<&'a str>,
    plot_name: Option<&'a str>,
    kind: &'static str,
    status: &'static str,
    first_seen: Option<String>,
    last_seen: Option<String>,
    bare_since: Option<String>,
    idle_days: Option<i64>,
    area_m2: f64,
    confidence: f64,
    permitted: bool,
    evidence: &'a Value,
    scan_id: &'a str,
    engine_version: &'a str,
    /// The flag's latest review; absent (not null) for a flag never reviewed, so the feed of a store
    /// without reviews is what it was before reviews existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<&'a crate::store::reviews::Review>,
}

#[derive(Debug, serde::Serialize)]
struct FeatureCollection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    cursor: &'a str,
    features: &'a [FeedFeature<'a>],
}

/// The last NDJSON line: not a Feature, so GeoJSON-sequence readers skip it.
#[derive(Debug, serde::Serialize)]
struct CursorLine<'a> {
    cursor: &'a str,
}

/// One flag as an RFC 7946 Feature with `op` and its changefeed position.
fn feature<'a>(store_path: &Path, c: &'a FlagChange, to_wgs84: &CoordTransform) -> Result<FeedFeature<'a>> {
    let f = &c.flag;
    let (kind, coordinates) = rfc7946_geometry(&f.geometry, to_wgs84)
        .map_err(|e| Error::store(store_path, format!("flag {}: its geometry: {e}", f.flag_id)))?;
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
    Ok(FeedFeature {
        kind: "Feature",
        id: c.fid,
        geometry: FeedGeometry { kind, coordinates },
        properties: FeedProperties {
            op: op_of(c),
            seq: c.seq,
            flag_id: &f.flag_id,
            plot_id: f.plot_id.as_deref(),
            plot_name: f.plot_name.as_deref(),
            kind: f.kind.name(),
            status: f.status.name(),
            first_seen: date(f.first_seen),
            last_seen: date(f.last_seen),
            bare_since: date(f.bare_since),
            idle_days: f.idle_days,
            area_m2: f.area_m2,
            confidence: f.confidence,
            permitted: f.evidence.get("permitted_works").and_then(|v| v.as_bool()).unwrap_or(false),
            evidence: &f.evidence,
            scan_id: &f.scan_id,
            engine_version: &f.engine_version,
            review: c.review.as_ref(),
        },
    })
}

/// A geometry (WKB in the analysis CRS) as RFC 7946 GeoJSON: transformed with `to_wgs84` (longitude
/// first), coordinates rounded to about 1 cm, rings wound as the RFC says. Returns the GeoJSON type and
/// coordinates. The changefeed and `jingtu serve`'s collections both write geometries through here.
pub fn rfc7946_geometry(wkb: &[u8], to_wgs84: &CoordTransform) -> Result<(String, Value)> {
    let geometry = Geometry::from_wkb(wkb).map_err(|e| Error::gdal("<geometry>", e))?;
    let lonlat = geometry.transform(to_wgs84).map_err(|e| Error::gdal("<geometry>", e))?;
    let geojson: Value =
        serde_json::from_str(&lonlat.json().map_err(|e| Error::gdal("<geometry>", e))?).map_err(|e| Error::Gdal {
            path: "<geometry>".into(),
            message: format!("GDAL gave unreadable GeoJSON: {e}"),
        })?;
    let kind = geojson["type"].as_str().unwrap_or("Polygon").to_string();
    let mut coordinates = round_coordinates(geojson["coordinates"].clone());
    orient_rfc7946(&kind, &mut coordinates);
    Ok((kind, coordinates))
}

/// Twice the signed area of a ring of `[x, y]` positions: positive when counter-clockwise.
fn signed_area2(ring: &[Value]) -> f64 {
    let xy = |p: &Value| (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0));
    ring.windows(2)
        .map(|w| {
            let ((x0, y0), (x1, y1)) = (xy(&w[0]), xy(&w[1]));
            x0 * y1 - x1 * y0
        })
        .sum()
}

/// RFC 7946 section 3.1.6: exterior rings counter-clockwise, holes clockwise. The analysis CRS's
/// polygons come from a raster tracer whose orientation says nothing about this, and a transform to
/// longitude and latitude keeps whatever it was.
pub fn orient_rfc7946(geometry_type: &str, coordinates: &mut Value) {
    let orient_polygon = |rings: &mut Value| {
        if let Some(rings) = rings.as_array_mut() {
            for (i, ring) in rings.iter_mut().enumerate() {
                if let Some(points) = ring.as_array_mut() {
                    let ccw = signed_area2(points) > 0.0;
                    let want_ccw = i == 0;
                    if ccw != want_ccw {
                        points.reverse();
                    }
                }
            }
        }
    };
    match geometry_type {
        "Polygon" => orient_polygon(coordinates),
        "MultiPolygon" => {
            if let Some(polygons) = coordinates.as_array_mut() {
                polygons.iter_mut().for_each(orient_polygon);
            }
        }
        _ => {}
    }
}

/// Seven decimals of a degree (about 1 cm), as RFC 7946 recommends keeping coordinates short.
fn round_coordinates(v: Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Number(n), |x| json!((x * 1e7).round() / 1e7)),
        Value::Array(a) => Value::Array(a.into_iter().map(round_coordinates).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_and_reject_nonsense() {
        assert_eq!(parse_cursor("jt1:42").unwrap(), 42);
        assert_eq!(parse_cursor("7").unwrap(), 7);
        assert!(parse_cursor("").is_err());
        assert!(parse_cursor("yesterday").is_err());
        assert_eq!(cursor_text(3), "jt1:3");
    }

    #[test]
    fn polygons_are_wound_as_rfc_7946_says() {
        // A clockwise square with a counter-clockwise hole: both reversed.
        let mut c = json!([
            [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]],
            [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8], [0.2, 0.2]]
        ]);
        orient_rfc7946("Polygon", &mut c);
        let rings = c.as_array().unwrap();
        assert!(signed_area2(rings[0].as_array().unwrap()) > 0.0, "exterior counter-clockwise");
        assert!(signed_area2(rings[1].as_array().unwrap()) < 0.0, "hole clockwise");
        let before = c.clone();
        orient_rfc7946("Polygon", &mut c);
        assert_eq!(c, before, "well wound rings are left as they are");
        let mut multi = json!([before.clone(), before.clone()]);
        orient_rfc7946("MultiPolygon", &mut multi);
        assert_eq!(multi, json!([before.clone(), before]));
    }
}
