//! Indicators of compromise: the list (search, type, enabled, paging through OData), an IOC's
//! page with its hit count and last sighting, create, edit, enable/disable and delete with
//! confirmation. Input goes through the API's validation (`parse_ioc`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use openti_model::input::parse_ioc;
use openti_model::schema::INDICATOR_OF_COMPROMISE;
use openti_model::{DetectionFunction, IndicatorOfCompromise, InputError, IocDraft, IocType};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::definitions::{self, enabled_filter, enabled_select, EnabledForm};
use super::layout::{self, bool_of, int_of, opt_str, str_of, Nav};
use super::odata::{self, contains, literal, Listing};
use super::session::{Id, SessionCtx, SignedIn};
use super::{PortalError, BASE};
use crate::state::SharedState;

pub const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct IocFilter {
    #[serde(default)]
    pub q: String,
    #[serde(default, rename = "type")]
    pub ioc_type: String,
    #[serde(default)]
    pub enabled: String,
    #[serde(default)]
    pub definition: String,
    /// Text, not a number: `serde(flatten)` hands numbers over as strings.
    #[serde(default)]
    pub page: String,
}

impl IocFilter {
    pub fn page(&self) -> u64 {
        self.page.trim().parse::<u64>().unwrap_or(1).max(1)
    }

    fn ioc_type(&self) -> &'static str {
        IocType::parse(&self.ioc_type).map(|t| t.as_str()).unwrap_or("")
    }

    fn query(&self) -> String {
        self.q.trim().chars().take(200).collect()
    }

    pub fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("q", self.query()),
            ("type", self.ioc_type().to_string()),
            ("enabled", self.enabled.clone()),
            ("definition", self.definition.trim().to_string()),
        ]
    }
}

/// One page of IOCs, optionally of one definition.
pub async fn query_list(state: &SharedState, session: &SessionCtx, filter: &IocFilter, definition: Option<i64>) -> Result<Listing, PortalError> {
    let mut query = odata::Query::new("Id desc", PER_PAGE).page(filter.page());
    let definition = definition.or_else(|| filter.definition.trim().parse::<i64>().ok());
    if let Some(d) = definition {
        query = query.filter(format!("AlertDefinitionId eq {d}"));
    }
    let q = filter.query();
    if !q.is_empty() {
        query = query.filter(contains("Value", &q));
    }
    if !filter.ioc_type().is_empty() {
        query = query.filter(format!("Type eq {}", literal(filter.ioc_type())));
    }
    if let Some(e) = enabled_filter(&filter.enabled) {
        query = query.filter(format!("Enabled eq {e}"));
    }
    odata::run(state, session.user.tenant_id, &INDICATOR_OF_COMPROMISE, &query).await
}

pub fn filter_form(path: &str, filter: &IocFilter, with_definition: bool) -> Markup {
    layout::filters(path, "Filter IOCs", html! {
        div.field.grow {
            label for="i-q" { "Search values" }
            input type="search" id="i-q" name="q" value=(filter.query()) placeholder="e.g. evil.example";
        }
        div.field {
            label for="i-type" { "Type" }
            select id="i-type" name="type" { (layout::options(definitions::ioc_types(), filter.ioc_type(), Some("Any type"))) }
        }
        (enabled_select("i-enabled", &filter.enabled))
        @if with_definition {
            div.field.small {
                label for="i-definition" { "Definition Id" }
                input type="text" inputmode="numeric" pattern="[0-9]*" id="i-definition" name="definition" value=(filter.definition.trim());
            }
        }
    })
}

