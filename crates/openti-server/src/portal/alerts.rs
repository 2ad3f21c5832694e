//! The alert queue (filtered by status, severity and device, newest first, live over
//! Server-Sent Events), the alert page and triage.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use futures::StreamExt as _;
use maud::{html, Markup};
use openti_model::input::parse_alert_patch;
use openti_model::schema::ALERT;
use openti_model::{AlertClassification, AlertSeverity, AlertStatus};
use openti_store::AlertUpdate;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio_stream::wrappers::BroadcastStream;

use super::layout::{self, int_of, opt_str, str_of, Nav};
use super::odata::{self, contains, literal};
use super::session::{Id, SessionCtx, SignedIn};
use super::{PortalError, BASE};
use crate::state::SharedState;

const PER_PAGE: u64 = 25;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    page: Option<u64>,
    /// For the stream: the newest alert the page already shows.
    #[serde(default)]
    after: Option<i64>,
}

impl QueueFilter {
    fn normalised(mut self) -> Self {
        self.status = AlertStatus::parse(&self.status).map(|s| s.as_str().to_string()).unwrap_or_default();
        self.severity = AlertSeverity::parse(&self.severity).map(|s| s.as_str().to_string()).unwrap_or_default();
        self.device = self.device.trim().chars().take(200).collect();
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        vec![("status", self.status.clone()), ("severity", self.severity.clone()), ("device", self.device.clone())]
    }

    /// Whether a streamed alert belongs in this view (the same rules as the OData filter).
    fn admits(&self, alert: &Map<String, Value>) -> bool {
        let device = self.device.to_lowercase();
        (self.status.is_empty() || str_of(alert, "Status") == self.status)
            && (self.severity.is_empty() || str_of(alert, "Severity") == self.severity)
            && (device.is_empty()
                || str_of(alert, "DeviceName").to_lowercase().contains(&device)
                || str_of(alert, "DeviceId").to_lowercase().contains(&device))
    }
}

fn device_label(alert: &Map<String, Value>) -> &str {
    opt_str(alert, "DeviceName").unwrap_or_else(|| str_of(alert, "DeviceId"))
}

/// One row of the queue; also what the stream sends for new and changed alerts.
fn row(alert: &Map<String, Value>) -> Markup {
    let id = int_of(alert, "Id");
    html! {
        tr data-alert-id=(id) {
            td { (layout::severity_badge(str_of(alert, "Severity"))) }
            td.title-cell {
                a href={ (BASE) "/alerts/" (id) } { (str_of(alert, "Title")) }
                span.sub.muted { "#" (id) " · " (str_of(alert, "Category")) }
            }
            td data-label="Device" { (device_label(alert)) }
            td.num data-label="Events" { (int_of(alert, "EventCount")) }
            td data-label="Last event" { (layout::time(opt_str(alert, "LastEventTime"))) }
            td data-label="Status" { (layout::status_badge(str_of(alert, "Status"))) }
            td data-label="Assigned to" { (opt_str(alert, "AssignedTo").unwrap_or("—")) }
        }
    }
}

