//! The page shell (header, navigation, skip link) and the small pieces every page uses.

use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use serde_json::{Map, Value};

use super::assets;
use super::session::SessionCtx;
use super::BASE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Dashboard,
    Alerts,
    Definitions,
    Iocs,
    Settings,
    None,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light";
            title { (title) " · OpenTI" }
            link rel="stylesheet" href=(assets::url("portal.css"));
            link rel="icon" href=(assets::url("favicon.svg")) type="image/svg+xml";
            script src=(assets::url("portal.js")) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                header.topbar {
                    a.brand href={ (BASE) "/" } { (logo()) span { "OpenTI" } }
                }
                main id="main" { (body) }
            }
        }
    }
}

fn logo() -> Markup {
    html! {
        svg.logo viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" {
            path d="M12 2 3 6v6c0 5 3.8 9.4 9 10 5.2-.6 9-5 9-10V6l-9-4Z" fill="currentColor" opacity="0.25" {}
            path d="M12 2 3 6v6c0 5 3.8 9.4 9 10 5.2-.6 9-5 9-10V6l-9-4Zm0 2.2 7 3.1V12c0 4-2.9 7.5-7 8-4.1-.5-7-4-7-8V7.3l7-3.1Z" fill="currentColor" {}
            circle cx="12" cy="11" r="3" fill="currentColor" {}
        }
    }
}

