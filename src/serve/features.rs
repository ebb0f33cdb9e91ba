//! OGC API - Features Part 1: Core and GeoJSON, over the store's `plots` and `flags` layers.
//!
//! Geometries are written in CRS84 (longitude, latitude), transformed from the store's analysis CRS as
//! the changefeed does ([`crate::export::changefeed::rfc7946_geometry`]). Feature ids are the layers'
//! row ids (`fid`): integers, as GDAL's OAPIF driver takes them, and the changefeed's ids for flags.
//! Every query is parameterised; the only SQL text built here is a fixed clause per known parameter.
//!
//! `bbox` selects by envelope: features whose envelope in the store's CRS meets the box (transformed to
//! that CRS, edges densified) are returned, as the layers' R-tree indexes answer it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gdal::spatial_ref::CoordTransform;
use rusqlite::OptionalExtension;
use rusqlite::types::Value as Sql;
use serde_json::{Value, json};

use super::{ApiError, Shared};
use crate::export::changefeed::rfc7946_geometry;
use crate::flags::{FlagKind, FlagStatus};
use crate::io::crs;
use crate::raster::Bounds;
use crate::store::reviews::Outcome;
use crate::store::{Store, gpkg};

/// The CRS every response is in.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
/// `limit` when a request gives none.
pub const DEFAULT_LIMIT: i64 = 10;
/// The largest `limit`; a larger one is served as this (OGC API Features' permission to clamp).
pub const MAX_LIMIT: i64 = 10_000;

/// Media types.
pub const JSON: &str = "application/json";
/// GeoJSON.
pub const GEOJSON: &str = "application/geo+json";

/// The conformance classes this server implements.
pub const CONFORMANCE: [&str; 3] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
];

/// The two collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// The registry as scanned.
    Plots,
    /// Flagged areas.
    Flags,
}

impl Collection {
    /// Both, in listing order.
    pub const ALL: [Collection; 2] = [Collection::Plots, Collection::Flags];

    /// Its id in paths (also its table name in the store).
    pub fn id(self) -> &'static str {
        match self {
            Collection::Plots => "plots",
            Collection::Flags => "flags",
        }
    }

    fn parse(id: &str) -> Result<Collection, ApiError> {
        Collection::ALL
            .into_iter()
            .find(|c| c.id() == id)
            .ok_or_else(|| ApiError::not_found("no such collection (there are: plots, flags)"))
    }

    fn title(self) -> &'static str {
        match self {
            Collection::Plots => "Registered plots",
            Collection::Flags => "Flags",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Collection::Plots => "The registry of contaminated plots as last scanned, with each plot's state.",
            Collection::Flags => {
                "Flagged changes (construction, earthworks, idle bare ground) with their evidence and latest review."
            }
        }
    }

    /// Query parameters its items take besides the core ones.
    pub fn filters(self) -> &'static [&'static str] {
        match self {
            Collection::Plots => &["plot_id", "category", "state"],
            Collection::Flags => &["kind", "status", "plot_id", "permitted", "review"],
        }
    }

    /// The date columns `datetime` compares with: (start, end) of a feature's time span.
    fn time_columns(self) -> (&'static str, &'static str) {
        match self {
            Collection::Plots => ("t.last_observed", "t.last_observed"),
            Collection::Flags => ("t.first_seen", "coalesce(t.last_seen, t.first_seen)"),
        }
    }

    fn select(self) -> &'static str {
        match self {
            Collection::Plots => {
                "SELECT t.fid, t.geom, t.plot_id, t.name, t.category, t.works_allowed, t.listed_on, t.observations,
                        t.last_observed, t.active_flags, t.state
                 FROM plots t"
            }
            Collection::Flags => {
                "SELECT t.fid, t.geom, t.flag_id, t.plot_id, t.plot_name, t.kind, t.status, t.first_seen, t.last_seen,
                        t.bare_since, t.idle_days, t.area_m2, t.confidence, t.permitted, t.evidence, t.scan_id,
                        t.engine_version, r.outcome, r.reviewer, r.reviewed_at, r.note
                 FROM flags t LEFT JOIN flag_reviews r
                   ON r.fid = (SELECT max(fid) FROM flag_reviews WHERE flag_id = t.flag_id)"
            }
        }
    }

    fn count(self) -> &'static str {
        match self {
            Collection::Plots => "SELECT count(*) FROM plots t",
            Collection::Flags => {
                "SELECT count(*) FROM flags t LEFT JOIN flag_reviews r
                   ON r.fid = (SELECT max(fid) FROM flag_reviews WHERE flag_id = t.flag_id)"
            }
        }
    }

    /// One row's properties.
    fn properties(self, r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
        Ok(match self {
            Collection::Plots => json!({
                "plot_id": r.get::<_, Option<String>>(2)?,
                "name": r.get::<_, Option<String>>(3)?,
                "category": r.get::<_, Option<String>>(4)?,
                "works_allowed": r.get::<_, Option<i64>>(5)?.map(|v| v != 0),
                "listed_on": r.get::<_, Option<String>>(6)?,
                "observations": r.get::<_, Option<i64>>(7)?,
                "last_observed": r.get::<_, Option<String>>(8)?,
                "active_flags": r.get::<_, Option<i64>>(9)?,
                "state": r.get::<_, Option<String>>(10)?,
            }),
            Collection::Flags => {
                let evidence: Option<String> = r.get(14)?;
                json!({
                    "flag_id": r.get::<_, String>(2)?,
                    "plot_id": r.get::<_, Option<String>>(3)?,
                    "plot_name": r.get::<_, Option<String>>(4)?,
                    "kind": r.get::<_, String>(5)?,
                    "status": r.get::<_, String>(6)?,
                    "first_seen": r.get::<_, Option<String>>(7)?,
                    "last_seen": r.get::<_, Option<String>>(8)?,
                    "bare_since": r.get::<_, Option<String>>(9)?,
                    "idle_days": r.get::<_, Option<i64>>(10)?,
                    "area_m2": r.get::<_, Option<f64>>(11)?,
                    "confidence": r.get::<_, Option<f64>>(12)?,
                    "permitted": r.get::<_, Option<i64>>(13)?.is_some_and(|v| v != 0),
                    "evidence": evidence.and_then(|e| serde_json::from_str::<Value>(&e).ok()),
                    "scan_id": r.get::<_, Option<String>>(15)?,
                    "engine_version": r.get::<_, Option<String>>(16)?,
                    "review": r.get::<_, Option<String>>(17)?,
                    "reviewer": r.get::<_, Option<String>>(18)?,
                    "reviewed_at": r.get::<_, Option<String>>(19)?,
                    "review_note": r.get::<_, Option<String>>(20)?,
                })
            }
        })
    }
}

