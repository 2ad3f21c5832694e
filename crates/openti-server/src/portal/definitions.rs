//! Alert definitions: the list (search, severity, enabled, paging through OData), a
//! definition's page with its IOCs, create, edit, enable/disable and delete with confirmation.
//! Input goes through the same validation as the API (`parse_definition`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use openti_model::input::parse_definition;
use openti_model::schema::{ALERT_DEFINITION, INDICATOR_OF_COMPROMISE};
use openti_model::{AlertCategory, AlertDefinition, AlertSeverity, DefinitionDraft, InputError, IocType};
use serde::Deserialize;
use serde_json::{json, Value};

use super::iocs::{self, IocFilter};
use super::layout::{self, bool_of, int_of, str_of, Nav};
use super::odata::{self, contains, literal};
use super::session::{Id, SessionCtx, SignedIn};
use super::{PortalError, BASE};
use crate::state::SharedState;

const PER_PAGE: u64 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    page: Option<u64>,
    done: Option<String>,
}

/// `true`/`false` from a filter select, anything else is "any".
pub fn enabled_filter(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub async fn list(State(state): State<SharedState>, SignedIn(session): SignedIn, Query(filter): Query<ListFilter>) -> Result<Response, PortalError> {
    let page = filter.page.unwrap_or(1).max(1);
    let q = filter.q.trim().chars().take(200).collect::<String>();
    let severity = AlertSeverity::parse(&filter.severity).map(|s| s.as_str()).unwrap_or("");
    let enabled = enabled_filter(&filter.enabled);
    let mut query = odata::Query::new("Id desc", PER_PAGE).page(page);
    if !q.is_empty() {
        query = query.filter(format!("{} or {}", contains("Title", &q), contains("Name", &q)));
    }
    if !severity.is_empty() {
        query = query.filter(format!("Severity eq {}", literal(severity)));
    }
    if let Some(e) = enabled {
        query = query.filter(format!("Enabled eq {e}"));
    }
    let listing = odata::run(&state, session.user.tenant_id, &ALERT_DEFINITION, &query).await?;
    let params = vec![("q", q.clone()), ("severity", severity.to_string()), ("enabled", filter.enabled.clone())];
    let body = html! {
        div.page-head {
            h1 { "Alert definitions" }
            @if session.is_admin() {
                a.button.primary href={ (BASE) "/definitions/new" } { "New definition" }
            }
        }
        (layout::notice(filter.done.as_deref()))
        (layout::filters("/definitions", "Filter definitions", html! {
            div.field.grow {
                label for="f-q" { "Search" }
                input type="search" id="f-q" name="q" value=(q) placeholder="Title or name";
            }
            div.field {
                label for="f-severity" { "Severity" }
                select id="f-severity" name="severity" { (layout::options(AlertSeverity::NAMES, severity, Some("Any severity"))) }
            }
            (enabled_select("f-enabled", &filter.enabled))
        }))
        (layout::table_wrap("Alert definitions", html! {
            table.cards-on-phone {
                thead {
                    tr {
                        th scope="col" class="num" { "Id" }
                        th scope="col" { "Title" }
                        th scope="col" { "Name" }
                        th scope="col" { "Severity" }
                        th scope="col" { "Category" }
                        th scope="col" { "State" }
                    }
                }
                tbody {
                    @for d in &listing.rows {
                        tr data-definition-id=(int_of(d, "Id")) {
                            td.num data-label="Id" { (int_of(d, "Id")) }
                            td.title-cell { a href={ (BASE) "/definitions/" (int_of(d, "Id")) } { (str_of(d, "Title")) } }
                            td data-label="Name" { (str_of(d, "Name")) }
                            td data-label="Severity" { (layout::severity_badge(str_of(d, "Severity"))) }
                            td data-label="Category" { (str_of(d, "Category")) }
                            td data-label="State" { (layout::enabled_badge(bool_of(d, "Enabled"))) }
                        }
                    }
                    @if listing.rows.is_empty() {
                        tr.empty-row { td colspan="6" { "No definitions match." } }
                    }
                }
            }
        }))
        (layout::pager("/definitions", &params, page, PER_PAGE, listing.rows.len(), listing.total))
    };
    Ok(layout::page(&session, Nav::Definitions, "Alert definitions", body))
}

pub fn enabled_select(id: &str, value: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { "State" }
            select id=(id) name="enabled" {
                option value="" selected[value.is_empty()] { "Enabled or disabled" }
                option value="true" selected[value == "true"] { "Enabled" }
                option value="false" selected[value == "false"] { "Disabled" }
            }
        }
    }
}

