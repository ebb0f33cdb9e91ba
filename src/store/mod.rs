//! The store: a GeoPackage holding everything a monthly scan needs to continue next month and
//! everything a registry or an analyst needs to query: scans, ingested scenes (by content hash), the
//! per-pixel temporal state of every plot, flags with their history, per-plot summaries and the
//! changefeed. Every scan writes in one SQLite transaction: a scan killed midway leaves the store as it
//! was.
//!
//! | table | kind | what |
//! | --- | --- | --- |
//! | `flags` | features | one row per flag, CONTRACT.md properties, analysis CRS |
//! | `plots` | features | the registry as scanned, with per-plot state summary |
//! | `scans` | attributes | one row per scan run (a log: two runs that reach the same state differ here) |
//! | `scenes` | attributes | ingested acquisitions, unique by content hash |
//! | `flag_history` | attributes | a flag's status per acquisition |
//! | `plot_summary` | attributes | per plot and acquisition: clear share, cover shares, NDVI, BSI, active flags |
//! | `changes` | attributes | changefeed log: which flags changed in which scan or review (`seq` is the cursor) |
//! | `flag_reviews` | attributes | what analysts found on the ground, per flag, append-only ([`reviews`]) |
//! | `layer_styles` | attributes | QGIS's default styles of `flags` (kind and status) and `plots` (state), from [`style`] (which every GeoPackage output uses too) |
//! | `plot_state`, `plot_state_rows`, `file_hashes`, `jingtu_meta`, `api_tokens` | not registered | internal: temporal state (of large plots by bands of rows), hash cache, frame, hashes of `jingtu serve`'s API tokens ([`tokens`]) |
//!
//! One scan writes a store at a time ([`lock`]).

pub mod gpkg;
pub mod lock;
pub mod reviews;
pub mod style;
pub mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::align::frame::AnalysisFrame;
use crate::error::{Error, Result};
use crate::flags::{Flag, FlagKind, FlagStatus};
use crate::io::scenes::FileFingerprint;

/// Schema version written to `jingtu_meta`. Version 1 (jingtu up to 0.1's first GeoPackage store) typed
/// geometry columns as BLOB and dates as TEXT, had no spatial index and listed its internal tables as
/// layers; [`Store::open`] upgrades it in place. Version 3 added the tables of `jingtu serve` and
/// `jingtu review` (`flag_reviews`, `api_tokens`); a version 2 store gets them, empty, on its next open.
pub const SCHEMA_VERSION: &str = "3";

/// Schema versions this build reads: the current one and those it upgrades.
const READABLE_VERSIONS: [&str; 3] = ["1", "2", "3"];

/// Row ids are plain `INTEGER PRIMARY KEY` (max + 1), not AUTOINCREMENT, whose counter an upsert that
/// turns into an update still advances: two scans that reach the same state must give the same ids. The
/// changefeed log keeps AUTOINCREMENT, as its `seq` is a cursor that must never be reused.
///
/// Column types are the GeoPackage ones clients act on: the geometry column's type names its geometry
/// (`POLYGON`, `GEOMETRY`), calendar days are `DATE` and instants `DATETIME` (ISO text either way, as
/// before), so QGIS, GDAL and geopandas read them as dates.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jingtu_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (fid INTEGER PRIMARY KEY, scan_id TEXT NOT NULL, started_at DATETIME NOT NULL,
  finished_at DATETIME NOT NULL, as_of DATE, plots_source TEXT, scenes_source TEXT, scenes_new INTEGER, engine_version TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS scenes (fid INTEGER PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, scene_id TEXT NOT NULL,
  acquired DATE NOT NULL, source TEXT, cloud_cover REAL, plots_clear REAL);
CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER NOT NULL, modified_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plots (fid INTEGER PRIMARY KEY, geom GEOMETRY, plot_id TEXT NOT NULL UNIQUE, name TEXT,
  category TEXT, works_allowed INTEGER, listed_on DATE, observations INTEGER, last_observed DATE, active_flags INTEGER, state TEXT);
