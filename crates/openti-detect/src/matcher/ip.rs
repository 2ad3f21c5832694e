//! The IP prefix structure: addresses and CIDR blocks, IPv4 and IPv6.
//!
//! Blocks are keys of the exact index (`exact.rs`: prefix length and network); this module
//! keeps the set of prefix lengths in use. An address is looked up once per length in use,
//! longest first, with its host bits cleared for that length; each hit is a block that
//! covers the address. This reports every covering block (several IOCs may cover one
//! address, and all must match), costs at most 33 (IPv4) or 129 (IPv6) lookups — in practice
//! a handful, since lists use few distinct lengths — whatever the number of IOCs, and each
//! lookup is first a Bloom filter probe. A binary trie would walk up to 32/128 nodes per
//! address and is harder to share between snapshots.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::exact::{ip_key, KeyBytes};

#[derive(Clone, Default)]
pub(crate) struct IpLengths {
    /// Indexed blocks per prefix length, to know which lengths to probe.
    v4_count: Vec<u32>,
    v6_count: Vec<u32>,
    /// Bit `len` set when some block has that prefix length.
    v4_lens: u64,
    v6_lens: [u64; 3],
}

impl IpLengths {
    pub fn is_empty(&self) -> bool {
        self.v4_lens == 0 && self.v6_lens == [0; 3]
    }

    /// Counts one block more (`delta` 1) or less (-1) of this length.
    pub fn count(&mut self, net: IpNet, delta: i32) {
        let len = net.prefix_len();
        let (counts, size) = match net {
            IpNet::V4(_) => (&mut self.v4_count, 33),
            IpNet::V6(_) => (&mut self.v6_count, 129),
        };
        if counts.is_empty() {
            *counts = vec![0; size];
        }
        let c = &mut counts[usize::from(len)];
        *c = c.saturating_add_signed(delta);
        let used = *c > 0;
        let (word, bit) = match net {
            IpNet::V4(_) => (&mut self.v4_lens, len),
            IpNet::V6(_) => (&mut self.v6_lens[usize::from(len) / 64], len % 64),
        };
        if used {
            *word |= 1 << bit;
        } else {
            *word &= !(1 << bit);
        }
    }

    /// Calls `f` with the key of every block in use that would cover `addr`, longest prefix
    /// first.
    #[inline]
    pub fn covering_keys(&self, addr: IpAddr, mut f: impl FnMut(&KeyBytes<'static>)) {
        match addr {
            IpAddr::V4(a) => {
                let mut lens = self.v4_lens;
                while lens != 0 {
                    let len = 63 - lens.leading_zeros() as u8;
                    lens &= !(1 << len);
                    if let Ok(net) = Ipv4Net::new(a, len) {
                        f(&ip_key(IpNet::V4(net)));
                    }
                }
            }
            IpAddr::V6(a) => {
                for word in (0..3).rev() {
                    let mut lens = self.v6_lens[word];
                    while lens != 0 {
                        let bit = 63 - lens.leading_zeros() as u8;
                        lens &= !(1 << bit);
                        if let Ok(net) = Ipv6Net::new(a, word as u8 * 64 + bit) {
                            f(&ip_key(IpNet::V6(net)));
                        }
                    }
                }
            }
        }
    }

    pub fn memory(&self) -> usize {
        (self.v4_count.len() + self.v6_count.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openti_model::values::parse_ip_block;

    fn lengths(blocks: &[&str]) -> IpLengths {
        let mut t = IpLengths::default();
        for b in blocks {
            t.count(parse_ip_block(b).unwrap(), 1);
        }
        t
    }

    fn keys(t: &IpLengths, addr: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        t.covering_keys(addr.parse().unwrap(), |k| out.push(k.as_bytes().to_vec()));
        out
    }

    fn key(block: &str) -> Vec<u8> {
        ip_key(parse_ip_block(block).unwrap()).as_bytes().to_vec()
    }

    #[test]
    fn every_length_in_use_longest_first() {
        let t = lengths(&["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "2001:db8::/32", "::/0", "2001:db8:8000::/33"]);
        assert_eq!(keys(&t, "10.1.2.3"), vec![key("10.1.2.3"), key("10.1.0.0/16"), key("10.0.0.0/8"), key("0.0.0.0/0")]);
        assert_eq!(keys(&t, "12.0.0.1")[2], key("12.0.0.0/8"));
        assert_eq!(
            keys(&t, "2001:db8:8000::1"),
            vec![key("2001:db8:8000::/33"), key("2001:db8::/32"), key("::/0")]
        );
    }

    #[test]
    fn a_length_without_blocks_is_not_probed() {
        let mut t = lengths(&["10.0.0.0/8", "11.0.0.0/8", "2001:db8::/32"]);
        t.count(parse_ip_block("10.0.0.0/8").unwrap(), -1);
        assert_eq!(t.v4_lens, 1 << 8);
        t.count(parse_ip_block("11.0.0.0/8").unwrap(), -1);
        t.count(parse_ip_block("2001:db8::/32").unwrap(), -1);
        assert!(t.is_empty());
        assert!(keys(&t, "10.0.0.1").is_empty());
    }
}
