//! The OpenAPI 3.0 description of the API, generated from the same entity model as
//! `$metadata` ([`crate::csdl`]).
//!
//! Every route of SPEC A.4 (for both client-writable sets), the alert and device routes of
//! SPEC B.4, the bound actions and the navigation routes are derived from
//! [`ENTITY_TYPES`], [`csdl::ACTIONS`] and the capabilities the CSDL states: a set that is
//! not insertable gets no POST or DELETE, one without writable properties no PATCH. The
//! OData query options (SPEC A.8) are parameters whose allowed values ($select, $orderby,
//! $expand) are the set's own properties.
//!
//! Request and response bodies follow the OData JSON conventions the server speaks:
//! - reads return the entity (`#/components/schemas/OpenTI.X`), lists `{"value":[…]}`;
//! - creates take `OpenTI.X-create` (no server-set properties; a required navigation is
//!   bound with `Nav@odata.bind`), updates `OpenTI.X-update` (every property optional);
//! - every error is the OData error object (`odata.error`, SPEC A.9).

use openti_model::schema::{EdmType, EntityType, Navigation, Property, ENTITY_TYPES, ENUM_TYPES, NAMESPACE};
use serde_json::{json, Map, Value};

use crate::csdl::{self, ComplexType, COMPLEX_TYPES};

/// The OpenAPI version of the document.
pub const OPENAPI_VERSION: &str = "3.0.3";

/// Most entities a list response carries before `@odata.nextLink` (SPEC A.8).
const PAGE_SIZE: usize = 1000;

/// The OpenAPI document for the service at `service_root` (e.g. `https://host/V1.0/`).
pub fn openapi_json(service_root: &str) -> Value {
    // Paths start with '/', so the server URL must not end with one.
    let server = csdl::normalize_root(service_root).trim_end_matches('/').to_string();

    let mut paths = Map::new();
    paths.insert("/".into(), json!({ "get": service_document_operation() }));
    paths.insert("/$metadata".into(), json!({ "get": metadata_operation() }));
    for entity in ENTITY_TYPES {
        entity_paths(&mut paths, entity);
    }
    for action in csdl::ACTIONS {
        let (path, item) = action_path(action);
        paths.insert(path, item);
    }

    let mut tags: Vec<Value> =
        ENTITY_TYPES.iter().map(|e| json!({"name": e.set, "description": capitalised(&csdl::words(e.set))})).collect();
    tags.push(json!({"name": "Service", "description": "The service document and $metadata"}));

    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OpenTI custom threat intelligence API",
            "version": csdl::API_VERSION,
            "description": "Alert definitions and their indicators of compromise, the alerts they raise and the devices \
                that sent telemetry; compatible with the custom TI API v1.0. The OData $metadata of the service \
                describes the same model. Every request carries a bearer token from POST {base}/{tenant}/oauth2/token \
                (OAuth 2.0 client credentials).",
        },
        "servers": [{ "url": server }],
        "tags": tags,
        "security": [{ csdl::SECURITY_SCHEME: [] }],
        "paths": paths,
        "components": components(),
    })
}

// ---------------------------------------------------------------------------------------
// Paths.
// ---------------------------------------------------------------------------------------

