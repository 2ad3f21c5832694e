//! The embedded store: SQLite through sqlx, in WAL mode with `synchronous=FULL` so that a
//! write the API acknowledged survives a crash. Reads use a small pool; writes go through
//! one connection behind a lock, which is SQLite's own concurrency model made explicit and
//! keeps the change feed in commit order.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openti_model::input::AlertPatch;
use openti_odata::CheckedQuery;
use openti_model::schema::{EdmType, EntityType, ALERT, ALERT_DEFINITION, INDICATOR_OF_COMPROMISE};
use openti_model::{
    format_timestamp, timestamp_from_millis, AlertDefinition, DefinitionDraft, DetectionFunction, IndicatorOfCompromise,
    IocDraft, IocType,
};
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::feed::{Change, ChangeBatch, ChangeFeed};
use crate::records::*;
use crate::{Actor, Result, Store, StoreError};

/// Rows per multi-row INSERT of a bulk upload (9 parameters a row: far below SQLite's limit
/// of 32766 bound parameters a statement).
const BULK_ROWS_PER_STATEMENT: usize = 500;

/// Rows per statement of the telemetry statistics (6 parameters a row at most).
const STATS_ROWS_PER_STATEMENT: usize = 500;

/// IOCs per row of the detection snapshot's query (each row a JSON array of them, ~5 MB).
const SNAPSHOT_IOCS_PER_CHUNK: i64 = 50_000;

/// One IOC of the detection snapshot, as the `json_array` of its query lists it: id, tenant,
/// definition, type, function, value, enabled (0 or 1), expiry (epoch milliseconds).
#[derive(serde::Deserialize)]
struct SnapshotIoc<'a>(
    i64,
    #[serde(borrow)] std::borrow::Cow<'a, str>,
    i64,
    IocType,
    DetectionFunction,
    String,
    i64,
    Option<i64>,
);

/// Decodes one chunk of the detection snapshot's IOCs, each with the position of its tenant
/// in `position`. IOCs of tenants not listed there are skipped (none can exist: tenants
/// cascade to their IOCs).
fn decode_snapshot_chunk(chunk: &str, position: &std::collections::HashMap<String, usize>) -> Result<Vec<(usize, DetectionIoc)>> {
    let rows: Vec<SnapshotIoc<'_>> =
        serde_json::from_str(chunk).map_err(|e| StoreError::Backend(format!("decoding stored indicators: {e}")))?;
    let mut out = Vec::with_capacity(rows.len());
    let mut last: Option<(String, usize)> = None;
    for row in rows {
        let at = match &last {
            Some((tenant, at)) if tenant == row.1.as_ref() => *at,
            _ => {
                let Some(&at) = position.get(row.1.as_ref()) else { continue };
                last = Some((row.1.to_string(), at));
                at
            }
        };
        out.push((
            at,
            DetectionIoc {
                id: row.0,
                alert_definition_id: row.2,
                ioc_type: row.3,
                detection_function: row.4,
                value: row.5,
                enabled: row.6 != 0,
                expires_at: row.7.map(timestamp_from_millis),
            },
        ));
    }
    Ok(out)
}

fn distribute(tenants: &mut [TenantContent], iocs: Vec<(usize, DetectionIoc)>) {
    for (at, ioc) in iocs {
        tenants[at].iocs.push(ioc);
    }
}

pub struct SqliteStore {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
    /// Serialises write transactions with their feed publication.
    write_lock: Mutex<()>,
    feed: ChangeFeed,
    /// IOCs per chunk of the detection snapshot ([`SNAPSHOT_IOCS_PER_CHUNK`]; tests use less).
    snapshot_chunk: i64,
}

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

/// Decodes a row of `entity`'s table into its wire JSON form, driven by the schema.
pub(crate) fn decode_row(entity: &EntityType, row: &SqliteRow) -> Result<Map<String, Value>> {
    let mut object = Map::with_capacity(entity.properties.len());
    for p in entity.properties {
        let value = match p.ty {
            EdmType::Int64 | EdmType::Int32 => row.try_get::<Option<i64>, _>(p.column).map_err(backend)?.map(Value::from),
            EdmType::Boolean => row.try_get::<Option<bool>, _>(p.column).map_err(backend)?.map(Value::from),
            EdmType::String | EdmType::Enum(_) | EdmType::Guid => {
                row.try_get::<Option<String>, _>(p.column).map_err(backend)?.map(Value::from)
            }
            EdmType::DateTimeOffset => row
                .try_get::<Option<i64>, _>(p.column)
                .map_err(backend)?
                .map(|v| Value::from(format_timestamp(timestamp_from_millis(v)))),
            EdmType::Int64Collection | EdmType::Json(_) => row
                .try_get::<Option<String>, _>(p.column)
                .map_err(backend)?
                .map(|text| serde_json::from_str(&text).unwrap_or(Value::Null)),
        };
        object.insert(p.name.to_string(), value.unwrap_or(Value::Null));
    }
    Ok(object)
}

