//! HQ's HTTP API: what an hq or admin device may read of the merged national dataset (statistics, totals). Every endpoint
//! authenticates the device token and refuses other roles with 403, naming the role it needs.

use super::{App, Backend, bearer, error_response};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hq::export::{ExportRequest, Format};
use hq::statistics::Filter;
use protocol::ErrorCode;
use std::sync::Arc;
use sync_core::Refusal;
use sync_core::store::{Device, StorageError};

/// `GET /v1/hq/statistics?from=&to=&organisation=&team=&task=&review=`: land released, finds, disposals and
/// productivity over the filter (hq::statistics), as JSON.
pub async fn statistics<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    match prepare(&app, &headers, filter, FILTER_USAGE).await {
        Ok(filter) => json(app.sync.store.statistics(&filter.reported()).await),
        Err(refusal) => refusal,
    }
}

/// `GET /v1/hq/totals` with the same filter: the dashboard's headline and land released, without breakdowns.
pub async fn totals<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    match prepare(&app, &headers, filter, FILTER_USAGE).await {
        Ok(filter) => json(app.sync.store.totals(&filter.reported()).await),
        Err(refusal) => refusal,
    }
}

/// The query of `GET /v1/hq/export`: the format, the layers (`layer=finds`, or for a GeoPackage several:
/// `layer=finds,worked_areas`; GeoJSON and CSV hold one layer per file, a GeoPackage all of them unless some are
/// named) and the statistics' filter.
#[derive(Debug, serde::Deserialize)]
pub struct ExportQuery {
    pub format: Format,
    pub layer: Option<String>,
    #[serde(flatten)]
    pub filter: Filter,
}

