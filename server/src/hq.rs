//! HQ's HTTP API: what an hq or admin device may read of the merged national dataset (statistics, totals). Every endpoint
//! authenticates the device token and refuses other roles with 403, naming the role it needs.

use crate::app::App;
use crate::auth::authenticate;
use crate::statistics::Filter;
use crate::storage::{Device, Storage, StorageError};
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
    match prepare(&app, &headers, filter).await {
        Ok(filter) => json(app.storage.statistics(&filter).await),
        Err(refusal) => refusal,
    }
}

/// `GET /v1/hq/totals` with the same filter: the dashboard's headline and land released, without breakdowns.
pub async fn totals<S: Storage>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    match prepare(&app, &headers, filter).await {
        Ok(filter) => json(app.storage.totals(&filter).await),
        Err(refusal) => refusal,
    }
}

/// Checks the device may read HQ's data and the filter parses; otherwise the response refusing the request.
async fn prepare<S: Storage>(
    app: &App<S>,
    headers: &HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Result<Filter, Response> {
    hq_device(app, headers).await?;
    filter.map(|Query(filter)| filter).map_err(|e| {
        let message = format!(
            "{}: use from=YYYY-MM-DD, to=YYYY-MM-DD, organisation=, team=, task=<uuid>, review=",
            e.body_text()
        );
        error(StatusCode::BAD_REQUEST, "bad_request", message)
    })
}

fn json<T: serde::Serialize>(result: Result<T, StorageError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            tracing::error!("hq: {e}");
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