pub async fn load(state: &SharedState, session: &SessionCtx, id: i64) -> Result<AlertDefinition, PortalError> {
    state.store.get_definition(session.user.tenant_id, id).await?.ok_or(PortalError::NotFound)
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(flatten)]
    iocs: IocFilter,
    done: Option<String>,
}

pub async fn show(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PortalError> {
    let d = load(&state, &session, id).await?;
    let ioc_list = iocs::query_list(&state, &session, &query.iocs, Some(id)).await?;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/definitions" } { "Alert definitions" } " › " span { "#" (d.id) } }
        (layout::notice(query.done.as_deref()))
        div.page-head {
            h1 data-field="Title" { (d.title) }
            div.badges { (layout::severity_badge(d.severity.as_str())) " " (layout::enabled_badge(d.enabled)) }
        }
        @if session.is_admin() {
            div.toolbar {
                a.button href={ (BASE) "/definitions/" (d.id) "/edit" } { "Edit" }
                (toggle_form(&session, d.id, d.enabled))
                a.button href={ (BASE) "/iocs/new?definition=" (d.id) } { "Add IOC" }
                a.button href={ (BASE) "/definitions/" (d.id) "/import" } { "Import IOCs from CSV" }
                a.button.danger href={ (BASE) "/definitions/" (d.id) "/delete" } { "Delete" }
            }
        }
        section.panel aria-labelledby="def-details" {
            h2 id="def-details" { "Details" }
            dl.kvs {
                div.kv { dt { "Name" } dd data-field="Name" { (d.name) } }
                div.kv { dt { "Category" } dd data-field="Category" { (d.category.as_str()) } }
                div.kv { dt { "Description shown in alerts" } dd data-field="UxDescription" { (d.ux_description) } }
                div.kv { dt { "Recommended action" } dd data-field="RecommendedAction" { (d.recommended_action.as_deref().unwrap_or("—")) } }
                div.kv { dt { "Internal description" } dd data-field="InternalDescription" { (d.internal_description.as_deref().unwrap_or("—")) } }
                div.kv { dt { "Created" } dd { (layout::time_of(Some(d.created_at))) @if let Some(by) = &d.created_by { " by " (by) } } }
                div.kv { dt { "Last modified" } dd { (layout::time_of(d.last_modified_at)) @if let Some(by) = &d.last_modified_by { " by " (by) } } }
            }
        }
        section.panel aria-labelledby="def-iocs" {
            h2 id="def-iocs" { "Indicators of compromise" }
            (iocs::filter_form(&format!("/definitions/{}", d.id), &query.iocs, false))
            (iocs::table(&ioc_list.rows, false))
            (layout::pager(&format!("/definitions/{}", d.id), &query.iocs.params(), query.iocs.page(), iocs::PER_PAGE, ioc_list.rows.len(), ioc_list.total))
        }
    };
    Ok(layout::page(&session, Nav::Definitions, &d.title, body))
}

