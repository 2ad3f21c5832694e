//! The detection engine of one node: it keeps the matcher index in step with the store's
//! change feed, matches ingested events, records alerts and publishes them to live streams.
//!
//! The matcher learns of definition and IOC changes only from the feed. An ingest request
//! first waits until the engine has applied every change committed before it started
//! ([`Detection::catch_up`]), which is what makes an API write effective for the very next
//! event with no polling interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use openti_detect::matcher::{IndexChange, IndexedDefinition, IndexedIoc, Match, Matcher, TenantIndex};
use openti_model::AlertDefinition;
use openti_store::{AlertUpdate, Change, ChangeBatch, DetectionIoc, Store, StoreError};
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::state::SharedState;

/// How long an ingest request waits for the matcher to catch up before it matches anyway
/// (only reached if the feed consumer is stuck; logged loudly).
const CATCH_UP_LIMIT: Duration = Duration::from_secs(5);

/// An alert created or changed, for live streams.
#[derive(Debug, Clone)]
pub struct AlertEvent {
    pub tenant_id: Uuid,
    pub created: bool,
    pub alert: Arc<Map<String, Value>>,
}

/// Per-tenant view the engine keeps beside the index: the definitions, whose text alerts
/// copy. (What alerts say of an IOC, its type and value, the index itself answers.)
#[derive(Default, Clone)]
struct TenantCatalog {
    definitions: HashMap<i64, AlertDefinition>,
}

pub struct Detection {
    store: Arc<dyn Store>,
    pub matcher: Matcher,
    catalogs: Mutex<HashMap<Uuid, TenantCatalog>>,
    applied: watch::Sender<i64>,
    alerts: broadcast::Sender<AlertEvent>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    events: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
    matches: std::sync::atomic::AtomicU64,
    alerts: std::sync::atomic::AtomicU64,
}

fn indexed_ioc(ioc: DetectionIoc) -> IndexedIoc {
    IndexedIoc {
        id: ioc.id,
        definition_id: ioc.alert_definition_id,
        ioc_type: ioc.ioc_type,
        function: ioc.detection_function,
        value: ioc.value,
        enabled: ioc.enabled,
        expires_at: ioc.expires_at,
    }
}

fn indexed_definition(d: &AlertDefinition) -> IndexedDefinition {
    IndexedDefinition { id: d.id, enabled: d.enabled }
}

impl TenantCatalog {
    /// Applies one change to the catalog and returns the index changes it implies.
    fn apply(&mut self, change: &Change, out: &mut Vec<IndexChange>) {
        match change {
            Change::DefinitionUpserted(d) => {
                self.definitions.insert(d.id, d.clone());
                out.push(IndexChange::UpsertDefinition(indexed_definition(d)));
            }
            Change::DefinitionDeleted(id) => {
                self.definitions.remove(id);
                out.push(IndexChange::DeleteDefinition(*id));
            }
            Change::DefinitionsCleared => {
                self.definitions.clear();
                out.push(IndexChange::Clear);
            }
            Change::IocUpserted(ioc) => out.push(IndexChange::UpsertIoc(indexed_ioc(DetectionIoc::from(ioc)))),
            Change::IocDeleted(id) => out.push(IndexChange::DeleteIoc(*id)),
            Change::IocsOfDefinitionDeleted(def) => out.push(IndexChange::DeleteIocsOfDefinition(*def)),
            Change::IocsCleared => out.push(IndexChange::ClearIocs),
        }
    }
}

impl Detection {
    /// Loads every tenant's content into the index and starts following the change feed.
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<Self>, StoreError> {
        // Subscribe before the snapshot so no batch committed in between is missed.
        let receiver = store.feed().subscribe();
        let (applied, _) = watch::channel(0);
        let (alerts, _) = broadcast::channel(1024);
        let detection = Arc::new(Detection {
            store,
            matcher: Matcher::new(),
            catalogs: Mutex::new(HashMap::new()),
            applied,
            alerts,
            counters: Counters::default(),
        });
        detection.load_snapshot().await?;
        tokio::spawn(follow_feed(Arc::downgrade(&detection), receiver));
        Ok(detection)
    }

