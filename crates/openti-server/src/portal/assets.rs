//! The portal's stylesheet, script and icon, compiled into the binary. URLs carry a digest of
//! the content, so browsers may cache them and still never run a stale script.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use super::{PortalError, BASE};

const ASSETS: &[(&str, &str, &str)] = &[
    ("portal.css", "text/css; charset=utf-8", include_str!("../../portal/portal.css")),
    ("portal.js", "text/javascript; charset=utf-8", include_str!("../../portal/portal.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../../portal/favicon.svg")),
];

fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut digest = Sha256::new();
        for (_, _, body) in ASSETS {
            digest.update(body.as_bytes());
        }
        digest.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
    })
}

/// The URL of an asset.
pub fn url(name: &str) -> String {
    format!("{BASE}/assets/{name}?v={}", version())
}

pub async fn serve(Path(name): Path<String>) -> Result<Response, PortalError> {
    let (_, content_type, body) = ASSETS.iter().find(|(n, _, _)| *n == name).ok_or(PortalError::NotFound)?;
    let mut response = (*body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    Ok(response)
}
