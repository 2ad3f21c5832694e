//! Turning request bodies into validated drafts (SPEC A.3, A.5): property names in any case,
//! historical aliases, enum values in any case, booleans as JSON booleans or strings, unknown
//! properties rejected, instance annotations ignored, server-set properties ignored (so a
//! client may send back what it read). A PATCH is the stored entity with the body laid over
//! it, validated as a whole, so a partial update can never produce an invalid entity.

use serde_json::{Map, Value};

use crate::entities::{parse_timestamp, DefinitionDraft, IocDraft};
use crate::enums::*;
use crate::error::{ErrorCode, InputError};
use crate::schema::{EntityType, ALERT, ALERT_DEFINITION, INDICATOR_OF_COMPROMISE};
use crate::values::{normalize_ioc_value, ValueError};

/// Most entities one bulk upload may carry (SPEC A.6).
pub const MAX_BULK_ENTITIES: usize = 5000;

/// Input spellings of the IOC → definition binding (SPEC A.5 aliases).
const BIND_KEYS: [&str; 3] = ["AlertDefinition@odata.bind", "AlertDefinitions@odata.bind", "IndicationOfAttack@odata.bind"];

/// Property aliases the original accepted at some point: (alias, property).
const ALIASES: [(&str, &str); 1] = [("ShortUxDescription", "Title")];

/// The body's properties resolved against the entity type: (wire name, value).
struct Fields<'a> {
    values: Vec<(&'static str, &'a Value)>,
    bind: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.values.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, InputError> {
    body.as_object().ok_or_else(|| InputError::body("the request body must be a JSON object"))
}

fn resolve_fields<'a>(entity: &'static EntityType, body: &'a Value) -> Result<Fields<'a>, InputError> {
    let object = as_object(body)?;
    let mut fields = Fields { values: Vec::new(), bind: None };
    for (key, value) in object {
        if BIND_KEYS.iter().any(|b| b.eq_ignore_ascii_case(key)) && entity.name == INDICATOR_OF_COMPROMISE.name {
            fields.bind = Some(value);
            continue;
        }
        if key.contains('@') {
            // Instance and property annotations (`@odata.type`, `Name@odata.type`) carry no data.
            continue;
        }
        let name = ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(key)).map(|(_, p)| *p).unwrap_or(key);
        match entity.property(name) {
            Some(p) if p.read_only => continue,
            Some(p) => fields.values.push((p.name, value)),
            None if entity.navigation(name).is_some() => {
                return Err(InputError::new(
                    ErrorCode::InvalidRequestBody,
                    key.as_str(),
                    format!("'{key}' cannot be written inline; bind it with '{key}@odata.bind'"),
                ))
            }
            None => {
                return Err(InputError::new(
                    ErrorCode::InvalidRequestBody,
                    key.as_str(),
                    format!("'{key}' is not a property of {}", entity.name),
                ))
            }
        }
    }
    Ok(fields)
}

fn type_error(name: &str, expected: &str) -> InputError {
    InputError::new(ErrorCode::InvalidRequestBody, name, format!("'{name}' must be {expected}"))
}

fn missing(name: &str) -> InputError {
    InputError::new(ErrorCode::MissingRequiredParameter, name, format!("'{name}' is required"))
}

/// A string property: `None` when absent, `Some(None)` when null.
fn string_field(fields: &Fields, entity: &EntityType, name: &str) -> Result<Option<Option<String>>, InputError> {
    let Some(value) = fields.get(name) else { return Ok(None) };
    let property = entity.property(name).expect("schema property");
    match value {
        Value::Null if property.nullable => Ok(Some(None)),
        Value::Null => Err(missing(name)),
        Value::String(s) => {
            if let Some(max) = property.max_length {
                let len = s.chars().count();
                if len > max {
                    return Err(InputError::new(
                        ErrorCode::InvalidRequestBody,
                        name,
                        format!("'{name}' is {len} characters long; at most {max} are allowed"),
                    ));
                }
            }
            Ok(Some(Some(s.clone())))
        }
        _ => Err(type_error(name, "a string")),
    }
}

fn required_text(fields: &Fields, entity: &EntityType, name: &str, base: Option<&String>) -> Result<String, InputError> {
    match string_field(fields, entity, name)? {
        Some(Some(s)) => Ok(s),
        Some(None) => Err(missing(name)),
        None => base.cloned().ok_or_else(|| missing(name)),
    }
}

fn non_blank(name: &str, text: String) -> Result<String, InputError> {
    if text.trim().is_empty() {
        return Err(InputError::new(ErrorCode::InvalidRequestBody, name, format!("'{name}' must not be empty")));
    }
    Ok(text)
}