/// Query parameters, each at most once, each one the endpoint knows (OGC API Features: an unknown
/// parameter is a 400, so a client's typo never silently returns everything).
fn parameters(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(format!("unreadable query string: {e}")))?;
    let mut out = BTreeMap::new();
    for (k, v) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown query parameter '{}' (this endpoint takes: {})",
                printable(&k),
                allowed.join(", ")
            )));
        }
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_request(format!("query parameter '{k}' given twice")));
        }
    }
    if let Some(f) = out.get("f") {
        if !matches!(f.as_str(), "json" | "geojson") {
            return Err(ApiError::bad_request(format!("f={}: this server writes JSON only (f=json)", printable(f))));
        }
    }
    Ok(out)
}

/// A client's text as it may appear in an error message: short, printable, never markup.
fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || "_-.:".contains(*c)).take(40).collect()
}

/// `application/json` or `application/geo+json` with the body.
fn answer(value: &Value, media_type: &'static str) -> Response {
    let mut response = value.to_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    response
}

fn link(href: String, rel: &str, media_type: &str, title: &str) -> Value {
    json!({ "href": href, "rel": rel, "type": media_type, "title": title })
}

/// `GET /`.
pub async fn landing(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    parameters(query, &["f"])?;
    let base = state.base_url(&headers);
    Ok(answer(
        &json!({
            "title": "jingtu",
            "description": "Contaminated plots under surveillance and the changes flagged on them, with the \
                            changefeed registry services pull and analysts' reviews.",
            "links": [
                link(format!("{base}/"), "self", JSON, "this document"),
                link(format!("{base}/api"), "service-desc", super::openapi::MEDIA_TYPE, "the API definition (OpenAPI 3.0)"),
                link(format!("{base}/conformance"), "conformance", JSON, "conformance classes"),
                link(format!("{base}/conformance"), "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON, "conformance classes"),
                link(format!("{base}/collections"), "data", JSON, "collections: plots, flags"),
                link(format!("{base}/collections"), "http://www.opengis.net/def/rel/ogc/1.0/data", JSON, "collections: plots, flags"),
                link(format!("{base}/changes?since=0"), "related", "application/x-ndjson", "the changefeed (jingtu export over HTTP)"),
            ]
        }),
        JSON,
    ))
}

/// `GET /conformance`.
pub async fn conformance(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Response, ApiError> {
    parameters(query, &["f"])?;
    Ok(answer(&json!({ "conformsTo": CONFORMANCE }), JSON))
}

/// A collection's description, with its extent read from the store.
fn describe(store: &Store, c: Collection, base: &str) -> Result<Value, ApiError> {
    let href = format!("{base}/collections/{}", c.id());
    let bbox = extent_crs84(store, c)?.map(|b| vec![vec![b.min_x, b.min_y, b.max_x, b.max_y]]);
    let (start, end) = c.time_columns();
    let interval: (Option<String>, Option<String>) = store
        .connection()
        .query_row(&format!("SELECT min({start}), max({end}) FROM {} t", c.id()), [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| ApiError::internal(format!("{}: {e}", store.path().display())))?;
    let mut extent = json!({});
    if let Some(bbox) = bbox {
        extent["spatial"] = json!({ "bbox": bbox, "crs": CRS84 });
    }
    if interval.0.is_some() || interval.1.is_some() {
        extent["temporal"] = json!({ "interval": [[interval.0, interval.1]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian" });
    }
    Ok(json!({
        "id": c.id(),
        "title": c.title(),
        "description": c.description(),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            link(href.clone(), "self", JSON, c.title()),
            link(format!("{href}/items"), "items", GEOJSON, "its features"),
        ]
    }))
}

/// `GET /collections`.
pub async fn collections(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    parameters(query, &["f"])?;
    let base = state.base_url(&headers);
    let body = state
        .read(move |store| {
            let collections: Vec<Value> =
                Collection::ALL.into_iter().map(|c| describe(store, c, &base)).collect::<Result<_, _>>()?;
            Ok(json!({
                "links": [link(format!("{base}/collections"), "self", JSON, "collections")],
                "collections": collections,
            }))
        })
        .await?;
    Ok(answer(&body, JSON))
}

/// `GET /collections/{collection_id}`.
pub async fn collection(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(collection_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let c = Collection::parse(&collection_id)?;
    parameters(query, &["f"])?;
    let base = state.base_url(&headers);
    let body = state.read(move |store| describe(store, c, &base)).await?;
    Ok(answer(&body, JSON))
}

/// The layer's extent (from `gpkg_contents`) in CRS84.
fn extent_crs84(store: &Store, c: Collection) -> Result<Option<Bounds>, ApiError> {
    let row: Option<[Option<f64>; 4]> = store
        .connection()
        .query_row("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?1", [c.id()], |r| {
            Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?])
        })
        .optional()
        .map_err(|e| ApiError::internal(format!("{}: {e}", store.path().display())))?;
    let Some([Some(min_x), Some(min_y), Some(max_x), Some(max_y)]) = row else { return Ok(None) };
    let (source, wgs84) = srs_pair(store)?;
    Ok(crs::transform_bounds(&Bounds { min_x, min_y, max_x, max_y }, &source, &wgs84))
}

/// The store's CRS and CRS84 (both longitude/easting first).
fn srs_pair(store: &Store) -> Result<(gdal::spatial_ref::SpatialRef, gdal::spatial_ref::SpatialRef), ApiError> {
    let frame = store.frame()?.ok_or_else(|| ApiError::internal(format!("{}: no scan yet", store.path().display())))?;
    let source = crs::srs_from_wkt(&frame.crs_wkt)
        .ok_or_else(|| ApiError::internal(format!("{}: analysis CRS unreadable", store.path().display())))?;
    let wgs84 = crs::srs_from_epsg(4326).ok_or_else(|| ApiError::internal("EPSG:4326 unknown to PROJ"))?;
    Ok((source, wgs84))
}

thread_local! {
    /// The transform to CRS84 of the store's CRS, made once per worker thread: PROJ takes milliseconds to
    /// set one up, more than a page of features takes to transform.
    static TO_CRS84: RefCell<Option<(String, CoordTransform)>> = const { RefCell::new(None) };
}

/// `wkb` in CRS84 as a GeoJSON geometry.
fn geometry_crs84(store: &Store, wkt: &str, blob: &[u8]) -> Result<Value, ApiError> {
    let Some((_, wkb)) = gpkg::decode(blob) else { return Ok(Value::Null) };
    TO_CRS84.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.as_ref().is_none_or(|(w, _)| w != wkt) {
            let (source, wgs84) = srs_pair(store)?;
            let t = CoordTransform::new(&source, &wgs84).map_err(|e| ApiError::internal(format!("transform: {e}")))?;
            *cached = Some((wkt.to_string(), t));
        }
        let (_, t) = cached.as_ref().ok_or_else(|| ApiError::internal("no transform"))?;
        let (kind, coordinates) =
            rfc7946_geometry(wkb, t).map_err(|e| ApiError::internal(format!("{}: {e}", store.path().display())))?;
        Ok(json!({ "type": kind, "coordinates": coordinates }))
    })
}

/// A `WHERE` clause being built: fixed SQL text with `?` placeholders, and the values.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    values: Vec<Sql>,
}

impl Filter {
    fn add(&mut self, clause: &str, values: impl IntoIterator<Item = Sql>) {
        self.clauses.push(clause.to_string());
        self.values.extend(values);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

/// `bbox`: four numbers (or six, of which the heights are ignored), CRS84, west <= east.
fn parse_bbox(text: &str) -> Result<Bounds, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "bbox: expected minLon,minLat,maxLon,maxLat in CRS84 degrees (west <= east, south <= north)",
        )
    };
    let n: Vec<f64> = text.split(',').map(|v| v.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let b = match n.len() {
        4 => Bounds { min_x: n[0], min_y: n[1], max_x: n[2], max_y: n[3] },
        6 => Bounds { min_x: n[0], min_y: n[1], max_x: n[3], max_y: n[4] },
        _ => return Err(bad()),
    };
    let ok = [b.min_x, b.min_y, b.max_x, b.max_y].iter().all(|v| v.is_finite())
        && b.min_x <= b.max_x
        && b.min_y <= b.max_y
        && (-180.0..=180.0).contains(&b.min_x)
        && (-180.0..=180.0).contains(&b.max_x)
        && (-90.0..=90.0).contains(&b.min_y)
        && (-90.0..=90.0).contains(&b.max_y);
    if ok { Ok(b) } else { Err(bad()) }
}

/// One end of a `datetime` interval: a date or an RFC 3339 date-time (its date is what flags record);
/// `..` or nothing for an open end.
fn parse_instant(text: &str) -> Result<Option<String>, ApiError> {
    if text.is_empty() || text == ".." {
        return Ok(None);
    }
    let bad = || {
        ApiError::bad_request(
            "datetime: expected a date (2026-05-01), an RFC 3339 date-time, or an interval A/B with .. for an open end",
        )
    };
    let date = if text.len() == 10 {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?
    } else {
        chrono::DateTime::parse_from_rfc3339(text).map_err(|_| bad())?.date_naive()
    };
    Ok(Some(date.to_string()))
}

fn parse_datetime(text: &str) -> Result<(Option<String>, Option<String>), ApiError> {
    match text.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (parse_instant(a)?, parse_instant(b)?);
            if let (Some(x), Some(y)) = (&a, &b) {
                if x > y {
                    return Err(ApiError::bad_request("datetime: the interval ends before it starts"));
                }
            }
            Ok((a, b))
        }
        None => {
            let t = parse_instant(text)?.ok_or_else(|| ApiError::bad_request("datetime: '..' alone is not a time"))?;
            Ok((Some(t.clone()), Some(t)))
        }
    }
}

