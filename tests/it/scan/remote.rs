//! Issue 14, remote data: the demo catalogue and its COGs scanned where users keep them, from real
//! servers the test starts: nginx (Debian, byte ranges) over HTTP and moto's S3 server holding them in a
//! bucket. Each remote scan gives the local scan's flags, hashes the scenes to the same content hashes,
//! and fetches no more than 1.5 times what the local scan read from files; `--offline` refuses the
//! network by name. A STAC API (rustac's server) loaded with the demo's items gives, searched by
//! collection over the plots' bbox, the local catalogue's scenes and flags.

use crate::support as common;

use std::path::Path;

use serde_json::Value;

use common::clients::{nginx, serve_with_moto, serve_with_nginx, serve_with_rustac, stac_python};
use common::{demo_area, jingtu, store_state};

/// The state tables that hold the scan's results (the `scenes` table differs in its sources only,
/// compared apart by content hash).
const RESULT_TABLES: [&str; 4] = ["flags", "flag_history", "plot_state", "plot_summary"];

fn results(store: &Path) -> Vec<(String, Vec<String>)> {
    store_state(store).into_iter().filter(|(t, _)| RESULT_TABLES.contains(&t.as_str())).collect()
}

fn scene_hashes(store: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut stmt = conn.prepare("SELECT content_hash || ' ' || scene_id FROM scenes ORDER BY 1").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
}

/// `jingtu scan --json` of `scenes` into a fresh `store` with `envs`; its summary.
fn scan(plots: &Path, scenes: &str, store: &Path, envs: &[(&str, String)]) -> Value {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jingtu"));
    command
        .args(["scan", "--no-report", "--json", "--plots"])
        .arg(plots)
        .args(["--scenes", scenes, "--store"])
        .arg(store);
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "scan of {scenes}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.contains("\"summary\"")).expect("a summary line");
    serde_json::from_str(line).unwrap()
}

fn assert_same_scan(local: &Path, remote: &Path, what: &str) {
    assert_same_results(local, remote, what);
    assert!(!results(local)[0].1.is_empty(), "{what}: the local scan raised no flags");
}

/// The same flags, histories, pixel states and scenes (the flags may be none).
fn assert_same_results(local: &Path, remote: &Path, what: &str) {
    let (a, b) = (results(local), results(remote));
    for ((t, ra), (_, rb)) in a.iter().zip(&b) {
        assert_eq!(ra, rb, "{what}: table {t} differs from the local scan's");
    }
    assert_eq!(scene_hashes(local), scene_hashes(remote), "{what}: scenes hash differently");
}

/// Bytes fetched remotely against bytes read locally, both from the scans' own `reads`.
fn assert_fetched_like_local(local: &Value, remote: &Value, what: &str) -> (u64, u64) {
    let read = local["reads"]["file_bytes"].as_u64().expect("local reads measured (Linux)");
    let fetched = remote["reads"]["fetched_bytes"].as_u64().unwrap();
    assert!(fetched > 0, "{what}: no bytes counted as fetched: {}", remote["reads"]);
    assert!(
        fetched as f64 <= 1.5 * read as f64,
        "{what}: fetched {fetched} bytes, more than 1.5 x the {read} bytes the local scan read"
    );
    (read, fetched)
}

