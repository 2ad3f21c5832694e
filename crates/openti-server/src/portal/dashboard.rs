//! The dashboard: alerts per day by severity (an SVG stacked bar chart with its data table),
//! the definitions and devices with the most alerts, and IOC counts against the quotas.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Duration, TimeZone, Utc};
use maud::{html, Markup};
use openti_model::IocType;
use openti_store::{DashboardStats, Quotas};

use super::layout::{self, Nav};
use super::session::SignedIn;
use super::{PortalError, BASE};
use crate::state::SharedState;

/// Days the chart covers, today included.
const DAYS: i64 = 14;
const SEVERITIES: [&str; 4] = ["High", "Medium", "Low", "Informational"];

pub async fn page(State(state): State<SharedState>, SignedIn(session): SignedIn) -> Result<Response, PortalError> {
    let tenant_id = session.user.tenant_id;
    let tenant = state.store.find_tenant(&tenant_id.to_string()).await?.ok_or(PortalError::NotFound)?;
    let now = state.clock.now();
    let today = now.timestamp().div_euclid(86_400);
    let since = Utc.timestamp_opt((today - DAYS + 1) * 86_400, 0).single().unwrap_or(now - Duration::days(DAYS));
    let stats = state.store.dashboard_stats(tenant_id, since).await?;
    let open = |status: &str| stats.alerts_by_status.iter().find(|(s, _)| s == status).map(|(_, n)| *n).unwrap_or(0);
    let iocs: i64 = stats.iocs_by_type.iter().map(|t| t.count).sum();
    let non_equals: i64 = stats.iocs_by_type.iter().map(|t| t.non_equals).sum();
    let raised: i64 = stats.alerts_per_day.iter().map(|d| d.count).sum();
    let body = html! {
        h1 { "Dashboard" }
        section.cards aria-label="Summary" {
            a.card href={ (BASE) "/alerts?status=New" } {
                span.label { "New alerts" }
                span.value data-stat="new" { (open("New")) }
            }
            a.card href={ (BASE) "/alerts?status=InProgress" } {
                span.label { "In progress" }
                span.value data-stat="in-progress" { (open("InProgress")) }
            }
            a.card href={ (BASE) "/definitions" } {
                span.label { "Alert definitions" }
                span.value data-stat="definitions" { (stats.definitions) }
            }
            a.card href={ (BASE) "/iocs" } {
                span.label { "IOCs" }
                span.value data-stat="iocs" { (iocs) }
            }
        }
        div.grid-2 {
            section.panel.wide aria-labelledby="chart-title" {
                h2 id="chart-title" { "Alerts over the last " (DAYS) " days by severity" }
                p.muted { (plural(raised, "alert")) " raised since " (since.format("%Y-%m-%d")) " (UTC days)." }
                (chart(&stats, today))
            }
            section.panel aria-labelledby="top-defs" {
                h2 id="top-defs" { "Top definitions" }
                (top_definitions(&stats))
            }
            section.panel aria-labelledby="top-devices" {
                h2 id="top-devices" { "Top devices" }
                (top_devices(&stats))
            }
            section.panel.wide aria-labelledby="quota-title" {
                h2 id="quota-title" { "IOCs by type and quotas" }
                (quotas(&stats, &tenant.quotas, iocs, non_equals))
            }
        }
    };
    Ok(layout::page(&session, Nav::Dashboard, "Dashboard", body))
}

fn day_label(day: i64) -> String {
    Utc.timestamp_opt(day * 86_400, 0).single().map(|d: DateTime<Utc>| d.format("%b %d").to_string()).unwrap_or_default()
}

fn nice_max(value: i64) -> i64 {
    let value = value.max(4);
    let magnitude = 10_i64.pow((value as f64).log10().floor() as u32);
    for step in [1, 2, 5, 10] {
        let candidate = step * magnitude;
        if candidate >= value && candidate % 4 == 0 {
            return candidate;
        }
    }
    // round up to a multiple of 4 so that the four grid lines fall on integers
    value.div_euclid(4) * 4 + if value % 4 == 0 { 0 } else { 4 }
}

