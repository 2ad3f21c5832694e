//! Persistence: the [`Store`] trait every backend implements, the records it keeps, and the
//! change feed it publishes after each commit. Nothing outside this crate writes SQL, and
//! nothing in the trait is specific to one database: the SQLite store here and a PostgreSQL
//! one pass the same test suite.

pub mod conformance;
pub mod feed;
mod query;
pub mod records;
pub mod sqlite;
pub mod users;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openti_model::input::AlertPatch;
use openti_odata::CheckedQuery;
use openti_model::{AlertDefinition, DefinitionDraft, IndicatorOfCompromise, IocDraft};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use feed::{Change, ChangeBatch, ChangeFeed};
pub use records::*;
pub use users::*;

/// Why a store operation failed. Only `Backend` is a server fault; the others are the
/// caller's to report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{entity} quota exceeded: the tenant may hold at most {limit}")]
    QuotaExceeded { entity: &'static str, limit: i64 },
    /// An IOC binds to a definition the tenant does not have. `index` is its position in a bulk request.
    #[error("AlertDefinitions({definition_id}) does not exist")]
    MissingDefinition { index: usize, definition_id: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who made a change, recorded as CreatedBy / LastModifiedBy.
pub type Actor<'a> = &'a str;

/// Everything OpenTI keeps. Each method is one transaction; every custom TI write appends
/// to the change feed in that transaction and publishes it after commit.
#[async_trait]
pub trait Store: UserStore + Send + Sync + 'static {
    // --- tenants, applications, secrets, signing keys -------------------------------------
    async fn create_tenant(&self, name: &str, quotas: Quotas, now: DateTime<Utc>) -> Result<Tenant>;
    /// Finds a tenant by id (GUID text) or by name.
    async fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    async fn set_quotas(&self, tenant: Uuid, quotas: Quotas) -> Result<bool>;

    /// Creates an application and its first secret in one transaction.
    async fn create_app(&self, app: &App, first_secret: &SecretRecord) -> Result<()>;
    async fn find_app(&self, client_id: Uuid) -> Result<Option<App>>;
    async fn custom_ti_app(&self, tenant: Uuid) -> Result<Option<App>>;
    async fn list_apps(&self, tenant: Uuid) -> Result<Vec<App>>;
    async fn add_secret(&self, secret: &SecretRecord) -> Result<()>;
    async fn list_secrets(&self, tenant: Uuid, client_id: Uuid) -> Result<Vec<SecretRecord>>;
    /// Returns false when no such (unrevoked) secret exists.
    async fn revoke_secret(&self, tenant: Uuid, client_id: Uuid, secret_id: Uuid, now: DateTime<Utc>) -> Result<bool>;
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<()>;

    // --- alert definitions ----------------------------------------------------------------
    /// Creates definitions atomically (all or none), enforcing the quota.
    async fn create_definitions(
        &self,
        tenant: Uuid,
        drafts: &[DefinitionDraft],
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertDefinition>>;
    async fn get_definition(&self, tenant: Uuid, id: i64) -> Result<Option<AlertDefinition>>;
    async fn update_definition(
        &self,
        tenant: Uuid,
        id: i64,
        draft: &DefinitionDraft,
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertDefinition>>;
    /// Deletes a definition and its IOCs. False when it does not exist.
    async fn delete_definition(&self, tenant: Uuid, id: i64) -> Result<bool>;
    async fn delete_all_definitions(&self, tenant: Uuid) -> Result<()>;

    // --- indicators of compromise ---------------------------------------------------------
    /// Creates IOCs atomically, checking that each bound definition exists in the tenant and
    /// enforcing both IOC quotas.
    async fn create_iocs(
        &self,
        tenant: Uuid,
        drafts: &[IocDraft],
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IndicatorOfCompromise>>;
    async fn get_ioc(&self, tenant: Uuid, id: i64) -> Result<Option<IndicatorOfCompromise>>;
    async fn update_ioc(
        &self,
        tenant: Uuid,
        id: i64,
        draft: &IocDraft,
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<IndicatorOfCompromise>>;
    async fn delete_ioc(&self, tenant: Uuid, id: i64) -> Result<bool>;
    async fn delete_all_iocs(&self, tenant: Uuid) -> Result<()>;
    /// Deletes a definition's IOCs and keeps the definition. False when it does not exist.
    async fn delete_iocs_of_definition(&self, tenant: Uuid, definition_id: i64) -> Result<bool>;

    // --- queries --------------------------------------------------------------------------
    /// Runs a checked OData query in the store: one page of rows as JSON objects keyed by
    /// wire property names, with expansions attached, the count if asked, and the skiptoken
    /// of the next page if there is one.
    async fn query(&self, tenant: Uuid, query: &CheckedQuery, page_size: u64) -> Result<QueryPage>;

    // --- alerts, devices, sightings -------------------------------------------------------
    /// Records matches: each hit joins the open alert of its definition and device whose first
    /// event is less than 24 hours before it, or opens a new alert. Returns the alerts created
    /// or changed, as wire JSON, with `created` telling which is which.
    async fn record_hits(&self, tenant: Uuid, hits: &[Hit], now: DateTime<Utc>) -> Result<Vec<AlertUpdate>>;
    /// Adds device sightings and IOC hit counts (the server batches them per tenant and
    /// interval). The same device or IOC may appear more than once: each adds up.
    async fn record_telemetry_stats(&self, tenant: Uuid, devices: &[DeviceSeen], sightings: &[Sighting]) -> Result<()>;
    async fn get_alert(&self, tenant: Uuid, id: i64) -> Result<Option<Map<String, Value>>>;
    async fn update_alert(
        &self,
        tenant: Uuid,
        id: i64,
        patch: &AlertPatch,
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Map<String, Value>>>;
    /// Alerts with an id above `after`, oldest first (to resume an alert stream).
    async fn alerts_after(&self, tenant: Uuid, after: i64, limit: i64) -> Result<Vec<Map<String, Value>>>;

    // --- detection ------------------------------------------------------------------------
    /// Every tenant's definitions and IOCs, consistent with change sequence `seq`.
    async fn detection_snapshot(&self) -> Result<DetectionSnapshot>;
    /// The feed of committed changes.
    fn feed(&self) -> &ChangeFeed;
}
