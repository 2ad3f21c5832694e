//! Importing IOCs from a CSV file into one definition (columns Type, Value, DetectionFunction,
//! ExpiresAt). Every row goes through the API's validation; if any row fails, nothing is
//! stored and every failing row is named. Otherwise all rows are stored in one transaction.
//!
//! With script, the page uploads with progress and asks for `application/x-ndjson`: the
//! server then streams `{"stage":…,"done":…,"total":…}` lines while it validates and saves,
//! and a last line with the rendered result. Without script the form posts normally and the
//! result comes back as a page.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use maud::{html, Markup};
use openti_model::input::parse_ioc;
use openti_model::IocDraft;
use serde_json::{json, Map, Value};
use tokio_stream::wrappers::ReceiverStream;

use super::csv;
use super::definitions;
use super::layout::{self, Nav};
use super::session::{Id, SessionCtx, SignedIn};
use super::{PortalError, BASE};
use crate::state::SharedState;

/// Largest file accepted.
pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;
/// Most rows in one import.
const MAX_ROWS: usize = 50_000;
/// Row errors listed on the page; the count is always exact.
const MAX_LISTED_ERRORS: usize = 200;

const COLUMNS: [&str; 4] = ["Type", "Value", "DetectionFunction", "ExpiresAt"];

#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// 1-based data row (the header is not counted); 0 for the header itself.
    pub row: usize,
    pub line: usize,
    pub message: String,
}

#[derive(Debug)]
pub enum Outcome {
    Imported(usize),
    Invalid { errors: Vec<RowError>, rows: usize },
    /// The store refused the whole batch (a quota).
    Refused(String),
}

/// Validates the file, calling `progress(done, total)` now and then.
pub fn validate(text: &str, definition: i64, mut progress: impl FnMut(usize, usize)) -> Result<Vec<IocDraft>, (Vec<RowError>, usize)> {
    let records = csv::parse(text).map_err(|(line, message)| (vec![RowError { row: 0, line, message }], 0))?;
    let Some((header, rows)) = records.split_first() else {
        return Err((vec![RowError { row: 0, line: 1, message: "the file is empty; the first line must name the columns".into() }], 0));
    };
    let mut columns: Vec<&'static str> = Vec::new();
    let mut errors = Vec::new();
    for name in &header.fields {
        match COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(name.trim())) {
            Some(c) if columns.contains(c) => errors.push(RowError { row: 0, line: header.line, message: format!("the column '{c}' appears twice") }),
            Some(c) => columns.push(c),
            None => errors.push(RowError {
                row: 0,
                line: header.line,
                message: format!("unknown column '{}'; the columns are {}", name.trim(), COLUMNS.join(", ")),
            }),
        }
    }
    for required in ["Type", "Value"] {
        if !columns.contains(&required) {
            errors.push(RowError { row: 0, line: header.line, message: format!("the header lacks the column '{required}'") });
        }
    }
    if rows.len() > MAX_ROWS {
        errors.push(RowError { row: 0, line: header.line, message: format!("the file has {} rows; at most {MAX_ROWS} can be imported at once", rows.len()) });
    }
    if !errors.is_empty() {
        return Err((errors, rows.len()));
    }
    let total = rows.len();
    let step = (total / 50).max(200);
    let bind = format!("AlertDefinitions({definition})");
    let mut drafts = Vec::with_capacity(total);
    for (i, record) in rows.iter().enumerate() {
        let row = i + 1;
        if record.fields.len() != columns.len() {
            errors.push(RowError {
                row,
                line: record.line,
                message: format!("the row has {} fields; the header names {}", record.fields.len(), columns.len()),
            });
            continue;
        }
        let mut object = Map::new();
        for (column, value) in columns.iter().zip(&record.fields) {
            let value = value.trim();
            // Blank optional cells take the defaults (Equals, no expiry).
            if !value.is_empty() || matches!(*column, "Type" | "Value") {
                object.insert((*column).to_string(), Value::String(value.to_string()));
            }
        }
        object.insert("AlertDefinition@odata.bind".into(), Value::String(bind.clone()));
        match parse_ioc(&Value::Object(object), None) {
            Ok(draft) => drafts.push(draft),
            Err(e) => {
                let message = match &e.target {
                    Some(t) if !e.message.contains(t.as_str()) => format!("{t}: {}", e.message),
                    _ => e.message,
                };
                errors.push(RowError { row, line: record.line, message });
            }
        }
        if row % step == 0 {
            progress(row, total);
        }
    }
    progress(total, total);
    if errors.is_empty() {
        Ok(drafts)
    } else {
        Err((errors, total))
    }
}

