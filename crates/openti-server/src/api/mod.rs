//! The custom TI API v1.0 (SPEC A.3–A.9): one dispatcher that parses the OData resource
//! path, checks the token and the role, and hands the request to the handler of the
//! resource. Every failure is an [`ApiError`], so every error body is OData JSON.

pub mod path;
pub mod shape;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use openti_model::input::{
    bulk_entities, parse_alert_patch, parse_definition, parse_definition_reference, parse_ioc, DEFINITION_BULK_WRAPPERS,
    IOC_BULK_WRAPPERS,
};
use openti_model::schema::{EntityType, ALERT, ALERT_DEFINITION, DEVICE, INDICATOR_OF_COMPROMISE};
use openti_model::{DefinitionDraft, ErrorCode, InputError, IocDraft};
use serde_json::{Map, Value};

use crate::auth::{authenticate, Caller};
use crate::error::ApiError;
use crate::state::SharedState;
use path::Resource;
use shape::{MetadataLevel, Shaper};

/// Handles every request under `/{version}/`.
pub async fn dispatch(State(state): State<SharedState>, request: Request) -> Response {
    match handle(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// The path segments after the version, percent-decoded.
fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.split('/')
        .skip(2)
        .map(|s| {
            percent_decode(s).ok_or_else(|| ApiError::bad_request(format!("the path segment '{s}' is not valid UTF-8")))
        })
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> = form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

struct Ctx<'a> {
    state: &'a SharedState,
    headers: HeaderMap,
    query: Option<String>,
    shaper: Shaper<'a>,
}

async fn handle(state: &SharedState, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let version = parts.uri.path().split('/').nth(1).unwrap_or("");
    if !version.eq_ignore_ascii_case("v1.0") {
        return Err(ApiError::not_found(format!("'{}' is not a resource of this service", parts.uri.path())));
    }
    let resource = path::parse(&segments(parts.uri.path())?)?;
    let service_root = &state.config.service_root();
    let ctx = Ctx {
        state,
        query: parts.uri.query().map(str::to_string),
        shaper: Shaper { service_root, level: MetadataLevel::from_headers(&parts.headers) },
        headers: parts.headers,
    };
    let method = parts.method;
    // The service description is public, as generic OData clients fetch it before they authenticate.
    match (&resource, &method) {
        (Resource::ServiceDocument, &Method::GET) => {
            return Ok(ctx.shaper.json(StatusCode::OK, openti_odata::csdl::service_document(service_root)))
        }
        (Resource::Metadata, &Method::GET) => return Ok(metadata(&ctx, service_root)),
        (Resource::OpenApi, &Method::GET) => {
            return Ok(axum::Json(openti_odata::openapi::openapi_json(service_root)).into_response())
        }
        (Resource::ServiceDocument | Resource::Metadata | Resource::OpenApi, _) => {
            return Err(ApiError::method_not_allowed())
        }
        _ => {}
    }
    let token = parts_bearer(&ctx.headers);
    let caller = authenticate(state, token.as_deref()).await?;
    caller.require_role(openti_auth::ROLE_TI_READWRITE)?;
    let body = read_body(state, body, &ctx.headers).await?;
    route(&ctx, &caller, resource, method, body).await
}

fn parts_bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

fn metadata(ctx: &Ctx<'_>, service_root: &str) -> Response {
    let wants_json = ctx.query.as_deref().is_some_and(|q| q.contains("$format=application/json") || q.contains("$format=json"))
        || ctx.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.starts_with("application/json"));
    if wants_json {
        return axum::Json(openti_odata::csdl::metadata_json(service_root)).into_response();
    }
    let mut response = openti_odata::csdl::metadata_xml(service_root).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

/// Oversized bodies up to this size are read and dropped before the 413 is sent.
const MAX_DRAINED_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Reads the body within the size limit. An oversized body is still read to its end (up to
/// [`MAX_DRAINED_BODY_BYTES`]) and dropped before the 413 goes out: a server that answers and
/// closes while the client is still sending makes the client see a reset, and most HTTP
/// clients then report a broken pipe instead of the 413 (RFC 9112 §9.6).
async fn read_body(state: &SharedState, body: Body, headers: &HeaderMap) -> Result<Bytes, ApiError> {
    use futures::StreamExt as _;
    let limit = state.config.max_body_bytes;
    let too_large =
        || ApiError::new(ErrorCode::RequestEntityTooLarge, format!("the request body is larger than {limit} bytes"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_DRAINED_BODY_BYTES) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(ErrorCode::InvalidRequestBody, "the request body could not be read"))?;
        seen = seen.saturating_add(chunk.len());
        if seen > MAX_DRAINED_BODY_BYTES {
            return Err(too_large());
        }
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// Parses a JSON request body. `Content-Type` must be JSON (parameters such as
/// `odata.metadata=minimal` or a trailing `;` are fine); a missing one is read as JSON.
fn json_body(ctx: &Ctx<'_>, body: &Bytes) -> Result<Value, ApiError> {
    if let Some(content_type) = ctx.headers.get(header::CONTENT_TYPE) {
        let media = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/json" && !media.is_empty() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("the request body must be application/json, not '{media}'"),
            ));
        }
    }
    // Windows PowerShell may prefix a UTF-8 byte order mark.
    let bytes = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(ErrorCode::InvalidRequestBody, "the request body is empty; a JSON object is required"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequestBody, format!("the request body is not valid JSON: {e}")))
}