fn ref_to(kind: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

fn schema_ref(name: &str) -> Value {
    ref_to("schemas", name)
}

fn qualified(name: &str) -> String {
    format!("{NAMESPACE}.{name}")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn one(entity: &EntityType) -> String {
    csdl::with_article(&csdl::words(entity.name))
}

/// The path of one entity: `/AlertDefinitions({Id})`.
fn key_path(entity: &EntityType) -> String {
    format!("/{}({{{}}})", entity.set, entity.key.name)
}

fn key_parameter(entity: &EntityType) -> Value {
    json!({
        "name": entity.key.name,
        "in": "path",
        "required": true,
        "description": format!("The key of {}", one(entity)),
        "schema": { "type": "integer", "format": "int64" },
    })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// The error responses of an operation (SPEC A.9).
struct Errors {
    /// Takes query options or a body that can be invalid.
    bad_request: bool,
    /// Addresses an entity by key.
    not_found: bool,
    /// Has a JSON body.
    body: bool,
    /// Can create entities or change a DetectionFunction, so can exceed a quota (SPEC A.7).
    quota: bool,
}

fn with_errors(mut responses: Map<String, Value>, errors: Errors) -> Value {
    let mut add = |status: &str, name: &str| {
        responses.insert(status.into(), ref_to("responses", name));
    };
    if errors.bad_request {
        add("400", "BadRequest");
    }
    add("401", "Unauthorized");
    add("403", "Forbidden");
    if errors.not_found {
        add("404", "NotFound");
    }
    if errors.body {
        add("413", "PayloadTooLarge");
        add("415", "UnsupportedMediaType");
    }
    add("429", "TooManyRequests");
    if errors.quota {
        add("507", "QuotaExceeded");
    }
    add("default", "Error");
    Value::Object(responses)
}

fn responses(entries: &[(&str, Value)]) -> Map<String, Value> {
    entries.iter().map(|(status, r)| ((*status).to_string(), r.clone())).collect()
}

fn no_content(description: &str) -> Value {
    json!({ "description": description })
}

fn service_document_operation() -> Value {
    json!({
        "summary": "Service document: the entity sets of the service",
        "operationId": "Service.GetServiceDocument",
        "tags": ["Service"],
        "responses": with_errors(
            responses(&[("200", json_response("The entity sets", schema_ref("ServiceDocument")))]),
            Errors { bad_request: false, not_found: false, body: false, quota: false },
        ),
    })
}

fn metadata_operation() -> Value {
    json!({
        "summary": "The CSDL (OData 4.0) description of every entity type, enum and action",
        "operationId": "Service.GetMetadata",
        "tags": ["Service"],
        "responses": with_errors(
            responses(&[(
                "200",
                json!({
                    "description": "CSDL XML",
                    "content": { "application/xml": { "schema": { "type": "string" } } },
                }),
            )]),
            Errors { bad_request: false, not_found: false, body: false, quota: false },
        ),
    })
}

fn entity_paths(paths: &mut Map<String, Value>, entity: &'static EntityType) {
    let tag = json!([entity.set]);
    let name = qualified(entity.name);
    let updatable = csdl::is_updatable(entity);

    // The collection.
    let mut collection = Map::new();
    collection.insert(
        "get".into(),
        json!({
            "summary": format!("List {}", csdl::words(entity.set)),
            "description": format!(
                "At most {PAGE_SIZE} entities per response; `@odata.nextLink` gives the next page."
            ),
            "operationId": format!("{}.List", entity.set),
            "tags": tag,
            "parameters": list_parameters(entity),
            "responses": with_errors(
                responses(&[("200", json_response("The entities", schema_ref(&format!("{name}-collection"))))]),
                Errors { bad_request: true, not_found: false, body: false, quota: false },
            ),
        }),
    );
    if entity.insertable {
        collection.insert(
            "post".into(),
            json!({
                "summary": format!("Create {}", one(entity)),
                "operationId": format!("{}.Create", entity.set),
                "tags": tag,
                "requestBody": { "required": true, "description": "The new entity", "content": { "application/json": { "schema": schema_ref(&format!("{name}-create")) } } },
                "responses": with_errors(
                    responses(&[(
                        "201",
                        json!({
                            "description": "The created entity, with its Id",
                            "headers": { "Location": { "description": "The URL of the created entity", "schema": { "type": "string" } } },
                            "content": { "application/json": { "schema": schema_ref(&name) } },
                        }),
                    )]),
                    Errors { bad_request: true, not_found: false, body: true, quota: true },
                ),
            }),
        );
        collection.insert(
            "delete".into(),
            json!({
                "summary": format!("Delete all {} of the tenant", csdl::words(entity.set)),
                "operationId": format!("{}.DeleteAll", entity.set),
                "tags": tag,
                "responses": with_errors(
                    responses(&[("204", no_content("Deleted"))]),
                    Errors { bad_request: false, not_found: false, body: false, quota: false },
                ),
            }),
        );
    }
    paths.insert(format!("/{}", entity.set), Value::Object(collection));

    // One entity.
    let mut item = Map::new();
    item.insert("parameters".into(), json!([key_parameter(entity)]));
    item.insert(
        "get".into(),
        json!({
            "summary": format!("Get {} by key", one(entity)),
            "operationId": format!("{}.Get", entity.set),
            "tags": tag,
            "parameters": entity_parameters(entity),
            "responses": with_errors(
                responses(&[("200", json_response("The entity", schema_ref(&name)))]),
                Errors { bad_request: true, not_found: true, body: false, quota: false },
            ),
        }),
    );
    if updatable {
        let writable: Vec<&str> = csdl::writable_properties(entity).map(|p| p.name).collect();
        let summary = if entity.insertable {
            format!("Update {}", one(entity))
        } else {
            format!("Update {}: only {} can be changed", one(entity), csdl::join_names(&writable))
        };
        item.insert(
            "patch".into(),
            json!({
                "summary": summary,
                "description": "Changes the given properties and keeps the others.",
                "operationId": format!("{}.Update", entity.set),
                "tags": tag,
                "requestBody": { "required": true, "description": "The properties to change", "content": { "application/json": { "schema": schema_ref(&format!("{name}-update")) } } },
                "responses": with_errors(
                    responses(&[("200", json_response("The updated entity", schema_ref(&name)))]),
                    // Changing an IOC's DetectionFunction can exceed the non-Equals quota.
                    Errors { bad_request: true, not_found: true, body: true, quota: entity.insertable },
                ),
            }),
        );
    }
    if entity.insertable {
        let cascaded: Vec<String> = entity
            .navigations
            .iter()
            .filter(|n| n.collection && cascades(n))
            .map(|n| csdl::words(n.name))
            .collect();
        let summary = if cascaded.is_empty() {
            format!("Delete {}", one(entity))
        } else {
            format!("Delete {} and its {}", one(entity), cascaded.join(" and "))
        };
        item.insert(
            "delete".into(),
            json!({
                "summary": summary,
                "operationId": format!("{}.Delete", entity.set),
                "tags": tag,
                "responses": with_errors(
                    responses(&[("204", no_content("Deleted"))]),
                    Errors { bad_request: false, not_found: true, body: false, quota: false },
                ),
            }),
        );
    }
    paths.insert(key_path(entity), Value::Object(item));

    for nav in entity.navigations {
        navigation_paths(paths, entity, nav);
    }
}

/// Whether deleting the principal deletes the targets of a collection navigation: they
/// cannot exist without it (their way back is required).
fn cascades(nav: &Navigation) -> bool {
    let Some(target) = openti_model::schema::entity_type(nav.target) else { return false };
    nav.partner.and_then(|p| target.navigation(p)).is_some_and(|back| csdl::navigation_required(target, back))
}

fn navigation_paths(paths: &mut Map<String, Value>, entity: &'static EntityType, nav: &'static Navigation) {
    let Some(target) = openti_model::schema::entity_type(nav.target) else { return };
    let tag = json!([entity.set]);
    let base = format!("{}/{}", key_path(entity), nav.name);
    let target_name = qualified(target.name);
    let (summary, parameters, schema) = if nav.collection {
        (
            format!("List the {} of {}", csdl::words(nav.name), one(entity)),
            list_parameters(target),
            schema_ref(&format!("{target_name}-collection")),
        )
    } else {
        (format!("Get the {} of {}", csdl::words(nav.name), one(entity)), entity_parameters(target), schema_ref(&target_name))
    };
    paths.insert(
        base.clone(),
        json!({
            "parameters": [key_parameter(entity)],
            "get": {
                "summary": summary,
                "operationId": format!("{}.Get{}", entity.set, nav.name),
                "tags": tag,
                "parameters": parameters,
                "responses": with_errors(
                    responses(&[("200", json_response("The related entities", schema))]),
                    Errors { bad_request: true, not_found: true, body: false, quota: false },
                ),
            },
        }),
    );

    // Re-binding a single-valued navigation (SPEC A.4: an IOC to another definition).
    if !nav.collection && csdl::is_updatable(entity) {
        paths.insert(
            format!("{base}/$ref"),
            json!({
                "parameters": [key_parameter(entity)],
                "put": {
                    "summary": format!("Bind {} to another {}", one(entity), csdl::words(nav.name)),
                    "description": format!(
                        "The body names the new {} by URL, relative (`{}(6)`) or absolute.",
                        csdl::words(nav.name),
                        target.set
                    ),
                    "operationId": format!("{}.Set{}Ref", entity.set, nav.name),
                    "tags": tag,
                    "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref("odata.reference") } } },
                    "responses": with_errors(
                        responses(&[("204", no_content("Bound"))]),
                        Errors { bad_request: true, not_found: true, body: true, quota: false },
                    ),
                },
            }),
        );
    }
}

fn action_path(action: &csdl::Action) -> (String, Value) {
    let entity = action.binding;
    let name = qualified(entity.name);
    let path = if action.on_collection {
        format!("/{}/{}", entity.set, action.qualified_name())
    } else {
        format!("{}/{}", key_path(entity), action.qualified_name())
    };
    let mut operation = Map::new();
    operation.insert("summary".into(), json!(action.description));
    operation.insert("operationId".into(), json!(format!("{}.{}", entity.set, action.name)));
    operation.insert("tags".into(), json!([entity.set]));
    if let Some(parameter) = action.entities_parameter {
        let mut items = json!({ "type": "array", "items": schema_ref(&format!("{name}-create")) });
        if let Some(max) = action.max_items {
            items["maxItems"] = json!(max);
        }
        operation.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "required": [parameter],
                    "properties": { parameter: items },
                } } },
            }),
        );
    }
    let success = if action.returns_entities {
        ("200", json_response("The created entities, in request order, with their Ids", schema_ref(&format!("{name}-collection"))))
    } else {
        ("204", no_content("Done"))
    };
    let has_body = action.entities_parameter.is_some();
    operation.insert(
        "responses".into(),
        with_errors(
            responses(&[success]),
            Errors { bad_request: has_body, not_found: !action.on_collection, body: has_body, quota: action.returns_entities },
        ),
    );
    let mut item = Map::new();
    if !action.on_collection {
        item.insert("parameters".into(), json!([key_parameter(entity)]));
    }
    item.insert("post".into(), Value::Object(operation));
    (path, Value::Object(item))
}

