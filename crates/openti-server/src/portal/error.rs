//! Every failure of a portal request, as an HTML page with the right status. Details of
//! internal errors go to the log, never to the page.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use openti_store::StoreError;

use super::layout;
use crate::identity::IdentityError;

#[derive(Debug)]
pub enum PortalError {
    /// Not signed in: go to the sign-in page, then come back to `next`.
    SignIn { next: Option<String> },
    /// Not signed in on an endpoint a script calls (the alert stream).
    Unauthorized,
    /// A one-time password must be replaced first.
    MustChangePassword,
    Forbidden(String),
    NotFound,
    BadRequest(String),
    TooManyRequests(u64),
    Internal,
}

impl PortalError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "portal internal error");
        PortalError::Internal
    }

    pub fn admins_only() -> Self {
        PortalError::Forbidden("Only administrators can manage applications, secrets and users.".into())
    }
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backend(_) => PortalError::internal(e),
            other => PortalError::BadRequest(other.to_string()),
        }
    }
}

impl From<IdentityError> for PortalError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => s.into(),
            IdentityError::UnknownApp(_) | IdentityError::UnknownTenant(_) => PortalError::NotFound,
            other => PortalError::BadRequest(other.to_string()),
        }
    }
}

impl From<openti_odata::QueryError> for PortalError {
    fn from(e: openti_odata::QueryError) -> Self {
        PortalError::BadRequest(format!("The search could not be run: {}", e.message))
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            PortalError::TooManyRequests(secs) => Some(*secs),
            _ => None,
        };
        let (status, title, message) = match self {
            PortalError::SignIn { next } => {
                let target = match next {
                    Some(next) => {
                        let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish();
                        format!("{}/signin?{query}", super::BASE)
                    }
                    None => format!("{}/signin", super::BASE),
                };
                return Redirect::to(&target).into_response();
            }
            PortalError::MustChangePassword => return Redirect::to(&format!("{}/password", super::BASE)).into_response(),
            PortalError::Unauthorized => (StatusCode::UNAUTHORIZED, "Signed out", "Sign in again to continue.".to_string()),
            PortalError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            PortalError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing at this address.".to_string()),
            PortalError::BadRequest(m) => (StatusCode::BAD_REQUEST, "That did not work", m),
            PortalError::TooManyRequests(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Too many failed sign-ins. Try again in {secs} seconds."),
            ),
            PortalError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "An internal error occurred; it has been logged.".to_string()),
        };
        let body = layout::bare(
            title,
            html! {
                h1 { (title) }
                p.lead { (message) }
                p { a href={ (super::BASE) "/" } { "Back to the portal" } }
            },
        );
        let mut response = (status, Html(body.into_string())).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
