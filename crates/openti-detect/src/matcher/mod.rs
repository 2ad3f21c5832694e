//! The matcher: per tenant, a compiled index of every enabled IOC, matched against events
//! (SPEC B.3).
//!
//! # Shape
//! A [`TenantIndex`] is an immutable snapshot. Matching reads it without locks; a change
//! ([`TenantIndex::apply`]) builds the next snapshot from the current one, and the
//! [`Matcher`] publishes it atomically with `arc-swap`. Writers of one tenant are serialised
//! by a mutex; readers never wait for them.
//!
//! # Structures, per IOC type and detection function
//! | type | Equals | StartWith | EndWith | Contains | Regex |
//! | --- | --- | --- | --- | --- | --- |
//! | Sha1, Sha256, Md5 | exact key: the digest bytes | | | | |
//! | IpAddress | exact key per covering block: one probe per prefix length in use (`ip.rs`) | | | | |
//! | DomainName | exact key | hashed prefixes | exact key, probed with each label-aligned suffix of the host | Aho-Corasick or gram filter | |
//! | Url | exact key | hashed prefixes | hashed suffixes | Aho-Corasick or gram filter | regex sets |
//! | FileName | exact key: the case-folded base name | as Url, on the case-folded base name | as Url, on the base name | as Url, on the base name | regex sets, case-insensitive, on the path and on the base name |
//!
//! Exact keys of every kind share one map behind one Bloom filter (`exact.rs`, `bloom.rs`);
//! StartWith and EndWith patterns are keys of a small index of their own, probed with the
//! value's prefixes or suffixes at the pattern lengths in use (`anchored.rs`); Contains
//! automata and regex sets live in pattern buckets (`patterns.rs`, `grams.rs`). All of them map
//! a key or a pattern to *postings*: the ids of the IOCs with that value. The registry (IOC id → its
//! definition, expiry, type, function and value) decides whether a hit counts: the IOC must
//! be unexpired at the event's `now` and its definition must exist and be enabled; so expiry
//! needs no timer, and disabling a definition is one write whatever the number of its IOCs.
//! Disabled IOCs are not indexed at all.
//!
//! # Costs
//! - Matching an observable costs one hash and one filter probe per exact key (a few: one
//!   per IP prefix length in use, one per label-aligned domain suffix whose label count some
//!   IOC has) plus one walk of each non-empty automaton over the value — independent of the
//!   number of IOCs, except for the regex sets (one scan per chunk of 64 regexes, see
//!   `patterns.rs`). The filter blocks of all the keys of an event are fetched together, so
//!   their cache misses overlap (see `index.rs`, `match_event`). StartWith/EndWith cost one
//!   probe per pattern length in use, cut short where no pattern continues the value;
//!   Contains reads every byte, through a DFA while the bucket's DFA fits in 1 MiB, else
//!   through a q-gram filter that stays in cache (`grams.rs`); a regex set whose members
//!   all need some literal runs only on values holding one. A value that recently matched
//!   no pattern skips the pattern scans until a pattern IOC changes (`clean.rs`: recurring
//!   process names, hosts, URLs). Nothing is allocated unless something matches (beyond
//!   that cache's 16 KiB per thread, once): observed values are normalised in stack
//!   buffers or borrowed (see `openti_model::values`).
//! - A change copies only the shards it touches of the copy-on-write maps (`sharded.rs`: a
//!   few hundred entries each) and one 4 KiB chunk of a filter; a Contains or Regex change
//!   also recompiles the small delta layer of its pattern bucket, about 4·√n patterns; the bucket's base (n
//!   patterns) is recompiled once every O(√n) additions, or when deleted patterns pile up
//!   (`patterns.rs`); the filter is rebuilt when the exact keys outgrow it by half or
//!   removed keys pile up. Disabling or enabling a definition is one map write; deleting
//!   one reads the registry once.
//!
//! IOC values must be in the normal form of `openti_model::values::normalize_ioc_value`
//! (the store only holds such values); an IOC whose value cannot be read for its type is
//! logged and left out.

mod anchored;
mod bloom;
mod clean;
mod exact;
mod grams;
mod index;
pub(crate) mod ip;
pub(crate) mod patterns;
mod postings;
pub(crate) mod sharded;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use openti_model::{DetectionFunction, IocType};

use crate::event::{Event, Field};

/// An IOC as the index sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedIoc {
    pub id: i64,
    pub definition_id: i64,
    pub ioc_type: IocType,
    pub function: DetectionFunction,
    /// Already normalised by `openti_model::values::normalize_ioc_value`.
    pub value: String,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// An alert definition as the index sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedDefinition {
    pub id: i64,
    pub enabled: bool,
}

/// One IOC matching one observable of an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Match {
    pub ioc_id: i64,
    pub definition_id: i64,
    pub field: Field,
    /// The observed value that matched, as it appeared in the event.
    pub value: String,
}

/// What the index knows of an indexed IOC (alerts name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocInfo {
    pub ioc_type: IocType,
    pub definition_id: i64,
    /// In normal form.
    pub value: String,
}

/// A change to a tenant's IOCs or definitions, as the store's change feed reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexChange {
    /// Create or replace an IOC (a disabled one is removed from the index).
    UpsertIoc(IndexedIoc),
    DeleteIoc(i64),
    /// Create or replace a definition (its Enabled flag).
    UpsertDefinition(IndexedDefinition),
    /// Delete a definition and its IOCs.
    DeleteDefinition(i64),
    /// Delete every IOC of a definition; the definition stays.
    DeleteIocsOfDefinition(i64),
    /// Delete every IOC; definitions stay.
    ClearIocs,
    /// Delete everything.
    Clear,
}

