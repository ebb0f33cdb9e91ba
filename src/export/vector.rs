//! Writing flags as GeoPackage, GeoJSON (RFC 7946), Shapefile, FlatGeobuf or CSV through OGR.

use std::path::Path;
use std::str::FromStr;

use gdal::DriverManager;
use gdal::vector::{Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};

use super::atomic::AtomicOutput;
use crate::error::{Error, Result};
use crate::flags::{Flag, FlagSet};
use crate::io::crs;

/// A vector output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    /// OGC GeoPackage; keeps the analysis CRS.
    GeoPackage,
    /// RFC 7946 GeoJSON, always WGS 84.
    GeoJson,
    /// ESRI Shapefile (UTF-8 .cpg; 10-character field names; evidence shortened to 254 characters).
    Shapefile,
    /// FlatGeobuf.
    FlatGeobuf,
    /// CSV with the geometry as WKT.
    Csv,
}

impl VectorFormat {
    /// Every format.
    pub const ALL: [VectorFormat; 5] = [
        VectorFormat::GeoPackage,
        VectorFormat::GeoJson,
        VectorFormat::Shapefile,
        VectorFormat::FlatGeobuf,
        VectorFormat::Csv,
    ];

    /// The format a file extension implies.
    pub fn from_path(path: &Path) -> Option<VectorFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "gpkg" => VectorFormat::GeoPackage,
            "geojson" | "json" => VectorFormat::GeoJson,
            "shp" => VectorFormat::Shapefile,
            "fgb" => VectorFormat::FlatGeobuf,
            "csv" => VectorFormat::Csv,
            _ => return None,
        })
    }

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            VectorFormat::GeoPackage => "gpkg",
            VectorFormat::GeoJson => "geojson",
            VectorFormat::Shapefile => "shp",
            VectorFormat::FlatGeobuf => "fgb",
            VectorFormat::Csv => "csv",
        }
    }

    /// GDAL driver short name.
    pub fn driver(self) -> &'static str {
        match self {
            VectorFormat::GeoPackage => "GPKG",
            VectorFormat::GeoJson => "GeoJSON",
            VectorFormat::Shapefile => "ESRI Shapefile",
            VectorFormat::FlatGeobuf => "FlatGeobuf",
            VectorFormat::Csv => "CSV",
        }
    }

    /// Files written beside the main one.
    pub fn sidecars(self) -> &'static [&'static str] {
        match self {
            VectorFormat::Shapefile => &["shx", "dbf", "prj", "cpg"],
            _ => &[],
        }
    }

    fn layer_options(self) -> &'static [&'static str] {
        match self {
            VectorFormat::GeoJson => &["RFC7946=YES", "WRITE_NAME=NO"],
            VectorFormat::Shapefile => &["ENCODING=UTF-8"],
            VectorFormat::Csv => &["GEOMETRY=AS_WKT", "CREATE_CSVT=YES"],
            VectorFormat::FlatGeobuf => &["SPATIAL_INDEX=YES"],
            VectorFormat::GeoPackage => &[],
        }
    }
}

impl FromStr for VectorFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        VectorFormat::ALL
            .into_iter()
            .find(|f| {
                f.name() == s.to_ascii_lowercase()
                    || (s.eq_ignore_ascii_case("shapefile") && *f == VectorFormat::Shapefile)
            })
            .ok_or_else(|| format!("unknown format '{s}' (gpkg, geojson, shp, fgb, csv)"))
    }
}

/// The output format: `--format` if given, else the extension, else an error naming the file.
pub fn resolve_format(path: &Path, explicit: Option<VectorFormat>) -> Result<VectorFormat> {
    explicit.or_else(|| VectorFormat::from_path(path)).ok_or_else(|| {
        Error::Usage(format!(
            "{}: cannot tell the output format from the extension; use .gpkg, .geojson, .shp, .fgb or .csv, or --format",
            path.display()
        ))
    })
}

/// The attribute columns every flag output has, in order.
const FIELDS: [(&str, u32); 15] = [
    ("flag_id", OGRFieldType::OFTString),
    ("plot_id", OGRFieldType::OFTString),
    ("plot_name", OGRFieldType::OFTString),
    ("kind", OGRFieldType::OFTString),
    ("status", OGRFieldType::OFTString),
    ("first_seen", OGRFieldType::OFTString),
    ("last_seen", OGRFieldType::OFTString),
    ("bare_since", OGRFieldType::OFTString),
    ("idle_days", OGRFieldType::OFTInteger),
    ("area_m2", OGRFieldType::OFTReal),
    ("confidence", OGRFieldType::OFTReal),
    ("evidence", OGRFieldType::OFTString),
    ("scan_id", OGRFieldType::OFTString),
    ("engine_version", OGRFieldType::OFTString),
    ("permitted", OGRFieldType::OFTInteger),
];

