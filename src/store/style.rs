//! Default QGIS styles inside GeoPackage outputs: the `layer_styles` table QGIS reads when it opens a
//! layer, so flags open coloured by kind and filled by status instead of one random colour.
//!
//! One palette serves the GIS style and the HTML report ([`kind_colour`]), so a construction flag is the
//! same red on the map, in the table and in QGIS. The rules are written twice from one list: as QML (what
//! QGIS applies) and as SLD 1.0 (what GeoServer and other OGC clients read from `styleSLD`).

use rusqlite::{Connection, OptionalExtension, params};

use crate::flags::{FlagKind, FlagStatus};

/// Name of the style row jingtu writes; rows with other names (an analyst's own styles) are left alone.
/// At most 30 characters: QGIS declares `styleName TEXT(30)`.
pub const FLAG_STYLE_NAME: &str = "jingtu: kind and status";
/// Name of the plot style row.
pub const PLOT_STYLE_NAME: &str = "jingtu: plot state";

/// The colour of a flag kind (sRGB), shared by the GIS style and the report.
pub fn kind_colour(kind: FlagKind) -> [u8; 3] {
    match kind {
        FlagKind::Construction => [214, 39, 40],
        FlagKind::Earthworks => [245, 130, 32],
        FlagKind::VegetationLoss => [204, 68, 170],
        FlagKind::IdleBare => [201, 162, 39],
        FlagKind::HeightGain => [117, 80, 186],
        FlagKind::HeightLoss => [23, 160, 180],
    }
}

/// `#rrggbb` of a colour.
pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Every kind, in the order legends list them.
pub const KINDS: [FlagKind; 6] = [
    FlagKind::Construction,
    FlagKind::Earthworks,
    FlagKind::VegetationLoss,
    FlagKind::IdleBare,
    FlagKind::HeightGain,
    FlagKind::HeightLoss,
];

/// Every status, in lifecycle order.
pub const STATUSES: [FlagStatus; 3] = [FlagStatus::New, FlagStatus::Ongoing, FlagStatus::Resolved];

/// A condition on one attribute.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// Text equality.
    Eq(&'static str, String),
    /// Numeric greater-than.
    Gt(&'static str, f64),
    /// Numeric at-most.
    AtMost(&'static str, f64),
}

/// How features that match a rule are drawn.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    label: String,
    conditions: Vec<Condition>,
    /// Fill colour and opacity (0-1); `None` for hollow.
    fill: Option<([u8; 3], f64)>,
    stroke: [u8; 3],
    /// Millimetres.
    stroke_width: f64,
    dashed: bool,
}

/// New flags are solid and bold, ongoing ones lighter, resolved ones hollow and dashed: the eye goes to
/// what needs a decision.
fn flag_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for kind in KINDS {
        let c = kind_colour(kind);
        let dark = c.map(|v| (v as f64 * 0.6) as u8);
        for status in STATUSES {
            let (fill, stroke_width, dashed) = match status {
                FlagStatus::New => (Some((c, 0.7)), 0.9, false),
                FlagStatus::Ongoing => (Some((c, 0.35)), 0.6, false),
                FlagStatus::Resolved => (None, 0.4, true),
            };
            rules.push(Rule {
                label: format!("{} ({})", kind.name().replace('_', " "), status.name()),
                conditions: vec![
                    Condition::Eq("kind", kind.name().into()),
                    Condition::Eq("status", status.name().into()),
                ],
                fill,
                stroke: if status == FlagStatus::Resolved { c } else { dark },
                stroke_width,
                dashed,
            });
        }
    }
    rules
}

/// Plots with active flags in red outline, watched plots in green, plots nobody saw in dashed grey. QGIS
/// draws every rule that matches, so the conditions are exclusive.
fn plot_rules() -> Vec<Rule> {
    let hollow = |label: &str, conditions: Vec<Condition>, stroke: [u8; 3], width: f64, dashed: bool| Rule {
        label: label.into(),
        conditions,
        fill: None,
        stroke,
        stroke_width: width,
        dashed,
    };
    vec![
        hollow("active flags", vec![Condition::Gt("active_flags", 0.0)], [214, 39, 40], 0.8, false),
        hollow(
            "observed, no active flag",
            vec![Condition::Eq("state", "observed".into()), Condition::AtMost("active_flags", 0.0)],
            [44, 140, 70],
            0.5,
            false,
        ),
        hollow("unobserved", vec![Condition::Eq("state", "unobserved".into())], [120, 120, 120], 0.5, true),
        hollow(
            "outside every scene",
            vec![Condition::Eq("state", "outside_scenes".into())],
            [170, 170, 170],
            0.4,
            true,
        ),
    ]
}

