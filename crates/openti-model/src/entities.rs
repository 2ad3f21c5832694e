//! The entities as the API returns them, and the validated drafts the store writes.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::enums::*;

/// Serialises timestamps in the one wire form, whatever their precision.
mod wire_time {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*t))
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::format_timestamp(*t)),
                None => s.serialize_none(),
            }
        }
    }
}

/// An alert definition as stored and returned (wire names are PascalCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlertDefinition {
    pub id: i64,
    pub name: String,
    pub severity: AlertSeverity,
    pub internal_description: Option<String>,
    pub title: String,
    pub ux_description: String,
    pub recommended_action: Option<String>,
    pub category: AlertCategory,
    pub enabled: bool,
    #[serde(serialize_with = "wire_time::serialize")]
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    pub last_modified_at: Option<DateTime<Utc>>,
    pub last_modified_by: Option<String>,
}

/// An indicator of compromise as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndicatorOfCompromise {
    pub id: i64,
    #[serde(rename = "Type")]
    pub ioc_type: IocType,
    pub value: String,
    pub detection_function: DetectionFunction,
    pub enabled: bool,
    #[serde(serialize_with = "wire_time::option::serialize")]
    pub expires_at: Option<DateTime<Utc>>,
    pub alert_definition_id: i64,
    #[serde(default)]
    pub hit_count: i64,
    #[serde(default, serialize_with = "wire_time::option::serialize")]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "wire_time::serialize")]
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    #[serde(serialize_with = "wire_time::option::serialize")]
    pub last_modified_at: Option<DateTime<Utc>>,
    pub last_modified_by: Option<String>,
}

/// The validated, normalised content of an alert definition (what a create or a merged
/// PATCH writes).
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionDraft {
    pub name: String,
    pub severity: AlertSeverity,
    pub internal_description: Option<String>,
    pub title: String,
    pub ux_description: String,
    pub recommended_action: Option<String>,
    pub category: AlertCategory,
    pub enabled: bool,
}

/// The validated, normalised content of an IOC.
#[derive(Debug, Clone, PartialEq)]
pub struct IocDraft {
    pub ioc_type: IocType,
    pub value: String,
    pub detection_function: DetectionFunction,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub alert_definition_id: i64,
}

impl From<&AlertDefinition> for DefinitionDraft {
    fn from(d: &AlertDefinition) -> Self {
        DefinitionDraft {
            name: d.name.clone(),
            severity: d.severity,
            internal_description: d.internal_description.clone(),
            title: d.title.clone(),
            ux_description: d.ux_description.clone(),
            recommended_action: d.recommended_action.clone(),
            category: d.category,
            enabled: d.enabled,
        }
    }
}

impl From<&IndicatorOfCompromise> for IocDraft {
    fn from(i: &IndicatorOfCompromise) -> Self {
        IocDraft {
            ioc_type: i.ioc_type,
            value: i.value.clone(),
            detection_function: i.detection_function,
            enabled: i.enabled,
            expires_at: i.expires_at,
            alert_definition_id: i.alert_definition_id,
        }
    }
}

/// The wire form of a DateTimeOffset: UTC, millisecond precision, `Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Storage form of a timestamp (Unix milliseconds) back to a time.
pub fn timestamp_from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Parses a DateTimeOffset as clients send it: RFC 3339, or without an offset (taken as UTC,
/// as PowerShell's `Get-Date -Format s` writes it).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}