/// The filter of an items request, every value checked before any SQL runs.
fn build_filter(store: &Store, c: Collection, p: &BTreeMap<String, String>) -> Result<Filter, ApiError> {
    let mut f = Filter::default();
    if let Some(text) = p.get("bbox") {
        let wanted = parse_bbox(text)?;
        match extent_crs84(store, c)? {
            Some(e)
                if wanted.max_x >= e.min_x
                    && wanted.min_x <= e.max_x
                    && wanted.max_y >= e.min_y
                    && wanted.min_y <= e.max_y =>
            {
                // Clipped to the layer's extent first: a projected CRS cannot take a box the size of the
                // world, and nothing outside the extent can match anyway.
                let clipped = Bounds {
                    min_x: wanted.min_x.max(e.min_x),
                    min_y: wanted.min_y.max(e.min_y),
                    max_x: wanted.max_x.min(e.max_x),
                    max_y: wanted.max_y.min(e.max_y),
                };
                let (source, wgs84) = srs_pair(store)?;
                let b = crs::transform_bounds(&clipped, &wgs84, &source)
                    .ok_or_else(|| ApiError::internal("bbox: transform to the store's CRS failed"))?;
                // Clipping to an extent itself transformed from the store's CRS loses a little at its
                // edges; a metre of slack keeps features on the edge.
                f.add(
                    &format!(
                        "t.fid IN (SELECT id FROM rtree_{}_geom WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)",
                        c.id()
                    ),
                    [b.min_x - 1.0, b.max_x + 1.0, b.min_y - 1.0, b.max_y + 1.0].map(Sql::Real),
                );
            }
            _ => f.add("0", []),
        }
    }
    if let Some(text) = p.get("datetime") {
        let (start, end) = parse_datetime(text)?;
        let (start_col, end_col) = c.time_columns();
        if let Some(s) = start {
            f.add(&format!("{end_col} >= ?"), [Sql::Text(s)]);
        }
        if let Some(e) = end {
            f.add(&format!("{start_col} <= ?"), [Sql::Text(e)]);
        }
    }
    for (name, value) in p {
        let column = match (c, name.as_str()) {
            (_, "plot_id") => "t.plot_id = ?",
            (Collection::Plots, "category") => "t.category = ?",
            (Collection::Plots, "state") => "t.state = ?",
            (Collection::Flags, "kind") => {
                FlagKind::parse(value).ok_or_else(|| {
                    ApiError::bad_request("kind: one of construction, earthworks, idle_bare, vegetation_loss")
                })?;
                "t.kind = ?"
            }
            (Collection::Flags, "status") => {
                FlagStatus::parse(value)
                    .ok_or_else(|| ApiError::bad_request("status: one of new, ongoing, resolved"))?;
                "t.status = ?"
            }
            (Collection::Flags, "permitted") => {
                let v = match value.as_str() {
                    "true" | "1" => 1,
                    "false" | "0" => 0,
                    _ => return Err(ApiError::bad_request("permitted: true or false")),
                };
                f.add("coalesce(t.permitted, 0) = ?", [Sql::Integer(v)]);
                continue;
            }
            (Collection::Flags, "review") => {
                if value == "none" {
                    f.add("r.outcome IS NULL", []);
                    continue;
                }
                Outcome::parse(value).ok_or_else(|| {
                    ApiError::bad_request("review: one of confirmed, false_alarm, permitted, remediated, none")
                })?;
                "r.outcome = ?"
            }
            _ => continue,
        };
        f.add(column, [Sql::Text(value.clone())]);
    }
    Ok(f)
}

