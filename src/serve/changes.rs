//! `GET /changes?since=CURSOR`: the changefeed of `jingtu export --since CURSOR`, the same text
//! ([`crate::export::changefeed::render_feed`]), read in one transaction. NDJSON by default (as
//! `application/x-ndjson`; `f=geojson` or an `Accept: application/geo+json` without NDJSON gives one
//! FeatureCollection). The next cursor is in the `Jingtu-Cursor` header and a `Link rel="next"` too, so
//! a puller need not parse the body for it; an empty feed carries `Retry-After` (seconds) to pace
//! pullers, since scans come monthly.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared};
use crate::export::changefeed::{FeedFormat, parse_cursor, render_feed};

/// Seconds an up-to-date puller is asked to wait before asking again.
pub const RETRY_AFTER_S: u32 = 300;

/// The handler.
pub async fn changes(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(format!("unreadable query string: {e}")))?;
    let mut since = None;
    let mut format = None;
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "since" => &mut since,
            "f" => &mut format,
            _ => return Err(ApiError::bad_request("unknown query parameter (this endpoint takes: since, f)")),
        };
        if slot.replace(v).is_some() {
            return Err(ApiError::bad_request(format!("query parameter '{k}' given twice")));
        }
    }
    let since = parse_cursor(since.as_deref().unwrap_or("0"))
        .map_err(|_| ApiError::bad_request("since: a cursor from a previous feed (jt1:N), or 0 for everything"))?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let feed_format = match format.as_deref() {
        Some("ndjson" | "geojsonseq") => FeedFormat::Ndjson,
        Some("geojson" | "json") => FeedFormat::GeoJson,
        Some(_) => return Err(ApiError::bad_request("f: ndjson or geojson")),
        None if accept.contains("application/geo+json") && !accept.contains("ndjson") && !accept.contains("seq") => {
            FeedFormat::GeoJson
        }
        None => FeedFormat::Ndjson,
    };
    let (text, summary) =
        state.read(move |store| render_feed(store, since, feed_format).map_err(ApiError::from)).await?;
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if feed_format == FeedFormat::Ndjson {
            "application/x-ndjson"
        } else {
            "application/geo+json"
        }),
    );
    let base = state.base_url(&headers);
    if let Ok(v) = HeaderValue::from_str(&summary.cursor) {
        h.insert("jingtu-cursor", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("<{base}/changes?since={}>; rel=\"next\"", summary.cursor)) {
        h.insert(header::LINK, v);
    }
    if summary.features == 0 {
        h.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
    }
    Ok(response)
}