/// `GET /v1/hq/export?format=gpkg|geojson|csv&layer=finds&from=…`: the layers as a file, streamed. The export is
/// written to a temporary file first (a GeoPackage is an SQLite database, not a stream) in the storage's scratch
/// directory, on the data's disk, and unlinked as soon as it is open, so nothing is left behind whatever happens to
/// the download.
pub async fn export<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    let layer_names: Vec<&str> = layers::layers().iter().map(|l| l.name.as_str()).collect();
    let usage = format!(
        "format=gpkg|geojson|csv, layer=<{}>[,<layer>...] (several only for gpkg), and the filter {FILTER_USAGE}",
        layer_names.join("|")
    );
    let query = match prepare(&app, &headers, query, &usage).await {
        Ok(query) => query,
        Err(refusal) => return refusal,
    };
    let record_types = match &query.layer {
        Some(names) => {
            let mut types = Vec::new();
            for name in names.split(',') {
                match domain::RecordType::ALL
                    .into_iter()
                    .find(|t| layers::layer(*t).name == name)
                {
                    Some(t) if !types.contains(&t) => types.push(t),
                    Some(_) => {}
                    None => {
                        let message = format!("there is no layer {name:?}; the layers are {}", layer_names.join(", "));
                        return error(ErrorCode::BadRequest, message);
                    }
                }
            }
            types
        }
        None => domain::RecordType::ALL.to_vec(),
    };
    if query.format != Format::Gpkg && record_types.len() != 1 {
        let message = format!(
            "a {} export holds one layer: name one with layer= (a GeoPackage holds several: layer=finds,worked_areas)",
            query.format.extension()
        );
        return error(ErrorCode::BadRequest, message);
    }
    let name = match &query.layer {
        Some(layer) => format!("fieldsync-{}.{}", layer.replace(',', "-"), query.format.extension()),
        None => format!("fieldsync.{}", query.format.extension()),
    };
    let path = app.sync.store.scratch_dir().join(format!(
        "fieldsync-export-{}.{}",
        uuid::Uuid::now_v7(),
        query.format.extension()
    ));
    let request = ExportRequest {
        filter: query.filter,
        format: query.format,
        record_types,
        path: path.clone(),
    };
    if let Err(e) = app.sync.store.export(request.clone(), |_, _| {}).await {
        request.discard_output();
        return json::<()>(Err(e));
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            return error(ErrorCode::Internal, format!("the export file vanished: {e}"));
        }
    };
    let _ = tokio::fs::remove_file(&path).await;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    (
        [
            (axum::http::header::CONTENT_TYPE, query.format.media_type().to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /v1/hq/map?bbox=west,south,east,north&limit=2000`: the dashboard's map of a box (hq::map).
pub async fn map<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    query: Result<Query<hq::map::MapQuery>, QueryRejection>,
) -> Response {
    const USAGE: &str = "bbox=<west>,<south>,<east>,<north> in degrees and limit=<features per layer>";
    let query = match prepare(&app, &headers, query, USAGE).await {
        Ok(query) => query,
        Err(refusal) => return refusal,
    };
    match query.parse() {
        Ok((bbox, limit)) => json(app.sync.store.map(bbox, limit).await),
        Err(message) => error(ErrorCode::BadRequest, message),
    }
}

/// `GET /v1/hq/records/{id}`: one record as the server holds it, its stored warnings and its history (every change,
/// who made it on which device, and what it changed), read from its document.
pub async fn record<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(refusal) = hq_device(&app, &headers).await {
        return refusal;
    }
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error(ErrorCode::BadRequest, format!("{id:?} is not a record id (a UUID)"));
    };
    match hq::history::record_history(&app.sync.store, id).await {
        Ok(Some(record)) => Json(record).into_response(),
        Ok(None) => error(ErrorCode::NotFound, format!("the server holds no record {id}")),
        Err(e) => json::<()>(Err(e)),
    }
}

/// The query of `GET /v1/hq/quality`: one task, or every task.
#[derive(Debug, serde::Deserialize)]
pub struct QualityQuery {
    pub task: Option<uuid::Uuid>,
}

/// `GET /v1/hq/quality?task=`: the data-quality report (hq::quality), as of now.
pub async fn quality<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    query: Result<Query<QualityQuery>, QueryRejection>,
) -> Response {
    let task = match prepare(
        &app,
        &headers,
        query,
        "task=<a task's record id>, or nothing for every task",
    )
    .await
    {
        Ok(query) => query.task,
        Err(refusal) => return refusal,
    };
    json(hq::quality::report(&app.sync.store, &app.sync.programme, task, chrono::Utc::now()).await)
}

/// The query parameters of the statistics' filter, for messages.
const FILTER_USAGE: &str =
    "from=YYYY-MM-DD, to=YYYY-MM-DD, organisation=, team=, task=<uuid>, review=<a review status, approved or any>";

/// Checks the device may read HQ's data and the query parses; otherwise the response refusing the request, which
/// names the parameters (`usage`).
async fn prepare<S: Backend, Q>(
    app: &App<S>,
    headers: &HeaderMap,
    query: Result<Query<Q>, QueryRejection>,
    usage: &str,
) -> Result<Q, Response> {
    hq_device(app, headers).await?;
    query.map(|Query(query)| query).map_err(|e| {
        let message = format!("{}: use {usage}", e.body_text());
        error(ErrorCode::BadRequest, message)
    })
}

fn json<T: serde::Serialize>(result: Result<T, StorageError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => error_response(Refusal::internal(e)),
    }
}

/// The authenticated device, if it may read HQ's data; otherwise the response refusing it.
async fn hq_device<S: Backend>(app: &App<S>, headers: &HeaderMap) -> Result<Device, Response> {
    let device = app.sync.authenticate(bearer(headers)).await.map_err(error_response)?;
    if !device.role.sees_everything() {
        let message = format!(
            "device {} has role {}; HQ's data needs an hq or admin token (`fieldsync-server device add --role hq`)",
            device.name,
            device.role.as_str()
        );
        return Err(error(ErrorCode::Forbidden, message));
    }
    Ok(device)
}

/// The response refusing a request with this code and message.
fn error(code: ErrorCode, message: String) -> Response {
    error_response(Refusal::new(code, message))
}