pub async fn queue(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Query(filter): Query<QueueFilter>,
) -> Result<Response, PortalError> {
    let filter = filter.normalised();
    let page = filter.page.unwrap_or(1).max(1);
    let mut query = odata::Query::new("Id desc", PER_PAGE).page(page);
    if !filter.status.is_empty() {
        query = query.filter(format!("Status eq {}", literal(&filter.status)));
    }
    if !filter.severity.is_empty() {
        query = query.filter(format!("Severity eq {}", literal(&filter.severity)));
    }
    if !filter.device.is_empty() {
        query = query.filter(format!("{} or {}", contains("DeviceName", &filter.device), contains("DeviceId", &filter.device)));
    }
    let listing = odata::run(&state, session.user.tenant_id, &ALERT, &query).await?;
    // The stream replays whatever was raised after the newest alert of the tenant at render time.
    let mut newest = odata::Query::new("Id desc", 1);
    newest.count = false;
    newest.select = Some("Id".into());
    let newest = odata::run(&state, session.user.tenant_id, &ALERT, &newest).await?;
    let newest_id = newest.rows.first().map(|r| int_of(r, "Id")).unwrap_or(0);
    let stream_url = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in filter.params() {
            if !v.is_empty() {
                s.append_pair(k, &v);
            }
        }
        s.append_pair("after", &newest_id.to_string());
        format!("{BASE}/alerts/stream?{}", s.finish())
    };
    let statuses: Vec<&str> = AlertStatus::NAMES.to_vec();
    let body = html! {
        div.page-head {
            h1 { "Alerts" }
            p.live-indicator id="live-indicator" hidden { span.dot aria-hidden="true" {} "Live" }
        }
        (layout::filters("/alerts", "Filter alerts", html! {
            div.field {
                label for="f-status" { "Status" }
                select id="f-status" name="status" { (layout::options(&statuses, &filter.status, Some("Any status"))) }
            }
            div.field {
                label for="f-severity" { "Severity" }
                select id="f-severity" name="severity" { (layout::options(AlertSeverity::NAMES, &filter.severity, Some("Any severity"))) }
            }
            div.field {
                label for="f-device" { "Device" }
                input type="search" id="f-device" name="device" value=(filter.device) placeholder="Name or id";
            }
        }))
        p.visually-hidden id="live-status" role="status" aria-live="polite" {}
        (layout::table_wrap("Alert queue", html! {
            table.queue.cards-on-phone {
                thead {
                    tr {
                        th scope="col" { "Severity" }
                        th scope="col" { "Alert" }
                        th scope="col" { "Device" }
                        th scope="col" class="num" { "Events" }
                        th scope="col" { "Last event" }
                        th scope="col" { "Status" }
                        th scope="col" { "Assigned to" }
                    }
                }
                // Only the first page grows with new alerts.
                tbody id="alert-rows" data-stream=[(page == 1).then_some(stream_url.as_str())] {
                    @for alert in &listing.rows { (row(alert)) }
                    @if listing.rows.is_empty() {
                        tr.empty-row { td colspan="7" { "No alerts match. New ones appear here as they are raised." } }
                    }
                }
            }
        }))
        (layout::pager("/alerts", &filter.params(), page, PER_PAGE, listing.rows.len(), listing.total))
    };
    Ok(layout::page(&session, Nav::Alerts, "Alerts", body))
}

fn stream_event(kind: &str, alert: &Map<String, Value>) -> Event {
    let data = json!({
        "id": int_of(alert, "Id"),
        "title": str_of(alert, "Title"),
        "severity": str_of(alert, "Severity"),
        "html": row(alert).into_string(),
    });
    Event::default().event(kind).id(int_of(alert, "Id").to_string()).data(data.to_string())
}

