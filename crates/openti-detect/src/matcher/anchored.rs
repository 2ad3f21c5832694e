//! StartWith and EndWith: patterns that must be a prefix (or a suffix) of the value, found
//! by hashing the value's prefixes (suffixes) at the pattern lengths in use.
//!
//! An Aho-Corasick automaton anchored at the first byte would also do, but with thousands of
//! patterns its states are spread over megabytes, and a walk along a value that shares a long
//! prefix with some pattern takes a cache miss at every byte. Here the value is read once,
//! one multiply per byte, and at each length some pattern has the running hash is finished
//! and looked up in the bucket's own exact index, whose Bloom filter is small enough (a few
//! bytes per pattern) to stay in cache. A hit is verified against the IOC's value, so hash
//! collisions cost time, never a false match.
//!
//! The cost is one probe per distinct pattern length up to the value's length, cut short by
//! checkpoints: at lengths 4, 8, 16, 32… the index also holds a marker for every prefix of
//! that length of a longer pattern, and a scan stops at the first checkpoint whose marker is
//! absent (no pattern can continue the value beyond it). Values that share no long prefix
//! with any pattern, nearly all of them, stop after a few probes; at worst a scan costs one
//! probe per distinct length up to the value's length.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::exact::ExactIndex;
use super::postings::Postings;

/// Which end of the value patterns are anchored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// StartWith: prefixes, hashed first byte first.
    Start,
    /// EndWith: suffixes, hashed last byte first.
    End,
}

/// The IOCs of one (type, StartWith or EndWith). See the module docs.
#[derive(Clone)]
pub(crate) struct Anchored {
    end: End,
    keys: ExactIndex,
    /// Patterns per length (index: length in bytes).
    per_length: Vec<u32>,
    /// The lengths with patterns, ascending.
    lengths: Arc<[u32]>,
    /// Random per bucket (patterns are tenant input, values are telemetry).
    seed: u64,
}

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The first checkpoint; each next one is twice the previous.
const FIRST_CHECKPOINT: usize = 4;

/// Tells a checkpoint marker from a pattern of the same prefix.
const MARKER: u64 = 0x6a09_e667_f3bc_c908;

/// The checkpoints strictly inside a pattern of `len` bytes.
fn checkpoints(len: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(FIRST_CHECKPOINT), |c| c.checked_mul(2)).take_while(move |c| *c < len)
}