fn typed<T: serde::de::DeserializeOwned>(object: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(object)).map_err(|e| StoreError::Backend(format!("decoding a stored row: {e}")))
}

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant> {
    let id: String = row.try_get("id").map_err(backend)?;
    Ok(Tenant {
        id: Uuid::parse_str(&id).map_err(|e| StoreError::Backend(e.to_string()))?,
        name: row.try_get("name").map_err(backend)?,
        created_at: timestamp_from_millis(row.try_get("created_at").map_err(backend)?),
        quotas: Quotas {
            max_definitions: row.try_get("max_definitions").map_err(backend)?,
            max_iocs: row.try_get("max_iocs").map_err(backend)?,
            max_non_equals_iocs: row.try_get("max_non_equals_iocs").map_err(backend)?,
        },
    })
}

fn app_from_row(row: &SqliteRow) -> Result<App> {
    let client_id: String = row.try_get("client_id").map_err(backend)?;
    let tenant_id: String = row.try_get("tenant_id").map_err(backend)?;
    let roles: String = row.try_get("roles").map_err(backend)?;
    Ok(App {
        client_id: Uuid::parse_str(&client_id).map_err(|e| StoreError::Backend(e.to_string()))?,
        tenant_id: Uuid::parse_str(&tenant_id).map_err(|e| StoreError::Backend(e.to_string()))?,
        name: row.try_get("name").map_err(backend)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        is_custom_ti: row.try_get("is_custom_ti").map_err(backend)?,
        created_at: timestamp_from_millis(row.try_get("created_at").map_err(backend)?),
    })
}

fn secret_from_row(row: &SqliteRow) -> Result<SecretRecord> {
    let parse = |c: &str| -> Result<Uuid> {
        let text: String = row.try_get(c).map_err(backend)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Backend(e.to_string()))
    };
    Ok(SecretRecord {
        id: parse("id")?,
        tenant_id: parse("tenant_id")?,
        client_id: parse("client_id")?,
        description: row.try_get("description").map_err(backend)?,
        hash: row.try_get("hash").map_err(backend)?,
        hint: row.try_get("hint").map_err(backend)?,
        created_at: timestamp_from_millis(row.try_get("created_at").map_err(backend)?),
        expires_at: row.try_get::<Option<i64>, _>("expires_at").map_err(backend)?.map(timestamp_from_millis),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at").map_err(backend)?.map(timestamp_from_millis),
    })
}