fn toggle_form(session: &SessionCtx, id: i64, enabled: bool) -> Markup {
    html! {
        form.inline method="post" action={ (BASE) "/definitions/" (id) "/enabled" } {
            (layout::csrf(session))
            input type="hidden" name="enabled" value=(if enabled { "false" } else { "true" });
            button type="submit" { (if enabled { "Disable" } else { "Enable" }) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DefinitionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    ux_description: String,
    #[serde(default)]
    recommended_action: String,
    #[serde(default)]
    internal_description: String,
    enabled: Option<String>,
}

impl DefinitionForm {
    fn from_definition(d: &AlertDefinition) -> Self {
        DefinitionForm {
            name: d.name.clone(),
            title: d.title.clone(),
            severity: d.severity.as_str().into(),
            category: d.category.as_str().into(),
            ux_description: d.ux_description.clone(),
            recommended_action: d.recommended_action.clone().unwrap_or_default(),
            internal_description: d.internal_description.clone().unwrap_or_default(),
            enabled: d.enabled.then(|| "on".into()),
        }
    }

    fn draft(&self) -> Result<DefinitionDraft, InputError> {
        let optional = |s: &str| if s.trim().is_empty() { Value::Null } else { Value::String(s.to_string()) };
        parse_definition(
            &json!({
                "Name": self.name.trim(),
                "Title": self.title.trim(),
                "Severity": self.severity,
                "Category": self.category,
                "UxDescription": self.ux_description,
                "RecommendedAction": optional(&self.recommended_action),
                "InternalDescription": optional(&self.internal_description),
                "Enabled": self.enabled.is_some(),
            }),
            None,
        )
    }
}

/// One text input of the definition form: its property, label, limit and hint.
#[derive(Clone, Copy)]
struct TextField {
    property: &'static str,
    label: &'static str,
    max: usize,
    required: bool,
    multiline: bool,
    hint: &'static str,
}

const TITLE: TextField = TextField { property: "Title", label: "Title", max: 120, required: true, multiline: false, hint: "The alert's title: one sentence." };
const NAME: TextField = TextField { property: "Name", label: "Name", max: 100, required: true, multiline: false, hint: "For you; not shown in alerts." };
const UX_DESCRIPTION: TextField = TextField { property: "UxDescription", label: "Description shown in alerts", max: 500, required: true, multiline: true, hint: "What the analyst reads." };
const RECOMMENDED_ACTION: TextField = TextField { property: "RecommendedAction", label: "Recommended action", max: 2000, required: false, multiline: true, hint: "What to do about it." };
const INTERNAL_DESCRIPTION: TextField = TextField { property: "InternalDescription", label: "Internal description", max: 350, required: false, multiline: true, hint: "Not shown in alerts." };

fn text_field(field: &TextField, value: &str, error: Option<&InputError>) -> Markup {
    let TextField { property: id, label, max, required, multiline, hint } = *field;
    let invalid = error.and_then(|e| e.target.as_deref()) == Some(id);
    let field_id = format!("f-{id}");
    let hint_id = format!("{field_id}-hint");
    html! {
        div.field.invalid[invalid] {
            label for=(field_id) { (label) @if !required { span.muted { " (optional)" } } }
            @if multiline {
                textarea id=(field_id) name=(snake(id)) maxlength=(max) rows="3" required[required] aria-invalid=[invalid.then_some("true")] aria-describedby=(hint_id) { (value) }
            } @else {
                input type="text" id=(field_id) name=(snake(id)) value=(value) maxlength=(max) required[required] aria-invalid=[invalid.then_some("true")] aria-describedby=(hint_id);
            }
            p.hint id=(hint_id) { (hint) " At most " (max) " characters." }
        }
    }
}

/// `UxDescription` → `ux_description`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn definition_form(session: &SessionCtx, action: &str, form: &DefinitionForm, error: Option<&InputError>, submit: &str) -> Markup {
    html! {
        @if let Some(e) = error {
            div.alert-error role="alert" id="form-error" {
                p { (e.message) }
                @if let Some(target) = &e.target { p { a href={ "#f-" (target) } { "Go to the field" } } }
            }
        }
        form.stack method="post" action=(action) {
            (layout::csrf(session))
            (text_field(&TITLE, &form.title, error))
            (text_field(&NAME, &form.name, error))
            div.row {
                div.field {
                    label for="f-Severity" { "Severity" }
                    select id="f-Severity" name="severity" required { (layout::options(AlertSeverity::NAMES, &form.severity, None)) }
                }
                div.field {
                    label for="f-Category" { "Category" }
                    select id="f-Category" name="category" required { (layout::options(AlertCategory::NAMES, &form.category, None)) }
                }
            }
            (text_field(&UX_DESCRIPTION, &form.ux_description, error))
            (text_field(&RECOMMENDED_ACTION, &form.recommended_action, error))
            (text_field(&INTERNAL_DESCRIPTION, &form.internal_description, error))
            div.field.check {
                input type="checkbox" id="f-Enabled" name="enabled" checked[form.enabled.is_some()];
                label for="f-Enabled" { "Enabled (a disabled definition raises no alerts)" }
            }
            div.actions {
                button.primary type="submit" { (submit) }
                a.button href={ (BASE) "/definitions" } { "Cancel" }
            }
        }
    }
}

pub async fn new_form(SignedIn(session): SignedIn) -> Result<Response, PortalError> {
    session.require_admin()?;
    let form = DefinitionForm { severity: "Medium".into(), category: "SuspiciousActivity".into(), enabled: Some("on".into()), ..Default::default() };
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/definitions" } { "Alert definitions" } " › " span { "New" } }
        h1 { "New alert definition" }
        (definition_form(&session, &format!("{BASE}/definitions"), &form, None, "Create definition"))
    };
    Ok(layout::page(&session, Nav::Definitions, "New alert definition", body))
}

fn invalid(session: &SessionCtx, title: &str, body: Markup) -> Response {
    (StatusCode::BAD_REQUEST, layout::page(session, Nav::Definitions, title, body)).into_response()
}

/// Store errors a form can show (quota, invalid input); anything else is the server's.
pub(super) fn store_input_error(e: openti_store::StoreError) -> Result<InputError, PortalError> {
    match e {
        openti_store::StoreError::QuotaExceeded { .. } | openti_store::StoreError::Invalid(_) => {
            Ok(InputError { code: openti_model::ErrorCode::BadRequest, target: None, message: e.to_string() })
        }
        other => Err(other.into()),
    }
}

pub async fn create(State(state): State<SharedState>, SignedIn(session): SignedIn, Form(form): Form<DefinitionForm>) -> Result<Response, PortalError> {
    session.require_admin()?;
    let error = match form.draft() {
        Ok(draft) => match state.store.create_definitions(session.user.tenant_id, &[draft], &session.actor(), state.clock.now()).await {
            Ok(created) => {
                let id = created.first().map(|d| d.id).unwrap_or(0);
                return Ok(Redirect::to(&format!("{BASE}/definitions/{id}?done=created")).into_response());
            }
            Err(e) => store_input_error(e)?,
        },
        Err(e) => e,
    };
    let body = html! {
        h1 { "New alert definition" }
        (definition_form(&session, &format!("{BASE}/definitions"), &form, Some(&error), "Create definition"))
    };
    Ok(invalid(&session, "New alert definition", body))
}

pub async fn edit_form(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    let d = load(&state, &session, id).await?;
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href={ (BASE) "/definitions" } { "Alert definitions" } " › "
            a href={ (BASE) "/definitions/" (id) } { "#" (id) } " › " span { "Edit" }
        }
        h1 { "Edit alert definition" }
        (definition_form(&session, &format!("{BASE}/definitions/{id}"), &DefinitionForm::from_definition(&d), None, "Save changes"))
    };
    Ok(layout::page(&session, Nav::Definitions, "Edit alert definition", body))
}