/// The queue's live feed: the tenant's new and changed alerts that pass the filter, as
/// rendered rows. Authenticated by the session cookie; replays what was raised after `after`
/// (or `Last-Event-ID` on reconnect) so nothing falls between page render and connect.
pub async fn stream(
    State(state): State<SharedState>,
    Extension(session): Extension<Option<SessionCtx>>,
    Query(filter): Query<QueueFilter>,
    headers: HeaderMap,
) -> Result<Response, PortalError> {
    let session = session.filter(|s| !s.user.must_change_password).ok_or(PortalError::Unauthorized)?;
    let detection = state.detection.clone().ok_or_else(|| PortalError::internal("detection is not running on this node"))?;
    let filter = filter.normalised();
    let tenant = session.user.tenant_id;
    let live = BroadcastStream::new(detection.subscribe_alerts());
    let last_event = headers.get("Last-Event-ID").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let after = last_event.or(filter.after);
    let replay = match after {
        Some(after) => state.store.alerts_after(tenant, after, 1000).await?,
        None => Vec::new(),
    };
    let replayed_up_to = replay.last().map(|a| int_of(a, "Id")).unwrap_or(after.unwrap_or(i64::MIN));
    let replay_filter = filter.clone();
    let replay: Vec<Event> = replay.iter().filter(|a| replay_filter.admits(a)).map(|a| stream_event("alert", a)).collect();
    let live = live.filter_map(move |item| {
        let filter = filter.clone();
        async move {
            let event = item.ok()?;
            if event.tenant_id != tenant || !filter.admits(&event.alert) {
                return None;
            }
            if event.created && int_of(&event.alert, "Id") <= replayed_up_to {
                return None;
            }
            Some(Ok::<_, Infallible>(stream_event(if event.created { "alert" } else { "update" }, &event.alert)))
        }
    });
    let stream = futures::stream::iter(replay.into_iter().map(Ok::<_, Infallible>)).chain(live);
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    response.headers_mut().insert("X-Accel-Buffering", axum::http::HeaderValue::from_static("no"));
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

fn field(label: &str, key: &str, value: Markup) -> Markup {
    html! {
        div.kv {
            dt { (label) }
            dd data-field=(key) { (value) }
        }
    }
}

fn evidence(alert: &Map<String, Value>) -> Markup {
    let items = alert.get("Evidence").and_then(Value::as_array).cloned().unwrap_or_default();
    html! {
        @if items.is_empty() {
            p.empty { "No evidence was kept." }
        }
        ol.evidence {
            @for item in &items {
                @let item = item.as_object().cloned().unwrap_or_default();
                li data-evidence {
                    p {
                        strong { (str_of(&item, "Field")) } " = " code data-evidence-value { (str_of(&item, "Value")) }
                        @if let Some(ioc) = item.get("IocId").and_then(Value::as_i64) {
                            " · matched " a href={ (BASE) "/iocs/" (ioc) } { "IOC #" (ioc) }
                        }
                    }
                    @for event in item.get("Events").and_then(Value::as_array).cloned().unwrap_or_default() {
                        @let text = event.as_str().map(str::to_string).unwrap_or_else(|| event.to_string());
                        @let pretty = serde_json::from_str::<Value>(&text).ok().and_then(|v| serde_json::to_string_pretty(&v).ok()).unwrap_or(text);
                        pre.event tabindex="0" aria-label="Event" { (pretty) }
                    }
                }
            }
        }
    }
}

async fn load(state: &SharedState, session: &SessionCtx, id: i64) -> Result<Map<String, Value>, PortalError> {
    state.store.get_alert(session.user.tenant_id, id).await?.ok_or(PortalError::NotFound)
}

pub async fn show(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    Query(query): Query<ShowQuery>,
) -> Result<Response, PortalError> {
    let alert = load(&state, &session, id).await?;
    Ok(layout::page(&session, Nav::Alerts, str_of(&alert, "Title"), alert_page(&session, &alert, query.done.as_deref(), None)))
}

fn alert_page(session: &SessionCtx, alert: &Map<String, Value>, done: Option<&str>, error: Option<&str>) -> Markup {
    let id = int_of(alert, "Id");
    let definition = int_of(alert, "AlertDefinitionId");
    let status = str_of(alert, "Status");
    let classification = str_of(alert, "Classification");
    let ioc_ids: Vec<i64> = alert.get("IocIds").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
    html! {
        nav.crumbs aria-label="Breadcrumb" { a href={ (BASE) "/alerts" } { "Alerts" } " › " span { "#" (id) } }
        (layout::notice(done))
        (layout::error_box(error))
        div.page-head {
            h1 data-field="Title" { (str_of(alert, "Title")) }
            div.badges {
                span data-field="Severity" { (layout::severity_badge(str_of(alert, "Severity"))) }
                span data-field="Status" { (layout::status_badge(status)) }
            }
        }
        div.grid-2 {
            section.panel aria-labelledby="about" {
                h2 id="about" { "What happened" }
                dl.kvs {
                    (field("Category", "Category", html! { (str_of(alert, "Category")) }))
                    (field("Description", "Description", html! { (str_of(alert, "Description")) }))
                    (field("Recommended action", "RecommendedAction", html! { (opt_str(alert, "RecommendedAction").unwrap_or("—")) }))
                    (field("Device", "Device", html! {
                        (device_label(alert))
                        @if opt_str(alert, "DeviceName").is_some() { span.sub.muted data-field="DeviceId" { (str_of(alert, "DeviceId")) } }
                    }))
                    (field("Event count", "EventCount", html! { (int_of(alert, "EventCount")) }))
                    (field("First event", "FirstEventTime", layout::time(opt_str(alert, "FirstEventTime"))))
                    (field("Last event", "LastEventTime", layout::time(opt_str(alert, "LastEventTime"))))
                    (field("Raised", "CreatedAt", layout::time(opt_str(alert, "CreatedAt"))))
                    (field("Detection source", "DetectionSource", html! { (str_of(alert, "DetectionSource")) }))
                }
            }
            section.panel aria-labelledby="triage" {
                h2 id="triage" { "Triage" }
                form method="post" action={ (BASE) "/alerts/" (id) } {
                    (layout::csrf(session))
                    div.field {
                        label for="status" { "Status" }
                        select id="status" name="status" {
                            @for s in AlertStatus::ALL {
                                option value=(s.as_str()) selected[s.as_str() == status] { (if *s == AlertStatus::InProgress { "In progress" } else { s.as_str() }) }
                            }
                        }
                    }
                    div.field {
                        label for="classification" { "Classification" }
                        select id="classification" name="classification" {
                            option value="" selected[classification.is_empty()] { "Not classified" }
                            @for c in AlertClassification::ALL {
                                option value=(c.as_str()) selected[c.as_str() == classification] { (c.as_str()) }
                            }
                        }
                    }
                    div.field {
                        label for="assigned_to" { "Assigned to" }
                        input type="text" id="assigned_to" name="assigned_to" maxlength="256" value=(opt_str(alert, "AssignedTo").unwrap_or("")) placeholder={ "e.g. " (session.user.email) };
                    }
                    button.primary type="submit" { "Save" }
                }
                dl.kvs.compact {
                    (field("Classification", "Classification", html! { (if classification.is_empty() { "—" } else { classification }) }))
                    (field("Assigned to", "AssignedTo", html! { (opt_str(alert, "AssignedTo").unwrap_or("—")) }))
                    (field("Last changed", "LastModifiedAt", html! { (layout::time(opt_str(alert, "LastModifiedAt"))) @if let Some(by) = opt_str(alert, "LastModifiedBy") { " by " (by) } }))
                }
            }
        }
        section.panel aria-labelledby="matched" {
            h2 id="matched" { "Matched indicator" }
            dl.kvs {
                (field("IOC type", "IocName", html! { (str_of(alert, "IocName")) }))
                (field("IOC value", "IocValue", html! { code { (str_of(alert, "IocValue")) } }))
                (field("IOC", "IocUniqueId", html! { a href={ (BASE) "/iocs/" (int_of(alert, "IocUniqueId")) } { "#" (int_of(alert, "IocUniqueId")) } }))
                (field("All matched IOCs", "IocIds", html! {
                    @for (i, ioc) in ioc_ids.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ (BASE) "/iocs/" (ioc) } { "#" (ioc) }
                    }
                }))
                (field("Alert definition", "AlertDefinitionId", html! { a href={ (BASE) "/definitions/" (definition) } { "#" (definition) } }))
            }
        }
        section.panel aria-labelledby="evidence" {
            h2 id="evidence" { "Evidence" }
            (evidence(alert))
        }
    }
}

