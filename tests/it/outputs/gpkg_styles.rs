//! Issue 6, acceptance 4: GeoPackage outputs carry a default QGIS style. The flag output of a scan and
//! the store are read back with GDAL: `layer_styles` has QGIS's columns, a default style targets the
//! flags layer and its geometry column, and its QML is a well-formed rule-based renderer with one rule
//! per kind and status.

use crate::support as common;

use gdal::Dataset;
use gdal::vector::LayerAccess;

use common::building::write_case;

/// QGIS's `layer_styles` columns (QgsOgrProviderUtils creates these in GeoPackages).
const QGIS_COLUMNS: [&str; 12] = [
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
];

/// Well-formedness of the XML jingtu writes (no parser in the dependency tree): every element that is
/// opened is closed, in order, and the document has one root.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("an unterminated tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
        } else {
            let name = tag.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
            if stack.is_empty() {
                roots += 1;
            }
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

/// Checks the default style of `table` in the GeoPackage at `path`, read with GDAL; returns its QML.
fn default_style(path: &std::path::Path, table: &str) -> String {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let geometry_column = {
        let layer = ds.layer_by_name(table).expect("the styled layer");
        layer.defn().geom_fields().next().expect("a geometry field").name()
    };
    let mut styles = ds.layer_by_name("layer_styles").expect("GDAL lists layer_styles");
    let names: Vec<String> = styles.defn().fields().map(|f| f.name()).collect();
    for c in QGIS_COLUMNS {
        assert!(names.iter().any(|n| n == c), "{}: layer_styles lacks {c}: {names:?}", path.display());
    }
    let idx = |n: &str| names.iter().position(|f| f == n).unwrap();
    let mut defaults = Vec::new();
    for f in styles.features() {
        let text = |n: &str| f.field_as_string(idx(n)).unwrap().unwrap_or_default();
        if text("f_table_name") == table && f.field_as_integer(idx("useAsDefault")).unwrap() == Some(1) {
            assert_eq!(text("f_geometry_column"), geometry_column, "the style names the layer's geometry column");
            assert!(!text("styleName").is_empty());
            if text("styleName").starts_with("jingtu") {
                assert!(text("styleSLD").contains("<StyledLayerDescriptor"), "an SLD for OGC clients");
            }
            defaults.push(text("styleQML"));
        }
    }
    assert_eq!(defaults.len(), 1, "{}: exactly one default style for {table}", path.display());
    let qml = defaults.pop().unwrap();
    assert_well_formed(&qml);
    assert!(qml.contains("<qgis") && qml.contains("type=\"RuleRenderer\""), "{qml}");
    qml
}

#[test]
fn flag_outputs_and_the_store_open_styled_by_kind_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let (plots, catalog) = write_case(dir.path());
    let (store, out) = (dir.path().join("store.gpkg"), dir.path().join("flags.gpkg"));
    common::jingtu([
        "scan",
        "--plots",
        plots.to_str().unwrap(),
        "--scenes",
        catalog.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
    ])
    .expect_code(0, "scan");
    for path in [&out, &store] {
        let qml = default_style(path, "flags");
        for kind in ["construction", "earthworks", "vegetation_loss", "idle_bare", "height_gain", "height_loss"] {
            for status in ["new", "ongoing", "resolved"] {
                let filter = format!("filter=\"&quot;kind&quot; = '{kind}' AND &quot;status&quot; = '{status}'\"");
                assert_eq!(qml.matches(&filter).count(), 1, "{}: no rule {filter}", path.display());
            }
        }
    }
    let plots_qml = default_style(&store, "plots");
    assert!(plots_qml.contains("&quot;active_flags&quot; &gt; 0"), "{plots_qml}");

    // A second scan refreshes jingtu's style and keeps an analyst's own default.
    let conn = rusqlite::Connection::open(&store).unwrap();
    conn.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_name = 'plots'", []).unwrap();
    conn.execute(
        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, styleQML, useAsDefault)
         VALUES ('', '', 'plots', 'geom', 'analyst', '<qgis><renderer-v2 type=\"RuleRenderer\"/></qgis>', 1)",
        [],
    )
    .unwrap();
    drop(conn);
    common::jingtu([
        "scan",
        "--plots",
        plots.to_str().unwrap(),
        "--scenes",
        catalog.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
    ])
    .expect_code(0, "rescan");
    assert!(!default_style(&store, "plots").contains("active_flags"), "the analyst's default survives");
    default_style(&store, "flags");
}