pub async fn update(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    Form(form): Form<DefinitionForm>,
) -> Result<Response, PortalError> {
    session.require_admin()?;
    load(&state, &session, id).await?;
    let error = match form.draft() {
        Ok(draft) => match state.store.update_definition(session.user.tenant_id, id, &draft, &session.actor(), state.clock.now()).await {
            Ok(Some(_)) => return Ok(Redirect::to(&format!("{BASE}/definitions/{id}?done=saved")).into_response()),
            Ok(None) => return Err(PortalError::NotFound),
            Err(e) => store_input_error(e)?,
        },
        Err(e) => e,
    };
    let body = html! {
        h1 { "Edit alert definition" }
        (definition_form(&session, &format!("{BASE}/definitions/{id}"), &form, Some(&error), "Save changes"))
    };
    Ok(invalid(&session, "Edit alert definition", body))
}

#[derive(Deserialize)]
pub struct EnabledForm {
    #[serde(default)]
    pub enabled: String,
}

pub async fn set_enabled(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    Form(form): Form<EnabledForm>,
) -> Result<Response, PortalError> {
    session.require_admin()?;
    let d = load(&state, &session, id).await?;
    let mut draft = DefinitionDraft::from(&d);
    draft.enabled = form.enabled == "true";
    state.store.update_definition(session.user.tenant_id, id, &draft, &session.actor(), state.clock.now()).await?.ok_or(PortalError::NotFound)?;
    let done = if draft.enabled { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("{BASE}/definitions/{id}?done={done}")).into_response())
}

pub async fn delete_form(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    let d = load(&state, &session, id).await?;
    let mut count = odata::Query::new("Id", 1).filter(format!("AlertDefinitionId eq {id}"));
    count.select = Some("Id".into());
    let iocs = odata::run(&state, session.user.tenant_id, &INDICATOR_OF_COMPROMISE, &count).await?.total.unwrap_or(0);
    let consequences = html! { "“" strong { (d.title) } "” and its " strong data-ioc-count { (iocs) } " IOCs will be deleted. Alerts it already raised stay." };
    let body = layout::confirm_delete(&session, "/definitions", "Alert definitions", id, "Delete this alert definition?", consequences, "Delete definition and IOCs");
    Ok(layout::page(&session, Nav::Definitions, "Delete alert definition", body))
}

pub async fn delete(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    if !state.store.delete_definition(session.user.tenant_id, id).await? {
        return Err(PortalError::NotFound);
    }
    Ok(Redirect::to(&format!("{BASE}/definitions?done=deleted")).into_response())
}

/// For IOC forms: the tenant's definitions, by title.
pub async fn choices(state: &SharedState, session: &SessionCtx) -> Result<Vec<(i64, String)>, PortalError> {
    let mut q = odata::Query::new("Title", 1000);
    q.count = false;
    q.select = Some("Id,Title".into());
    let rows = odata::run(state, session.user.tenant_id, &ALERT_DEFINITION, &q).await?.rows;
    Ok(rows.iter().map(|r| (int_of(r, "Id"), str_of(r, "Title").to_string())).collect())
}

/// IocType names, for filters.
pub fn ioc_types() -> &'static [&'static str] {
    IocType::NAMES
}