CREATE TABLE IF NOT EXISTS plot_state (plot_id TEXT PRIMARY KEY, grid TEXT NOT NULL, mask BLOB NOT NULL, state BLOB NOT NULL,
  flags TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plot_state_rows (plot_id TEXT NOT NULL, first_row INTEGER NOT NULL, rows INTEGER NOT NULL,
  state BLOB NOT NULL, PRIMARY KEY (plot_id, first_row));
CREATE TABLE IF NOT EXISTS flags (fid INTEGER PRIMARY KEY, geom POLYGON, flag_id TEXT NOT NULL UNIQUE, plot_id TEXT,
  plot_name TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, first_seen DATE, last_seen DATE, bare_since DATE, idle_days INTEGER,
  area_m2 REAL, confidence REAL, evidence TEXT, scan_id TEXT, engine_version TEXT, permitted INTEGER);
CREATE TABLE IF NOT EXISTS flag_history (fid INTEGER PRIMARY KEY, flag_id TEXT NOT NULL, acquired DATE NOT NULL,
  status TEXT NOT NULL, area_m2 REAL, UNIQUE (flag_id, acquired));
CREATE TABLE IF NOT EXISTS plot_summary (fid INTEGER PRIMARY KEY, plot_id TEXT NOT NULL, acquired DATE NOT NULL,
  scene_id TEXT, clear_fraction REAL, ndvi REAL, bsi REAL, cover TEXT, active TEXT, UNIQUE (plot_id, acquired));
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, scan_id TEXT NOT NULL, flag_id TEXT NOT NULL, op TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS flags_plot ON flags (plot_id);
CREATE INDEX IF NOT EXISTS changes_flag ON changes (flag_id);
CREATE TABLE IF NOT EXISTS flag_reviews (fid INTEGER PRIMARY KEY, flag_id TEXT NOT NULL, outcome TEXT NOT NULL,
  note TEXT, reviewer TEXT NOT NULL, reviewed_at DATETIME NOT NULL, recorded_by TEXT);
CREATE INDEX IF NOT EXISTS flag_reviews_flag ON flag_reviews (flag_id);
CREATE TRIGGER IF NOT EXISTS flag_reviews_no_update BEFORE UPDATE ON flag_reviews
  BEGIN SELECT RAISE(ABORT, 'flag_reviews is append-only: record a new review instead'); END;
CREATE TRIGGER IF NOT EXISTS flag_reviews_no_delete BEFORE DELETE ON flag_reviews
  BEGIN SELECT RAISE(ABORT, 'flag_reviews is append-only: record a new review instead'); END;
CREATE TABLE IF NOT EXISTS api_tokens (fid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, scope TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE, created_at DATETIME NOT NULL, revoked_at DATETIME);
";

/// Tables analysts query, registered in `gpkg_contents` as `attributes`. The internal tables
/// (`plot_state`, `plot_state_rows`, `file_hashes`, `jingtu_meta`) are not registered, so GIS clients do
/// not list them as layers; the GeoPackage standard leaves unregistered tables alone.
const ATTRIBUTE_TABLES: [(&str, &str); 6] = [
    ("scans", "scan runs"),
    ("scenes", "ingested acquisitions, unique by content hash"),
    ("flag_history", "flag status per acquisition"),
    ("plot_summary", "per plot and acquisition"),
    ("changes", "changefeed log; seq is the export cursor"),
    ("flag_reviews", "field checks of flags, append-only"),
];

/// Tables a version 1 store registered as layers and version 2 keeps internal.
const INTERNAL_TABLES: [&str; 4] = ["plot_state", "plot_state_rows", "file_hashes", "jingtu_meta"];

/// Tables whose column types changed from version 1 to 2 (same columns, same order); rebuilt on upgrade.
const RETYPED_TABLES: [&str; 6] = ["scans", "scenes", "plots", "flags", "flag_history", "plot_summary"];

/// The `DATETIME` text GeoPackage specifies (`2026-11-28T10:15:02.123Z`).
pub fn gpkg_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A plot's stored continuation.
#[derive(Debug, Clone)]
pub struct StoredPlot {
    /// Grid as JSON.
    pub grid_json: String,
    /// Plot mask bytes.
    pub mask: Vec<u8>,
    /// Temporal state blob.
    pub state: Vec<u8>,
    /// Tracked flags as JSON.
    pub flags_json: String,
    /// The plot's observation record as JSON.
    pub record: String,
}

/// An ingested scene.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestedScene {
    /// Content hash.
    pub content_hash: String,
    /// Scene id.
    pub scene_id: String,
    /// Acquisition date (ISO).
    pub acquired: String,
}

