//! The exact index: every IOC matched by equality of one canonical key — hashes, IP
//! addresses and blocks, exact domains, domain suffixes, exact URLs and file names — in one
//! copy-on-write map behind one Bloom filter.
//!
//! The map is keyed by a 64-bit keyed hash of (kind, canonical bytes), not by the bytes: an
//! entry is 24 bytes whatever the value, and a probe that passes the filter costs one lookup
//! without a second miss on the key's text. Two values whose hashes collide (the seed is
//! random per index, so about one pair in 2^64) share an entry; a hit is therefore verified
//! against the IOC's own value in the registry before it counts ([`key_of`] gives both sides
//! the same canonical bytes). Hits are rare, so the verification costs nothing measurable.

use std::hash::BuildHasher;

use ipnet::IpNet;
use openti_model::values::{decode_hex_digest, parse_ip_block};
use openti_model::{DetectionFunction, IocType};

use super::bloom::Bloom;
use super::postings::Postings;
use super::sharded::Sharded;

/// What an exact key stands for: two values of different kinds never match each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Sha1,
    Sha256,
    Md5,
    /// An address or a block: `[prefix length, network bytes…]` (5 bytes IPv4, 17 IPv6).
    Ip,
    DomainEquals,
    /// A DomainName EndWith value, probed with each label-aligned suffix of a host.
    DomainSuffix,
    UrlEquals,
    /// A FileName Equals value, probed with the case-folded base name.
    FileEquals,
}

pub(crate) const KINDS: usize = 8;

/// The exact kind of a (type, function), if it is matched by equality of a key.
pub(crate) fn exact_kind(ioc_type: IocType, function: DetectionFunction) -> Option<Kind> {
    use DetectionFunction::{EndWith, Equals};
    Some(match (ioc_type, function) {
        (IocType::Sha1, Equals) => Kind::Sha1,
        (IocType::Sha256, Equals) => Kind::Sha256,
        (IocType::Md5, Equals) => Kind::Md5,
        (IocType::IpAddress, Equals) => Kind::Ip,
        (IocType::DomainName, Equals) => Kind::DomainEquals,
        (IocType::DomainName, EndWith) => Kind::DomainSuffix,
        (IocType::Url, Equals) => Kind::UrlEquals,
        (IocType::FileName, Equals) => Kind::FileEquals,
        _ => return None,
    })
}

/// Canonical key bytes: short binary keys inline, text borrowed.
pub(crate) enum KeyBytes<'a> {
    Inline { buf: [u8; 33], len: u8 },
    Text(&'a str),
}

impl KeyBytes<'_> {
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            KeyBytes::Inline { buf, len } => &buf[..usize::from(*len)],
            KeyBytes::Text(t) => t.as_bytes(),
        }
    }

    #[inline]
    pub fn inline(bytes: &[u8]) -> KeyBytes<'static> {
        let mut buf = [0u8; 33];
        buf[..bytes.len()].copy_from_slice(bytes);
        KeyBytes::Inline { buf, len: bytes.len() as u8 }
    }
}

/// The key of a block: prefix length, then the network address (host bits clear).
#[inline]
pub(crate) fn ip_key(net: IpNet) -> KeyBytes<'static> {
    let mut buf = [0u8; 33];
    buf[0] = net.prefix_len();
    let len = match net.trunc() {
        IpNet::V4(n) => {
            buf[1..5].copy_from_slice(&n.network().octets());
            5
        }
        IpNet::V6(n) => {
            buf[1..17].copy_from_slice(&n.network().octets());
            17
        }
    };
    KeyBytes::Inline { buf, len }
}

