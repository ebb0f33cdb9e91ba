//! The parts of the OGC GeoPackage 1.3 standard the store needs, written with SQLite directly: the core
//! tables, SRS registration, layer registration and the geometry blob (GP header + ISO WKB). GDAL and
//! QGIS open the result as an ordinary GeoPackage.

use rusqlite::{Connection, params};

/// `PRAGMA application_id` of a GeoPackage ("GPKG").
pub const APPLICATION_ID: i32 = 0x4750_4B47;
/// `PRAGMA user_version` of GeoPackage 1.3.
pub const USER_VERSION: i32 = 10300;

const WGS84_WKT: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// Creates the core tables and the three SRS rows the standard requires (idempotent).
pub fn init(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID};
         PRAGMA user_version = {USER_VERSION};
         CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
           srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
           organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
         CREATE TABLE IF NOT EXISTS gpkg_contents (
           table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
           description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
           min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
           CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
           table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
           srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
           CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
           CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
           CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));"
    ))?;
    let rows: [(&str, i64, &str, i64, &str, &str); 3] = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
        (
            "WGS 84 geodetic",
            4326,
            "EPSG",
            4326,
            WGS84_WKT,
            "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
        ),
    ];
    for (name, id, org, org_id, def, desc) in rows {
        conn.execute(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, organization_coordsys_id, definition, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, id, org, org_id, def, desc],
        )?;
    }
    Ok(())
}

/// Registers a CRS; returns its srs_id (the EPSG code where there is one, else a project id).
pub fn ensure_srs(conn: &Connection, name: &str, wkt: &str, epsg: Option<u32>) -> rusqlite::Result<i64> {
    let (id, org, org_id) = match epsg {
        Some(code) => (code as i64, "EPSG", code as i64),
        None => (100_000, "JINGTU", 100_000),
    };
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, organization_coordsys_id, definition) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, id, org, org_id, wkt],
    )?;
    Ok(id)
}

/// Registers a feature table with one geometry column.
pub fn register_features(
    conn: &Connection,
    table: &str,
    column: &str,
    geometry_type: &str,
    srs_id: i64,
    description: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES (?1, 'features', ?1, ?2, ?3)",
        params![table, description, srs_id],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) VALUES (?1, ?2, ?3, ?4, 0, 0)",
        params![table, column, geometry_type, srs_id],
    )?;
    Ok(())
}

/// Registers a table without geometry (GIS clients list it as a table, for analysts to query).
pub fn register_attributes(conn: &Connection, table: &str, description: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) VALUES (?1, 'attributes', ?1, ?2)",
        params![table, description],
    )?;
    Ok(())
}

/// The SQL functions the GeoPackage R-tree triggers call (`ST_IsEmpty`, `ST_MinX`, `ST_MaxX`, `ST_MinY`,
/// `ST_MaxY`, as GDAL and SpatiaLite define them): SQLite has none of them, and without them every write
/// to an indexed layer on this connection would fail.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("ST_IsEmpty", 1, flags, |ctx| {
        Ok(ctx.get::<Option<Vec<u8>>>(0)?.map(|blob| i64::from(is_empty(&blob))))
    })?;
    for (name, i) in [("ST_MinX", 0usize), ("ST_MaxX", 1), ("ST_MinY", 2), ("ST_MaxY", 3)] {
        conn.create_scalar_function(name, 1, flags, move |ctx| {
            Ok(ctx.get::<Option<Vec<u8>>>(0)?.and_then(|blob| envelope(&blob)).map(|e| e[i]))
        })?;
    }
    Ok(())
}

/// Whether a geometry blob holds an empty geometry (header flag, or no coordinates at all).
fn is_empty(blob: &[u8]) -> bool {
    blob.len() < 8 || blob[3] & 0b1_0000 != 0 || envelope(blob).is_none()
}

/// `[minx, maxx, miny, maxy]` of a geometry blob: its header's envelope, or, where the writer left it
/// out, the envelope of its WKB.
fn envelope(blob: &[u8]) -> Option<[f64; 4]> {
    if let Some(e) = envelope_of(blob) {
        return Some(e);
    }
    let (_, wkb) = decode(blob)?;
    let geometry = gdal::vector::Geometry::from_wkb(wkb).ok()?;
    if geometry.is_empty() {
        return None;
    }
    let e = geometry.envelope();
    Some([e.MinX, e.MaxX, e.MinY, e.MaxY])
}

/// Declares the spatial index extension's table (idempotent).
fn init_extensions(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS gpkg_extensions (
           table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL,
           CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));",
    )
}

