//! HQ's web dashboard: three static files built into the binary and served by the server itself, so it works at a
//! base camp or HQ with no internet (no CDN, no tile server). The page signs in with an hq device token, kept in
//! the browser's session storage, and reads the HQ API (`/v1/hq/*`); the map is drawn from the data alone.

/// One file of the dashboard: where it is served, its media type and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// The dashboard's files.
pub const FILES: [File; 3] = [
    File {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("index.html"),
    },
    File {
        path: "/dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("dashboard.js"),
    },
    File {
        path: "/dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("dashboard.css"),
    },
];

/// The content security policy the files are served with: only this server's own files and API, nothing is
/// fetched from elsewhere.
pub const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";
