//! `$metadata`: the OData service description (CSDL), generated from the entity model in
//! [`openti_model::schema`].
//!
//! Nothing here lists an entity, a property or an enum member by hand: types, keys,
//! properties, navigation properties, entity sets and their capabilities all come from
//! [`ENTITY_TYPES`] and [`ENUM_TYPES`]. What the model does not (yet) carry — the shape of
//! the JSON-valued properties, the bound actions and the defaults a create fills in — is
//! declared once below ([`COMPLEX_TYPES`], [`ACTIONS`], [`DEFAULTS`]) and shared with
//! [`crate::openapi`].
//!
//! The document is built once as a small in-memory description (`Document`) and then
//! rendered twice, as CSDL XML (OData 4.0, what `GET /V1.0/$metadata` returns and what
//! the original clients and tools such as `odata-openapi` read) and as CSDL JSON. Because
//! both renderings walk the same description they cannot drift apart;
//! `tests/compat/check_metadata.sh` additionally converts the XML with the OASIS reference
//! converter and compares the result with the JSON rendering.
//!
//! Choices worth knowing:
//! - The actions live in a second schema whose namespace is `Actions`, so that their
//!   qualified name is the URL segment the original's clients use
//!   (`AlertDefinitions/Actions.BulkUpload`); OData action URLs are `{set}/{namespace}.{name}`.
//! - Only OData 4.0 constructs are used (no `Edm.Untyped`, no 4.01-only attributes), so the
//!   XML is valid for 4.0 clients. Evidence events are therefore strings holding each
//!   original record's text.
//! - Capabilities are stated explicitly even where they equal the vocabulary's defaults:
//!   generated clients and documentation read them, and the defaults (e.g. `$batch`
//!   supported) do not describe this service.
//! - DateTimeOffset properties declare `Precision="3"`: the store keeps milliseconds, and
//!   CSDL's default precision (0) would promise whole seconds.
//! - Neither document depends on the service root (CSDL holds no absolute URL of the
//!   service), so the server may compute them once and serve them with a strong ETag.

use std::sync::OnceLock;

use openti_model::schema::{EdmType, EntityType, Property, ENTITY_TYPES, ENUM_TYPES, NAMESPACE};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use serde_json::{json, Map, Value};

/// The namespace of the bound actions; see the module docs for why it is not `OpenTI`.
pub const ACTIONS_NAMESPACE: &str = "Actions";

/// The name of the entity container (`OpenTI.Container`).
pub const CONTAINER: &str = "Container";

/// The name of the binding parameter of every bound action. It never appears on the wire
/// (the binding parameter is the URL), but `EntitySetPath` refers to it.
pub const BINDING_PARAMETER: &str = "bindingParameter";

/// The name of the HTTP bearer security scheme, in CSDL and in OpenAPI.
pub const SECURITY_SCHEME: &str = "Bearer";

// ---------------------------------------------------------------------------------------
// Facts about the API that the entity model does not carry (yet). Each is declared once
// here and read by both the CSDL and the OpenAPI generators.
// ---------------------------------------------------------------------------------------

/// A structural property of a complex type.
#[derive(Debug)]
pub struct ComplexProperty {
    pub name: &'static str,
    /// Qualified EDM type of the property or, if `collection`, of its items.
    pub ty: &'static str,
    pub collection: bool,
    pub nullable: bool,
    pub description: &'static str,
}

/// The declared shape of the JSON kept in an [`EdmType::Json`] property.
#[derive(Debug)]
pub struct ComplexType {
    /// The name used in `EdmType::Json(name)`; declared as `OpenTI.{name}`.
    pub name: &'static str,
    /// Whether the property holds an array of such values rather than one.
    pub collection: bool,
    pub properties: &'static [ComplexProperty],
    pub description: &'static str,
}

/// Alert evidence (SPEC B.4): per matched indicator, the matched field and value and the
/// first events, bounded. Events are kept as the original record's text (a JSON line, a
/// Zeek TSV line, an EVTX record rendered as JSON): text is the one representation every
/// input format has, and `Edm.Untyped` (an arbitrary JSON value) only exists from 4.01 on.
pub static ALERT_EVIDENCE: ComplexType = ComplexType {
    name: "AlertEvidence",
    collection: true,
    description: "Why the alert was raised: the matched event field and value, the indicator that matched, and the first events",
    properties: &[
        ComplexProperty {
            name: "Field",
            ty: "Edm.String",
            collection: false,
            nullable: false,
            description: "The native event field that matched, e.g. RemoteIP or DnsQuery",
        },
        ComplexProperty {
            name: "Value",
            ty: "Edm.String",
            collection: false,
            nullable: false,
            description: "The value observed in that field",
        },
        ComplexProperty {
            name: "IocId",
            ty: "Edm.Int64",
            collection: false,
            nullable: false,
            description: "The Id of the indicator of compromise that matched",
        },
        ComplexProperty {
            name: "Events",
            ty: "Edm.String",
            collection: true,
            nullable: false,
            description: "The first matching events (bounded), each the original record as text",
        },
    ],
};

/// Every complex type, in `$metadata` order.
pub static COMPLEX_TYPES: &[&ComplexType] = &[&ALERT_EVIDENCE];

/// Finds the complex type declared for an [`EdmType::Json`] property.
pub fn complex_type(name: &str) -> Option<&'static ComplexType> {
    COMPLEX_TYPES.iter().copied().find(|c| c.name == name)
}

/// A value the server fills in when a create omits the property (SPEC A.5), in its CSDL
/// literal form. Until the model's `Property` carries defaults, they are listed here.
#[derive(Debug)]
pub struct DefaultValue {
    pub entity: &'static str,
    pub property: &'static str,
    pub value: &'static str,
}

/// The defaults of SPEC A.5.
pub static DEFAULTS: &[DefaultValue] = &[
    DefaultValue { entity: "AlertDefinition", property: "Enabled", value: "true" },
    DefaultValue { entity: "IndicatorOfCompromise", property: "DetectionFunction", value: "Equals" },
    DefaultValue { entity: "IndicatorOfCompromise", property: "Enabled", value: "true" },
];

/// The default of `entity`'s `property`, if a create may omit it.
pub fn default_value(entity: &EntityType, property: &Property) -> Option<&'static str> {
    DEFAULTS.iter().find(|d| d.entity == entity.name && d.property == property.name).map(|d| d.value)
}

/// A bound action of SPEC A.4 / A.6.
#[derive(Debug)]
pub struct Action {
    pub name: &'static str,
    /// The entity type the action is bound to.
    pub binding: &'static EntityType,
    /// Bound to the entity set (`{set}/Actions.X`) rather than to one entity (`{set}({id})/Actions.X`).
    pub on_collection: bool,
    /// The body member holding the entities to create, for actions that take entities.
    pub entities_parameter: Option<&'static str>,
    /// Most entities one request may carry (SPEC A.6).
    pub max_items: Option<usize>,
    /// Returns the created entities (`{"value":[…]}`), else nothing (204).
    pub returns_entities: bool,
    pub description: &'static str,
}

impl Action {
    /// The qualified name, which is also the last URL segment (`Actions.BulkUpload`).
    pub fn qualified_name(&self) -> String {
        format!("{ACTIONS_NAMESPACE}.{}", self.name)
    }
}