/// Gives a feature table the standard R-tree spatial index (GeoPackage 1.3, annex F.3): the virtual table,
/// filled from the rows already there, its triggers and the extension row. QGIS and GDAL use it to read
/// only the features in view. Idempotent.
///
/// The triggers have the standard's names and conditions, but write the index with a DELETE and a
/// plain INSERT where the standard's use INSERT OR REPLACE: the store writes flags with UPSERTs, and
/// SQLite lets the conflict policy of the outer statement override the one inside a trigger, so the
/// standard's triggers fail ("UNIQUE constraint failed") when an upsert updates a flag's geometry
/// (GeoPackage 1.4 replaced those triggers for the same reason).
pub fn add_rtree(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<()> {
    init_extensions(conn)?;
    let rtree = format!("rtree_{table}_{column}");
    let exists: bool =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = ?1", [&rtree], |r| r.get::<_, i64>(0))? > 0;
    if !exists {
        let (t, c, i) = (table, column, "fid");
        let insert_new = format!(
            "INSERT INTO \"{rtree}\" VALUES (NEW.{i}, ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}), ST_MinY(NEW.{c}), ST_MaxY(NEW.{c}));"
        );
        conn.execute_batch(&format!(
            "CREATE VIRTUAL TABLE \"{rtree}\" USING rtree(id, minx, maxx, miny, maxy);
             INSERT INTO \"{rtree}\" SELECT {i}, ST_MinX({c}), ST_MaxX({c}), ST_MinY({c}), ST_MaxY({c})
               FROM \"{t}\" WHERE {c} NOT NULL AND NOT ST_IsEmpty({c});
             CREATE TRIGGER \"{rtree}_insert\" AFTER INSERT ON \"{t}\"
               WHEN (NEW.{c} NOT NULL AND NOT ST_IsEmpty(NEW.{c}))
             BEGIN
               DELETE FROM \"{rtree}\" WHERE id = NEW.{i};
               {insert_new}
             END;
             CREATE TRIGGER \"{rtree}_update1\" AFTER UPDATE OF {c} ON \"{t}\"
               WHEN OLD.{i} = NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c}))
             BEGIN
               DELETE FROM \"{rtree}\" WHERE id = NEW.{i};
               {insert_new}
             END;
             CREATE TRIGGER \"{rtree}_update2\" AFTER UPDATE OF {c} ON \"{t}\"
               WHEN OLD.{i} = NEW.{i} AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c}))
             BEGIN
               DELETE FROM \"{rtree}\" WHERE id = OLD.{i};
             END;
             CREATE TRIGGER \"{rtree}_update3\" AFTER UPDATE ON \"{t}\"
               WHEN OLD.{i} != NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c}))
             BEGIN
               DELETE FROM \"{rtree}\" WHERE id IN (OLD.{i}, NEW.{i});
               {insert_new}
             END;
             CREATE TRIGGER \"{rtree}_update4\" AFTER UPDATE ON \"{t}\"
               WHEN OLD.{i} != NEW.{i} AND (NEW.{c} ISNULL OR ST_IsEmpty(NEW.{c}))
             BEGIN
               DELETE FROM \"{rtree}\" WHERE id IN (OLD.{i}, NEW.{i});
             END;
             CREATE TRIGGER \"{rtree}_delete\" AFTER DELETE ON \"{t}\"
               WHEN OLD.{c} NOT NULL
             BEGIN
               DELETE FROM \"{rtree}\" WHERE id = OLD.{i};
             END;"
        ))?;
    }
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope)
         VALUES (?1, ?2, 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        params![table, column],
    )?;
    Ok(())
}

/// Updates a feature table's extent in gpkg_contents.
pub fn update_extent(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT {column} FROM \"{table}\" WHERE {column} IS NOT NULL"))?;
    let mut env: Option<[f64; 4]> = None;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    for blob in rows {
        if let Some(e) = envelope_of(&blob?) {
            env = Some(match env {
                None => e,
                Some(a) => [a[0].min(e[0]), a[1].max(e[1]), a[2].min(e[2]), a[3].max(e[3])],
            });
        }
    }
    if let Some([min_x, max_x, min_y, max_y]) = env {
        conn.execute(
            "UPDATE gpkg_contents SET min_x = ?2, max_x = ?3, min_y = ?4, max_y = ?5, last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?1",
            params![table, min_x, max_x, min_y, max_y],
        )?;
    }
    Ok(())
}

/// A GeoPackage geometry blob: header (magic, version 0, little-endian, XY envelope) and ISO WKB.
pub fn encode(wkb: &[u8], srs_id: i64, envelope: [f64; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 32 + wkb.len());
    out.extend_from_slice(b"GP");
    out.push(0);
    // Flags: bit 0 little-endian, bits 1-3 envelope [minx, maxx, miny, maxy].
    out.push(0b0000_0011);
    out.extend_from_slice(&(srs_id as i32).to_le_bytes());
    for v in envelope {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(wkb);
    out
}

/// The WKB and srs_id inside a GeoPackage geometry blob.
pub fn decode(blob: &[u8]) -> Option<(i64, &[u8])> {
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return None;
    }
    let flags = blob[3];
    let little = flags & 1 == 1;
    let srs = if little {
        i32::from_le_bytes(blob[4..8].try_into().ok()?)
    } else {
        i32::from_be_bytes(blob[4..8].try_into().ok()?)
    };
    let envelope_len = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return None,
    };
    blob.get(8 + envelope_len..).map(|wkb| (srs as i64, wkb))
}

fn envelope_of(blob: &[u8]) -> Option<[f64; 4]> {
    if blob.len() < 40 || (blob[3] >> 1) & 0b111 != 1 || blob[3] & 1 != 1 {
        return None;
    }
    let f = |i: usize| f64::from_le_bytes(blob[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
    Some([f(0), f(1), f(2), f(3)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_blobs_round_trip() {
        let wkb = vec![1u8, 3, 0, 0, 0, 0, 0, 0, 0];
        let blob = encode(&wkb, 32651, [1.0, 2.0, 3.0, 4.0]);
        let (srs, back) = decode(&blob).unwrap();
        assert_eq!(srs, 32651);
        assert_eq!(back, &wkb[..]);
        assert_eq!(envelope_of(&blob), Some([1.0, 2.0, 3.0, 4.0]));
        assert!(decode(b"XX").is_none());
    }
}