#[test]
fn a_scan_over_http_and_over_s3_gives_the_local_flags() {
    let Some(nginx) = nginx() else { return };
    let Some(python) = stac_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let local_store = dir.path().join("local.gpkg");
    let local = scan(&area.plots, area.stac.to_str().unwrap(), &local_store, &[]);

    let web = serve_with_nginx(&nginx, dir.path());
    let url = format!("http://127.0.0.1:{}/data/catalog.json", web.port);
    let http_store = dir.path().join("http.gpkg");
    let http = scan(&area.plots, &url, &http_store, &[]);
    assert_same_scan(&local_store, &http_store, "over HTTP");
    let (read, fetched_http) = assert_fetched_like_local(&local, &http, "over HTTP");
    // The count is GDAL's own download log; nginx's access log says what it actually sent.
    let sent: u64 = web.log().lines().filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum();
    let hashed = http["reads"]["hashed_bytes"].as_u64().unwrap_or(0);
    assert!(
        sent > 0 && sent <= hashed + fetched_http + 1_000_000,
        "nginx sent {sent}, jingtu counted {hashed} + {fetched_http}"
    );

    let s3 = serve_with_moto(&python, dir.path(), "demo");
    let envs = [
        ("AWS_S3_ENDPOINT", format!("127.0.0.1:{}", s3.port)),
        ("AWS_HTTPS", "NO".to_string()),
        ("AWS_VIRTUAL_HOSTING", "FALSE".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let s3_store = dir.path().join("s3.gpkg");
    let over_s3 = scan(&area.plots, "s3://demo/data/catalog.json", &s3_store, &envs);
    assert_same_scan(&local_store, &s3_store, "over S3");
    let (_, fetched_s3) = assert_fetched_like_local(&local, &over_s3, "over S3");
    println!(
        "local scan read {read} bytes from files; over HTTP fetched {fetched_http} ({:.2}x), over S3 {fetched_s3} ({:.2}x); nginx sent {sent} in all (hashing included)",
        fetched_http as f64 / read as f64,
        fetched_s3 as f64 / read as f64
    );

    // The same, with the endpoint given as GDAL's tools take it, not in the environment.
    let run = jingtu([
        "scan",
        "--no-report",
        "-q",
        "--plots",
        area.plots.to_str().unwrap(),
        "--scenes",
        "s3://demo/data/catalog.json",
        "--store",
        dir.path().join("s3-config.gpkg").to_str().unwrap(),
        "--config",
        "AWS_S3_ENDPOINT",
        &format!("127.0.0.1:{}", s3.port),
        "--config",
        "AWS_HTTPS",
        "NO",
        "--config",
        "AWS_VIRTUAL_HOSTING",
        "FALSE",
        "--config",
        "AWS_ACCESS_KEY_ID",
        "testing",
        "--config",
        "AWS_SECRET_ACCESS_KEY",
        "testing",
    ]);
    run.expect_code(0, "scan over S3 configured with --config KEY VALUE");
    assert_same_scan(&local_store, &dir.path().join("s3-config.gpkg"), "over S3, --config");
}

#[test]
fn offline_refuses_network_hrefs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    let run = common::scan(
        &area.plots,
        Path::new("http://127.0.0.1:9/data/catalog.json"),
        &dir.path().join("store.gpkg"),
        &["--offline", "--no-report"],
    );
    run.expect_code(2, "--offline with an http catalogue");
    assert!(
        run.stderr.contains("http://127.0.0.1:9/data/catalog.json") && run.stderr.contains("--offline"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stac_api_search_finds_the_local_catalogs_scenes() {
    let Some(python) = stac_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let area = demo_area(dir.path());
    // The API's copy of the collection: items with absolute asset hrefs, as every API serves them
    // (file:// URIs: a bare absolute path from a server is a path on that server).
    let api_dir = dir.path().join("api");
    std::fs::create_dir(&api_dir).unwrap();
    std::fs::copy(&area.stac, api_dir.join("catalog.json")).unwrap();
    let data = area.stac.parent().unwrap();
    let collection: Value = serde_json::from_str(&std::fs::read_to_string(&area.stac).unwrap()).unwrap();
    for link in collection["links"].as_array().unwrap().iter().filter(|l| l["rel"] == "item") {
        let name = link["href"].as_str().unwrap();
        let mut item: Value = serde_json::from_str(&std::fs::read_to_string(data.join(name)).unwrap()).unwrap();
        for asset in item["assets"].as_object_mut().unwrap().values_mut() {
            let href = data.join(asset["href"].as_str().unwrap());
            asset["href"] = format!("file://{}", std::path::absolute(href).unwrap().display()).into();
        }
        std::fs::write(api_dir.join(name), item.to_string()).unwrap();
    }
    let api = serve_with_rustac(&python, &api_dir.join("catalog.json"));
    let url = format!("http://127.0.0.1:{}", api.port);
    let half = area.truth.acquisitions[area.truth.acquisitions.len() / 2].1.to_string();
    for as_of in [Some(half.as_str()), None] {
        let extra: Vec<&str> = as_of.map(|d| vec!["--as-of", d]).unwrap_or_default();
        let local_store = dir.path().join(format!("local-{}.gpkg", as_of.unwrap_or("all")));
        let api_store = dir.path().join(format!("api-{}.gpkg", as_of.unwrap_or("all")));
        let mut local = vec!["scan", "--no-report", "-q", "--plots", area.plots.to_str().unwrap()];
        local.extend(["--scenes", area.stac.to_str().unwrap(), "--store", local_store.to_str().unwrap()]);
        local.extend(&extra);
        jingtu(&local).expect_code(0, "local scan");
        let mut search = vec!["scan", "--no-report", "-q", "--plots", area.plots.to_str().unwrap()];
        search.extend(["--scenes", &url, "--collection", "jingtu-demo", "--store", api_store.to_str().unwrap()]);
        search.extend(&extra);
        // Four items a page: the 25 scenes come over seven pages, along the `next` links.
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jingtu"));
        let out = command.args(&search).env("JINGTU_STAC_PAGE_LIMIT", "4").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "API search scan: {}", String::from_utf8_lossy(&out.stderr));
        let (a, b) = (scene_hashes(&local_store), scene_hashes(&api_store));
        assert!(a.len() > 4, "{a:?}");
        assert_eq!(a, b, "the API search (up to {as_of:?}) finds other scenes than the catalogue");
        assert_same_results(&local_store, &api_store, "STAC API search");
    }
    assert!(!results(&dir.path().join("local-all.gpkg"))[0].1.is_empty(), "the full local scan raised no flags");
    // A collection the API does not have: an error naming the search, not an empty scan.
    let run = jingtu([
        "scan",
        "--no-report",
        "--plots",
        area.plots.to_str().unwrap(),
        "--scenes",
        &url,
        "--collection",
        "sentinel-2-l2a",
        "--store",
        dir.path().join("none.gpkg").to_str().unwrap(),
    ]);
    run.expect_code(2, "search of a missing collection");
    assert!(run.stderr.contains("sentinel-2-l2a") && run.stderr.contains(&url), "{}", run.stderr);
}