/// The key of an IOC value in normal form (`openti_model::values::normalize_ioc_value`);
/// `None` if the value cannot be read for its kind.
pub(crate) fn key_of(kind: Kind, value: &str) -> Option<KeyBytes<'_>> {
    Some(match kind {
        Kind::Sha1 => KeyBytes::inline(&decode_hex_digest::<20>(value)?),
        Kind::Sha256 => KeyBytes::inline(&decode_hex_digest::<32>(value)?),
        Kind::Md5 => KeyBytes::inline(&decode_hex_digest::<16>(value)?),
        Kind::Ip => ip_key(parse_ip_block(value).ok()?),
        Kind::DomainEquals | Kind::DomainSuffix | Kind::UrlEquals | Kind::FileEquals => KeyBytes::Text(value),
    })
}

/// See the module docs.
#[derive(Clone)]
pub(crate) struct ExactIndex {
    map: Sharded<u64, Postings>,
    filter: Bloom,
    /// Keys removed since the filter was built (their bits are still set).
    stale: usize,
    /// The filter must be rebuilt at the next [`ExactIndex::settle`] (outgrown or stale).
    rebuild: bool,
    /// Postings per kind: kinds without any are not probed at all.
    per_kind: [u32; KINDS],
    /// Random per index (keys are tenant input and probes are telemetry); clones share it.
    hasher: foldhash::quality::RandomState,
}

impl Default for ExactIndex {
    fn default() -> Self {
        ExactIndex {
            map: Sharded::new(),
            filter: Bloom::default(),
            stale: 0,
            rebuild: false,
            per_kind: [0; KINDS],
            hasher: Default::default(),
        }
    }
}

impl ExactIndex {
    /// Whether some IOC of this kind is indexed.
    #[inline]
    pub fn has(&self, kind: Kind) -> bool {
        self.per_kind[kind as usize] > 0
    }

    #[inline]
    pub fn hash(&self, kind: Kind, key: &[u8]) -> u64 {
        self.hasher.hash_one((kind as u8, key))
    }

    /// Makes room for `additional` keys (see [`Sharded::reserve`]).
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Adds IOC `id` under `key`.
    pub fn add(&mut self, kind: Kind, key: &[u8], id: i64) {
        self.add_hashed(self.hash(kind, key), id);
        self.per_kind[kind as usize] += 1;
    }

    /// Removes IOC `id` from `key`; returns whether it was there.
    pub fn remove(&mut self, kind: Kind, key: &[u8], id: i64) -> bool {
        let removed = self.remove_hashed(self.hash(kind, key), id);
        if removed {
            self.per_kind[kind as usize] -= 1;
        }
        removed
    }

    /// Adds IOC `id` under a key hashed by the caller (`anchored.rs` hashes prefixes its own
    /// way). One index must hash every key the same way.
    pub fn add_hashed(&mut self, hash: u64, id: i64) {
        let postings = self.map.get_or_insert_with(hash, Postings::new);
        let new_key = postings.is_empty();
        postings.push(id);
        if new_key && !self.rebuild {
            if self.map.len() > self.filter.capacity() {
                self.rebuild = true;
            } else {
                self.filter.insert(hash);
            }
        }
    }

    /// Removes IOC `id` from a key hashed by the caller; returns whether it was there.
    pub fn remove_hashed(&mut self, hash: u64, id: i64) -> bool {
        let Some(postings) = self.map.get_mut(&hash) else { return false };
        if !postings.remove(id) {
            return false;
        }
        if postings.is_empty() {
            self.map.remove(&hash);
            self.stale += 1;
            // Amortised: a rebuild reads every key, after at least half as many removals.
            if self.stale > self.map.len() / 2 + 4096 {
                self.rebuild = true;
            }
        }
        true
    }

    /// Rebuilds the filter if changes asked for it, with room for half as many keys again.
    pub fn settle(&mut self) {
        if !self.rebuild {
            return;
        }
        let mut filter = Bloom::with_capacity(self.map.len() + self.map.len() / 2 + 1024);
        for (hash, _) in self.map.iter() {
            filter.insert(*hash);
        }
        self.filter = filter;
        self.stale = 0;
        self.rebuild = false;
    }