/// Every bound action, in `$metadata` order. Overloads share a name and differ by binding type.
pub static ACTIONS: &[Action] = &[
    Action {
        name: "BulkUpload",
        binding: &openti_model::schema::ALERT_DEFINITION,
        on_collection: true,
        entities_parameter: Some("alertDefinitions"),
        max_items: Some(5000),
        returns_entities: true,
        description: "Creates up to 5000 alert definitions atomically: one invalid entity or an exceeded quota stores nothing, and the error names the index of the first bad entity",
    },
    Action {
        name: "BulkUpload",
        binding: &openti_model::schema::INDICATOR_OF_COMPROMISE,
        on_collection: true,
        entities_parameter: Some("iocs"),
        max_items: Some(5000),
        returns_entities: true,
        description: "Creates up to 5000 indicators of compromise atomically: one invalid entity or an exceeded quota stores nothing, and the error names the index of the first bad entity",
    },
    Action {
        name: "DeleteIOCs",
        binding: &openti_model::schema::ALERT_DEFINITION,
        on_collection: false,
        entities_parameter: None,
        max_items: None,
        returns_entities: false,
        description: "Deletes the indicators of compromise of the alert definition and keeps the definition",
    },
];

// ---------------------------------------------------------------------------------------
// Derived facts, shared with the OpenAPI generator.
// ---------------------------------------------------------------------------------------

/// Whether `$filter` and `$orderby` may use the property. JSON-valued properties are
/// stored as JSON text (see the model), which the store cannot compare meaningfully.
pub fn is_filterable(property: &Property) -> bool {
    !matches!(property.ty, EdmType::Int64Collection | EdmType::Json(_))
}

/// Properties a client may change with PATCH.
pub fn writable_properties(entity: &EntityType) -> impl Iterator<Item = &'static Property> {
    entity.properties.iter().filter(|p| !p.read_only)
}

/// Whether entities of the set can be updated at all.
pub fn is_updatable(entity: &EntityType) -> bool {
    writable_properties(entity).next().is_some()
}

/// Whether a single-valued navigation property must always be set: its foreign-key
/// property (the one stored in `local_column`) is not nullable.
pub fn navigation_required(entity: &EntityType, nav: &openti_model::schema::Navigation) -> bool {
    !nav.collection && entity.properties.iter().any(|p| p.column == nav.local_column && !p.nullable)
}

/// "IndicatorsOfCompromise" → "indicators of compromise": for generated descriptions.
pub fn words(pascal: &str) -> String {
    let mut out = String::with_capacity(pascal.len() + 4);
    for (i, c) in pascal.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// "alert definition" → "an alert definition".
pub fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {noun}")
}

/// The service root with exactly one trailing slash, so that `{root}$metadata` and
/// `{root}{set}` are well-formed whichever way the caller spelled it.
pub fn normalize_root(service_root: &str) -> String {
    format!("{}/", service_root.trim_end_matches('/'))
}

// ---------------------------------------------------------------------------------------
// The description, independent of its rendering.
// ---------------------------------------------------------------------------------------

/// A vocabulary the document's annotations use.
struct Reference {
    uri: &'static str,
    namespace: &'static str,
    alias: &'static str,
}

const CORE: Reference = Reference {
    uri: "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml",
    namespace: "Org.OData.Core.V1",
    alias: "Core",
};
const CAPABILITIES: Reference = Reference {
    uri: "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml",
    namespace: "Org.OData.Capabilities.V1",
    alias: "Capabilities",
};
const AUTHORIZATION: Reference = Reference {
    uri: "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Authorization.V1.xml",
    namespace: "Org.OData.Authorization.V1",
    alias: "Auth",
};
const REFERENCES: [Reference; 3] = [CORE, CAPABILITIES, AUTHORIZATION];

/// Decimal places of the seconds of every DateTimeOffset the service returns.
pub const DATETIME_PRECISION: u8 = 3;

/// The version of the API the document describes (the `V1.0` of the URL).
pub const API_VERSION: &str = "1.0";

/// The whole CSDL document.
pub(crate) struct Document {
    schemas: Vec<Schema>,
}

struct Schema {
    namespace: &'static str,
    annotations: Vec<Annotation>,
    enums: Vec<EnumDef>,
    complex_types: Vec<StructuredDef>,
    entity_types: Vec<StructuredDef>,
    actions: Vec<ActionDef>,
    container: Option<ContainerDef>,
}

