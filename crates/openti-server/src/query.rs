//! GET on collections and entities through the OData engine: parse and check the query
//! options, let the store run them, shape the page (`$select`, annotations, count, next link).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use openti_model::schema::EntityType;
use openti_model::ErrorCode;
use openti_odata::query::{CompareOp, Expr, PropertyRef, Source, Value as QueryValue};
use openti_odata::{parse_collection_query, parse_entity_query, CheckedQuery};

use crate::api::shape::{add_etag, apply_select, tag_matches, Shaper};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::SharedState;

/// Narrows a query to rows whose Int64 `property` equals `value` (a key, or the definition
/// a navigation starts from), on top of the client's own `$filter`.
fn restrict(query: &mut CheckedQuery, property: &str, value: i64) -> Result<(), ApiError> {
    let entity = query.entity;
    let property = entity.property(property).ok_or_else(|| ApiError::internal(format!("{} has no {property}", entity.name)))?;
    let condition = Expr::Compare {
        op: CompareOp::Eq,
        lhs: Box::new(Expr::Property(PropertyRef { source: Source::Root, navigations: Vec::new(), entity, property })),
        rhs: Box::new(Expr::Value(QueryValue::Int64(value))),
    };
    query.filter = Some(match query.filter.take() {
        Some(existing) => Expr::And(vec![condition, existing]),
        None => condition,
    });
    Ok(())
}

/// `Prefer: odata.maxpagesize=N`, if the client sent one.
fn preferred_page_size(headers: &HeaderMap) -> Option<u64> {
    headers.get_all("Prefer").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("odata.maxpagesize").then(|| value.trim().trim_matches('"').parse().ok()).flatten()
    })
}

/// GET of a collection, or of a collection navigation when `scope` names the property and
/// key it is narrowed to. `count_only` serves `/$count`.
#[allow(clippy::too_many_arguments)]
pub async fn collection(
    state: &SharedState,
    shaper: &Shaper<'_>,
    headers: &HeaderMap,
    caller: &Caller,
    entity: &'static EntityType,
    raw_query: Option<&str>,
    scope: Option<(&str, i64)>,
    count_only: bool,
) -> Result<Response, ApiError> {
    let limits = &state.config.query_limits;
    let mut query = parse_collection_query(entity, raw_query, limits)?;
    if crate::telemetry_stats::shown_by(entity) {
        state.stats.flush_for_read(caller.tenant_id).await;
    }
    if let Some((property, value)) = scope {
        restrict(&mut query, property, value)?;
    }
    if count_only {
        query.count = true;
        let page = state.store.query(caller.tenant_id, &query, 1).await?;
        let mut response = page.count.unwrap_or(0).to_string().into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(response);
    }
    let preferred = preferred_page_size(headers);
    let page_size = preferred.unwrap_or(limits.max_page_size).clamp(1, limits.max_page_size);
    let page = state.store.query(caller.tenant_id, &query, page_size).await?;
    let selected: Option<Vec<&str>> = query.select.as_ref().map(|s| s.iter().map(|p| p.name).collect());
    let expanded: Vec<&str> = query.expand.iter().map(|e| e.navigation.name).collect();
    let mut rows = page.rows;
    for row in &mut rows {
        add_etag(entity, row);
        if let Some(selected) = &selected {
            apply_select(row, selected, &expanded);
        }
    }
    let (path, context) = match scope {
        Some((_, key)) => (
            format!("AlertDefinitions({key})/{}", entity.set),
            format!("AlertDefinitions({key})/{}", entity.set),
        ),
        None => (entity.set.to_string(), entity.set.to_string()),
    };
    let next_link = page.next_skiptoken.map(|token| format!("{}{path}?{}", shaper.service_root, query.next_link_query(&token)));
    let mut response = shaper.collection(entity, &context, rows, page.count, next_link);
    if let Some(n) = preferred {
        if let Ok(value) = HeaderValue::from_str(&format!("odata.maxpagesize={}", n.clamp(1, limits.max_page_size))) {
            response.headers_mut().insert("Preference-Applied", value);
        }
    }
    Ok(response)
}

/// GET of one entity, with `$select` and `$expand`.
pub async fn single(
    state: &SharedState,
    shaper: &Shaper<'_>,
    headers: &axum::http::HeaderMap,
    caller: &Caller,
    entity: &'static EntityType,
    key: i64,
    raw_query: Option<&str>,
) -> Result<Response, ApiError> {
    let mut query = parse_entity_query(entity, raw_query, &state.config.query_limits)?;
    restrict(&mut query, "Id", key)?;
    if crate::telemetry_stats::shown_by(entity) {
        state.stats.flush_for_read(caller.tenant_id).await;
    }
    let page = state.store.query(caller.tenant_id, &query, 1).await?;
    let Some(mut row) = page.rows.into_iter().next() else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("{}({key}) does not exist", entity.set)));
    };
    add_etag(entity, &mut row);
    let tag = row.get("@odata.etag").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
    if let Some(wanted) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if tag_matches(wanted, &tag) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(value) = HeaderValue::from_str(&tag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            return Ok(response);
        }
    }
    if let Some(selected) = &query.select {
        let selected: Vec<&str> = selected.iter().map(|p| p.name).collect();
        let expanded: Vec<&str> = query.expand.iter().map(|e| e.navigation.name).collect();
        apply_select(&mut row, &selected, &expanded);
    }
    Ok(shaper.entity(entity, row, StatusCode::OK))
}