fn not_found(entity: &EntityType, key: i64) -> ApiError {
    ApiError::not_found(format!("{}({key}) does not exist", entity.set))
}

fn to_object<T: serde::Serialize>(value: &T) -> Result<Map<String, Value>, ApiError> {
    match serde_json::to_value(value).map_err(ApiError::internal)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::internal("entity did not serialise to an object")),
    }
}

fn created(ctx: &Ctx<'_>, entity: &EntityType, object: Map<String, Value>) -> Response {
    let location = object.get("Id").map(|key| ctx.shaper.entity_url(entity, key));
    let mut response = ctx.shaper.entity(entity, object, StatusCode::CREATED);
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn route(ctx: &Ctx<'_>, caller: &Caller, resource: Resource, method: Method, body: Bytes) -> Result<Response, ApiError> {
    let store = &ctx.state.store;
    let tenant = caller.tenant_id;
    let now = ctx.state.clock.now();
    let actor = caller.name.as_str();
    match resource {
        Resource::Collection { entity, count } => match method {
            Method::GET => crate::query::collection(ctx.state, &ctx.shaper, &ctx.headers, caller, entity, ctx.query.as_deref(), None, count).await,
            Method::POST if entity == &ALERT_DEFINITION => {
                let draft = parse_definition(&json_body(ctx, &body)?, None)?;
                let created_one = store.create_definitions(tenant, &[draft], actor, now).await?;
                let object = to_object(created_one.first().ok_or_else(|| ApiError::internal("nothing created"))?)?;
                Ok(created(ctx, entity, object))
            }
            Method::POST if entity == &INDICATOR_OF_COMPROMISE => {
                let draft = parse_ioc(&json_body(ctx, &body)?, None)?;
                let created_one = store.create_iocs(tenant, &[draft], actor, now).await?;
                let object = to_object(created_one.first().ok_or_else(|| ApiError::internal("nothing created"))?)?;
                Ok(created(ctx, entity, object))
            }
            Method::DELETE if entity == &ALERT_DEFINITION => {
                store.delete_all_definitions(tenant).await?;
                Ok(no_content())
            }
            Method::DELETE if entity == &INDICATOR_OF_COMPROMISE => {
                store.delete_all_iocs(tenant).await?;
                Ok(no_content())
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        Resource::Entity { entity, key } => entity_request(ctx, caller, entity, key, method, body).await,
        Resource::Navigation { entity, key, reference, count, .. } => {
            if entity == &INDICATOR_OF_COMPROMISE {
                let ioc = store.get_ioc(tenant, key).await?.ok_or_else(|| not_found(entity, key))?;
                match (method, reference) {
                    (Method::GET, false) => {
                        let definition = store
                            .get_definition(tenant, ioc.alert_definition_id)
                            .await?
                            .ok_or_else(|| not_found(&ALERT_DEFINITION, ioc.alert_definition_id))?;
                        Ok(ctx.shaper.entity(&ALERT_DEFINITION, to_object(&definition)?, StatusCode::OK))
                    }
                    (Method::GET, true) => {
                        let id = format!("{}AlertDefinitions({})", ctx.shaper.service_root, ioc.alert_definition_id);
                        Ok(ctx.shaper.json(StatusCode::OK, serde_json::json!({"@odata.context": format!("{}$metadata#$ref", ctx.shaper.service_root), "@odata.id": id})))
                    }
                    (Method::PUT, true) => {
                        let body = json_body(ctx, &body)?;
                        let reference = body
                            .get("@odata.id")
                            .and_then(Value::as_str)
                            .ok_or_else(|| InputError::new(ErrorCode::MissingRequiredParameter, "@odata.id", "'@odata.id' is required"))?;
                        let definition_id = parse_definition_reference(reference).ok_or_else(|| {
                            InputError::new(ErrorCode::InvalidRequestBody, "@odata.id", format!("'{reference}' is not a reference to an alert definition"))
                        })?;
                        let mut draft = IocDraft::from(&ioc);
                        draft.alert_definition_id = definition_id;
                        store
                            .update_ioc(tenant, key, &draft, actor, now)
                            .await
                            .map_err(|e| match e {
                                // The body names the definition in `@odata.id`, not in a bind.
                                openti_store::StoreError::MissingDefinition { .. } => ApiError::from(e).with_target("@odata.id"),
                                other => other.into(),
                            })?
                            .ok_or_else(|| not_found(entity, key))?;
                        Ok(no_content())
                    }
                    _ => Err(ApiError::method_not_allowed()),
                }
            } else {
                if method != Method::GET || reference {
                    return Err(ApiError::method_not_allowed());
                }
                store.get_definition(tenant, key).await?.ok_or_else(|| not_found(entity, key))?;
                crate::query::collection(ctx.state, &ctx.shaper, &ctx.headers, caller, &INDICATOR_OF_COMPROMISE, ctx.query.as_deref(), Some(("AlertDefinitionId", key)), count).await
            }
        }
        Resource::Action { entity, key, action } => {
            if method != Method::POST {
                return Err(ApiError::method_not_allowed());
            }
            match (entity.name, key, action.to_ascii_lowercase().as_str()) {
                ("AlertDefinition", None, "bulkupload") => {
                    let body = json_body(ctx, &body)?;
                    let items = bulk_entities(&body, DEFINITION_BULK_WRAPPERS)?;
                    let drafts = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| parse_definition(item, None).map_err(|e| e.at_index(DEFINITION_BULK_WRAPPERS[0], i)))
                        .collect::<Result<Vec<DefinitionDraft>, _>>()?;
                    let created = store.create_definitions(tenant, &drafts, actor, now).await?;
                    bulk_response(ctx, entity, &created)
                }
                ("IndicatorOfCompromise", None, "bulkupload") => {
                    let body = json_body(ctx, &body)?;
                    let items = bulk_entities(&body, IOC_BULK_WRAPPERS)?;
                    let drafts = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| parse_ioc(item, None).map_err(|e| e.at_index(IOC_BULK_WRAPPERS[0], i)))
                        .collect::<Result<Vec<IocDraft>, _>>()?;
                    let created = store.create_iocs(tenant, &drafts, actor, now).await.map_err(|e| match e {
                        openti_store::StoreError::MissingDefinition { index, definition_id } => ApiError::bad_request(format!(
                            "entity at index {index}: AlertDefinitions({definition_id}) does not exist"
                        ))
                        .with_target(format!("iocs[{index}].AlertDefinition@odata.bind")),
                        other => other.into(),
                    })?;
                    bulk_response(ctx, entity, &created)
                }
                ("AlertDefinition", Some(key), "deleteiocs") => {
                    if store.delete_iocs_of_definition(tenant, key).await? {
                        Ok(no_content())
                    } else {
                        Err(not_found(entity, key))
                    }
                }
                _ => Err(ApiError::not_found(format!("'{action}' is not an action of {}", entity.set))),
            }
        }
        Resource::Stream { entity } if entity == &ALERT && method == Method::GET => {
            crate::alerts::stream(ctx.state, caller, &ctx.headers).await
        }
        Resource::Stream { .. } => Err(ApiError::not_found("only Alerts has a $stream")),
        Resource::ServiceDocument | Resource::Metadata | Resource::OpenApi => Err(ApiError::method_not_allowed()),
    }
}

/// Optimistic concurrency: a write with `If-Match` proceeds only while the entity still has
/// the tag the client read (412 otherwise).
async fn check_if_match(ctx: &Ctx<'_>, caller: &Caller, entity: &'static EntityType, key: i64) -> Result<(), ApiError> {
    let Some(wanted) = ctx.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let store = &ctx.state.store;
    let current = match entity.name {
        "AlertDefinition" => store.get_definition(caller.tenant_id, key).await?.map(|d| to_object(&d)).transpose()?,
        "IndicatorOfCompromise" => store.get_ioc(caller.tenant_id, key).await?.map(|i| to_object(&i)).transpose()?,
        "Alert" => store.get_alert(caller.tenant_id, key).await?,
        _ => None,
    };
    let current = current.ok_or_else(|| not_found(entity, key))?;
    if shape::tag_matches(wanted, &shape::etag(entity, &current)) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::PreconditionFailed, format!("{}({key}) has changed since it was read (If-Match)", entity.set)))
    }
}