struct EnumDef {
    name: &'static str,
    members: Vec<(&'static str, i64)>,
}

struct StructuredDef {
    name: &'static str,
    key: Option<&'static str>,
    properties: Vec<PropertyDef>,
    navigations: Vec<NavigationDef>,
    annotations: Vec<Annotation>,
}

/// A type reference: a qualified type name, possibly as a collection.
#[derive(Clone)]
struct TypeRef {
    name: String,
    collection: bool,
}

impl TypeRef {
    fn single(name: impl Into<String>) -> Self {
        TypeRef { name: name.into(), collection: false }
    }
    fn collection(name: impl Into<String>) -> Self {
        TypeRef { name: name.into(), collection: true }
    }
    /// The XML spelling: `OpenTI.X` or `Collection(OpenTI.X)`.
    fn xml(&self) -> String {
        if self.collection {
            format!("Collection({})", self.name)
        } else {
            self.name.clone()
        }
    }
}

struct PropertyDef {
    name: &'static str,
    ty: TypeRef,
    /// For collections: whether the items may be null.
    nullable: bool,
    max_length: Option<usize>,
    /// Decimal places of the seconds, for DateTimeOffset.
    precision: Option<u8>,
    default: Option<DefaultLiteral>,
    annotations: Vec<Annotation>,
}

/// A default value, typed so that the JSON rendering can use the JSON type.
enum DefaultLiteral {
    Bool(bool),
    Text(&'static str),
}

impl DefaultLiteral {
    fn parse(literal: &'static str, ty: &EdmType) -> Self {
        match (ty, literal) {
            (EdmType::Boolean, "true") => DefaultLiteral::Bool(true),
            (EdmType::Boolean, "false") => DefaultLiteral::Bool(false),
            _ => DefaultLiteral::Text(literal),
        }
    }
    fn xml(&self) -> String {
        match self {
            DefaultLiteral::Bool(b) => b.to_string(),
            DefaultLiteral::Text(t) => t.to_string(),
        }
    }
    fn json(&self) -> Value {
        match self {
            DefaultLiteral::Bool(b) => Value::Bool(*b),
            DefaultLiteral::Text(t) => Value::String(t.to_string()),
        }
    }
}

struct NavigationDef {
    name: &'static str,
    ty: TypeRef,
    /// `Some(false)` for a required single-valued navigation; collections have no nullability.
    nullable: Option<bool>,
    partner: Option<&'static str>,
    /// (dependent property, principal property)
    referential_constraint: Option<(&'static str, &'static str)>,
}

struct ActionDef {
    name: &'static str,
    entity_set_path: Option<&'static str>,
    parameters: Vec<(&'static str, TypeRef)>,
    return_type: Option<TypeRef>,
    annotations: Vec<Annotation>,
}

struct ContainerDef {
    name: &'static str,
    sets: Vec<EntitySetDef>,
    annotations: Vec<Annotation>,
}

struct EntitySetDef {
    name: &'static str,
    entity_type: String,
    /// (navigation property, target entity set)
    bindings: Vec<(&'static str, &'static str)>,
    annotations: Vec<Annotation>,
}

/// A vocabulary annotation: an alias-qualified term and its value.
struct Annotation {
    term: String,
    value: Expr,
}

/// The constant expressions the annotations use.
enum Expr {
    Bool(bool),
    Int(i64),
    String(String),
    PropertyPath(&'static str),
    /// A member of a vocabulary enum: (alias-qualified enum type, member).
    EnumMember(String, &'static str),
    Collection(Vec<Expr>),
    /// An optional (alias-qualified) record type and the property values.
    Record(Option<(&'static Reference, &'static str)>, Vec<(&'static str, Expr)>),
}

fn annotation(vocabulary: &Reference, term: &str, value: Expr) -> Annotation {
    Annotation { term: format!("{}.{}", vocabulary.alias, term), value }
}

fn record(values: Vec<(&'static str, Expr)>) -> Expr {
    Expr::Record(None, values)
}

fn text(s: impl Into<String>) -> Expr {
    Expr::String(s.into())
}

fn qualified(name: &str) -> String {
    format!("{NAMESPACE}.{name}")
}

/// The document, built once: the model is static, so is its description.
pub(crate) fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(build_document)
}

fn build_document() -> Document {
    let enums = ENUM_TYPES
        .iter()
        .map(|e| EnumDef {
            name: e.name,
            // The model's order is the `$metadata` order, and a member's value is its
            // ordinal (the enums' `ordinal()`), so values never change for existing members
            // as long as new members are appended.
            members: e.members.iter().enumerate().map(|(i, m)| (*m, i as i64)).collect(),
        })
        .collect();

    let complex_types = COMPLEX_TYPES
        .iter()
        .map(|c| StructuredDef {
            name: c.name,
            key: None,
            properties: c
                .properties
                .iter()
                .map(|p| PropertyDef {
                    name: p.name,
                    ty: TypeRef { name: p.ty.to_string(), collection: p.collection },
                    nullable: p.nullable,
                    max_length: None,
                    precision: None,
                    default: None,
                    annotations: vec![annotation(&CORE, "Description", text(p.description))],
                })
                .collect(),
            navigations: Vec::new(),
            annotations: vec![annotation(&CORE, "Description", text(c.description))],
        })
        .collect();

    let entity_types = ENTITY_TYPES.iter().map(|e| entity_type_def(e)).collect();

    let actions = ACTIONS.iter().map(action_def).collect();

    let container = ContainerDef {
        name: CONTAINER,
        sets: ENTITY_TYPES.iter().map(|e| entity_set_def(e)).collect(),
        annotations: container_annotations(),
    };

    Document {
        schemas: vec![
            Schema {
                namespace: NAMESPACE,
                // Tools (e.g. OpenAPI converters) take the API version from here.
                annotations: vec![annotation(&CORE, "SchemaVersion", text(API_VERSION))],
                enums,
                complex_types,
                entity_types,
                actions: Vec::new(),
                container: Some(container),
            },
            Schema {
                namespace: ACTIONS_NAMESPACE,
                annotations: Vec::new(),
                enums: Vec::new(),
                complex_types: Vec::new(),
                entity_types: Vec::new(),
                actions,
                container: None,
            },
        ],
    }
}

/// The CSDL type of a model property.
fn property_type(property: &Property) -> TypeRef {
    match property.ty {
        EdmType::Int64 => TypeRef::single("Edm.Int64"),
        EdmType::Int32 => TypeRef::single("Edm.Int32"),
        EdmType::String => TypeRef::single("Edm.String"),
        EdmType::Boolean => TypeRef::single("Edm.Boolean"),
        EdmType::DateTimeOffset => TypeRef::single("Edm.DateTimeOffset"),
        EdmType::Guid => TypeRef::single("Edm.Guid"),
        EdmType::Enum(e) => TypeRef::single(qualified(e.name)),
        EdmType::Int64Collection => TypeRef::collection("Edm.Int64"),
        EdmType::Json(name) => {
            // A Json property without a declared complex type would be an unresolvable
            // type in `$metadata`; the structural tests catch that, and this keeps the
            // document well-formed meanwhile.
            let collection = complex_type(name).is_some_and(|c| c.collection);
            TypeRef { name: qualified(name), collection }
        }
    }
}

fn entity_type_def(entity: &'static EntityType) -> StructuredDef {
    let properties = entity
        .properties
        .iter()
        .map(|p| PropertyDef {
            name: p.name,
            ty: property_type(p),
            nullable: p.nullable,
            max_length: p.max_length,
            // Timestamps are kept as Unix milliseconds (see the model), so they carry three
            // decimal places; CSDL's default precision for DateTimeOffset is 0 (whole seconds).
            precision: matches!(p.ty, EdmType::DateTimeOffset).then_some(DATETIME_PRECISION),
            default: default_value(entity, p).map(|d| DefaultLiteral::parse(d, &p.ty)),
            // Computed: the server sets the value and ignores it on input (SPEC A.5).
            annotations: if p.read_only { vec![annotation(&CORE, "Computed", Expr::Bool(true))] } else { Vec::new() },
        })
        .collect();

    let navigations = entity
        .navigations
        .iter()
        .map(|n| {
            let target = openti_model::schema::entity_type(n.target);
            let ty = if n.collection { TypeRef::collection(qualified(n.target)) } else { TypeRef::single(qualified(n.target)) };
            // A single-valued navigation whose foreign key lives on this entity gets a
            // referential constraint naming the key property on both sides.
            let referential_constraint = if n.collection {
                None
            } else {
                let dependent = entity.properties.iter().find(|p| p.column == n.local_column);
                let principal = target.and_then(|t| t.properties.iter().find(|p| p.column == n.remote_column));
                dependent.zip(principal).map(|(d, p)| (d.name, p.name))
            };
            NavigationDef {
                name: n.name,
                ty,
                nullable: if n.collection { None } else { Some(!navigation_required(entity, n)) },
                partner: n.partner,
                referential_constraint,
            }
        })
        .collect();

    StructuredDef { name: entity.name, key: Some(entity.key.name), properties, navigations, annotations: Vec::new() }
}

fn action_def(action: &'static Action) -> ActionDef {
    let entity = qualified(action.binding.name);
    let binding = TypeRef { name: entity.clone(), collection: action.on_collection };
    let mut parameters = vec![(BINDING_PARAMETER, binding)];
    if let Some(name) = action.entities_parameter {
        parameters.push((name, TypeRef::collection(entity.clone())));
    }
    ActionDef {
        name: action.name,
        // The created entities belong to the set the action is bound to.
        entity_set_path: action.returns_entities.then_some(BINDING_PARAMETER),
        parameters,
        return_type: action.returns_entities.then(|| TypeRef::collection(entity)),
        annotations: vec![annotation(&CORE, "Description", text(action.description))],
    }
}

fn entity_set_def(entity: &'static EntityType) -> EntitySetDef {
    let bindings = entity
        .navigations
        .iter()
        .filter_map(|n| openti_model::schema::entity_type(n.target).map(|t| (n.name, t.set)))
        .collect();
    EntitySetDef {
        name: entity.set,
        entity_type: qualified(entity.name),
        bindings,
        annotations: capabilities(entity),
    }
}

/// What the service supports on one entity set (SPEC A.4, A.8, B.4), derived from the model.
fn capabilities(entity: &'static EntityType) -> Vec<Annotation> {
    let one = with_article(&words(entity.name));
    let many = words(entity.set);
    let not_filterable =
        || -> Vec<Expr> { entity.properties.iter().filter(|p| !is_filterable(p)).map(|p| Expr::PropertyPath(p.name)).collect() };
    let collection_properties: Vec<Expr> = entity
        .properties
        .iter()
        .filter(|p| property_type(p).collection)
        .map(|p| Expr::PropertyPath(p.name))
        .collect();

    let mut filter = vec![("Filterable", Expr::Bool(true)), ("RequiresFilter", Expr::Bool(false))];
    let mut sort = vec![("Sortable", Expr::Bool(true))];
    if !not_filterable().is_empty() {
        filter.push(("NonFilterableProperties", Expr::Collection(not_filterable())));
        sort.push(("NonSortableProperties", Expr::Collection(not_filterable())));
    }
    let mut count = vec![("Countable", Expr::Bool(true))];
    if !collection_properties.is_empty() {
        count.push(("NonCountableProperties", Expr::Collection(collection_properties)));
    }
    let expand = if entity.navigations.is_empty() {
        vec![("Expandable", Expr::Bool(false))]
    } else {
        // The query engine's own limit on nested `$expand`, so the two cannot disagree.
        let depth = i64::try_from(crate::QueryLimits::default().max_expand_depth).unwrap_or(-1);
        vec![("Expandable", Expr::Bool(true)), ("MaxLevels", Expr::Int(depth))]
    };

    let insert = if entity.insertable {
        vec![("Insertable", Expr::Bool(true)), ("Description", text(format!("Create {one}")))]
    } else {
        vec![("Insertable", Expr::Bool(false))]
    };

    let update = if !is_updatable(entity) {
        vec![("Updatable", Expr::Bool(false))]
    } else {
        let description = if entity.insertable {
            format!("Update {one}")
        } else {
            // Server-made entities (alerts) keep their facts; only triage fields change.
            let names: Vec<&str> = writable_properties(entity).map(|p| p.name).collect();
            format!("Update {one}: only {} can be changed", join_names(&names))
        };
        vec![
            ("Updatable", Expr::Bool(true)),
            ("UpdateMethod", Expr::EnumMember(format!("{}.HttpMethod", CAPABILITIES.alias), "PATCH")),
            ("Description", text(description)),
        ]
    };

    let delete = if entity.insertable {
        // Deleting a principal deletes the dependents that cannot exist without it (SPEC A.4).
        let cascaded: Vec<String> = entity
            .navigations
            .iter()
            .filter(|n| n.collection)
            .filter(|n| {
                let target = openti_model::schema::entity_type(n.target);
                let back = target.zip(n.partner).and_then(|(t, partner)| t.navigation(partner).map(|b| (t, b)));
                back.is_some_and(|(t, b)| navigation_required(t, b))
            })
            .map(|n| words(n.name))
            .collect();
        let description = if cascaded.is_empty() {
            format!("Delete {one}")
        } else {
            format!("Delete {one} and its {}", cascaded.join(" and "))
        };
        vec![("Deletable", Expr::Bool(true)), ("Description", text(description))]
    } else {
        vec![("Deletable", Expr::Bool(false))]
    };

    vec![
        annotation(
            &CAPABILITIES,
            "ReadRestrictions",
            record(vec![
                ("Description", text(format!("List {many}"))),
                ("ReadByKeyRestrictions", record(vec![("Description", text(format!("Get {one} by key")))])),
            ]),
        ),
        annotation(&CAPABILITIES, "FilterRestrictions", record(filter)),
        annotation(&CAPABILITIES, "SortRestrictions", record(sort)),
        annotation(&CAPABILITIES, "SelectSupport", record(vec![("Supported", Expr::Bool(true))])),
        annotation(&CAPABILITIES, "ExpandRestrictions", record(expand)),
        annotation(&CAPABILITIES, "TopSupported", Expr::Bool(true)),
        annotation(&CAPABILITIES, "SkipSupported", Expr::Bool(true)),
        annotation(&CAPABILITIES, "CountRestrictions", record(count)),
        annotation(&CAPABILITIES, "SearchRestrictions", record(vec![("Searchable", Expr::Bool(false))])),
        annotation(&CAPABILITIES, "InsertRestrictions", record(insert)),
        annotation(&CAPABILITIES, "UpdateRestrictions", record(update)),
        annotation(&CAPABILITIES, "DeleteRestrictions", record(delete)),
    ]
}

/// "A", "A and B", "A, B and C".
pub fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn container_annotations() -> Vec<Annotation> {
    vec![
        annotation(&CORE, "Description", text("OpenTI custom threat intelligence API")),
        annotation(
            &CORE,
            "LongDescription",
            text(
                "Alert definitions and their indicators of compromise, the alerts they raise and the devices that sent telemetry. \
                 Compatible with the custom TI API v1.0. Every request carries a bearer token from the token endpoint of the tenant \
                 ({base}/{tenant}/oauth2/token, OAuth 2.0 client credentials).",
            ),
        ),
        // The service has no $batch endpoint; the vocabulary's default says it has.
        annotation(&CAPABILITIES, "BatchSupported", Expr::Bool(false)),
        annotation(
            &AUTHORIZATION,
            "Authorizations",
            Expr::Collection(vec![Expr::Record(
                Some((&AUTHORIZATION, "Http")),
                vec![
                    ("Name", text(SECURITY_SCHEME)),
                    (
                        "Description",
                        text("A JWT from POST {base}/{tenant}/oauth2/token (OAuth 2.0 client credentials), sent as Authorization: Bearer <token>"),
                    ),
                    ("Scheme", text("bearer")),
                    ("BearerFormat", text("JWT")),
                ],
            )]),
        ),
        annotation(
            &AUTHORIZATION,
            "SecuritySchemes",
            Expr::Collection(vec![record(vec![("Authorization", text(SECURITY_SCHEME))])]),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// XML rendering.
// ---------------------------------------------------------------------------------------

const EDMX_NS: &str = "http://docs.oasis-open.org/odata/ns/edmx";
const EDM_NS: &str = "http://docs.oasis-open.org/odata/ns/edm";

/// An XML element before serialisation: building a tree first keeps the CSDL layout in
/// one readable function per construct and leaves escaping to one writer.
struct El {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<El>,
    text: Option<String>,
}

impl El {
    fn new(name: &'static str) -> Self {
        El { name, attrs: Vec::new(), children: Vec::new(), text: None }
    }
    fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }
    fn attr_if(self, cond: bool, name: &'static str, value: impl Into<String>) -> Self {
        if cond {
            self.attr(name, value)
        } else {
            self
        }
    }
    fn child(mut self, child: El) -> Self {
        self.children.push(child);
        self
    }
    fn children(mut self, children: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(children);
        self
    }
    fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    fn write(&self, writer: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let element = writer
            .create_element(self.name)
            .with_attributes(self.attrs.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(text) = &self.text {
            element.write_text_content(BytesText::new(text))?;
        } else if self.children.is_empty() {
            element.write_empty()?;
        } else {
            element.write_inner_content(|w| self.children.iter().try_for_each(|c| c.write(w)))?;
        }
        Ok(())
    }
}

/// The CSDL XML document (OData 4.0) that `GET {service_root}$metadata` returns.
///
/// The document has no absolute URL of the service in it, so its content does not depend
/// on `service_root`; the parameter keeps the signature in line with the other documents
/// of the service (and lets a later version add, e.g., links without changing callers).
pub fn metadata_xml(service_root: &str) -> String {
    let _ = service_root;
    let doc = document();
    let root = El::new("edmx:Edmx")
        .attr("xmlns:edmx", EDMX_NS)
        .attr("Version", "4.0")
        .children(REFERENCES.iter().map(|r| {
            El::new("edmx:Reference")
                .attr("Uri", r.uri)
                .child(El::new("edmx:Include").attr("Namespace", r.namespace).attr("Alias", r.alias))
        }))
        .child(El::new("edmx:DataServices").children(doc.schemas.iter().map(schema_xml)));

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing to a Vec cannot fail; the `expect`s document that, they guard no input.
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .expect("writing to a Vec<u8> cannot fail");
    root.write(&mut writer).expect("writing to a Vec<u8> cannot fail");
    let mut xml = String::from_utf8(writer.into_inner()).expect("quick-xml writes UTF-8");
    xml.push('\n');
    xml
}

fn schema_xml(schema: &Schema) -> El {
    El::new("Schema")
        .attr("xmlns", EDM_NS)
        .attr("Namespace", schema.namespace)
        .children(schema.enums.iter().map(|e| {
            El::new("EnumType").attr("Name", e.name).children(
                e.members.iter().map(|(name, value)| El::new("Member").attr("Name", *name).attr("Value", value.to_string())),
            )
        }))
        .children(schema.complex_types.iter().map(|t| structured_xml("ComplexType", t)))
        .children(schema.entity_types.iter().map(|t| structured_xml("EntityType", t)))
        .children(schema.actions.iter().map(action_xml))
        .children(schema.container.iter().map(container_xml))
        .children(schema.annotations.iter().map(annotation_xml))
}

fn structured_xml(kind: &'static str, t: &StructuredDef) -> El {
    El::new(kind)
        .attr("Name", t.name)
        .children(t.key.map(|k| El::new("Key").child(El::new("PropertyRef").attr("Name", k))))
        .children(t.properties.iter().map(|p| {
            El::new("Property")
                .attr("Name", p.name)
                .attr("Type", p.ty.xml())
                // XML's default is Nullable="true"; for a collection it is about the items.
                .attr_if(!p.nullable, "Nullable", "false")
                .attr_if(p.max_length.is_some(), "MaxLength", p.max_length.unwrap_or_default().to_string())
                .attr_if(p.precision.is_some(), "Precision", p.precision.unwrap_or_default().to_string())
                .attr_if(p.default.is_some(), "DefaultValue", p.default.as_ref().map(|d| d.xml()).unwrap_or_default())
                .children(p.annotations.iter().map(annotation_xml))
        }))
        .children(t.navigations.iter().map(|n| {
            El::new("NavigationProperty")
                .attr("Name", n.name)
                .attr("Type", n.ty.xml())
                .attr_if(n.nullable == Some(false), "Nullable", "false")
                .attr_if(n.partner.is_some(), "Partner", n.partner.unwrap_or_default())
                .children(n.referential_constraint.map(|(dependent, principal)| {
                    El::new("ReferentialConstraint").attr("Property", dependent).attr("ReferencedProperty", principal)
                }))
        }))
        .children(t.annotations.iter().map(annotation_xml))
}

fn action_xml(a: &ActionDef) -> El {
    El::new("Action")
        .attr("Name", a.name)
        .attr("IsBound", "true")
        .attr_if(a.entity_set_path.is_some(), "EntitySetPath", a.entity_set_path.unwrap_or_default())
        .children(a.parameters.iter().map(|(name, ty)| {
            El::new("Parameter").attr("Name", *name).attr("Type", ty.xml()).attr("Nullable", "false")
        }))
        .children(a.return_type.iter().map(|ty| El::new("ReturnType").attr("Type", ty.xml()).attr("Nullable", "false")))
        .children(a.annotations.iter().map(annotation_xml))
}

fn container_xml(c: &ContainerDef) -> El {
    El::new("EntityContainer")
        .attr("Name", c.name)
        .children(c.sets.iter().map(|s| {
            El::new("EntitySet")
                .attr("Name", s.name)
                .attr("EntityType", s.entity_type.clone())
                .children(s.bindings.iter().map(|(path, target)| {
                    El::new("NavigationPropertyBinding").attr("Path", *path).attr("Target", *target)
                }))
                .children(s.annotations.iter().map(annotation_xml))
        }))
        .children(c.annotations.iter().map(annotation_xml))
}

fn annotation_xml(a: &Annotation) -> El {
    expr_xml(El::new("Annotation").attr("Term", a.term.clone()), &a.value)
}

/// Puts a constant expression on `host` (an `Annotation` or a `PropertyValue`): primitive
/// values as the attribute notation, structured ones as a child element.
fn expr_xml(host: El, value: &Expr) -> El {
    match value {
        Expr::Bool(b) => host.attr("Bool", b.to_string()),
        Expr::Int(i) => host.attr("Int", i.to_string()),
        Expr::String(s) => host.attr("String", s.clone()),
        Expr::PropertyPath(p) => host.attr("PropertyPath", *p),
        Expr::EnumMember(ty, member) => host.attr("EnumMember", format!("{ty}/{member}")),
        Expr::Collection(_) | Expr::Record(..) => host.child(expr_element(value)),
    }
}

/// A constant expression as an element (inside a `Collection`).
fn expr_element(value: &Expr) -> El {
    match value {
        Expr::Bool(b) => El::new("Bool").text(b.to_string()),
        Expr::Int(i) => El::new("Int").text(i.to_string()),
        Expr::String(s) => El::new("String").text(s.clone()),
        Expr::PropertyPath(p) => El::new("PropertyPath").text(*p),
        Expr::EnumMember(ty, member) => El::new("EnumMember").text(format!("{ty}/{member}")),
        Expr::Collection(items) => El::new("Collection").children(items.iter().map(expr_element)),
        Expr::Record(ty, values) => El::new("Record")
            .attr_if(ty.is_some(), "Type", ty.map(|(v, t)| format!("{}.{t}", v.alias)).unwrap_or_default())
            .children(values.iter().map(|(name, v)| expr_xml(El::new("PropertyValue").attr("Property", *name), v))),
    }
}

// ---------------------------------------------------------------------------------------
// JSON rendering (OData CSDL JSON). JSON's defaults differ from XML's: `$Nullable` is
// false unless stated, `$Type` is Edm.String unless stated, `$Kind` is Property unless
// stated.
// ---------------------------------------------------------------------------------------

/// The CSDL JSON document (the format of "OData CSDL JSON 4.01", describing this 4.0 service:
/// `$Version` is the service's OData version, as in the XML).
pub fn metadata_json(service_root: &str) -> Value {
    let _ = service_root;
    let doc = document();
    let mut root = Map::new();
    root.insert("$Version".into(), json!("4.0"));
    root.insert("$EntityContainer".into(), json!(qualified(CONTAINER)));
    let mut references = Map::new();
    for r in &REFERENCES {
        // A JSON document refers to the vocabularies' JSON form (same content, published
        // beside the XML), as the OASIS XML→JSON converter does.
        let uri = r.uri.strip_suffix(".xml").map_or_else(|| r.uri.to_string(), |base| format!("{base}.json"));
        references.insert(uri, json!({"$Include": [{"$Namespace": r.namespace, "$Alias": r.alias}]}));
    }
    root.insert("$Reference".into(), Value::Object(references));
    for schema in &doc.schemas {
        root.insert(schema.namespace.into(), schema_json(schema));
    }
    Value::Object(root)
}

fn schema_json(schema: &Schema) -> Value {
    let mut out = Map::new();
    for e in &schema.enums {
        let mut members = Map::new();
        members.insert("$Kind".into(), json!("EnumType"));
        for (name, value) in &e.members {
            members.insert((*name).into(), json!(value));
        }
        out.insert(e.name.into(), Value::Object(members));
    }
    for t in &schema.complex_types {
        out.insert(t.name.into(), structured_json("ComplexType", t));
    }
    for t in &schema.entity_types {
        out.insert(t.name.into(), structured_json("EntityType", t));
    }
    for a in &schema.actions {
        // Overloads are an array under the shared name.
        let overloads = out.entry(a.name).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = overloads {
            list.push(action_json(a));
        }
    }
    if let Some(c) = &schema.container {
        out.insert(c.name.into(), container_json(c));
    }
    annotations_json(&mut out, &schema.annotations);
    Value::Object(out)
}

/// `$Type` (omitted for the default Edm.String) and `$Collection`.
fn type_json(out: &mut Map<String, Value>, ty: &TypeRef) {
    if ty.collection {
        out.insert("$Collection".into(), json!(true));
    }
    if ty.name != "Edm.String" {
        out.insert("$Type".into(), json!(ty.name));
    }
}

fn structured_json(kind: &str, t: &StructuredDef) -> Value {
    let mut out = Map::new();
    out.insert("$Kind".into(), json!(kind));
    if let Some(key) = t.key {
        out.insert("$Key".into(), json!([key]));
    }
    for p in &t.properties {
        let mut prop = Map::new();
        type_json(&mut prop, &p.ty);
        if p.nullable {
            prop.insert("$Nullable".into(), json!(true));
        }
        if let Some(len) = p.max_length {
            prop.insert("$MaxLength".into(), json!(len));
        }
        if let Some(precision) = p.precision {
            prop.insert("$Precision".into(), json!(precision));
        }
        if let Some(d) = &p.default {
            prop.insert("$DefaultValue".into(), d.json());
        }
        annotations_json(&mut prop, &p.annotations);
        out.insert(p.name.into(), Value::Object(prop));
    }
    for n in &t.navigations {
        let mut nav = Map::new();
        nav.insert("$Kind".into(), json!("NavigationProperty"));
        type_json(&mut nav, &n.ty);
        if n.nullable == Some(true) {
            nav.insert("$Nullable".into(), json!(true));
        }
        if let Some(partner) = n.partner {
            nav.insert("$Partner".into(), json!(partner));
        }
        if let Some((dependent, principal)) = n.referential_constraint {
            nav.insert("$ReferentialConstraint".into(), json!({ dependent: principal }));
        }
        out.insert(n.name.into(), Value::Object(nav));
    }
    annotations_json(&mut out, &t.annotations);
    Value::Object(out)
}

fn action_json(a: &ActionDef) -> Value {
    let mut out = Map::new();
    out.insert("$Kind".into(), json!("Action"));
    out.insert("$IsBound".into(), json!(true));
    if let Some(path) = a.entity_set_path {
        out.insert("$EntitySetPath".into(), json!(path));
    }
    let parameters = a
        .parameters
        .iter()
        .map(|(name, ty)| {
            let mut p = Map::new();
            p.insert("$Name".into(), json!(name));
            type_json(&mut p, ty);
            Value::Object(p)
        })
        .collect();
    out.insert("$Parameter".into(), Value::Array(parameters));
    if let Some(ty) = &a.return_type {
        let mut r = Map::new();
        type_json(&mut r, ty);
        out.insert("$ReturnType".into(), Value::Object(r));
    }
    annotations_json(&mut out, &a.annotations);
    Value::Object(out)
}

fn container_json(c: &ContainerDef) -> Value {
    let mut out = Map::new();
    out.insert("$Kind".into(), json!("EntityContainer"));
    for s in &c.sets {
        let mut set = Map::new();
        set.insert("$Collection".into(), json!(true));
        set.insert("$Type".into(), json!(s.entity_type));
        if !s.bindings.is_empty() {
            let bindings: Map<String, Value> = s.bindings.iter().map(|(p, t)| ((*p).to_string(), json!(t))).collect();
            set.insert("$NavigationPropertyBinding".into(), Value::Object(bindings));
        }
        annotations_json(&mut set, &s.annotations);
        out.insert(s.name.into(), Value::Object(set));
    }
    annotations_json(&mut out, &c.annotations);
    Value::Object(out)
}

fn annotations_json(out: &mut Map<String, Value>, annotations: &[Annotation]) {
    for a in annotations {
        out.insert(format!("@{}", a.term), expr_json(&a.value));
    }
}

fn expr_json(value: &Expr) -> Value {
    match value {
        Expr::Bool(b) => json!(b),
        Expr::Int(i) => json!(i),
        Expr::String(s) => json!(s),
        // Typed path expressions are plain strings in CSDL JSON (only `$Path` is an object).
        Expr::PropertyPath(p) => json!(p),
        Expr::EnumMember(_, member) => json!(member),
        Expr::Collection(items) => Value::Array(items.iter().map(expr_json).collect()),
        Expr::Record(ty, values) => {
            let mut out = Map::new();
            if let Some((vocabulary, name)) = ty {
                // A 4.0 document spells the record type as a control annotation with the
                // vocabulary's URI, as the OASIS XML→JSON converter does.
                out.insert("@odata.type".into(), json!(format!("{}#{}.{name}", vocabulary.uri, vocabulary.alias)));
            }
            for (name, v) in values {
                out.insert((*name).into(), expr_json(v));
            }
            Value::Object(out)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The service document.
// ---------------------------------------------------------------------------------------

/// The service document (`GET {service_root}`): every entity set, in model order.
pub fn service_document(service_root: &str) -> Value {
    let root = normalize_root(service_root);
    let sets: Vec<Value> =
        ENTITY_TYPES.iter().map(|e| json!({"name": e.set, "kind": "EntitySet", "url": e.set})).collect();
    json!({"@odata.context": format!("{root}$metadata"), "value": sets})
}


#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use openti_model::schema::{EnumType, INDICATOR_OF_COMPROMISE};
    use openti_model::{AlertCategory, DetectionFunction};
    use roxmltree::{Document as Xml, Node};

    use super::*;

    const ROOT: &str = "https://openti.example/V1.0/";

    fn elements<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
        node.children().filter(move |n| n.has_tag_name(name))
    }

    fn schema<'a, 'i>(doc: &'a Xml<'i>, namespace: &str) -> Node<'a, 'i> {
        doc.descendants()
            .find(|n| n.has_tag_name("Schema") && n.attribute("Namespace") == Some(namespace))
            .unwrap_or_else(|| panic!("schema {namespace}"))
    }

    /// Qualified names of every type the document declares.
    fn declared_types(doc: &Xml) -> BTreeSet<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name("EnumType") || n.has_tag_name("ComplexType") || n.has_tag_name("EntityType"))
            .map(|n| {
                let ns = n.parent().and_then(|s| s.attribute("Namespace")).unwrap_or_default();
                format!("{ns}.{}", n.attribute("Name").unwrap_or_default())
            })
            .collect()
    }

    fn item_type(ty: &str) -> &str {
        ty.strip_prefix("Collection(").and_then(|t| t.strip_suffix(')')).unwrap_or(ty)
    }

    /// The OData 4.0 primitive types a property may have (4.01's Edm.Untyped is not one).
    const PRIMITIVES: &[&str] =
        &["Edm.Int64", "Edm.Int32", "Edm.String", "Edm.Boolean", "Edm.DateTimeOffset", "Edm.Guid"];

    #[test]
    fn metadata_xml_snapshot() {
        insta::assert_snapshot!("metadata_xml", metadata_xml(ROOT));
    }

    #[test]
    fn metadata_json_snapshot() {
        let json = serde_json::to_string_pretty(&metadata_json(ROOT)).expect("serialises");
        insta::assert_snapshot!("metadata_json", json);
    }

    #[test]
    fn service_document_lists_every_entity_set() {
        let doc = service_document(ROOT);
        insta::assert_snapshot!("service_document", serde_json::to_string_pretty(&doc).expect("serialises"));
        // A root spelled without the trailing slash gives the same document.
        assert_eq!(service_document("https://openti.example/V1.0"), doc);
        let names: Vec<&str> = doc["value"].as_array().expect("value").iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ENTITY_TYPES.iter().map(|e| e.set).collect::<Vec<_>>());
    }

    #[test]
    fn is_odata_4_0_with_the_two_schemas() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "Edmx");
        assert_eq!(root.tag_name().namespace(), Some(EDMX_NS));
        assert_eq!(root.attribute("Version"), Some("4.0"));
        let services = elements(root, "DataServices").next().expect("DataServices");
        let namespaces: Vec<_> = elements(services, "Schema").filter_map(|s| s.attribute("Namespace")).collect();
        assert_eq!(namespaces, [NAMESPACE, ACTIONS_NAMESPACE]);
        for s in elements(services, "Schema") {
            assert_eq!(s.tag_name().namespace(), Some(EDM_NS));
        }
        assert!(!xml.contains("Edm.Untyped"), "4.01-only type in a 4.0 document");
    }

    #[test]
    fn every_type_reference_resolves() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let declared = declared_types(&doc);
        for node in doc.descendants().filter(|n| n.is_element()) {
            let reference = match node.tag_name().name() {
                "Property" | "NavigationProperty" | "Parameter" | "ReturnType" => node.attribute("Type"),
                "EntitySet" => node.attribute("EntityType"),
                _ => None,
            };
            if let Some(ty) = reference {
                let item = item_type(ty);
                assert!(
                    PRIMITIVES.contains(&item) || declared.contains(item),
                    "{} {:?} refers to undeclared type {ty}",
                    node.tag_name().name(),
                    node.attribute("Name")
                );
            }
        }
        for set in doc.descendants().filter(|n| n.has_tag_name("EntitySet")) {
            let ty = set.attribute("EntityType").expect("EntityType");
            assert!(
                doc.descendants().any(|n| n.has_tag_name("EntityType") && Some(ty) == qualified_name(n).as_deref()),
                "entity set {:?} of non-entity type {ty}",
                set.attribute("Name")
            );
        }
    }

    fn qualified_name(node: Node) -> Option<String> {
        let ns = node.parent()?.attribute("Namespace")?;
        Some(format!("{ns}.{}", node.attribute("Name")?))
    }

    fn entity_type_node<'a, 'i>(doc: &'a Xml<'i>, qualified: &str) -> Node<'a, 'i> {
        doc.descendants()
            .find(|n| n.has_tag_name("EntityType") && qualified_name(*n).as_deref() == Some(qualified))
            .unwrap_or_else(|| panic!("entity type {qualified}"))
    }

    #[test]
    fn every_entity_type_has_its_key_and_model_properties() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        for entity in ENTITY_TYPES {
            let node = entity_type_node(&doc, &qualified(entity.name));
            let key: Vec<_> = elements(node, "Key").flat_map(|k| elements(k, "PropertyRef")).filter_map(|r| r.attribute("Name")).collect();
            assert_eq!(key, [entity.key.name], "key of {}", entity.name);

            let properties: HashMap<&str, Node> =
                elements(node, "Property").map(|p| (p.attribute("Name").expect("Name"), p)).collect();
            assert_eq!(properties.len(), entity.properties.len(), "properties of {}", entity.name);
            let key_property = properties[entity.key.name];
            assert_eq!(key_property.attribute("Nullable"), Some("false"), "key of {} is nullable", entity.name);
            assert_eq!(key_property.attribute("Type"), Some("Edm.Int64"));

            for p in entity.properties {
                let node = properties.get(p.name).unwrap_or_else(|| panic!("{}.{} missing", entity.name, p.name));
                assert_eq!(node.attribute("Nullable") == Some("false"), !p.nullable, "{}.{} Nullable", entity.name, p.name);
                assert_eq!(node.attribute("MaxLength").map(|m| m.parse::<usize>().expect("number")), p.max_length);
                let computed = elements(*node, "Annotation")
                    .any(|a| a.attribute("Term") == Some("Core.Computed") && a.attribute("Bool") == Some("true"));
                assert_eq!(computed, p.read_only, "{}.{} Core.Computed", entity.name, p.name);
                if let EdmType::Enum(e) = p.ty {
                    assert_eq!(node.attribute("Type"), Some(qualified(e.name).as_str()));
                }
            }
        }
    }

    #[test]
    fn enums_are_complete_with_ordinal_values() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let find = |e: &EnumType| {
            elements(schema(&doc, NAMESPACE), "EnumType")
                .find(|n| n.attribute("Name") == Some(e.name))
                .unwrap_or_else(|| panic!("enum {}", e.name))
        };
        for e in ENUM_TYPES {
            let members: Vec<(&str, i64)> = elements(find(e), "Member")
                .map(|m| (m.attribute("Name").expect("Name"), m.attribute("Value").expect("Value").parse().expect("number")))
                .collect();
            let expected: Vec<(&str, i64)> = e.members.iter().enumerate().map(|(i, m)| (*m, i as i64)).collect();
            assert_eq!(members, expected, "enum {}", e.name);
        }
        // The values are the enums' own ordinals, which the store and clients may rely on.
        let category = find(&openti_model::schema::ALERT_CATEGORY);
        for c in AlertCategory::ALL {
            let member = elements(category, "Member").find(|m| m.attribute("Name") == Some(c.as_str())).expect("member");
            assert_eq!(member.attribute("Value"), Some(c.ordinal().to_string().as_str()));
        }
        assert_eq!(elements(find(&openti_model::schema::DETECTION_FUNCTION), "Member").count(), DetectionFunction::ALL.len());
    }

