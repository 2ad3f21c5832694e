//! The IP prefix structure: addresses and CIDR blocks, IPv4 and IPv6.
//!
//! One hash map per address family keyed by (prefix length, network), plus the set of prefix
//! lengths in use. An address is looked up once per length in use, longest first, with its
//! host bits cleared for that length; each hit is a block that covers the address. This
//! reports every covering block (several IOCs may cover one address, and all must match),
//! costs at most 33 (IPv4) or 129 (IPv6) lookups — in practice a handful, since lists use few
//! distinct lengths — whatever the number of IOCs, and shares the copy-on-write maps of the
//! rest of the index. A binary trie would walk up to 32/128 nodes per address and is harder
//! to share between snapshots.

use std::net::IpAddr;

use ipnet::IpNet;

use super::postings::Postings;
use super::sharded::Sharded;

#[derive(Clone, Default)]
pub(crate) struct IpTable {
    /// Key: prefix length << 32 | network.
    v4: Sharded<u64, Postings>,
    v6: Sharded<(u128, u8), Postings>,
    /// Postings per prefix length, to know which lengths to probe.
    v4_count: Vec<u32>,
    v6_count: Vec<u32>,
    /// Bit `len` set when some posting has that prefix length.
    v4_lens: u64,
    v6_lens: [u64; 3],
}

fn v4_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn v6_mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl IpTable {
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Edits the postings of a block (created if absent) and keeps the length counts right:
    /// `delta` is +1 when `f` adds a posting, -1 when it removes one.
    pub fn edit(&mut self, net: IpNet, delta: i32, f: impl FnOnce(&mut Postings)) {
        match net {
            IpNet::V4(n) => {
                let len = n.prefix_len();
                let key = (u64::from(len) << 32) | u64::from(u32::from(n.network()));
                if !edit_map(&mut self.v4, key, delta, f) {
                    return;
                }
                if self.v4_count.is_empty() {
                    self.v4_count = vec![0; 33];
                }
                let c = &mut self.v4_count[usize::from(len)];
                *c = c.saturating_add_signed(delta);
                if *c > 0 {
                    self.v4_lens |= 1 << len;
                } else {
                    self.v4_lens &= !(1 << len);
                }
            }
            IpNet::V6(n) => {
                let len = n.prefix_len();
                let key = (u128::from(n.network()), len);
                if !edit_map(&mut self.v6, key, delta, f) {
                    return;
                }
                if self.v6_count.is_empty() {
                    self.v6_count = vec![0; 129];
                }
                let c = &mut self.v6_count[usize::from(len)];
                *c = c.saturating_add_signed(delta);
                let (word, bit) = (usize::from(len) / 64, len % 64);
                if *c > 0 {
                    self.v6_lens[word] |= 1 << bit;
                } else {
                    self.v6_lens[word] &= !(1 << bit);
                }
            }
        }
    }

    /// Calls `f` with the postings of every block covering `addr`, longest prefix first.
    #[inline]
    pub fn lookup(&self, addr: IpAddr, mut f: impl FnMut(&Postings)) {
        match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                let mut lens = self.v4_lens;
                while lens != 0 {
                    let len = 63 - lens.leading_zeros() as u8;
                    lens &= !(1 << len);
                    if let Some(p) = self.v4.get(&((u64::from(len) << 32) | u64::from(a & v4_mask(len)))) {
                        f(p);
                    }
                }
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                for word in (0..3).rev() {
                    let mut lens = self.v6_lens[word];
                    while lens != 0 {
                        let bit = 63 - lens.leading_zeros() as u8;
                        lens &= !(1 << bit);
                        let len = word as u8 * 64 + bit;
                        if let Some(p) = self.v6.get(&(a & v6_mask(len), len)) {
                            f(p);
                        }
                    }
                }
            }
        }
    }

    pub fn memory(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + (self.v4_count.len() + self.v6_count.len()) * 4
    }
}

/// Edits the postings of `key` in `map`: adds (`delta` > 0, creating the entry) or removes
/// (only if the entry exists; an emptied entry is dropped). Returns whether it did anything.
pub(crate) fn edit_map<K: std::hash::Hash + Eq + Clone>(
    map: &mut Sharded<K, Postings>,
    key: K,
    delta: i32,
    f: impl FnOnce(&mut Postings),
) -> bool {
    if delta > 0 {
        f(map.get_or_insert_with(key, Postings::new));
        return true;
    }
    let Some(postings) = map.get_mut(&key) else { return false };
    let before = postings.len();
    f(postings);
    let (after, empty) = (postings.len(), postings.is_empty());
    if empty {
        map.remove(&key);
    }
    after != before
}

#[cfg(test)]
mod tests {
    use super::super::postings::{remove_posting, Posting};
    use super::*;

    fn table(blocks: &[(&str, i64)]) -> IpTable {
        let mut t = IpTable::default();
        for (b, id) in blocks {
            let net = openti_model::values::parse_ip_block(b).unwrap();
            t.edit(net, 1, |p| p.push(Posting { ioc_id: *id, def_id: 1, expires_us: i64::MAX }));
        }
        t
    }

    fn hits(t: &IpTable, addr: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        t.lookup(addr.parse().unwrap(), |p| ids.extend(p.iter().map(|p| p.ioc_id)));
        ids
    }

    #[test]
    fn every_covering_block_longest_first() {
        let t = table(&[
            ("0.0.0.0/0", 1),
            ("10.0.0.0/8", 2),
            ("10.1.0.0/16", 3),
            ("10.1.2.3", 4),
            ("10.1.2.3", 5),
            ("11.0.0.0/8", 6),
            ("2001:db8::/32", 7),
            ("2001:db8::1", 8),
            ("::/0", 9),
            ("2001:db8:8000::/33", 10),
        ]);
        assert_eq!(hits(&t, "10.1.2.3"), vec![4, 5, 3, 2, 1]);
        assert_eq!(hits(&t, "10.1.2.4"), vec![3, 2, 1]);
        assert_eq!(hits(&t, "10.2.0.0"), vec![2, 1]);
        assert_eq!(hits(&t, "12.0.0.1"), vec![1]);
        assert_eq!(hits(&t, "2001:db8::1"), vec![8, 7, 9]);
        assert_eq!(hits(&t, "2001:db8:8000::1"), vec![10, 7, 9]);
        assert_eq!(hits(&t, "2001:db9::1"), vec![9]);
    }

    #[test]
    fn removing_the_last_posting_of_a_length_stops_probing_it() {
        let mut t = table(&[("10.0.0.0/8", 1), ("2001:db8::/32", 2)]);
        let v4 = openti_model::values::parse_ip_block("10.0.0.0/8").unwrap();
        let v6 = openti_model::values::parse_ip_block("2001:db8::/32").unwrap();
        // Removing something that is not there changes nothing.
        let other = openti_model::values::parse_ip_block("10.0.0.0/9").unwrap();
        t.edit(other, -1, |p| remove_posting(p, 1));
        assert_eq!(t.v4_lens, 1 << 8);
        t.edit(v4, -1, |p| remove_posting(p, 1));
        t.edit(v6, -1, |p| remove_posting(p, 2));
        assert_eq!((t.v4_lens, t.v6_lens), (0, [0; 3]));
        assert!(t.is_empty());
        assert!(hits(&t, "10.0.0.1").is_empty());
    }
}