/// Layer name inside GeoPackage outputs.
pub const FLAG_LAYER: &str = "flags";

/// A changefeed record's place in the feed, written as columns of a GeoPackage export.
#[derive(Debug, Clone, Copy)]
pub struct FeedRecord {
    /// The flag's row id in the store, written as the feature id.
    pub fid: i64,
    /// Changefeed position.
    pub seq: i64,
    /// `upsert` or `resolve`.
    pub op: &'static str,
}

/// The changefeed columns and cursor of a GeoPackage export.
struct Feed<'a> {
    records: &'a [FeedRecord],
    cursor: &'a str,
}

/// Writes `set` to `path` atomically.
pub fn write_flags(path: &Path, format: VectorFormat, set: &FlagSet, overwrite: bool) -> Result<()> {
    write_atomically(path, format, set, None, overwrite)
}

/// Writes the changefeed as a GeoPackage: the flags with `op` and `seq` columns, each flag's store row id
/// as its FID, and the next cursor as the dataset's `JINGTU_CURSOR` metadata item (in `gpkg_metadata`,
/// where `gdalinfo`/`ogrinfo` show it) and in the layer's description.
pub fn write_feed_geopackage(
    path: &Path,
    set: &FlagSet,
    records: &[FeedRecord],
    cursor: &str,
    overwrite: bool,
) -> Result<()> {
    assert_eq!(set.flags.len(), records.len(), "one feed record per flag");
    write_atomically(path, VectorFormat::GeoPackage, set, Some(Feed { records, cursor }), overwrite)
}

fn write_atomically(
    path: &Path,
    format: VectorFormat,
    set: &FlagSet,
    feed: Option<Feed>,
    overwrite: bool,
) -> Result<()> {
    crate::io::gdal_env::init();
    let out = AtomicOutput::new(path, format.sidecars(), overwrite)?;
    write_into(out.temp_path(), format, set, feed.as_ref()).map_err(|e| match e {
        Error::Gdal { message, .. } => Error::Gdal { path: path.to_path_buf(), message },
        other => other,
    })?;
    out.commit()
}

/// Dates are typed where the format has a date type that every reader agrees on: GeoPackage's DATE
/// (ISO text that GDAL, QGIS and geopandas read as dates). GeoJSON, CSV and the rest keep the ISO text
/// they always carried (GDAL would write a typed date in GeoJSON as `YYYY/MM/DD`).
fn field_type(format: VectorFormat, name: &str, ty: u32) -> u32 {
    let is_date = matches!(name, "first_seen" | "last_seen" | "bare_since");
    if is_date && format == VectorFormat::GeoPackage { OGRFieldType::OFTDate } else { ty }
}