fn parse_count(p: &BTreeMap<String, String>, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<i64>().ok().filter(|n| if name == "limit" { *n >= 1 } else { *n >= 0 }).ok_or_else(|| {
            ApiError::bad_request(if name == "limit" {
                format!("limit: an integer from 1 to {MAX_LIMIT}")
            } else {
                format!("{name}: a non-negative integer")
            })
        }),
    }
}

/// Percent-encodes a path segment (as [`encode`]).
pub fn encode_path(s: &str) -> String {
    encode(s)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn items_href(base: &str, c: Collection, p: &BTreeMap<String, String>, limit: i64, offset: i64) -> String {
    let mut q: Vec<String> = p
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "limit" | "offset"))
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    q.push(format!("limit={limit}"));
    if offset > 0 {
        q.push(format!("offset={offset}"));
    }
    format!("{base}/collections/{}/items?{}", c.id(), q.join("&"))
}

/// `GET /collections/{collection_id}/items`.
pub async fn items(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(collection_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let c = Collection::parse(&collection_id)?;
    let mut allowed = vec!["f", "limit", "offset", "bbox", "datetime"];
    allowed.extend(c.filters());
    let p = parameters(query, &allowed)?;
    let limit = parse_count(&p, "limit", DEFAULT_LIMIT)?.min(MAX_LIMIT);
    let offset = parse_count(&p, "offset", 0)?;
    let base = state.base_url(&headers);
    let body = state
        .read(move |store| {
            let filter = build_filter(store, c, &p)?;
            let fail = |e: rusqlite::Error| ApiError::internal(format!("{}: {e}", store.path().display()));
            let matched: i64 = store
                .connection()
                .query_row(&format!("{}{}", c.count(), filter.sql()), rusqlite::params_from_iter(&filter.values), |r| {
                    r.get(0)
                })
                .map_err(fail)?;
            let wkt = store.frame()?.map(|f| f.crs_wkt).unwrap_or_default();
            let mut values = filter.values.clone();
            values.extend([Sql::Integer(limit), Sql::Integer(offset)]);
            let mut stmt = store
                .connection()
                .prepare(&format!("{}{} ORDER BY t.fid LIMIT ? OFFSET ?", c.select(), filter.sql()))
                .map_err(fail)?;
            let rows: Vec<(i64, Option<Vec<u8>>, Value)> = stmt
                .query_map(rusqlite::params_from_iter(&values), |r| Ok((r.get(0)?, r.get(1)?, c.properties(r)?)))
                .map_err(fail)?
                .collect::<rusqlite::Result<_>>()
                .map_err(fail)?;
            let features: Vec<Value> = rows
                .into_iter()
                .map(|(fid, blob, properties)| {
                    let geometry = match blob {
                        Some(b) => geometry_crs84(store, &wkt, &b)?,
                        None => Value::Null,
                    };
                    Ok(json!({ "type": "Feature", "id": fid, "geometry": geometry, "properties": properties }))
                })
                .collect::<Result<_, ApiError>>()?;
            let returned = features.len() as i64;
            let mut links = vec![
                link(items_href(&base, c, &p, limit, offset), "self", GEOJSON, "this page"),
                link(format!("{base}/collections/{}", c.id()), "collection", JSON, c.title()),
            ];
            if offset + returned < matched {
                links.push(link(items_href(&base, c, &p, limit, offset + limit), "next", GEOJSON, "next page"));
            }
            if offset > 0 {
                links.push(link(
                    items_href(&base, c, &p, limit, (offset - limit).max(0)),
                    "prev",
                    GEOJSON,
                    "previous page",
                ));
            }
            Ok(json!({
                "type": "FeatureCollection",
                "timeStamp": crate::store::gpkg_datetime(chrono::Utc::now()),
                "numberMatched": matched,
                "numberReturned": returned,
                "features": features,
                "links": links,
            }))
        })
        .await?;
    Ok(answer(&body, GEOJSON))
}

/// `GET /collections/{collection_id}/items/{feature_id}`: the feature whose `fid` it is.
pub async fn item(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((collection_id, feature_id)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let c = Collection::parse(&collection_id)?;
    parameters(query, &["f"])?;
    let fid: i64 = feature_id.parse().map_err(|_| ApiError::not_found("no such feature (ids are integers)"))?;
    let base = state.base_url(&headers);
    let body = state
        .read(move |store| {
            let fail = |e: rusqlite::Error| ApiError::internal(format!("{}: {e}", store.path().display()));
            let row: Option<(Option<Vec<u8>>, Value)> = store
                .connection()
                .query_row(&format!("{} WHERE t.fid = ?1", c.select()), [fid], |r| Ok((r.get(1)?, c.properties(r)?)))
                .optional()
                .map_err(fail)?;
            let (blob, properties) = row.ok_or_else(|| ApiError::not_found("no such feature"))?;
            let wkt = store.frame()?.map(|f| f.crs_wkt).unwrap_or_default();
            let geometry = match blob {
                Some(b) => geometry_crs84(store, &wkt, &b)?,
                None => Value::Null,
            };
            let href = format!("{base}/collections/{}", c.id());
            Ok(json!({
                "type": "Feature",
                "id": fid,
                "geometry": geometry,
                "properties": properties,
                "links": [
                    link(format!("{href}/items/{fid}"), "self", GEOJSON, "this feature"),
                    link(href, "collection", JSON, c.title()),
                ],
            }))
        })
        .await?;
    Ok(answer(&body, GEOJSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_before_any_query() {
        assert!(parse_bbox("120,32,121,33").is_ok());
        assert!(parse_bbox("120,32,0,121,33,10").is_ok());
        for bad in ["", "1,2,3", "121,32,120,33", "a,b,c,d", "0,-91,1,0", "NaN,0,1,1"] {
            assert!(parse_bbox(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_datetime("2026-05-01").unwrap(), (Some("2026-05-01".into()), Some("2026-05-01".into())));
        assert_eq!(parse_datetime("../2026-05-01T10:00:00Z").unwrap(), (None, Some("2026-05-01".into())));
        assert_eq!(parse_datetime("2026-05-01/").unwrap(), (Some("2026-05-01".into()), None));
        for bad in ["..", "yesterday", "2026-13-01", "2026-05-02/2026-05-01", "' OR 1=1 --"] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(printable("<script>x"), "scriptx");
    }
}
