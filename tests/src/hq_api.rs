//! The HQ API (`/v1/hq/*`) over plain HTTP with a device token, as a browser or a GIS tool calls it.

use serde_json::Value;

/// GETs `url` with `token` (if any) as a bearer token: the status and the body, parsed as JSON when it is JSON
/// (error bodies always are), else as a JSON string.
pub fn hq_get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut response = get(url, token);
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// GETs `url` and writes the body into `path` (an export file); returns the status.
pub fn hq_download(url: &str, token: &str, path: &std::path::Path) -> u16 {
    let mut response = get(url, Some(token));
    let status = response.status().as_u16();
    let mut file = std::fs::File::create(path).unwrap();
    std::io::copy(&mut response.body_mut().as_reader(), &mut file).unwrap();
    status
}

fn get(url: &str, token: Option<&str>) -> ureq::http::Response<ureq::Body> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    request.call().unwrap()
}
