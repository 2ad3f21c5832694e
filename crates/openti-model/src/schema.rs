//! The entity model as data: one description per entity type that `$metadata`, the OData
//! query engine (property names, types, columns) and the store's row decoding all read.
//! Nothing about an entity's shape is described twice.
//!
//! Storage conventions every store follows: each table has a `tenant_id` text column (GUID)
//! and an `id` BIGINT primary key; DateTimeOffset values are stored as BIGINT Unix
//! milliseconds (UTC), booleans as booleans, enums as their `$metadata` spelling, and
//! `Json` properties as JSON text.

use crate::enums::*;

/// The OData namespace of every type.
pub const NAMESPACE: &str = "OpenTI";

/// The EDM type of a structural property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdmType {
    Int64,
    Int32,
    String,
    Boolean,
    DateTimeOffset,
    Guid,
    /// An enum type: its name and member spellings.
    Enum(&'static EnumType),
    /// A collection of Int64 stored as a JSON array (not filterable).
    Int64Collection,
    /// A structured value stored as JSON text (not filterable), declared as the named complex type.
    Json(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
pub struct EnumType {
    pub name: &'static str,
    pub members: &'static [&'static str],
}

pub static ALERT_SEVERITY: EnumType = EnumType { name: AlertSeverity::TYPE_NAME, members: AlertSeverity::NAMES };
pub static ALERT_CATEGORY: EnumType = EnumType { name: AlertCategory::TYPE_NAME, members: AlertCategory::NAMES };
pub static IOC_TYPE: EnumType = EnumType { name: IocType::TYPE_NAME, members: IocType::NAMES };
pub static DETECTION_FUNCTION: EnumType =
    EnumType { name: DetectionFunction::TYPE_NAME, members: DetectionFunction::NAMES };
pub static ALERT_STATUS: EnumType = EnumType { name: AlertStatus::TYPE_NAME, members: AlertStatus::NAMES };
pub static ALERT_CLASSIFICATION: EnumType =
    EnumType { name: AlertClassification::TYPE_NAME, members: AlertClassification::NAMES };

/// Every enum type, in `$metadata` order.
pub static ENUM_TYPES: &[&EnumType] =
    &[&ALERT_SEVERITY, &ALERT_CATEGORY, &IOC_TYPE, &DETECTION_FUNCTION, &ALERT_STATUS, &ALERT_CLASSIFICATION];

/// A structural property of an entity type.
#[derive(Debug, PartialEq, Eq)]
pub struct Property {
    /// The wire (PascalCase) name.
    pub name: &'static str,
    /// The column in the entity's table.
    pub column: &'static str,
    pub ty: EdmType,
    pub nullable: bool,
    /// Maximum length in characters, for strings.
    pub max_length: Option<usize>,
    /// Set by the server; ignored on input.
    pub read_only: bool,
}

/// A navigation property: a join from this entity's `local_column` to the target's `remote_column`.
#[derive(Debug, PartialEq, Eq)]
pub struct Navigation {
    pub name: &'static str,
    /// Target entity type name.
    pub target: &'static str,
    pub collection: bool,
    /// The navigation property on the target that points back, if any.
    pub partner: Option<&'static str>,
    pub local_column: &'static str,
    pub remote_column: &'static str,
}

/// An entity type and the entity set that holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct EntityType {
    pub name: &'static str,
    pub set: &'static str,
    pub table: &'static str,
    /// Always `Id` (Int64), stored in column `id`.
    pub key: &'static Property,
    pub properties: &'static [Property],
    pub navigations: &'static [Navigation],
    /// Whether clients may create/delete entities of the set (Alerts and Devices are server-made).
    pub insertable: bool,
}

impl EntityType {
    /// Looks a property up by its wire name, case-insensitively (SPEC A.3 accepts any case on input).
    pub fn property(&self, name: &str) -> Option<&'static Property> {
        self.properties.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn navigation(&self, name: &str) -> Option<&'static Navigation> {
        self.navigations.iter().find(|n| n.name.eq_ignore_ascii_case(name))
    }
}