fn optional_text(
    fields: &Fields,
    entity: &EntityType,
    name: &str,
    base: Option<&Option<String>>,
) -> Result<Option<String>, InputError> {
    Ok(match string_field(fields, entity, name)? {
        Some(v) => v,
        None => base.cloned().flatten(),
    })
}

/// Booleans arrive as JSON booleans or, from PowerShell's `ConvertTo-Json`, as strings.
fn bool_field(fields: &Fields, name: &str, base: bool) -> Result<bool, InputError> {
    match fields.get(name) {
        None => Ok(base),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(type_error(name, "true or false")),
    }
}

fn enum_field<T: Copy>(
    fields: &Fields,
    name: &str,
    parse: fn(&str) -> Option<T>,
    members: &[&str],
    base: Option<T>,
) -> Result<T, InputError> {
    match fields.get(name) {
        None => base.ok_or_else(|| missing(name)),
        Some(Value::Null) => Err(missing(name)),
        Some(Value::String(s)) => parse(s).ok_or_else(|| {
            InputError::new(
                ErrorCode::InvalidRequestBody,
                name,
                format!("'{s}' is not a valid {name}; expected one of {}", members.join(", ")),
            )
        }),
        Some(_) => Err(type_error(name, "a string")),
    }
}

/// Validates an alert definition body. `base` is the stored definition for a PATCH.
pub fn parse_definition(body: &Value, base: Option<&DefinitionDraft>) -> Result<DefinitionDraft, InputError> {
    let e = &ALERT_DEFINITION;
    let f = resolve_fields(e, body)?;
    Ok(DefinitionDraft {
        name: non_blank("Name", required_text(&f, e, "Name", base.map(|b| &b.name))?)?,
        severity: enum_field(&f, "Severity", AlertSeverity::parse, AlertSeverity::NAMES, base.map(|b| b.severity))?,
        internal_description: optional_text(&f, e, "InternalDescription", base.map(|b| &b.internal_description))?,
        title: non_blank("Title", required_text(&f, e, "Title", base.map(|b| &b.title))?)?,
        ux_description: required_text(&f, e, "UxDescription", base.map(|b| &b.ux_description))?,
        recommended_action: optional_text(&f, e, "RecommendedAction", base.map(|b| &b.recommended_action))?,
        category: enum_field(&f, "Category", AlertCategory::parse, AlertCategory::NAMES, base.map(|b| b.category))?,
        enabled: bool_field(&f, "Enabled", base.map(|b| b.enabled).unwrap_or(true))?,
    })
}

fn value_error(e: ValueError) -> InputError {
    InputError::new(ErrorCode::parse(e.code).unwrap_or(ErrorCode::InvalidRequestBody), "Value", e.message)
}

/// Parses a binding such as `AlertDefinitions(6)`, `AlertDefinition(5)` or an absolute URL
/// ending in one, returning the key.
pub fn parse_definition_reference(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('/');
    let open = text.rfind('(')?;
    let segment_start = text[..open].rfind('/').map(|i| i + 1).unwrap_or(0);
    let segment = &text[segment_start..open];
    if !(segment.eq_ignore_ascii_case("AlertDefinitions") || segment.eq_ignore_ascii_case("AlertDefinition")) {
        return None;
    }
    let key = text[open + 1..].strip_suffix(')')?;
    let key = key.strip_suffix('L').unwrap_or(key);
    key.parse::<i64>().ok().filter(|k| *k > 0)
}