/// Escaping for element text and double-quoted attributes (single quotes stay, as QGIS writes them).
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn qgis_expression(conditions: &[Condition]) -> String {
    conditions
        .iter()
        .map(|c| match c {
            Condition::Eq(f, v) => format!("\"{f}\" = '{}'", v.replace('\'', "''")),
            Condition::Gt(f, v) => format!("\"{f}\" > {v}"),
            Condition::AtMost(f, v) => format!("\"{f}\" <= {v}"),
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// A QML document with a rule-based renderer (every matching rule draws; the rules here are exclusive).
fn qml(layer: &str, rules: &[Rule]) -> String {
    let mut out = String::from(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.28.0\" styleCategories=\"Symbology\">\n",
    );
    out.push_str(
        "  <renderer-v2 type=\"RuleRenderer\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\" referencescale=\"-1\">\n",
    );
    out.push_str(&format!("    <rules key=\"{{jingtu-{layer}-root}}\">\n"));
    for (i, r) in rules.iter().enumerate() {
        let filter = xml_escape(&qgis_expression(&r.conditions));
        out.push_str(&format!(
            "      <rule key=\"{{jingtu-{layer}-{i}}}\" symbol=\"{i}\" label=\"{}\" filter=\"{filter}\"/>\n",
            xml_escape(&r.label)
        ));
    }
    out.push_str("    </rules>\n    <symbols>\n");
    for (i, r) in rules.iter().enumerate() {
        let (fill_colour, fill_style) = match r.fill {
            Some((c, a)) => (format!("{},{},{},{}", c[0], c[1], c[2], (a * 255.0).round() as u8), "solid"),
            None => ("0,0,0,0".to_string(), "no"),
        };
        let s = r.stroke;
        let props = [
            ("color", fill_colour),
            ("style", fill_style.to_string()),
            ("outline_color", format!("{},{},{},255", s[0], s[1], s[2])),
            ("outline_style", if r.dashed { "dash" } else { "solid" }.to_string()),
            ("outline_width", format!("{}", r.stroke_width)),
            ("outline_width_unit", "MM".to_string()),
            ("joinstyle", "miter".to_string()),
            ("offset", "0,0".to_string()),
            ("offset_unit", "MM".to_string()),
        ];
        out.push_str(&format!(
            "      <symbol type=\"fill\" name=\"{i}\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">\n        <layer class=\"SimpleFill\" enabled=\"1\" locked=\"0\" pass=\"0\">\n          <Option type=\"Map\">\n"
        ));
        for (k, v) in &props {
            out.push_str(&format!("            <Option type=\"QString\" name=\"{k}\" value=\"{v}\"/>\n"));
        }
        out.push_str("          </Option>\n");
        // QGIS before 3.26 reads <prop> elements instead of the option map; writing both is what QGIS
        // 3.22 itself does, and newer versions ignore them.
        for (k, v) in &props {
            out.push_str(&format!("          <prop k=\"{k}\" v=\"{v}\"/>\n"));
        }
        out.push_str("        </layer>\n      </symbol>\n");
    }
    out.push_str("    </symbols>\n  </renderer-v2>\n  <blendMode>0</blendMode>\n  <featureBlendMode>0</featureBlendMode>\n  <layerGeometryType>2</layerGeometryType>\n</qgis>\n");
    out
}

fn sld_filter(conditions: &[Condition]) -> String {
    let one = |c: &Condition| match c {
        Condition::Eq(f, v) => format!(
            "<ogc:PropertyIsEqualTo><ogc:PropertyName>{f}</ogc:PropertyName><ogc:Literal>{}</ogc:Literal></ogc:PropertyIsEqualTo>",
            xml_escape(v)
        ),
        Condition::Gt(f, v) => format!(
            "<ogc:PropertyIsGreaterThan><ogc:PropertyName>{f}</ogc:PropertyName><ogc:Literal>{v}</ogc:Literal></ogc:PropertyIsGreaterThan>"
        ),
        Condition::AtMost(f, v) => format!(
            "<ogc:PropertyIsLessThanOrEqualTo><ogc:PropertyName>{f}</ogc:PropertyName><ogc:Literal>{v}</ogc:Literal></ogc:PropertyIsLessThanOrEqualTo>"
        ),
    };
    let parts: Vec<String> = conditions.iter().map(one).collect();
    if parts.len() == 1 {
        format!("<ogc:Filter>{}</ogc:Filter>", parts[0])
    } else {
        format!("<ogc:Filter><ogc:And>{}</ogc:And></ogc:Filter>", parts.join(""))
    }
}

/// The same rules as SLD 1.0 (pixels at 90 dpi for millimetres: 1 mm is about 3.5 px).
fn sld(layer: &str, style_name: &str, rules: &[Rule]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<StyledLayerDescriptor version=\"1.0.0\" xmlns=\"http://www.opengis.net/sld\" xmlns:ogc=\"http://www.opengis.net/ogc\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.opengis.net/sld http://schemas.opengis.net/sld/1.0.0/StyledLayerDescriptor.xsd\">\n<NamedLayer><Name>{layer}</Name><UserStyle><Name>{}</Name><FeatureTypeStyle>\n",
        xml_escape(style_name)
    );
    for r in rules {
        out.push_str(&format!("<Rule><Name>{0}</Name><Title>{0}</Title>", xml_escape(&r.label)));
        out.push_str(&sld_filter(&r.conditions));
        out.push_str("<PolygonSymbolizer>");
        if let Some((c, a)) = r.fill {
            out.push_str(&format!(
                "<Fill><CssParameter name=\"fill\">{}</CssParameter><CssParameter name=\"fill-opacity\">{a}</CssParameter></Fill>",
                hex(c)
            ));
        }
        out.push_str(&format!(
            "<Stroke><CssParameter name=\"stroke\">{}</CssParameter><CssParameter name=\"stroke-width\">{:.1}</CssParameter>{}</Stroke>",
            hex(r.stroke),
            r.stroke_width * 3.5,
            if r.dashed { "<CssParameter name=\"stroke-dasharray\">6 3</CssParameter>" } else { "" }
        ));
        out.push_str("</PolygonSymbolizer></Rule>\n");
    }
    out.push_str("</FeatureTypeStyle></UserStyle></NamedLayer>\n</StyledLayerDescriptor>\n");
    out
}

/// The QML of the flags style (for tests and for users who want the file).
pub fn flag_qml() -> String {
    qml("flags", &flag_rules())
}

/// Creates QGIS's `layer_styles` table when missing (QGIS's own schema, as OGR creates it for QGIS: the
/// time default in GeoPackage's ISO 8601 form, which GDAL reads without complaint) and registers it as
/// an attributes table, as QGIS does, so GDAL and QGIS list it.
fn ensure_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
           f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30),
           styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
           update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
         INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
           VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles');",
    )
}

