//! A substring searcher for large Contains buckets: a q-gram filter in the manner of
//! Hyperscan's FDR.
//!
//! An Aho-Corasick automaton reads the value one byte at a time, each step depending on the
//! state the previous one reached. With tens of thousands of patterns its table no longer
//! fits in cache and nearly every byte becomes a cache miss. Here each pattern is instead
//! represented by one of its grams (the rarest among all patterns), and a bitmap small
//! enough to stay in cache says which grams exist. The scan tests the gram at every position
//! of the value — independent look-ups the processor overlaps — and only on a set bit looks
//! the gram up and compares the candidate patterns.
//!
//! Patterns of 8 bytes or more are represented by an 8-byte gram, shorter ones of 4 to 7
//! bytes by a 4-byte gram: the longer the gram, the rarer it is in observed values, so the
//! fewer the candidates to compare (values share short grams such as `.exe` or `http` with
//! patterns all the time). Patterns shorter than 4 bytes go to a small automaton.
//! With both kinds present, a third bitmap holds the first four bytes of every anchor: one
//! look-up per position rules out most positions for both gram lengths at once.

use std::collections::HashMap;

use aho_corasick::{dfa, nfa, MatchKind};

use super::patterns::walk_unanchored;

/// Gram lengths.
const LONG: usize = 8;
const SHORT: usize = 4;

pub(crate) struct Grams {
    /// Patterns of at least [`LONG`] bytes, by 8-byte gram.
    long: Option<GramFilter<LONG>>,
    /// Patterns of [`SHORT`] to [`LONG`] - 1 bytes, by 4-byte gram.
    mid: Option<GramFilter<SHORT>>,
    /// Pattern bytes, for verification.
    patterns: Box<[Box<[u8]>]>,
    /// Patterns shorter than a gram, and their indices.
    short: Option<(Short, Box<[u32]>)>,
    /// With both filters: the first four bytes of every anchor, long or short, so that a
    /// position costs one look-up, and both filters are asked only where this one passes.
    first: Option<GramBits>,
}

/// One bit per hash of a gram, 64 bits per gram put in: small enough to stay in cache, and
/// wrong (a set bit for an absent gram) about once in 64 tests.
struct GramBits {
    words: Box<[u64]>,
    /// `64 - log2(bits)`: the hash is the top bits of a multiplication.
    shift: u32,
}

impl GramBits {
    fn new(grams: usize) -> GramBits {
        let bits = (grams * 64).next_power_of_two().clamp(1 << 12, 1 << 22);
        GramBits { words: vec![0u64; bits / 64].into_boxed_slice(), shift: 64 - bits.trailing_zeros() }
    }

    fn insert(&mut self, gram: u64) {
        let h = hash(gram, self.shift);
        self.words[h / 64] |= 1 << (h % 64);
    }

    /// False: `gram` was certainly not put in.
    #[inline]
    fn may_contain(&self, gram: u64) -> bool {
        let h = hash(gram, self.shift);
        self.words.get(h / 64).is_some_and(|w| w & (1 << (h % 64)) != 0)
    }

    fn memory(&self) -> usize {
        self.words.len() * 8
    }
}

/// The patterns represented by grams of `Q` bytes.
struct GramFilter<const Q: usize> {
    /// The anchors.
    bits: GramBits,
    /// Gram → (pattern index, offset of the gram in the pattern).
    anchors: HashMap<u64, Box<[(u32, u32)]>, foldhash::fast::RandomState>,
}

/// The automaton of the patterns shorter than a gram (at most three bytes each).
enum Short {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

impl Short {
    fn build(patterns: &[Vec<u8>]) -> Option<Short> {
        // A few thousand short patterns at most make a DFA of a few hundred KiB.
        if patterns.len() <= 4096 {
            if let Ok(d) = dfa::Builder::new().match_kind(MatchKind::Standard).build(patterns) {
                return Some(Short::Dfa(d));
            }
        }
        match nfa::contiguous::Builder::new().match_kind(MatchKind::Standard).build(patterns) {
            Ok(n) => Some(Short::Nfa(n)),
            Err(e) => {
                tracing::error!(patterns = patterns.len(), error = %e, "cannot compile short IOC patterns; their IOCs will not match");
                None
            }
        }
    }