/// Validates an IOC body. `base` is the stored IOC for a PATCH. The bound definition's
/// existence in the tenant is the store's to check.
pub fn parse_ioc(body: &Value, base: Option<&IocDraft>) -> Result<IocDraft, InputError> {
    let e = &INDICATOR_OF_COMPROMISE;
    let f = resolve_fields(e, body)?;
    let ioc_type = enum_field(&f, "Type", IocType::parse, IocType::NAMES, base.map(|b| b.ioc_type))?;
    let detection_function = enum_field(
        &f,
        "DetectionFunction",
        DetectionFunction::parse,
        DetectionFunction::NAMES,
        Some(base.map(|b| b.detection_function).unwrap_or(DetectionFunction::Equals)),
    )?;
    if !ioc_type.allows(detection_function) {
        let allowed: Vec<_> = ioc_type.allowed_functions().iter().map(|f| f.as_str()).collect();
        return Err(InputError::new(
            ErrorCode::BadRequest,
            "DetectionFunction",
            format!("DetectionFunction {detection_function} is not allowed for Type {ioc_type}; allowed: {}", allowed.join(", ")),
        ));
    }
    let raw_value = required_text(&f, e, "Value", base.map(|b| &b.value))?;
    let value = normalize_ioc_value(ioc_type, detection_function, &raw_value).map_err(value_error)?;
    let expires_at = match f.get("ExpiresAt") {
        None => base.and_then(|b| b.expires_at),
        Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(parse_timestamp(s).ok_or_else(|| {
            InputError::new(ErrorCode::InvalidRequestBody, "ExpiresAt", format!("'{s}' is not a valid DateTimeOffset"))
        })?),
        Some(_) => return Err(type_error("ExpiresAt", "a DateTimeOffset string")),
    };
    let alert_definition_id = match f.bind {
        Some(Value::String(s)) => parse_definition_reference(s).ok_or_else(|| {
            InputError::new(
                ErrorCode::InvalidRequestBody,
                BIND_KEYS[0],
                format!("'{s}' is not a reference to an alert definition such as 'AlertDefinitions(1)'"),
            )
        })?,
        Some(_) => return Err(type_error(BIND_KEYS[0], "a string such as 'AlertDefinitions(1)'")),
        None => base.map(|b| b.alert_definition_id).ok_or_else(|| missing(BIND_KEYS[0]))?,
    };
    Ok(IocDraft {
        ioc_type,
        value,
        detection_function,
        enabled: bool_field(&f, "Enabled", base.map(|b| b.enabled).unwrap_or(true))?,
        expires_at,
        alert_definition_id,
    })
}

/// The triage fields of an alert a client may change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertPatch {
    pub status: Option<AlertStatus>,
    /// `Some(None)` clears it.
    pub classification: Option<Option<AlertClassification>>,
    pub assigned_to: Option<Option<String>>,
}

/// Validates a PATCH of an alert: only Status, Classification and AssignedTo may change.
pub fn parse_alert_patch(body: &Value) -> Result<AlertPatch, InputError> {
    let object = as_object(body)?;
    let mut patch = AlertPatch::default();
    for (key, value) in object {
        if key.contains('@') {
            continue;
        }
        let Some(property) = ALERT.property(key) else {
            return Err(InputError::new(ErrorCode::InvalidRequestBody, key.as_str(), format!("'{key}' is not a property of Alert")));
        };
        if property.read_only {
            // Sent back as read (EventCount, IocIds… are not strings); whether it is unchanged
            // is for the caller to check against the stored alert.
            continue;
        }
        let text = match value {
            Value::Null => None,
            Value::String(s) => Some(s.as_str()),
            _ => return Err(type_error(property.name, "a string")),
        };
        match property.name {
            "Status" => {
                let s = text.ok_or_else(|| missing("Status"))?;
                patch.status = Some(AlertStatus::parse(s).ok_or_else(|| {
                    InputError::new(ErrorCode::InvalidRequestBody, "Status", format!("'{s}' is not a valid Status; expected one of {}", AlertStatus::NAMES.join(", ")))
                })?);
            }
            "Classification" => {
                patch.classification = Some(match text {
                    None => None,
                    Some(s) => Some(AlertClassification::parse(s).ok_or_else(|| {
                        InputError::new(ErrorCode::InvalidRequestBody, "Classification", format!("'{s}' is not a valid Classification; expected one of {}", AlertClassification::NAMES.join(", ")))
                    })?),
                });
            }
            "AssignedTo" => {
                if let Some(s) = text {
                    if s.chars().count() > 256 {
                        return Err(InputError::new(ErrorCode::InvalidRequestBody, "AssignedTo", "'AssignedTo' is longer than 256 characters"));
                    }
                }
                patch.assigned_to = Some(text.map(str::to_string));
            }
            // A client may send back what it read; unchanged server-set properties are ignored.
            _ if property.read_only => {}
            other => return Err(InputError::new(ErrorCode::InvalidRequestBody, other, format!("'{other}' cannot be changed"))),
        }
    }
    Ok(patch)
}

/// Extracts the entity array of a bulk upload body. The wrapper name is accepted in any case
/// and under its historical spellings; `wrappers[0]` is the canonical one.
pub fn bulk_entities<'a>(body: &'a Value, wrappers: &[&str]) -> Result<&'a Vec<Value>, InputError> {
    let object = as_object(body)?;
    let mut found = None;
    for (key, value) in object {
        if key.starts_with('@') {
            continue;
        }
        if wrappers.iter().any(|w| w.eq_ignore_ascii_case(key)) {
            found = Some(value);
        } else {
            return Err(InputError::new(
                ErrorCode::InvalidRequestBody,
                key.as_str(),
                format!("'{key}' is not a parameter of BulkUpload; expected '{}'", wrappers[0]),
            ));
        }
    }
    let array = found
        .ok_or_else(|| missing(wrappers[0]))?
        .as_array()
        .ok_or_else(|| type_error(wrappers[0], "an array"))?;
    if array.len() > MAX_BULK_ENTITIES {
        return Err(InputError::new(
            ErrorCode::MaximumBatchSizeExceeded,
            wrappers[0],
            format!("{} entities were sent; at most {MAX_BULK_ENTITIES} are allowed per request", array.len()),
        ));
    }
    Ok(array)
}

