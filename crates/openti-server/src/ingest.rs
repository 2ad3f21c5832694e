//! `POST /ingest/v1/events?format=F` (SPEC B.1): decode the body with the format's adapter,
//! match every event against the tenant's index, record alerts durably, then answer.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use openti_detect::adapters::{adapter_for, Format};
use openti_detect::matcher::Match;
use openti_model::ErrorCode;
use openti_store::Hit;
use serde::Deserialize;
use serde_json::json;

use crate::auth::authenticate;
use crate::detection::Detection;
use crate::error::ApiError;
use crate::state::SharedState;
use crate::telemetry_stats::TenantStats;

/// Line errors reported back in one response; the count of rejected lines is always exact.
const MAX_REPORTED_ERRORS: usize = 100;

#[derive(Deserialize)]
pub struct IngestParams {
    format: Option<String>,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::RequestEntityTooLarge, format!("the telemetry body is larger than {limit} bytes"))
}

/// The body, gunzipped if it says so, within the size limit.
fn decoded_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => Ok(body),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad_request(format!("the gzip body could not be decoded: {e}")))?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Bytes::from(out))
        }
        other => Err(ApiError::new(ErrorCode::UnsupportedMediaType, format!("Content-Encoding '{other}' is not supported; use gzip"))),
    }
}

/// What matching one body produced.
#[derive(Default)]
struct Outcome {
    accepted: u64,
    rejected: u64,
    errors: Vec<serde_json::Value>,
    hits: Vec<Hit>,
    /// Devices seen and IOC hits, for the statistics.
    stats: TenantStats,
}

fn match_body(detection: &Detection, tenant: uuid::Uuid, format: Format, body: &[u8], now: DateTime<Utc>) -> Outcome {
    let index = detection.index(tenant);
    let mut outcome = Outcome::default();
    let mut matches: Vec<Match> = Vec::new();
    adapter_for(format).parse(body, &mut |record| match record {
        Err(e) => {
            outcome.rejected += 1;
            if outcome.errors.len() < MAX_REPORTED_ERRORS {
                outcome.errors.push(json!({"line": e.line, "message": e.message}));
            }
        }
        Ok(event) => {
            outcome.accepted += 1;
            let device_key = event.device_key();
            outcome.stats.event(device_key, event.device_name.as_deref(), event.timestamp);
            matches.clear();
            index.match_event(&event, now, &mut matches);
            if matches.is_empty() {
                return;
            }
            // The evidence is built only for the rare event that matched.
            let evidence = event.raw_json();
            // One hit per (IOC) per event: the same value seen in two fields is one sighting.
            let mut seen_iocs: Vec<i64> = Vec::with_capacity(matches.len());
            for m in &matches {
                if seen_iocs.contains(&m.ioc_id) {
                    continue;
                }
                seen_iocs.push(m.ioc_id);
                // The IOC as the snapshot that matched it holds it, even if it changed since.
                let (Some(definition), Some(ioc)) = (detection.definition(tenant, m.definition_id), index.ioc(m.ioc_id))
                else {
                    continue;
                };
                outcome.stats.hit(m.ioc_id, event.timestamp);
                outcome.hits.push(Hit {
                    definition,
                    ioc_id: m.ioc_id,
                    ioc_type: ioc.ioc_type,
                    ioc_value: ioc.value,
                    device_id: device_key.to_string(),
                    device_name: event.device_name.as_deref().map(str::to_string),
                    event_time: event.timestamp,
                    // `accepted` counts this event already: unique per event of the body.
                    event_index: outcome.accepted as usize,
                    field: m.field.name().to_string(),
                    observed: m.value.clone(),
                    event: evidence.clone(),
                });
            }
        }
    });
    outcome
}

pub async fn ingest(
    State(state): State<SharedState>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    // Read below, after authentication, with our own limit: the `Bytes` extractor would
    // apply axum's default 2 MB limit instead of `max_ingest_bytes`.
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let caller = authenticate(&state, token.as_deref()).await?;
    caller.require_role(openti_auth::ROLE_TELEMETRY_INGEST)?;
    let detection = state.detection.clone().ok_or_else(|| ApiError::new(ErrorCode::ServiceUnavailable, "detection is not running on this node"))?;
    let format: Format = params
        .format
        .as_deref()
        .unwrap_or("native")
        .parse()
        .map_err(|e: openti_detect::adapters::UnknownFormat| ApiError::bad_request(e.to_string()).with_target("format"))?;
    let limit = state.config.max_ingest_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| too_large(limit))?;
    let body = decoded_body(&headers, body, limit)?;
    // Every definition or IOC change acknowledged before this request is in the index now.
    detection.catch_up().await;
    let tenant = caller.tenant_id;
    let now = state.clock.now();
    let matcher = detection.clone();
    let outcome = tokio::task::spawn_blocking(move || match_body(&matcher, tenant, format, &body, now))
        .await
        .map_err(ApiError::internal)?;
    // Alerts are durable before we answer.
    let updates = state.store.record_hits(tenant, &outcome.hits, now).await?;
    let alerts = updates.len();
    detection.count_events(outcome.accepted, outcome.rejected, outcome.hits.len() as u64);
    detection.publish_alerts(tenant, updates);
    // Device and hit-count bookkeeping is written on a timer, off SQLite's write lock that
    // alerts need (see `telemetry_stats`).
    state.stats.add(tenant, outcome.stats);
    Ok(Json(json!({
        "accepted": outcome.accepted,
        "rejected": outcome.rejected,
        "errors": outcome.errors,
        "alerts": alerts,
    }))
    .into_response())
}