/// An immutable snapshot of one tenant's index; cheap to clone. See the module docs.
#[derive(Clone)]
pub struct TenantIndex {
    inner: Arc<index::Inner>,
}

impl Default for TenantIndex {
    fn default() -> Self {
        TenantIndex { inner: Arc::new(index::Inner::new()) }
    }
}

impl std::fmt::Debug for TenantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantIndex").field("iocs", &self.len()).finish_non_exhaustive()
    }
}

impl TenantIndex {
    /// An index of `iocs`; `defs` says which definitions exist and are enabled.
    pub fn build(
        defs: impl IntoIterator<Item = IndexedDefinition>,
        iocs: impl IntoIterator<Item = IndexedIoc>,
    ) -> TenantIndex {
        let mut inner = index::Inner::new();
        for def in defs {
            inner.apply(&IndexChange::UpsertDefinition(def));
        }
        let iocs = iocs.into_iter();
        inner.reserve(iocs.size_hint().0);
        inner.load(iocs);
        inner.settle();
        TenantIndex { inner: Arc::new(inner) }
    }

    /// The index after `changes`, applied in order. `self` is unchanged (readers may still be
    /// using it). Cost is proportional to the changes, not to the index: see the module docs.
    pub fn apply(&self, changes: &[IndexChange]) -> TenantIndex {
        let mut inner = (*self.inner).clone();
        for change in changes {
            inner.apply(change);
        }
        inner.settle();
        TenantIndex { inner: Arc::new(inner) }
    }

    /// Appends to `out` one [`Match`] per (IOC, field, observed value) for every IOC that
    /// matches an observable of `event` and counts at `now`: IOCs with `expires_at <= now`, and IOCs of
    /// disabled or unknown definitions, match nothing. Each observable is read once;
    /// nothing is allocated unless something matches.
    ///
    /// Expiry is compared at microsecond precision; an IOC expiring within the same
    /// microsecond as `now` counts as expired.
    pub fn match_event(&self, event: &Event<'_>, now: DateTime<Utc>, out: &mut Vec<Match>) {
        self.inner.match_event(event, now.timestamp_micros(), out);
    }

    /// The type, definition and value of an indexed IOC (one that is enabled); `None` for
    /// any other id.
    pub fn ioc(&self, id: i64) -> Option<IocInfo> {
        self.inner.ioc(id)
    }

    /// Number of indexed IOCs (enabled ones, including expired ones and those of disabled
    /// definitions, which are kept so that they match again when re-enabled).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held by this snapshot (shared parts counted in full).
    pub fn memory_estimate(&self) -> usize {
        self.inner.memory()
    }
}

/// One tenant's published index and the lock its writers take.
struct TenantSlot {
    index: ArcSwap<TenantIndex>,
    writer: Mutex<()>,
}

/// The indexes of all tenants. Readers ([`Matcher::tenant`]) are lock-free; writers of one
/// tenant are serialised, writers of different tenants are not.
pub struct Matcher {
    tenants: ArcSwap<HashMap<String, Arc<TenantSlot>>>,
    /// Serialises adding tenants (rare: the map is copied).
    adding: Mutex<()>,
    empty: Arc<TenantIndex>,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::new()
    }
}

impl Matcher {
    pub fn new() -> Matcher {
        Matcher {
            tenants: ArcSwap::from_pointee(HashMap::new()),
            adding: Mutex::new(()),
            empty: Arc::new(TenantIndex::default()),
        }
    }

    /// The current index of tenant `tenant` (an empty one if it has none).
    pub fn tenant(&self, tenant: &str) -> Arc<TenantIndex> {
        match self.tenants.load().get(tenant) {
            Some(slot) => slot.index.load_full(),
            None => Arc::clone(&self.empty),
        }
    }

    /// Replaces a tenant's index (after a full load from the store).
    pub fn replace(&self, tenant: &str, index: TenantIndex) {
        let slot = self.slot(tenant);
        let _writer = slot.writer.lock().unwrap_or_else(|e| e.into_inner());
        slot.index.store(Arc::new(index));
    }

    /// Applies changes to a tenant's index and publishes the result before returning, so an
    /// event matched after this call sees them.
    pub fn apply(&self, tenant: &str, changes: &[IndexChange]) {
        if changes.is_empty() {
            return;
        }
        let slot = self.slot(tenant);
        let _writer = slot.writer.lock().unwrap_or_else(|e| e.into_inner());
        let next = slot.index.load().apply(changes);
        slot.index.store(Arc::new(next));
    }

    /// Forgets a tenant.
    pub fn remove_tenant(&self, tenant: &str) {
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.tenants.load();
        if current.contains_key(tenant) {
            let mut next = HashMap::clone(&current);
            next.remove(tenant);
            self.tenants.store(Arc::new(next));
        }
    }

    /// Convenience: [`TenantIndex::match_event`] on the tenant's current index.
    pub fn match_event(&self, tenant: &str, event: &Event<'_>, now: DateTime<Utc>, out: &mut Vec<Match>) {
        if let Some(slot) = self.tenants.load().get(tenant) {
            slot.index.load().match_event(event, now, out);
        }
    }

    fn slot(&self, tenant: &str) -> Arc<TenantSlot> {
        if let Some(slot) = self.tenants.load().get(tenant) {
            return Arc::clone(slot);
        }
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.tenants.load();
        if let Some(slot) = current.get(tenant) {
            return Arc::clone(slot);
        }
        let slot =
            Arc::new(TenantSlot { index: ArcSwap::from_pointee(TenantIndex::default()), writer: Mutex::new(()) });
        let mut next = HashMap::clone(&current);
        next.insert(tenant.to_string(), Arc::clone(&slot));
        self.tenants.store(Arc::new(next));
        slot
    }
}
