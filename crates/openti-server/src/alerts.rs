//! Alert triage and the live alert stream (`GET /V1.0/Alerts/$stream`, Server-Sent Events,
//! resumable with `Last-Event-ID`).

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use openti_model::input::AlertPatch;
use openti_model::ErrorCode;
use serde_json::{Map, Value};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::SharedState;

/// Most alerts replayed to a resuming stream before it goes live.
const MAX_REPLAY: i64 = 1000;

pub async fn patch(state: &SharedState, caller: &Caller, id: i64, body: &Value, patch: &AlertPatch) -> Result<Map<String, Value>, ApiError> {
    let current = state
        .store
        .get_alert(caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Alerts({id}) does not exist")))?;
    check_server_set_unchanged(body, &current)?;
    let updated = state
        .store
        .update_alert(caller.tenant_id, id, patch, &caller.name, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Alerts({id}) does not exist")))?;
    // Live streams see triage as an `update`, as they do the portal's.
    if let Some(detection) = &state.detection {
        detection.publish_alerts(caller.tenant_id, vec![openti_store::AlertUpdate { created: false, alert: updated.clone() }]);
    }
    Ok(updated)
}

/// A client may send back the alert it read, but only Status, Classification and AssignedTo
/// can change: a server-set property sent with another value than the stored one is refused
/// rather than silently ignored.
fn check_server_set_unchanged(body: &Value, current: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(object) = body.as_object() else { return Ok(()) };
    for (key, value) in object {
        let Some(property) = openti_model::schema::ALERT.property(key) else { continue };
        if property.read_only && current.get(property.name) != Some(value) {
            return Err(ApiError::new(
                ErrorCode::InvalidRequestBody,
                format!("'{}' is set by the server and cannot be changed; an alert's Status, Classification and AssignedTo can", property.name),
            )
            .with_target(property.name));
        }
    }
    Ok(())
}

fn sse_event(kind: &str, alert: &Map<String, Value>) -> Event {
    let id = alert.get("Id").and_then(Value::as_i64).unwrap_or(0);
    Event::default().event(kind).id(id.to_string()).data(Value::Object(alert.clone()).to_string())
}

/// Streams the tenant's new and changed alerts. With `Last-Event-ID: N` it first replays the
/// alerts created after alert N, so a client that reconnects misses nothing that was created.
pub async fn stream(state: &SharedState, caller: &Caller, headers: &HeaderMap) -> Result<Response, ApiError> {
    let detection = state
        .detection
        .clone()
        .ok_or_else(|| ApiError::new(ErrorCode::ServiceUnavailable, "detection is not running on this node"))?;
    // Subscribe before reading the replay so nothing falls between the two.
    let live = BroadcastStream::new(detection.subscribe_alerts());
    let last_id = headers.get("Last-Event-ID").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let replay = match last_id {
        Some(after) => state.store.alerts_after(caller.tenant_id, after, MAX_REPLAY).await?,
        None => Vec::new(),
    };
    let replayed_up_to = replay.last().and_then(|a| a.get("Id")).and_then(Value::as_i64).unwrap_or(i64::MIN);
    let tenant = caller.tenant_id;
    let replay = futures::stream::iter(replay.into_iter().map(|alert| Ok::<_, Infallible>(sse_event("alert", &alert))));
    let live = live.filter_map(move |item| async move {
        let event = item.ok()?;
        if event.tenant_id != tenant {
            return None;
        }
        let id = event.alert.get("Id").and_then(Value::as_i64).unwrap_or(0);
        if event.created && id <= replayed_up_to {
            return None;
        }
        Some(Ok(sse_event(if event.created { "alert" } else { "update" }, &event.alert)))
    });
    Ok(Sse::new(replay.chain(live)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}