/// A flag in the changefeed.
#[derive(Debug, Clone)]
pub struct FlagChange {
    /// Changefeed position of the flag's latest change.
    pub seq: i64,
    /// The flag's row id in the store's `flags` layer: fixed when the flag is first written and kept
    /// through every later update (and through schema upgrades), so it identifies the flag as an integer.
    pub fid: i64,
    /// The flag's current state.
    pub flag: Flag,
    /// What the flag's latest changefeed entry records: `scan` for a scan's change, `review` for an
    /// analyst's review ([`reviews`]).
    pub cause: &'static str,
    /// The flag's latest review, if any.
    pub review: Option<reviews::Review>,
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens a store, creating it when missing (`None` path: an in-memory store for scans without
    /// `--store`). Refuses a file that is not a jingtu store.
    pub fn open(path: Option<&Path>) -> Result<Store> {
        let (conn, path) = match path {
            Some(p) => {
                let existed = p.exists();
                let conn = Connection::open(p).map_err(|e| Error::store(p, e))?;
                if existed {
                    let app: i32 = conn
                        .query_row("PRAGMA application_id", [], |r| r.get(0))
                        .map_err(|_| Error::store(p, "not a GeoPackage or SQLite file"))?;
                    let has_meta: bool = conn
                        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'jingtu_meta'", [], |r| {
                            r.get::<_, i64>(0)
                        })
                        .map(|n| n > 0)
                        .map_err(|_| Error::store(p, "not a GeoPackage or SQLite file"))?;
                    let empty: bool = conn
                        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
                        .map(|n| n == 0)
                        .unwrap_or(false);
                    if !empty && (app != gpkg::APPLICATION_ID || !has_meta) {
                        return Err(Error::store(p, "exists but is not a jingtu store; choose another --store path"));
                    }
                }
                (conn, p.to_path_buf())
            }
            None => (Connection::open_in_memory().map_err(|e| Error::store("<memory>", e))?, PathBuf::from("<memory>")),
        };
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| Error::store(&path, e))?;
        let store = Store { conn, path };
        store.init()?;
        Ok(store)
    }

    /// Opens a store some earlier [`Store::open`] created or upgraded, as it is: nothing is created or
    /// upgraded, so a read-only opening never writes. For `jingtu serve`, which opens one connection per
    /// request: read-only ones for queries (each in one read transaction, [`Store::snapshot`]) and a
    /// writable one for a review. A store of another schema version is refused with its version.
    pub fn open_existing(path: &Path, writable: bool) -> Result<Store> {
        use rusqlite::OpenFlags;
        let flags = if writable {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::store(path, e))?;
        // A reader in WAL mode is never blocked by the scan; a writer (a review) waits for the scan's
        // transaction only this long, then the caller says "busy, retry".
        conn.busy_timeout(std::time::Duration::from_secs(if writable { 5 } else { 30 }))
            .map_err(|e| Error::store(path, e))?;
        let store = Store { conn, path: path.to_path_buf() };
        match store.schema_version().map_err(|e| Error::store(path, e))? {
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(Error::store(
                    path,
                    format!(
                        "store schema version {v}, not {SCHEMA_VERSION}: open it once with this jingtu's `jingtu export` or `jingtu scan` to upgrade it"
                    ),
                ));
            }
            None => return Err(Error::store(path, "not a jingtu store (no jingtu_meta table)")),
        }
        if writable {
            gpkg::register_functions(&store.conn).map_err(|e| Error::store(path, e))?;
        }
        Ok(store)
    }

    /// Runs `read` inside one read transaction: every query it makes sees the store as one committed
    /// state, before or after a concurrent scan's commit, never part of it. Generic in the error so a
    /// caller can return its own (the server's HTTP errors).
    pub fn snapshot<T, E: From<Error>>(
        &self,
        read: impl FnOnce(&Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.conn.execute_batch("BEGIN DEFERRED").map_err(|e| Error::store(&self.path, e))?;
        let out = read(self);
        // Ending a read transaction cannot lose anything; its failure is reported when the read succeeded.
        let end = self.conn.execute_batch("COMMIT").map_err(|e| Error::store(&self.path, e));
        let value = out?;
        end?;
        Ok(value)
    }

    /// Puts the store in SQLite's write-ahead-log mode (a setting kept in the file), in which readers
    /// never block the writer and see the last commit before their read began. `jingtu serve` sets it so
    /// requests run while a scan writes; scans, exports and GDAL read and write such a store unchanged.
    pub fn use_wal(&self) -> Result<()> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| Error::store(&self.path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::store(
                &self.path,
                format!("cannot switch to write-ahead logging (journal mode stays {mode})"),
            ));
        }
        Ok(())
    }

    /// Creates what is missing, in one transaction: a scan killed while it creates the store leaves an
    /// empty file, which the rerun takes up, never half a store that it would refuse as not its own. A
    /// store of an earlier schema is upgraded in the same transaction (all or nothing); one of a later
    /// schema, written by a newer jingtu, is refused, never misread.
    fn init(&self) -> Result<()> {
        let fail = |e: rusqlite::Error| Error::store(&self.path, e);
        gpkg::register_functions(&self.conn).map_err(fail)?;
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        let created = (|| -> Result<()> {
            let version = self.schema_version().map_err(fail)?;
            if let Some(v) = &version {
                if !READABLE_VERSIONS.contains(&v.as_str()) {
                    return Err(Error::store(
                        &self.path,
                        format!(
                            "store schema version {v} is not one this jingtu {} reads (versions {}); it was written by \
                             a newer jingtu: use that version",
                            crate::flags::ENGINE_VERSION,
                            READABLE_VERSIONS.join(", ")
                        ),
                    ));
                }
            }
            gpkg::init(&self.conn).map_err(fail)?;
            if version.as_deref() == Some("1") {
                self.upgrade_from_1().map_err(fail)?;
            }
            self.conn.execute_batch(SCHEMA).map_err(fail)?;
            for (t, d) in ATTRIBUTE_TABLES {
                gpkg::register_attributes(&self.conn, t, d).map_err(fail)?;
            }
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO jingtu_meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(fail)?;
            self.conn.execute_batch("COMMIT").map_err(fail)
        })();
        if let Err(e) = created {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        Ok(())
    }

    /// The schema version recorded in the store, `None` for a new (empty) store.
    fn schema_version(&self) -> rusqlite::Result<Option<String>> {
        let has_meta: i64 =
            self.conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'jingtu_meta'", [], |r| r.get(0))?;
        if has_meta == 0 {
            return Ok(None);
        }
        self.conn.query_row("SELECT value FROM jingtu_meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional()
    }

    /// Version 1 to 2, inside the caller's transaction: every retyped table is rebuilt with the same rows
    /// and row ids (flag row ids are the changefeed's feature ids), dates and instants are rewritten in
    /// the GeoPackage forms, the internal tables leave `gpkg_contents`, and the feature layers get their
    /// R-tree index.
    fn upgrade_from_1(&self) -> rusqlite::Result<()> {
        log::info!("{}: upgrading the store from schema version 1 to {SCHEMA_VERSION}", self.path.display());
        self.conn.execute_batch("DROP INDEX IF EXISTS flags_plot;")?;
        for t in RETYPED_TABLES {
            self.conn.execute_batch(&format!("ALTER TABLE \"{t}\" RENAME TO \"{t}_v1\";"))?;
        }
        self.conn.execute_batch(SCHEMA)?;
        for t in RETYPED_TABLES {
            let columns: Vec<String> = self
                .conn
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}_v1')"))?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let select: Vec<String> = columns
                .iter()
                .map(|c| match (t, c.as_str()) {
                    // RFC 3339 with nanoseconds and an offset, as version 1 wrote them, to GeoPackage's form.
                    ("scans", "started_at" | "finished_at") => {
                        format!("coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', \"{c}\"), \"{c}\")")
                    }
                    _ => format!("\"{c}\""),
                })
                .collect();
            let names: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
            self.conn.execute_batch(&format!(
                "INSERT INTO \"{t}\" ({}) SELECT {} FROM \"{t}_v1\" ORDER BY rowid; DROP TABLE \"{t}_v1\";",
                names.join(", "),
                select.join(", ")
            ))?;
        }
        for t in INTERNAL_TABLES {
            self.conn.execute("DELETE FROM gpkg_contents WHERE table_name = ?1", [t])?;
        }
        let layers: Vec<(String, String)> = self
            .conn
            .prepare(
                "SELECT table_name, column_name FROM gpkg_geometry_columns WHERE table_name IN ('flags', 'plots')",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (table, column) in layers {
            gpkg::add_rtree(&self.conn, &table, &column)?;
        }
        Ok(())
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection (read queries for export and report).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The analysis frame fixed at the first scan.
    pub fn frame(&self) -> Result<Option<AnalysisFrame>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM jingtu_meta WHERE key = 'frame'", [], |r| r.get(0))
            .optional()
            .map_err(|e| Error::store(&self.path, e))?;
        v.map(|s| serde_json::from_str(&s).map_err(|e| Error::store(&self.path, format!("bad frame: {e}")))).transpose()
    }

    /// Scenes already ingested, by content hash.
    pub fn ingested(&self) -> Result<HashMap<String, IngestedScene>> {
        let mut stmt = self
            .conn
            .prepare("SELECT content_hash, scene_id, acquired FROM scenes")
            .map_err(|e| Error::store(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| Ok(IngestedScene { content_hash: r.get(0)?, scene_id: r.get(1)?, acquired: r.get(2)? }))
            .map_err(|e| Error::store(&self.path, e))?;
        let mut out = HashMap::new();
        for r in rows {
            let s = r.map_err(|e| Error::store(&self.path, e))?;
            out.insert(s.content_hash.clone(), s);
        }
        Ok(out)
    }

    /// Cached file hashes by path.
    pub fn file_hashes(&self) -> Result<HashMap<PathBuf, (FileFingerprint, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, size, modified_ns, sha256 FROM file_hashes")
            .map_err(|e| Error::store(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    PathBuf::from(r.get::<_, String>(0)?),
                    FileFingerprint { size: r.get::<_, i64>(1)? as u64, modified_ns: r.get(2)? },
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| Error::store(&self.path, e))?;
        let mut out = HashMap::new();
        for r in rows {
            let (p, fp, h) = r.map_err(|e| Error::store(&self.path, e))?;
            out.insert(p, (fp, h));
        }
        Ok(out)
    }

    /// A plot's stored continuation.
    pub fn plot(&self, plot_id: &str) -> Result<Option<StoredPlot>> {
        read_plot(&self.conn, plot_id).map_err(|e| Error::store(&self.path, e))
    }

    /// The latest changefeed sequence number (0 for none).
    pub fn last_change(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| r.get(0))
            .map_err(|e| Error::store(&self.path, e))
    }

    /// Every flag, ordered by fid.
    pub fn flags(&self) -> Result<Vec<(i64, Flag)>> {
        self.flags_where("1 = 1", [])
    }

    /// Flags changed after changefeed position `since`, each once with the position of its latest
    /// change, in changefeed order.
    pub fn flags_changed_since(&self, since: i64) -> Result<Vec<FlagChange>> {
        // SQLite takes the bare column `op` from the row that gives max(seq): the latest change's cause.
        let mut stmt = self
            .conn
            .prepare("SELECT flag_id, max(seq), op FROM changes WHERE seq > ?1 GROUP BY flag_id ORDER BY max(seq)")
            .map_err(|e| Error::store(&self.path, e))?;
        let ids: Vec<(String, i64, String)> = stmt
            .query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| Error::store(&self.path, e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| Error::store(&self.path, e))?;
        let mut out = Vec::new();
        for (id, seq, op) in ids {
            let mut f = self.flags_where("flag_id = ?1", [id.as_str()])?;
            if let Some((fid, flag)) = f.pop() {
                let review = self.latest_review(&id)?;
                let cause = if op == reviews::CHANGE_OP { "review" } else { "scan" };
                out.push(FlagChange { seq, fid, flag, cause, review });
            }
        }
        Ok(out)
    }

    fn flags_where<P: rusqlite::Params>(&self, filter: &str, params: P) -> Result<Vec<(i64, Flag)>> {
        let sql = format!(
            "SELECT fid, geom, flag_id, plot_id, plot_name, kind, status, first_seen, last_seen, bare_since, idle_days, area_m2,
                    confidence, evidence, scan_id, engine_version FROM flags WHERE {filter} ORDER BY fid"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| Error::store(&self.path, e))?;
        let rows = stmt
            .query_map(params, |r| {
                let blob: Vec<u8> = r.get(1)?;
                let date = |i: usize| -> rusqlite::Result<Option<chrono::NaiveDate>> {
                    Ok(r.get::<_, Option<String>>(i)?.and_then(|s| s.parse().ok()))
                };
                let kind: String = r.get(5)?;
                let status: String = r.get(6)?;
                let evidence: Option<String> = r.get(13)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    Flag {
                        flag_id: r.get(2)?,
                        plot_id: r.get(3)?,
                        plot_name: r.get(4)?,
                        kind: FlagKind::parse(&kind).unwrap_or(FlagKind::IdleBare),
                        status: FlagStatus::parse(&status).unwrap_or(FlagStatus::Ongoing),
                        first_seen: date(7)?,
                        last_seen: date(8)?,
                        bare_since: date(9)?,
                        idle_days: r.get(10)?,
                        area_m2: r.get::<_, Option<f64>>(11)?.unwrap_or(0.0),
                        confidence: r.get::<_, Option<f64>>(12)?.unwrap_or(0.0),
                        evidence: evidence
                            .and_then(|e| serde_json::from_str(&e).ok())
                            .unwrap_or(serde_json::Value::Null),
                        scan_id: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        engine_version: r.get::<_, Option<String>>(15)?.unwrap_or_default(),
                        geometry: gpkg::decode(&blob).map(|(_, w)| w.to_vec()).unwrap_or_default(),
                    },
                ))
            })
            .map_err(|e| Error::store(&self.path, e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| Error::store(&self.path, e))
    }

    /// Starts the one transaction a scan writes in.
    pub fn begin(&mut self) -> Result<StoreWriter<'_>> {
        let path = self.path.clone();
        let txn = self.conn.transaction().map_err(|e| Error::store(&path, e))?;
        Ok(StoreWriter { txn, path })
    }
}

/// Writes of one scan; nothing is visible until `commit`.
pub struct StoreWriter<'a> {
    txn: rusqlite::Transaction<'a>,
    path: PathBuf,
}