    #[test]
    fn navigation_partners_and_bindings_are_consistent() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let mut navigations = 0;
        for ty in doc.descendants().filter(|n| n.has_tag_name("EntityType")) {
            let this = qualified_name(ty).expect("name");
            for nav in elements(ty, "NavigationProperty") {
                navigations += 1;
                let target_type = nav.attribute("Type").expect("Type");
                let target = entity_type_node(&doc, item_type(target_type));
                let partner = nav.attribute("Partner").expect("every navigation of the model has a partner");
                let back = elements(target, "NavigationProperty")
                    .find(|n| n.attribute("Name") == Some(partner))
                    .unwrap_or_else(|| panic!("partner {partner} of {this}"));
                assert_eq!(item_type(back.attribute("Type").expect("Type")), this);
                assert_eq!(back.attribute("Partner"), nav.attribute("Name"));
                assert_eq!(nav.attribute("ContainsTarget"), None);
            }
        }
        assert!(navigations >= 2);

        // The IOC → definition navigation is required, with its foreign key.
        let ioc = entity_type_node(&doc, &qualified(INDICATOR_OF_COMPROMISE.name));
        let nav = elements(ioc, "NavigationProperty").find(|n| n.attribute("Name") == Some("AlertDefinition")).expect("nav");
        assert_eq!(nav.attribute("Nullable"), Some("false"));
        let constraint = elements(nav, "ReferentialConstraint").next().expect("constraint");
        assert_eq!(constraint.attribute("Property"), Some("AlertDefinitionId"));
        assert_eq!(constraint.attribute("ReferencedProperty"), Some("Id"));