fn chart(stats: &DashboardStats, today: i64) -> Markup {
    let days: Vec<i64> = (today - DAYS + 1..=today).collect();
    let count = |day: i64, severity: &str| -> i64 {
        stats.alerts_per_day.iter().filter(|d| d.day == day && d.severity == severity).map(|d| d.count).sum()
    };
    let totals: Vec<i64> = days.iter().map(|d| SEVERITIES.iter().map(|s| count(*d, s)).sum()).collect();
    let max = nice_max(totals.iter().copied().max().unwrap_or(0));
    let (width, height, left, right, top, bottom) = (960.0, 270.0, 44.0, 8.0, 12.0, 32.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let slot = plot_w / days.len() as f64;
    let bar_w = (slot * 0.62).min(36.0);
    let y = |v: i64| top + plot_h - plot_h * v as f64 / max as f64;
    // Each day's segments bottom-up: (severity, count, count below it).
    let stack = |day: i64| -> Vec<(&'static str, i64, i64)> {
        let mut below = 0;
        let mut out = Vec::new();
        for severity in SEVERITIES {
            let n = count(day, severity);
            if n > 0 {
                out.push((severity, n, below));
                below += n;
            }
        }
        out
    };
    html! {
        figure.chart {
            div.chart-scroll tabindex="0" role="region" aria-label="Chart" {
            svg viewBox={ "0 0 " (width) " " (height) } role="img" aria-labelledby="chart-svg-title chart-svg-desc" preserveAspectRatio="xMidYMid meet" {
                title id="chart-svg-title" { "Alerts per day by severity" }
                desc id="chart-svg-desc" { "Stacked bars, one per UTC day; the table below lists the same numbers." }
                @for i in 0..=4 {
                    @let value = max * i / 4;
                    @let gy = y(value);
                    line.grid x1=(left) x2=(width - right) y1=(gy) y2=(gy) {}
                    text.axis x=(left - 6.0) y=(gy + 4.0) text-anchor="end" { (value) }
                }
                @for (i, day) in days.iter().enumerate() {
                    @let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
                    g data-day=(day_label(*day)) {
                        @for (severity, n, below) in stack(*day) {
                            @let y_top = y(below + n);
                            @let h = y(below) - y_top;
                            rect class={ "bar bar-" (severity.to_lowercase()) } x=(format!("{x:.1}")) y=(format!("{y_top:.1}")) width=(format!("{bar_w:.1}")) height=(format!("{h:.1}")) {
                                title { (day_label(*day)) ": " (n) " " (severity) }
                            }
                        }
                    }
                    @if i % 2 == (days.len() - 1) % 2 {
                        text.axis x=(format!("{:.1}", left + slot * i as f64 + slot / 2.0)) y=(height - 10.0) text-anchor="middle" { (day_label(*day)) }
                    }
                }
                line.baseline x1=(left) x2=(width - right) y1=(top + plot_h) y2=(top + plot_h) {}
            }
            }
            figcaption {
                ul.legend {
                    @for severity in SEVERITIES {
                        li { span class={ "swatch bar-" (severity.to_lowercase()) } {} (severity) }
                    }
                }
            }
        }
        details.chart-data {
            summary { "Show the numbers" }
            (layout::table_wrap("Alerts per day", html! {
                table {
                    thead { tr { th scope="col" { "Day" } @for s in SEVERITIES { th scope="col" class="num" { (s) } } th scope="col" class="num" { "Total" } } }
                    tbody {
                        @for (i, day) in days.iter().enumerate() {
                            tr {
                                th scope="row" { (day_label(*day)) }
                                @for s in SEVERITIES { td.num { (count(*day, s)) } }
                                td.num { (totals[i]) }
                            }
                        }
                    }
                }
            }))
        }
    }
}

fn top_definitions(stats: &DashboardStats) -> Markup {
    html! {
        @if stats.top_definitions.is_empty() {
            p.empty { "No alerts in this period." }
        } @else {
            ol.ranked {
                @for d in &stats.top_definitions {
                    li {
                        a href={ (BASE) "/definitions/" (d.key) } { (d.label.as_deref().unwrap_or("(untitled)")) }
                        span.muted { " · " (plural(d.alerts, "alert")) ", " (plural(d.events, "event")) }
                    }
                }
            }
        }
    }
}

fn top_devices(stats: &DashboardStats) -> Markup {
    html! {
        @if stats.top_devices.is_empty() {
            p.empty { "No alerts in this period." }
        } @else {
            ol.ranked {
                @for d in &stats.top_devices {
                    li {
                        @let query = form_urlencoded::Serializer::new(String::new()).append_pair("device", &d.key).finish();
                        a href={ (BASE) "/alerts?" (query) } { (d.label.as_deref().unwrap_or(&d.key)) }
                        span.muted { " · " (plural(d.alerts, "alert")) ", " (plural(d.events, "event")) }
                    }
                }
            }
        }
    }
}

fn usage(label: &str, used: i64, limit: i64) -> Markup {
    let percent = if limit > 0 { used as f64 * 100.0 / limit as f64 } else { 0.0 };
    html! {
        div.usage {
            div.usage-head {
                span { (label) }
                span.muted { (thousands(used)) " of " (thousands(limit)) " (" (format!("{percent:.1}")) "%)" }
            }
            meter min="0" max=(limit) low=(limit * 8 / 10) high=(limit * 95 / 100) optimum="0" value=(used) aria-label={ (label) " used" } {}
        }
    }
}

fn quotas(stats: &DashboardStats, quotas: &Quotas, iocs: i64, non_equals: i64) -> Markup {
    let by_type = |t: IocType| stats.iocs_by_type.iter().find(|c| c.ioc_type == t.as_str());
    html! {
        div.quota-grid {
            div {
                (usage("Alert definitions", stats.definitions, quotas.max_definitions))
                (usage("IOCs", iocs, quotas.max_iocs))
                (usage("IOCs not using Equals", non_equals, quotas.max_non_equals_iocs))
            }
            (layout::table_wrap("IOCs by type", html! {
                table {
                    thead { tr { th scope="col" { "Type" } th scope="col" class="num" { "IOCs" } th scope="col" class="num" { "Not Equals" } } }
                    tbody {
                        @for t in IocType::ALL {
                            @let c = by_type(*t);
                            @let n = c.map(|c| c.count).unwrap_or(0);
                            tr data-ioc-type=(t.as_str()) {
                                th scope="row" {
                                    a href={ (BASE) "/iocs?type=" (t.as_str()) } { (t.as_str()) }
                                }
                                td.num { (thousands(n)) }
                                td.num { (thousands(c.map(|c| c.non_equals).unwrap_or(0))) }
                            }
                        }
                    }
                    tfoot {
                        tr { th scope="row" { "Total" } td.num { (thousands(iocs)) } td.num { (thousands(non_equals)) } }
                    }
                }
            }))
        }
    }
}

/// `1 alert`, `3 alerts`.
fn plural(n: i64, word: &str) -> String {
    format!("{} {word}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// `1000000` → `1,000,000`.
pub fn thousands(n: i64) -> String {
    let digits: Vec<char> = n.unsigned_abs().to_string().chars().rev().collect();
    let groups: Vec<String> = digits.chunks(3).map(|g| g.iter().rev().collect()).collect();
    let grouped = groups.into_iter().rev().collect::<Vec<_>>().join(",");
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(plural(1, "alert"), "1 alert");
        assert_eq!(plural(2500, "event"), "2,500 events");
        assert_eq!(nice_max(0), 4);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(13), 20);
        assert!(nice_max(123) >= 123 && nice_max(123) % 4 == 0);
    }
}