// ---------------------------------------------------------------------------------------
// Query options (SPEC A.8).
// ---------------------------------------------------------------------------------------

fn array_of(values: Vec<String>) -> Value {
    json!({ "type": "array", "uniqueItems": true, "items": { "type": "string", "enum": values } })
}

fn select_parameter(entity: &EntityType) -> Value {
    json!({
        "name": "$select",
        "in": "query",
        "description": "The properties to return (comma-separated)",
        "explode": false,
        "schema": array_of(std::iter::once("*".to_string()).chain(entity.properties.iter().map(|p| p.name.to_string())).collect()),
    })
}

fn expand_parameter(entity: &EntityType) -> Option<Value> {
    let first = entity.navigations.first()?;
    let names: Vec<&str> = entity.navigations.iter().map(|n| n.name).collect();
    // No enum here: an item may carry nested options, e.g. `Nav($select=Id)`.
    Some(json!({
        "name": "$expand",
        "in": "query",
        "description": format!(
            "Related entities to include (comma-separated): {} or `*`, each with optional nested options in parentheses",
            csdl::join_names(&names)
        ),
        "explode": false,
        "schema": { "type": "array", "uniqueItems": true, "items": { "type": "string" } },
        "example": [format!("{}($select=Id)", first.name)],
    }))
}

