//! The portal (SPEC C): server-rendered HTML at `/portal/` for tenant administrators and
//! analysts. Sign-in, Settings › Custom TI, alert definitions and IOCs, the alert queue and
//! a dashboard, over the same store, OData engine and detection engine as the API.
//!
//! Every page is rendered with `maud`, which escapes all interpolated text (the chart too is
//! built with it, as inline SVG). The CSS and JS are compiled into the binary; pages carry no
//! inline script, so the Content-Security-Policy allows scripts from the portal alone. One middleware ([`guard`]) resolves the session cookie, refuses
//! any unsafe request without the session's CSRF token (403), and adds the security headers.
//! Every read is scoped to the signed-in user's tenant, so another tenant's ids are 404s.

pub mod accounts;
mod alerts;
mod assets;
mod csv;
mod dashboard;
mod definitions;
mod error;
mod import;
mod iocs;
mod layout;
mod odata;
mod session;
mod settings;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Duration;
use openti_auth::FailureLimiter;

use crate::state::SharedState;
pub use error::PortalError;
pub use session::{SessionCtx, SESSION_COOKIE};

/// Where the portal is mounted; every link is built from it.
pub const BASE: &str = "/portal";

/// State only the portal needs, beside the shared [`crate::AppState`].
pub struct Portal {
    /// Sign-in failures per e-mail address: a few guesses, then a lockout.
    pub email_failures: FailureLimiter,
    /// Sign-in failures per source address: more lenient (offices share an address).
    pub address_failures: FailureLimiter,
    /// How long a session lasts.
    pub session_lifetime: Duration,
}

impl Default for Portal {
    fn default() -> Self {
        Portal {
            email_failures: FailureLimiter::new(5, Duration::minutes(15), Duration::minutes(5)),
            address_failures: FailureLimiter::new(50, Duration::minutes(15), Duration::minutes(5)),
            session_lifetime: Duration::hours(12),
        }
    }
}

/// Every portal route, under [`BASE`], to be merged into the service's router.
pub fn router(state: SharedState) -> Router<SharedState> {
    let portal = Arc::new(Portal::default());
    Router::new()
        .route("/portal", get(|| async { Redirect::permanent(&format!("{BASE}/")) }))
        .route("/portal/", get(dashboard::page))
        .route("/portal/assets/{name}", get(assets::serve))
        .route("/portal/signin", get(session::signin_form).post(session::signin))
        .route("/portal/signout", post(session::signout))
        .route("/portal/password", get(session::password_form).post(session::change_password))
        .route("/portal/alerts", get(alerts::queue))
        .route("/portal/alerts/stream", get(alerts::stream))
        .route("/portal/alerts/{id}", get(alerts::show).post(alerts::triage))
        .route("/portal/definitions", get(definitions::list).post(definitions::create))
        .route("/portal/definitions/new", get(definitions::new_form))
        .route("/portal/definitions/{id}", get(definitions::show).post(definitions::update))
        .route("/portal/definitions/{id}/edit", get(definitions::edit_form))
        .route("/portal/definitions/{id}/enabled", post(definitions::set_enabled))
        .route("/portal/definitions/{id}/delete", get(definitions::delete_form).post(definitions::delete))
        .route(
            "/portal/definitions/{id}/import",
            get(import::form).post(import::upload).layer(axum::extract::DefaultBodyLimit::max(import::MAX_UPLOAD)),
        )
        .route("/portal/iocs", get(iocs::list).post(iocs::create))
        .route("/portal/iocs/new", get(iocs::new_form))
        .route("/portal/iocs/{id}", get(iocs::show).post(iocs::update))
        .route("/portal/iocs/{id}/edit", get(iocs::edit_form))
        .route("/portal/iocs/{id}/enabled", post(iocs::set_enabled))
        .route("/portal/iocs/{id}/delete", get(iocs::delete_form).post(iocs::delete))
        .route("/portal/settings", get(|| async { Redirect::to(&format!("{BASE}/settings/custom-ti")) }))
        .route("/portal/settings/custom-ti", get(settings::custom_ti))
        .route("/portal/settings/custom-ti/enable", post(settings::enable))
        .route("/portal/settings/custom-ti/token", post(settings::generate_token))
        .route("/portal/settings/apps", get(settings::apps).post(settings::create_app))
        .route("/portal/settings/apps/{client_id}", get(settings::app))
        .route("/portal/settings/apps/{client_id}/secrets", post(settings::add_secret))
        .route("/portal/settings/apps/{client_id}/secrets/{secret_id}/revoke", post(settings::revoke_secret))
        .route("/portal/settings/users", get(settings::users))
        .route("/portal/{*rest}", axum::routing::any(|| async { PortalError::NotFound }))
        .layer(axum::middleware::from_fn_with_state(state, guard))
        .layer(Extension(portal))
}

/// Largest form body the guard reads to find the CSRF token (imports are multipart and carry
/// the token in a header or the query string instead).
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// Resolves the session, checks the CSRF token of unsafe requests, adds security headers.
async fn guard(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts.uri.path().starts_with(&format!("{BASE}/assets/")) {
        return with_security_headers(next.run(Request::from_parts(parts, body)).await);
    }
    let session = match session::resolve(&state, &parts.headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let mut body = body;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let expected = if parts.uri.path() == format!("{BASE}/signin") {
            session::cookie(&parts.headers, session::PRESESSION_COOKIE)
        } else {
            session.as_ref().map(|s| s.csrf.clone())
        };
        let (provided, rebuilt) = match csrf_of(&parts, body).await {
            Ok(found) => found,
            Err(e) => return e.into_response(),
        };
        body = rebuilt;
        let ok = matches!((&expected, &provided), (Some(e), Some(p)) if !e.is_empty() && session::constant_time_eq(e.as_bytes(), p.as_bytes()));
        if !ok {
            tracing::info!(path = %parts.uri.path(), "portal request refused: missing or wrong CSRF token");
            return with_security_headers(PortalError::Forbidden("This form has expired or did not come from this site. Go back, reload the page and try again.".into()).into_response());
        }
    }
    parts.extensions.insert(session);
    let response = next.run(Request::from_parts(parts, body)).await;
    with_security_headers(response)
}

/// The CSRF token a request carries: the `X-CSRF-Token` header, the `csrf` field of a
/// form body, or (for multipart uploads without script) the `csrf` query parameter.
async fn csrf_of(parts: &axum::http::request::Parts, body: axum::body::Body) -> Result<(Option<String>, axum::body::Body), PortalError> {
    if let Some(v) = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return Ok((Some(v.to_string()), body));
    }
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| PortalError::BadRequest("The form is too large.".into()))?;
        let token = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
        return Ok((token, axum::body::Body::from(bytes)));
    }
    let token = parts
        .uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()));
    Ok((token, body))
}

fn with_security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether a browser reaches the service over TLS (then cookies carry `Secure`).
fn is_tls(state: &SharedState) -> bool {
    state.config.public_url.to_ascii_lowercase().starts_with("https://")
}
