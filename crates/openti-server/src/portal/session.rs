//! Sign-in, sign-out, password changes and the session cookie.
//!
//! The cookie holds 256 random bits; the store keeps only their SHA-256, so a copy of the
//! database signs no one in. Cookies are `HttpOnly`, `SameSite=Strict`, scoped to `/portal`,
//! and `Secure` when the public URL is https. The sign-in form, which has no session yet,
//! carries a token matched against a short-lived pre-session cookie (double submit).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use openti_store::{SessionRecord, UserRecord};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::accounts;
use super::layout;
use super::{is_tls, Portal, PortalError, BASE};
use crate::state::SharedState;

pub const SESSION_COOKIE: &str = "openti_session";
pub const PRESESSION_COOKIE: &str = "openti_signin";

/// The signed-in user of a request, as the guard resolved it.
#[derive(Debug, Clone)]
pub struct SessionCtx {
    pub user: UserRecord,
    pub id_hash: String,
    pub csrf: String,
}

impl SessionCtx {
    pub fn is_admin(&self) -> bool {
        self.user.role == openti_store::Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), PortalError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(PortalError::admins_only())
        }
    }

    /// Recorded as CreatedBy / LastModifiedBy / alert triage actor.
    pub fn actor(&self) -> String {
        format!("portal:{}", self.user.email)
    }
}

/// A signed-in user whose password is settled: every page but the password page needs one.
pub struct SignedIn(pub SessionCtx);

/// A signed-in user who may still have to replace a one-time password.
pub struct AnySession(pub SessionCtx);

fn session_of(parts: &Parts) -> Option<SessionCtx> {
    parts.extensions.get::<Option<SessionCtx>>().cloned().flatten()
}

fn requested_path(parts: &Parts) -> String {
    let uri = parts.extensions.get::<OriginalUri>().map(|o| o.0.clone()).unwrap_or_else(|| parts.uri.clone());
    uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| format!("{BASE}/"))
}

impl FromRequestParts<SharedState> for SignedIn {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, _: &SharedState) -> Result<Self, PortalError> {
        match session_of(parts) {
            None if parts.method == axum::http::Method::GET => Err(PortalError::SignIn { next: Some(requested_path(parts)) }),
            None => Err(PortalError::SignIn { next: None }),
            Some(s) if s.user.must_change_password => Err(PortalError::MustChangePassword),
            Some(s) => Ok(SignedIn(s)),
        }
    }
}

impl FromRequestParts<SharedState> for AnySession {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, _: &SharedState) -> Result<Self, PortalError> {
        session_of(parts).map(AnySession).ok_or(PortalError::SignIn { next: None })
    }
}

/// The numeric key in a portal URL (`/portal/alerts/{id}`); anything else is a 404 page,
/// like an id that does not exist or belongs to another tenant.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PortalError> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) if id > 0 => Ok(Id(id)),
            _ => Err(PortalError::NotFound),
        }
    }
}

/// The client's address, when the server was started with connect info.
pub struct PeerAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn hash_session_id(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of a cookie of the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Finds the session the request's cookie names, if it is valid.
pub async fn resolve(state: &SharedState, headers: &HeaderMap) -> Result<Option<SessionCtx>, PortalError> {
    let Some(value) = cookie(headers, SESSION_COOKIE).filter(|v| !v.is_empty() && v.len() <= 128) else { return Ok(None) };
    let id_hash = hash_session_id(&value);
    let found = state.store.find_session(&id_hash, state.clock.now()).await?;
    Ok(found.map(|(session, user)| SessionCtx { user, id_hash: session.id_hash, csrf: session.csrf_token }))
}

/// Only local paths of the portal are followed after sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(&format!("{BASE}/"))
                && n.chars().all(|c| c.is_ascii_graphic())
                && !n.contains("//")
                && !n.contains('\\')
                && !n.contains("/signin") =>
        {
            n.to_string()
        }
        _ => format!("{BASE}/"),
    }
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    next: Option<String>,
}

fn signin_page(token: &str, email: &str, next: &str, error: Option<&str>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            div.signin {
                h1 { "Sign in to OpenTI" }
                @if let Some(error) = error {
                    p.alert-error role="alert" id="signin-error" { (error) }
                }
                form method="post" action={ (BASE) "/signin" } {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="email" { "E-mail address" }
                        input type="email" id="email" name="email" value=(email) autocomplete="username" required autofocus;
                    }
                    div.field {
                        label for="password" { "Password" }
                        input type="password" id="password" name="password" autocomplete="current-password" required;
                    }
                    button.primary type="submit" { "Sign in" }
                }
                p.hint { "Accounts are created by an administrator with " code { "openti user create" } "." }
            }
        },
    )
}

