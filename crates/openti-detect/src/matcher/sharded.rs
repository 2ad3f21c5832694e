//! A hash map cut into shards that snapshots share copy-on-write.
//!
//! The matcher publishes an immutable index per tenant and builds the next one from it. With
//! one big hash map, every change would copy the whole map (a million entries for a large
//! tenant). Here a map is `Arc<[Arc<shard>]>`: cloning the map clones one `Arc`; changing an
//! entry copies the list of shard pointers once and the one shard that holds the entry. The
//! shard count grows with the map (at most [`MAX_PER_SHARD`] entries per shard on average),
//! so a change copies a few hundred entries whatever the size of the map, while a lookup
//! costs one extra pointer hop compared with a plain hash map.
//!
//! A persistent map (a HAMT such as the `im` crate's) would make a change O(log n) instead
//! of O(shard), but its lookups chase several pointers; lookups are the hot path here.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::HashTable;

/// Average entries per shard above which the shard count grows (×4).
const MAX_PER_SHARD: usize = 512;
/// Upper bound on the shard count (2^16): beyond it shards simply grow.
const MAX_SHARD_BITS: u32 = 16;

type Shard<K, V> = HashTable<(K, V)>;

/// A copy-on-write sharded hash map. See the module docs.
pub(crate) struct Sharded<K, V> {
    // A slice inside the Arc (not a Vec behind it): one pointer hop less per lookup.
    shards: Arc<[Arc<Shard<K, V>>]>,
    bits: u32,
    len: usize,
    // Random per map: the keys are tenant input and the probes are telemetry.
    hasher: foldhash::fast::RandomState,
}

impl<K, V> Clone for Sharded<K, V> {
    fn clone(&self) -> Self {
        Sharded { shards: Arc::clone(&self.shards), bits: self.bits, len: self.len, hasher: self.hasher.clone() }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded::new()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Sharded<K, V> {
    pub fn new() -> Self {
        Sharded { shards: Arc::from([Arc::new(HashTable::new())]), bits: 0, len: 0, hasher: Default::default() }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard of a hash. Bits 32.. are used because hashbrown takes the bucket index from
    /// the low bits and its tag from the top 7: shard bits must be neither, or every entry of
    /// a shard would share them.
    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        ((hash >> 32) as usize) & ((1usize << self.bits) - 1)
    }

    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shards[self.shard_index(hash)].find(hash, |(k, _)| k.borrow() == key).map(|(_, v)| v)
    }

    /// The shard holding `hash`, made unique (copied if another snapshot shares it).
    fn shard_mut(&mut self, hash: u64) -> &mut Shard<K, V> {
        let i = self.shard_index(hash);
        Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[i])
    }

