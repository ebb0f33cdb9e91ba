//! Issue 16: `jingtu serve`, tested with real clients against the real binary on a demo store: reqwest
//! for OGC API - Features Part 1 Core and GeoJSON requirements, the changefeed and reviews; GDAL's OAPIF
//! driver (ogrinfo, ogr2ogr); curl for TLS and slow clients. Every test serves its own copy of one demo
//! store (scanned once per test binary), so the tests that write (reviews) do not disturb the others.

use crate::support as common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// The demo area and a store scanned over its first months (`half`) and over all of them (`full`).
struct Fixture {
    dir: PathBuf,
    area: jingtu::synth::area::DemoArea,
    half: PathBuf,
    full: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve_api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let area = common::demo_area(&dir);
        let half = dir.join("half.gpkg");
        let as_of = area.truth.acquisitions[area.truth.acquisitions.len() - 7].1.to_string();
        common::scan(&area.plots, &area.stac, &half, &["-q", "--no-report", "--as-of", &as_of]).expect_code(0, "scan");
        let full = dir.join("full.gpkg");
        std::fs::copy(&half, &full).unwrap();
        common::scan(&area.plots, &area.stac, &full, &["-q", "--no-report"]).expect_code(0, "scan");
        Fixture { dir, area, half, full }
    })
}

/// A copy of a fixture store in a folder of its own.
fn copy_store(from: &Path, name: &str) -> PathBuf {
    let dir = fixture().dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join("store.gpkg");
    std::fs::copy(from, &to).unwrap();
    to
}

fn token(store: &Path, scope: &str, name: &str) -> String {
    let run = common::jingtu(["token", "create", "--store", store.to_str().unwrap(), "--scope", scope, "--name", name]);
    run.expect_code(0, "token create");
    run.stdout.trim().to_string()
}

/// A running `jingtu serve`, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(store: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .args(["serve", "--store", store.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("JINGTU_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("jingtu serve starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the server's stderr for its address, then keeps draining it so the server never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find(" at http") {
                let _ = tx.send(line[at + 4..].split_whitespace().next().unwrap_or_default().to_string());
            }
            eprintln!("server: {line}");
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(120)).expect("jingtu serve says where it listens");
    Server { child, base }
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn get(server: &Server, path: &str, token: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = client().get(format!("{}{path}", server.base));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().unwrap())
}

fn get_json(server: &Server, path: &str, token: &str) -> Value {
    let (status, headers, body) = get(server, path, Some(token));
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    let media = headers.get("content-type").unwrap().to_str().unwrap();
    assert!(media.contains("json"), "GET {path}: {media}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

fn count(store: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(store).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every table of a store, each as its sorted rows: what "nothing changed" compares.
fn store_content(store: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(store).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            (t, rows)
        })
        .collect()
}

fn link<'a>(doc: &'a Value, rel: &str) -> Option<&'a str> {
    doc["links"].as_array()?.iter().find(|l| l["rel"] == rel).and_then(|l| l["href"].as_str())
}

/// The path and query of a link the server wrote (absolute, on this server).
fn path_of<'a>(server: &Server, href: &'a str) -> &'a str {
    href.strip_prefix(&server.base).unwrap_or_else(|| panic!("link {href} is not on {}", server.base))
}

