//! The OAuth 2.0 client credentials token endpoint (RFC 6749 §4.4, Azure AD v1 response
//! shape) and the key discovery documents (JWKS, OpenID configuration).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use openti_auth::TokenRequest;
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, OAuthError};
use crate::identity::DEFAULT_RESOURCE;
use crate::state::SharedState;

/// Largest token request body; real ones are a few hundred bytes.
const MAX_TOKEN_BODY: usize = 16 * 1024;

/// Client credentials from the form body or an HTTP Basic header (RFC 6749 §2.3.1).
struct Credentials {
    client_id: String,
    client_secret: String,
    via_basic: bool,
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().map_err(|_| OAuthError::invalid_request("the Authorization header is not text"))?;
    let Some((scheme, encoded)) = text.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::invalid_request("the Basic credentials are not valid base64"))?;
    let (id, secret) =
        decoded.split_once(':').ok_or_else(|| OAuthError::invalid_request("the Basic credentials lack a ':'"))?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let unescape = |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Ok(Some((unescape(id).unwrap_or_default(), unescape(secret).unwrap_or_default())))
}

fn is_absolute_uri(text: &str) -> bool {
    url::Url::parse(text).map(|u| !u.cannot_be_a_base() || u.scheme() == "urn").unwrap_or(false)
}

pub async fn token(
    State(state): State<SharedState>,
    Path(tenant_key): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let now = state.clock.now();
    let source_key = format!("ip:{}", peer.ip());
    if let Err(retry) = state.source_failures.check(&source_key, now) {
        return Err(too_many(retry));
    }
    if body.len() > MAX_TOKEN_BODY {
        return Err(OAuthError::invalid_request("the request body is too large"));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| -> Result<Option<String>, OAuthError> {
        let mut values = form.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.clone());
        if values.next().is_some() {
            // RFC 6749 §3.2: parameters must not be repeated.
            return Err(OAuthError::invalid_request(format!("'{name}' is repeated")));
        }
        Ok(first.filter(|v| !v.is_empty()))
    };
    let grant_type = field("grant_type")?.ok_or_else(|| OAuthError::invalid_request("'grant_type' is required"))?;
    if grant_type != "client_credentials" {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant type '{grant_type}' is not supported; use client_credentials"),
        ));
    }
    let resource = field("resource")?;
    if let Some(r) = &resource {
        if !is_absolute_uri(r) {
            return Err(OAuthError::new(StatusCode::BAD_REQUEST, "invalid_resource", format!("'{r}' is not an absolute URI")));
        }
    }
    if let Some(scope) = field("scope")? {
        // v2-style clients send `{resource}/.default`; anything else asks for what we don't grant.
        if !scope.split(' ').all(|s| s.ends_with("/.default")) {
            return Err(OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", format!("scope '{scope}' is not supported; request `{{resource}}/.default` or omit it")));
        }
    }
    let form_id = field("client_id")?;
    let form_secret = field("client_secret")?;
    let credentials = match basic_credentials(&headers)? {
        Some((client_id, client_secret)) => {
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request("use either HTTP Basic or client_secret in the body, not both"));
            }
            Credentials { client_id, client_secret, via_basic: true }
        }
        None => Credentials {
            client_id: form_id.ok_or_else(|| OAuthError::invalid_request("'client_id' is required"))?,
            client_secret: form_secret.ok_or_else(|| OAuthError::invalid_request("'client_secret' is required"))?,
            via_basic: false,
        },
    };
    let client_key = format!("client:{}", credentials.client_id.to_ascii_lowercase());
    if let Err(retry) = state.token_failures.check(&client_key, now) {
        return Err(too_many(retry));
    }
    let fail = |description: &str| {
        state.token_failures.record_failure(&client_key, now);
        state.source_failures.record_failure(&source_key, now);
        let mut e = OAuthError::invalid_client(description);
        e.basic_challenge = credentials.via_basic;
        e
    };
    let tenant = state.store.find_tenant(&tenant_key).await.map_err(|e| {
        tracing::error!(error = %e, "token endpoint store failure");
        OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "an internal error occurred")
    })?;
    let (Some(tenant), Ok(client_id)) = (tenant, Uuid::parse_str(&credentials.client_id)) else {
        return Err(fail("the client is unknown in this tenant, or the secret is wrong, expired or revoked"));
    };
    let app = state.identity.authenticate_client(&tenant, client_id, &credentials.client_secret, now).await.map_err(|e| {
        tracing::error!(error = %e, "token endpoint store failure");
        OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "an internal error occurred")
    })?;
    let Some(app) = app else {
        tracing::info!(tenant = %tenant.id, client_id = %client_id, "token request with bad client credentials");
        return Err(fail("the client is unknown in this tenant, or the secret is wrong, expired or revoked"));
    };
    state.token_failures.record_success(&client_key);
    let resource = resource.unwrap_or_else(|| DEFAULT_RESOURCE.to_string());
    if let Err(e) = state.refresh_keys().await {
        // The current ring still signs valid tokens; a rotation is picked up on a later request.
        tracing::warn!(error = %e, "cannot check for rotated signing keys");
    }
    let issued = state
        .keys
        .load()
        .issue(&TokenRequest {
            issuer: format!("{}/{}/", state.config.public_url, tenant.id),
            audience: resource.clone(),
            tenant_id: tenant.id,
            app_id: app.client_id,
            roles: app.roles.clone(),
            now,
            lifetime: state.config.token_lifetime,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "an internal error occurred")
        })?;
    tracing::info!(tenant = %tenant.id, client_id = %client_id, "issued an access token");
    // Azure AD v1 sent the numbers as JSON strings; clients parse them that way.
    let expires_in = (issued.expires_in - 1).to_string();
    let body = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "expires_on": issued.expires_on.to_string(),
        "not_before": issued.not_before.to_string(),
        "resource": resource,
        "access_token": issued.access_token,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn too_many(retry_after: u64) -> OAuthError {
    let mut e = OAuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        format!("too many failed attempts; retry after {retry_after} seconds"),
    );
    e.retry_after = Some(retry_after.max(1));
    e
}

async fn known_tenant(state: &SharedState, key: &str) -> Result<openti_store::Tenant, ApiError> {
    state.store.find_tenant(key).await?.ok_or_else(|| ApiError::not_found(format!("no tenant '{key}'")))
}

pub async fn jwks(State(state): State<SharedState>, Path(tenant): Path<String>) -> Result<Response, ApiError> {
    known_tenant(&state, &tenant).await?;
    state.refresh_keys().await?;
    Ok(Json(state.keys.load().jwks()).into_response())
}

pub async fn openid_configuration(State(state): State<SharedState>, Path(tenant): Path<String>) -> Result<Response, ApiError> {
    let tenant = known_tenant(&state, &tenant).await?;
    let base = &state.config.public_url;
    Ok(Json(json!({
        "issuer": format!("{base}/{}/", tenant.id),
        "token_endpoint": format!("{base}/{}/oauth2/token", tenant.id),
        "jwks_uri": format!("{base}/{}/discovery/keys", tenant.id),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "tenant_region_scope": null,
    }))
    .into_response())
}