fn result_markup(outcome: &Outcome, definition: i64) -> Markup {
    match outcome {
        Outcome::Imported(n) => html! {
            div.notice role="status" id="import-outcome" data-outcome="imported" data-count=(n) {
                p { strong { "Imported " (super::dashboard::thousands(*n as i64)) (if *n == 1 { " IOC." } else { " IOCs." }) } }
                p { a href={ (BASE) "/definitions/" (definition) } { "Back to the definition" } }
            }
        },
        Outcome::Refused(message) => html! {
            div.alert-error role="alert" id="import-outcome" data-outcome="refused" {
                p { strong { "Nothing was imported." } " " (message) }
            }
        },
        Outcome::Invalid { errors, rows } => html! {
            div.alert-error role="alert" id="import-outcome" data-outcome="invalid" data-error-count=(errors.len()) {
                p {
                    strong { "Nothing was imported." }
                    @if *rows > 0 { " Rows with errors: " (errors.len()) " of " (super::dashboard::thousands(*rows as i64)) ". Fix them and import the file again." }
                    @else { " The file cannot be read." }
                }
                ol.row-errors {
                    @for e in errors.iter().take(MAX_LISTED_ERRORS) {
                        li data-row=(e.row) {
                            @if e.row == 0 { "Line " (e.line) " (header)" } @else { "Row " (e.row) " (line " (e.line) ")" }
                            ": " (e.message)
                        }
                    }
                }
                @if errors.len() > MAX_LISTED_ERRORS {
                    p { "… and " (errors.len() - MAX_LISTED_ERRORS) " more." }
                }
            }
        },
    }
}

const SAMPLE: &str = "Type,Value,DetectionFunction,ExpiresAt\r\nSha256,4f9f6d5b9c7a8b1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899a,Equals,\r\nDomainName,evil.example,EndWith,2030-01-01T00:00:00Z\r\nIpAddress,203.0.113.0/24,,\r\n";

fn page_body(session: &SessionCtx, d: &openti_model::AlertDefinition, result: Option<Markup>) -> Markup {
    let sample = format!("data:text/csv;charset=utf-8,{}", percent(SAMPLE));
    let action = format!("{BASE}/definitions/{}/import", d.id);
    let fallback_action = format!("{action}?{}", form_urlencoded::Serializer::new(String::new()).append_pair("csrf", &session.csrf).finish());
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href={ (BASE) "/definitions" } { "Alert definitions" } " › "
            a href={ (BASE) "/definitions/" (d.id) } { "#" (d.id) } " › " span { "Import" }
        }
        h1 { "Import IOCs into “" (d.title) "”" }
        div.grid-2 {
            section.panel aria-labelledby="import-how" {
                h2 id="import-how" { "The file" }
                p { "A CSV file whose first line names the columns " code { "Type" } ", " code { "Value" } ", " code { "DetectionFunction" } " and " code { "ExpiresAt" } " (the last two may be left empty: Equals, never expires)." }
                p { "Every row is checked first. If any row is wrong, nothing is imported and each wrong row is listed." }
                p { a href=(sample) download="iocs-sample.csv" { "Download a sample file" } }
            }
            section.panel aria-labelledby="import-form-title" {
                h2 id="import-form-title" { "Upload" }
                form id="import-form" method="post" action=(fallback_action) data-action=(action) enctype="multipart/form-data" {
                    div.field {
                        label for="import-file" { "CSV file" }
                        input type="file" id="import-file" name="file" accept=".csv,text/csv" required;
                    }
                    button.primary type="submit" { "Import" }
                }
                div.progress-box id="import-progress" hidden {
                    label for="import-bar" id="import-stage" { "Uploading…" }
                    progress id="import-bar" max="100" value="0" {}
                }
            }
        }
        div id="import-result" tabindex="-1" {
            @if let Some(result) = result { (result) }
        }
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.,:/".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

pub async fn form(State(state): State<SharedState>, SignedIn(session): SignedIn, Id(id): Id) -> Result<Response, PortalError> {
    session.require_admin()?;
    let d = definitions::load(&state, &session, id).await?;
    Ok(layout::page(&session, Nav::Definitions, "Import IOCs", page_body(&session, &d, None)))
}

async fn read_file(mut multipart: Multipart) -> Result<String, PortalError> {
    while let Some(field) = multipart.next_field().await.map_err(|e| PortalError::BadRequest(format!("The upload could not be read: {e}")))? {
        if field.name() == Some("file") {
            let bytes = field.bytes().await.map_err(|e| PortalError::BadRequest(format!("The upload could not be read: {e}")))?;
            return String::from_utf8(bytes.to_vec()).map_err(|_| PortalError::BadRequest("The file is not UTF-8 text.".into()));
        }
    }
    Err(PortalError::BadRequest("Choose a CSV file to import.".into()))
}