        // Every binding names a navigation of the set's type and a set of the target type.
        let sets: HashMap<&str, &str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("EntitySet"))
            .map(|s| (s.attribute("Name").expect("Name"), s.attribute("EntityType").expect("EntityType")))
            .collect();
        for set in doc.descendants().filter(|n| n.has_tag_name("EntitySet")) {
            let ty = entity_type_node(&doc, set.attribute("EntityType").expect("EntityType"));
            let navs: Vec<Node> = elements(ty, "NavigationProperty").collect();
            let bindings: Vec<Node> = elements(set, "NavigationPropertyBinding").collect();
            assert_eq!(bindings.len(), navs.len(), "every navigation of {:?} is bound", set.attribute("Name"));
            for b in bindings {
                let nav = navs.iter().find(|n| n.attribute("Name") == b.attribute("Path")).expect("bound navigation exists");
                let target_set = b.attribute("Target").expect("Target");
                assert_eq!(Some(sets[target_set]), nav.attribute("Type").map(item_type));
            }
        }
    }

    #[test]
    fn actions_are_bound_where_clients_call_them() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let actions = schema(&doc, ACTIONS_NAMESPACE);
        let signature = |a: Node| -> (String, Vec<(String, String)>, Option<String>) {
            (
                a.attribute("Name").expect("Name").to_string(),
                elements(a, "Parameter")
                    .map(|p| (p.attribute("Name").expect("Name").into(), p.attribute("Type").expect("Type").into()))
                    .collect(),
                elements(a, "ReturnType").next().and_then(|r| r.attribute("Type")).map(String::from),
            )
        };
        let found: Vec<_> = elements(actions, "Action").map(signature).collect();
        let s = |v: &str| v.to_string();
        assert_eq!(
            found,
            [
                (
                    s("BulkUpload"),
                    vec![
                        (s(BINDING_PARAMETER), s("Collection(OpenTI.AlertDefinition)")),
                        (s("alertDefinitions"), s("Collection(OpenTI.AlertDefinition)"))
                    ],
                    Some(s("Collection(OpenTI.AlertDefinition)"))
                ),
                (
                    s("BulkUpload"),
                    vec![
                        (s(BINDING_PARAMETER), s("Collection(OpenTI.IndicatorOfCompromise)")),
                        (s("iocs"), s("Collection(OpenTI.IndicatorOfCompromise)"))
                    ],
                    Some(s("Collection(OpenTI.IndicatorOfCompromise)"))
                ),
                (s("DeleteIOCs"), vec![(s(BINDING_PARAMETER), s("OpenTI.AlertDefinition"))], None),
            ]
        );
        for a in elements(actions, "Action") {
            assert_eq!(a.attribute("IsBound"), Some("true"));
        }
        // The qualified name is the URL segment of SPEC A.4.
        assert!(ACTIONS.iter().all(|a| a.qualified_name().starts_with("Actions.")));
    }