/// Appends a change to the durable feed table, returning its sequence number.
async fn record_change(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: Uuid,
    entity: &str,
    entity_id: Option<i64>,
    op: &str,
    now: i64,
) -> Result<i64> {
    sqlx::query_scalar("INSERT INTO changes (tenant_id, entity, entity_id, op, at) VALUES (?, ?, ?, ?, ?) RETURNING seq")
        .bind(tenant.to_string())
        .bind(entity)
        .bind(entity_id)
        .bind(op)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Statement journals of multi-row inserts in memory rather than in temporary files.
            .pragma("temp_store", "memory");
        Self::with_options(options).await
    }

    /// An in-memory database, for tests.
    pub async fn in_memory() -> Result<Self> {
        let name = format!("file:openti-{}?mode=memory&cache=shared", Uuid::new_v4());
        let options = SqliteConnectOptions::from_str(&name).map_err(backend)?.foreign_keys(true);
        Self::with_options(options).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self> {
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // A page cache (grown on demand) large enough that a bulk upload's transaction does
            // not spill dirty pages before it commits.
            .connect_with(options.clone().pragma("cache_size", "-32768"))
            .await
            .map_err(backend)?;
        sqlx::migrate!("migrations/sqlite").run(&write).await.map_err(|e| StoreError::Backend(e.to_string()))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.read_only(false))
            .await
            .map_err(backend)?;
        let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&write)
            .await
            .map_err(backend)?;
        Ok(SqliteStore {
            read,
            write,
            write_lock: Mutex::new(()),
            feed: ChangeFeed::new(seq),
            snapshot_chunk: SNAPSHOT_IOCS_PER_CHUNK,
        })
    }

    async fn begin(&self) -> Result<Transaction<'_, Sqlite>> {
        self.write.begin().await.map_err(backend)
    }

    async fn fetch_entity(&self, entity: &EntityType, tenant: Uuid, id: i64) -> Result<Option<Map<String, Value>>> {
        let sql = format!("SELECT * FROM {} WHERE tenant_id = ? AND id = ?", entity.table);
        let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id).fetch_optional(&self.read).await.map_err(backend)?;
        row.map(|r| decode_row(entity, &r)).transpose()
    }

    async fn commit(&self, tx: Transaction<'_, Sqlite>, tenant: Uuid, seq: i64, changes: Vec<Change>) -> Result<()> {
        tx.commit().await.map_err(backend)?;
        self.feed.publish(ChangeBatch { seq, tenant_id: tenant, changes });
        Ok(())
    }

    /// Deletes one of the tenant's entities (`id`) or all of them (`None`) and publishes
    /// `change`. False when the one entity does not exist.
    async fn delete_rows(&self, entity: &EntityType, tenant: Uuid, id: Option<i64>, change: Change) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        let sql = match id {
            Some(_) => format!("DELETE FROM {} WHERE tenant_id = ? AND id = ?", entity.table),
            None => format!("DELETE FROM {} WHERE tenant_id = ?", entity.table),
        };
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        if let Some(id) = id {
            query = query.bind(id);
        }
        let done = query.execute(&mut *tx).await.map_err(backend)?;
        if id.is_some() && done.rows_affected() == 0 {
            return Ok(false);
        }
        let op = if id.is_some() { "delete" } else { "delete-all" };
        let seq = record_change(&mut tx, tenant, entity.name, id, op, ms(Utc::now())).await?;
        self.commit(tx, tenant, seq, vec![change]).await?;
        Ok(true)
    }

    async fn quota_of(tx: &mut Transaction<'_, Sqlite>, tenant: Uuid) -> Result<Quotas> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ?")
            .bind(tenant.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::Invalid(format!("tenant {tenant} does not exist")))?;
        Ok(tenant_from_row(&row)?.quotas)
    }

    async fn count(tx: &mut Transaction<'_, Sqlite>, sql: &str, tenant: Uuid) -> Result<i64> {
        sqlx::query_scalar(sql).bind(tenant.to_string()).fetch_one(&mut **tx).await.map_err(backend)
    }

    async fn insert_definition(
        tx: &mut Transaction<'_, Sqlite>,
        tenant: Uuid,
        d: &DefinitionDraft,
        actor: &str,
        now: i64,
    ) -> Result<AlertDefinition> {
        let row = sqlx::query(
            "INSERT INTO alert_definitions (tenant_id, name, severity, internal_description, title, ux_description, \
             recommended_action, category, enabled, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(tenant.to_string())
        .bind(&d.name)
        .bind(d.severity.as_str())
        .bind(&d.internal_description)
        .bind(&d.title)
        .bind(&d.ux_description)
        .bind(&d.recommended_action)
        .bind(d.category.as_str())
        .bind(d.enabled)
        .bind(now)
        .bind(actor)
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)?;
        typed(decode_row(&ALERT_DEFINITION, &row)?)
    }

    /// Checks that every bound definition exists in the tenant; reports the first draft that binds a missing one.
    async fn check_bindings(tx: &mut Transaction<'_, Sqlite>, tenant: Uuid, drafts: &[IocDraft]) -> Result<()> {
        let mut wanted: Vec<i64> = drafts.iter().map(|d| d.alert_definition_id).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut existing = std::collections::HashSet::with_capacity(wanted.len());
        // Stay well under SQLite's bound-parameter limit.
        for chunk in wanted.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let sql = format!("SELECT id FROM alert_definitions WHERE tenant_id = ? AND id IN ({placeholders})");
            let mut query = sqlx::query_scalar::<_, i64>(&sql).bind(tenant.to_string());
            for id in chunk {
                query = query.bind(id);
            }
            existing.extend(query.fetch_all(&mut **tx).await.map_err(backend)?);
        }
        match drafts.iter().position(|d| !existing.contains(&d.alert_definition_id)) {
            Some(index) => Err(StoreError::MissingDefinition { index, definition_id: drafts[index].alert_definition_id }),
            None => Ok(()),
        }
    }

    /// Enforces both IOC quotas for `added` new IOCs, `added_non_equals` of them not Equals.
    async fn check_ioc_quotas(
        tx: &mut Transaction<'_, Sqlite>,
        tenant: Uuid,
        added: i64,
        added_non_equals: i64,
    ) -> Result<()> {
        let quotas = Self::quota_of(tx, tenant).await?;
        // Kept by triggers (migration 0004): one row, not a count over the tenant's IOCs.
        let (iocs, non_equals): (i64, i64) =
            sqlx::query_as("SELECT iocs, non_equals FROM tenant_ioc_counts WHERE tenant_id = ?")
                .bind(tenant.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?
                .unwrap_or((0, 0));
        if iocs + added > quotas.max_iocs {
            return Err(StoreError::QuotaExceeded { entity: "IndicatorsOfCompromise", limit: quotas.max_iocs });
        }
        if added_non_equals > 0 && non_equals + added_non_equals > quotas.max_non_equals_iocs {
            return Err(StoreError::QuotaExceeded {
                entity: "IndicatorsOfCompromise with a DetectionFunction other than Equals",
                limit: quotas.max_non_equals_iocs,
            });
        }
        Ok(())
    }
}

/// Matches on one device within this window of an alert's first event join that alert.
const GROUPING_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

