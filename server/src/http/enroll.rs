//! `POST /v1/enroll`: a device exchanges its one-time enrollment code for its credential (docs/security.md,
//! "Enrollment codes and credentials"). No bearer token: the code is what it presents, in a small JSON body.

use super::{App, Backend, error_response, guard};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use protocol::enrollment::{EnrollRequest, EnrollResponse};
use std::sync::Arc;
use sync_core::Refusal;

/// An enrollment request is a code and its JSON: a few dozen bytes.
const MAX_ENROLL_BYTES: usize = 4096;

pub async fn enroll<S: Backend>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Body) -> Response {
    match exchange(&app, &headers, body).await {
        Ok(response) => Json(response).into_response(),
        Err(refusal) => error_response(refusal),
    }
}

async fn exchange<S: Backend>(app: &App<S>, headers: &HeaderMap, body: Body) -> Result<EnrollResponse, Refusal> {
    guard::media_type(headers, "application/json")?;
    let body = axum::body::to_bytes(body, MAX_ENROLL_BYTES).await.map_err(|_| {
        Refusal::new(
            ErrorCode::BadRequest,
            format!("an enrollment request is at most {MAX_ENROLL_BYTES} bytes of JSON: {{\"code\": \"fse1_…\"}}"),
        )
    })?;
    let request: EnrollRequest = serde_json::from_slice(&body).map_err(|e| {
        Refusal::new(
            ErrorCode::BadRequest,
            format!("the enrollment request is not {{\"code\": \"fse1_…\"}}: {e}"),
        )
    })?;
    let enrolled = app.sync.enroll(&request.code, chrono::Utc::now()).await?;
    Ok(EnrollResponse {
        device: enrolled.device.profile(),
        credential: enrolled.credential,
    })
}