    #[test]
    fn annotations_use_referenced_vocabularies() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let aliases: BTreeSet<&str> =
            doc.descendants().filter(|n| n.has_tag_name("Include")).filter_map(|n| n.attribute("Alias")).collect();
        assert_eq!(aliases, BTreeSet::from(["Auth", "Capabilities", "Core"]));
        for reference in doc.descendants().filter(|n| n.has_tag_name("Reference")) {
            assert!(reference.attribute("Uri").is_some_and(|u| u.starts_with("https://oasis-tcs.github.io/odata-vocabularies/vocabularies/")));
        }
        for term in doc.descendants().filter(|n| n.has_tag_name("Annotation")).filter_map(|n| n.attribute("Term")) {
            let (alias, _) = term.rsplit_once('.').expect("qualified term");
            assert!(aliases.contains(alias), "term {term} of an unreferenced vocabulary");
        }
        // Escaping round-trips: the bearer description contains '<' and '>'.
        assert!(doc.descendants().any(|n| n.attribute("String").is_some_and(|s| s.contains("Bearer <token>"))));
    }

    /// The value of `term`'s record property `property` on entity set `set`.
    fn capability<'a>(doc: &'a Xml, set: &str, term: &str, property: &str) -> Option<&'a str> {
        let set = doc.descendants().find(|n| n.has_tag_name("EntitySet") && n.attribute("Name") == Some(set))?;
        let annotation = elements(set, "Annotation").find(|a| a.attribute("Term") == Some(term))?;
        let record = elements(annotation, "Record").next()?;
        let value = elements(record, "PropertyValue").find(|p| p.attribute("Property") == Some(property))?;
        value.attribute("Bool").or(value.attribute("String")).or(value.attribute("EnumMember"))
    }

    #[test]
    fn capabilities_follow_the_model() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        for entity in ENTITY_TYPES {
            let insertable = entity.insertable.to_string();
            assert_eq!(capability(&doc, entity.set, "Capabilities.InsertRestrictions", "Insertable"), Some(insertable.as_str()));
            assert_eq!(capability(&doc, entity.set, "Capabilities.DeleteRestrictions", "Deletable"), Some(insertable.as_str()));
            assert_eq!(capability(&doc, entity.set, "Capabilities.SearchRestrictions", "Searchable"), Some("false"));
            assert_eq!(capability(&doc, entity.set, "Capabilities.FilterRestrictions", "Filterable"), Some("true"));
        }
        assert_eq!(capability(&doc, "Alerts", "Capabilities.UpdateRestrictions", "Updatable"), Some("true"));
        assert_eq!(
            capability(&doc, "Alerts", "Capabilities.UpdateRestrictions", "Description"),
            Some("Update an alert: only Status, Classification and AssignedTo can be changed")
        );
        assert_eq!(capability(&doc, "Devices", "Capabilities.UpdateRestrictions", "Updatable"), Some("false"));
        assert_eq!(
            capability(&doc, "AlertDefinitions", "Capabilities.DeleteRestrictions", "Description"),
            Some("Delete an alert definition and its indicators of compromise")
        );
        // JSON-valued properties are neither filterable nor sortable.
        let alerts = doc.descendants().find(|n| n.has_tag_name("EntitySet") && n.attribute("Name") == Some("Alerts")).expect("Alerts");
        let non_filterable: Vec<&str> = alerts
            .descendants()
            .filter(|n| n.has_tag_name("PropertyValue") && n.attribute("Property") == Some("NonFilterableProperties"))
            .flat_map(|n| n.descendants().filter(|p| p.has_tag_name("PropertyPath")).filter_map(|p| p.text()))
            .collect();
        assert_eq!(non_filterable, ["IocIds", "Evidence"]);
    }

    #[test]
    fn json_has_the_same_types_and_properties_as_xml() {
        let xml = metadata_xml(ROOT);
        let doc = Xml::parse(&xml).expect("well-formed XML");
        let json = metadata_json(ROOT);
        assert_eq!(json["$Version"], "4.0");
        assert_eq!(json["$EntityContainer"], "OpenTI.Container");
        for ty in doc.descendants().filter(|n| n.has_tag_name("EntityType") || n.has_tag_name("ComplexType")) {
            let name = ty.attribute("Name").expect("Name");
            let j = &json[NAMESPACE][name];
            assert_eq!(j["$Kind"], ty.tag_name().name());
            for p in elements(ty, "Property").chain(elements(ty, "NavigationProperty")) {
                let pj = &j[p.attribute("Name").expect("Name")];
                assert!(pj.is_object(), "{name}.{:?} missing in JSON", p.attribute("Name"));
                let xml_type = p.attribute("Type").expect("Type");
                let json_type = pj["$Type"].as_str().unwrap_or("Edm.String");
                assert_eq!(item_type(xml_type), json_type);
                assert_eq!(xml_type.starts_with("Collection("), pj["$Collection"] == true);
            }
        }
        assert_eq!(json[ACTIONS_NAMESPACE]["BulkUpload"].as_array().map(Vec::len), Some(2));
        assert_eq!(json[NAMESPACE][CONTAINER]["Alerts"]["@Capabilities.InsertRestrictions"]["Insertable"], false);
    }

    #[test]
    fn every_json_property_declares_its_complex_type() {
        for entity in ENTITY_TYPES {
            for p in entity.properties {
                if let EdmType::Json(name) = p.ty {
                    assert!(complex_type(name).is_some(), "{}.{} has no declared complex type {name}", entity.name, p.name);
                }
            }
        }
        for d in DEFAULTS {
            let entity = openti_model::schema::entity_type(d.entity).expect("entity of a default");
            let property = entity.property(d.property).expect("property of a default");
            assert_eq!(property.name, d.property, "defaults are spelled as in the model");
            assert!(!property.read_only && !property.nullable);
        }
    }

    #[test]
    fn descriptions_read_naturally() {
        assert_eq!(words("IndicatorsOfCompromise"), "indicators of compromise");
        assert_eq!(with_article("alert"), "an alert");
        assert_eq!(with_article("device"), "a device");
        assert_eq!(join_names(&["A", "B", "C"]), "A, B and C");
        assert_eq!(join_names(&["A"]), "A");
        assert_eq!(normalize_root("http://h/V1.0"), "http://h/V1.0/");
        assert_eq!(normalize_root("http://h/V1.0//"), "http://h/V1.0/");
    }
}