#[test]
fn ogc_api_features_core_and_geojson_requirements() {
    let store = copy_store(&fixture().full, "core");
    let read = token(&store, "read", "reader");
    let server = serve(&store, &[]);
    let n_flags = count(&store, "SELECT count(*) FROM flags");
    let n_plots = count(&store, "SELECT count(*) FROM plots");
    assert!(n_flags > 10, "the demo has flags: {n_flags}");

    // /req/core/root-success: the landing page is public and links self, service-desc, conformance, data.
    let (status, _, body) = get(&server, "/", None);
    assert_eq!(status, StatusCode::OK);
    let landing: Value = serde_json::from_str(&body).unwrap();
    for rel in ["self", "service-desc", "conformance", "data"] {
        assert!(link(&landing, rel).is_some(), "landing page links rel={rel}: {landing}");
    }
    // /req/oas30/oas-impl: the service description is an OpenAPI 3.0 document naming every path.
    let (status, headers, body) = get(&server, path_of(&server, link(&landing, "service-desc").unwrap()), Some(&read));
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/vnd.oai.openapi+json"));
    let api: Value = serde_json::from_str(&body).unwrap();
    assert!(api["openapi"].as_str().unwrap().starts_with("3.0"));
    for p in [
        "/",
        "/conformance",
        "/collections",
        "/collections/flags/items",
        "/collections/flags/items/{featureId}",
        "/changes",
    ] {
        assert!(api["paths"].get(p).is_some(), "OpenAPI lists {p}");
    }
    // /req/core/conformance-success.
    let conf = get_json(&server, "/conformance", &read);
    for class in ["conf/core", "conf/geojson", "conf/oas30"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/{class}");
        assert!(conf["conformsTo"].as_array().unwrap().iter().any(|c| c == &json!(uri)), "{uri} in {conf}");
    }
    // /req/core/fc-md-success and fc-md-extent: both collections, with an extent in CRS84 and items links.
    let collections = get_json(&server, "/collections", &read);
    let ids: Vec<&str> =
        collections["collections"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["plots", "flags"]);
    for c in collections["collections"].as_array().unwrap() {
        let bbox = &c["extent"]["spatial"]["bbox"][0];
        let (w, s, e, n) = (
            bbox[0].as_f64().unwrap(),
            bbox[1].as_f64().unwrap(),
            bbox[2].as_f64().unwrap(),
            bbox[3].as_f64().unwrap(),
        );
        assert!((119.0..123.0).contains(&w) && w < e && (31.0..34.0).contains(&s) && s < n, "CRS84 extent: {bbox}");
        assert!(link(c, "items").is_some());
        let one = get_json(&server, &format!("/collections/{}", c["id"].as_str().unwrap()), &read);
        assert_eq!(one["id"], c["id"]);
    }
    assert!(collections["collections"][1]["extent"]["temporal"]["interval"][0][0].is_string());

    // /req/core/fc-response, /req/geojson/content: a FeatureCollection, numberMatched the store's count,
    // the default limit of 10, and next links that page through every feature exactly once.
    let page = get_json(&server, "/collections/flags/items", &read);
    assert_eq!(page["type"], "FeatureCollection");
    assert_eq!(page["numberMatched"], json!(n_flags));
    assert_eq!(page["numberReturned"], json!(10));
    assert_eq!(page["features"].as_array().unwrap().len(), 10);
    let mut seen = std::collections::BTreeSet::new();
    let mut href = format!("{}/collections/flags/items?limit=7", server.base);
    let mut pages = 0;
    loop {
        let page = get_json(&server, path_of(&server, &href), &read);
        assert!(link(&page, "self").is_some());
        for f in page["features"].as_array().unwrap() {
            assert_eq!(f["type"], "Feature");
            assert!(seen.insert(f["id"].as_i64().unwrap()), "feature {} twice", f["id"]);
            let ring = &f["geometry"]["coordinates"][0];
            let (lon, lat) = (ring[0][0].as_f64().unwrap(), ring[0][1].as_f64().unwrap());
            assert!((119.0..123.0).contains(&lon) && (31.0..34.0).contains(&lat), "CRS84 lon/lat: {lon},{lat}");
            assert!(common::clients::signed_area2(ring.as_array().unwrap()) > 0.0, "RFC 7946 winding");
        }
        pages += 1;
        if pages > 1 {
            assert!(link(&page, "prev").is_some(), "page {pages} links back");
        }
        match link(&page, "next") {
            Some(next) => href = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, n_flags, "paging reaches every flag once");

    // /req/core/fc-limit-*: limit out of range or not a number is a 400; above the maximum it is clamped.
    for bad in ["limit=0", "limit=-1", "limit=ten", "offset=-3", "limit=1&limit=2"] {
        let (status, _, body) = get(&server, &format!("/collections/flags/items?{bad}"), Some(&read));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["description"].is_string());
    }
    let all = get_json(&server, "/collections/plots/items?limit=100000", &read);
    assert_eq!(all["numberReturned"], json!(n_plots), "a limit above 10000 is served as 10000 (demo: all plots)");
    // /req/core/query-param-unknown: an unknown parameter is a 400.
    for bad in ["colour=red", "bbox-crs=EPSG:4326", "kind=construction&nonsense=1", "f=xml"] {
        let (status, _, body) = get(&server, &format!("/collections/flags/items?{bad}"), Some(&read));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _, _) = get(&server, "/collections/plots/items?kind=construction", Some(&read));
    assert_eq!(status, StatusCode::BAD_REQUEST, "plots take no flag filters");

    // /req/core/fc-bbox-response: a box around one flag holds it; a box elsewhere holds nothing;
    // a bad box is a 400.
    let first = &get_json(&server, "/collections/flags/items?limit=1", &read)["features"][0];
    let ring = first["geometry"]["coordinates"][0].as_array().unwrap();
    let lons: Vec<f64> = ring.iter().map(|p| p[0].as_f64().unwrap()).collect();
    let lats: Vec<f64> = ring.iter().map(|p| p[1].as_f64().unwrap()).collect();
    let bbox = format!(
        "{},{},{},{}",
        lons.iter().cloned().fold(f64::MAX, f64::min),
        lats.iter().cloned().fold(f64::MAX, f64::min),
        lons.iter().cloned().fold(f64::MIN, f64::max),
        lats.iter().cloned().fold(f64::MIN, f64::max)
    );
    let inside = get_json(&server, &format!("/collections/flags/items?limit=1000&bbox={bbox}"), &read);
    let matched = inside["numberMatched"].as_i64().unwrap();
    assert!(matched >= 1 && matched < n_flags, "bbox of one flag matches it and not all: {matched}");
    assert!(inside["features"].as_array().unwrap().iter().any(|f| f["id"] == first["id"]));
    let away = get_json(&server, "/collections/flags/items?bbox=10,10,11,11", &read);
    assert_eq!(away["numberMatched"], json!(0));
    let world = get_json(&server, "/collections/flags/items?bbox=-180,-90,180,90", &read);
    assert_eq!(world["numberMatched"], json!(n_flags));
    for bad in ["1,2,3", "121,32,120,33", "a,b,c,d"] {
        let (status, _, _) = get(&server, &format!("/collections/flags/items?bbox={bad}"), Some(&read));
        assert_eq!(status, StatusCode::BAD_REQUEST, "bbox={bad}");
    }
    // /req/core/fc-time-response.
    let future = get_json(&server, "/collections/flags/items?datetime=2100-01-01/..", &read);
    assert_eq!(future["numberMatched"], json!(0));
    let always = get_json(&server, "/collections/flags/items?datetime=../2100-01-01", &read);
    assert_eq!(always["numberMatched"], json!(n_flags));
    let (status, _, _) = get(&server, "/collections/flags/items?datetime=yesterday", Some(&read));
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // /req/core/f-success and 404s.
    let id = first["id"].as_i64().unwrap();
    let one = get_json(&server, &format!("/collections/flags/items/{id}"), &read);
    assert_eq!(one["type"], "Feature");
    assert_eq!(one["properties"]["flag_id"], first["properties"]["flag_id"]);
    assert!(link(&one, "self").is_some() && link(&one, "collection").is_some());
    for missing in [
        "/collections/flags/items/999999",
        "/collections/flags/items/abc",
        "/collections/nope/items",
        "/collections/nope",
        "/nowhere",
    ] {
        let (status, _, _) = get(&server, missing, Some(&read));
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }

    // The flags' own filters give what the store's table holds.
    for (query, sql) in [
        ("kind=construction", "SELECT count(*) FROM flags WHERE kind = 'construction'"),
        (
            "kind=idle_bare&status=resolved",
            "SELECT count(*) FROM flags WHERE kind = 'idle_bare' AND status = 'resolved'",
        ),
        ("permitted=true", "SELECT count(*) FROM flags WHERE permitted = 1"),
        ("permitted=false", "SELECT count(*) FROM flags WHERE coalesce(permitted, 0) = 0"),
        ("review=none", "SELECT count(*) FROM flags"),
        ("review=confirmed", "SELECT 0"),
    ] {
        let page = get_json(&server, &format!("/collections/flags/items?{query}"), &read);
        assert_eq!(page["numberMatched"], json!(count(&store, sql)), "{query}");
    }
    let plot = first["properties"]["plot_id"].as_str().unwrap();
    let by_plot = get_json(&server, &format!("/collections/flags/items?plot_id={plot}"), &read);
    assert_eq!(
        by_plot["numberMatched"],
        json!(count(&store, &format!("SELECT count(*) FROM flags WHERE plot_id = '{plot}'")))
    );
    for bad in ["kind=castle", "status=maybe", "permitted=perhaps", "review=lgtm"] {
        let (status, _, _) = get(&server, &format!("/collections/flags/items?{bad}"), Some(&read));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn gdal_oapif_driver_lists_both_collections_and_reads_every_feature() {
    if common::clients::gdal_tools().is_none() {
        return;
    }
    let store = copy_store(&fixture().full, "oapif");
    let read = token(&store, "read", "gdal");
    let server = serve(&store, &[]);
    let header = format!("Authorization: Bearer {read}");
    let url = format!("OAPIF:{}", server.base);
    let ogr = |args: &[&str]| {
        common::clients::output_of(Command::new("ogrinfo").args(["--config", "GDAL_HTTP_HEADERS", &header]).args(args))
    };
    let summary = ogr(&["-ro", "-so", "-al", &url]);
    assert!(summary.contains("Layer name: plots") && summary.contains("Layer name: flags"), "{summary}");
    for (layer, table) in [("flags", "flags"), ("plots", "plots")] {
        let text = ogr(&["-ro", "-al", "-q", &url, layer]);
        let read_back = text.lines().filter(|l| l.starts_with("OGRFeature(")).count() as i64;
        assert_eq!(
            read_back,
            count(&store, &format!("SELECT count(*) FROM {table}")),
            "ogrinfo reads every {layer} feature"
        );
    }
    // And ogr2ogr copies the flags with their attributes.
    let out = store.with_file_name("flags-from-api.gpkg");
    common::clients::output_of(
        Command::new("ogr2ogr")
            .args(["--config", "GDAL_HTTP_HEADERS", &header, "-f", "GPKG"])
            .arg(&out)
            .args([&url, "flags"]),
    );
    let copied = common::clients::output_of(Command::new("ogrinfo").args(["-ro", "-so", "-al"]).arg(&out));
    assert!(copied.contains(&format!("Feature Count: {}", count(&store, "SELECT count(*) FROM flags"))), "{copied}");
    assert!(copied.contains("flag_id") && copied.contains("kind") && copied.contains("WGS 84"), "{copied}");
    // Without the token, GDAL cannot open it.
    let out = Command::new("ogrinfo").args(["-ro", "-so", &url]).output().unwrap();
    assert!(!out.status.success(), "OAPIF without a token fails");
}

#[test]
fn the_changefeed_over_http_is_jingtu_export() {
    let store = copy_store(&fixture().full, "changes");
    let read = token(&store, "read", "registry");
    let server = serve(&store, &[]);
    let s = store.to_str().unwrap();
    let exported = common::jingtu(["export", "--store", s, "--since", "0"]);
    exported.expect_code(0, "export");
    let (status, headers, body) = get(&server, "/changes?since=0", Some(&read));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, exported.stdout, "the same records and cursor as jingtu export");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let cursor = headers["jingtu-cursor"].to_str().unwrap().to_string();
    assert!(body.trim_end().ends_with(&format!("{{\"cursor\":\"{cursor}\"}}")), "{cursor}");
    assert!(headers.get("retry-after").is_none());
    let geojson = common::jingtu(["export", "--store", s, "--since", "0", "--format", "geojson"]);
    let (_, headers, body) = get(&server, "/changes?since=jt1:0&f=geojson", Some(&read));
    assert_eq!(headers["content-type"], "application/geo+json");
    assert_eq!(body, geojson.stdout);
    // Up to date: nothing, the same cursor, and when to ask again.
    let (status, headers, body) = get(&server, &format!("/changes?since={cursor}"), Some(&read));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.trim(), format!("{{\"cursor\":\"{cursor}\"}}"));
    assert_eq!(headers["jingtu-cursor"].to_str().unwrap(), cursor);
    assert!(headers["retry-after"].to_str().unwrap().parse::<u32>().unwrap() > 0);
    for bad in ["since=yesterday", "since=", "since=-1", "since=0&since=1", "cursor=0", "f=xml"] {
        let (status, _, _) = get(&server, &format!("/changes?{bad}"), Some(&read));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn reviews_are_recorded_shown_in_flags_and_published_in_the_changefeed() {
    let store = copy_store(&fixture().full, "reviews");
    let read = token(&store, "read", "reader");
    let review = token(&store, "review", "analyst");
    let server = serve(&store, &[]);
    let (_, headers, _) = get(&server, "/changes?since=0", Some(&read));
    let cursor = headers["jingtu-cursor"].to_str().unwrap().to_string();
    let flag = get_json(&server, "/collections/flags/items?limit=1", &read)["features"][0].clone();
    let flag_id = flag["properties"]["flag_id"].as_str().unwrap().to_string();
    let response = client()
        .post(format!("{}/flags/{flag_id}/reviews", server.base))
        .bearer_auth(&review)
        .json(&json!({ "outcome": "false_alarm", "note": "a ploughed field", "reviewer": "Li Wei" }))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let recorded: Value = response.json().unwrap();
    assert_eq!(recorded["outcome"], "false_alarm");
    assert_eq!(recorded["recorded_by"], "token:analyst");

    let reviewed = get_json(&server, "/collections/flags/items?review=false_alarm", &read);
    assert_eq!(reviewed["numberMatched"], json!(1));
    assert_eq!(reviewed["features"][0]["properties"]["review_note"], "a ploughed field");
    assert_eq!(reviewed["features"][0]["properties"]["reviewer"], "Li Wei");
    let feed = get(&server, &format!("/changes?since={cursor}"), Some(&read)).2;
    let lines: Vec<Value> = feed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "the reviewed flag, then the cursor: {feed}");
    assert_eq!(lines[0]["properties"]["op"], "review");
    assert_eq!(lines[0]["properties"]["flag_id"], json!(flag_id));
    assert_eq!(lines[0]["properties"]["review"]["outcome"], "false_alarm");

    // Offline, the same: jingtu review, then the flag's latest review is the new one.
    let s = store.to_str().unwrap();
    common::jingtu([
        "review",
        "--store",
        s,
        &flag_id,
        "--outcome",
        "confirmed",
        "--reviewer",
        "Wang Fang",
        "--note",
        "a slab poured",
    ])
    .expect_code(0, "jingtu review");
    let confirmed = get_json(&server, "/collections/flags/items?review=confirmed", &read);
    assert_eq!(confirmed["features"][0]["properties"]["flag_id"], json!(flag_id));
    let history = get_json(&server, &format!("/flags/{flag_id}/reviews"), &read);
    let outcomes: Vec<&str> =
        history["reviews"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["false_alarm", "confirmed"], "append-only, oldest first");
    let exported = common::jingtu(["export", "--store", s, "--since", &cursor]);
    assert!(
        exported.stdout.contains("\"op\":\"review\"") && exported.stdout.contains("Wang Fang"),
        "{}",
        exported.stdout
    );
    // The report shows the checks, latest first.
    let html = store.with_file_name("report.html");
    let report = common::jingtu(["report", "--store", s, "--out", html.to_str().unwrap(), "-q"]);
    assert!(report.code == 0 || report.code == 1, "report: {}", report.stderr);
    let text = std::fs::read_to_string(&html).unwrap();
    let (confirmed_at, false_alarm_at) = (
        text.find("field check: <b>confirmed</b> by Wang Fang").expect("the report shows the confirmation"),
        text.find("field check: <b>false alarm</b> by Li Wei").expect("and the earlier false alarm"),
    );
    assert!(confirmed_at < false_alarm_at, "latest first");
    // Bad reviews change nothing.
    let before = store_content(&store);
    for (body, status) in [
        (json!({ "outcome": "maybe", "reviewer": "x" }), StatusCode::BAD_REQUEST),
        (json!({ "outcome": "confirmed", "reviewer": "" }), StatusCode::BAD_REQUEST),
        (json!({ "outcome": "confirmed", "reviewer": "x", "admin": true }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "outcome": "confirmed" }), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = client()
            .post(format!("{}/flags/{flag_id}/reviews", server.base))
            .bearer_auth(&review)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
    }
    let r = client()
        .post(format!("{}/flags/no-such-flag/reviews", server.base))
        .bearer_auth(&review)
        .json(&json!({ "outcome": "confirmed", "reviewer": "x" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let bad = common::jingtu(["review", "--store", s, "no-such-flag", "--outcome", "confirmed", "--reviewer", "x"]);
    bad.expect_code(2, "review of a missing flag");
    assert!(bad.stderr.contains("no-such-flag") && bad.stderr.contains("store.gpkg"), "{}", bad.stderr);
    assert_eq!(store_content(&store), before, "refused reviews write nothing");
}

#[test]
fn access_control_and_hostile_requests_leave_the_store_unchanged() {
    let store = copy_store(&fixture().full, "security");
    let read = token(&store, "read", "reader");
    let review = token(&store, "review", "analyst");
    let revoked = token(&store, "read", "former");
    let s = store.to_str().unwrap();
    common::jingtu(["token", "revoke", "--store", s, "--name", "former"]).expect_code(0, "revoke");
    let listed = common::jingtu(["token", "list", "--store", s]);
    assert!(listed.stdout.contains("former") && !listed.stdout.contains(&revoked), "{}", listed.stdout);
    let stored: String = rusqlite::Connection::open(&store)
        .unwrap()
        .query_row("SELECT group_concat(sha256) FROM api_tokens", [], |r| r.get(0))
        .unwrap();
    assert!(!stored.contains(&read[3..]) && !stored.contains(&review[3..]), "only hashes are kept");
    let server = serve(&store, &["--request-timeout", "3"]);
    let before = store_content(&store);
    let flag_id: String = rusqlite::Connection::open(&store)
        .unwrap()
        .query_row("SELECT flag_id FROM flags ORDER BY fid LIMIT 1", [], |r| r.get(0))
        .unwrap();

    // Tokens.
    assert_eq!(get(&server, "/", None).0, StatusCode::OK, "the landing page is public");
    for path in ["/collections", "/collections/flags/items", "/changes?since=0", "/api", "/conformance"] {
        let (status, headers, _) = get(&server, path, None);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without a token");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        assert_eq!(get(&server, path, Some("jt_wrong")).0, StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        assert_eq!(get(&server, path, Some(&revoked)).0, StatusCode::UNAUTHORIZED, "{path} with a revoked token");
        assert_eq!(get(&server, path, Some(&read)).0, StatusCode::OK, "{path} with a read token");
    }
    let basic = client().get(format!("{}/collections", server.base)).basic_auth("a", Some("b")).send().unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let post = |token: Option<&str>, body: String| {
        let mut r = client()
            .post(format!("{}/flags/{flag_id}/reviews", server.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap().status()
    };
    let good = json!({ "outcome": "confirmed", "reviewer": "x" }).to_string();
    assert_eq!(post(None, good.clone()), StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some("jt_wrong"), good.clone()), StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some(&revoked), good.clone()), StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some(&read), good.clone()), StatusCode::FORBIDDEN, "a read token cannot review");
    // Oversized bodies.
    let huge = json!({ "outcome": "confirmed", "reviewer": "x", "note": "x".repeat(100_000) }).to_string();
    assert_eq!(post(Some(&review), huge), StatusCode::PAYLOAD_TOO_LARGE);
    let long_note = json!({ "outcome": "confirmed", "reviewer": "x", "note": "x".repeat(5_000) }).to_string();
    assert_eq!(post(Some(&review), long_note), StatusCode::BAD_REQUEST, "a note over 4000 characters");

    // SQL-ish and path-traversal parameters: refused or matching nothing, and nothing leaks.
    for path in [
        "/collections/flags/items?plot_id=%27%20OR%201%3D1%20--",
        "/collections/flags/items?plot_id=x%27%3B%20DROP%20TABLE%20flags%3B%20--",
        "/collections/flags/items?kind=construction%27%20OR%20%271%27%3D%271",
        "/collections/flags/items?limit=1%3BDELETE%20FROM%20flags",
        "/collections/flags/items?bbox=1,2,3,4)%20OR%20(1=1",
        "/collections/flags/items/1%20OR%201=1",
        "/collections/..%2f..%2fetc%2fpasswd/items",
        "/collections/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/collections/flags/items/..%2f..%2f..%2fetc%2fpasswd",
        "/..%2f..%2fetc%2fpasswd",
        "/static/../../etc/passwd",
        "/changes?since=0%20OR%201=1",
        "/collections/flags/items?sqlite_master=1",
    ] {
        let (status, _, body) = get(&server, path, Some(&read));
        let ok = status == StatusCode::BAD_REQUEST
            || status == StatusCode::NOT_FOUND
            || (status == StatusCode::OK && serde_json::from_str::<Value>(&body).unwrap()["numberMatched"] == json!(0));
        assert!(ok, "{path}: {status} {body}");
        for secret in ["root:", "rusqlite", "SELECT", "CREATE TABLE", &store.display().to_string(), "panicked"] {
            assert!(!body.contains(secret), "{path} leaks '{secret}': {body}");
        }
    }

    // A slow client: headers, then a body that never comes, is answered 408 (or dropped) within the timeout.
    let addr = server.base.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "POST /flags/{flag_id}/reviews HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {review}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"outcome\""
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(started.elapsed() < Duration::from_secs(15), "the slow client is cut off: {:?}", started.elapsed());
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    // And one that trickles its headers.
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET /collections HTTP/1.1\r\nHost: {addr}\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(started.elapsed() < Duration::from_secs(15), "the slow headers are cut off: {:?}", started.elapsed());
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");

    // The server still answers, and the store is exactly as it was.
    assert_eq!(get(&server, "/collections", Some(&read)).0, StatusCode::OK);
    assert_eq!(store_content(&store), before, "no request changed the store");
}

#[test]
fn public_read_serves_without_a_token_but_reviews_still_need_one() {
    let store = copy_store(&fixture().full, "public");
    let read = token(&store, "read", "reader");
    let server = serve(&store, &["--public-read"]);
    assert_eq!(get(&server, "/collections/flags/items", None).0, StatusCode::OK);
    assert_eq!(
        get(&server, "/collections/flags/items", Some("jt_wrong")).0,
        StatusCode::UNAUTHORIZED,
        "a wrong token is still wrong"
    );
    let r = client()
        .post(format!("{}/flags/x/reviews", server.base))
        .json(&json!({ "outcome": "confirmed", "reviewer": "x" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .post(format!("{}/flags/x/reviews", server.base))
        .bearer_auth(&read)
        .json(&json!({ "outcome": "confirmed", "reviewer": "x" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[test]
fn serve_refuses_what_it_cannot_serve_by_name() {
    let dir = fixture().dir.join("refusals");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.gpkg");
    let run = common::jingtu(["serve", "--store", missing.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    run.expect_code(2, "a missing store");
    assert!(run.stderr.contains("missing.gpkg"), "{}", run.stderr);
    assert!(!missing.exists(), "serve does not create a store");
    let run = common::jingtu(["serve", "--store", fixture().full.to_str().unwrap(), "--listen", "nowhere"]);
    run.expect_code(2, "a bad address");
    assert!(run.stderr.contains("--listen"), "{}", run.stderr);
    let run =
        common::jingtu(["token", "create", "--store", missing.to_str().unwrap(), "--scope", "admin", "--name", "x"]);
    run.expect_code(2, "a bad scope");
    let run = common::jingtu([
        "token",
        "create",
        "--store",
        fixture().full.to_str().unwrap(),
        "--scope",
        "root",
        "--name",
        "x",
    ]);
    run.expect_code(2, "a bad scope");
    assert!(run.stderr.contains("--scope"), "{}", run.stderr);
}

#[test]
fn tls_with_a_certificate_and_key() {
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("curl").arg("--version").output().is_err()
    {
        // As the other client checks: never a silent pass where CI requires every client.
        assert!(
            std::env::var_os("JINGTU_REQUIRE_REAL_DATA").is_none_or(|v| v != "1"),
            "openssl and curl are missing and JINGTU_REQUIRE_REAL_DATA=1: run ./.ci/setup-debian"
        );
        eprintln!("SKIPPED: openssl and curl are needed for the TLS test (./.ci/setup-debian installs them)");
        return;
    }
    let store = copy_store(&fixture().full, "tls");
    let read = token(&store, "read", "reader");
    let dir = store.parent().unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = serve(&store, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert", cert.to_str().unwrap(), "-H", &format!("Authorization: Bearer {read}")])
        .arg(format!("{}/collections", server.base))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(link(&body, "self").unwrap().starts_with("https://"), "links say https");
    // Plain HTTP on the TLS port gets no answer.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(server.base.replace("https://", "http://") + "/")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("jingtu"));
}

/// Every flag of an items page or feed as (flag_id, status, last_seen): the state a reader saw.
fn states(features: &[Value]) -> std::collections::BTreeSet<String> {
    features
        .iter()
        .map(|f| {
            let p = &f["properties"];
            format!("{}|{}|{}|{}", p["flag_id"], p["status"], p["last_seen"], p["area_m2"])
        })
        .collect()
}

#[test]
fn a_scan_writes_while_the_server_answers_and_readers_see_before_or_after() {
    let f = fixture();
    let store = copy_store(&f.half, "concurrent");
    let read = token(&store, "read", "reader");
    let server = serve(&store, &[]);
    let snapshot = |server: &Server| {
        let page = get_json(server, "/collections/flags/items?limit=10000", &read);
        let features = page["features"].as_array().unwrap().clone();
        assert_eq!(page["numberMatched"].as_u64().unwrap() as usize, features.len(), "count and page agree");
        let (_, headers, feed) = get(server, "/changes?since=0", Some(&read));
        (states(&features), headers["jingtu-cursor"].to_str().unwrap().to_string(), feed.lines().count())
    };
    let before = snapshot(&server);
    let mut scan = Command::new(env!("CARGO_BIN_EXE_jingtu"))
        .args(["scan", "--plots"])
        .arg(&f.area.plots)
        .arg("--scenes")
        .arg(&f.area.stac)
        .arg("--store")
        .arg(&store)
        .args(["-q", "--no-report"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let started = Instant::now();
    let mut latencies = Vec::new();
    while scan.try_wait().unwrap().is_none() {
        let t = Instant::now();
        seen.push(snapshot(&server));
        latencies.push(t.elapsed());
        assert!(started.elapsed() < Duration::from_secs(900), "the scan finishes");
    }
    let status = scan.wait().unwrap();
    let mut err = String::new();
    scan.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "the scan ran beside the server: {err}");
    let after = snapshot(&server);
    assert_ne!(before.0, after.0, "the scan changed the flags");
    assert!(seen.len() >= 2, "readers were answered while the scan ran ({} times)", seen.len());
    // Each response is one snapshot (the items page and the feed are two requests, so each is checked
    // on its own: the scan may commit between them).
    for (flags, cursor, lines) in &seen {
        assert!(*flags == before.0 || *flags == after.0, "a reader saw flags neither before nor after the scan");
        assert!(
            (cursor, lines) == (&before.1, &before.2) || (cursor, lines) == (&after.1, &after.2),
            "a feed of half a scan"
        );
    }
    let slowest = latencies.iter().max().unwrap();
    println!(
        "{} reads during the scan, slowest {slowest:?}; flags {} -> {}",
        seen.len(),
        before.0.len(),
        after.0.len()
    );
    // The scan's store equals one scanned without a server.
    let direct = copy_store(&f.full, "concurrent-reference");
    for t in ["flags", "changes", "flag_history"] {
        assert_eq!(
            count(&store, &format!("SELECT count(*) FROM {t}")),
            count(&direct, &format!("SELECT count(*) FROM {t}")),
            "{t}"
        );
    }
}

#[test]
fn qgis_oapif_provider_loads_flags() {
    if common::clients::pyqgis().is_none() {
        return;
    }
    let store = copy_store(&fixture().full, "qgis");
    // QGIS 3.22's OAPIF data source has no header setting of its own (an authentication configuration
    // would need a QGIS profile): the server reads without a token here.
    let server = serve(&store, &["--public-read"]);
    let script = r#"
import json, sys, os
from qgis.core import QgsApplication, QgsVectorLayer
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer("url='%s' typename='flags'" % sys.argv[1], "flags", "OAPIF")
n = sum(1 for _ in layer.getFeatures()) if layer.isValid() else None
print(json.dumps({"valid": layer.isValid(), "features": n, "crs": layer.crs().authid(), "fields": [f.name() for f in layer.fields()]}), flush=True)
os._exit(0)
"#;
    let runtime = tempfile::tempdir().unwrap();
    let out = Command::new(common::clients::SYSTEM_PYTHON)
        .args(["-c", script, &server.base])
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("PyQGIS: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    let view: Value = serde_json::from_str(line).unwrap();
    assert_eq!(view["valid"], true, "{view}");
    assert_eq!(view["features"], json!(count(&store, "SELECT count(*) FROM flags")), "{view}");
    assert_eq!(view["crs"], "EPSG:4326");
    assert!(view["fields"].as_array().unwrap().iter().any(|f| f == "review"), "{view}");
}

#[test]
fn a_stopped_server_leaves_one_store_file_that_copies_whole() {
    let store = copy_store(&fixture().full, "stopped");
    let review = token(&store, "review", "analyst");
    let mut server = serve(&store, &[]);
    let flag_id: String = rusqlite::Connection::open(&store)
        .unwrap()
        .query_row("SELECT flag_id FROM flags ORDER BY fid LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let r = client()
        .post(format!("{}/flags/{flag_id}/reviews", server.base))
        .bearer_auth(&review)
        .json(&json!({ "outcome": "permitted", "reviewer": "x" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // SIGTERM, as systemd stops it: requests finish, then the write-ahead log is folded in.
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let wal = store.with_file_name("store.gpkg-wal");
    assert!(!wal.exists(), "{} is left behind", wal.display());
    let copy = store.with_file_name("copy.gpkg");
    std::fs::copy(&store, &copy).unwrap();
    assert_eq!(
        count(&copy, "SELECT count(*) FROM flag_reviews WHERE outcome = 'permitted'"),
        1,
        "the copy holds the review"
    );
}
