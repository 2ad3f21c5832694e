//! Every error the HTTP layer sends, in one place: API errors become OData error JSON with
//! the status of their code (SPEC A.9); token endpoint errors become RFC 6749 §5.2 JSON.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openti_model::{ErrorCode, InputError};
use openti_store::StoreError;
use serde_json::json;

/// An API error: code (which fixes the status), message, and the property or option at fault.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub target: Option<String>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), target: None, retry_after: None }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(ErrorCode::MethodNotAllowed, "this method is not allowed on this resource")
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        // The detail goes to the log, never to the client.
        tracing::error!(error = %message, "internal error");
        Self::new(ErrorCode::InternalServerError, "an internal error occurred")
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        ApiError { code: e.code, message: e.message, target: e.target, retry_after: None }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::QuotaExceeded { .. } => ApiError::new(ErrorCode::QuotaExceeded, e.to_string()),
            StoreError::MissingDefinition { .. } => {
                ApiError::new(ErrorCode::BadRequest, e.to_string()).with_target("AlertDefinition@odata.bind")
            }
            StoreError::Conflict(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            StoreError::Invalid(m) => ApiError::bad_request(m),
            StoreError::Backend(m) => ApiError::internal(m),
        }
    }
}

impl From<openti_odata::QueryError> for ApiError {
    fn from(e: openti_odata::QueryError) -> Self {
        ApiError::new(ErrorCode::BadRequest, e.message.clone()).with_target(e.option.clone())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut error = json!({"code": self.code.as_str(), "message": self.message});
        if let Some(target) = &self.target {
            error["target"] = json!(target);
        }
        let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        if self.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        headers.insert("OData-Version", HeaderValue::from_static("4.0"));
        response
    }
}

/// An OAuth 2.0 token endpoint error (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub retry_after: Option<u64>,
    /// Set when the client authenticated with HTTP Basic (RFC 6749 §5.2 asks for a challenge).
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError { status, error, description: description.into(), retry_after: None, basic_challenge: false }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.basic_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"openti\""));
        }
        response
    }
}
