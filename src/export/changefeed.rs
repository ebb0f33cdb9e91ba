//! The changefeed registry services pull: flags whose record changed since a cursor, as GeoJSON
//! Features (RFC 7946, WGS 84) with an `op` property (`upsert` or `resolve`). Each line carries the
//! flag's full current state keyed by `flag_id`, so ingesting the same lines twice changes nothing.
//! NDJSON ends with `{"cursor": "..."}`, which GeoJSON-sequence readers such as GDAL skip.

use std::io::Write;
use std::path::Path;

use gdal::spatial_ref::CoordTransform;
use gdal::vector::Geometry;
use serde_json::{Value, json};

use super::atomic::AtomicOutput;
use super::vector::{VectorFormat, write_flags};
use crate::error::{Error, Result};
use crate::flags::{Flag, FlagSet, FlagStatus};
use crate::io::crs;
use crate::store::Store;

/// Output of `jingtu export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// One Feature per line, then the cursor line.
    Ndjson,
    /// A FeatureCollection with a top-level `cursor` member.
    GeoJson,
    /// A GeoPackage layer (analysis CRS) and a `cursor` in its description.
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

/// Writes the flags changed after `since` and returns the new cursor.
pub fn export_changes(
    store_path: &Path,
    since: &str,
    format: FeedFormat,
    out: Option<&Path>,
    overwrite: bool,
) -> Result<String> {
    crate::io::gdal_env::init();
    let since = parse_cursor(since)?;
    let store = Store::open(Some(store_path))?;
    let frame = store.frame()?.ok_or_else(|| Error::store(store_path, "has no scan yet"))?;
    let changes = store.flags_changed_since(since)?;
    let cursor = cursor_text(changes.iter().map(|(s, _)| *s).max().unwrap_or(since));
    match format {
        FeedFormat::GeoPackage => {
            let out = out.ok_or_else(|| Error::Usage("--format gpkg needs --out FILE.gpkg".into()))?;
            let flags = changes.into_iter().map(|(_, f)| f).collect();
            write_flags(out, VectorFormat::GeoPackage, &FlagSet { flags, crs_wkt: frame.crs_wkt.clone() }, overwrite)?;
        }
        FeedFormat::Ndjson | FeedFormat::GeoJson => {
            let source =
                crs::srs_from_wkt(&frame.crs_wkt).ok_or_else(|| Error::store(store_path, "analysis CRS unreadable"))?;
            let wgs84 = crs::srs_from_epsg(4326).expect("EPSG:4326");
            let transform = CoordTransform::new(&source, &wgs84).map_err(|e| Error::gdal(store_path, e))?;
            let features: Vec<Value> =
                changes.iter().map(|(seq, f)| feature(f, *seq, &transform)).collect::<Result<_>>()?;
            let text = if format == FeedFormat::Ndjson {
                let mut s = String::new();
                for f in &features {
                    s.push_str(&f.to_string());
                    s.push('\n');
                }
                s.push_str(&json!({"cursor": cursor}).to_string());
                s.push('\n');
                s
            } else {
                json!({"type": "FeatureCollection", "cursor": cursor, "features": features}).to_string()
            };
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
        }
    }
    Ok(cursor)
}

/// One flag as an RFC 7946 Feature with `op` and its changefeed position.
fn feature(f: &Flag, seq: i64, to_wgs84: &CoordTransform) -> Result<Value> {
    let geometry = Geometry::from_wkb(&f.geometry).map_err(|e| Error::gdal("<flag geometry>", e))?;
    let lonlat = geometry.transform(to_wgs84).map_err(|e| Error::gdal("<flag geometry>", e))?;
    let geojson: Value =
        serde_json::from_str(&lonlat.json().map_err(|e| Error::gdal("<flag geometry>", e))?).unwrap_or(Value::Null);
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
    Ok(json!({
        "type": "Feature",
        "id": f.flag_id,
        "geometry": round_coordinates(geojson),
        "properties": {
            "op": if f.status == FlagStatus::Resolved { "resolve" } else { "upsert" },
            "seq": seq,
            "flag_id": f.flag_id,
            "plot_id": f.plot_id,
            "plot_name": f.plot_name,
            "kind": f.kind.name(),
            "status": f.status.name(),
            "first_seen": date(f.first_seen),
            "last_seen": date(f.last_seen),
            "bare_since": date(f.bare_since),
            "idle_days": f.idle_days,
            "area_m2": f.area_m2,
            "confidence": f.confidence,
            "permitted": f.evidence.get("permitted_works").and_then(|v| v.as_bool()).unwrap_or(false),
            "evidence": f.evidence,
            "scan_id": f.scan_id,
            "engine_version": f.engine_version,
        }
    }))
}

/// Seven decimals of a degree (about 1 cm), as RFC 7946 recommends keeping coordinates short.
fn round_coordinates(v: Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Number(n), |x| json!((x * 1e7).round() / 1e7)),
        Value::Array(a) => Value::Array(a.into_iter().map(round_coordinates).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, round_coordinates(v))).collect()),
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
}