    fn memory(&self) -> usize {
        use aho_corasick::automaton::Automaton;
        match self {
            Short::Dfa(a) => a.memory_usage(),
            Short::Nfa(a) => a.memory_usage(),
        }
    }
}

/// The `Q` bytes at `i` as an integer.
#[inline]
fn gram_at<const Q: usize>(bytes: &[u8], i: usize) -> Option<u64> {
    let w = bytes.get(i..i + Q)?;
    let mut word = [0u8; 8];
    word[..Q].copy_from_slice(w);
    Some(u64::from_le_bytes(word))
}

#[inline]
fn hash(gram: u64, shift: u32) -> usize {
    (gram.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

impl<const Q: usize> GramFilter<Q> {
    /// The filter of `patterns` (index, bytes), each at least `Q` bytes long.
    fn build(patterns: &[(usize, &[u8])]) -> Option<GramFilter<Q>> {
        if patterns.is_empty() {
            return None;
        }
        // How often each gram occurs over these patterns: a pattern is anchored on its rarest.
        let mut counts: HashMap<u64, u32, foldhash::fast::RandomState> = HashMap::default();
        for (_, p) in patterns {
            for i in 0..=p.len() - Q {
                if let Some(g) = gram_at::<Q>(p, i) {
                    *counts.entry(g).or_insert(0) += 1;
                }
            }
        }
        let mut bits = GramBits::new(patterns.len());
        let mut anchors: HashMap<u64, Vec<(u32, u32)>, foldhash::fast::RandomState> = HashMap::default();
        for &(index, p) in patterns {
            let best = (0..=p.len() - Q)
                .filter_map(|i| gram_at::<Q>(p, i).map(|g| (counts.get(&g).copied().unwrap_or(0), i, g)))
                .min();
            if let Some((_, offset, g)) = best {
                bits.insert(g);
                anchors.entry(g).or_default().push((index as u32, offset as u32));
            }
        }
        Some(GramFilter {
            bits,
            anchors: anchors.into_iter().map(|(g, v)| (g, v.into_boxed_slice())).collect(),
        })
    }

    /// Calls `verify(at, gram)` at every position from `from` on whose gram may anchor a
    /// pattern.
    #[inline]
    fn candidates(&self, hay: &[u8], from: usize, mut verify: impl FnMut(usize, u64)) {
        for at in from..(hay.len() + 1).saturating_sub(Q) {
            let Some(g) = gram_at::<Q>(hay, at) else { break };
            if self.may_anchor(g) {
                verify(at, g);
            }
        }
    }

    /// Whether `gram` may be some pattern's anchor (false: certainly not).
    #[inline]
    fn may_anchor(&self, gram: u64) -> bool {
        self.bits.may_contain(gram)
    }

    fn memory(&self) -> usize {
        let anchors: usize = self.anchors.values().map(|v| 24 + v.len() * 8).sum();
        self.bits.memory() + anchors
    }
}

impl Grams {
    pub fn build(patterns: &[Vec<u8>]) -> Grams {
        let mut long = Vec::new();
        let mut mid = Vec::new();
        let mut short = Vec::new();
        for (index, p) in patterns.iter().enumerate() {
            match p.len() {
                n if n >= LONG => long.push((index, &p[..])),
                n if n >= SHORT => mid.push((index, &p[..])),
                _ => short.push(index),
            }
        }
        let short = if short.is_empty() {
            None
        } else {
            let bytes: Vec<Vec<u8>> = short.iter().map(|&i| patterns[i].clone()).collect();
            let ids: Box<[u32]> = short.iter().map(|&i| i as u32).collect();
            Short::build(&bytes).map(|a| (a, ids))
        };
        let long = GramFilter::<LONG>::build(&long);
        let mid = GramFilter::<SHORT>::build(&mid);
        let first = match (&long, &mid) {
            (Some(l), Some(m)) => {
                let mut first = GramBits::new(l.anchors.len() + m.anchors.len());
                for gram in l.anchors.keys().chain(m.anchors.keys()) {
                    first.insert(gram & 0xffff_ffff);
                }
                Some(first)
            }
            _ => None,
        };
        Grams { long, mid, patterns: patterns.iter().map(|p| p.clone().into_boxed_slice()).collect(), short, first }
    }

    /// Calls `f` with the index of every pattern occurring in `hay` (once per occurrence).
    #[inline]
    pub fn scan(&self, hay: &[u8], mut f: impl FnMut(usize)) {
        match (&self.long, &self.mid, &self.first) {
            // Both filters in one pass: the 8 bytes read at a position are its long gram, and
            // their first 4 its short one.
            (Some(long), Some(mid), Some(first)) => {
                for (at, window) in hay.windows(LONG).enumerate() {
                    let mut bytes = [0u8; LONG];
                    bytes.copy_from_slice(window);
                    let word = u64::from_le_bytes(bytes);
                    let short = word & 0xffff_ffff;
                    if !first.may_contain(short) {
                        continue;
                    }
                    if long.may_anchor(word) {
                        self.verify(&long.anchors, hay, at, word, &mut f);
                    }
                    if mid.may_anchor(short) {
                        self.verify(&mid.anchors, hay, at, short, &mut f);
                    }
                }
                // The last positions hold a short gram but no long one.
                let tail = (hay.len() + 1).saturating_sub(LONG);
                mid.candidates(hay, tail, |at, gram| self.verify(&mid.anchors, hay, at, gram, &mut f));
            }
            (long, mid, _) => {
                if let Some(long) = long {
                    long.candidates(hay, 0, |at, gram| self.verify(&long.anchors, hay, at, gram, &mut f));
                }
                if let Some(mid) = mid {
                    mid.candidates(hay, 0, |at, gram| self.verify(&mid.anchors, hay, at, gram, &mut f));
                }
            }
        }
        if let Some((short, ids)) = &self.short {
            let report = |pid: usize| {
                if let Some(&i) = ids.get(pid) {
                    f(i as usize)
                }
            };
            match short {
                Short::Dfa(a) => walk_unanchored(a, hay, report),
                Short::Nfa(a) => walk_unanchored(a, hay, report),
            }
        }
    }

    /// The filter said the gram at `at` may be some pattern's anchor: check them.
    #[inline(never)]
    fn verify(
        &self,
        anchors: &HashMap<u64, Box<[(u32, u32)]>, foldhash::fast::RandomState>,
        hay: &[u8],
        at: usize,
        gram: u64,
        f: &mut impl FnMut(usize),
    ) {
        let Some(candidates) = anchors.get(&gram) else { return };
        for &(index, offset) in candidates.iter() {
            let Some(start) = at.checked_sub(offset as usize) else { continue };
            let Some(pattern) = self.patterns.get(index as usize) else { continue };
            if hay.get(start..start + pattern.len()) == Some(&pattern[..]) {
                f(index as usize);
            }
        }
    }

    pub fn memory(&self) -> usize {
        let patterns: usize = self.patterns.iter().map(|p| 16 + p.len()).sum();
        self.first.as_ref().map_or(0, GramBits::memory)
            + self.long.as_ref().map_or(0, |g| g.memory())
            + self.mid.as_ref().map_or(0, |g| g.memory())
            + patterns
            + self.short.as_ref().map_or(0, |(a, ids)| a.memory() + ids.len() * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(g: &Grams, hay: &str) -> Vec<usize> {
        let mut v = Vec::new();
        g.scan(hay.as_bytes(), |i| v.push(i));
        v.sort();
        v
    }

    #[test]
    fn finds_every_occurrence_of_long_and_short_patterns() {
        let patterns: Vec<Vec<u8>> =
            ["evil", "evil.com", "l.co", "ab", "x", "abcdefgh", "defg"].iter().map(|p| p.as_bytes().to_vec()).collect();
        let g = Grams::build(&patterns);
        assert_eq!(found(&g, "an evil.com site"), vec![0, 1, 2]);
        assert_eq!(found(&g, "evilevil"), vec![0, 0]);
        assert_eq!(found(&g, "xxabcdefgh"), vec![3, 4, 4, 5, 6]);
        assert_eq!(found(&g, "evi"), Vec::<usize>::new());
        // Values shorter than a long gram, and short patterns in the last 7 bytes.
        assert_eq!(found(&g, "zevil"), vec![0]);
        assert_eq!(found(&g, "abcdefgl.co"), vec![2, 3, 6]);
        assert_eq!(found(&g, "zzzzzzzzzzzevil"), vec![0]);
        assert_eq!(found(&g, ""), Vec::<usize>::new());
        assert!(g.memory() > 0);
    }

    #[test]
    fn many_patterns() {
        let patterns: Vec<Vec<u8>> = (0..20_000).map(|i| format!("/w{i}/").into_bytes()).collect();
        let g = Grams::build(&patterns);
        assert_eq!(found(&g, "http://x/w19999/"), vec![19999]);
        assert_eq!(found(&g, "http://x/w1/w2/"), vec![1, 2]);
        assert_eq!(found(&g, "http://x/w20000/"), Vec::<usize>::new());
    }
}
