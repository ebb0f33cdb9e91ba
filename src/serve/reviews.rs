//! `POST /flags/{flag_id}/reviews` (review token): records what a field check found, as `jingtu review`
//! does offline; `GET` lists a flag's reviews, oldest first. The body is JSON
//! `{"outcome": "confirmed|false_alarm|permitted|remediated", "note": "...", "reviewer": "..."}`, nothing
//! else; the review is stored with the name of the token that posted it.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Caller;
use super::{ApiError, Shared};
use crate::store::Store;
use crate::store::reviews::Outcome;

/// The request body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    outcome: String,
    #[serde(default)]
    note: Option<String>,
    reviewer: String,
}

/// `POST`.
pub async fn create(
    State(state): State<Shared>,
    headers: HeaderMap,
    Extension(caller): Extension<Caller>,
    Path(flag_id): Path<String>,
    body: Result<Json<ReviewBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        let status = e.status();
        let text = match status {
            StatusCode::PAYLOAD_TOO_LARGE => format!("body larger than {} bytes", super::MAX_BODY_BYTES),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "send the review as Content-Type: application/json".to_string(),
            _ => format!("body: {}", e.body_text()),
        };
        ApiError::new(status, "InvalidBody", text)
    })?;
    let outcome = Outcome::parse(&body.outcome)
        .ok_or_else(|| ApiError::bad_request("outcome: one of confirmed, false_alarm, permitted, remediated"))?;
    crate::store::reviews::validate(&body.reviewer, body.note.as_deref())?;
    let recorded_by = format!("token:{}", caller.token_name.unwrap_or_default());
    let path = state.store.clone();
    let id = flag_id.clone();
    let review = tokio::task::spawn_blocking(move || {
        let mut store = Store::open_existing(&path, true)?;
        store.add_review(&id, outcome, body.note.as_deref(), &body.reviewer, &recorded_by).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(format!("review worker failed: {e}")))??
    .ok_or_else(|| ApiError::not_found("no such flag"))?;
    let location = format!("{}/flags/{}/reviews", state.base_url(&headers), super::features::encode_path(&flag_id));
    let mut response = (StatusCode::CREATED, Json(json!(review))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET`: the flag's reviews, oldest first; 404 for a flag the store does not have.
pub async fn list(State(state): State<Shared>, Path(flag_id): Path<String>) -> Result<Response, ApiError> {
    let reviews = state
        .read(move |store| {
            let exists: bool = store
                .connection()
                .query_row("SELECT count(*) FROM flags WHERE flag_id = ?1", [&flag_id], |r| r.get::<_, i64>(0))
                .map(|n| n > 0)
                .map_err(|e| ApiError::internal(format!("{}: {e}", store.path().display())))?;
            if !exists {
                return Err(ApiError::not_found("no such flag"));
            }
            Ok(store.reviews(&flag_id)?)
        })
        .await?;
    Ok(Json(json!({ "reviews": reviews })).into_response())
}