/// A plot row of the `plots` layer.
#[derive(Debug, Clone)]
pub struct PlotRow {
    /// Id.
    pub plot_id: String,
    /// Name.
    pub name: Option<String>,
    /// Category name.
    pub category: Option<String>,
    /// Works allowed.
    pub works_allowed: bool,
    /// Listed on (ISO).
    pub listed_on: Option<String>,
    /// Acquisitions that saw it.
    pub observations: u32,
    /// Latest acquisition that saw it (ISO).
    pub last_observed: Option<String>,
    /// Active flags.
    pub active_flags: u32,
    /// `observed`, `unobserved` (no clear acquisition) or `outside_scenes`.
    pub state: String,
    /// Geometry WKB (analysis CRS) and envelope.
    pub geometry: (Vec<u8>, [f64; 4]),
}

impl StoreWriter<'_> {
    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::store(&self.path, e)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fixes the analysis frame and registers the feature layers in its CRS.
    pub fn set_frame(&self, frame: &AnalysisFrame, crs_name: &str) -> Result<i64> {
        let json = serde_json::to_string(frame).map_err(|e| self.fail(e))?;
        self.txn
            .execute("INSERT OR REPLACE INTO jingtu_meta (key, value) VALUES ('frame', ?1)", [json])
            .map_err(|e| self.fail(e))?;
        let srs = gpkg::ensure_srs(&self.txn, crs_name, &frame.crs_wkt, frame.epsg).map_err(|e| self.fail(e))?;
        gpkg::register_features(&self.txn, "flags", "geom", "POLYGON", srs, "flagged areas")
            .map_err(|e| self.fail(e))?;
        gpkg::register_features(&self.txn, "plots", "geom", "GEOMETRY", srs, "registered plots as scanned")
            .map_err(|e| self.fail(e))?;
        gpkg::add_rtree(&self.txn, "flags", "geom").map_err(|e| self.fail(e))?;
        gpkg::add_rtree(&self.txn, "plots", "geom").map_err(|e| self.fail(e))?;
        style::add_flag_style(&self.txn, "flags").map_err(|e| self.fail(e))?;
        style::add_plot_style(&self.txn, "plots").map_err(|e| self.fail(e))?;
        Ok(srs)
    }

    /// Flags whose latest review is `false_alarm` (`jingtu review`, `jingtu serve`): the scan neither
    /// continues nor revives them, and flags again only ground beyond them or with a new break.
    pub fn dismissed_flags(&self) -> Result<std::collections::BTreeSet<String>> {
        self.flags_reviewed_as(reviews::Outcome::FalseAlarm)
    }

    /// Flags whose latest review is `confirmed`: a violation found in the field stays open until its
    /// ground is restored (green or covered again), not only while the scan still sees the event.
    pub fn confirmed_flags(&self) -> Result<std::collections::BTreeSet<String>> {
        self.flags_reviewed_as(reviews::Outcome::Confirmed)
    }

    /// Flags whose latest review has `outcome`.
    fn flags_reviewed_as(&self, outcome: reviews::Outcome) -> Result<std::collections::BTreeSet<String>> {
        let mut stmt = self
            .txn
            .prepare(
                "SELECT r.flag_id FROM flag_reviews r
                 WHERE r.fid = (SELECT max(fid) FROM flag_reviews WHERE flag_id = r.flag_id) AND r.outcome = ?1",
            )
            .map_err(|e| self.fail(e))?;
        let ids = stmt
            .query_map([outcome.name()], |r| r.get(0))
            .map_err(|e| self.fail(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.fail(e))?;
        Ok(ids)
    }

    /// Records file hashes for the next scan.
    pub fn cache_hash(&self, path: &Path, fp: &FileFingerprint, hash: &str) -> Result<()> {
        self.txn
            .execute(
                "INSERT OR REPLACE INTO file_hashes (path, size, modified_ns, sha256) VALUES (?1, ?2, ?3, ?4)",
                params![path.to_string_lossy(), fp.size as i64, fp.modified_ns, hash],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// A plot's stored continuation, as this transaction sees it.
    pub fn plot(&self, plot_id: &str) -> Result<Option<StoredPlot>> {
        read_plot(&self.txn, plot_id).map_err(|e| self.fail(e))
    }

    /// Stages a plot summary: plots are scanned group by group, and their summaries wait in a temporary
    /// table (not in memory) until [`write_staged_plot_days`](Self::write_staged_plot_days) writes them
    /// in (acquisition, plot id, `order`) order, the order one scan of all months gives row ids in.
    #[allow(clippy::too_many_arguments)]
    pub fn stage_plot_day(
        &self,
        order: i64,
        plot_id: &str,
        acquired: &str,
        scene_id: &str,
        clear: f64,
        ndvi: Option<f64>,
        bsi: Option<f64>,
        cover: &str,
        active: &str,
    ) -> Result<()> {
        self.txn
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS staged_plot_days (ord INTEGER, plot_id TEXT, acquired TEXT, scene_id TEXT,
                   clear_fraction REAL, ndvi REAL, bsi REAL, cover TEXT, active TEXT)",
            )
            .map_err(|e| self.fail(e))?;
        self.txn
            .prepare_cached(
                "INSERT INTO temp.staged_plot_days (ord, plot_id, acquired, scene_id, clear_fraction, ndvi, bsi, cover, active)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| s.execute(params![order, plot_id, acquired, scene_id, clear, ndvi, bsi, cover, active]))
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Writes the staged plot summaries (see [`stage_plot_day`](Self::stage_plot_day)).
    pub fn write_staged_plot_days(&self) -> Result<()> {
        self.txn
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS staged_plot_days (ord INTEGER, plot_id TEXT, acquired TEXT, scene_id TEXT,
                   clear_fraction REAL, ndvi REAL, bsi REAL, cover TEXT, active TEXT);
                 INSERT OR REPLACE INTO plot_summary (plot_id, acquired, scene_id, clear_fraction, ndvi, bsi, cover, active)
                   SELECT plot_id, acquired, scene_id, clear_fraction, ndvi, bsi, cover, active FROM temp.staged_plot_days
                   ORDER BY acquired, plot_id, ord;
                 DROP TABLE temp.staged_plot_days;",
            )
            .map_err(|e| self.fail(e))
    }

    /// Records an ingested scene.
    pub fn add_scene(
        &self,
        hash: &str,
        id: &str,
        acquired: &str,
        source: &str,
        cloud_cover: Option<f64>,
        plots_clear: f64,
    ) -> Result<()> {
        self.txn
            .execute(
                "INSERT OR IGNORE INTO scenes (content_hash, scene_id, acquired, source, cloud_cover, plots_clear) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![hash, id, acquired, source, cloud_cover, plots_clear],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Saves a plot's continuation.
    pub fn save_plot_state(&self, plot_id: &str, stored: &StoredPlot) -> Result<()> {
        self.txn
            .prepare_cached(
                "INSERT INTO plot_state (plot_id, grid, mask, state, flags, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (plot_id) DO UPDATE SET grid = excluded.grid, mask = excluded.mask, state = excluded.state,
                   flags = excluded.flags, record = excluded.record",
            )
            .and_then(|mut s| {
                s.execute(params![
                    plot_id,
                    stored.grid_json,
                    stored.mask,
                    stored.state,
                    stored.flags_json,
                    stored.record
                ])
            })
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Saves the state of rows `first_row..first_row + rows` of a plot too large to hold whole.
    pub fn save_plot_rows(&self, plot_id: &str, first_row: usize, rows: usize, state: &[u8]) -> Result<()> {
        self.txn
            .prepare_cached(
                "INSERT INTO plot_state_rows (plot_id, first_row, rows, state) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plot_id, first_row) DO UPDATE SET rows = excluded.rows, state = excluded.state",
            )
            .and_then(|mut s| s.execute(params![plot_id, first_row as i64, rows as i64, state]))
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The row bands stored for a plot, as (first row, rows), in row order.
    pub fn plot_row_bands(&self, plot_id: &str) -> Result<Vec<(usize, usize)>> {
        let mut stmt = self
            .txn
            .prepare_cached("SELECT first_row, rows FROM plot_state_rows WHERE plot_id = ?1 ORDER BY first_row")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([plot_id], |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)))
            .map_err(|e| self.fail(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.fail(e))?;
        Ok(rows)
    }

    /// The stored state of the row band of a plot starting at `first_row`.
    pub fn plot_rows(&self, plot_id: &str, first_row: usize) -> Result<Option<Vec<u8>>> {
        self.txn
            .prepare_cached("SELECT state FROM plot_state_rows WHERE plot_id = ?1 AND first_row = ?2")
            .and_then(|mut s| s.query_row(params![plot_id, first_row as i64], |r| r.get(0)).optional())
            .map_err(|e| self.fail(e))
    }

    /// Drops a plot's row bands (it is stored whole again, or in other bands).
    pub fn clear_plot_rows(&self, plot_id: &str) -> Result<()> {
        self.txn
            .execute("DELETE FROM plot_state_rows WHERE plot_id = ?1", [plot_id])
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Writes a plot row.
    pub fn upsert_plot(&self, row: &PlotRow, srs_id: i64) -> Result<()> {
        let blob = gpkg::encode(&row.geometry.0, srs_id, row.geometry.1);
        self.txn
            .prepare_cached(
                "INSERT INTO plots (geom, plot_id, name, category, works_allowed, listed_on, observations, last_observed, active_flags, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (plot_id) DO UPDATE SET geom = excluded.geom, name = excluded.name, category = excluded.category,
                   works_allowed = excluded.works_allowed, listed_on = excluded.listed_on, observations = excluded.observations,
                   last_observed = excluded.last_observed, active_flags = excluded.active_flags, state = excluded.state",
            )
            .and_then(|mut s| s.execute(params![blob, row.plot_id, row.name, row.category, row.works_allowed, row.listed_on, row.observations, row.last_observed, row.active_flags, row.state]))
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Writes a flag; returns true when its content (anything but provenance) changed, which is what the
    /// changefeed publishes.
    pub fn upsert_flag(&self, flag: &Flag, envelope: [f64; 4], srs_id: i64) -> Result<bool> {
        let blob = gpkg::encode(&flag.geometry, srs_id, envelope);
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
        let evidence = flag.evidence.to_string();
        let permitted = flag.evidence.get("permitted_works").and_then(|v| v.as_bool()).unwrap_or(false);
        type Row = (Vec<u8>, String, String, Option<String>, f64, f64, String);
        let before: Option<Row> = self
            .txn
            .prepare_cached(
                "SELECT geom, kind, status, last_seen, area_m2, confidence, evidence FROM flags WHERE flag_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([&flag.flag_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                })
                .optional()
            })
            .map_err(|e| self.fail(e))?;
        let changed = match &before {
            None => true,
            Some((g, k, s, l, a, c, e)) => {
                *g != blob
                    || k != flag.kind.name()
                    || s != flag.status.name()
                    || *l != date(flag.last_seen)
                    || *a != flag.area_m2
                    || *c != flag.confidence
                    || *e != evidence
            }
        };
        self.txn
            .execute(
                "INSERT INTO flags (geom, flag_id, plot_id, plot_name, kind, status, first_seen, last_seen, bare_since, idle_days, area_m2,
                   confidence, evidence, scan_id, engine_version, permitted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (flag_id) DO UPDATE SET geom = excluded.geom, plot_id = excluded.plot_id, plot_name = excluded.plot_name,
                   kind = excluded.kind, status = excluded.status, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                   bare_since = excluded.bare_since, idle_days = excluded.idle_days, area_m2 = excluded.area_m2,
                   confidence = excluded.confidence, evidence = excluded.evidence, scan_id = excluded.scan_id,
                   engine_version = excluded.engine_version, permitted = excluded.permitted",
                params![
                    blob,
                    flag.flag_id,
                    flag.plot_id,
                    flag.plot_name,
                    flag.kind.name(),
                    flag.status.name(),
                    date(flag.first_seen),
                    date(flag.last_seen),
                    date(flag.bare_since),
                    flag.idle_days,
                    flag.area_m2,
                    flag.confidence,
                    evidence,
                    flag.scan_id,
                    flag.engine_version,
                    permitted
                ],
            )
            .map_err(|e| self.fail(e))?;
        Ok(changed)
    }

    /// Records a flag status on an acquisition.
    pub fn add_history(&self, flag_id: &str, acquired: &str, status: FlagStatus, area_m2: f64) -> Result<()> {
        self.txn
            .prepare_cached(
                "INSERT OR REPLACE INTO flag_history (flag_id, acquired, status, area_m2) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| s.execute(params![flag_id, acquired, status.name(), area_m2]))
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Records a plot summary for an acquisition.
    #[allow(clippy::too_many_arguments)]
    pub fn add_plot_day(
        &self,
        plot_id: &str,
        acquired: &str,
        scene_id: &str,
        clear: f64,
        ndvi: Option<f64>,
        bsi: Option<f64>,
        cover: &str,
        active: &str,
    ) -> Result<()> {
        self.txn
            .prepare_cached(
                "INSERT OR REPLACE INTO plot_summary (plot_id, acquired, scene_id, clear_fraction, ndvi, bsi, cover, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| s.execute(params![plot_id, acquired, scene_id, clear, ndvi, bsi, cover, active]))
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Appends to the changefeed.
    pub fn add_change(&self, scan_id: &str, flag_id: &str, op: &str) -> Result<()> {
        self.txn
            .prepare_cached("INSERT INTO changes (scan_id, flag_id, op) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![scan_id, flag_id, op]))
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Logs the scan run.
    #[allow(clippy::too_many_arguments)]
    pub fn add_scan(
        &self,
        scan_id: &str,
        started_at: &str,
        as_of: Option<&str>,
        plots: &str,
        scenes: &str,
        scenes_new: usize,
        summary: &str,
    ) -> Result<()> {
        let finished = gpkg_datetime(chrono::Utc::now());
        self.txn
            .execute(
                "INSERT INTO scans (scan_id, started_at, finished_at, as_of, plots_source, scenes_source, scenes_new, engine_version, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![scan_id, started_at, finished, as_of, plots, scenes, scenes_new as i64, crate::flags::ENGINE_VERSION, summary],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Commits everything.
    pub fn commit(self) -> Result<()> {
        let path = self.path.clone();
        gpkg::update_extent(&self.txn, "flags", "geom").map_err(|e| Error::store(&path, e))?;
        gpkg::update_extent(&self.txn, "plots", "geom").map_err(|e| Error::store(&path, e))?;
        self.txn.commit().map_err(|e| Error::store(&path, e))
    }
}

fn read_plot(conn: &Connection, plot_id: &str) -> rusqlite::Result<Option<StoredPlot>> {
    conn.prepare_cached("SELECT grid, mask, state, flags, record FROM plot_state WHERE plot_id = ?1")?
        .query_row([plot_id], |r| {
            Ok(StoredPlot {
                grid_json: r.get(0)?,
                mask: r.get(1)?,
                state: r.get(2)?,
                flags_json: r.get(3)?,
                record: r.get(4)?,
            })
        })
        .optional()
}

/// Counts of flags by kind and status, for summaries.
pub fn count_by_kind_status(flags: &[(i64, Flag)]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (_, f) in flags {
        *out.entry(f.kind.name().into()).or_default().entry(f.status.name().into()).or_default() += 1;
    }
    out
}