    /// A mutable reference to an existing value. Copies the entry's shard only if the key is
    /// present.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        // Look before copying: a miss must not copy a shard.
        self.shards[self.shard_index(hash)].find(hash, |(k, _)| k.borrow() == key)?;
        self.shard_mut(hash).find_mut(hash, |(k, _)| k.borrow() == key).map(|(_, v)| v)
    }

    /// The value of `key`, inserted with `make` if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let (shard, len, hasher, hash) = self.unique_shard_for(&key);
        let entry = shard.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k));
        if matches!(entry, hashbrown::hash_table::Entry::Vacant(_)) {
            *len += 1;
        }
        &mut entry.or_insert_with(|| (key, make())).into_mut().1
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let (shard, len, hasher, hash) = self.unique_shard_for(&key);
        match shard.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            hashbrown::hash_table::Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().1, value)),
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((key, value));
                *len += 1;
                None
            }
        }
    }

    /// The shard `key` belongs in, made unique, with what an insert needs beside it.
    fn unique_shard_for(&mut self, key: &K) -> (&mut Shard<K, V>, &mut usize, &foldhash::fast::RandomState, u64) {
        self.grow_if_needed(1);
        let hash = self.hash(key);
        let i = self.shard_index(hash);
        let shard = Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[i]);
        (shard, &mut self.len, &self.hasher, hash)
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shards[self.shard_index(hash)].find(hash, |(k, _)| k.borrow() == key)?;
        let removed = match self.shard_mut(hash).find_entry(hash, |(k, _)| k.borrow() == key) {
            Ok(entry) => Some(entry.remove().0 .1),
            Err(_) => None,
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// Keeps the entries for which `keep` returns true, letting it change them. Only shards
    /// in which `touches` finds an entry are copied and visited.
    pub fn retain(&mut self, touches: impl Fn(&K, &V) -> bool, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut removed = 0;
        let shards = Arc::make_mut(&mut self.shards);
        for shard in shards.iter_mut() {
            if !shard.iter().any(|(k, v)| touches(k, v)) {
                continue;
            }
            let shard = Arc::make_mut(shard);
            let before = shard.len();
            shard.retain(|(k, v)| keep(k, v));
            removed += before - shard.len();
        }
        self.len -= removed;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.shards.iter().flat_map(|s| s.iter().map(|(k, v)| (k, v)))
    }

    /// Approximate heap bytes of the tables (not of what keys and values point to).
    pub fn heap_bytes(&self) -> usize {
        let per_slot = std::mem::size_of::<(K, V)>() + 1;
        let tables: usize = self.shards.iter().map(|s| s.capacity() * per_slot + 48).sum();
        tables + self.shards.len() * std::mem::size_of::<usize>()
    }

    /// Cuts the map into the shards `additional` more entries will need, so that a bulk load
    /// does not re-cut it several times on the way (each re-cut copies every entry). The
    /// tables themselves grow as they fill: sizing each for the fullest shard would cost
    /// memory.
    pub fn reserve(&mut self, additional: usize) {
        self.grow_if_needed(additional);
    }

    /// Re-cuts the map into more shards when it outgrows them. Rare (the count grows ×4) and
    /// so amortised O(1) per insert.
    fn grow_if_needed(&mut self, extra: usize) {
        let needed = self.len + extra;
        if self.bits >= MAX_SHARD_BITS || needed <= (MAX_PER_SHARD << self.bits) {
            return;
        }
        let mut bits = self.bits;
        while bits < MAX_SHARD_BITS && needed > (MAX_PER_SHARD << bits) {
            bits += 2;
        }
        let bits = bits.min(MAX_SHARD_BITS);
        let mut shards: Vec<Shard<K, V>> = (0..1usize << bits).map(|_| HashTable::new()).collect();
        let mask = (1usize << bits) - 1;
        for (k, v) in self.iter() {
            let hash = self.hasher.hash_one(k);
            let hasher = &self.hasher;
            shards[((hash >> 32) as usize) & mask]
                .insert_unique(hash, (k.clone(), v.clone()), |(k, _)| hasher.hash_one(k));
        }
        self.shards = shards.into_iter().map(Arc::new).collect();
        self.bits = bits;
    }

    #[cfg(test)]
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let mut m: Sharded<Arc<str>, u32> = Sharded::new();
        assert_eq!(m.len(), 0);
        assert_eq!(m.insert("a".into(), 1), None);
        assert_eq!(m.insert("a".into(), 2), Some(1));
        assert_eq!(m.get("a"), Some(&2));
        assert_eq!(m.get("b"), None);
        *m.get_or_insert_with("b".into(), || 7) += 1;
        assert_eq!(m.get("b"), Some(&8));
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove("a"), Some(2));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.len(), 1);
        assert!(m.get_mut("zz").is_none());
    }

    #[test]
    fn snapshots_are_independent_and_share_untouched_shards() {
        let mut a: Sharded<u64, u64> = Sharded::new();
        for i in 0..100_000 {
            a.insert(i, i);
        }
        assert!(a.shard_count() >= 64, "{}", a.shard_count());
        assert_eq!(a.len(), 100_000);
        let mut b = a.clone();
        b.insert(5, 50);
        b.remove(&6);
        b.insert(1_000_000, 1);
        assert_eq!((a.get(&5), a.get(&6), a.get(&1_000_000)), (Some(&5), Some(&6), None));
        assert_eq!((b.get(&5), b.get(&6), b.get(&1_000_000)), (Some(&50), None, Some(&1)));
        assert_eq!((a.len(), b.len()), (100_000, 100_000));
        // Only the shards that changed were copied.
        let shared = a.shards.iter().zip(b.shards.iter()).filter(|(x, y)| Arc::ptr_eq(x, y)).count();
        assert!(shared >= a.shard_count() - 3, "{shared} of {}", a.shard_count());
        for i in (0..100_000).step_by(997) {
            assert_eq!(a.get(&i), Some(&i));
        }
    }

    #[test]
    fn reserving_cuts_the_shards_once_for_a_bulk_load() {
        let mut m: Sharded<u64, u64> = Sharded::new();
        m.insert(u64::MAX, 0);
        m.reserve(100_000);
        let shards = m.shard_count();
        assert!(shards >= 64, "{shards}");
        for i in 0..100_000 {
            m.insert(i, i);
        }
        assert_eq!(m.shard_count(), shards, "no re-cut");
        assert_eq!((m.len(), m.get(&99_999), m.get(&u64::MAX)), (100_001, Some(&99_999), Some(&0)));
    }

    #[test]
    fn retain_touches_only_matching_shards() {
        let mut a: Sharded<u64, u64> = Sharded::new();
        for i in 0..10_000 {
            a.insert(i, i);
        }
        let b = a.clone();
        a.retain(
            |k, _| *k == 3 || *k == 4,
            |k, v| {
                if *k == 4 {
                    *v += 1;
                }
                *k != 3
            },
        );
        assert_eq!((a.get(&3), a.get(&4), a.get(&5), a.len()), (None, Some(&5), Some(&5), 9_999));
        assert_eq!((b.get(&3), b.get(&4)), (Some(&3), Some(&4)));
        assert_eq!(a.iter().count(), 9_999);
        assert!(a.heap_bytes() > 10_000 * 16);
    }
}
