//! Issue 2, acceptance 4: every flag output format round-trips. `jingtu change --plots` on the fixture
//! pair writes GeoPackage, GeoJSON, Shapefile, FlatGeobuf and CSV; each is read back with GDAL and
//! compared with the GeoPackage flag by flag: same flags, same kinds, same plots with their Chinese names,
//! areas within 1%. GeoJSON is RFC 7946: WGS 84 longitude/latitude, no `crs` member.

use crate::support as common;

use std::collections::BTreeMap;
use std::path::Path;

use gdal::spatial_ref::CoordTransform;
use jingtu::export::vector::{FlagSummary, read_flag_summaries};
use jingtu::io::crs::srs_from_epsg;
use jingtu::synth::pair::{EPSG, FixturePair, PairOptions};
use serde_json::Value;

use common::{ReadFlag, fixture, jingtu, read_flags};

const FORMATS: [&str; 5] = ["gpkg", "geojson", "shp", "fgb", "csv"];

fn write(pair: &FixturePair, dir: &Path, ext: &str) -> std::path::PathBuf {
    let out = dir.join(format!("flags.{ext}"));
    jingtu([
        "change".as_ref(),
        pair.before.as_os_str(),
        pair.after.as_os_str(),
        "--plots".as_ref(),
        pair.plots.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect_code(0, &format!("change --out flags.{ext}"));
    out
}

fn by_id(summaries: Vec<FlagSummary>) -> BTreeMap<String, FlagSummary> {
    summaries.into_iter().map(|s| (s.flag_id.clone(), s)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.01 * a.abs().max(b.abs())
}

/// Geometry area in square metres in the analysis CRS (GeoJSON is transformed back from WGS 84 first).
fn metric_areas(flags: Vec<ReadFlag>, from_wgs84: bool) -> BTreeMap<String, f64> {
    // Longitude first, as GeoJSON writes it (EPSG:4326's official axis order is latitude first).
    let utm = srs_from_epsg(EPSG).unwrap();
    let wgs84 = srs_from_epsg(4326).unwrap();
    let back = CoordTransform::new(&wgs84, &utm).unwrap();
    flags
        .into_iter()
        .map(|f| {
            let area = if from_wgs84 { f.geometry.transform(&back).unwrap().area() } else { f.geometry.area() };
            (f.flag_id, area)
        })
        .collect()
}

#[test]
fn every_format_round_trips_flags_kinds_plots_and_areas() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(7));
    let reference = by_id(read_flag_summaries(&write(&pair, dir.path(), "gpkg")).unwrap());
    assert!(reference.len() >= 5, "the plots hold flags to compare ({})", reference.len());
    let names: Vec<&str> = pair.truth.plots.iter().map(|p| p.name.as_str()).collect();
    assert!(
        reference.values().all(|f| f.plot_name.as_deref().is_some_and(|n| names.contains(&n))),
        "every flag carries its plot's Chinese name: {:?}",
        reference.values().map(|f| &f.plot_name).collect::<Vec<_>>()
    );
    for ext in FORMATS {
        let path = if ext == "gpkg" { dir.path().join("flags.gpkg") } else { write(&pair, dir.path(), ext) };
        let read = by_id(read_flag_summaries(&path).unwrap_or_else(|e| panic!("{ext}: {e}")));
        assert_eq!(
            read.keys().collect::<Vec<_>>(),
            reference.keys().collect::<Vec<_>>(),
            "{ext}: the same flags (by flag_id)"
        );
        let areas = metric_areas(read_flags(&path), ext == "geojson");
        for (id, r) in &read {
            let g = &reference[id];
            assert_eq!(r.kind, g.kind, "{ext} {id}: kind");
            assert_eq!(r.plot_id, g.plot_id, "{ext} {id}: plot_id");
            assert_eq!(r.plot_name, g.plot_name, "{ext} {id}: plot_name survives in UTF-8");
            assert!(close(r.area_m2, g.area_m2), "{ext} {id}: area_m2 {} vs {}", r.area_m2, g.area_m2);
            assert!(close(areas[id], g.area_m2), "{ext} {id}: geometry {} m2 vs area_m2 {}", areas[id], g.area_m2);
        }
        println!("{ext:<8} {} flags round-trip", read.len());
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("flags.cpg")).unwrap().trim(), "UTF-8", "Shapefile encoding");
}

#[test]
fn geojson_is_rfc7946_wgs84_longitude_latitude() {
    let dir = tempfile::tempdir().unwrap();
    let pair = fixture(dir.path(), &PairOptions::new(8));
    let path = write(&pair, dir.path(), "geojson");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["type"], "FeatureCollection");
    assert!(doc.get("crs").is_none(), "RFC 7946 removed the crs member: coordinates are WGS 84 by definition");
    // The scene, 230-232.56 km E / 3597.44-3600 km N in UTM 51N, lies about 120.1-120.2 E, 32.49-32.51 N:
    // longitudes and latitudes cannot be mistaken for each other or for metres.
    let features = doc["features"].as_array().unwrap();
    assert!(!features.is_empty());
    for f in features {
        let rings = f["geometry"]["coordinates"].as_array().unwrap();
        for (i, ring) in rings.iter().enumerate() {
            let pts: Vec<(f64, f64)> =
                ring.as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
            for (lon, lat) in &pts {
                assert!(
                    (120.0..120.3).contains(lon) && (32.4..32.6).contains(lat),
                    "({lon}, {lat}) is not lon/lat here"
                );
            }
            // Shoelace: exterior rings counter-clockwise, holes clockwise (RFC 7946 section 3.1.6).
            let twice_area: f64 = pts.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum();
            assert_eq!(twice_area > 0.0, i == 0, "ring {i} of {} winds the wrong way", f["properties"]["flag_id"]);
        }
        let name = f["properties"]["plot_name"].as_str().unwrap();
        assert!(pair.truth.plots.iter().any(|p| p.name == name), "{name} is a registry name, unescaped");
    }
}