#[derive(Deserialize)]
pub struct TriageForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    classification: String,
    #[serde(default)]
    assigned_to: String,
}

pub async fn triage(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    Form(form): Form<TriageForm>,
) -> Result<Response, PortalError> {
    let tenant = session.user.tenant_id;
    let alert = load(&state, &session, id).await?;
    let blank_to_null = |s: &str| if s.trim().is_empty() { Value::Null } else { Value::String(s.trim().to_string()) };
    let body = json!({
        "Status": form.status,
        "Classification": blank_to_null(&form.classification),
        "AssignedTo": blank_to_null(&form.assigned_to),
    });
    let patch = match parse_alert_patch(&body) {
        Ok(p) => p,
        Err(e) => {
            let page = alert_page(&session, &alert, None, Some(&e.message));
            return Ok((axum::http::StatusCode::BAD_REQUEST, layout::page(&session, Nav::Alerts, "Alert", page)).into_response());
        }
    };
    let updated = state.store.update_alert(tenant, id, &patch, &session.actor(), state.clock.now()).await?.ok_or(PortalError::NotFound)?;
    if let Some(detection) = &state.detection {
        detection.publish_alerts(tenant, vec![AlertUpdate { created: false, alert: updated }]);
    }
    Ok(Redirect::to(&format!("{BASE}/alerts/{id}?done=saved")).into_response())
}