fn bulk_response<T: serde::Serialize>(ctx: &Ctx<'_>, entity: &EntityType, created: &[T]) -> Result<Response, ApiError> {
    let rows = created.iter().map(to_object).collect::<Result<Vec<_>, _>>()?;
    Ok(ctx.shaper.collection(entity, entity.set, rows, None, None))
}

async fn entity_request(
    ctx: &Ctx<'_>,
    caller: &Caller,
    entity: &'static EntityType,
    key: i64,
    method: Method,
    body: Bytes,
) -> Result<Response, ApiError> {
    let store = &ctx.state.store;
    let tenant = caller.tenant_id;
    let now = ctx.state.clock.now();
    let actor = caller.name.as_str();
    if method != Method::GET {
        check_if_match(ctx, caller, entity, key).await?;
    }
    match (entity.name, method) {
        (_, Method::GET) => crate::query::single(ctx.state, &ctx.shaper, &ctx.headers, caller, entity, key, ctx.query.as_deref()).await,
        ("AlertDefinition", m @ (Method::PATCH | Method::PUT)) => {
            let current = store.get_definition(tenant, key).await?.ok_or_else(|| not_found(entity, key))?;
            let base = DefinitionDraft::from(&current);
            // PUT replaces: every required property must be present.
            let draft = parse_definition(&json_body(ctx, &body)?, (m == Method::PATCH).then_some(&base))?;
            let updated = store.update_definition(tenant, key, &draft, actor, now).await?.ok_or_else(|| not_found(entity, key))?;
            Ok(ctx.shaper.entity(entity, to_object(&updated)?, StatusCode::OK))
        }
        ("IndicatorOfCompromise", m @ (Method::PATCH | Method::PUT)) => {
            // The response shows HitCount and LastSeenAt.
            ctx.state.stats.flush_for_read(tenant).await;
            let current = store.get_ioc(tenant, key).await?.ok_or_else(|| not_found(entity, key))?;
            let base = IocDraft::from(&current);
            let body = json_body(ctx, &body)?;
            let draft = if m == Method::PATCH {
                parse_ioc(&body, Some(&base))?
            } else {
                // PUT replaces every property; the binding is the navigation's, kept unless rebound.
                let mut body = body;
                if let Some(object) = body.as_object_mut() {
                    if !object.keys().any(|k| k.to_ascii_lowercase().ends_with("@odata.bind")) {
                        object.insert(
                            "AlertDefinition@odata.bind".into(),
                            Value::from(format!("AlertDefinitions({})", base.alert_definition_id)),
                        );
                    }
                }
                parse_ioc(&body, None)?
            };
            let updated = store.update_ioc(tenant, key, &draft, actor, now).await?.ok_or_else(|| not_found(entity, key))?;
            Ok(ctx.shaper.entity(entity, to_object(&updated)?, StatusCode::OK))
        }
        ("Alert", Method::PATCH) => {
            let body = json_body(ctx, &body)?;
            let patch = parse_alert_patch(&body)?;
            let updated = crate::alerts::patch(ctx.state, caller, key, &body, &patch).await?;
            Ok(ctx.shaper.entity(entity, updated, StatusCode::OK))
        }
        ("AlertDefinition", Method::DELETE) => {
            if store.delete_definition(tenant, key).await? {
                Ok(no_content())
            } else {
                Err(not_found(entity, key))
            }
        }
        ("IndicatorOfCompromise", Method::DELETE) => {
            if store.delete_ioc(tenant, key).await? {
                Ok(no_content())
            } else {
                Err(not_found(entity, key))
            }
        }
        _ if entity == &DEVICE || entity == &ALERT => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::method_not_allowed()),
    }
}