fn write_into(temp: &Path, format: VectorFormat, set: &FlagSet, feed: Option<&Feed>) -> Result<()> {
    let fail = |e: gdal::errors::GdalError| Error::gdal(temp, e);
    let driver = DriverManager::get_driver_by_name(format.driver()).map_err(fail)?;
    let mut ds = driver.create_vector_only(temp).map_err(fail)?;
    // The EPSG definition where the CRS has one, so a GeoPackage registers it as EPSG:NNNN (what the
    // GeoTIFF beside it says) rather than as a custom SRS spelled from the input's WKT.
    let srs = if set.crs_wkt.is_empty() { None } else { crs::canonical_srs(&set.crs_wkt) };
    {
        let mut layer = ds
            .create_layer(LayerOptions {
                name: FLAG_LAYER,
                srs: srs.as_ref(),
                ty: OGRwkbGeometryType::wkbPolygon,
                // RFC 7946 means WGS 84, which needs a CRS to transform from; flags on a pixel grid (images
                // without georeferencing) are written in pixel coordinates as plain GeoJSON.
                options: Some(if srs.is_none() && format == VectorFormat::GeoJson {
                    &["WRITE_NAME=NO"]
                } else {
                    format.layer_options()
                }),
            })
            .map_err(fail)?;
        let feed_fields: &[(&str, u32)] =
            if feed.is_some() { &[("op", OGRFieldType::OFTString), ("seq", OGRFieldType::OFTInteger64)] } else { &[] };
        for &(name, ty) in feed_fields.iter().chain(FIELDS.iter()) {
            let subtype = match name {
                "evidence" if format != VectorFormat::Shapefile => gdal_sys::OGRFieldSubType::OFSTJSON,
                "permitted" => gdal_sys::OGRFieldSubType::OFSTBoolean,
                _ => gdal_sys::OGRFieldSubType::OFSTNone,
            };
            create_field(&layer, name, field_type(format, name, ty), subtype)
                .map_err(|m| Error::Gdal { path: temp.to_path_buf(), message: m })?;
        }
        if let Some(feed) = feed {
            let description = format!("jingtu changefeed up to cursor {}", feed.cursor);
            gdal::Metadata::set_metadata_item(&mut layer, "DESCRIPTION", &description, "").map_err(fail)?;
        }
    }
    if let Some(feed) = feed {
        gdal::Metadata::set_metadata_item(&mut ds, "JINGTU_CURSOR", feed.cursor, "").map_err(fail)?;
    }
    if format == VectorFormat::GeoPackage {
        // One transaction for all features: GeoPackage commits per feature otherwise.
        let txn = ds.start_transaction().map_err(fail)?;
        write_features(&txn, set, format, srs.as_ref(), feed).map_err(fail)?;
        txn.commit().map_err(fail)?;
    } else {
        write_features(&ds, set, format, srs.as_ref(), feed).map_err(fail)?;
    }
    ds.close().map_err(fail)?;
    if format == VectorFormat::GeoPackage {
        // QGIS opens the layer with this style; written with SQLite once GDAL has closed the file.
        let conn = rusqlite::Connection::open(temp).map_err(|e| Error::store(temp, e))?;
        crate::store::style::add_flag_style(&conn, FLAG_LAYER).map_err(|e| Error::store(temp, e))?;
    }
    Ok(())
}

/// Adds a field with a subtype (JSON, boolean), which the safe bindings cannot express.
fn create_field(layer: &gdal::vector::Layer, name: &str, ty: u32, subtype: u32) -> std::result::Result<(), String> {
    let c_name = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: the field definition is created, used and destroyed here; the layer handle is alive.
    unsafe {
        let field = gdal_sys::OGR_Fld_Create(c_name.as_ptr(), ty);
        gdal_sys::OGR_Fld_SetSubType(field, subtype);
        let rv = gdal_sys::OGR_L_CreateField(layer.c_layer(), field, 1);
        gdal_sys::OGR_Fld_Destroy(field);
        if rv != gdal_sys::OGRErr::OGRERR_NONE {
            return Err(crate::align::warp::last_gdal_message(&format!("cannot create field {name}")));
        }
    }
    Ok(())
}

fn write_features(
    ds: &gdal::Dataset,
    set: &FlagSet,
    format: VectorFormat,
    srs: Option<&gdal::spatial_ref::SpatialRef>,
    feed: Option<&Feed>,
) -> gdal::errors::Result<()> {
    let layer = ds.layer(0)?;
    for (k, flag) in set.flags.iter().enumerate() {
        let mut geometry = Geometry::from_wkb(&flag.geometry)?;
        if let Some(srs) = srs {
            geometry.set_spatial_ref(srs.clone());
        }
        let mut feature = gdal::vector::Feature::new(layer.defn())?;
        feature.set_geometry(geometry)?;
        let mut values = field_values(flag, format);
        if let Some(feed) = feed {
            let record = feed.records[k];
            // SAFETY: the feature handle is alive for this call; setting its id has no other effect.
            unsafe { gdal_sys::OGR_F_SetFID(feature.c_feature(), record.fid) };
            values.splice(0..0, [FieldText::Text(record.op.to_string()), FieldText::Int64(record.seq)]);
        }
        for (i, v) in values.into_iter().enumerate() {
            match v {
                FieldText::Text(s) => feature.set_field_string(i, &s)?,
                FieldText::Int(n) => feature.set_field_integer(i, n)?,
                FieldText::Int64(n) => feature.set_field_integer64(i, n)?,
                FieldText::Real(x) => feature.set_field_double(i, x)?,
                FieldText::Null => feature.set_field_null(i)?,
            }
        }
        feature.create(&layer)?;
    }
    Ok(())
}

enum FieldText {
    Text(String),
    Int(i32),
    Int64(i64),
    Real(f64),
    Null,
}

