//! Scenes from a STAC API search (`--scenes https://api --collection NAME`): the items of one
//! collection over the plots' bounding box (WGS84) up to the scan's date, asked by POST to `/search`
//! and paged along the `next` links (GET, or POST with the body the link carries). HTTP through
//! GDAL's `CPLHTTPFetch`, so the same proxy, certificate, retry and `GDAL_HTTP_*` settings apply as for
//! the COGs.

use std::ffi::{CStr, CString, c_char, c_int};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::Value;

use super::SceneList;
use crate::error::{Error, Result};

/// Items asked for per page; `JINGTU_STAC_PAGE_LIMIT` sets another (the tests page by 4 to follow
/// `next` links over the demo's 25 items).
const PAGE_LIMIT: usize = 100;

fn page_limit() -> usize {
    std::env::var("JINGTU_STAC_PAGE_LIMIT").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(PAGE_LIMIT)
}
/// Pages followed at most: 100,000 items is more acquisitions than any plot registry covers.
const MAX_PAGES: usize = 1000;

/// `CPLHTTPResult` of GDAL 3.6's cpl_http.h (not in gdal-sys' bindings).
#[repr(C)]
struct CplHttpResult {
    n_status: c_int,
    psz_content_type: *mut c_char,
    psz_err_buf: *mut c_char,
    n_data_len: c_int,
    n_data_alloc: c_int,
    paby_data: *mut u8,
    papsz_headers: *mut *mut c_char,
    n_mime_part_count: c_int,
    pas_mime_part: *mut std::ffi::c_void,
}

unsafe extern "C" {
    fn CPLHTTPFetch(url: *const c_char, options: *const *const c_char) -> *mut CplHttpResult;
    fn CPLHTTPDestroyResult(result: *mut CplHttpResult);
}

/// One request: GET `url`, or POST `body` (JSON) to it. The response body, or an error naming the URL
/// with GDAL's (curl's, the server's) reason.
fn fetch(url: &str, body: Option<&Value>) -> Result<Vec<u8>> {
    crate::io::vsi::check_allowed(Path::new(url))?;
    crate::io::gdal_env::init();
    let mut options: Vec<CString> = Vec::new();
    if let Some(b) = body {
        options.push(CString::new(format!("POSTFIELDS={b}")).expect("JSON has no NUL"));
        options.push(CString::new("HEADERS=Content-Type: application/json").expect("no NUL"));
    }
    let mut pointers: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
    pointers.push(std::ptr::null());
    let c_url = CString::new(url).map_err(|_| Error::input(url, "a URL with a NUL byte"))?;
    // SAFETY: a valid URL and a NULL-terminated list of valid strings, alive for the call; the result
    // is read, then destroyed once.
    unsafe {
        let result = CPLHTTPFetch(c_url.as_ptr(), pointers.as_ptr());
        if result.is_null() {
            return Err(Error::input(url, "the STAC API could not be reached (GDAL returned no result)"));
        }
        let r = &*result;
        let data = if r.paby_data.is_null() || r.n_data_len <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(r.paby_data, r.n_data_len as usize).to_vec()
        };
        let error = (!r.psz_err_buf.is_null()).then(|| CStr::from_ptr(r.psz_err_buf).to_string_lossy().into_owned());
        let status = r.n_status;
        CPLHTTPDestroyResult(result);
        if status != 0 || error.is_some() {
            let why = error.unwrap_or_else(|| format!("curl status {status}"));
            let text = String::from_utf8_lossy(&data);
            let detail = if text.trim().is_empty() { String::new() } else { format!(": {}", text.trim()) };
            return Err(Error::input(url, format!("the STAC API search failed ({why}){detail}")));
        }
        crate::io::vsi::count_fetched(data.len() as u64);
        Ok(data)
    }
}

/// The scenes of `collection` at the STAC API `api` (its landing page URL) whose footprint meets `bbox`
/// (WGS84 min lon, min lat, max lon, max lat) and that were acquired up to `until`.
pub fn search(api: &str, collection: &str, bbox: [f64; 4], until: Option<NaiveDate>) -> Result<SceneList> {
    // POST, as every STAC API takes it (item-search's required binding is GET, but servers differ in
    // how they page GET queries; POST bodies page the same everywhere).
    let url = format!("{}/search", api.trim_end_matches('/'));
    let mut body = serde_json::json!({"collections": [collection], "bbox": bbox, "limit": page_limit()});
    if let Some(d) = until {
        body["datetime"] = format!("../{d}T23:59:59Z").into();
    }
    let mut list = SceneList::default();
    let mut next: Option<(String, Option<Value>)> = Some((url, Some(body)));
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    while let Some((url, body)) = next.take() {
        let key = format!("{url} {}", body.as_ref().map(Value::to_string).unwrap_or_default());
        if !seen.insert(key) || pages >= MAX_PAGES {
            break;
        }
        pages += 1;
        let bytes = fetch(&url, body.as_ref())?;
        let text =
            String::from_utf8(bytes).map_err(|_| Error::input(&url, "the STAC API answered with non-UTF-8 text"))?;
        let page: Value = serde_json::from_str(&text).map_err(|e| {
            Error::input(&url, format!("the STAC API answered with something other than JSON ({e}): {:.200}", text))
        })?;
        if page.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err(Error::input(
                &url,
                format!("not a STAC API search response (no FeatureCollection): {:.200}", page.to_string()),
            ));
        }
        // Items of an API carry absolute hrefs; a relative one resolves against the page's URL.
        let pseudo = PathBuf::from(crate::io::vsi::gdal_path(&url));
        super::stac::parse_document(&text, &pseudo, true, &mut list)?;
        next = page.get("links").and_then(Value::as_array).and_then(|links| {
            links.iter().find(|l| l.get("rel").and_then(Value::as_str) == Some("next")).and_then(|l| {
                let href = l.get("href").and_then(Value::as_str)?.to_string();
                let post = l.get("method").and_then(Value::as_str).is_some_and(|m| m.eq_ignore_ascii_case("POST"));
                Some((href, if post { l.get("body").cloned() } else { None }))
            })
        });
    }
    Ok(list)
}
