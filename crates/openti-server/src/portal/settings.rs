//! Settings (administrators only): Custom TI (enable the application, its details, a new
//! secret shown once with "Save details to file", "Generate token", add and revoke secrets),
//! other applications such as sensors with their roles, and the tenant's portal users.
//!
//! A new secret exists in clear only in the response that shows it, so the details file is
//! offered from that very page as a `data:` link; nothing is kept to download later.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use openti_auth::{TokenRequest, ROLE_TELEMETRY_INGEST, ROLE_TI_READWRITE};
use openti_store::{App, SecretRecord, Tenant};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{self, Nav};
use super::session::{SessionCtx, SignedIn};
use super::{PortalError, BASE};
use crate::identity::{SecretValidity, DEFAULT_RESOURCE};
use crate::state::SharedState;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    CustomTi,
    Apps,
    Users,
}

fn tabs(active: Tab) -> Markup {
    let tab = |t: Tab, path: &str, label: &str| {
        html! { li { a href={ (BASE) (path) } aria-current=[(active == t).then_some("page")] { (label) } } }
    };
    html! {
        nav.tabs aria-label="Settings" {
            ul {
                (tab(Tab::CustomTi, "/settings/custom-ti", "Custom TI"))
                (tab(Tab::Apps, "/settings/apps", "Applications"))
                (tab(Tab::Users, "/settings/users", "Users"))
            }
        }
    }
}

fn settings_page(session: &SessionCtx, active: Tab, title: &str, body: Markup) -> Response {
    layout::page(
        session,
        Nav::Settings,
        title,
        html! {
            h1 { "Settings" }
            (tabs(active))
            (body)
        },
    )
}

async fn admin_tenant(state: &SharedState, session: &SessionCtx) -> Result<Tenant, PortalError> {
    session.require_admin()?;
    state.store.find_tenant(&session.user.tenant_id.to_string()).await?.ok_or(PortalError::NotFound)
}

/// A download link holding `json` itself, so the secret inside never needs storing.
fn save_link(json: &str, filename: &str, label: &str) -> Markup {
    let href = format!("data:application/json;base64,{}", base64::engine::general_purpose::STANDARD.encode(json.as_bytes()));
    html! { a.button.primary id="save-details" href=(href) download=(filename) { (label) } }
}

/// The box that shows a new secret, once.
fn secret_once(secret: &str, file: Option<(&str, &str)>) -> Markup {
    html! {
        section.panel.secret-once aria-labelledby="secret-title" {
            h2 id="secret-title" { "Copy the client secret now" }
            p { "This is the only time it is shown: OpenTI keeps only a hash of it." }
            (layout::copy_field("client-secret", "Client secret", secret))
            @if let Some((json, filename)) = file {
                p { (save_link(json, filename, "Save details to file")) }
                p.hint { "The file holds the client secret: keep it like a password." }
            }
        }
    }
}

fn secret_state(s: &SecretRecord, now: DateTime<Utc>) -> (&'static str, &'static str) {
    if s.revoked_at.is_some() {
        ("Revoked", "pill off")
    } else if s.is_valid_at(now) {
        ("Valid", "pill on")
    } else {
        ("Expired", "pill off")
    }
}

