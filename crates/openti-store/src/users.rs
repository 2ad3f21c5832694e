//! What the portal keeps besides the custom TI data: its users (argon2id password hashes,
//! never passwords), their sign-in sessions (only the SHA-256 of the cookie value), and the
//! aggregate reads of the dashboard that OData cannot express (group-by counts).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openti_model::timestamp_from_millis;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use crate::sqlite::{backend, SqliteStore};
use crate::{Result, StoreError};

/// What a portal user may do: an admin everything, an analyst triage alerts and read
/// detection content, never manage applications or secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Analyst,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            other => Err(format!("'{other}' is not a role; use admin or analyst")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A portal user of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub role: Role,
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// Set for a one-time password: the user must choose a new one before anything else.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
}

/// A signed-in browser. The cookie carries a random 256-bit value; the store keeps its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie value, lower-case hex.
    pub id_hash: String,
    pub user_id: Uuid,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Alerts raised on one UTC day with one severity.
#[derive(Debug, Clone, PartialEq)]
pub struct DayCount {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub severity: String,
    pub count: i64,
}

/// A definition or a device with its number of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub key: String,
    pub label: Option<String>,
    pub alerts: i64,
    pub events: i64,
}

/// IOCs of one type: all of them, and those whose function is not Equals (the smaller quota).
#[derive(Debug, Clone, PartialEq)]
pub struct TypeCount {
    pub ioc_type: String,
    pub count: i64,
    pub non_equals: i64,
}

/// What the dashboard shows, for alerts created at or after `since`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardStats {
    pub alerts_per_day: Vec<DayCount>,
    pub top_definitions: Vec<Ranked>,
    pub top_devices: Vec<Ranked>,
    pub iocs_by_type: Vec<TypeCount>,
    pub definitions: i64,
    /// Alerts by status, over all time.
    pub alerts_by_status: Vec<(String, i64)>,
}

/// Users, sessions and the dashboard's aggregates. Every method is one statement or one
/// transaction.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; `Conflict` when the e-mail address is taken (in any tenant).
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    /// Finds a user by e-mail address, case-insensitively.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>>;
    async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>>;
    async fn list_users(&self, tenant: Uuid) -> Result<Vec<UserRecord>>;
    /// Replaces a password hash. False when the user does not exist.
    async fn set_password(&self, user: Uuid, password_hash: &str, must_change: bool, now: DateTime<Utc>) -> Result<bool>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    /// The unexpired session with this id hash, and its user.
    async fn find_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<(SessionRecord, UserRecord)>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;
    /// Ends every session of a user except `keep` (after a password change).
    async fn delete_user_sessions(&self, user: Uuid, keep: Option<&str>) -> Result<()>;
    /// Forgets expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64>;

    /// The dashboard's counts for one tenant.
    async fn dashboard_stats(&self, tenant: Uuid, since: DateTime<Utc>) -> Result<DashboardStats>;
}

fn uuid_column(row: &SqliteRow, column: &str) -> Result<Uuid> {
    let text: String = row.try_get(column).map_err(backend)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Backend(format!("{column}: {e}")))
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord> {
    let role: String = row.try_get("role").map_err(backend)?;
    Ok(UserRecord {
        id: uuid_column(row, "id")?,
        tenant_id: uuid_column(row, "tenant_id")?,
        email: row.try_get("email").map_err(backend)?,
        role: role.parse().map_err(StoreError::Backend)?,
        password_hash: row.try_get("password_hash").map_err(backend)?,
        must_change_password: row.try_get("must_change_password").map_err(backend)?,
        created_at: timestamp_from_millis(row.try_get("created_at").map_err(backend)?),
    })
}

