//! Device sightings and IOC hit counts (`Devices`, `HitCount`, `LastSeenAt`): gathered in
//! memory per tenant as telemetry is ingested, and written to the store on a timer (one
//! store call per tenant and interval), not after every ingest request.
//!
//! Why: SQLite has one write lock, and a matching ingest must take it to make its alert
//! durable before it answers. A statistics transaction after every ingest request (hundreds
//! of device rows each under load) kept that lock busy, so the first alert of a new IOC
//! waited behind them (issue 5: IOC write → effective alert, p99 47 ms under load).
//!
//! Reads that show statistics flush their tenant's pending statistics first
//! ([`TelemetryStats::flush`]), so a client that ingests and then reads its devices or hit
//! counts sees its own events; when nothing is pending that costs two uncontended locks. A
//! flush writes in chunks of [`FLUSH_CHUNK_ROWS`], each its own transaction, so an alert
//! waits for one chunk at most. A graceful shutdown flushes what is pending; a crash loses
//! at most one interval of statistics (before, they were written after the response
//! anyway, with no guarantee either).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use openti_model::schema::{EntityType, ALERT};
use openti_store::{DeviceSeen, Sighting, Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Device and IOC rows per store call (one transaction) of a flush. Small, because an alert
/// that queues for the write lock behind a flush waits for the chunk being written: 500
/// device rows held the lock 2–9 ms under load, 100 hold it about a fifth of that, and a
/// few more commits a second cost nothing that matters.
pub const FLUSH_CHUNK_ROWS: usize = 100;

/// Whether reads of `entity` show statistics: Devices and IOCs themselves, and alert
/// definitions through their IOCs (`$expand`, or `$filter` across the navigation). Alerts
/// carry none.
pub fn shown_by(entity: &EntityType) -> bool {
    entity != &ALERT
}

/// One tenant's statistics not yet in the store. Merging is order-independent but for the
/// device name, where the one added last wins.
#[derive(Debug, Default, Clone)]
pub struct TenantStats {
    devices: HashMap<String, DeviceSeen>,
    sightings: HashMap<i64, Sighting>,
}

fn some_name(name: Option<&str>) -> Option<&str> {
    name.filter(|n| !n.is_empty())
}

/// Folds into a device `events` more events seen from `first` to `last`, and the name they
/// carried: a missing or empty name keeps the known one.
fn fold_device(into: &mut DeviceSeen, events: i64, first: DateTime<Utc>, last: DateTime<Utc>, name: Option<&str>) {
    into.events += events;
    into.first_seen = into.first_seen.min(first);
    into.last_seen = into.last_seen.max(last);
    if let Some(name) = some_name(name) {
        if into.device_name.as_deref() != Some(name) {
            into.device_name = Some(name.to_string());
        }
    }
}

/// Folds into a sighting `hits` more hits, the latest at `last`.
fn fold_sighting(into: &mut Sighting, hits: i64, last: DateTime<Utc>) {
    into.hits += hits;
    into.last_seen = into.last_seen.max(last);
}

impl TenantStats {
    /// One event from `device_id` (an empty id is no device and is not counted).
    pub fn event(&mut self, device_id: &str, device_name: Option<&str>, at: DateTime<Utc>) {
        if device_id.is_empty() {
            return;
        }
        match self.devices.get_mut(device_id) {
            Some(seen) => fold_device(seen, 1, at, at, device_name),
            None => {
                self.devices.insert(
                    device_id.to_string(),
                    DeviceSeen {
                        device_id: device_id.to_string(),
                        device_name: some_name(device_name).map(str::to_string),
                        first_seen: at,
                        last_seen: at,
                        events: 1,
                    },
                );
            }
        }
    }

    /// One hit of IOC `ioc_id` in an event at `at`.
    pub fn hit(&mut self, ioc_id: i64, at: DateTime<Utc>) {
        let sighting = self.sightings.entry(ioc_id).or_insert(Sighting { ioc_id, hits: 0, last_seen: at });
        fold_sighting(sighting, 1, at);
    }

    /// Adds `newer` (statistics gathered after these).
    pub fn merge(&mut self, newer: TenantStats) {
        if self.is_empty() {
            *self = newer;
            return;
        }
        for (key, seen) in newer.devices {
            match self.devices.get_mut(&key) {
                Some(into) => fold_device(into, seen.events, seen.first_seen, seen.last_seen, seen.device_name.as_deref()),
                None => {
                    self.devices.insert(key, seen);
                }
            }
        }
        for (id, sighting) in newer.sightings {
            match self.sightings.get_mut(&id) {
                Some(into) => fold_sighting(into, sighting.hits, sighting.last_seen),
                None => {
                    self.sightings.insert(id, sighting);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.sightings.is_empty()
    }

    pub fn device(&self, device_id: &str) -> Option<&DeviceSeen> {
        self.devices.get(device_id)
    }

    pub fn sighting(&self, ioc_id: i64) -> Option<&Sighting> {
        self.sightings.get(&ioc_id)
    }

    /// The rows to write, in chunks of at most `rows` devices and sightings together.
    fn into_chunks(self, rows: usize) -> Vec<(Vec<DeviceSeen>, Vec<Sighting>)> {
        let rows = rows.max(1);
        let mut chunks = Vec::new();
        let mut devices: Vec<DeviceSeen> = Vec::new();
        let mut sightings: Vec<Sighting> = Vec::new();
        let mut devices_in = self.devices.into_values();
        let mut sightings_in = self.sightings.into_values();
        loop {
            if devices.len() + sightings.len() == rows {
                chunks.push((std::mem::take(&mut devices), std::mem::take(&mut sightings)));
            }
            if let Some(d) = devices_in.next() {
                devices.push(d);
            } else if let Some(s) = sightings_in.next() {
                sightings.push(s);
            } else {
                break;
            }
        }
        if !devices.is_empty() || !sightings.is_empty() {
            chunks.push((devices, sightings));
        }
        chunks
    }

    fn from_rows(devices: Vec<DeviceSeen>, sightings: Vec<Sighting>) -> TenantStats {
        let mut stats = TenantStats::default();
        stats.merge_rows(devices, sightings);
        stats
    }

    fn merge_rows(&mut self, devices: Vec<DeviceSeen>, sightings: Vec<Sighting>) {
        self.merge(TenantStats {
            devices: devices.into_iter().map(|d| (d.device_id.clone(), d)).collect(),
            sightings: sightings.into_iter().map(|s| (s.ioc_id, s)).collect(),
        });
    }
}

#[derive(Default)]
struct Slot {
    pending: Mutex<TenantStats>,
    /// Held while this tenant's statistics are written. A flush waits for the one before it,
    /// so when it returns everything added before it started is in the store.
    writing: tokio::sync::Mutex<()>,
}

/// The statistics of every tenant, pending their next flush.
pub struct TelemetryStats {
    store: Arc<dyn Store>,
    tenants: Mutex<HashMap<Uuid, Arc<Slot>>>,
}

impl TelemetryStats {
    pub fn new(store: Arc<dyn Store>) -> Self {
        TelemetryStats { store, tenants: Mutex::new(HashMap::new()) }
    }

    fn slot(&self, tenant: Uuid) -> Option<Arc<Slot>> {
        self.tenants.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant).cloned()
    }

    /// Adds what one ingest request saw.
    pub fn add(&self, tenant: Uuid, stats: TenantStats) {
        if stats.is_empty() {
            return;
        }
        let slot = self.tenants.lock().unwrap_or_else(|p| p.into_inner()).entry(tenant).or_default().clone();
        slot.pending.lock().unwrap_or_else(|p| p.into_inner()).merge(stats);
    }

    /// Writes the tenant's pending statistics, waiting for a flush already under way. On a
    /// store error what was not written stays pending for the next flush.
    pub async fn flush(&self, tenant: Uuid) -> Result<(), StoreError> {
        let Some(slot) = self.slot(tenant) else { return Ok(()) };
        let _writing = slot.writing.lock().await;
        let pending = std::mem::take(&mut *slot.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let mut chunks = pending.into_chunks(FLUSH_CHUNK_ROWS).into_iter();
        while let Some((devices, sightings)) = chunks.next() {
            if let Err(e) = self.store.record_telemetry_stats(tenant, &devices, &sightings).await {
                let mut unwritten = TenantStats::from_rows(devices, sightings);
                for (devices, sightings) in chunks {
                    unwritten.merge_rows(devices, sightings);
                }
                let mut pending = slot.pending.lock().unwrap_or_else(|p| p.into_inner());
                // What was added meanwhile is newer than what failed.
                unwritten.merge(std::mem::take(&mut *pending));
                *pending = unwritten;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Flushes the tenant for a read that shows statistics; a failure is logged, and the
    /// read goes on with what the store has.
    pub async fn flush_for_read(&self, tenant: Uuid) {
        if let Err(e) = self.flush(tenant).await {
            tracing::warn!(error = %e, %tenant, "writing pending device and sighting statistics failed");
        }
    }

    /// Flushes every tenant with pending statistics.
    pub async fn flush_all(&self) {
        let tenants: Vec<Uuid> = self.tenants.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
        for tenant in tenants {
            if let Err(e) = self.flush(tenant).await {
                tracing::warn!(error = %e, %tenant, "writing device and sighting statistics failed; kept for the next flush");
            }
        }
    }

    /// Flushes every `interval` until [`Flusher::stop`].
    pub fn start_flushing(self: &Arc<Self>, interval: Duration) -> Flusher {
        let stop = Arc::new(Notify::new());
        let stats: Weak<TelemetryStats> = Arc::downgrade(self);
        let stopped = stop.clone();
        // A zero interval would make tokio's ticker panic; reads and shutdown flush anyway.
        let interval = interval.max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await; // the first tick is immediate
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.notified() => return,
                }
                let Some(stats) = stats.upgrade() else { return };
                // Outside the select: a flush under way is never cancelled halfway, which
                // would drop the statistics it had taken.
                stats.flush_all().await;
            }
        });
        Flusher { stop, task }
    }
}

/// The timer task of [`TelemetryStats::start_flushing`].
pub struct Flusher {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Flusher {
    /// Stops the timer, after the flush under way if there is one.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, minute, 0).single().expect("valid time")
    }

    #[test]
    fn events_of_one_device_add_up() {
        let mut stats = TenantStats::default();
        stats.event("pc-1", Some("pc-1.corp"), at(5));
        stats.event("pc-1", None, at(1));
        stats.event("pc-1", Some(""), at(9));
        stats.event("", Some("nobody"), at(0));
        let pc = stats.device("pc-1").expect("recorded");
        assert_eq!((pc.events, pc.first_seen, pc.last_seen), (3, at(1), at(9)));
        assert_eq!(pc.device_name.as_deref(), Some("pc-1.corp"), "a missing or empty name keeps the known one");
        assert!(stats.device("").is_none(), "an event with no device id counts for no device");
        stats.event("pc-1", Some("renamed"), at(2));
        assert_eq!(stats.device("pc-1").unwrap().device_name.as_deref(), Some("renamed"), "the latest name wins");
    }

    #[test]
    fn hits_add_up_and_keep_the_latest_time() {
        let mut stats = TenantStats::default();
        stats.hit(7, at(4));
        stats.hit(7, at(2));
        stats.hit(8, at(1));
        let seven = stats.sighting(7).unwrap();
        assert_eq!((seven.hits, seven.last_seen), (2, at(4)));
        assert_eq!(stats.sighting(8).unwrap().hits, 1);
    }

    #[test]
    fn merging_requests_is_merging_their_events() {
        let mut first = TenantStats::default();
        first.event("pc-1", Some("old-name"), at(10));
        first.event("pc-2", None, at(10));
        first.hit(1, at(10));
        let mut second = TenantStats::default();
        second.event("pc-1", Some("new-name"), at(3));
        second.event("pc-1", None, at(20));
        second.event("pc-3", Some("three"), at(4));
        second.hit(1, at(5));
        second.hit(2, at(6));
        let mut merged = first.clone();
        merged.merge(second.clone());

        let pc1 = merged.device("pc-1").unwrap();
        assert_eq!((pc1.events, pc1.first_seen, pc1.last_seen), (3, at(3), at(20)));
        assert_eq!(pc1.device_name.as_deref(), Some("new-name"), "the later request's name wins");
        assert_eq!(merged.device("pc-2").unwrap().events, 1);
        assert_eq!(merged.device("pc-3").unwrap().device_name.as_deref(), Some("three"));
        let one = merged.sighting(1).unwrap();
        assert_eq!((one.hits, one.last_seen), (2, at(10)));
        assert_eq!(merged.sighting(2).unwrap().hits, 1);

        // A later request with no name keeps the name already known.
        let mut third = TenantStats::default();
        third.event("pc-1", None, at(30));
        merged.merge(third);
        assert_eq!(merged.device("pc-1").unwrap().device_name.as_deref(), Some("new-name"));

        // Merging into nothing is the other side unchanged.
        let mut empty = TenantStats::default();
        empty.merge(second.clone());
        assert_eq!(empty.device("pc-1").unwrap().events, 2);
    }

    #[test]
    fn chunks_hold_every_row_once_and_respect_the_limit() {
        let mut stats = TenantStats::default();
        for i in 0..1234 {
            stats.event(&format!("pc-{i}"), None, at(0));
        }
        for i in 0..567 {
            stats.hit(i, at(0));
        }
        let chunks = stats.into_chunks(500);
        assert_eq!(chunks.len(), 4);
        assert!(chunks.iter().all(|(d, s)| d.len() + s.len() <= 500 && !(d.is_empty() && s.is_empty())));
        assert_eq!(chunks.iter().map(|(d, _)| d.len()).sum::<usize>(), 1234);
        assert_eq!(chunks.iter().map(|(_, s)| s.len()).sum::<usize>(), 567);
        let restored = {
            let mut r = TenantStats::default();
            for (d, s) in chunks {
                r.merge_rows(d, s);
            }
            r
        };
        assert_eq!(restored.devices.len(), 1234);
        assert_eq!(restored.sightings.len(), 567);
        assert!(TenantStats::default().into_chunks(500).is_empty());
    }

    async fn store_with_ioc() -> (Arc<dyn Store>, Uuid, i64) {
        use openti_store::conformance::{definition_draft, ioc_draft};
        let store: Arc<dyn Store> = Arc::new(openti_store::sqlite::SqliteStore::in_memory().await.unwrap());
        let tenant = store.create_tenant("stats", openti_store::Quotas::default(), at(0)).await.unwrap().id;
        let d = store.create_definitions(tenant, &[definition_draft("D.")], "t", at(0)).await.unwrap()[0].id;
        let ioc = store
            .create_iocs(tenant, &[ioc_draft(d, "a.example", openti_model::DetectionFunction::Equals)], "t", at(0))
            .await
            .unwrap()[0]
            .id;
        (store, tenant, ioc)
    }

    #[tokio::test]
    async fn a_flush_writes_what_requests_added() {
        let (store, tenant, ioc) = store_with_ioc().await;
        let stats = TelemetryStats::new(store.clone());
        stats.flush(tenant).await.expect("nothing to flush is fine");
        for minute in [1, 2] {
            let mut request = TenantStats::default();
            request.event("pc-1", Some("pc-1"), at(minute));
            request.hit(ioc, at(minute));
            stats.add(tenant, request);
        }
        assert_eq!(store.get_ioc(tenant, ioc).await.unwrap().unwrap().hit_count, 0, "nothing written before a flush");
        stats.flush(tenant).await.unwrap();
        let counted = store.get_ioc(tenant, ioc).await.unwrap().unwrap();
        assert_eq!((counted.hit_count, counted.last_seen_at), (2, Some(at(2))));
        stats.flush(tenant).await.unwrap();
        assert_eq!(store.get_ioc(tenant, ioc).await.unwrap().unwrap().hit_count, 2, "a flush writes each hit once");
    }

    #[tokio::test]
    async fn the_timer_flushes_and_stops() {
        let (store, tenant, ioc) = store_with_ioc().await;
        let stats = Arc::new(TelemetryStats::new(store.clone()));
        let flusher = stats.start_flushing(Duration::from_millis(5));
        let mut request = TenantStats::default();
        request.hit(ioc, at(3));
        stats.add(tenant, request);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.get_ioc(tenant, ioc).await.unwrap().unwrap().hit_count != 1 {
            assert!(std::time::Instant::now() < deadline, "the timer never flushed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        flusher.stop().await;
    }
}