/// Writes (or refreshes) jingtu's style for `table`. It becomes the default unless another style of the
/// table already is: an analyst's own default survives every scan.
fn put_style(conn: &Connection, table: &str, name: &str, description: &str, rules: &[Rule]) -> rusqlite::Result<()> {
    ensure_table(conn)?;
    let column: String = conn
        .query_row("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?1", [table], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| "geom".into());
    let (qml, sld) = (qml(table, rules), sld(table, name, rules));
    let existing: Option<i64> = conn
        .query_row("SELECT id FROM layer_styles WHERE f_table_name = ?1 AND styleName = ?2", [table, name], |r| {
            r.get(0)
        })
        .optional()?;
    let other_default: bool = conn.query_row(
        "SELECT count(*) FROM layer_styles WHERE f_table_name = ?1 AND styleName <> ?2 AND useAsDefault",
        [table, name],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    match existing {
        Some(id) => {
            conn.execute(
                "UPDATE layer_styles SET f_geometry_column = ?2, styleQML = ?3, styleSLD = ?4, useAsDefault = ?5,
                   description = ?6,
                   update_time = CASE WHEN styleQML IS ?3 THEN update_time ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
                 WHERE id = ?1",
                params![id, column, qml, sld, !other_default, description],
            )?;
        }
        None => {
            conn.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName,
                   styleQML, styleSLD, useAsDefault, description, owner, ui)
                 VALUES ('', '', ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'jingtu', NULL)",
                params![table, column, name, qml, sld, !other_default, description],
            )?;
        }
    }
    Ok(())
}

/// Adds the flags style to a GeoPackage holding a `flags` layer (idempotent).
pub fn add_flag_style(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    put_style(
        conn,
        table,
        FLAG_STYLE_NAME,
        "fill colour by kind; solid for new, light for ongoing, hollow dashed for resolved",
        &flag_rules(),
    )
}

/// Adds the plots style to the store's `plots` layer (idempotent).
pub fn add_plot_style(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    put_style(
        conn,
        table,
        PLOT_STYLE_NAME,
        "outline red with active flags, green when observed, dashed grey when unobserved",
        &plot_rules(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_status_has_one_rule() {
        let rules = flag_rules();
        assert_eq!(rules.len(), KINDS.len() * STATUSES.len());
        let q = flag_qml();
        for k in KINDS {
            for s in STATUSES {
                let filter = xml_escape(&format!("\"kind\" = '{}' AND \"status\" = '{}'", k.name(), s.name()));
                assert_eq!(q.matches(&filter).count(), 1, "{filter}");
            }
        }
        assert!(q.contains("type=\"RuleRenderer\""));
        assert!(FLAG_STYLE_NAME.len() <= 30 && PLOT_STYLE_NAME.len() <= 30, "QGIS's styleName is TEXT(30)");
    }

    #[test]
    fn an_analysts_own_default_style_survives() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::gpkg::init(&conn).unwrap();
        add_flag_style(&conn, "flags").unwrap();
        let default = |conn: &Connection| -> Vec<(String, bool)> {
            let mut st = conn.prepare("SELECT styleName, useAsDefault FROM layer_styles ORDER BY id").unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
        };
        assert_eq!(default(&conn), vec![(FLAG_STYLE_NAME.to_string(), true)]);
        conn.execute("UPDATE layer_styles SET useAsDefault = 0", []).unwrap();
        conn.execute(
            "INSERT INTO layer_styles (f_table_name, styleName, styleQML, useAsDefault) VALUES ('flags', 'mine', '', 1)",
            [],
        )
        .unwrap();
        add_flag_style(&conn, "flags").unwrap();
        assert_eq!(default(&conn), vec![(FLAG_STYLE_NAME.to_string(), false), ("mine".to_string(), true)]);
    }
}
