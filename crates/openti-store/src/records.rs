//! The records the store keeps besides the custom TI entities (which live in openti-model).

use chrono::{DateTime, Utc};
use openti_model::{AlertDefinition, DetectionFunction, IndicatorOfCompromise, IocType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Per-tenant limits (SPEC A.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    pub max_definitions: i64,
    pub max_iocs: i64,
    pub max_non_equals_iocs: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas { max_definitions: 10_000, max_iocs: 1_000_000, max_non_equals_iocs: 50_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub quotas: Quotas,
}

/// An OAuth client of a tenant: its custom TI application or another app (a sensor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub client_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub roles: Vec<String>,
    pub is_custom_ti: bool,
    pub created_at: DateTime<Utc>,
}

/// A client secret: only its argon2id hash is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub client_id: Uuid,
    pub description: String,
    #[serde(skip_serializing)]
    pub hash: String,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl SecretRecord {
    /// Whether the secret may be used at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_pem: String,
    pub created_at: DateTime<Utc>,
}

/// One page of a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryPage {
    pub rows: Vec<Map<String, Value>>,
    pub count: Option<i64>,
    pub next_skiptoken: Option<String>,
}

/// An IOC as the matcher loads it: what decides matching, and nothing for people to read
/// (no audit fields, no statistics), so that loading a million of them stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionIoc {
    pub id: i64,
    pub alert_definition_id: i64,
    pub ioc_type: IocType,
    pub detection_function: DetectionFunction,
    /// In normal form, as stored.
    pub value: String,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&IndicatorOfCompromise> for DetectionIoc {
    fn from(ioc: &IndicatorOfCompromise) -> Self {
        DetectionIoc {
            id: ioc.id,
            alert_definition_id: ioc.alert_definition_id,
            ioc_type: ioc.ioc_type,
            detection_function: ioc.detection_function,
            value: ioc.value.clone(),
            enabled: ioc.enabled,
            expires_at: ioc.expires_at,
        }
    }
}

/// What the matcher loads at start: all of one tenant's detection content.
#[derive(Debug, Clone, Default)]
pub struct TenantContent {
    pub tenant_id: Uuid,
    pub definitions: Vec<AlertDefinition>,
    pub iocs: Vec<DetectionIoc>,
}

#[derive(Debug, Clone, Default)]
pub struct DetectionSnapshot {
    /// The last change the snapshot includes; feed batches up to it are already in it.
    pub seq: i64,
    pub tenants: Vec<TenantContent>,
}

/// One IOC match in one event, with what the alert needs to say.
#[derive(Debug, Clone)]
pub struct Hit {
    pub definition: AlertDefinition,
    pub ioc_id: i64,
    pub ioc_type: IocType,
    pub ioc_value: String,
    pub device_id: String,
    pub device_name: Option<String>,
    pub event_time: DateTime<Utc>,
    /// The event's position in its batch: hits of one event share it, so an alert counts
    /// an event once however many of its IOCs the event matched.
    pub event_index: usize,
    /// The native field that matched and the value observed there.
    pub field: String,
    pub observed: String,
    /// The event, kept as evidence.
    pub event: Value,
}

/// An alert a batch of hits created or changed.
#[derive(Debug, Clone)]
pub struct AlertUpdate {
    pub created: bool,
    pub alert: Map<String, Value>,
}

/// Events seen from one device in one ingest request.
#[derive(Debug, Clone)]
pub struct DeviceSeen {
    pub device_id: String,
    pub device_name: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub events: i64,
}

/// Hits of one IOC in one ingest request.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub ioc_id: i64,
    pub hits: i64,
    pub last_seen: DateTime<Utc>,
}

/// How many evidence entries an alert keeps; later events only count.
pub const MAX_EVIDENCE: usize = 10;