    /// See [`Bloom::prefetch`].
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        self.filter.prefetch(hash);
    }

    /// Whether a key with this hash may be present (false: certainly absent); the filter
    /// only, never the map.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        self.filter.may_contain(hash)
    }

    /// The postings of a key hash. They may hold IOCs of another key with the same hash:
    /// verify each against its value (see the module docs).
    #[inline]
    pub fn get(&self, hash: u64) -> Option<&Postings> {
        if !self.filter.may_contain(hash) {
            return None;
        }
        self.map.get(&hash)
    }

    pub fn memory(&self) -> usize {
        let spilled: usize = self.map.iter().map(|(_, p)| p.heap_bytes()).sum();
        self.map.heap_bytes() + spilled + self.filter.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_canonical_and_kinds_apart() {
        let upper = key_of(Kind::Md5, "D41D8CD98F00B204E9800998ECF8427E").unwrap();
        let lower = key_of(Kind::Md5, "d41d8cd98f00b204e9800998ecf8427e").unwrap();
        assert_eq!(upper.as_bytes(), lower.as_bytes());
        assert_eq!(upper.as_bytes().len(), 16);
        assert!(key_of(Kind::Sha1, "d41d8cd98f00b204e9800998ecf8427e").is_none());
        assert_eq!(key_of(Kind::Ip, "10.1.2.3/8").unwrap().as_bytes(), &[8, 10, 0, 0, 0]);
        assert_eq!(key_of(Kind::Ip, "2001:db8::1").unwrap().as_bytes().len(), 17);

        let mut index = ExactIndex::default();
        index.add(Kind::DomainEquals, b"evil.com", 1);
        index.add(Kind::DomainSuffix, b"evil.com", 2);
        index.add(Kind::DomainSuffix, b"evil.com", 3);
        index.settle();
        fn ids(index: &ExactIndex, kind: Kind, key: &[u8]) -> Vec<i64> {
            index.get(index.hash(kind, key)).map(|p| p.as_slice().to_vec()).unwrap_or_default()
        }
        assert_eq!(ids(&index, Kind::DomainEquals, b"evil.com"), vec![1]);
        assert_eq!(ids(&index, Kind::DomainSuffix, b"evil.com"), vec![2, 3]);
        assert!(ids(&index, Kind::UrlEquals, b"evil.com").is_empty());
        assert!(index.has(Kind::DomainSuffix) && !index.has(Kind::Sha1));
        assert!(index.remove(Kind::DomainSuffix, b"evil.com", 2));
        assert!(!index.remove(Kind::DomainSuffix, b"evil.com", 2));
        assert!(!index.remove(Kind::DomainEquals, b"other.com", 1));
        assert_eq!(ids(&index, Kind::DomainSuffix, b"evil.com"), vec![3]);
    }

    #[test]
    fn the_filter_follows_growth_and_removals() {
        let mut index = ExactIndex::default();
        let mut snapshots = Vec::new();
        for round in 0..4i64 {
            for i in 0..5_000 {
                let id = round * 5_000 + i;
                index.add(Kind::Sha256, &id.to_le_bytes(), id);
            }
            index.settle();
            snapshots.push((round, index.clone()));
        }
        for i in 0..15_000i64 {
            index.remove(Kind::Sha256, &i.to_le_bytes(), i);
        }
        index.settle();
        let found = |index: &ExactIndex, id: i64| index.get(index.hash(Kind::Sha256, &id.to_le_bytes())).is_some();
        assert!((15_000..20_000).all(|id| found(&index, id)));
        assert!((0..15_000).all(|id| !found(&index, id)));
        // Older snapshots still see what they held.
        for (round, snapshot) in &snapshots {
            assert!((0..(round + 1) * 5_000).all(|id| found(snapshot, id)), "round {round}");
        }
        assert!(!index.has(Kind::Md5) && index.has(Kind::Sha256));
    }
}