pub fn table(rows: &[Map<String, Value>], with_definition: bool) -> Markup {
    layout::table_wrap(
        "Indicators of compromise",
        html! {
            table.iocs.cards-on-phone {
                thead {
                    tr {
                        th scope="col" class="num" { "Id" }
                        th scope="col" { "Type" }
                        th scope="col" { "Value" }
                        th scope="col" { "Function" }
                        th scope="col" { "State" }
                        @if with_definition { th scope="col" { "Definition" } }
                        th scope="col" class="num" { "HitCount" }
                        th scope="col" { "LastSeenAt" }
                        th scope="col" { "ExpiresAt" }
                    }
                }
                tbody {
                    @for i in rows {
                        @let id = int_of(i, "Id");
                        tr data-ioc-id=(id) {
                            td.num data-label="Id" { a href={ (BASE) "/iocs/" (id) } { (id) } }
                            td data-label="Type" { (str_of(i, "Type")) }
                            td.value data-label="Value" { a href={ (BASE) "/iocs/" (id) } { code { (str_of(i, "Value")) } } }
                            td data-label="Function" { (str_of(i, "DetectionFunction")) }
                            td data-label="State" { (layout::enabled_badge(bool_of(i, "Enabled"))) }
                            @if with_definition {
                                td data-label="Definition" { a href={ (BASE) "/definitions/" (int_of(i, "AlertDefinitionId")) } { "#" (int_of(i, "AlertDefinitionId")) } }
                            }
                            td.num data-label="HitCount" data-field="HitCount" { (int_of(i, "HitCount")) }
                            td data-label="LastSeenAt" data-field="LastSeenAt" { (layout::time(opt_str(i, "LastSeenAt"))) }
                            td data-label="ExpiresAt" { (layout::time(opt_str(i, "ExpiresAt"))) }
                        }
                    }
                    @if rows.is_empty() {
                        tr.empty-row { td colspan="9" { "No IOCs match." } }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(flatten)]
    filter: IocFilter,
    done: Option<String>,
}

pub async fn list(State(state): State<SharedState>, SignedIn(session): SignedIn, Query(query): Query<ListQuery>) -> Result<Response, PortalError> {
    let listing = query_list(&state, &session, &query.filter, None).await?;
    let body = html! {
        div.page-head {
            h1 { "Indicators of compromise" }
            @if session.is_admin() { a.button.primary href={ (BASE) "/iocs/new" } { "New IOC" } }
        }
        (layout::notice(query.done.as_deref()))
        (filter_form("/iocs", &query.filter, true))
        (table(&listing.rows, true))
        (layout::pager("/iocs", &query.filter.params(), query.filter.page(), PER_PAGE, listing.rows.len(), listing.total))
    };
    Ok(layout::page(&session, Nav::Iocs, "Indicators of compromise", body))
}

async fn load(state: &SharedState, session: &SessionCtx, id: i64) -> Result<IndicatorOfCompromise, PortalError> {
    state.store.get_ioc(session.user.tenant_id, id).await?.ok_or(PortalError::NotFound)
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

pub async fn show(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PortalError> {
    // The page shows HitCount and LastSeenAt.
    state.stats.flush_for_read(session.user.tenant_id).await;
    let i = load(&state, &session, id).await?;
    let definition = state.store.get_definition(session.user.tenant_id, i.alert_definition_id).await?;
    let kv = |label: &str, key: &str, value: Markup| html! { div.kv { dt { (label) } dd data-field=(key) { (value) } } };
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/iocs" } { "IOCs" } " › " span { "#" (i.id) } }
        (layout::notice(query.done.as_deref()))
        div.page-head {
            h1 { (i.ioc_type.as_str()) " " code.big data-field="Value" { (i.value) } }
            div.badges { (layout::enabled_badge(i.enabled)) }
        }
        @if session.is_admin() {
            div.toolbar {
                a.button href={ (BASE) "/iocs/" (i.id) "/edit" } { "Edit" }
                form.inline method="post" action={ (BASE) "/iocs/" (i.id) "/enabled" } {
                    (layout::csrf(&session))
                    input type="hidden" name="enabled" value=(if i.enabled { "false" } else { "true" });
                    button type="submit" { (if i.enabled { "Disable" } else { "Enable" }) }
                }
                a.button.danger href={ (BASE) "/iocs/" (i.id) "/delete" } { "Delete" }
            }
        }
        section.panel {
            dl.kvs {
                (kv("Type", "Type", html! { (i.ioc_type.as_str()) }))
                (kv("Detection function", "DetectionFunction", html! { (i.detection_function.as_str()) }))
                (kv("Alert definition", "AlertDefinition", html! {
                    a href={ (BASE) "/definitions/" (i.alert_definition_id) } {
                        @match &definition { Some(d) => { (d.title) }, None => { "#" (i.alert_definition_id) } }
                    }
                }))
                (kv("HitCount", "HitCount", html! { (i.hit_count) }))
                (kv("LastSeenAt", "LastSeenAt", layout::time_of(i.last_seen_at)))
                (kv("ExpiresAt", "ExpiresAt", layout::time_of(i.expires_at)))
                (kv("Created", "CreatedAt", html! { (layout::time_of(Some(i.created_at))) @if let Some(by) = &i.created_by { " by " (by) } }))
                (kv("Last modified", "LastModifiedAt", html! { (layout::time_of(i.last_modified_at)) @if let Some(by) = &i.last_modified_by { " by " (by) } }))
            }
        }
    };
    Ok(layout::page(&session, Nav::Iocs, &format!("IOC {}", i.id), body))
}

#[derive(Debug, Default, Deserialize)]
pub struct IocForm {
    #[serde(default)]
    definition: String,
    #[serde(default, rename = "type")]
    ioc_type: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    detection_function: String,
    #[serde(default)]
    expires_at: String,
    enabled: Option<String>,
}

impl IocForm {
    fn from_ioc(i: &IndicatorOfCompromise) -> Self {
        IocForm {
            definition: i.alert_definition_id.to_string(),
            ioc_type: i.ioc_type.as_str().into(),
            value: i.value.clone(),
            detection_function: i.detection_function.as_str().into(),
            // datetime-local wants no offset and no fraction; the form says UTC.
            expires_at: i.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
            enabled: i.enabled.then(|| "on".into()),
        }
    }

    fn draft(&self) -> Result<IocDraft, InputError> {
        let expires = if self.expires_at.trim().is_empty() { Value::Null } else { Value::String(self.expires_at.trim().to_string()) };
        parse_ioc(
            &json!({
                "Type": self.ioc_type,
                "Value": self.value.trim(),
                "DetectionFunction": if self.detection_function.is_empty() { "Equals" } else { self.detection_function.as_str() },
                "ExpiresAt": expires,
                "Enabled": self.enabled.is_some(),
                "AlertDefinition@odata.bind": format!("AlertDefinitions({})", self.definition.trim()),
            }),
            None,
        )
    }
}

fn ioc_form(session: &SessionCtx, action: &str, form: &IocForm, choices: &[(i64, String)], error: Option<&InputError>, submit: &str) -> Markup {
    let invalid = |name: &str| error.and_then(|e| e.target.as_deref()).is_some_and(|t| t == name || t.starts_with("AlertDefinition") && name == "AlertDefinition");
    html! {
        @if let Some(e) = error {
            div.alert-error role="alert" id="form-error" { p { (e.message) } }
        }
        form.stack method="post" action=(action) {
            (layout::csrf(session))
            div.field.invalid[invalid("AlertDefinition")] {
                label for="f-definition" { "Alert definition" }
                select id="f-definition" name="definition" required {
                    @for (id, title) in choices {
                        option value=(id) selected[id.to_string() == form.definition.trim()] { (title) " (#" (id) ")" }
                    }
                }
            }
            div.row {
                div.field.invalid[invalid("Type")] {
                    label for="f-type" { "Type" }
                    select id="f-type" name="type" required { (layout::options(IocType::NAMES, &form.ioc_type, None)) }
                }
                div.field.invalid[invalid("DetectionFunction")] {
                    label for="f-function" { "Detection function" }
                    select id="f-function" name="detection_function" aria-describedby="f-function-hint" { (layout::options(DetectionFunction::NAMES, &form.detection_function, None)) }
                    p.hint id="f-function-hint" { "Hashes and IP addresses use Equals; domains also StartWith, EndWith, Contains; URLs and file names also Regex." }
                }
            }
            div.field.invalid[invalid("Value")] {
                label for="f-value" { "Value" }
                input type="text" id="f-value" name="value" value=(form.value) maxlength="2048" required aria-invalid=[invalid("Value").then_some("true")] spellcheck="false" autocomplete="off";
            }
            div.field.invalid[invalid("ExpiresAt")] {
                label for="f-expires" { "Expires at (UTC)" span.muted { " (optional)" } }
                input type="datetime-local" id="f-expires" name="expires_at" value=(form.expires_at);
            }
            div.field.check {
                input type="checkbox" id="f-enabled" name="enabled" checked[form.enabled.is_some()];
                label for="f-enabled" { "Enabled" }
            }
            div.actions {
                button.primary type="submit" { (submit) }
                a.button href={ (BASE) "/iocs" } { "Cancel" }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    definition: String,
}

pub async fn new_form(State(state): State<SharedState>, SignedIn(session): SignedIn, Query(query): Query<NewQuery>) -> Result<Response, PortalError> {
    session.require_admin()?;
    let choices = definitions::choices(&state, &session).await?;
    if choices.is_empty() {
        let body = html! {
            h1 { "New IOC" }
            p { "An IOC belongs to an alert definition. " a href={ (BASE) "/definitions/new" } { "Create a definition" } " first." }
        };
        return Ok(layout::page(&session, Nav::Iocs, "New IOC", body));
    }
    let form = IocForm { definition: query.definition, ioc_type: "Sha256".into(), detection_function: "Equals".into(), enabled: Some("on".into()), ..Default::default() };
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/iocs" } { "IOCs" } " › " span { "New" } }
        h1 { "New IOC" }
        (ioc_form(&session, &format!("{BASE}/iocs"), &form, &choices, None, "Create IOC"))
    };
    Ok(layout::page(&session, Nav::Iocs, "New IOC", body))
}

fn store_error(e: openti_store::StoreError) -> Result<InputError, PortalError> {
    match e {
        openti_store::StoreError::MissingDefinition { .. } => {
            Ok(InputError::new(openti_model::ErrorCode::BadRequest, "AlertDefinition", "Choose an alert definition of yours."))
        }
        other => definitions::store_input_error(other),
    }
}

async fn invalid(state: &SharedState, session: &SessionCtx, action: &str, form: &IocForm, error: InputError, submit: &str) -> Result<Response, PortalError> {
    let choices = definitions::choices(state, session).await?;
    let body = html! {
        h1 { (submit) }
        (ioc_form(session, action, form, &choices, Some(&error), submit))
    };
    Ok((StatusCode::BAD_REQUEST, layout::page(session, Nav::Iocs, submit, body)).into_response())
}

pub async fn create(State(state): State<SharedState>, SignedIn(session): SignedIn, Form(form): Form<IocForm>) -> Result<Response, PortalError> {
    session.require_admin()?;
    let error = match form.draft() {
        Ok(draft) => match state.store.create_iocs(session.user.tenant_id, std::slice::from_ref(&draft), &session.actor(), state.clock.now()).await {
            Ok(_) => return Ok(Redirect::to(&format!("{BASE}/definitions/{}?done=created", draft.alert_definition_id)).into_response()),
            Err(e) => store_error(e)?,
        },
        Err(e) => e,
    };
    invalid(&state, &session, &format!("{BASE}/iocs"), &form, error, "Create IOC").await
}

pub async fn edit_form(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    let i = load(&state, &session, id).await?;
    let choices = definitions::choices(&state, &session).await?;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/iocs" } { "IOCs" } " › " a href={ (BASE) "/iocs/" (id) } { "#" (id) } " › " span { "Edit" } }
        h1 { "Edit IOC" }
        (ioc_form(&session, &format!("{BASE}/iocs/{id}"), &IocForm::from_ioc(&i), &choices, None, "Save changes"))
    };
    Ok(layout::page(&session, Nav::Iocs, "Edit IOC", body))
}

pub async fn update(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id, Form(form): Form<IocForm>) -> Result<Response, PortalError> {
    session.require_admin()?;
    load(&state, &session, id).await?;
    let error = match form.draft() {
        Ok(draft) => match state.store.update_ioc(session.user.tenant_id, id, &draft, &session.actor(), state.clock.now()).await {
            Ok(Some(_)) => return Ok(Redirect::to(&format!("{BASE}/iocs/{id}?done=saved")).into_response()),
            Ok(None) => return Err(PortalError::NotFound),
            Err(e) => store_error(e)?,
        },
        Err(e) => e,
    };
    invalid(&state, &session, &format!("{BASE}/iocs/{id}"), &form, error, "Save changes").await
}

pub async fn set_enabled(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id, Form(form): Form<EnabledForm>) -> Result<Response, PortalError> {
    session.require_admin()?;
    let i = load(&state, &session, id).await?;
    let mut draft = IocDraft::from(&i);
    draft.enabled = form.enabled == "true";
    state.store.update_ioc(session.user.tenant_id, id, &draft, &session.actor(), state.clock.now()).await?.ok_or(PortalError::NotFound)?;
    let done = if draft.enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("{BASE}/iocs/{id}?done={done}")).into_response())
}

pub async fn delete_form(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    let i = load(&state, &session, id).await?;
    let consequences = html! { (i.ioc_type.as_str()) " " code { (i.value) } " will stop matching. Alerts it already raised stay." };
    let body = layout::confirm_delete(&session, "/iocs", "IOCs", id, "Delete this IOC?", consequences, "Delete IOC");
    Ok(layout::page(&session, Nav::Iocs, "Delete IOC", body))
}

pub async fn delete(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    let i = load(&state, &session, id).await?;
    if !state.store.delete_ioc(session.user.tenant_id, id).await? {
        return Err(PortalError::NotFound);
    }
    Ok(Redirect::to(&format!("{BASE}/definitions/{}?done=deleted", i.alert_definition_id)).into_response())
}