#[inline]
fn step(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

/// Mixes the running hash with the length (MurmurHash3's finaliser): the Bloom filter takes
/// its block from the high bits and its bits from the low ones, so every bit must depend on
/// every byte.
#[inline]
fn finish(hash: u64, len: usize) -> u64 {
    let mut h = hash ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Anchored {
    pub fn new(end: End) -> Anchored {
        Anchored {
            end,
            keys: ExactIndex::default(),
            per_length: Vec::new(),
            lengths: Arc::from([]),
            seed: foldhash::quality::RandomState::default().hash_one(0u8),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The byte at `i` in the order of hashing.
    #[inline]
    fn byte(&self, bytes: &[u8], i: usize) -> u8 {
        match self.end {
            End::Start => bytes[i],
            End::End => bytes[bytes.len() - 1 - i],
        }
    }

    /// The pattern's key, and the markers of its checkpoints.
    fn keys_of(&self, pattern: &[u8]) -> (u64, Vec<u64>) {
        let mut markers = Vec::new();
        let mut running = self.seed;
        let mut next_checkpoint = FIRST_CHECKPOINT;
        for i in 0..pattern.len() {
            if i == next_checkpoint {
                markers.push(finish(running, i) ^ MARKER);
                next_checkpoint *= 2;
            }
            running = step(running, self.byte(pattern, i));
        }
        debug_assert_eq!(markers.len(), checkpoints(pattern.len()).count());
        (finish(running, pattern.len()), markers)
    }

    pub fn add(&mut self, pattern: &str, id: i64) {
        let (key, markers) = self.keys_of(pattern.as_bytes());
        self.keys.add_hashed(key, id);
        for marker in markers {
            self.keys.add_hashed(marker, id);
        }
        self.count(pattern.len(), 1);
    }

    /// Returns whether `id` had `pattern`.
    pub fn remove(&mut self, pattern: &str, id: i64) -> bool {
        let (key, markers) = self.keys_of(pattern.as_bytes());
        let removed = self.keys.remove_hashed(key, id);
        if removed {
            for marker in markers {
                self.keys.remove_hashed(marker, id);
            }
            self.count(pattern.len(), -1);
        }
        removed
    }

    fn count(&mut self, len: usize, delta: i32) {
        if self.per_length.len() <= len {
            self.per_length.resize(len + 1, 0);
        }
        let count = &mut self.per_length[len];
        let was_used = *count > 0;
        *count = count.saturating_add_signed(delta);
        if was_used != (*count > 0) {
            self.lengths = (0..self.per_length.len() as u32).filter(|l| self.per_length[*l as usize] > 0).collect();
        }
    }

    /// See [`ExactIndex::settle`].
    pub fn settle(&mut self) {
        self.keys.settle();
    }

    /// Calls `f` with the postings of each pattern length whose hash is present, and the part
    /// of `value` they claim to be: the caller verifies it against each IOC's value.
    #[inline]
    pub fn scan(&self, value: &[u8], mut f: impl FnMut(&Postings, &[u8])) {
        let mut running = self.seed;
        let mut read = 0;
        let mut next_checkpoint = FIRST_CHECKPOINT;
        for &len in self.lengths.iter() {
            let len = len as usize;
            if len > value.len() {
                break;
            }
            while read < len {
                if read == next_checkpoint {
                    // Only patterns longer than this remain: one of them must share it.
                    if !self.keys.may_contain(finish(running, read) ^ MARKER) {
                        return;
                    }
                    next_checkpoint *= 2;
                }
                running = step(running, self.byte(value, read));
                read += 1;
            }
            if let Some(postings) = self.keys.get(finish(running, len)) {
                let part = match self.end {
                    End::Start => &value[..len],
                    End::End => &value[value.len() - len..],
                };
                f(postings, part);
            }
        }
    }

    pub fn memory(&self) -> usize {
        self.keys.memory() + self.per_length.capacity() * 4 + self.lengths.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(bucket: &Anchored, value: &str) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        bucket.scan(value.as_bytes(), |p, part| {
            out.extend(p.iter().map(|id| (id, String::from_utf8_lossy(part).into_owned())));
        });
        out.sort();
        out
    }

    #[test]
    fn prefixes_and_suffixes_of_every_length_in_use() {
        for end in [End::Start, End::End] {
            let mut b = Anchored::new(end);
            for (id, p) in [(1, "ab"), (2, "abc"), (3, "bc"), (4, "c"), (5, "abcd")] {
                b.add(p, id);
            }
            b.settle();
            let expect: Vec<(i64, String)> = match end {
                End::Start => vec![(1, "ab".into()), (2, "abc".into())],
                End::End => vec![(2, "abc".into()), (3, "bc".into()), (4, "c".into())],
            };
            assert_eq!(found(&b, "abc"), expect, "{end:?}");
            assert!(found(&b, "").is_empty());
            assert!(found(&b, "x").is_empty());
            assert!(b.remove("abc", 2) && !b.remove("abc", 2) && !b.remove("zz", 1));
            assert!(!found(&b, "abc").iter().any(|(id, _)| *id == 2));
        }
    }

    #[test]
    fn checkpoints_stop_a_scan_only_where_no_pattern_continues() {
        for end in [End::Start, End::End] {
            let mut b = Anchored::new(end);
            let long = "0123456789abcdefghijklmnopqrstuvwxyz-0123456789";
            b.add(long, 1);
            b.add("01", 2);
            b.add(&long[..20], 3);
            b.add(&long[long.len() - 20..], 4);
            b.settle();
            let mut expect: Vec<(i64, String)> = match end {
                End::Start => vec![(1, long.into()), (2, "01".into()), (3, long[..20].into())],
                End::End => vec![(1, long.into()), (4, long[long.len() - 20..].into())],
            };
            expect.sort();
            assert_eq!(found(&b, long), expect, "{end:?}");
            // Past a checkpoint the value leaves every pattern: nothing longer is found.
            let other = format!("{}X{}", &long[..9], &long[10..]);
            let hits: Vec<i64> = found(&b, &other).into_iter().map(|(id, _)| id).collect();
            assert!(!hits.contains(&1), "{end:?}: {hits:?}");
            // Removing the long pattern removes its markers; the shorter ones still match.
            assert!(b.remove(long, 1));
            assert!(!found(&b, long).iter().any(|(id, _)| *id == 1));
            assert_eq!(found(&b, long).len(), expect.len() - 1);
        }
    }

    #[test]
    fn lengths_without_patterns_are_not_probed_and_snapshots_are_independent() {
        let mut a = Anchored::new(End::Start);
        a.add("http://a/", 1);
        a.add("http://bb/", 2);
        a.settle();
        assert_eq!(&*a.lengths, &[9, 10]);
        let mut b = a.clone();
        assert!(b.remove("http://bb/", 2));
        b.add("h", 3);
        b.settle();
        assert_eq!(&*b.lengths, &[1, 9]);
        assert_eq!(found(&a, "http://bb/x"), vec![(2, "http://bb/".into())]);
        assert_eq!(found(&b, "http://bb/x"), vec![(3, "h".into())]);
        assert!(b.remove("h", 3) && b.remove("http://a/", 1));
        assert!(b.is_empty() && !a.is_empty());
    }
}