/// Wrapper names of the definitions bulk upload.
pub const DEFINITION_BULK_WRAPPERS: &[&str] = &["alertDefinitions", "alertDefinition", "value"];
/// Wrapper names of the IOC bulk upload.
pub const IOC_BULK_WRAPPERS: &[&str] = &["iocs", "indicatorsOfCompromise", "value"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition() -> Value {
        json!({"Name":"n","Severity":"high","Title":"Test alert.","UxDescription":"d","Category":"trojan"})
    }

    #[test]
    fn definition_defaults_and_case_insensitive_enums() {
        let d = parse_definition(&definition(), None).unwrap();
        assert_eq!(d.severity, AlertSeverity::High);
        assert_eq!(d.category, AlertCategory::Trojan);
        assert!(d.enabled);
    }

    #[test]
    fn powershell_shaped_values() {
        let mut body = definition();
        body["Enabled"] = json!("False");
        body["ShortUxDescription"] = json!("It's an alert.");
        body.as_object_mut().unwrap().remove("Title");
        let d = parse_definition(&body, None).unwrap();
        assert!(!d.enabled);
        assert_eq!(d.title, "It's an alert.");
    }

    #[test]
    fn unknown_property_is_named() {
        let mut body = definition();
        body["Colour"] = json!("red");
        let err = parse_definition(&body, None).unwrap_err();
        assert_eq!(err.target.as_deref(), Some("Colour"));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut body = definition();
        body["Name"] = json!("é".repeat(100));
        assert!(parse_definition(&body, None).is_ok());
        body["Name"] = json!("é".repeat(101));
        assert_eq!(parse_definition(&body, None).unwrap_err().target.as_deref(), Some("Name"));
    }

    #[test]
    fn patch_keeps_what_it_does_not_name() {
        let base = parse_definition(&definition(), None).unwrap();
        let d = parse_definition(&json!({"Severity":"Low"}), Some(&base)).unwrap();
        assert_eq!(d.severity, AlertSeverity::Low);
        assert_eq!(d.title, base.title);
        assert_eq!(parse_definition(&json!({"Title":null}), Some(&base)).unwrap_err().code, ErrorCode::MissingRequiredParameter);
    }

    #[test]
    fn references() {
        assert_eq!(parse_definition_reference("AlertDefinitions(6)"), Some(6));
        assert_eq!(parse_definition_reference("AlertDefinition(5)"), Some(5));
        assert_eq!(parse_definition_reference("https://x/api/V1.0/AlertDefinitions(12)"), Some(12));
        assert_eq!(parse_definition_reference("IndicatorsOfCompromise(12)"), None);
        assert_eq!(parse_definition_reference("AlertDefinitions(x)"), None);
    }

    #[test]
    fn ioc_needs_a_binding_and_an_allowed_function() {
        let err = parse_ioc(&json!({"Type":"Sha1","Value":"a".repeat(40)}), None).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingRequiredParameter);
        let err = parse_ioc(
            &json!({"Type":"Sha1","Value":"a".repeat(40),"DetectionFunction":"Contains","AlertDefinition@odata.bind":"AlertDefinitions(1)"}),
            None,
        )
        .unwrap_err();
        assert_eq!(err.target.as_deref(), Some("DetectionFunction"));
        let ok = parse_ioc(
            &json!({"type":"sha1","value":"A".repeat(40),"IndicationOfAttack@odata.bind":"AlertDefinition(3)","Enabled":"true"}),
            None,
        )
        .unwrap();
        assert_eq!(ok.alert_definition_id, 3);
    }

    #[test]
    fn bulk_wrapper_any_case_and_limit() {
        let body = json!({"IOCs": [1, 2]});
        assert_eq!(bulk_entities(&body, IOC_BULK_WRAPPERS).unwrap().len(), 2);
        let big = json!({"iocs": vec![0; MAX_BULK_ENTITIES + 1]});
        assert_eq!(bulk_entities(&big, IOC_BULK_WRAPPERS).unwrap_err().code, ErrorCode::MaximumBatchSizeExceeded);
    }
}
