//! Tenants, applications and their secrets: the operations the CLI and the portal share.
//! Secrets are generated here, shown to the caller once, and stored only as argon2id hashes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use openti_auth::{generate_client_secret, hash_secret, ROLE_TI_READWRITE};
use openti_store::{App, Quotas, SecretRecord, Store, StoreError, Tenant};
use serde::Serialize;
use uuid::Uuid;

/// Name of every tenant's custom TI application (as the original portal named it).
pub const CUSTOM_TI_APP_NAME: &str = "Custom TI application";

/// The resource clients of the original API asked tokens for.
pub const DEFAULT_RESOURCE: &str = "https://graph.windows.net";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no tenant named or with id '{0}'")]
    UnknownTenant(String),
    #[error("no application with client id {0} in this tenant")]
    UnknownApp(Uuid),
    #[error(
        "the custom TI application of tenant '{0}' is already enabled; add a secret with \
         `openti app secret add --tenant {0} --client-id <client id>`"
    )]
    AlreadyEnabled(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a new secret stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretValidity {
    Years(u32),
    /// Until a given instant (RFC 3339), e.g. to match a rotation schedule.
    Until(DateTime<Utc>),
    Never,
}

impl std::str::FromStr for SecretValidity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        if s == "never" {
            return Ok(SecretValidity::Never);
        }
        if let Ok(until) = DateTime::parse_from_rfc3339(&s.to_ascii_uppercase()) {
            return Ok(SecretValidity::Until(until.with_timezone(&Utc)));
        }
        let years = s.strip_suffix('y').and_then(|n| n.parse::<u32>().ok()).filter(|n| (1..=10).contains(n));
        years.map(SecretValidity::Years).ok_or_else(|| format!("'{s}' is not a validity; use 1y, 2y, never or an RFC 3339 time"))
    }
}

impl SecretValidity {
    pub fn expiry(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            SecretValidity::Never => None,
            SecretValidity::Until(t) => Some(t),
            SecretValidity::Years(n) => Some(now + Duration::days(365 * i64::from(n))),
        }
    }
}

/// What enabling the custom TI application shows, once (SPEC A.1; the CLI's `--json` keys).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomTiDetails {
    pub tenant_id: Uuid,
    pub application_name: String,
    pub client_id: Uuid,
    pub client_secret: String,
    pub authorization_url: String,
    pub resource: String,
    pub api_url: String,
}

/// A new application with its first secret, shown once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppCredentials {
    pub tenant_id: Uuid,
    pub client_id: Uuid,
    pub client_secret: String,
    pub roles: Vec<String>,
}

/// A secret just added: the plain value is in here and nowhere else.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewSecret {
    pub secret_id: Uuid,
    pub client_id: Uuid,
    pub client_secret: String,
    pub description: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The leading characters of a secret kept in clear, so the token endpoint only runs argon2
/// on the secrets that can match and an admin can tell secrets apart.
pub fn secret_hint(secret: &str) -> String {
    secret.chars().take(6).collect()
}

fn secret_record(tenant: Uuid, client_id: Uuid, description: &str, secret: &str, now: DateTime<Utc>, validity: SecretValidity) -> SecretRecord {
    SecretRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        client_id,
        description: description.to_string(),
        hash: hash_secret(secret),
        hint: secret_hint(secret),
        created_at: now,
        expires_at: validity.expiry(now),
        revoked_at: None,
    }
}

/// The identity operations over a store.
#[derive(Clone)]
pub struct Identity {
    pub store: Arc<dyn Store>,
    /// The service's public base URL, without a trailing slash.
    pub public_url: String,
}

impl Identity {
    pub async fn tenant(&self, id_or_name: &str) -> Result<Tenant, IdentityError> {
        self.store.find_tenant(id_or_name).await?.ok_or_else(|| IdentityError::UnknownTenant(id_or_name.to_string()))
    }