fn non_equals(d: &IocDraft) -> bool {
    d.detection_function != DetectionFunction::Equals
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_tenant(&self, name: &str, quotas: Quotas, now: DateTime<Utc>) -> Result<Tenant> {
        let tenant = Tenant { id: Uuid::new_v4(), name: name.to_string(), created_at: now, quotas };
        let _guard = self.write_lock.lock().await;
        sqlx::query(
            "INSERT INTO tenants (id, name, created_at, max_definitions, max_iocs, max_non_equals_iocs) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant.id.to_string())
        .bind(name)
        .bind(ms(now))
        .bind(quotas.max_definitions)
        .bind(quotas.max_iocs)
        .bind(quotas.max_non_equals_iocs)
        .execute(&self.write)
        .await
        .map_err(|e| match backend(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("a tenant named '{name}'")),
            other => other,
        })?;
        Ok(tenant)
    }

    async fn find_tenant(&self, id_or_name: &str) -> Result<Option<Tenant>> {
        let by_id = Uuid::parse_str(id_or_name).map(|u| u.to_string()).unwrap_or_default();
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ? OR name = ?")
            .bind(by_id)
            .bind(id_or_name)
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        row.map(|r| tenant_from_row(&r)).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY created_at, name").fetch_all(&self.read).await.map_err(backend)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn set_quotas(&self, tenant: Uuid, quotas: Quotas) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let done = sqlx::query("UPDATE tenants SET max_definitions = ?, max_iocs = ?, max_non_equals_iocs = ? WHERE id = ?")
            .bind(quotas.max_definitions)
            .bind(quotas.max_iocs)
            .bind(quotas.max_non_equals_iocs)
            .bind(tenant.to_string())
            .execute(&self.write)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_app(&self, app: &App, first_secret: &SecretRecord) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO apps (client_id, tenant_id, name, roles, is_custom_ti, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(app.client_id.to_string())
            .bind(app.tenant_id.to_string())
            .bind(&app.name)
            .bind(serde_json::to_string(&app.roles).unwrap_or_else(|_| "[]".into()))
            .bind(app.is_custom_ti)
            .bind(ms(app.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| match backend(e) {
                StoreError::Conflict(_) if app.is_custom_ti => {
                    StoreError::Conflict("the tenant's custom TI application".to_string())
                }
                other => other,
            })?;
        insert_secret(&mut tx, first_secret).await?;
        tx.commit().await.map_err(backend)
    }

    async fn find_app(&self, client_id: Uuid) -> Result<Option<App>> {
        let row = sqlx::query("SELECT * FROM apps WHERE client_id = ?")
            .bind(client_id.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        row.map(|r| app_from_row(&r)).transpose()
    }

    async fn custom_ti_app(&self, tenant: Uuid) -> Result<Option<App>> {
        let row = sqlx::query("SELECT * FROM apps WHERE tenant_id = ? AND is_custom_ti = 1")
            .bind(tenant.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(backend)?;
        row.map(|r| app_from_row(&r)).transpose()
    }

    async fn list_apps(&self, tenant: Uuid) -> Result<Vec<App>> {
        let rows = sqlx::query("SELECT * FROM apps WHERE tenant_id = ? ORDER BY created_at")
            .bind(tenant.to_string())
            .fetch_all(&self.read)
            .await
            .map_err(backend)?;
        rows.iter().map(app_from_row).collect()
    }

    async fn add_secret(&self, secret: &SecretRecord) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        insert_secret(&mut tx, secret).await?;
        tx.commit().await.map_err(backend)
    }

    async fn list_secrets(&self, tenant: Uuid, client_id: Uuid) -> Result<Vec<SecretRecord>> {
        let rows = sqlx::query("SELECT * FROM app_secrets WHERE tenant_id = ? AND client_id = ? ORDER BY created_at")
            .bind(tenant.to_string())
            .bind(client_id.to_string())
            .fetch_all(&self.read)
            .await
            .map_err(backend)?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn revoke_secret(&self, tenant: Uuid, client_id: Uuid, secret_id: Uuid, now: DateTime<Utc>) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let done = sqlx::query(
            "UPDATE app_secrets SET revoked_at = ? WHERE tenant_id = ? AND client_id = ? AND id = ? AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(tenant.to_string())
        .bind(client_id.to_string())
        .bind(secret_id.to_string())
        .execute(&self.write)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at").fetch_all(&self.read).await.map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRecord {
                    kid: r.try_get("kid").map_err(backend)?,
                    private_pem: r.try_get("private_pem").map_err(backend)?,
                    created_at: timestamp_from_millis(r.try_get("created_at").map_err(backend)?),
                })
            })
            .collect()
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_at) VALUES (?, ?, ?)")
            .bind(&key.kid)
            .bind(&key.private_pem)
            .bind(ms(key.created_at))
            .execute(&self.write)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn create_definitions(
        &self,
        tenant: Uuid,
        drafts: &[DefinitionDraft],
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertDefinition>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        let quotas = Self::quota_of(&mut tx, tenant).await?;
        let existing = Self::count(&mut tx, "SELECT COUNT(*) FROM alert_definitions WHERE tenant_id = ?", tenant).await?;
        if existing + drafts.len() as i64 > quotas.max_definitions {
            return Err(StoreError::QuotaExceeded { entity: "AlertDefinitions", limit: quotas.max_definitions });
        }
        let mut created = Vec::with_capacity(drafts.len());
        let mut seq = 0;
        for draft in drafts {
            let definition = Self::insert_definition(&mut tx, tenant, draft, actor, ms(now)).await?;
            seq = record_change(&mut tx, tenant, "AlertDefinition", Some(definition.id), "create", ms(now)).await?;
            created.push(definition);
        }
        let changes = created.iter().cloned().map(Change::DefinitionUpserted).collect();
        self.commit(tx, tenant, seq, changes).await?;
        Ok(created)
    }

    async fn get_definition(&self, tenant: Uuid, id: i64) -> Result<Option<AlertDefinition>> {
        self.fetch_entity(&ALERT_DEFINITION, tenant, id).await?.map(typed).transpose()
    }

    async fn update_definition(
        &self,
        tenant: Uuid,
        id: i64,
        d: &DefinitionDraft,
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertDefinition>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "UPDATE alert_definitions SET name = ?, severity = ?, internal_description = ?, title = ?, ux_description = ?, \
             recommended_action = ?, category = ?, enabled = ?, last_modified_at = ?, last_modified_by = ? \
             WHERE tenant_id = ? AND id = ? RETURNING *",
        )
        .bind(&d.name)
        .bind(d.severity.as_str())
        .bind(&d.internal_description)
        .bind(&d.title)
        .bind(&d.ux_description)
        .bind(&d.recommended_action)
        .bind(d.category.as_str())
        .bind(d.enabled)
        .bind(ms(now))
        .bind(actor)
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let definition: AlertDefinition = typed(decode_row(&ALERT_DEFINITION, &row)?)?;
        let seq = record_change(&mut tx, tenant, "AlertDefinition", Some(id), "update", ms(now)).await?;
        self.commit(tx, tenant, seq, vec![Change::DefinitionUpserted(definition.clone())]).await?;
        Ok(Some(definition))
    }

    async fn delete_definition(&self, tenant: Uuid, id: i64) -> Result<bool> {
        self.delete_rows(&ALERT_DEFINITION, tenant, Some(id), Change::DefinitionDeleted(id)).await
    }

    async fn delete_all_definitions(&self, tenant: Uuid) -> Result<()> {
        self.delete_rows(&ALERT_DEFINITION, tenant, None, Change::DefinitionsCleared).await.map(|_| ())
    }

    async fn create_iocs(
        &self,
        tenant: Uuid,
        drafts: &[IocDraft],
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<IndicatorOfCompromise>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        Self::check_bindings(&mut tx, tenant, drafts).await?;
        let added_non_equals = drafts.iter().filter(|d| non_equals(d)).count() as i64;
        Self::check_ioc_quotas(&mut tx, tenant, drafts.len() as i64, added_non_equals).await?;
        // Many rows per statement: every statement is a round trip to SQLite's worker thread,
        // and one per row (two with the change log) made a 5000-IOC bulk upload cost ~0.5 s.
        let mut created = Vec::with_capacity(drafts.len());
        let mut seq = 0;
        for chunk in drafts.chunks(BULK_ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO indicators (tenant_id, alert_definition_id, ioc_type, value, detection_function, enabled, \
                 expires_at, created_at, created_by) ",
            );
            insert.push_values(chunk, |mut row, d| {
                row.push_bind(tenant.to_string())
                    .push_bind(d.alert_definition_id)
                    .push_bind(d.ioc_type.as_str())
                    .push_bind(&d.value)
                    .push_bind(d.detection_function.as_str())
                    .push_bind(d.enabled)
                    .push_bind(opt_ms(d.expires_at))
                    .push_bind(ms(now))
                    .push_bind(actor);
            });
            insert.push(" RETURNING *");
            let rows = insert.build().fetch_all(&mut *tx).await.map_err(backend)?;
            let mut iocs = rows
                .iter()
                .map(|row| typed::<IndicatorOfCompromise>(decode_row(&INDICATOR_OF_COMPROMISE, row)?))
                .collect::<Result<Vec<_>>>()?;
            // RETURNING gives no order; new ids grow in insertion order, which is request order.
            iocs.sort_unstable_by_key(|i| i.id);
            let mut log = sqlx::QueryBuilder::<Sqlite>::new("INSERT INTO changes (tenant_id, entity, entity_id, op, at) ");
            log.push_values(&iocs, |mut row, ioc| {
                row.push_bind(tenant.to_string())
                    .push_bind("IndicatorOfCompromise")
                    .push_bind(ioc.id)
                    .push_bind("create")
                    .push_bind(ms(now));
            });
            log.push(" RETURNING seq");
            let seqs: Vec<i64> = log.build_query_scalar::<i64>().fetch_all(&mut *tx).await.map_err(backend)?;
            seq = seqs.into_iter().max().unwrap_or(seq).max(seq);
            created.extend(iocs);
        }
        let changes = created.iter().cloned().map(Change::IocUpserted).collect();
        self.commit(tx, tenant, seq, changes).await?;
        Ok(created)
    }

    async fn get_ioc(&self, tenant: Uuid, id: i64) -> Result<Option<IndicatorOfCompromise>> {
        self.fetch_entity(&INDICATOR_OF_COMPROMISE, tenant, id).await?.map(typed).transpose()
    }

    async fn update_ioc(
        &self,
        tenant: Uuid,
        id: i64,
        d: &IocDraft,
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<IndicatorOfCompromise>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT detection_function FROM indicators WHERE tenant_id = ? AND id = ?")
                .bind(tenant.to_string())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let Some(current_function) = current else { return Ok(None) };
        Self::check_bindings(&mut tx, tenant, std::slice::from_ref(d)).await?;
        if non_equals(d) && current_function == DetectionFunction::Equals.as_str() {
            Self::check_ioc_quotas(&mut tx, tenant, 0, 1).await?;
        }
        let row = sqlx::query(
            "UPDATE indicators SET alert_definition_id = ?, ioc_type = ?, value = ?, detection_function = ?, enabled = ?, \
             expires_at = ?, last_modified_at = ?, last_modified_by = ? WHERE tenant_id = ? AND id = ? RETURNING *",
        )
        .bind(d.alert_definition_id)
        .bind(d.ioc_type.as_str())
        .bind(&d.value)
        .bind(d.detection_function.as_str())
        .bind(d.enabled)
        .bind(opt_ms(d.expires_at))
        .bind(ms(now))
        .bind(actor)
        .bind(tenant.to_string())
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let ioc: IndicatorOfCompromise = typed(decode_row(&INDICATOR_OF_COMPROMISE, &row)?)?;
        let seq = record_change(&mut tx, tenant, "IndicatorOfCompromise", Some(id), "update", ms(now)).await?;
        self.commit(tx, tenant, seq, vec![Change::IocUpserted(ioc.clone())]).await?;
        Ok(Some(ioc))
    }

    async fn delete_ioc(&self, tenant: Uuid, id: i64) -> Result<bool> {
        self.delete_rows(&INDICATOR_OF_COMPROMISE, tenant, Some(id), Change::IocDeleted(id)).await
    }

    async fn delete_all_iocs(&self, tenant: Uuid) -> Result<()> {
        self.delete_rows(&INDICATOR_OF_COMPROMISE, tenant, None, Change::IocsCleared).await.map(|_| ())
    }

    async fn delete_iocs_of_definition(&self, tenant: Uuid, definition_id: i64) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM alert_definitions WHERE tenant_id = ? AND id = ?")
            .bind(tenant.to_string())
            .bind(definition_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM indicators WHERE tenant_id = ? AND alert_definition_id = ?")
            .bind(tenant.to_string())
            .bind(definition_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let seq =
            record_change(&mut tx, tenant, "AlertDefinition", Some(definition_id), "delete-iocs", ms(Utc::now())).await?;
        self.commit(tx, tenant, seq, vec![Change::IocsOfDefinitionDeleted(definition_id)]).await?;
        Ok(true)
    }

    async fn query(&self, tenant: Uuid, query: &CheckedQuery, page_size: u64) -> Result<QueryPage> {
        crate::query::run_sqlite(&self.read, tenant, query, page_size).await
    }

    async fn record_hits(&self, tenant: Uuid, hits: &[Hit], now: DateTime<Utc>) -> Result<Vec<AlertUpdate>> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        // alert id → (created, row) in first-touched order
        let mut touched: Vec<(i64, bool)> = Vec::new();
        // (alert id, event index) already counted: an event that matches several IOCs of one
        // definition is one event of its alert.
        let mut counted: std::collections::HashSet<(i64, usize)> = std::collections::HashSet::new();
        for hit in hits {
            let window_start = ms(hit.event_time) - GROUPING_WINDOW_MS;
            let open: Option<SqliteRow> = sqlx::query(
                "SELECT * FROM alerts WHERE tenant_id = ? AND alert_definition_id = ? AND device_id = ? \
                 AND status <> 'Resolved' AND first_event_time > ? AND first_event_time <= ? + ? ORDER BY id DESC LIMIT 1",
            )
            .bind(tenant.to_string())
            .bind(hit.definition.id)
            .bind(&hit.device_id)
            .bind(window_start)
            .bind(ms(hit.event_time))
            .bind(GROUPING_WINDOW_MS)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            let evidence_item = serde_json::json!({
                "Field": hit.field, "Value": hit.observed, "IocId": hit.ioc_id, "Events": [hit.event.to_string()],
            });
            match open {
                Some(row) => {
                    let id: i64 = row.try_get("id").map_err(backend)?;
                    let mut ioc_ids: Vec<i64> =
                        serde_json::from_str(&row.try_get::<String, _>("ioc_ids").map_err(backend)?).unwrap_or_default();
                    if !ioc_ids.contains(&hit.ioc_id) {
                        ioc_ids.push(hit.ioc_id);
                    }
                    let mut evidence: Vec<Value> =
                        serde_json::from_str(&row.try_get::<String, _>("evidence").map_err(backend)?).unwrap_or_default();
                    if evidence.len() < MAX_EVIDENCE {
                        evidence.push(evidence_item);
                    }
                    let new_event = i64::from(counted.insert((id, hit.event_index)));
                    sqlx::query(
                        "UPDATE alerts SET event_count = event_count + ?, first_event_time = MIN(first_event_time, ?), \
                         last_event_time = MAX(last_event_time, ?), ioc_ids = ?, evidence = ?, device_name = COALESCE(device_name, ?) \
                         WHERE id = ?",
                    )
                    .bind(new_event)
                    .bind(ms(hit.event_time))
                    .bind(ms(hit.event_time))
                    .bind(serde_json::to_string(&ioc_ids).unwrap_or_else(|_| "[]".into()))
                    .bind(serde_json::to_string(&evidence).unwrap_or_else(|_| "[]".into()))
                    .bind(&hit.device_name)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if !touched.iter().any(|(t, _)| *t == id) {
                        touched.push((id, false));
                    }
                }
                None => {
                    let d = &hit.definition;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO alerts (tenant_id, alert_definition_id, title, description, recommended_action, severity, \
                         category, status, ioc_ids, device_id, device_name, first_event_time, last_event_time, event_count, \
                         ioc_name, ioc_value, ioc_unique_id, detection_source, evidence, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, 'New', ?, ?, ?, ?, ?, 1, ?, ?, ?, 'CustomerTI', ?, ?) RETURNING id",
                    )
                    .bind(tenant.to_string())
                    .bind(d.id)
                    .bind(&d.title)
                    .bind(&d.ux_description)
                    .bind(&d.recommended_action)
                    .bind(d.severity.as_str())
                    .bind(d.category.as_str())
                    .bind(serde_json::to_string(&[hit.ioc_id]).unwrap_or_else(|_| "[]".into()))
                    .bind(&hit.device_id)
                    .bind(&hit.device_name)
                    .bind(ms(hit.event_time))
                    .bind(ms(hit.event_time))
                    .bind(hit.ioc_type.as_str())
                    .bind(&hit.ioc_value)
                    .bind(hit.ioc_id)
                    .bind(serde_json::to_string(&[evidence_item]).unwrap_or_else(|_| "[]".into()))
                    .bind(ms(now))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    counted.insert((id, hit.event_index));
                    touched.push((id, true));
                }
            }
        }
        let mut updates = Vec::with_capacity(touched.len());
        for (id, created) in touched {
            let row = sqlx::query("SELECT * FROM alerts WHERE id = ?").bind(id).fetch_one(&mut *tx).await.map_err(backend)?;
            updates.push(AlertUpdate { created, alert: decode_row(&ALERT, &row)? });
        }
        tx.commit().await.map_err(backend)?;
        Ok(updates)
    }

    async fn record_telemetry_stats(&self, tenant: Uuid, devices: &[DeviceSeen], sightings: &[Sighting]) -> Result<()> {
        if devices.is_empty() && sightings.is_empty() {
            return Ok(());
        }
        // Many rows a statement: each statement is a hand-off to sqlx's SQLite thread, and
        // this transaction holds the one write lock that alerts wait for.
        let tenant = tenant.to_string();
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        for chunk in devices.chunks(STATS_ROWS_PER_STATEMENT) {
            let mut upsert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO devices (tenant_id, device_id, device_name, first_seen, last_seen, event_count) ",
            );
            upsert.push_values(chunk, |mut row, d| {
                row.push_bind(&tenant)
                    .push_bind(&d.device_id)
                    .push_bind(&d.device_name)
                    .push_bind(ms(d.first_seen))
                    .push_bind(ms(d.last_seen))
                    .push_bind(d.events);
            });
            // Rows of one statement naming the same device are applied in turn: they add up too.
            upsert.push(
                " ON CONFLICT (tenant_id, device_id) DO UPDATE SET device_name = COALESCE(excluded.device_name, devices.device_name), \
                 first_seen = MIN(devices.first_seen, excluded.first_seen), last_seen = MAX(devices.last_seen, excluded.last_seen), \
                 event_count = devices.event_count + excluded.event_count",
            );
            upsert.build().execute(&mut *tx).await.map_err(backend)?;
        }
        // One row per IOC: an UPDATE … FROM applies only one of several rows that join the
        // same target row.
        let mut merged: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
        for s in sightings {
            let entry = merged.entry(s.ioc_id).or_insert((0, i64::MIN));
            entry.0 += s.hits;
            entry.1 = entry.1.max(ms(s.last_seen));
        }
        let merged: Vec<(i64, (i64, i64))> = merged.into_iter().collect();
        for chunk in merged.chunks(STATS_ROWS_PER_STATEMENT) {
            // Deliberately not a change-feed event: hit counts do not alter detection.
            let mut update = sqlx::QueryBuilder::<Sqlite>::new(
                "UPDATE indicators SET hit_count = indicators.hit_count + v.column2, \
                 last_seen_at = MAX(COALESCE(indicators.last_seen_at, 0), v.column3) FROM (",
            );
            update.push_values(chunk, |mut row, (id, (hits, last_seen))| {
                row.push_bind(*id).push_bind(*hits).push_bind(*last_seen);
            });
            update.push(") AS v WHERE indicators.id = v.column1 AND indicators.tenant_id = ").push_bind(&tenant);
            update.build().execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn get_alert(&self, tenant: Uuid, id: i64) -> Result<Option<Map<String, Value>>> {
        self.fetch_entity(&ALERT, tenant, id).await
    }

    async fn update_alert(
        &self,
        tenant: Uuid,
        id: i64,
        patch: &AlertPatch,
        actor: Actor<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Map<String, Value>>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin().await?;
        let Some(row) = sqlx::query("SELECT * FROM alerts WHERE tenant_id = ? AND id = ?")
            .bind(tenant.to_string())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let status: String = match patch.status {
            Some(s) => s.as_str().to_string(),
            None => row.try_get("status").map_err(backend)?,
        };
        let classification: Option<String> = match patch.classification {
            Some(c) => c.map(|c| c.as_str().to_string()),
            None => row.try_get("classification").map_err(backend)?,
        };
        let assigned_to: Option<String> = match &patch.assigned_to {
            Some(a) => a.clone(),
            None => row.try_get("assigned_to").map_err(backend)?,
        };
        let row = sqlx::query(
            "UPDATE alerts SET status = ?, classification = ?, assigned_to = ?, last_modified_at = ?, last_modified_by = ? \
             WHERE id = ? RETURNING *",
        )
        .bind(status)
        .bind(classification)
        .bind(assigned_to)
        .bind(ms(now))
        .bind(actor)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let alert = decode_row(&ALERT, &row)?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(alert))
    }

    async fn alerts_after(&self, tenant: Uuid, after: i64, limit: i64) -> Result<Vec<Map<String, Value>>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?")
            .bind(tenant.to_string())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(backend)?;
        rows.iter().map(|r| decode_row(&ALERT, r)).collect()
    }

    async fn detection_snapshot(&self) -> Result<DetectionSnapshot> {
        // One read transaction, so the content and the sequence agree.
        let mut tx = self.read.begin().await.map_err(backend)?;
        let seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes").fetch_one(&mut *tx).await.map_err(backend)?;
        let mut tenants: Vec<TenantContent> = Vec::new();
        let mut position: std::collections::HashMap<String, usize> = Default::default();
        let tenant_ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM tenants ORDER BY id").fetch_all(&mut *tx).await.map_err(backend)?;
        for id in tenant_ids {
            let tenant_id = Uuid::parse_str(&id).map_err(|e| StoreError::Backend(e.to_string()))?;
            position.insert(id, tenants.len());
            tenants.push(TenantContent { tenant_id, ..Default::default() });
        }
        for row in sqlx::query("SELECT * FROM alert_definitions").fetch_all(&mut *tx).await.map_err(backend)? {
            let tenant: String = row.try_get("tenant_id").map_err(backend)?;
            if let Some(&at) = position.get(&tenant) {
                tenants[at].definitions.push(typed(decode_row(&ALERT_DEFINITION, &row)?)?);
            }
        }
        // The IOCs in chunks of ids, each chunk one row holding a JSON array: a row fetched
        // through sqlx is a hand-off from its SQLite thread, too slow a million times over.
        // A chunk is decoded on a blocking thread while SQLite builds the next one.
        let position = std::sync::Arc::new(position);
        let mut after = 0i64;
        let mut decoding: Option<tokio::task::JoinHandle<Result<Vec<(usize, DetectionIoc)>>>> = None;
        loop {
            let (chunk, count, max_id): (Option<String>, i64, Option<i64>) = sqlx::query_as(
                "SELECT json_group_array(json_array(id, tenant_id, alert_definition_id, ioc_type, detection_function, value, \
                 enabled, expires_at)), COUNT(*), MAX(id) FROM (SELECT id, tenant_id, alert_definition_id, ioc_type, \
                 detection_function, value, enabled, expires_at FROM indicators WHERE id > ? ORDER BY id LIMIT ?)",
            )
            .bind(after)
            .bind(self.snapshot_chunk)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(previous) = decoding.take() {
                distribute(&mut tenants, previous.await.map_err(|e| StoreError::Backend(e.to_string()))??);
            }
            let (Some(chunk), Some(max_id)) = (chunk, max_id) else { break };
            let position = position.clone();
            decoding = Some(tokio::task::spawn_blocking(move || decode_snapshot_chunk(&chunk, &position)));
            if count < self.snapshot_chunk {
                break;
            }
            after = max_id;
        }
        if let Some(last) = decoding.take() {
            distribute(&mut tenants, last.await.map_err(|e| StoreError::Backend(e.to_string()))??);
        }
        Ok(DetectionSnapshot { seq, tenants })
    }

    fn feed(&self) -> &ChangeFeed {
        &self.feed
    }
}

async fn insert_secret(tx: &mut Transaction<'_, Sqlite>, s: &SecretRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_secrets (id, tenant_id, client_id, description, hash, hint, created_at, expires_at, revoked_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(s.id.to_string())
    .bind(s.tenant_id.to_string())
    .bind(s.client_id.to_string())
    .bind(&s.description)
    .bind(&s.hash)
    .bind(&s.hint)
    .bind(ms(s.created_at))
    .bind(opt_ms(s.expires_at))
    .bind(opt_ms(s.revoked_at))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conformance suite again, with snapshot chunks so small that every tenant's IOCs
    /// span several of them.
    #[tokio::test]
    async fn conformance_with_small_snapshot_chunks() {
        let mut store = SqliteStore::in_memory().await.expect("in-memory store");
        store.snapshot_chunk = 7;
        crate::conformance::run_all(std::sync::Arc::new(store)).await;
    }
}
