//! `jingtu serve`: the store over HTTP for registry services and analysts.
//!
//! - OGC API - Features Part 1 (Core, GeoJSON, OpenAPI 3.0) over the `plots` and `flags` layers, in
//!   CRS84 (`features`, `openapi`);
//! - `GET /changes?since=CURSOR`: the changefeed of `jingtu export`, the same text (`changes`);
//! - `POST /flags/{flag_id}/reviews`: analysts' field checks (`reviews`);
//! - bearer tokens from `jingtu token` (`auth`), request body and time limits, TLS with rustls.
//!
//! Every request runs on a blocking thread with its own SQLite connection: read-only, its queries in one
//! read transaction, on a store switched to write-ahead logging at start. A scan writing the store is
//! never blocked by readers, and each response shows the store before or after the scan's commit,
//! never part of it. The server takes no scan lock ([`crate::store::lock`]): it is not a scan.
//!
//! This module sits above `store` and `export`; nothing below depends on it.

mod auth;
mod changes;
mod error;
mod features;
mod openapi;
mod reviews;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::{Error, Result};
use crate::store::Store;
pub use error::ApiError;

/// Largest request body accepted (a review is a few hundred bytes; nothing else has a body).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How `jingtu serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The store.
    pub store: PathBuf,
    /// Address to listen on (`127.0.0.1:8080`, `[::]:443`, port 0 for any free port).
    pub listen: SocketAddr,
    /// Serve reads without a token (reviews still need one).
    pub public_read: bool,
    /// PEM certificate chain and private key: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Longest a request may take, reading its headers and body included.
    pub request_timeout: Duration,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    store: PathBuf,
    public_read: bool,
    scheme: &'static str,
    /// `host:port` for links when a request's Host header is missing or not a plain host name.
    fallback_host: String,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// The base URL of links in responses: the request's Host when it is a plain host[:port] (so links
    /// work behind the name clients used), else the listening address. Anything else in a Host header
    /// is ignored, never echoed into a link.
    fn base_url(&self, headers: &HeaderMap) -> String {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
            })
            .unwrap_or(&self.fallback_host);
        format!("{}://{host}", self.scheme)
    }

    /// Runs `read` on a blocking thread against a read-only connection, in one read transaction.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Store) -> std::result::Result<T, ApiError> + Send + 'static,
    ) -> std::result::Result<T, ApiError> {
        let path = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let store = Store::open_existing(&path, false)?;
            store.snapshot(read)
        })
        .await
        .map_err(|e| ApiError::internal(format!("request worker failed: {e}")))?
    }
}

/// The routes, with limits and access control, for a store at `state.store`.
pub(crate) fn router(state: Shared, request_timeout: Duration) -> Router {
    Router::new()
        .route("/", get(features::landing))
        .route("/conformance", get(features::conformance))
        .route("/api", get(openapi::document))
        .route("/collections", get(features::collections))
        .route("/collections/{collection_id}", get(features::collection))
        .route("/collections/{collection_id}/items", get(features::items))
        .route("/collections/{collection_id}/items/{feature_id}", get(features::item))
        .route("/changes", get(changes::changes))
        .route("/flags/{flag_id}/reviews", post(reviews::create).get(reviews::list))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        // The body limit answers 413 before a handler reads more than MAX_BODY_BYTES; DefaultBodyLimit is
        // axum's own extractor limit, set to the same so both say the same.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // A client that sends its body slowly is answered 408 and dropped: it cannot hold a worker.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .with_state(state)
}

/// Prepares the store for serving: upgraded to this schema (by the ordinary open, which creates the
/// token and review tables in an older store), switched to write-ahead logging, with a scan.
fn prepare_store(path: &Path) -> Result<()> {
    if !path.is_file() {
        return Err(Error::input(path, "no such store (create it with jingtu scan)"));
    }
    let store = Store::open(Some(path))?;
    if store.frame()?.is_none() {
        return Err(Error::store(path, "has no scan yet: run jingtu scan first, then serve it"));
    }
    store.use_wal()
}

/// Serves until SIGINT or SIGTERM. Says where it listens on stderr (`jingtu: serving ... at URL`), after
/// binding, so `--listen 127.0.0.1:0` tells the port it got.
pub fn serve(options: ServeOptions) -> Result<()> {
    crate::io::gdal_env::init();
    prepare_store(&options.store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(std::thread::available_parallelism().map(|n| n.get().min(8)).unwrap_or(2))
        // Each blocking thread holds one SQLite connection while it answers; this bounds both.
        .max_blocking_threads(64)
        .build()
        .map_err(|e| Error::io("<tokio runtime>", e))?;
    let served = runtime.block_on(run(options.clone()));
    // Stopped: the last connection to close folds the write-ahead log back into the store and removes
    // it, so a stopped server leaves one file that copies whole (a scan still running keeps it instead).
    if let Ok(store) = Store::open_existing(&options.store, true) {
        let _ = store.connection().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
    served
}

async fn run(options: ServeOptions) -> Result<()> {
    let listener = std::net::TcpListener::bind(options.listen)
        .map_err(|e| Error::Usage(format!("--listen {}: cannot listen there: {e}", options.listen)))?;
    listener.set_nonblocking(true).map_err(|e| Error::io("<listener>", e))?;
    let local = listener.local_addr().map_err(|e| Error::io("<listener>", e))?;
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let state = Arc::new(AppState {
        store: options.store.clone(),
        public_read: options.public_read,
        scheme,
        fallback_host: local.to_string(),
    });
    let app = router(state, options.request_timeout).into_make_service();
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    eprintln!(
        "jingtu: serving {} at {scheme}://{local} ({})",
        options.store.display(),
        if options.public_read {
            "reads public, reviews need a review token"
        } else {
            "every request but / needs a token"
        }
    );
    let served = match &options.tls {
        Some((cert, key)) => {
            // ring, not aws-lc: it builds with the C compiler alone.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
                Error::input(cert, format!("cannot load the TLS certificate with key {}: {e}", key.display()))
            })?;
            let mut server =
                axum_server::from_tcp_rustls(listener, config).map_err(|e| Error::io("<listener>", e))?.handle(handle);
            // A client that trickles its headers is dropped as one that trickles its body.
            server.http_builder().http1().header_read_timeout(options.request_timeout);
            server.serve(app).await
        }
        None => {
            let mut server = axum_server::from_tcp(listener).map_err(|e| Error::io("<listener>", e))?.handle(handle);
            server.http_builder().http1().header_read_timeout(options.request_timeout);
            server.serve(app).await
        }
    };
    served.map_err(|e| Error::io(format!("<serving on {local}>"), e))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