/// A full page for a signed-in user.
pub fn page_markup(session: &SessionCtx, active: Nav, title: &str, body: Markup) -> Markup {
    let link = |nav: Nav, path: &str, label: &str| {
        html! {
            li {
                a href={ (BASE) (path) } aria-current=[(active == nav).then_some("page")] { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-csrf=(session.csrf) {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    a.brand href={ (BASE) "/" } { (logo()) span { "OpenTI" } }
                    nav aria-label="Main" {
                        ul {
                            (link(Nav::Dashboard, "/", "Dashboard"))
                            (link(Nav::Alerts, "/alerts", "Alerts"))
                            (link(Nav::Definitions, "/definitions", "Definitions"))
                            (link(Nav::Iocs, "/iocs", "IOCs"))
                            @if session.is_admin() {
                                (link(Nav::Settings, "/settings/custom-ti", "Settings"))
                            }
                        }
                    }
                    div.account {
                        span.who title=(session.user.email) {
                            span.email { (session.user.email) }
                            " "
                            span.role { (session.user.role.as_str()) }
                        }
                        form method="post" action={ (BASE) "/signout" } {
                            (csrf(session))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

pub fn page(session: &SessionCtx, active: Nav, title: &str, body: Markup) -> Response {
    Html(page_markup(session, active, title, body).into_string()).into_response()
}

/// The hidden CSRF field every form carries.
pub fn csrf(session: &SessionCtx) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A list's filter form: a GET to `{BASE}{path}` with the given fields, then Apply and a
/// Clear link back to the unfiltered list.
pub fn filters(path: &str, label: &str, fields: Markup) -> Markup {
    html! {
        form.filters method="get" action={ (BASE) (path) } role="search" aria-label=(label) {
            (fields)
            div.field.actions {
                button.primary type="submit" { "Apply" }
                a.button href={ (BASE) (path) } { "Clear" }
            }
        }
    }
}

/// The body of the page that confirms deleting the record at `{BASE}{list_path}/{id}`:
/// crumbs back to the list and the record, what deleting does, a button that posts to
/// `…/delete`, and a link back to the record.
pub fn confirm_delete(session: &SessionCtx, list_path: &str, list_label: &str, id: i64, heading: &str, consequences: Markup, button: &str) -> Markup {
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href={ (BASE) (list_path) } { (list_label) } " › "
            a href={ (BASE) (list_path) "/" (id) } { "#" (id) } " › " span { "Delete" }
        }
        h1 { (heading) }
        div.panel.danger-zone {
            p { (consequences) }
            form.inline method="post" action={ (BASE) (list_path) "/" (id) "/delete" } {
                (csrf(session))
                button.danger type="submit" { (button) }
            }
            " "
            a.button href={ (BASE) (list_path) "/" (id) } { "Keep it" }
        }
    }
}

pub fn severity_badge(severity: &str) -> Markup {
    let class = match severity {
        "High" => "sev sev-high",
        "Medium" => "sev sev-medium",
        "Low" => "sev sev-low",
        _ => "sev sev-info",
    };
    html! { span class=(class) { (severity) } }
}

pub fn status_badge(status: &str) -> Markup {
    let class = match status {
        "New" => "status status-new",
        "InProgress" => "status status-progress",
        _ => "status status-resolved",
    };
    let label = if status == "InProgress" { "In progress" } else { status };
    html! { span class=(class) { (label) } }
}

pub fn enabled_badge(enabled: bool) -> Markup {
    if enabled {
        html! { span.pill.on { "Enabled" } }
    } else {
        html! { span.pill.off { "Disabled" } }
    }
}

/// A wire timestamp (RFC 3339) as people read it, in a `<time>` element.
pub fn time(value: Option<&str>) -> Markup {
    match value.and_then(|v| DateTime::parse_from_rfc3339(v).ok()) {
        Some(t) => {
            let t = t.with_timezone(&Utc);
            html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
        }
        None => html! { span.muted { "—" } },
    }
}

pub fn time_of(t: Option<DateTime<Utc>>) -> Markup {
    time(t.map(|t| t.to_rfc3339()).as_deref())
}

/// A confirmation after a redirect. The query string names one of a fixed set of messages
/// (`?done=saved`), so a crafted link cannot put words on the page.
pub fn notice(code: Option<&str>) -> Markup {
    let text = match code.unwrap_or("") {
        "saved" => Some("Saved."),
        "created" => Some("Created."),
        "deleted" => Some("Deleted."),
        "enabled" => Some("Enabled."),
        "disabled" => Some("Disabled."),
        "revoked" => Some("The secret was revoked; it no longer gets tokens."),
        "password" => Some("Your password was changed."),
        _ => None,
    };
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

pub fn error_box(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.alert-error role="alert" { (text) }
        }
    }
}

/// A table that scrolls sideways on narrow screens, reachable by keyboard.
pub fn table_wrap(label: &str, table: Markup) -> Markup {
    html! {
        div.table-wrap role="region" aria-label=(label) tabindex="0" { (table) }
    }
}

pub fn str_of<'a>(row: &'a Map<String, Value>, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn opt_str<'a>(row: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    row.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub fn int_of(row: &Map<String, Value>, key: &str) -> i64 {
    row.get(key).and_then(Value::as_i64).unwrap_or(0)
}

pub fn bool_of(row: &Map<String, Value>, key: &str) -> bool {
    row.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Paging links: "Showing 26–50 of 132", previous and next, keeping the filters.
pub fn pager(path: &str, params: &[(&str, String)], page: u64, per_page: u64, shown: usize, total: Option<i64>) -> Markup {
    let total = total.unwrap_or(0).max(0) as u64;
    let first = if shown == 0 { 0 } else { (page - 1) * per_page + 1 };
    let last = (page - 1) * per_page + shown as u64;
    let link = |p: u64| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("page", &p.to_string());
        format!("{BASE}{path}?{}", s.finish())
    };
    if total == 0 && shown == 0 {
        return html! {};
    }
    html! {
        nav.pager aria-label="Pages" {
            span.count { "Showing " (first) "–" (last) " of " (total) }
            @if page > 1 {
                a.button href=(link(page - 1)) rel="prev" { "← Previous" }
            }
            @if last < total {
                a.button href=(link(page + 1)) rel="next" { "Next →" }
            }
        }
    }
}

/// `<option>`s with one selected.
pub fn options(values: &[&str], selected: &str, any: Option<&str>) -> Markup {
    html! {
        @if let Some(any) = any {
            option value="" selected[selected.is_empty()] { (any) }
        }
        @for v in values {
            option value=(v) selected[*v == selected] { (v) }
        }
    }
}

/// A labelled read-only value with a copy button.
pub fn copy_field(id: &str, label: &str, value: &str) -> Markup {
    html! {
        div.copy-field {
            label for=(id) { (label) }
            div.copy-row {
                input type="text" id=(id) value=(value) readonly data-field=(label);
                button.secondary type="button" data-copy=(id) aria-label={ "Copy " (label) } { "Copy" }
            }
        }
    }
}
