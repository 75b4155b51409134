//! The HTTP adapter: routes, shared state, the mapping of error codes to statuses, and `run` with graceful
//! shutdown. Handlers are thin: they read the request, call sync_core or hq, and write the answer.

mod bundles;
mod connections;
mod dashboard;
mod enroll;
mod guard;
mod hq;
mod sync;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use domain::Programme;
use protocol::ErrorCode;
use std::future::Future;
use std::sync::Arc;
use sync_core::store::SyncStore;
use sync_core::{Refusal, SyncServer};

pub use connections::Limits;

/// What every request handler shares.
#[derive(Debug)]
pub struct App<S> {
    pub sync: SyncServer<S>,
}

/// What a backend must be to be served: a sync store and HQ's read model.
pub trait Backend: SyncStore + ::hq::HqReadModel {}
impl<S: SyncStore + ::hq::HqReadModel> Backend for S {}

impl<S: Backend> App<S> {
    pub fn new(storage: S) -> Arc<App<S>> {
        Arc::new(App {
            sync: SyncServer::new(storage, Programme::default()),
        })
    }

    /// A camp's server, which relays to an upstream one (server/src/relay.rs).
    pub fn relaying(storage: S) -> Arc<App<S>> {
        let mut sync = SyncServer::new(storage, Programme::default());
        sync.relays_upstream = true;
        App::serving(sync)
    }

    /// Serving `sync` as it was set up (`serve`'s relay and quarantine quota).
    pub fn serving(sync: SyncServer<S>) -> Arc<App<S>> {
        Arc::new(App { sync })
    }
}

/// The routes; `authority_pem`, over TLS with the server's own authority, is served at
/// protocol::enrollment::CA_PATH.
pub fn router<S: Backend>(app: Arc<App<S>>, authority_pem: Option<String>) -> Router {
    let routes = match authority_pem {
        Some(pem) => Router::new().route(
            protocol::enrollment::CA_PATH,
            get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/x-pem-file")], pem) }),
        ),
        None => Router::new(),
    };
    routes
        .route("/health", get(sync::health::<S>))
        .route(protocol::SYNC_PATH, post(sync::sync::<S>))
        .route(protocol::enrollment::ENROLL_PATH, post(enroll::enroll::<S>))
        .route(protocol::BUNDLE_PATH, post(bundles::forward::<S>))
        .route("/v1/hq/statistics", get(hq::statistics::<S>))
        .route("/v1/hq/totals", get(hq::totals::<S>))
        .route("/v1/hq/export", get(hq::export::<S>))
        .route("/v1/hq/quality", get(hq::quality::<S>))
        .route("/v1/hq/map", get(hq::map::<S>))
        .route("/v1/hq/records/{id}", get(hq::record::<S>))
        .merge(dashboard::routes())
        .layer(DefaultBodyLimit::max(protocol::limits::MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(guard::edge))
        .with_state(app)
}

/// The HTTP status of each error code (docs/protocol.md, "Errors").
fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::BadRequest | ErrorCode::UnsupportedVersion => StatusCode::BAD_REQUEST,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::CursorUnknown => StatusCode::CONFLICT,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal | ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The response to a request that cannot be served: its code's status and the JSON body every error has
/// (protocol.md, "Errors"): a stable code and a message saying what happened and what to do.
pub fn error_response(refusal: Refusal) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = protocol::ErrorBody {
        code: refusal.code,
        message: refusal.message,
    };
    (status(refusal.code), axum::Json(body)).into_response()
}

pub use guard::{bearer, refused_counts};

/// How the server meets the network: TLS or not, and how many connections it holds for how long.
#[derive(Debug, Default)]
pub struct Edge {
    pub tls: Option<crate::tls::ServerTls>,
    pub limits: Limits,
}

/// A listener on `address` whose kernel queue holds 4,096 connections not yet accepted (std's and tokio's bind
/// keep 128: a burst of connections, an attacker's or a camp's tablets all at once, overflows that in
/// milliseconds, and each connection dropped there waits a second before its client tries again).
pub fn listen(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(4096)
}

/// Serves plain HTTP until `shutdown` completes, then finishes the requests in flight. Tests bind 127.0.0.1:0.
pub async fn run<S: Backend>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(listener, app, Edge::default(), shutdown).await
}

/// Serves at `edge` until `shutdown` completes, then finishes the requests in flight. Over TLS, the certificate
/// devices pin is served too, at protocol::enrollment::CA_PATH.
pub async fn serve<S: Backend>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
    edge: Edge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let authority_pem = edge
        .tls
        .as_ref()
        .and_then(|tls| tls.authority.as_ref())
        .map(|a| a.pem.clone());
    let routes = router(app, authority_pem);
    let tls = edge.tls.map(|tls| tls.config);
    connections::serve(listener, routes, tls, edge.limits, shutdown).await
}
