//! Errors as OGC API answers them: a status and a JSON body `{"code", "description"}`. Internal errors
//! are logged in full on the server and answered with a generic text: a path or an SQL message in a
//! response would tell a client about the machine.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    /// Seconds a client should wait before retrying (503 while a scan holds the write lock).
    retry_after: Option<u32>,
    /// A `WWW-Authenticate` challenge (401).
    challenge: Option<&'static str>,
}

impl ApiError {
    /// 400: a parameter the API does not know or cannot read.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterValue", description)
    }

    /// 404.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", description)
    }

    /// 401 with a Bearer challenge.
    pub fn unauthorized(description: impl Into<String>, challenge: &'static str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", description);
        e.challenge = Some(challenge);
        e
    }

    /// 403.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", description)
    }

    /// 503 with `Retry-After`.
    pub fn busy(description: impl Into<String>, retry_after: u32) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "Busy", description);
        e.retry_after = Some(retry_after);
        e
    }

    /// Any status.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError { status, code, description: description.into(), retry_after: None, challenge: None }
    }

    /// 500: the detail goes to the server's log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        // On the server's stderr (JINGTU_LOG's default level shows errors), never in the answer.
        log::error!("jingtu serve: {detail}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "ServerError", "the server could not answer; see its log")
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Usage(text) => ApiError::bad_request(text),
            Error::Store { message, .. } if message.contains("database is locked") || message.contains("busy") => {
                ApiError::busy("the store is being written by a scan; retry shortly", 30)
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(json!({ "code": self.code, "description": self.description }))).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(c) = self.challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        response
    }
}

/// Any path the API does not have.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}
