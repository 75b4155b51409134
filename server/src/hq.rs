//! HQ's HTTP API: what an hq or admin device may read of the merged national dataset. Every endpoint
//! authenticates the device token and refuses other roles with 403, naming the role it needs.

use crate::app::App;
use crate::auth::authenticate;
use crate::statistics::Filter;
use crate::storage::{Device, Storage};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::ErrorBody;
use std::sync::Arc;

/// `GET /v1/hq/statistics?from=&to=&organisation=&team=&task=&review=`: land released, finds, disposals and
/// productivity over the filter (crate::statistics), as JSON.
pub async fn statistics<S: Storage>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    if let Err(refusal) = hq_device(&app, &headers).await {
        return refusal;
    }
    let Query(filter) = match filter {
        Ok(filter) => filter,
        Err(e) => {
            let message = format!(
                "{}: use from=YYYY-MM-DD, to=YYYY-MM-DD, organisation=, team=, task=<uuid>, review=",
                e.body_text()
            );
            return error(StatusCode::BAD_REQUEST, "bad_request", message);
        }
    };
    match app.storage.statistics(&filter).await {
        Ok(stats) => Json(stats).into_response(),
        Err(e) => {
            tracing::error!("statistics: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the server's storage failed: {e}"),
            )
        }
    }
}

/// The authenticated device, if it may read HQ's data; otherwise the response refusing it.
async fn hq_device<S: Storage>(app: &App<S>, headers: &HeaderMap) -> Result<Device, Response> {
    let device = authenticate(&app.storage, headers)
        .await
        .map_err(|e| error(e.status(), "unauthorized", e.to_string()))?;
    if !device.role.sees_everything() {
        let message = format!(
            "device {} has role {}; HQ's data needs an hq or admin token (`fieldsync-server device add --role hq`)",
            device.name,
            device.role.as_str()
        );
        return Err(error(StatusCode::FORBIDDEN, "forbidden", message));
    }
    Ok(device)
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.to_string(),
            message,
        }),
    )
        .into_response()
}
