//! What every handler shares: the store, the key ring, the clock, configuration and caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::Duration;
use openti_auth::{generate_signing_key, Clock, FailureLimiter, KeyRing, SigningKey};
use openti_odata::QueryLimits;
use openti_store::{SigningKeyRecord, Store, StoreError};
use uuid::Uuid;

use crate::identity::Identity;
use crate::telemetry_stats::TelemetryStats;

/// Server configuration (the CLI's `serve` flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Public base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// Token audiences the API accepts.
    pub accepted_audiences: Vec<String>,
    pub token_lifetime: Duration,
    /// Largest API request body.
    pub max_body_bytes: usize,
    /// Largest telemetry request body (decompressed).
    pub max_ingest_bytes: usize,
    pub query_limits: QueryLimits,
    /// How often device sightings and IOC hit counts gathered from telemetry are written to
    /// the store (reads that show them write their tenant's first).
    pub stats_flush_interval: std::time::Duration,
}

impl Config {
    pub fn new(public_url: &str) -> Self {
        let public_url = public_url.trim_end_matches('/').to_string();
        Config {
            accepted_audiences: vec![
                "https://graph.windows.net".into(),
                "https://graph.microsoft.com".into(),
                public_url.clone(),
            ],
            public_url,
            token_lifetime: Duration::minutes(60),
            max_body_bytes: 8 * 1024 * 1024,
            max_ingest_bytes: 64 * 1024 * 1024,
            query_limits: QueryLimits::default(),
            stats_flush_interval: std::time::Duration::from_secs(1),
        }
    }

    /// The OData service root, `{public_url}/V1.0/`.
    pub fn service_root(&self) -> String {
        format!("{}/V1.0/", self.public_url)
    }
}

/// A known application: what the API needs to know of a caller beyond its token.
#[derive(Debug, Clone)]
pub struct KnownApp {
    pub tenant_id: Uuid,
    pub name: String,
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub identity: Identity,
    pub keys: ArcSwap<KeyRing>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    /// Brakes repeated token endpoint failures per client id.
    pub token_failures: FailureLimiter,
    /// Brakes repeated token endpoint failures per source address; looser than per client,
    /// since many clients may share an address (a NAT, a proxy).
    pub source_failures: FailureLimiter,
    /// Applications seen in valid tokens (apps are never deleted, so entries stay true).
    pub apps: Mutex<HashMap<Uuid, KnownApp>>,
    pub detection: Option<Arc<crate::detection::Detection>>,
    /// Device sightings and IOC hit counts not yet written.
    pub stats: Arc<TelemetryStats>,
}

pub type SharedState = Arc<AppState>;

fn to_record(k: &SigningKey) -> SigningKeyRecord {
    SigningKeyRecord { kid: k.kid.clone(), private_pem: k.private_pem.clone(), created_at: k.created_at }
}

fn from_record(r: SigningKeyRecord) -> SigningKey {
    SigningKey { kid: r.kid, private_pem: r.private_pem, created_at: r.created_at }
}

/// Loads the signing keys, creating the first one on a new store.
pub async fn load_key_ring(store: &dyn Store, clock: &dyn Clock) -> Result<KeyRing, StoreError> {
    let mut keys: Vec<SigningKey> = store.signing_keys().await?.into_iter().map(from_record).collect();
    if keys.is_empty() {
        let key = generate_signing_key(clock.now()).map_err(|e| StoreError::Backend(e.to_string()))?;
        store.add_signing_key(&to_record(&key)).await?;
        keys.push(key);
    }
    KeyRing::new(keys).map_err(|e| StoreError::Backend(e.to_string()))
}

/// Adds a new signing key; the old ones keep verifying the tokens they signed.
pub async fn rotate_signing_key(store: &dyn Store, clock: &dyn Clock) -> Result<String, StoreError> {
    let key = generate_signing_key(clock.now()).map_err(|e| StoreError::Backend(e.to_string()))?;
    store.add_signing_key(&to_record(&key)).await?;
    Ok(key.kid)
}

impl AppState {
    pub async fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Result<Self, StoreError> {
        let ring = load_key_ring(store.as_ref(), clock.as_ref()).await?;
        Ok(AppState {
            identity: Identity { store: store.clone(), public_url: config.public_url.clone() },
            stats: Arc::new(TelemetryStats::new(store.clone())),
            store,
            keys: ArcSwap::from_pointee(ring),
            clock,
            config,
            token_failures: FailureLimiter::new(10, Duration::minutes(5), Duration::minutes(1)),
            source_failures: FailureLimiter::new(100, Duration::minutes(5), Duration::minutes(1)),
            apps: Mutex::new(HashMap::new()),
            detection: None,
        })
    }

    /// Reloads the key ring from the store (after `openti key rotate` on a running server).
    pub async fn reload_keys(&self) -> Result<(), StoreError> {
        let ring = load_key_ring(self.store.as_ref(), self.clock.as_ref()).await?;
        self.keys.store(Arc::new(ring));
        Ok(())
    }

    /// Reloads the key ring if the store's keys differ from it: `openti key rotate` runs in
    /// another process, and new tokens must be signed with (and the JWKS must publish) the
    /// key it added. Costs one small query; the ring is rebuilt only after a rotation.
    pub async fn refresh_keys(&self) -> Result<(), StoreError> {
        let stored = self.store.signing_keys().await?;
        let ring = self.keys.load();
        let same = stored.len() == ring.kids().count() && stored.iter().all(|k| ring.kids().any(|kid| kid == k.kid));
        if same {
            return Ok(());
        }
        self.reload_keys().await
    }
}
