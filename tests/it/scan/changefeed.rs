//! Issue 3, acceptance 5: the changefeed. Two exports with the cursor between them contain each upsert
//! once, and the feed re-ingests into a fresh GeoPackage with ogr2ogr.

use crate::support as common;

use std::collections::HashSet;
use std::path::Path;

use common::{demo_area, jingtu};

fn scan(area: &jingtu::synth::area::DemoArea, store: &Path, as_of: Option<&str>) {
    let as_of: Vec<String> = as_of.map(|d| vec!["--as-of".to_string(), d.to_string()]).unwrap_or_default();
    common::scan(&area.plots, &area.stac, store, &[&["-q".to_string()][..], &as_of].concat()).expect_code(0, "scan");
}

/// Features and the cursor of an NDJSON export.
fn export(store: &Path, since: &str, out: &Path) -> (Vec<serde_json::Value>, String) {
    jingtu([
        "export",
        "--store",
        &store.display().to_string(),
        "--since",
        since,
        "--format",
        "ndjson",
        "--out",
        &out.display().to_string(),
    ])
    .expect_code(0, "export");
    let text = std::fs::read_to_string(out).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect();
    let (cursor, features) = lines.split_last().expect("at least the cursor line");
    let cursor = cursor["cursor"].as_str().expect("the last line is the cursor").to_string();
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert!(matches!(f["properties"]["op"].as_str(), Some("upsert" | "resolve")));
        let lon = f["geometry"]["coordinates"][0][0][0].as_f64().unwrap();
        let lat = f["geometry"]["coordinates"][0][0][1].as_f64().unwrap();
        assert!((120.0..122.0).contains(&lon) && (32.0..33.0).contains(&lat), "RFC 7946 lon/lat, got {lon},{lat}");
    }
    (features.to_vec(), cursor)
}

/// An upsert as the registry sees it: the flag and the state it carries.
fn upsert_key(f: &serde_json::Value) -> String {
    let p = &f["properties"];
    format!("{}|{}|{}|{}|{}", p["flag_id"], p["status"], p["last_seen"], p["area_m2"], p["evidence"])
}

#[test]
fn two_exports_with_the_cursor_between_them_carry_each_upsert_once() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let store = dir.path().join("store.gpkg");
    // Half-way through the months in which things happen (after the year of history).
    let halfway = area.truth.acquisitions.len() - 7;
    scan(&area, &store, Some(&area.truth.acquisitions[halfway].1.to_string()));
    let (first, cursor) = export(&store, "0", &dir.path().join("feed1.ndjson"));
    scan(&area, &store, None);
    let (second, cursor2) = export(&store, &cursor, &dir.path().join("feed2.ndjson"));
    println!(
        "first export: {} features, cursor {cursor}; second: {} features, cursor {cursor2}",
        first.len(),
        second.len()
    );
    assert!(!first.is_empty() && !second.is_empty());

    let mut seen = HashSet::new();
    for f in first.iter().chain(&second) {
        assert!(seen.insert(upsert_key(f)), "upsert repeated across exports: {}", f["properties"]["flag_id"]);
    }
    let ids: Vec<&str> = second.iter().map(|f| f["properties"]["flag_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), ids.iter().collect::<HashSet<_>>().len(), "a flag appears once per export");

    // Everything in the store is in the union of the two exports, in its latest state.
    let everything = export(&store, "0", &dir.path().join("all.ndjson")).0;
    for f in &everything {
        assert!(
            seen.contains(&upsert_key(f)),
            "latest state of {} missing from the two exports",
            f["properties"]["flag_id"]
        );
    }
    // Nothing new: an empty export that keeps the cursor.
    let (none, cursor3) = export(&store, &cursor2, &dir.path().join("feed3.ndjson"));
    assert!(none.is_empty());
    assert_eq!(cursor3, cursor2);
}

#[test]
fn the_feed_reingests_into_a_fresh_geopackage_with_ogr2ogr() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let store = dir.path().join("store.gpkg");
    scan(&area, &store, None);
    let feed = dir.path().join("feed.ndjson");
    let (features, _) = export(&store, "0", &feed);
    let fresh = dir.path().join("registry.gpkg");
    // GDAL takes newline-delimited GeoJSON as such with the GeoJSONSeq: prefix (or a .geojsonl name).
    let status = std::process::Command::new("ogr2ogr")
        .args(["-f", "GPKG"])
        .arg(&fresh)
        .arg(format!("GeoJSONSeq:{}", feed.display()))
        .args(["-nln", "flags"])
        .status()
        .expect("ogr2ogr (gdal-bin) is installed by .ci/setup-debian");
    assert!(status.success());
    let ds = gdal::Dataset::open(&fresh).unwrap();
    let layer = ds.layer_by_name("flags").unwrap();
    use gdal::vector::LayerAccess;
    assert_eq!(layer.feature_count() as usize, features.len(), "one row per feed line, the cursor line skipped");
    println!("re-ingested {} features with ogr2ogr", features.len());
}
