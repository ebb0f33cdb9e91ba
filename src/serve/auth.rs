//! Bearer tokens (`jingtu token create`): every request but the landing page needs a live token of
//! scope `read` or `review`, unless the server runs with `--public-read`; writes (reviews) need scope
//! `review` in any case. The token is checked against the store's hashes on every request, so a
//! `jingtu token revoke` takes effect on the next request, without a restart.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, Shared};
use crate::store::Store;
use crate::store::tokens::Scope;

/// Who made a request, for the handlers (a review records the token's name).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, or `None` for an anonymous read under `--public-read`.
    pub token_name: Option<String>,
}

/// The middleware.
pub async fn require_token(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let writes = request.method() != Method::GET && request.method() != Method::HEAD;
    if path == "/" && !writes {
        request.extensions_mut().insert(Caller { token_name: None });
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(|t| t.trim().to_string()));
    let token = match presented {
        None if state.public_read && !writes => {
            request.extensions_mut().insert(Caller { token_name: None });
            return next.run(request).await;
        }
        None => {
            return ApiError::unauthorized(
                "this request needs an API token: Authorization: Bearer TOKEN",
                "Bearer realm=\"jingtu\"",
            )
            .into_response();
        }
        Some(None) => {
            return ApiError::unauthorized(
                "the Authorization header is not 'Bearer TOKEN'",
                "Bearer realm=\"jingtu\", error=\"invalid_request\"",
            )
            .into_response();
        }
        Some(Some(t)) => t,
    };
    let path = state.store.clone();
    let found = tokio::task::spawn_blocking(move || {
        let store = Store::open_existing(&path, false)?;
        store.authenticate(&token).map_err(ApiError::from)
    })
    .await;
    let (name, scope) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            return ApiError::unauthorized(
                "unknown or revoked API token",
                "Bearer realm=\"jingtu\", error=\"invalid_token\"",
            )
            .into_response();
        }
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::internal(format!("token check failed: {e}")).into_response(),
    };
    if writes && scope < Scope::Review {
        return ApiError::forbidden(format!("token '{name}' may read only; recording a review needs a review token"))
            .into_response();
    }
    request.extensions_mut().insert(Caller { token_name: Some(name) });
    next.run(request).await
}
