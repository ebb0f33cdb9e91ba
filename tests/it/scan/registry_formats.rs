//! Issue 3, acceptance 7: the same registry as a GeoPackage in EPSG:32651 and as a GBK-encoded Shapefile
//! in EPSG:4490 (CGCS2000, as Chinese registries keep it) gives the same flags, with the Chinese plot
//! names intact in every output format.

use crate::support as common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::demo_area;

fn scan(plots: &Path, scenes: &Path, store: &Path, out: &Path) {
    common::scan(plots, scenes, store, &[std::ffi::OsStr::new("--out"), out.as_os_str(), std::ffi::OsStr::new("-q")])
        .expect_code(0, "scan");
}

/// (flag_id, plot_id, plot_name) of every feature of an output.
fn names_in(path: &Path) -> Vec<(String, String, String)> {
    use gdal::vector::LayerAccess;
    let ds = gdal::Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut layer = ds.layer(0).unwrap();
    let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let idx = |n: &str| {
        fields.iter().position(|f| f == n).unwrap_or_else(|| panic!("{}: no field {n} in {fields:?}", path.display()))
    };
    let (i, p, n) = (idx("flag_id"), idx("plot_id"), idx("plot_name"));
    layer
        .features()
        .map(|f| {
            let text = |k| f.field_as_string(k).unwrap().unwrap_or_default();
            (text(i), text(p), text(n))
        })
        .collect()
}

#[test]
fn a_gbk_shapefile_in_cgcs2000_gives_the_same_flags_as_a_geopackage_in_utm() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let shp = dir.path().join("registry-cgcs2000.shp");
    let status = Command::new("ogr2ogr")
        .args(["-f", "ESRI Shapefile", "-t_srs", "EPSG:4490", "-lco", "ENCODING=GBK"])
        .arg(&shp)
        .arg(&area.plots)
        .status()
        .expect("ogr2ogr (gdal-bin) is installed by .ci/setup-debian");
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(shp.with_extension("cpg")).unwrap().trim(), "GBK");
    let dbf = std::fs::read(shp.with_extension("dbf")).unwrap();
    let name = &area.truth.plots[0].name;
    assert!(!dbf.windows(name.len()).any(|w| w == name.as_bytes()), "names are stored as GBK, not UTF-8");

    let (store_utm, store_cgcs) = (dir.path().join("utm.gpkg"), dir.path().join("cgcs.gpkg"));
    scan(&area.plots, &area.stac, &store_utm, &dir.path().join("utm-flags.gpkg"));
    scan(&shp, &area.stac, &store_cgcs, &dir.path().join("cgcs-flags.gpkg"));
    // Everything but the registry's own geometry (which went through a CRS round trip) and its extent is
    // identical.
    let state = |p: &Path| {
        common::store_state(p).into_iter().filter(|(t, _)| t != "plots" && t != "gpkg_contents").collect::<Vec<_>>()
    };
    let (a, b) = (state(&store_utm), state(&store_cgcs));
    for ((table, ra), (_, rb)) in a.iter().zip(&b) {
        assert_eq!(ra, rb, "table {table} differs between the registries");
    }
    let flags = a.iter().find(|(t, _)| t == "flags").unwrap().1.len();
    assert!(flags > 20, "the demo area has flags to compare ({flags})");
    println!("{flags} flags identical from the UTM GeoPackage and the GBK CGCS2000 Shapefile");

    let truth: HashMap<&str, &str> = area.truth.plots.iter().map(|p| (p.plot_id.as_str(), p.name.as_str())).collect();
    for ext in ["gpkg", "geojson", "shp", "fgb", "csv"] {
        let out = dir.path().join(format!("names.{ext}"));
        scan(&shp, &area.stac, &store_cgcs, &out);
        let rows = names_in(&out);
        assert_eq!(rows.len(), flags, "{ext}: every flag written");
        for (flag, plot, name) in rows {
            assert_eq!(name, truth[plot.as_str()], "{ext}: name of {plot} on {flag}");
        }
    }
}