fn secrets_section(session: &SessionCtx, app: &App, secrets: &[SecretRecord], now: DateTime<Utc>) -> Markup {
    let mut secrets = secrets.to_vec();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    html! {
        section.panel aria-labelledby="secrets-title" {
            h2 id="secrets-title" { "Client secrets" }
            p.muted { "Several secrets may be valid at once, so a new one can be rolled out before the old one is revoked." }
            (layout::table_wrap("Client secrets", html! {
                table.secrets {
                    thead { tr { th scope="col" { "Description" } th scope="col" { "Starts with" } th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for s in &secrets {
                            @let (label, class) = secret_state(s, now);
                            tr data-secret-id=(s.id) {
                                td { @if s.description.is_empty() { span.muted { "(no description)" } } @else { (s.description) } }
                                td { code { (s.hint) "…" } }
                                td { (layout::time_of(Some(s.created_at))) }
                                td { @match s.expires_at { Some(t) => (layout::time_of(Some(t))), None => "Never" } }
                                td { span class=(class) { (label) } }
                                td {
                                    @if s.revoked_at.is_none() {
                                        form.inline method="post" action={ (BASE) "/settings/apps/" (app.client_id) "/secrets/" (s.id) "/revoke" } data-confirm="Revoke this secret? Clients using it will stop getting tokens." {
                                            (layout::csrf(session))
                                            button.danger.small type="submit" aria-label={ "Revoke secret " (s.description) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }))
            h3 { "Add a secret" }
            form.filters method="post" action={ (BASE) "/settings/apps/" (app.client_id) "/secrets" } {
                (layout::csrf(session))
                div.field.grow {
                    label for="secret-description" { "Description" }
                    input type="text" id="secret-description" name="description" maxlength="200" placeholder="e.g. SOAR playbook, 2027 rotation";
                }
                div.field {
                    label for="secret-validity" { "Valid for" }
                    select id="secret-validity" name="validity" {
                        option value="1y" selected { "1 year" }
                        option value="2y" { "2 years" }
                        option value="never" { "Never expires" }
                    }
                }
                div.field.actions { button.primary type="submit" { "Add secret" } }
            }
        }
    }
}

fn custom_ti_details(state: &SharedState, tenant: &Tenant, app: &App) -> Markup {
    html! {
        section.panel aria-labelledby="app-title" {
            h2 id="app-title" { "Application details" }
            div.copy-grid {
                (layout::copy_field("app-name", "Application name", &app.name))
                (layout::copy_field("tenant-id", "Tenant id", &tenant.id.to_string()))
                (layout::copy_field("client-id", "Client id", &app.client_id.to_string()))
                (layout::copy_field("auth-url", "Authorization URL", &state.identity.authorization_url(tenant.id)))
                (layout::copy_field("resource", "Resource", DEFAULT_RESOURCE))
                (layout::copy_field("api-url", "API URL", &state.identity.api_url()))
            }
        }
    }
}

fn token_section(session: &SessionCtx) -> Markup {
    html! {
        section.panel aria-labelledby="token-title" {
            h2 id="token-title" { "Generate token" }
            p { "Get an access token for the custom TI application right here, e.g. to try the API with curl. It is valid for 60 minutes." }
            form.inline method="post" action={ (BASE) "/settings/custom-ti/token" } {
                (layout::csrf(session))
                button type="submit" { "Generate token" }
            }
        }
    }
}

/// The Custom TI page, with optional one-time content on top (a new secret or a token).
async fn custom_ti_page(state: &SharedState, session: &SessionCtx, tenant: &Tenant, top: Option<Markup>, done: Option<&str>) -> Result<Response, PortalError> {
    let app = state.store.custom_ti_app(tenant.id).await?;
    let body = match app {
        None => html! {
            section.panel aria-labelledby="enable-title" {
                h2 id="enable-title" { "Custom TI application" }
                p { "Scripts and tools call the custom TI API with the client credentials of this tenant's custom TI application. Enable it to get its client id and a client secret." }
                form method="post" action={ (BASE) "/settings/custom-ti/enable" } {
                    (layout::csrf(session))
                    button.primary type="submit" { "Enable custom TI application" }
                }
            }
        },
        Some(app) => {
            let secrets = state.identity.list_secrets(tenant, app.client_id).await?;
            html! {
                (layout::notice(done))
                @if let Some(top) = top { (top) }
                (custom_ti_details(state, tenant, &app))
                (token_section(session))
                (secrets_section(session, &app, &secrets, state.clock.now()))
            }
        }
    };
    Ok(settings_page(session, Tab::CustomTi, "Custom TI", body))
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn custom_ti(State(state): State<SharedState>, SignedIn(session): SignedIn, Query(q): Query<DoneQuery>) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    custom_ti_page(&state, &session, &tenant, None, q.done.as_deref()).await
}

pub async fn enable(State(state): State<SharedState>, SignedIn(session): SignedIn) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let details = state.identity.enable_custom_ti(&tenant, state.clock.now()).await?;
    tracing::info!(tenant = %tenant.id, user = %session.user.id, "custom TI application enabled in the portal");
    // The same JSON as `openti app enable --json`.
    let json = serde_json::to_string(&details).map_err(PortalError::internal)?;
    let top = html! {
        p.notice role="status" { "The custom TI application is enabled." }
        (secret_once(&details.client_secret, Some((&json, "custom-ti-app.json"))))
    };
    custom_ti_page(&state, &session, &tenant, Some(top), None).await
}

pub async fn generate_token(State(state): State<SharedState>, SignedIn(session): SignedIn) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let app = state.store.custom_ti_app(tenant.id).await?.ok_or_else(|| PortalError::BadRequest("Enable the custom TI application first.".into()))?;
    let issued = state
        .keys
        .load()
        .issue(&TokenRequest {
            issuer: format!("{}/{}/", state.config.public_url, tenant.id),
            audience: DEFAULT_RESOURCE.to_string(),
            tenant_id: tenant.id,
            app_id: app.client_id,
            roles: app.roles.clone(),
            now: state.clock.now(),
            lifetime: state.config.token_lifetime,
        })
        .map_err(PortalError::internal)?;
    tracing::info!(tenant = %tenant.id, user = %session.user.id, "access token generated in the portal");
    let expires = DateTime::<Utc>::from_timestamp(issued.expires_on, 0);
    let top = html! {
        section.panel.secret-once aria-labelledby="token-out" {
            h2 id="token-out" { "Access token" }
            p { "Valid until " (layout::time_of(expires)) ". Send it as " code { "Authorization: Bearer …" } " to the API URL." }
            div.field {
                label for="access-token" { "Access token" }
                textarea id="access-token" readonly rows="5" spellcheck="false" { (issued.access_token) }
            }
            button.secondary type="button" data-copy="access-token" { "Copy token" }
        }
    };
    custom_ti_page(&state, &session, &tenant, Some(top), None).await
}

#[derive(Deserialize)]
pub struct SecretForm {
    #[serde(default)]
    description: String,
    #[serde(default)]
    validity: String,
}

async fn tenant_app(state: &SharedState, tenant: &Tenant, client_id: &str) -> Result<App, PortalError> {
    let client_id = Uuid::parse_str(client_id).map_err(|_| PortalError::NotFound)?;
    match state.store.find_app(client_id).await? {
        Some(app) if app.tenant_id == tenant.id => Ok(app),
        _ => Err(PortalError::NotFound),
    }
}

pub async fn add_secret(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Path(client_id): Path<String>,
    Form(form): Form<SecretForm>,
) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let app = tenant_app(&state, &tenant, &client_id).await?;
    let validity = match form.validity.as_str() {
        "2y" => SecretValidity::Years(2),
        "never" => SecretValidity::Never,
        _ => SecretValidity::Years(1),
    };
    let secret = state.identity.add_secret(&tenant, app.client_id, form.description.trim(), validity, state.clock.now()).await?;
    tracing::info!(tenant = %tenant.id, client_id = %app.client_id, user = %session.user.id, "client secret added in the portal");
    if app.is_custom_ti {
        let details = state.identity.details(&tenant, &app, secret.client_secret.clone());
        let json = serde_json::to_string(&details).map_err(PortalError::internal)?;
        let top = html! {
            p.notice role="status" { "A new secret was added." }
            (secret_once(&secret.client_secret, Some((&json, "custom-ti-app.json"))))
        };
        return custom_ti_page(&state, &session, &tenant, Some(top), None).await;
    }
    let json = serde_json::to_string(&crate::identity::AppCredentials {
        tenant_id: tenant.id,
        client_id: app.client_id,
        client_secret: secret.client_secret.clone(),
        roles: app.roles.clone(),
    })
    .map_err(PortalError::internal)?;
    let top = secret_once(&secret.client_secret, Some((&json, "app-credentials.json")));
    app_page(&state, &session, &tenant, &app, Some(top), None).await
}

pub async fn revoke_secret(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Path((client_id, secret_id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let app = tenant_app(&state, &tenant, &client_id).await?;
    let secret_id = Uuid::parse_str(&secret_id).map_err(|_| PortalError::NotFound)?;
    state.identity.revoke_secret(&tenant, app.client_id, secret_id, state.clock.now()).await?;
    tracing::info!(tenant = %tenant.id, client_id = %app.client_id, user = %session.user.id, "client secret revoked in the portal");
    let back = if app.is_custom_ti { format!("{BASE}/settings/custom-ti?done=revoked") } else { format!("{BASE}/settings/apps/{}?done=revoked", app.client_id) };
    Ok(Redirect::to(&back).into_response())
}

fn roles_list(roles: &[String]) -> Markup {
    html! {
        ul.roles { @for r in roles { li { span.pill { (r) } } } }
    }
}

async fn apps_page(state: &SharedState, session: &SessionCtx, tenant: &Tenant, top: Option<Markup>) -> Result<Response, PortalError> {
    let apps = state.store.list_apps(tenant.id).await?;
    let body = html! {
        @if let Some(top) = top { (top) }
        section.panel aria-labelledby="apps-title" {
            h2 id="apps-title" { "Applications" }
            p.muted { "Every client of this tenant: the custom TI application and others, such as sensors that send telemetry." }
            (layout::table_wrap("Applications", html! {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Client id" } th scope="col" { "Roles" } th scope="col" { "Created" } } }
                    tbody {
                        @for a in &apps {
                            tr data-client-id=(a.client_id) {
                                td {
                                    @if a.is_custom_ti { a href={ (BASE) "/settings/custom-ti" } { (a.name) } }
                                    @else { a href={ (BASE) "/settings/apps/" (a.client_id) } { (a.name) } }
                                }
                                td { code { (a.client_id) } }
                                td { (roles_list(&a.roles)) }
                                td { (layout::time_of(Some(a.created_at))) }
                            }
                        }
                        @if apps.is_empty() { tr.empty-row { td colspan="4" { "No applications yet." } } }
                    }
                }
            }))
        }
        section.panel aria-labelledby="new-app" {
            h2 id="new-app" { "Create an application" }
            form.stack method="post" action={ (BASE) "/settings/apps" } {
                (layout::csrf(session))
                div.field {
                    label for="app-name-new" { "Name" }
                    input type="text" id="app-name-new" name="name" maxlength="100" required placeholder="e.g. sensor-hq";
                }
                fieldset {
                    legend { "Roles" }
                    div.field.check {
                        input type="checkbox" id="role-ingest" name="role_ingest" checked;
                        label for="role-ingest" { (ROLE_TELEMETRY_INGEST) " — send telemetry to the ingest API" }
                    }
                    div.field.check {
                        input type="checkbox" id="role-ti" name="role_ti";
                        label for="role-ti" { (ROLE_TI_READWRITE) " — read and write definitions and IOCs through the API" }
                    }
                }
                div.actions { button.primary type="submit" { "Create application" } }
            }
        }
    };
    Ok(settings_page(session, Tab::Apps, "Applications", body))
}

pub async fn apps(State(state): State<SharedState>, SignedIn(session): SignedIn) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    apps_page(&state, &session, &tenant, None).await
}

#[derive(Deserialize)]
pub struct AppForm {
    #[serde(default)]
    name: String,
    role_ingest: Option<String>,
    role_ti: Option<String>,
}

pub async fn create_app(State(state): State<SharedState>, SignedIn(session): SignedIn, Form(form): Form<AppForm>) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let mut roles = Vec::new();
    if form.role_ingest.is_some() {
        roles.push(ROLE_TELEMETRY_INGEST.to_string());
    }
    if form.role_ti.is_some() {
        roles.push(ROLE_TI_READWRITE.to_string());
    }
    if roles.is_empty() {
        return Err(PortalError::BadRequest("Give the application at least one role.".into()));
    }
    let credentials = state.identity.create_app(&tenant, form.name.trim(), roles, state.clock.now()).await?;
    tracing::info!(tenant = %tenant.id, client_id = %credentials.client_id, user = %session.user.id, "application created in the portal");
    // The same JSON as `openti app create --json`.
    let json = serde_json::to_string(&credentials).map_err(PortalError::internal)?;
    let top = html! {
        p.notice role="status" { "Created the application “" (form.name.trim()) "”." }
        (layout::copy_field("new-client-id", "Client id", &credentials.client_id.to_string()))
        (secret_once(&credentials.client_secret, Some((&json, "app-credentials.json"))))
    };
    apps_page(&state, &session, &tenant, Some(top)).await
}

async fn app_page(state: &SharedState, session: &SessionCtx, tenant: &Tenant, app: &App, top: Option<Markup>, done: Option<&str>) -> Result<Response, PortalError> {
    let secrets = state.identity.list_secrets(tenant, app.client_id).await?;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/settings/apps" } { "Applications" } " › " span { (app.name) } }
        (layout::notice(done))
        @if let Some(top) = top { (top) }
        section.panel aria-labelledby="app-title" {
            h2 id="app-title" { (app.name) }
            div.copy-grid {
                (layout::copy_field("tenant-id", "Tenant id", &tenant.id.to_string()))
                (layout::copy_field("client-id", "Client id", &app.client_id.to_string()))
                (layout::copy_field("auth-url", "Authorization URL", &state.identity.authorization_url(tenant.id)))
            }
            h3 { "Roles" }
            (roles_list(&app.roles))
        }
        (secrets_section(session, app, &secrets, state.clock.now()))
    };
    Ok(settings_page(session, Tab::Apps, &app.name, body))
}

pub async fn app(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Path(client_id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let app = tenant_app(&state, &tenant, &client_id).await?;
    if app.is_custom_ti {
        return Ok(Redirect::to(&format!("{BASE}/settings/custom-ti")).into_response());
    }
    app_page(&state, &session, &tenant, &app, None, q.done.as_deref()).await
}

pub async fn users(State(state): State<SharedState>, SignedIn(session): SignedIn) -> Result<Response, PortalError> {
    let tenant = admin_tenant(&state, &session).await?;
    let users = state.store.list_users(tenant.id).await?;
    let body = html! {
        section.panel aria-labelledby="users-title" {
            h2 id="users-title" { "Portal users of " (tenant.name) }
            p.muted { "Add users with " code { "openti user create --tenant " (tenant.name) " --email … --role admin|analyst" } ". Analysts triage alerts and read definitions and IOCs; administrators also manage them, the applications and their secrets." }
            (layout::table_wrap("Users", html! {
                table {
                    thead { tr { th scope="col" { "E-mail address" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { "Password" } } }
                    tbody {
                        @for u in &users {
                            tr {
                                td { (u.email) }
                                td { span.pill { (u.role.as_str()) } }
                                td { (layout::time_of(Some(u.created_at))) }
                                td { @if u.must_change_password { "One-time password not changed yet" } @else { "Set" } }
                            }
                        }
                    }
                }
            }))
        }
    };
    Ok(settings_page(&session, Tab::Users, "Users", body))
}