fn field_values(flag: &Flag, format: VectorFormat) -> Vec<FieldText> {
    use FieldText::*;
    let opt = |s: &Option<String>| s.clone().map_or(Null, Text);
    let date = |d: Option<chrono::NaiveDate>| d.map_or(Null, |d| Text(d.to_string()));
    let mut evidence = flag.evidence.to_string();
    if format == VectorFormat::Shapefile && evidence.len() > 254 {
        evidence = shortened_evidence(&flag.evidence);
    }
    let permitted = flag.evidence.get("permitted_works").and_then(|v| v.as_bool()).unwrap_or(false);
    vec![
        Text(flag.flag_id.clone()),
        opt(&flag.plot_id),
        opt(&flag.plot_name),
        Text(flag.kind.name().into()),
        Text(flag.status.name().into()),
        date(flag.first_seen),
        date(flag.last_seen),
        date(flag.bare_since),
        flag.idle_days.map_or(Null, |d| Int(d as i32)),
        Real(flag.area_m2),
        Real(flag.confidence),
        Text(evidence),
        Text(flag.scan_id.clone()),
        Text(flag.engine_version.clone()),
        Int(i32::from(permitted)),
    ]
}

/// The evidence's top-level scalar values only, cut to the 254 bytes a dBase text field holds.
fn shortened_evidence(evidence: &serde_json::Value) -> String {
    let mut short = serde_json::Map::new();
    if let Some(map) = evidence.as_object() {
        for (k, v) in map {
            if !v.is_object() && !v.is_array() {
                short.insert(k.clone(), v.clone());
            }
        }
    }
    let mut s = serde_json::Value::Object(short).to_string();
    while s.len() > 254 {
        let mut cut = 250;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The parts of a written flag that round-trip tests compare.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagSummary {
    /// `flag_id`.
    pub flag_id: String,
    /// `kind`.
    pub kind: String,
    /// `area_m2`.
    pub area_m2: f64,
    /// `plot_id`.
    pub plot_id: Option<String>,
    /// `plot_name`.
    pub plot_name: Option<String>,
    /// Area of the geometry as read back, in the layer's CRS units.
    pub geometry_area: f64,
}

/// Reads back the flags of an output written by `write_flags`.
pub fn read_flag_summaries(path: &Path) -> Result<Vec<FlagSummary>> {
    crate::io::gdal_env::init();
    let ds = gdal::Dataset::open(path).map_err(|e| Error::gdal(path, e))?;
    let mut layer = ds.layer(0).map_err(|e| Error::gdal(path, e))?;
    let defn_fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let idx = |name: &str| defn_fields.iter().position(|f| f == name);
    let (ki, ai, pi, ni) = (idx("kind"), idx("area_m2"), idx("plot_id"), idx("plot_name"));
    let fi = idx("flag_id");
    let mut out = Vec::new();
    for f in layer.features() {
        let flag_id = fi.and_then(|i| f.field_as_string(i).ok().flatten()).unwrap_or_default();
        let kind = ki.and_then(|i| f.field_as_string(i).ok().flatten()).unwrap_or_default();
        let area = ai.and_then(|i| f.field_as_double(i).ok().flatten()).unwrap_or(f64::NAN);
        let plot = pi.and_then(|i| f.field_as_string(i).ok().flatten());
        let name = ni.and_then(|i| f.field_as_string(i).ok().flatten());
        let geometry_area = f.geometry().map_or(0.0, |g| g.area());
        out.push(FlagSummary { flag_id, kind, area_m2: area, plot_id: plot, plot_name: name, geometry_area });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_extensions_and_names() {
        assert_eq!(VectorFormat::from_path(Path::new("a/b.GPKG")), Some(VectorFormat::GeoPackage));
        assert_eq!(VectorFormat::from_path(Path::new("b.fgb")), Some(VectorFormat::FlatGeobuf));
        assert_eq!(VectorFormat::from_path(Path::new("b.txt")), None);
        assert_eq!("shapefile".parse::<VectorFormat>().unwrap(), VectorFormat::Shapefile);
        assert!(resolve_format(Path::new("x.txt"), None).unwrap_err().to_string().contains("x.txt"));
    }

    #[test]
    fn shapefile_evidence_fits_a_dbase_field() {
        let big = serde_json::json!({"kind": "construction", "ndvi_before": 0.61, "scenes": [{"id": "x".repeat(400)}], "note": "长".repeat(200)});
        let s = shortened_evidence(&big);
        assert!(s.len() <= 254, "{}", s.len());
        assert!(s.contains("ndvi_before"));
    }
}