const fn prop(name: &'static str, column: &'static str, ty: EdmType) -> Property {
    Property { name, column, ty, nullable: false, max_length: None, read_only: false }
}
const fn nullable(mut p: Property) -> Property {
    p.nullable = true;
    p
}
const fn server(mut p: Property) -> Property {
    p.read_only = true;
    p
}
const fn max(mut p: Property, len: usize) -> Property {
    p.max_length = Some(len);
    p
}

static ID: Property = server(prop("Id", "id", EdmType::Int64));

// Entity types in `$metadata` order.

pub static ALERT_DEFINITION: EntityType = EntityType {
    name: "AlertDefinition",
    set: "AlertDefinitions",
    table: "alert_definitions",
    key: &ID,
    properties: &[
        server(prop("Id", "id", EdmType::Int64)),
        max(prop("Name", "name", EdmType::String), 100),
        prop("Severity", "severity", EdmType::Enum(&ALERT_SEVERITY)),
        nullable(max(prop("InternalDescription", "internal_description", EdmType::String), 350)),
        max(prop("Title", "title", EdmType::String), 120),
        max(prop("UxDescription", "ux_description", EdmType::String), 500),
        nullable(max(prop("RecommendedAction", "recommended_action", EdmType::String), 2000)),
        prop("Category", "category", EdmType::Enum(&ALERT_CATEGORY)),
        prop("Enabled", "enabled", EdmType::Boolean),
        server(prop("CreatedAt", "created_at", EdmType::DateTimeOffset)),
        server(nullable(prop("CreatedBy", "created_by", EdmType::String))),
        server(nullable(prop("LastModifiedAt", "last_modified_at", EdmType::DateTimeOffset))),
        server(nullable(prop("LastModifiedBy", "last_modified_by", EdmType::String))),
    ],
    navigations: &[Navigation {
        name: "IndicatorsOfCompromise",
        target: "IndicatorOfCompromise",
        collection: true,
        partner: Some("AlertDefinition"),
        local_column: "id",
        remote_column: "alert_definition_id",
    }],
    insertable: true,
};

pub static INDICATOR_OF_COMPROMISE: EntityType = EntityType {
    name: "IndicatorOfCompromise",
    set: "IndicatorsOfCompromise",
    table: "indicators",
    key: &ID,
    properties: &[
        server(prop("Id", "id", EdmType::Int64)),
        prop("Type", "ioc_type", EdmType::Enum(&IOC_TYPE)),
        max(prop("Value", "value", EdmType::String), 2048),
        prop("DetectionFunction", "detection_function", EdmType::Enum(&DETECTION_FUNCTION)),
        prop("Enabled", "enabled", EdmType::Boolean),
        nullable(prop("ExpiresAt", "expires_at", EdmType::DateTimeOffset)),
        server(prop("AlertDefinitionId", "alert_definition_id", EdmType::Int64)),
        server(prop("HitCount", "hit_count", EdmType::Int64)),
        server(nullable(prop("LastSeenAt", "last_seen_at", EdmType::DateTimeOffset))),
        server(prop("CreatedAt", "created_at", EdmType::DateTimeOffset)),
        server(nullable(prop("CreatedBy", "created_by", EdmType::String))),
        server(nullable(prop("LastModifiedAt", "last_modified_at", EdmType::DateTimeOffset))),
        server(nullable(prop("LastModifiedBy", "last_modified_by", EdmType::String))),
    ],
    navigations: &[Navigation {
        name: "AlertDefinition",
        target: "AlertDefinition",
        collection: false,
        partner: Some("IndicatorsOfCompromise"),
        local_column: "alert_definition_id",
        remote_column: "id",
    }],
    insertable: true,
};