pub async fn signin_form(
    State(state): State<SharedState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
    session: Extension<Option<SessionCtx>>,
) -> Response {
    if session.0.is_some() {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    let token = cookie(&headers, PRESESSION_COOKIE).filter(|t| t.len() >= 32 && t.len() <= 64).unwrap_or_else(openti_auth::generate_client_secret);
    let page = signin_page(&token, "", &safe_next(query.next.as_deref()), None);
    let mut response = Html(page.into_string()).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(PRESESSION_COOKIE, &token, 3600, is_tls(&state)));
    response
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn signin(
    State(state): State<SharedState>,
    Extension(portal): Extension<Arc<Portal>>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PortalError> {
    let now = state.clock.now();
    let email = form.email.trim().to_ascii_lowercase();
    let email_key = format!("email:{email}");
    let address_key = format!("ip:{}", peer.map(|p| p.to_string()).unwrap_or_default());
    for (limiter, key) in [(&portal.email_failures, &email_key), (&portal.address_failures, &address_key)] {
        if let Err(retry) = limiter.check(key, now) {
            tracing::info!("portal sign-in refused: too many failures");
            return Err(PortalError::TooManyRequests(retry));
        }
    }
    let user = state.store.find_user_by_email(&email).await?;
    let password = form.password.clone();
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => openti_auth::verify_password(&password, &hash),
        None => {
            openti_auth::dummy_verify(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let next = safe_next(form.next.as_deref());
    let Some(user) = user.filter(|_| verified) else {
        portal.email_failures.record_failure(&email_key, now);
        portal.address_failures.record_failure(&address_key, now);
        tracing::info!("portal sign-in failed");
        let token = cookie(&headers, PRESESSION_COOKIE).unwrap_or_default();
        let page = signin_page(&token, form.email.trim(), &next, Some("The e-mail address or the password is wrong."));
        return Ok((StatusCode::UNAUTHORIZED, Html(page.into_string())).into_response());
    };
    portal.email_failures.record_success(&email_key);
    let _ = state.store.delete_expired_sessions(now).await;
    let value = openti_auth::generate_client_secret();
    let record = SessionRecord {
        id_hash: hash_session_id(&value),
        user_id: user.id,
        csrf_token: openti_auth::generate_client_secret(),
        created_at: now,
        expires_at: now + portal.session_lifetime,
    };
    state.store.create_session(&record).await?;
    tracing::info!(user = %user.id, tenant = %user.tenant_id, "portal sign-in");
    let target = if user.must_change_password { format!("{BASE}/password") } else { next };
    let mut response = Redirect::to(&target).into_response();
    let secure = is_tls(&state);
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &value, portal.session_lifetime.num_seconds(), secure));
    h.append(header::SET_COOKIE, set_cookie(PRESESSION_COOKIE, "", 0, secure));
    Ok(response)
}

pub async fn signout(State(state): State<SharedState>, AnySession(session): AnySession) -> Result<Response, PortalError> {
    state.store.delete_session(&session.id_hash).await?;
    let mut response = Redirect::to(&format!("{BASE}/signin")).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, is_tls(&state)));
    Ok(response)
}

fn password_page(session: &SessionCtx, error: Option<&str>) -> maud::Markup {
    let forced = session.user.must_change_password;
    layout::page_markup(
        session,
        layout::Nav::None,
        "Change password",
        html! {
            h1 { "Change your password" }
            @if forced {
                p.notice role="status" { "You signed in with a one-time password. Choose your own password to continue." }
            }
            @if let Some(error) = error {
                p.alert-error role="alert" { (error) }
            }
            form.narrow method="post" action={ (BASE) "/password" } {
                (layout::csrf(session))
                div.field {
                    label for="current" { "Current password" }
                    input type="password" id="current" name="current" autocomplete="current-password" required;
                }
                div.field {
                    label for="new" { "New password" }
                    input type="password" id="new" name="new" autocomplete="new-password" minlength=(accounts::MIN_PASSWORD_LEN) required aria-describedby="new-hint";
                    p.hint id="new-hint" { "At least " (accounts::MIN_PASSWORD_LEN) " characters." }
                }
                div.field {
                    label for="confirm" { "Repeat the new password" }
                    input type="password" id="confirm" name="confirm" autocomplete="new-password" required;
                }
                button.primary type="submit" { "Change password" }
            }
        },
    )
}

pub async fn password_form(AnySession(session): AnySession) -> Html<String> {
    Html(password_page(&session, None).into_string())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    State(state): State<SharedState>,
    AnySession(session): AnySession,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PortalError> {
    let refuse = |message: &str| Ok((StatusCode::BAD_REQUEST, Html(password_page(&session, Some(message)).into_string())).into_response());
    if form.new != form.confirm {
        return refuse("The two new passwords differ.");
    }
    if let Err(message) = accounts::check_password(&form.new) {
        return refuse(&message);
    }
    if form.new == form.current {
        return refuse("The new password must differ from the current one.");
    }
    let hash = session.user.password_hash.clone();
    let (current, new) = (form.current.clone(), form.new.clone());
    let new_hash = tokio::task::spawn_blocking(move || openti_auth::verify_password(&current, &hash).then(|| openti_auth::hash_password(&new)))
        .await
        .map_err(PortalError::internal)?;
    let Some(new_hash) = new_hash else {
        return refuse("The current password is wrong.");
    };
    state.store.set_password(session.user.id, &new_hash, false, state.clock.now()).await?;
    // Other browsers signed in with the old password are signed out.
    state.store.delete_user_sessions(session.user.id, Some(&session.id_hash)).await?;
    tracing::info!(user = %session.user.id, "portal password changed");
    Ok(Redirect::to(&format!("{BASE}/")).into_response())
}
