//! The HTTP application: routes, shared state, and `run` with graceful shutdown.

use crate::documents::{DEFAULT_CAPACITY, DocumentCache};
use crate::storage::Storage;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use domain::Programme;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What every request handler shares.
#[derive(Debug)]
pub struct App<S> {
    pub storage: S,
    pub programme: Programme,
    /// Pushes are validated and appended one request at a time, so two concurrent pushes to one record can never
    /// each be validated alone and both accepted. The lock guards the cache of loaded documents, which only the
    /// ingest path uses. Pulls do not take it.
    pub ingest: Mutex<DocumentCache>,
}

impl<S: Storage> App<S> {
    pub fn new(storage: S) -> Arc<App<S>> {
        Arc::new(App {
            storage,
            programme: Programme::default(),
            ingest: Mutex::new(DocumentCache::new(DEFAULT_CAPACITY)),
        })
    }
}

pub fn router<S: Storage>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route("/health", get(crate::sync::health::<S>))
        .route(protocol::SYNC_PATH, post(crate::sync::sync::<S>))
        .route("/v1/hq/statistics", get(crate::hq::statistics::<S>))
        .route("/v1/hq/totals", get(crate::hq::totals::<S>))
        .route("/v1/hq/export", get(crate::hq::export::<S>))
        .route("/v1/hq/quality", get(crate::hq::quality::<S>))
        .route("/v1/hq/map", get(crate::hq::map::<S>))
        .route("/v1/hq/records/{id}", get(crate::hq::record::<S>))
        .merge(crate::dashboard::routes())
        .layer(DefaultBodyLimit::max(protocol::limits::MAX_REQUEST_BYTES))
        .with_state(app)
}

/// The response to a request that cannot be served: a status and the JSON body every error has (protocol.md,
/// "Errors"): a stable code and a message saying what happened and what to do.
pub fn error_response(status: axum::http::StatusCode, code: &str, message: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = protocol::ErrorBody {
        code: code.to_string(),
        message,
    };
    (status, axum::Json(body)).into_response()
}

/// Serves until `shutdown` completes, then finishes the requests in flight. Tests bind 127.0.0.1:0.
pub async fn run<S: Storage>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