async fn store(state: &SharedState, session: &SessionCtx, drafts: &[IocDraft]) -> Result<Outcome, PortalError> {
    match state.store.create_iocs(session.user.tenant_id, drafts, &session.actor(), state.clock.now()).await {
        Ok(created) => Ok(Outcome::Imported(created.len())),
        Err(e @ (openti_store::StoreError::QuotaExceeded { .. } | openti_store::StoreError::Invalid(_))) => Ok(Outcome::Refused(e.to_string())),
        Err(openti_store::StoreError::MissingDefinition { .. }) => Err(PortalError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub async fn upload(
    State(state): State<SharedState>,
    SignedIn(session): SignedIn,
    Id(id): Id,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, PortalError> {
    session.require_admin()?;
    let d = definitions::load(&state, &session, id).await?;
    let text = read_file(multipart).await?;
    let streaming = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/x-ndjson"));
    if !streaming {
        let validated = tokio::task::spawn_blocking(move || validate(&text, id, |_, _| {})).await.map_err(PortalError::internal)?;
        let outcome = match validated {
            Ok(drafts) => store(&state, &session, &drafts).await?,
            Err((errors, rows)) => Outcome::Invalid { errors, rows },
        };
        let status = if matches!(outcome, Outcome::Imported(_)) { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        let body = page_body(&session, &d, Some(result_markup(&outcome, id)));
        return Ok((status, layout::page(&session, Nav::Definitions, "Import IOCs", body)).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let line = |v: Value| format!("{v}\n");
        let progress_tx = tx.clone();
        let validated = tokio::task::spawn_blocking(move || {
            validate(&text, id, |done, total| {
                let _ = progress_tx.blocking_send(line(json!({"stage": "validating", "done": done, "total": total})));
            })
        })
        .await;
        let outcome = match validated {
            Ok(Ok(drafts)) => {
                let _ = tx.send(line(json!({"stage": "saving", "done": drafts.len(), "total": drafts.len()}))).await;
                store(&state, &session, &drafts).await
            }
            Ok(Err((errors, rows))) => Ok(Outcome::Invalid { errors, rows }),
            Err(e) => Err(PortalError::internal(e)),
        };
        let last = match outcome {
            Ok(outcome) => json!({
                "stage": "done",
                "ok": matches!(outcome, Outcome::Imported(_)),
                "html": result_markup(&outcome, id).into_string(),
            }),
            Err(_) => json!({"stage": "done", "ok": false, "html": result_markup(&Outcome::Refused("An internal error occurred.".into()), id).into_string()}),
        };
        let _ = tx.send(line(last)).await;
    });
    let body = Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, Infallible>));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    h.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_row_is_named_and_nothing_passes() {
        let mut text = String::from("Type,Value,DetectionFunction,ExpiresAt\n");
        for i in 0..1000 {
            if i == 499 {
                text.push_str("Sha1,not-a-hash,Equals,\n");
            } else {
                text.push_str(&format!("IpAddress,10.0.{}.{},,\n", i / 250, i % 250));
            }
        }
        let mut calls = 0;
        let (errors, rows) = validate(&text, 7, |_, _| calls += 1).unwrap_err();
        assert_eq!(rows, 1000);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].row, errors[0].line), (500, 501));
        assert!(calls >= 2);
        let good = text.replace("Sha1,not-a-hash,Equals,", "Sha1,0123456789abcdef0123456789abcdef01234567,Equals,");
        let drafts = validate(&good, 7, |_, _| {}).unwrap();
        assert_eq!(drafts.len(), 1000);
        assert!(drafts.iter().all(|d| d.alert_definition_id == 7));
    }

    #[test]
    fn header_problems() {
        let (errors, _) = validate("Kind,Value\nSha1,x\n", 1, |_, _| {}).unwrap_err();
        assert!(errors.iter().any(|e| e.message.contains("unknown column 'Kind'")));
        assert!(errors.iter().any(|e| e.message.contains("lacks the column 'Type'")));
        let (errors, _) = validate("", 1, |_, _| {}).unwrap_err();
        assert_eq!(errors[0].row, 0);
    }

    #[test]
    fn optional_columns_default() {
        let drafts = validate("value,type\nevil.example,DomainName\n", 1, |_, _| {}).unwrap();
        assert_eq!(drafts[0].value, "evil.example");
        assert_eq!(drafts[0].detection_function, openti_model::DetectionFunction::Equals);
    }
}
