//! Shaping entities for the wire: `$select`, the `@odata.*` annotations that the requested
//! metadata level asks for (`Accept: application/json;odata.metadata=none|minimal|full`).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use openti_model::schema::EntityType;
use serde_json::{Map, Value};

/// The `odata.metadata` level a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataLevel {
    None,
    Minimal,
    Full,
}

impl MetadataLevel {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        if accept.contains("odata.metadata=none") {
            MetadataLevel::None
        } else if accept.contains("odata.metadata=full") {
            MetadataLevel::Full
        } else {
            MetadataLevel::Minimal
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            MetadataLevel::None => "application/json;odata.metadata=none;odata.streaming=true",
            MetadataLevel::Minimal => "application/json;odata.metadata=minimal;odata.streaming=true",
            MetadataLevel::Full => "application/json;odata.metadata=full;odata.streaming=true",
        }
    }
}

/// Everything needed to annotate entities of one response.
pub struct Shaper<'a> {
    pub service_root: &'a str,
    pub level: MetadataLevel,
}

impl Shaper<'_> {
    pub fn entity_url(&self, entity: &EntityType, key: &Value) -> String {
        format!("{}{}({})", self.service_root, entity.set, key)
    }

    /// Annotates one entity object in place (full metadata adds id, edit link and type).
    pub fn annotate(&self, entity: &EntityType, object: &mut Map<String, Value>) {
        if self.level == MetadataLevel::None {
            object.retain(|k, _| !k.starts_with('@') && !k.contains("@odata."));
        }
        if self.level == MetadataLevel::Full {
            if let Some(key) = object.get("Id").cloned() {
                let url = self.entity_url(entity, &key);
                object.insert("@odata.type".into(), Value::from(format!("#OpenTI.{}", entity.name)));
                object.insert("@odata.id".into(), Value::from(url.clone()));
                object.insert("@odata.editLink".into(), Value::from(url));
            }
        }
        for nav in entity.navigations {
            if let Some(target) = openti_model::schema::entity_type(nav.target) {
                match object.get_mut(nav.name) {
                    Some(Value::Array(items)) => {
                        for item in items.iter_mut().filter_map(Value::as_object_mut) {
                            self.annotate(target, item);
                        }
                    }
                    Some(Value::Object(item)) => self.annotate(target, item),
                    _ => {}
                }
            }
        }
    }

    /// A single entity response.
    pub fn entity(&self, entity: &EntityType, mut object: Map<String, Value>, status: axum::http::StatusCode) -> Response {
        if !object.contains_key("@odata.etag") && object.contains_key("Id") {
            add_etag(entity, &mut object);
        }
        let tag = object.get("@odata.etag").and_then(Value::as_str).map(str::to_string);
        self.annotate(entity, &mut object);
        if self.level != MetadataLevel::None {
            let context = format!("{}$metadata#{}/$entity", self.service_root, entity.set);
            let mut with_context = Map::with_capacity(object.len() + 1);
            with_context.insert("@odata.context".into(), Value::from(context));
            with_context.extend(object);
            object = with_context;
        }
        let mut response = self.json(status, Value::Object(object));
        if let Some(tag) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            response.headers_mut().insert(header::ETAG, tag);
        }
        response
    }

    /// A collection response.
    pub fn collection(
        &self,
        entity: &EntityType,
        context_suffix: &str,
        rows: Vec<Map<String, Value>>,
        count: Option<i64>,
        next_link: Option<String>,
    ) -> Response {
        let mut body = Map::new();
        if self.level != MetadataLevel::None {
            body.insert("@odata.context".into(), Value::from(format!("{}$metadata#{}", self.service_root, context_suffix)));
        }
        if let Some(count) = count {
            body.insert("@odata.count".into(), Value::from(count));
        }
        let value: Vec<Value> = rows
            .into_iter()
            .map(|mut row| {
                self.annotate(entity, &mut row);
                Value::Object(row)
            })
            .collect();
        body.insert("value".into(), Value::Array(value));
        if let Some(link) = next_link {
            body.insert("@odata.nextLink".into(), Value::from(link));
        }
        self.json(axum::http::StatusCode::OK, Value::Object(body))
    }

    pub fn json(&self, status: axum::http::StatusCode, body: Value) -> Response {
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.level.content_type()));
        response.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
        response
    }
}

/// Properties that change without the entity being edited; they stay out of the ETag so that
/// telemetry does not make every client's `If-Match` fail.
const VOLATILE: [&str; 2] = ["HitCount", "LastSeenAt"];

/// The entity tag of a row: a weak tag over its properties in schema order.
pub fn etag(entity: &EntityType, row: &Map<String, Value>) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for property in entity.properties.iter().filter(|p| !VOLATILE.contains(&p.name)) {
        hasher.update(property.name.as_bytes());
        hasher.update(b"=");
        hasher.update(row.get(property.name).map(Value::to_string).unwrap_or_default().as_bytes());
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Adds `@odata.etag` to a full row (before `$select` trims it).
pub fn add_etag(entity: &EntityType, row: &mut Map<String, Value>) {
    let tag = etag(entity, row);
    row.insert("@odata.etag".into(), Value::from(tag));
}

/// Whether an `If-Match` / `If-None-Match` header value names `tag` (or is `*`).
pub fn tag_matches(header_value: &str, tag: &str) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header_value.split(',').any(|candidate| candidate.trim() == "*" || weak(candidate) == weak(tag))
}

/// Keeps only the selected properties (and annotations and expanded navigations) of a row.
pub fn apply_select(row: &mut Map<String, Value>, selected: &[&str], expanded: &[&str]) {
    row.retain(|k, _| k.starts_with('@') || selected.contains(&k.as_str()) || expanded.contains(&k.as_str()));
}