const USER_COLUMNS: &str = "u.id, u.tenant_id, u.email, u.role, u.password_hash, u.must_change_password, u.created_at";

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, role, password_hash, must_change_password, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(user.tenant_id.to_string())
        .bind(&user.email)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(user.must_change_password)
        .bind(user.created_at.timestamp_millis())
        .execute(&self.write)
        .await
        .map_err(|e| match backend(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("a user with the e-mail address '{}'", user.email)),
            other => other,
        })?;
        Ok(())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = ? COLLATE NOCASE");
        let row = sqlx::query(&sql).bind(email.trim()).fetch_optional(&self.read).await.map_err(backend)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.read).await.map_err(backend)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, tenant: Uuid) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = ? ORDER BY u.email");
        let rows = sqlx::query(&sql).bind(tenant.to_string()).fetch_all(&self.read).await.map_err(backend)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_password(&self, user: Uuid, password_hash: &str, must_change: bool, now: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = ?, must_change_password = ?, password_changed_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(must_change)
            .bind(now.timestamp_millis())
            .bind(user.to_string())
            .execute(&self.write)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&session.id_hash)
            .bind(session.user_id.to_string())
            .bind(&session.csrf_token)
            .bind(session.created_at.timestamp_millis())
            .bind(session.expires_at.timestamp_millis())
            .execute(&self.write)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn find_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<(SessionRecord, UserRecord)>> {
        let sql = format!(
            "SELECT s.id_hash, s.user_id, s.csrf_token, s.created_at AS s_created, s.expires_at, {USER_COLUMNS} \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ?"
        );
        let row = sqlx::query(&sql).bind(id_hash).bind(now.timestamp_millis()).fetch_optional(&self.read).await.map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let session = SessionRecord {
            id_hash: row.try_get("id_hash").map_err(backend)?,
            user_id: uuid_column(&row, "user_id")?,
            csrf_token: row.try_get("csrf_token").map_err(backend)?,
            created_at: timestamp_from_millis(row.try_get("s_created").map_err(backend)?),
            expires_at: timestamp_from_millis(row.try_get("expires_at").map_err(backend)?),
        };
        Ok(Some((session, user_from_row(&row)?)))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?").bind(id_hash).execute(&self.write).await.map_err(backend)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user: Uuid, keep: Option<&str>) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND id_hash <> ?")
            .bind(user.to_string())
            .bind(keep.unwrap_or(""))
            .execute(&self.write)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now.timestamp_millis())
            .execute(&self.write)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn dashboard_stats(&self, tenant: Uuid, since: DateTime<Utc>) -> Result<DashboardStats> {
        const DAY_MS: i64 = 86_400_000;
        let tenant = tenant.to_string();
        let since = since.timestamp_millis();
        let pool = &self.read;

        let rows = sqlx::query(
            "SELECT created_at / ? AS day, severity, COUNT(*) AS n FROM alerts \
             WHERE tenant_id = ? AND created_at >= ? GROUP BY day, severity ORDER BY day",
        )
        .bind(DAY_MS)
        .bind(&tenant)
        .bind(since)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        let alerts_per_day = rows
            .iter()
            .map(|r| {
                Ok(DayCount {
                    day: r.try_get("day").map_err(backend)?,
                    severity: r.try_get("severity").map_err(backend)?,
                    count: r.try_get("n").map_err(backend)?,
                })
            })
            .collect::<Result<_>>()?;

        let ranked = |rows: Vec<SqliteRow>| -> Result<Vec<Ranked>> {
            rows.iter()
                .map(|r| {
                    Ok(Ranked {
                        key: r.try_get("k").map_err(backend)?,
                        label: r.try_get("label").map_err(backend)?,
                        alerts: r.try_get("n").map_err(backend)?,
                        events: r.try_get("events").map_err(backend)?,
                    })
                })
                .collect()
        };
        let top_definitions = ranked(
            sqlx::query(
                "SELECT CAST(alert_definition_id AS TEXT) AS k, MAX(title) AS label, COUNT(*) AS n, SUM(event_count) AS events \
                 FROM alerts WHERE tenant_id = ? AND created_at >= ? GROUP BY alert_definition_id ORDER BY n DESC, events DESC LIMIT 5",
            )
            .bind(&tenant)
            .bind(since)
            .fetch_all(pool)
            .await
            .map_err(backend)?,
        )?;
        let top_devices = ranked(
            sqlx::query(
                "SELECT device_id AS k, MAX(device_name) AS label, COUNT(*) AS n, SUM(event_count) AS events \
                 FROM alerts WHERE tenant_id = ? AND created_at >= ? GROUP BY device_id ORDER BY n DESC, events DESC LIMIT 5",
            )
            .bind(&tenant)
            .bind(since)
            .fetch_all(pool)
            .await
            .map_err(backend)?,
        )?;

        let rows = sqlx::query(
            "SELECT ioc_type, COUNT(*) AS n, SUM(CASE WHEN detection_function <> 'Equals' THEN 1 ELSE 0 END) AS non_equals \
             FROM indicators WHERE tenant_id = ? GROUP BY ioc_type",
        )
        .bind(&tenant)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        let iocs_by_type = rows
            .iter()
            .map(|r| {
                Ok(TypeCount {
                    ioc_type: r.try_get("ioc_type").map_err(backend)?,
                    count: r.try_get("n").map_err(backend)?,
                    non_equals: r.try_get("non_equals").map_err(backend)?,
                })
            })
            .collect::<Result<_>>()?;

        let definitions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alert_definitions WHERE tenant_id = ?")
            .bind(&tenant)
            .fetch_one(pool)
            .await
            .map_err(backend)?;
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM alerts WHERE tenant_id = ? GROUP BY status")
            .bind(&tenant)
            .fetch_all(pool)
            .await
            .map_err(backend)?;
        let alerts_by_status = rows
            .iter()
            .map(|r| Ok((r.try_get("status").map_err(backend)?, r.try_get("n").map_err(backend)?)))
            .collect::<Result<_>>()?;

        Ok(DashboardStats { alerts_per_day, top_definitions, top_devices, iocs_by_type, definitions, alerts_by_status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quotas, Store};
    use chrono::Duration;

    async fn store_with_tenant() -> (SqliteStore, Uuid) {
        let store = SqliteStore::in_memory().await.unwrap();
        let tenant = store.create_tenant("t", Quotas::default(), Utc::now()).await.unwrap();
        (store, tenant.id)
    }

    fn user(tenant: Uuid, email: &str) -> UserRecord {
        UserRecord {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            email: email.into(),
            role: Role::Analyst,
            password_hash: "$argon2id$fake".into(),
            must_change_password: true,
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn emails_are_unique_in_any_case_and_found_in_any_case() {
        let (store, tenant) = store_with_tenant().await;
        store.create_user(&user(tenant, "Ann@Example.org")).await.unwrap();
        assert!(matches!(store.create_user(&user(tenant, "ann@example.org")).await, Err(StoreError::Conflict(_))));
        let found = store.find_user_by_email(" ANN@example.ORG ").await.unwrap().unwrap();
        assert_eq!(found.role, Role::Analyst);
        assert!(found.must_change_password);
        assert_eq!(store.list_users(tenant).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn sessions_expire_and_end_with_a_password_change() {
        let (store, tenant) = store_with_tenant().await;
        let u = user(tenant, "a@b.c");
        store.create_user(&u).await.unwrap();
        let now = Utc::now();
        for (hash, ttl) in [("h1", 60), ("h2", 60), ("old", -1)] {
            let s = SessionRecord {
                id_hash: hash.into(),
                user_id: u.id,
                csrf_token: "c".into(),
                created_at: now,
                expires_at: now + Duration::minutes(ttl),
            };
            store.create_session(&s).await.unwrap();
        }
        let (s, found) = store.find_session("h1", now).await.unwrap().unwrap();
        assert_eq!((s.user_id, found.email.as_str()), (u.id, "a@b.c"));
        assert!(store.find_session("old", now).await.unwrap().is_none());
        assert_eq!(store.delete_expired_sessions(now).await.unwrap(), 1);
        assert!(store.set_password(u.id, "$argon2id$new", false, now).await.unwrap());
        store.delete_user_sessions(u.id, Some("h1")).await.unwrap();
        assert!(store.find_session("h2", now).await.unwrap().is_none());
        let (_, changed) = store.find_session("h1", now).await.unwrap().unwrap();
        assert!(!changed.must_change_password);
        store.delete_session("h1").await.unwrap();
        assert!(store.find_session("h1", now).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn dashboard_of_an_empty_tenant_is_empty() {
        let (store, tenant) = store_with_tenant().await;
        let stats = store.dashboard_stats(tenant, Utc::now() - Duration::days(14)).await.unwrap();
        assert_eq!(stats, DashboardStats::default());
    }
}