    async fn load_snapshot(&self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let snapshot = self.store.detection_snapshot().await?;
        let read = started.elapsed();
        let iocs: usize = snapshot.tenants.iter().map(|t| t.iocs.len()).sum();
        let mut catalogs = HashMap::new();
        for content in snapshot.tenants {
            let index = TenantIndex::build(
                content.definitions.iter().map(indexed_definition),
                content.iocs.into_iter().map(indexed_ioc),
            );
            self.matcher.replace(&content.tenant_id.to_string(), index);
            let definitions = content.definitions.into_iter().map(|d| (d.id, d)).collect();
            catalogs.insert(content.tenant_id, TenantCatalog { definitions });
        }
        let tenants = catalogs.len();
        *self.catalogs.lock().unwrap_or_else(|p| p.into_inner()) = catalogs;
        self.applied.send_replace(snapshot.seq);
        tracing::info!(
            tenants,
            iocs,
            read_ms = read.as_millis() as u64,
            index_ms = (started.elapsed() - read).as_millis() as u64,
            "detection content loaded"
        );
        Ok(())
    }

    fn apply_batch(&self, batch: &ChangeBatch) {
        if batch.seq <= *self.applied.borrow() {
            return; // already in the snapshot
        }
        let mut changes = Vec::with_capacity(batch.changes.len());
        {
            let mut catalogs = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
            let catalog = catalogs.entry(batch.tenant_id).or_default();
            for change in &batch.changes {
                catalog.apply(change, &mut changes);
            }
        }
        self.matcher.apply(&batch.tenant_id.to_string(), &changes);
        self.applied.send_replace(batch.seq);
    }

    /// Waits until every change committed so far is in the index.
    pub async fn catch_up(&self) {
        let target = self.store.feed().committed();
        let mut applied = self.applied.subscribe();
        if tokio::time::timeout(CATCH_UP_LIMIT, applied.wait_for(|seq| *seq >= target)).await.is_err() {
            tracing::error!(target, "the matcher did not catch up with the change feed in time");
        }
    }

    pub fn index(&self, tenant: Uuid) -> Arc<TenantIndex> {
        self.matcher.tenant(&tenant.to_string())
    }

    pub fn definition(&self, tenant: Uuid, id: i64) -> Option<AlertDefinition> {
        self.catalogs.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant)?.definitions.get(&id).cloned()
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<AlertEvent> {
        self.alerts.subscribe()
    }

    pub fn publish_alerts(&self, tenant: Uuid, updates: Vec<AlertUpdate>) {
        for update in updates {
            if update.created {
                self.counters.alerts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let _ = self.alerts.send(AlertEvent { tenant_id: tenant, created: update.created, alert: Arc::new(update.alert) });
        }
    }

    pub fn count_events(&self, accepted: u64, rejected: u64, matches: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.events.fetch_add(accepted, Relaxed);
        self.counters.rejected.fetch_add(rejected, Relaxed);
        self.counters.matches.fetch_add(matches, Relaxed);
    }

    /// Matches one event against a tenant index snapshot.
    pub fn match_event(index: &TenantIndex, event: &openti_detect::Event<'_>, now: DateTime<Utc>, out: &mut Vec<Match>) {
        index.match_event(event, now, out);
    }
}

async fn follow_feed(detection: std::sync::Weak<Detection>, mut receiver: broadcast::Receiver<Arc<ChangeBatch>>) {
    loop {
        let received = receiver.recv().await;
        let Some(detection) = detection.upgrade() else { return };
        match received {
            Ok(batch) => detection.apply_batch(&batch),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the matcher fell behind the change feed; reloading from the store");
                if let Err(e) = detection.load_snapshot().await {
                    tracing::error!(error = %e, "reloading the detection snapshot failed");
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Prometheus text metrics.
pub async fn metrics(State(state): State<SharedState>) -> axum::response::Response {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let mut text = String::new();
    if let Some(d) = &state.detection {
        let c = &d.counters;
        for (name, help, value) in [
            ("openti_events_accepted_total", "Telemetry events accepted.", c.events.load(Relaxed)),
            ("openti_events_rejected_total", "Telemetry lines rejected.", c.rejected.load(Relaxed)),
            ("openti_matches_total", "IOC matches.", c.matches.load(Relaxed)),
            ("openti_alerts_created_total", "Alerts created.", c.alerts.load(Relaxed)),
        ] {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        let _ = writeln!(
            text,
            "# HELP openti_change_feed_applied_seq Last change applied by the matcher.\n# TYPE openti_change_feed_applied_seq gauge\nopenti_change_feed_applied_seq {}",
            *d.applied.borrow()
        );
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