fn orderby_parameter(entity: &EntityType) -> Value {
    let keys = entity
        .properties
        .iter()
        .filter(|p| csdl::is_filterable(p))
        .flat_map(|p| [p.name.to_string(), format!("{} desc", p.name)])
        .collect();
    json!({
        "name": "$orderby",
        "in": "query",
        "description": "Sort keys (comma-separated), each ascending unless followed by ` desc`",
        "explode": false,
        "schema": array_of(keys),
    })
}

/// `$select` and `$expand`: what a single-entity read accepts.
fn entity_parameters(entity: &EntityType) -> Vec<Value> {
    let mut parameters = vec![select_parameter(entity)];
    parameters.extend(expand_parameter(entity));
    parameters
}

/// Every query option of a collection read.
fn list_parameters(entity: &EntityType) -> Vec<Value> {
    let not_filterable: Vec<&str> = entity.properties.iter().filter(|p| !csdl::is_filterable(p)).map(|p| p.name).collect();
    let mut filter = json!({
        "name": "$filter",
        "in": "query",
        "description": FILTER_DESCRIPTION,
        "schema": { "type": "string" },
        "example": filter_example(entity),
    });
    if !not_filterable.is_empty() {
        filter["description"] =
            json!(format!("{FILTER_DESCRIPTION} Not filterable: {}.", csdl::join_names(&not_filterable)));
    }
    let mut parameters = vec![
        filter,
        orderby_parameter(entity),
        ref_to("parameters", "top"),
        ref_to("parameters", "skip"),
        ref_to("parameters", "count"),
    ];
    parameters.extend(entity_parameters(entity));
    parameters
}

const FILTER_DESCRIPTION: &str = "An OData filter expression: comparisons (eq ne gt ge lt le, in), and or not, \
    parentheses, string functions (contains startswith endswith tolower toupper …), any/all over collection \
    navigations; string, number, boolean, null, DateTimeOffset and enum literals (enum members in any case).";

