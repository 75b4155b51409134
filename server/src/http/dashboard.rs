//! Serving HQ's dashboard (crates/hq/src/dashboard): its static files, with a content security policy that allows
//! only this server.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use hq::dashboard::{FILES, POLICY};

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    FILES.iter().fold(Router::new(), |router, file| {
        let (content_type, body) = (file.content_type, file.body);
        router.route(
            file.path,
            get(move || async move {
                (
                    [
                        (header::CONTENT_TYPE, content_type),
                        (header::CONTENT_SECURITY_POLICY, POLICY),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    body,
                )
                    .into_response()
            }),
        )
    })
}
