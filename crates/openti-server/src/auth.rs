//! Bearer token checks on every API request. The tenant comes from the verified token,
//! never from the request; a token that fails any rule is a 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`, a valid one lacking the role a 403.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use openti_auth::AuthError;
use openti_model::ErrorCode;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::{KnownApp, SharedState};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: Uuid,
    pub app_id: Uuid,
    /// Recorded as CreatedBy / LastModifiedBy.
    pub name: String,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        if self.roles.iter().any(|r| r == role) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, format!("the application lacks the role '{role}'")))
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn known_app(state: &SharedState, app_id: Uuid) -> Result<Option<KnownApp>, ApiError> {
    if let Some(app) = state.apps.lock().map_err(ApiError::internal)?.get(&app_id) {
        return Ok(Some(app.clone()));
    }
    let Some(app) = state.store.find_app(app_id).await? else { return Ok(None) };
    let known = KnownApp { tenant_id: app.tenant_id, name: app.name };
    state.apps.lock().map_err(ApiError::internal)?.insert(app_id, known.clone());
    Ok(Some(known))
}

/// Verifies a bearer token and returns the caller.
pub async fn authenticate(state: &SharedState, token: Option<&str>) -> Result<Caller, ApiError> {
    let token = token.ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    let now = state.clock.now();
    let mut result = state.keys.load().verify(token, now, &state.config.accepted_audiences);
    if matches!(result, Err(AuthError::UnknownKey)) {
        // Another process (`openti key rotate`) may have added a key since we loaded the ring.
        state.reload_keys().await?;
        result = state.keys.load().verify(token, now, &state.config.accepted_audiences);
    }
    let claims = result.map_err(|e| ApiError::unauthorized(format!("the access token is not valid: {e}")))?;
    let (Some(tenant_id), Some(app_id)) = (claims.tenant_id(), claims.app_id()) else {
        return Err(ApiError::unauthorized("the access token lacks tid or appid"));
    };
    // The issuer names the tenant it was minted for; it must agree with `tid`.
    if !claims.iss.trim_end_matches('/').ends_with(&format!("/{tenant_id}")) {
        return Err(ApiError::unauthorized("the access token's issuer does not match its tenant"));
    }
    match known_app(state, app_id).await? {
        Some(app) if app.tenant_id == tenant_id => Ok(Caller { tenant_id, app_id, name: app.name, roles: claims.roles }),
        _ => Err(ApiError::unauthorized("the access token's application is not known in its tenant")),
    }
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        authenticate(state, bearer(parts)).await
    }
}