/// A plausible filter for the set: on its first enum property, else on its key.
fn filter_example(entity: &EntityType) -> String {
    entity
        .properties
        .iter()
        .find_map(|p| match p.ty {
            EdmType::Enum(e) => e.members.get(1).or(e.members.first()).map(|m| format!("{} eq '{m}'", p.name)),
            _ => None,
        })
        .unwrap_or_else(|| format!("{} gt 0", entity.key.name))
}

// ---------------------------------------------------------------------------------------
// Components.
// ---------------------------------------------------------------------------------------

fn components() -> Value {
    let mut schemas = Map::new();
    for e in ENUM_TYPES {
        schemas.insert(
            qualified(e.name),
            json!({
                "title": e.name,
                "type": "string",
                "enum": e.members,
                "description": "Accepted in any case on input; returned as spelled here.",
            }),
        );
    }
    for c in COMPLEX_TYPES {
        schemas.insert(qualified(c.name), complex_schema(c));
    }
    for entity in ENTITY_TYPES {
        let name = qualified(entity.name);
        schemas.insert(name.clone(), entity_schema(entity));
        schemas.insert(
            format!("{name}-collection"),
            json!({
                "title": format!("Collection of {}", entity.name),
                "type": "object",
                "required": ["value"],
                "properties": {
                    "@odata.context": { "type": "string" },
                    "@odata.count": { "type": "integer", "format": "int64", "description": "With $count=true: the number of entities matching $filter" },
                    "@odata.nextLink": { "type": "string", "description": "The URL of the next page, if there is one" },
                    "value": { "type": "array", "items": schema_ref(&name) },
                },
            }),
        );
        if entity.insertable {
            schemas.insert(format!("{name}-create"), input_schema(entity, Input::Create));
        }
        if csdl::is_updatable(entity) {
            schemas.insert(format!("{name}-update"), input_schema(entity, Input::Update));
        }
    }
    schemas.insert("ServiceDocument".into(), service_document_schema());
    schemas.insert(
        "odata.reference".into(),
        json!({
            "type": "object",
            "required": ["@odata.id"],
            "properties": { "@odata.id": { "type": "string", "description": "The URL of the entity, relative or absolute" } },
        }),
    );
    schemas.insert("odata.error".into(), error_schema());

    json!({
        "schemas": schemas,
        "parameters": {
            "top": { "name": "$top", "in": "query", "description": "Return at most this many entities", "schema": { "type": "integer", "minimum": 0 } },
            "skip": { "name": "$skip", "in": "query", "description": "Skip this many entities", "schema": { "type": "integer", "minimum": 0 } },
            "count": { "name": "$count", "in": "query", "description": "Include the number of matching entities as @odata.count", "schema": { "type": "boolean" } },
        },
        "responses": error_responses(),
        "securitySchemes": {
            csdl::SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A JWT from POST {base}/{tenant}/oauth2/token (OAuth 2.0 client credentials: \
                    grant_type=client_credentials, client_id, client_secret, resource), valid for 60 minutes.",
            },
        },
    })
}

/// The schema of a property's value, without nullability.
fn value_schema(ty: &EdmType) -> Value {
    match ty {
        EdmType::Int64 => json!({ "type": "integer", "format": "int64" }),
        EdmType::Int32 => json!({ "type": "integer", "format": "int32" }),
        EdmType::String => json!({ "type": "string" }),
        EdmType::Boolean => json!({ "type": "boolean" }),
        EdmType::DateTimeOffset => json!({ "type": "string", "format": "date-time" }),
        EdmType::Guid => json!({ "type": "string", "format": "uuid" }),
        EdmType::Enum(e) => schema_ref(&qualified(e.name)),
        EdmType::Int64Collection => json!({ "type": "array", "items": { "type": "integer", "format": "int64" } }),
        EdmType::Json(name) => {
            let item = schema_ref(&qualified(name));
            if csdl::complex_type(name).is_some_and(|c| c.collection) {
                json!({ "type": "array", "items": item })
            } else {
                item
            }
        }
    }
}

/// Adds keywords to a schema; a `$ref` cannot carry siblings in OpenAPI 3.0, so it is
/// wrapped in `allOf` first.
fn with_keywords(mut schema: Value, keywords: Map<String, Value>) -> Value {
    if keywords.is_empty() {
        return schema;
    }
    if schema.get("$ref").is_some() {
        schema = json!({ "allOf": [schema] });
    }
    if let Value::Object(map) = &mut schema {
        map.extend(keywords);
    }
    schema
}