    pub async fn create_tenant(&self, name: &str, now: DateTime<Utc>) -> Result<Tenant, IdentityError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && Uuid::parse_str(name).is_err();
        if !valid {
            return Err(IdentityError::Invalid(format!(
                "'{name}' is not a valid tenant name: use 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        Ok(self.store.create_tenant(name, Quotas::default(), now).await?)
    }

    pub fn authorization_url(&self, tenant: Uuid) -> String {
        format!("{}/{}/oauth2/token", self.public_url, tenant)
    }

    pub fn api_url(&self) -> String {
        format!("{}/V1.0/", self.public_url)
    }

    /// Enables the tenant's custom TI application, returning its details with the secret.
    pub async fn enable_custom_ti(&self, tenant: &Tenant, now: DateTime<Utc>) -> Result<CustomTiDetails, IdentityError> {
        if self.store.custom_ti_app(tenant.id).await?.is_some() {
            return Err(IdentityError::AlreadyEnabled(tenant.name.clone()));
        }
        let app = App {
            client_id: Uuid::new_v4(),
            tenant_id: tenant.id,
            name: CUSTOM_TI_APP_NAME.to_string(),
            roles: vec![ROLE_TI_READWRITE.to_string()],
            is_custom_ti: true,
            created_at: now,
        };
        let secret = generate_client_secret();
        let record = secret_record(tenant.id, app.client_id, "Created when the application was enabled", &secret, now, SecretValidity::Years(2));
        self.store.create_app(&app, &record).await.map_err(|e| match e {
            StoreError::Conflict(_) => IdentityError::AlreadyEnabled(tenant.name.clone()),
            other => other.into(),
        })?;
        Ok(self.details(tenant, &app, secret))
    }

    /// The details of an enabled application, with a given secret.
    pub fn details(&self, tenant: &Tenant, app: &App, client_secret: String) -> CustomTiDetails {
        CustomTiDetails {
            tenant_id: tenant.id,
            application_name: app.name.clone(),
            client_id: app.client_id,
            client_secret,
            authorization_url: self.authorization_url(tenant.id),
            resource: DEFAULT_RESOURCE.to_string(),
            api_url: self.api_url(),
        }
    }

    /// Creates another application (e.g. a sensor with `Telemetry.Ingest`).
    pub async fn create_app(&self, tenant: &Tenant, name: &str, roles: Vec<String>, now: DateTime<Utc>) -> Result<AppCredentials, IdentityError> {
        const KNOWN_ROLES: [&str; 2] = [openti_auth::ROLE_TI_READWRITE, openti_auth::ROLE_TELEMETRY_INGEST];
        if let Some(unknown) = roles.iter().find(|r| !KNOWN_ROLES.contains(&r.as_str())) {
            return Err(IdentityError::Invalid(format!("unknown role '{unknown}'; known roles: {}", KNOWN_ROLES.join(", "))));
        }
        if name.trim().is_empty() || name.len() > 100 {
            return Err(IdentityError::Invalid("the application name must be 1-100 characters".into()));
        }
        let app = App { client_id: Uuid::new_v4(), tenant_id: tenant.id, name: name.to_string(), roles: roles.clone(), is_custom_ti: false, created_at: now };
        let secret = generate_client_secret();
        let record = secret_record(tenant.id, app.client_id, "Created with the application", &secret, now, SecretValidity::Years(2));
        self.store.create_app(&app, &record).await?;
        Ok(AppCredentials { tenant_id: tenant.id, client_id: app.client_id, client_secret: secret, roles })
    }

    async fn app_of(&self, tenant: &Tenant, client_id: Uuid) -> Result<App, IdentityError> {
        match self.store.find_app(client_id).await? {
            Some(app) if app.tenant_id == tenant.id => Ok(app),
            _ => Err(IdentityError::UnknownApp(client_id)),
        }
    }

    pub async fn add_secret(
        &self,
        tenant: &Tenant,
        client_id: Uuid,
        description: &str,
        validity: SecretValidity,
        now: DateTime<Utc>,
    ) -> Result<NewSecret, IdentityError> {
        self.app_of(tenant, client_id).await?;
        if description.chars().count() > 200 {
            return Err(IdentityError::Invalid("the description is longer than 200 characters".into()));
        }
        let secret = generate_client_secret();
        let record = secret_record(tenant.id, client_id, description, &secret, now, validity);
        self.store.add_secret(&record).await?;
        Ok(NewSecret { secret_id: record.id, client_id, client_secret: secret, description: record.description, expires_at: record.expires_at })
    }

    pub async fn list_secrets(&self, tenant: &Tenant, client_id: Uuid) -> Result<Vec<SecretRecord>, IdentityError> {
        self.app_of(tenant, client_id).await?;
        Ok(self.store.list_secrets(tenant.id, client_id).await?)
    }

    pub async fn revoke_secret(&self, tenant: &Tenant, client_id: Uuid, secret_id: Uuid, now: DateTime<Utc>) -> Result<(), IdentityError> {
        self.app_of(tenant, client_id).await?;
        if self.store.revoke_secret(tenant.id, client_id, secret_id, now).await? {
            Ok(())
        } else {
            Err(IdentityError::Invalid(format!("no active secret {secret_id} for client {client_id}")))
        }
    }

    /// Checks client credentials: the app must belong to `tenant` and the secret must match
    /// one of its valid secrets. Runs argon2 on a blocking thread.
    pub async fn authenticate_client(&self, tenant: &Tenant, client_id: Uuid, secret: &str, now: DateTime<Utc>) -> Result<Option<App>, IdentityError> {
        let app = match self.store.find_app(client_id).await? {
            Some(app) if app.tenant_id == tenant.id => app,
            _ => {
                // Spend the same time as a real check so timing does not reveal which client ids exist.
                let secret = secret.to_string();
                let _ = tokio::task::spawn_blocking(move || openti_auth::dummy_verify(&secret)).await;
                return Ok(None);
            }
        };
        let hint = secret_hint(secret);
        let candidates: Vec<String> = self
            .store
            .list_secrets(tenant.id, client_id)
            .await?
            .into_iter()
            .filter(|s| s.is_valid_at(now) && s.hint == hint)
            .map(|s| s.hash)
            .collect();
        let secret = secret.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            if candidates.is_empty() {
                openti_auth::dummy_verify(&secret);
                return false;
            }
            candidates.iter().any(|hash| openti_auth::verify_secret(&secret, hash))
        })
        .await
        .unwrap_or(false);
        Ok(matched.then_some(app))
    }
}
