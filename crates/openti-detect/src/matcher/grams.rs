//! A substring searcher for large Contains buckets: a q-gram filter in the manner of
//! Hyperscan's FDR.
//!
//! An Aho-Corasick automaton reads the value one byte at a time, each step depending on the
//! state the previous one reached. With tens of thousands of patterns its table no longer
//! fits in cache and nearly every byte becomes a cache miss. Here each pattern is instead
//! represented by one of its 4-byte grams (the rarest among all patterns), and a bitmap
//! small enough to stay in cache says which grams exist. The scan tests the gram at every
//! position of the value — independent look-ups the processor overlaps — and only on a set
//! bit looks the gram up and compares the candidate patterns. Patterns shorter than a gram
//! go to a small automaton.

use std::collections::HashMap;

use aho_corasick::{dfa, nfa, MatchKind};

use super::patterns::walk_unanchored;

/// Gram length.
const Q: usize = 4;

pub(crate) struct Grams {
    /// One bit per gram hash.
    filter: Box<[u64]>,
    /// `32 - log2(filter bits)`: the hash is the top bits of a multiplication.
    shift: u32,
    /// Gram → (pattern index, offset of the gram in the pattern).
    anchors: HashMap<u32, Box<[(u32, u32)]>, foldhash::fast::RandomState>,
    /// Pattern bytes, for verification.
    patterns: Box<[Box<[u8]>]>,
    /// Patterns shorter than a gram, and their indices.
    short: Option<(Short, Box<[u32]>)>,
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

#[inline]
fn gram_at(bytes: &[u8], i: usize) -> Option<u32> {
    let w: [u8; Q] = bytes.get(i..i + Q)?.try_into().ok()?;
    Some(u32::from_le_bytes(w))
}

impl Grams {
    pub fn build(patterns: &[Vec<u8>]) -> Grams {
        // How often each gram occurs over all patterns: a pattern is anchored on its rarest.
        let mut counts: HashMap<u32, u32, foldhash::fast::RandomState> = HashMap::default();
        for p in patterns {
            for i in 0..p.len().saturating_sub(Q - 1) {
                if let Some(g) = gram_at(p, i) {
                    *counts.entry(g).or_insert(0) += 1;
                }
            }
        }
        let long = patterns.iter().filter(|p| p.len() >= Q).count();
        let bits = (long * 64).next_power_of_two().clamp(1 << 12, 1 << 22);
        let shift = 32 - bits.trailing_zeros();
        let mut filter = vec![0u64; bits / 64].into_boxed_slice();
        let mut anchors: HashMap<u32, Vec<(u32, u32)>, foldhash::fast::RandomState> = HashMap::default();
        let mut short = Vec::new();
        for (index, p) in patterns.iter().enumerate() {
            let best = (0..p.len().saturating_sub(Q - 1))
                .filter_map(|i| gram_at(p, i).map(|g| (counts.get(&g).copied().unwrap_or(0), i, g)))
                .min();
            match best {
                Some((_, offset, g)) => {
                    let h = hash(g, shift);
                    filter[h / 64] |= 1 << (h % 64);
                    anchors.entry(g).or_default().push((index as u32, offset as u32));
                }
                None => short.push(index),
            }
        }
        let short = if short.is_empty() {
            None
        } else {
            let bytes: Vec<Vec<u8>> = short.iter().map(|&i| patterns[i].clone()).collect();
            let ids: Box<[u32]> = short.iter().map(|&i| i as u32).collect();
            Short::build(&bytes).map(|a| (a, ids))
        };
        Grams {
            filter,
            shift,
            anchors: anchors.into_iter().map(|(g, v)| (g, v.into_boxed_slice())).collect(),
            patterns: patterns.iter().map(|p| p.clone().into_boxed_slice()).collect(),
            short,
        }
    }

    /// Calls `f` with the index of every pattern occurring in `hay` (once per occurrence).
    #[inline]
    pub fn scan(&self, hay: &[u8], mut f: impl FnMut(usize)) {
        for (i, w) in hay.windows(Q).enumerate() {
            let g = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let h = hash(g, self.shift);
            if self.filter[h / 64] & (1 << (h % 64)) != 0 {
                self.verify(hay, i, g, &mut f);
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

    /// The filter said the gram at `at` may start some pattern's anchor: check them.
    #[inline(never)]
    fn verify(&self, hay: &[u8], at: usize, gram: u32, f: &mut impl FnMut(usize)) {
        let Some(candidates) = self.anchors.get(&gram) else { return };
        for &(index, offset) in candidates.iter() {
            let Some(start) = at.checked_sub(offset as usize) else { continue };
            let Some(pattern) = self.patterns.get(index as usize) else { continue };
            if hay.get(start..start + pattern.len()) == Some(&pattern[..]) {
                f(index as usize);
            }
        }
    }

    pub fn memory(&self) -> usize {
        let anchors: usize = self.anchors.values().map(|v| 16 + v.len() * 8).sum();
        let patterns: usize = self.patterns.iter().map(|p| 16 + p.len()).sum();
        self.filter.len() * 8
            + anchors
            + patterns
            + self.short.as_ref().map_or(0, |(a, ids)| a.memory() + ids.len() * 4)
    }
}

#[inline]
fn hash(gram: u32, shift: u32) -> usize {
    (gram.wrapping_mul(0x9e37_79b1) >> shift) as usize
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