#[derive(Clone, Copy, PartialEq)]
enum Input {
    Create,
    Update,
}

fn property_schema(entity: &EntityType, p: &Property, input: Option<Input>) -> Value {
    let mut keywords = Map::new();
    if let Some(len) = p.max_length {
        keywords.insert("maxLength".into(), json!(len));
    }
    if p.nullable {
        keywords.insert("nullable".into(), json!(true));
    }
    match input {
        None => {
            if p.read_only {
                keywords.insert("readOnly".into(), json!(true));
            }
        }
        Some(kind) => {
            if kind == Input::Create {
                if let Some(default) = csdl::default_value(entity, p) {
                    let value = match p.ty {
                        EdmType::Boolean => json!(default == "true"),
                        _ => json!(default),
                    };
                    keywords.insert("default".into(), value);
                }
            }
            if p.ty == EdmType::Boolean {
                // SPEC A.3: PowerShell's ConvertTo-Json sends booleans as strings.
                keywords.insert("description".into(), json!("Also accepted as the string \"true\" or \"false\", in any case"));
            }
        }
    }
    with_keywords(value_schema(&p.ty), keywords)
}

fn entity_schema(entity: &EntityType) -> Value {
    let mut properties = Map::new();
    for p in entity.properties {
        properties.insert(p.name.into(), property_schema(entity, p, None));
    }
    for n in entity.navigations {
        let target = schema_ref(&qualified(n.target));
        let schema = if n.collection { json!({ "type": "array", "items": target }) } else { target };
        let mut keywords = Map::new();
        keywords.insert("description".into(), json!(format!("Only with $expand={}", n.name)));
        properties.insert(n.name.into(), with_keywords(schema, keywords));
    }
    json!({ "title": entity.name, "type": "object", "properties": properties })
}

fn input_schema(entity: &EntityType, input: Input) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<String> = Vec::new();
    for p in csdl::writable_properties(entity) {
        properties.insert(p.name.into(), property_schema(entity, p, Some(input)));
        if input == Input::Create && !p.nullable && csdl::default_value(entity, p).is_none() {
            required.push(p.name.to_string());
        }
    }
    if input == Input::Create {
        // A required navigation is bound on create, by URL (SPEC A.5).
        for n in entity.navigations.iter().filter(|n| csdl::navigation_required(entity, n)) {
            let Some(target) = openti_model::schema::entity_type(n.target) else { continue };
            let member = format!("{}@odata.bind", n.name);
            properties.insert(
                member.clone(),
                json!({
                    "type": "string",
                    "description": format!("The {} to bind to, by URL: relative (`{}(1)`) or absolute", csdl::words(n.name), target.set),
                    "example": format!("{}(1)", target.set),
                }),
            );
            required.push(member);
        }
    }
    let title = match input {
        Input::Create => format!("{} (for create)", entity.name),
        Input::Update => format!("{} (for update)", entity.name),
    };
    let mut schema = json!({ "title": title, "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn complex_schema(c: &ComplexType) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in c.properties {
        let item = match p.ty {
            "Edm.Int64" => json!({ "type": "integer", "format": "int64" }),
            "Edm.Int32" => json!({ "type": "integer", "format": "int32" }),
            "Edm.Boolean" => json!({ "type": "boolean" }),
            "Edm.DateTimeOffset" => json!({ "type": "string", "format": "date-time" }),
            _ => json!({ "type": "string" }),
        };
        let mut schema = if p.collection { json!({ "type": "array", "items": item }) } else { item };
        schema["description"] = json!(p.description);
        if p.nullable {
            schema["nullable"] = json!(true);
        } else {
            required.push(p.name);
        }
        properties.insert(p.name.into(), schema);
    }
    json!({ "title": c.name, "description": c.description, "type": "object", "required": required, "properties": properties })
}

fn service_document_schema() -> Value {
    json!({
        "type": "object",
        "required": ["value"],
        "properties": {
            "@odata.context": { "type": "string" },
            "value": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "kind", "url"],
                    "properties": {
                        "name": { "type": "string" },
                        "kind": { "type": "string", "enum": ["EntitySet"] },
                        "url": { "type": "string" },
                    },
                },
            },
        },
    })
}