pub static ALERT: EntityType = EntityType {
    name: "Alert",
    set: "Alerts",
    table: "alerts",
    key: &ID,
    properties: &[
        server(prop("Id", "id", EdmType::Int64)),
        server(prop("Title", "title", EdmType::String)),
        server(prop("Description", "description", EdmType::String)),
        server(nullable(prop("RecommendedAction", "recommended_action", EdmType::String))),
        server(prop("Severity", "severity", EdmType::Enum(&ALERT_SEVERITY))),
        server(prop("Category", "category", EdmType::Enum(&ALERT_CATEGORY))),
        prop("Status", "status", EdmType::Enum(&ALERT_STATUS)),
        nullable(prop("Classification", "classification", EdmType::Enum(&ALERT_CLASSIFICATION))),
        nullable(max(prop("AssignedTo", "assigned_to", EdmType::String), 256)),
        server(prop("AlertDefinitionId", "alert_definition_id", EdmType::Int64)),
        server(prop("IocIds", "ioc_ids", EdmType::Int64Collection)),
        server(prop("DeviceId", "device_id", EdmType::String)),
        server(nullable(prop("DeviceName", "device_name", EdmType::String))),
        server(prop("FirstEventTime", "first_event_time", EdmType::DateTimeOffset)),
        server(prop("LastEventTime", "last_event_time", EdmType::DateTimeOffset)),
        server(prop("EventCount", "event_count", EdmType::Int64)),
        server(prop("IocName", "ioc_name", EdmType::Enum(&IOC_TYPE))),
        server(prop("IocValue", "ioc_value", EdmType::String)),
        server(prop("IocUniqueId", "ioc_unique_id", EdmType::Int64)),
        server(prop("IoaDefinitionId", "alert_definition_id", EdmType::Int64)),
        server(prop("DetectionSource", "detection_source", EdmType::String)),
        server(prop("Evidence", "evidence", EdmType::Json("AlertEvidence"))),
        server(prop("CreatedAt", "created_at", EdmType::DateTimeOffset)),
        server(nullable(prop("LastModifiedAt", "last_modified_at", EdmType::DateTimeOffset))),
        server(nullable(prop("LastModifiedBy", "last_modified_by", EdmType::String))),
    ],
    navigations: &[],
    insertable: false,
};

pub static DEVICE: EntityType = EntityType {
    name: "Device",
    set: "Devices",
    table: "devices",
    key: &ID,
    properties: &[
        server(prop("Id", "id", EdmType::Int64)),
        server(prop("DeviceId", "device_id", EdmType::String)),
        server(nullable(prop("DeviceName", "device_name", EdmType::String))),
        server(prop("FirstSeen", "first_seen", EdmType::DateTimeOffset)),
        server(prop("LastSeen", "last_seen", EdmType::DateTimeOffset)),
        server(prop("EventCount", "event_count", EdmType::Int64)),
    ],
    navigations: &[],
    insertable: false,
};

/// Every entity type, in `$metadata` order.
pub static ENTITY_TYPES: &[&EntityType] = &[&ALERT_DEFINITION, &INDICATOR_OF_COMPROMISE, &ALERT, &DEVICE];

/// Finds an entity set by name, case-insensitively.
pub fn entity_set(name: &str) -> Option<&'static EntityType> {
    ENTITY_TYPES.iter().copied().find(|e| e.set.eq_ignore_ascii_case(name))
}

/// Finds an entity type by its type name.
pub fn entity_type(name: &str) -> Option<&'static EntityType> {
    ENTITY_TYPES.iter().copied().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_navigation_targets_a_known_type_with_its_partner() {
        for entity in ENTITY_TYPES {
            assert_eq!(entity.properties[0].name, "Id");
            for nav in entity.navigations {
                let target = entity_type(nav.target).expect("navigation target exists");
                if let Some(partner) = nav.partner {
                    let back = target.navigation(partner).expect("partner exists");
                    assert_eq!(back.target, entity.name);
                }
            }
        }
    }

    #[test]
    fn set_lookup_is_case_insensitive() {
        assert_eq!(entity_set("alertdefinitions").map(|e| e.name), Some("AlertDefinition"));
        assert_eq!(entity_set("Nope"), None);
    }
}