/// The OData error object (SPEC A.9).
fn error_schema() -> Value {
    let detail = json!({
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": { "type": "string" },
            "message": { "type": "string" },
            "target": { "type": "string", "nullable": true },
        },
    });
    json!({
        "title": "OData error",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "A stable, machine-readable code, e.g. BadRequest, InvalidRequestBody, InvalidHashValue, \
                            MissingRequiredParameter, MaximumBatchSizeExceeded, Unauthorized, Forbidden, NotFound, \
                            TooManyRequests, QuotaExceeded",
                    },
                    "message": { "type": "string", "description": "A human-readable description; for a query, with the position of the problem" },
                    "target": { "type": "string", "nullable": true, "description": "The property, parameter or entity index the error is about" },
                    "details": { "type": "array", "items": detail },
                    "innererror": { "type": "object", "description": "Implementation-specific diagnostics" },
                },
            },
        },
        "example": { "error": { "code": "InvalidHashValue", "message": "'abc' is not a valid SHA1 hash", "target": "Value", "details": [] } },
    })
}

fn error_responses() -> Value {
    let error = |description: &str| {
        json!({ "description": description, "content": { "application/json": { "schema": schema_ref("odata.error") } } })
    };
    let mut responses = Map::new();
    responses.insert("BadRequest".into(), error("Invalid input: a malformed body, an invalid value or query option"));
    let mut unauthorized = error("Missing, malformed, expired or foreign token");
    unauthorized["headers"] = json!({
        "WWW-Authenticate": { "description": "Bearer error=\"invalid_token\"", "schema": { "type": "string" } },
    });
    responses.insert("Unauthorized".into(), unauthorized);
    responses.insert("Forbidden".into(), error("The application lacks the role the request needs"));
    responses.insert("NotFound".into(), error("No such entity in the tenant"));
    responses.insert("PayloadTooLarge".into(), error("The body is too large"));
    responses.insert("UnsupportedMediaType".into(), error("The body is not JSON"));
    let mut too_many = error("Rate limited");
    too_many["headers"] = json!({
        "Retry-After": { "description": "Seconds to wait before retrying", "schema": { "type": "integer" } },
    });
    responses.insert("TooManyRequests".into(), too_many);
    responses.insert("QuotaExceeded".into(), error("The write would exceed a quota of the tenant; nothing was changed"));
    responses.insert("Error".into(), error("Any other error"));
    Value::Object(responses)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const ROOT: &str = "https://openti.example/V1.0/";

    #[test]
    fn openapi_snapshot() {
        let doc = serde_json::to_string_pretty(&openapi_json(ROOT)).expect("serialises");
        insta::assert_snapshot!("openapi_json", doc);
    }

    /// SPEC A.4, as (method, path) for both client-writable sets, plus SPEC B.4's alert
    /// routes and the device reads.
    fn spec_routes() -> Vec<(&'static str, String)> {
        let mut routes = vec![("get", "/".to_string()), ("get", "/$metadata".to_string())];
        for set in ["AlertDefinitions", "IndicatorsOfCompromise"] {
            routes.push(("get", format!("/{set}")));
            routes.push(("get", format!("/{set}({{Id}})")));
            routes.push(("post", format!("/{set}")));
            routes.push(("patch", format!("/{set}({{Id}})")));
            routes.push(("delete", format!("/{set}({{Id}})")));
            routes.push(("delete", format!("/{set}")));
            routes.push(("post", format!("/{set}/Actions.BulkUpload")));
        }
        routes.push(("post", "/AlertDefinitions({Id})/Actions.DeleteIOCs".to_string()));
        routes.push(("put", "/IndicatorsOfCompromise({Id})/AlertDefinition/$ref".to_string()));
        routes.push(("get", "/IndicatorsOfCompromise({Id})/AlertDefinition".to_string()));
        routes.push(("get", "/AlertDefinitions({Id})/IndicatorsOfCompromise".to_string()));
        routes.push(("get", "/Alerts".to_string()));
        routes.push(("get", "/Alerts({Id})".to_string()));
        routes.push(("patch", "/Alerts({Id})".to_string()));
        routes.push(("get", "/Devices".to_string()));
        routes.push(("get", "/Devices({Id})".to_string()));
        routes
    }

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let methods = ["get", "put", "post", "delete", "patch"];
        doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                methods.iter().filter(|m| item.get(**m).is_some()).map(move |m| (m.to_string(), path.clone()))
            })
            .collect()
    }

    #[test]
    fn every_spec_route_and_nothing_else() {
        let doc = openapi_json(ROOT);
        let expected: BTreeSet<(String, String)> = spec_routes().into_iter().map(|(m, p)| (m.to_string(), p)).collect();
        assert_eq!(operations(&doc), expected);
    }

    #[test]
    fn server_operation_ids_and_security() {
        let doc = openapi_json(ROOT);
        assert_eq!(doc["openapi"], OPENAPI_VERSION);
        assert_eq!(doc["servers"][0]["url"], "https://openti.example/V1.0");
        assert_eq!(openapi_json("https://openti.example/V1.0")["servers"], doc["servers"]);
        assert_eq!(doc["components"]["securitySchemes"]["Bearer"]["scheme"], "bearer");
        assert_eq!(doc["security"], json!([{ "Bearer": [] }]));
        let mut ids = BTreeSet::new();
        for (method, path) in operations(&doc) {
            let op = &doc["paths"][&path][&method];
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            assert!(op["responses"]["401"].is_object() && op["responses"]["default"].is_object());
        }
    }

    /// Every `$ref` points at a component that exists, and every path template's
    /// parameters are declared.
    #[test]
    fn references_resolve_and_path_parameters_are_declared() {
        let doc = openapi_json(ROOT);
        fn walk(v: &Value, refs: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        refs.push(r.clone());
                    }
                    map.values().for_each(|v| walk(v, refs));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
                _ => {}
            }
        }
        let mut refs = Vec::new();
        walk(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("local reference");
            // JSON pointer escaping: the component names contain no '/' or '~'.
            assert!(doc.pointer(pointer).is_some(), "unresolved {r}");
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                let declared = item["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{path}: path parameter {name} not declared");
            }
        }
    }

    #[test]
    fn schemas_come_from_the_model() {
        let doc = openapi_json(ROOT);
        let schemas = &doc["components"]["schemas"];
        for entity in ENTITY_TYPES {
            let read = &schemas[qualified(entity.name)]["properties"];
            for p in entity.properties {
                assert!(read[p.name].is_object(), "{}.{} missing", entity.name, p.name);
            }
            assert_eq!(schemas[format!("{}-create", qualified(entity.name))].is_object(), entity.insertable);
        }
        let ioc = &schemas["OpenTI.IndicatorOfCompromise-create"];
        assert_eq!(ioc["required"], json!(["Type", "Value", "AlertDefinition@odata.bind"]));
        assert!(ioc["properties"]["Id"].is_null(), "server-set properties are not input");
        assert_eq!(ioc["properties"]["DetectionFunction"]["default"], "Equals");
        let definition = &schemas["OpenTI.AlertDefinition-create"];
        assert_eq!(definition["required"], json!(["Name", "Severity", "Title", "UxDescription", "Category"]));
        assert_eq!(definition["properties"]["Name"]["maxLength"], 100);
        let alert_update = schemas["OpenTI.Alert-update"]["properties"].as_object().expect("properties");
        let mut updatable: Vec<&String> = alert_update.keys().collect();
        updatable.sort();
        assert_eq!(updatable, ["AssignedTo", "Classification", "Status"]);
        assert_eq!(schemas["OpenTI.AlertCategory"]["enum"].as_array().map(Vec::len), Some(39));
        assert_eq!(schemas["odata.error"]["properties"]["error"]["required"], json!(["code", "message"]));
        let bulk = &doc["paths"]["/IndicatorsOfCompromise/Actions.BulkUpload"]["post"];
        let body = &bulk["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["required"], json!(["iocs"]));
        assert_eq!(body["properties"]["iocs"]["maxItems"], 5000);
    }

    #[test]
    fn query_options_follow_the_capabilities() {
        let doc = openapi_json(ROOT);
        let names = |path: &str| -> Vec<String> {
            doc["paths"][path]["get"]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => doc.pointer(r.trim_start_matches('#')).expect("parameter")["name"].as_str().expect("name").to_string(),
                    None => p["name"].as_str().expect("name").to_string(),
                })
                .collect()
        };
        assert_eq!(names("/AlertDefinitions"), ["$filter", "$orderby", "$top", "$skip", "$count", "$select", "$expand"]);
        assert_eq!(names("/Alerts"), ["$filter", "$orderby", "$top", "$skip", "$count", "$select"]);
        assert_eq!(names("/IndicatorsOfCompromise({Id})"), ["$select", "$expand"]);
        // JSON-valued properties cannot be sorted on.
        let orderby = &doc["paths"]["/Alerts"]["get"]["parameters"][1]["schema"]["items"]["enum"];
        assert!(!orderby.as_array().expect("enum").iter().any(|v| v.as_str().is_some_and(|s| s.starts_with("Evidence") || s.starts_with("IocIds"))));
    }
}
