//! Pattern buckets: the IOCs of one (type, function) that are matched by scanning the
//! observed value — Aho-Corasick automata for Contains and regex sets for Regex (StartWith
//! and EndWith hash prefixes and suffixes instead: `anchored.rs`).
//!
//! # Engines
//! - Contains reads every byte: a DFA while its table fits in cache (1 MiB), else the q-gram
//!   filter of `grams.rs`, whose working set stays in cache at any size.
//! - Regex: `RegexSet`s of at most 64 patterns (compile time and size limits stay bounded),
//!   compiled with the flags of `openti_model::values::compile_ioc_regex`.
//!
//! # Why layers and tombstones
//! An automaton or a regex set cannot be changed in place; rebuilding one costs time
//! proportional to all its patterns (tens of milliseconds for tens of thousands of
//! patterns). A bucket therefore keeps its compiled patterns in two layers:
//!
//! - a large **base** layer, rebuilt rarely;
//! - a small **delta** layer holding the patterns added since, rebuilt on each change that
//!   adds a pattern (cost proportional to the delta, about 4·√n patterns for a base of n:
//!   see [`Tuning`]).
//!
//! The IOCs themselves are not in the automata: a layer reports pattern texts, and the
//! bucket's copy-on-write map (pattern → postings) says which IOCs have that pattern. So
//! deleting, disabling or re-expiring an IOC only edits the map: a pattern left without IOCs
//! stays in its layer as a **tombstone** that matches nothing, and re-adding it costs nothing.
//! When the delta outgrows its limit, or tombstones outnumber live patterns, the next change
//! rebuilds the base from the live patterns (amortised over the changes that led there).
//!
//! The price: a scan runs over up to two layers, and tombstones cost memory and scan time
//! until the next compaction. Batches (bulk uploads, [`super::TenantIndex::build`]) settle
//! once per batch, not once per IOC.

use std::sync::Arc;

use aho_corasick::automaton::Automaton;
use aho_corasick::{dfa, nfa, Anchored, MatchKind, StartKind};
use openti_model::values::{build_ioc_regex_set, regex_case_insensitive, REGEX_NEST_LIMIT};
use openti_model::IocType;
use regex::RegexSet;

use super::grams::Grams;
use super::postings::Postings;
use super::sharded::Sharded;

/// Limits that decide when layers are rebuilt.
///
/// The delta may hold about 4·√(base size) patterns, clamped to `delta_min..=delta_max`:
/// an addition then recompiles O(√n) patterns, and the base (n patterns) is recompiled once
/// every O(√n) additions — O(√n) per addition either way, rather than O(n).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    pub delta_min: usize,
    pub delta_max: usize,
    /// Tombstones tolerated beyond half the live patterns before compaction.
    pub dead_slack: usize,
}

impl Tuning {
    #[cfg(not(test))]
    pub const AHO_CORASICK: Tuning = Tuning { delta_min: 8, delta_max: 1024, dead_slack: 256 };
    #[cfg(not(test))]
    pub const REGEX: Tuning = Tuning { delta_min: 2, delta_max: 64, dead_slack: 32 };
    // Tiny limits in tests so that property tests go through every rebuild path.
    #[cfg(test)]
    pub const AHO_CORASICK: Tuning = Tuning { delta_min: 1, delta_max: 3, dead_slack: 1 };
    #[cfg(test)]
    pub const REGEX: Tuning = Tuning { delta_min: 1, delta_max: 2, dead_slack: 1 };

    /// Most patterns the delta may hold over a base of `base` patterns.
    fn delta_limit(&self, base: usize) -> usize {
        ((base as f64).sqrt() as usize * 4).clamp(self.delta_min, self.delta_max.max(self.delta_min))
    }
}

/// What a layer is compiled into.
pub(crate) trait Engine: Sized + Send + Sync + 'static {
    type Config: Copy + std::fmt::Debug;
    /// Compiles `patterns`. Never fails: a pattern that cannot be compiled is skipped (and
    /// logged); the bucket validates patterns before they get here.
    fn build(config: Self::Config, patterns: &[Arc<str>]) -> Self;
    /// Approximate heap bytes.
    fn memory(&self) -> usize;
}

/// One compiled layer: the engine and the pattern text of each pattern id.
pub(crate) struct Layer<E> {
    engine: E,
    patterns: Box<[Arc<str>]>,
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub postings: Postings,
    /// Whether the pattern is compiled into a layer.
    built: bool,
}

/// The IOCs of one (type, function) matched by an [`Engine`]. See the module docs.
pub(crate) struct Bucket<E: Engine> {
    config: E::Config,
    tuning: Tuning,
    entries: Sharded<Arc<str>, Entry>,
    base: Option<Arc<Layer<E>>>,
    delta: Option<Arc<Layer<E>>>,
    /// Entries with postings.
    live: usize,
    /// Built entries without postings (tombstones).
    dead: usize,
    /// Patterns added since the last [`Bucket::settle`]; empty in a published index.
    pending: Vec<Arc<str>>,
}

// Not derived: the derive would require `E: Clone`, and layers are shared, never cloned.
impl<E: Engine> Clone for Bucket<E> {
    fn clone(&self) -> Self {
        Bucket {
            config: self.config,
            tuning: self.tuning,
            entries: self.entries.clone(),
            base: self.base.clone(),
            delta: self.delta.clone(),
            live: self.live,
            dead: self.dead,
            pending: self.pending.clone(),
        }
    }
}

impl<E: Engine> Bucket<E> {
    pub fn new(config: E::Config, tuning: Tuning) -> Self {
        Bucket {
            config,
            tuning,
            entries: Sharded::new(),
            base: None,
            delta: None,
            live: 0,
            dead: 0,
            pending: Vec::new(),
        }
    }

    /// Whether no IOC is in the bucket (then a scan can be skipped).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The postings of a pattern; the pattern is compiled at the next [`Bucket::settle`].
    pub fn postings_mut(&mut self, pattern: &Arc<str>) -> &mut Postings {
        let mut added = false;
        let entry = self.entries.get_or_insert_with(pattern.clone(), || {
            added = true;
            Entry { postings: Postings::new(), built: false }
        });
        if added {
            self.pending.push(pattern.clone());
        }
        &mut entry.postings
    }

    /// Records that an edit through [`Bucket::postings_mut`] or [`Bucket::edit`] changed
    /// whether the pattern has postings.
    fn account(&mut self, pattern: &str, was_live: bool) {
        let Some(entry) = self.entries.get(pattern) else { return };
        let (is_live, built) = (!entry.postings.is_empty(), entry.built);
        match (was_live, is_live) {
            (false, true) => {
                self.live += 1;
                if built {
                    self.dead -= 1;
                }
            }
            (true, false) => {
                self.live -= 1;
                if built {
                    self.dead += 1;
                } else {
                    // Never compiled: nothing to keep.
                    self.entries.remove(pattern);
                }
            }
            _ => {}
        }
    }

    /// Edits the postings of `pattern` (creating its entry) and keeps the counts right.
    pub fn edit(&mut self, pattern: &Arc<str>, f: impl FnOnce(&mut Postings)) {
        let was_live = self.entries.get(&**pattern).is_some_and(|e| !e.postings.is_empty());
        f(self.postings_mut(pattern));
        self.account(pattern, was_live);
    }

    /// Edits the postings of an existing pattern; does nothing if it has none.
    pub fn edit_existing(&mut self, pattern: &str, f: impl FnOnce(&mut Postings)) {
        let Some(entry) = self.entries.get_mut(pattern) else { return };
        let was_live = !entry.postings.is_empty();
        f(&mut entry.postings);
        self.account(pattern, was_live);
    }

    /// Compiles what changed since the last call: a new delta layer, or a new base when the
    /// delta would grow too large or tombstones pile up.
    pub fn settle(&mut self) {
        let too_dead = self.dead > self.live / 2 + self.tuning.dead_slack;
        if self.pending.is_empty() && !too_dead {
            return;
        }
        let delta_len = self.delta.as_ref().map_or(0, |d| d.patterns.len());
        let base_len = self.base.as_ref().map_or(0, |b| b.patterns.len());
        if too_dead || delta_len + self.pending.len() > self.tuning.delta_limit(base_len) {
            self.rebuild_base();
        } else {
            self.rebuild_delta();
        }
    }

    fn rebuild_base(&mut self) {
        self.pending.clear();
        self.entries.retain(
            |_, e| e.postings.is_empty() || !e.built,
            |_, e| {
                e.built = true;
                !e.postings.is_empty()
            },
        );
        let patterns: Vec<Arc<str>> = self.entries.iter().map(|(k, _)| k.clone()).collect();
        self.live = patterns.len();
        self.dead = 0;
        self.base = (!patterns.is_empty())
            .then(|| Arc::new(Layer { engine: E::build(self.config, &patterns), patterns: patterns.into() }));
        self.delta = None;
    }

    fn rebuild_delta(&mut self) {
        let mut patterns = Vec::new();
        if let Some(delta) = self.delta.take() {
            for p in delta.patterns.iter() {
                match self.entries.get(&**p) {
                    Some(e) if !e.postings.is_empty() => patterns.push(p.clone()),
                    Some(_) => {
                        // A tombstone of the old delta: dropped with it.
                        self.entries.remove(&**p);
                        self.dead -= 1;
                    }
                    None => {}
                }
            }
        }
        for p in std::mem::take(&mut self.pending) {
            let Some(e) = self.entries.get_mut(&*p) else { continue };
            if e.built {
                continue; // listed twice
            }
            if e.postings.is_empty() {
                self.entries.remove(&*p);
            } else {
                e.built = true;
                patterns.push(p);
            }
        }
        self.delta = (!patterns.is_empty())
            .then(|| Arc::new(Layer { engine: E::build(self.config, &patterns), patterns: patterns.into() }));
    }

    /// The compiled layers, base first.
    #[inline]
    fn layers(&self) -> impl Iterator<Item = &Layer<E>> {
        self.base.iter().chain(self.delta.iter()).map(|l| &**l)
    }

    /// Postings of a pattern reported by a layer.
    #[inline]
    fn postings_of(&self, layer: &Layer<E>, pattern_index: usize) -> Option<&Postings> {
        let pattern = layer.patterns.get(pattern_index)?;
        self.entries.get(&**pattern).map(|e| &e.postings).filter(|p| !p.is_empty())
    }

    /// Heap bytes: entries, pattern lists and compiled engines. Pattern text is counted by
    /// the index (it is shared with the IOC registry).
    pub fn memory(&self) -> usize {
        let layers: usize = self.layers().map(|l| l.engine.memory() + l.patterns.len() * 16).sum();
        self.entries.heap_bytes() + layers
    }

    #[cfg(test)]
    pub fn layer_sizes(&self) -> (usize, usize, usize, usize) {
        let len = |l: &Option<Arc<Layer<E>>>| l.as_ref().map_or(0, |l| l.patterns.len());
        (len(&self.base), len(&self.delta), self.live, self.dead)
    }
}

// ---------------------------------------------------------------------------------------------
// Aho-Corasick

/// Estimated DFA size up to which a layer is compiled to a DFA: a DFA scans a byte with one
/// table lookup, several times faster than an NFA that follows failure links, but its table
/// has a row per state (up to one per pattern byte) and a column per byte class. Larger
/// layers go to the gram filter; a contiguous NFA (a few bytes per state) is the fallback.
const DFA_MAX_BYTES: usize = 4 << 20;

/// DFA size above which a Contains layer uses the gram filter ([`Grams`]) instead: Contains
/// reads every byte, and once the table outgrows the cache each byte is a cache miss.
const CONTAINS_DFA_MAX_BYTES: usize = 1 << 20;

/// Whether a Contains layer of `patterns` is better served by the gram filter.
fn use_grams(patterns: &[Vec<u8>]) -> bool {
    if !patterns.iter().any(|p| p.len() >= 4) {
        return false;
    }
    // Tests use it for all but the smallest layers, so property tests cover both engines.
    if cfg!(test) {
        return patterns.len() >= 3;
    }
    dfa_size_bound(patterns) > CONTAINS_DFA_MAX_BYTES
}

/// An upper bound on the DFA table of `patterns`: states ≤ pattern bytes + 1, byte classes ≤
/// distinct bytes + 1, 4 bytes per transition.
fn dfa_size_bound(patterns: &[Vec<u8>]) -> usize {
    let mut seen = [false; 256];
    let mut states = 1usize;
    for p in patterns {
        states += p.len();
        for &b in p {
            seen[usize::from(b)] = true;
        }
    }
    let classes = seen.iter().filter(|s| **s).count() + 1;
    states.saturating_mul(classes).saturating_mul(4)
}

/// An Aho-Corasick layer for Contains: it scans the whole value.
pub(crate) enum Ac {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
    Noncontiguous(nfa::noncontiguous::NFA),
    /// Large Contains layers.
    Grams(Box<Grams>),
    Empty,
}

impl Engine for Ac {
    type Config = ();

    fn build((): (), patterns: &[Arc<str>]) -> Ac {
        let bytes: Vec<Vec<u8>> = patterns.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ac::build_bytes(&bytes)
    }

    fn memory(&self) -> usize {
        match self {
            Ac::Dfa(a) => a.memory_usage(),
            Ac::Nfa(a) => a.memory_usage(),
            Ac::Noncontiguous(a) => a.memory_usage(),
            Ac::Grams(g) => g.memory(),
            Ac::Empty => 0,
        }
    }
}

impl Ac {
    /// Compiles the patterns' bytes: the gram filter for large buckets, else a DFA while
    /// its table stays small, else a contiguous NFA.
    fn build_bytes(bytes: &[Vec<u8>]) -> Ac {
        if use_grams(bytes) {
            return Ac::Grams(Box::new(Grams::build(bytes)));
        }
        if dfa_size_bound(bytes) <= DFA_MAX_BYTES {
            let builder = dfa::Builder::new().match_kind(MatchKind::Standard).start_kind(StartKind::Unanchored).build(bytes);
            if let Ok(d) = builder {
                return Ac::Dfa(d);
            }
        }
        match nfa::contiguous::Builder::new().match_kind(MatchKind::Standard).build(bytes) {
            Ok(n) => Ac::Nfa(n),
            // The contiguous NFA has a smaller state-id space; the other one is the fallback.
            Err(_) => match nfa::noncontiguous::Builder::new().match_kind(MatchKind::Standard).build(bytes) {
                Ok(n) => Ac::Noncontiguous(n),
                Err(e) => {
                    tracing::error!(patterns = bytes.len(), error = %e, "cannot compile an IOC pattern automaton; its IOCs will not match");
                    Ac::Empty
                }
            },
        }
    }

    /// Calls `f` with the index of every pattern found in `hay`. Overlapping occurrences of
    /// one pattern may be reported more than once.
    #[inline]
    pub(crate) fn scan(&self, hay: &[u8], f: impl FnMut(usize)) {
        match self {
            Ac::Dfa(a) => walk_unanchored(a, hay, f),
            Ac::Nfa(a) => walk_unanchored(a, hay, f),
            Ac::Noncontiguous(a) => walk_unanchored(a, hay, f),
            Ac::Grams(g) => g.scan(hay, f),
            Ac::Empty => {}
        }
    }
}

/// Every pattern ending at every position (an overlapping search, without the iterator's
/// bookkeeping).
#[inline]
pub(crate) fn walk_unanchored<A: Automaton>(a: &A, hay: &[u8], mut f: impl FnMut(usize)) {
    let Ok(mut sid) = a.start_state(Anchored::No) else { return };
    for &byte in hay {
        sid = a.next_state(Anchored::No, sid, byte);
        if a.is_special(sid) && a.is_match(sid) {
            for i in 0..a.match_len(sid) {
                f(a.match_pattern(sid, i).as_usize());
            }
        }
    }
}

impl Bucket<Ac> {
    /// Calls `f` with the postings of every pattern found in `hay` (case is the caller's: the
    /// patterns and `hay` are both in normal form).
    #[inline]
    pub fn scan(&self, hay: &str, mut f: impl FnMut(&Postings)) {
        if self.is_empty() || hay.is_empty() {
            return;
        }
        for layer in self.layers() {
            layer.engine.scan(hay.as_bytes(), |pid| {
                if let Some(p) = self.postings_of(layer, pid) {
                    f(p)
                }
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regex

/// Most patterns in one [`RegexSet`]: a set's compile time and the cost of a failed build
/// (which falls back to pattern by pattern) stay bounded.
const REGEX_SET_CHUNK: usize = 64;

/// A regex layer: sets of up to [`REGEX_SET_CHUNK`] patterns each, with the layer index of
/// each set member.
pub(crate) struct Rx {
    sets: Vec<RxSet>,
    pattern_bytes: usize,
}

struct RxSet {
    set: RegexSet,
    /// Layer index of each member.
    ids: Vec<usize>,
    /// A literal every match of each member contains, when each has one (see
    /// [`required_literal`]): a value holding none of them cannot match the set, and finding
    /// that out costs a fraction of running the set.
    required: Option<aho_corasick::AhoCorasick>,
}

/// Literals shorter than this rule out too few values to be worth a search.
const MIN_REQUIRED_LITERAL: usize = 3;

/// The longest literal that every match of `pattern` contains, if one of at least
/// [`MIN_REQUIRED_LITERAL`] bytes is found: the longest run of literals among the top-level
/// pieces of the pattern (a concatenation must match each of its pieces, in order).
///
/// The pattern is parsed with the flags it is compiled with: where matching ignores case,
/// letters are classes, not literals, so only bytes without case variants (digits,
/// punctuation) can form the literal, and the search for it may be exact.
fn required_literal(ioc_type: IocType, pattern: &str) -> Option<Vec<u8>> {
    use regex_syntax::hir::HirKind;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(regex_case_insensitive(ioc_type))
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .parse(pattern)
        .ok()?;
    let pieces = match hir.kind() {
        HirKind::Concat(pieces) => pieces.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let mut best = Vec::new();
    let mut run = Vec::new();
    for piece in pieces.iter().map(Some).chain([None]) {
        match piece.map(|p| p.kind()) {
            Some(HirKind::Literal(lit)) => run.extend_from_slice(&lit.0),
            _ => {
                if run.len() > best.len() {
                    best = std::mem::take(&mut run);
                }
                run.clear();
            }
        }
    }
    (best.len() >= MIN_REQUIRED_LITERAL).then_some(best)
}

impl RxSet {
    fn new(ioc_type: IocType, set: RegexSet, ids: Vec<usize>, patterns: &[&str]) -> RxSet {
        let literals: Option<Vec<Vec<u8>>> = patterns.iter().map(|p| required_literal(ioc_type, p)).collect();
        let required = literals.and_then(|l| aho_corasick::AhoCorasick::new(l).ok());
        RxSet { set, ids, required }
    }
}

impl Engine for Rx {
    type Config = IocType;

    fn build(ioc_type: IocType, patterns: &[Arc<str>]) -> Rx {
        let mut sets = Vec::new();
        for (chunk_no, chunk) in patterns.chunks(REGEX_SET_CHUNK).enumerate() {
            let offset = chunk_no * REGEX_SET_CHUNK;
            let texts: Vec<&str> = chunk.iter().map(|p| &**p).collect();
            match build_ioc_regex_set(ioc_type, &texts) {
                Ok(set) => sets.push(RxSet::new(ioc_type, set, (offset..offset + chunk.len()).collect(), &texts)),
                // Together too large (or one pattern bad): one set per pattern instead.
                Err(_) => {
                    for (i, p) in chunk.iter().enumerate() {
                        match build_ioc_regex_set(ioc_type, [&**p]) {
                            Ok(set) => sets.push(RxSet::new(ioc_type, set, vec![offset + i], &[&**p])),
                            Err(e) => tracing::warn!(pattern = %p, error = %e, "IOC regex skipped"),
                        }
                    }
                }
            }
        }
        Rx { sets, pattern_bytes: patterns.iter().map(|p| p.len()).sum() }
    }

    fn memory(&self) -> usize {
        // The regex crate does not report its memory; compiled programs are typically tens
        // of times the pattern text, plus per-set caches. A rough figure is enough here.
        self.pattern_bytes * 64 + self.sets.len() * 4096
    }
}

impl Bucket<Rx> {
    /// Calls `f` with the postings of every pattern matching `hay`.
    #[inline]
    pub fn scan(&self, hay: &str, mut f: impl FnMut(&Postings)) {
        if self.is_empty() {
            return;
        }
        for layer in self.layers() {
            for RxSet { set, ids, required } in &layer.engine.sets {
                if required.as_ref().is_some_and(|r| !r.is_match(hay)) {
                    continue;
                }
                // `is_match` does not allocate; `matches` does, but only runs on a hit.
                if set.is_match(hay) {
                    for i in set.matches(hay).iter() {
                        if let Some(p) = ids.get(i).and_then(|&pid| self.postings_of(layer, pid)) {
                            f(p)
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_literal_is_the_longest_top_level_run_of_literals_as_compiled() {
        let lit = |t: IocType, p: &str| required_literal(t, p).map(|l| String::from_utf8(l).unwrap());
        let url = r"^https?://[^/]+/gate0\.php\?id=[0-9a-f]{16}$";
        assert_eq!(lit(IocType::Url, url).as_deref(), Some("/gate0.php?id="));
        assert_eq!(lit(IocType::Url, "evil").as_deref(), Some("evil"));
        // File names match ignoring case: letters are classes, only caseless bytes remain.
        assert_eq!(lit(IocType::FileName, r"\\temp\\kalo123[0-9]+\.exe$").as_deref(), Some("123"));
        assert_eq!(lit(IocType::FileName, r"\\temp\\kalo12[0-9]+\.exe$"), None);
        for none in ["a|b", "(?i)abc", ".*", "ab", "[a-z]+", "(", "x{1000}"] {
            assert_eq!(lit(IocType::Url, none), None, "{none}");
        }
    }

    #[test]
    fn the_required_literal_search_never_hides_a_match() {
        let rx = |t: IocType, patterns: &[&str]| {
            let mut b = Bucket::<Rx>::new(t, Tuning::REGEX);
            for (i, p) in patterns.iter().enumerate() {
                b.edit(&Arc::from(*p), |ids| ids.push(i as i64 + 1));
            }
            b.settle();
            b
        };
        let ids = |b: &Bucket<Rx>, hay: &str| {
            let mut v = Vec::new();
            b.scan(hay, |p| v.extend(p.iter()));
            v.sort();
            v
        };
        // File names match ignoring case, Unicode case folding included; every pattern of
        // this set has a caseless literal, so the literal search runs first.
        let files = rx(IocType::FileName, &[r"\\1234\\ab[0-9]+\.exe$", r"\\work\\x_-_\.exe$"]);
        assert!(files.layers().all(|l| l.engine.sets.iter().all(|s| s.required.is_some())));
        assert_eq!(ids(&files, r"C:\1234\AB12.EXE"), vec![1]);
        assert_eq!(ids(&files, "C:\\WOR\u{212A}\\X_-_.EXE"), vec![2], "a Kelvin sign folds to k");
        assert!(ids(&files, r"C:\1234\notepad.exe").is_empty());
        assert!(ids(&files, r"C:\Windows\notepad.exe").is_empty());
        // URLs match case-sensitively.
        let urls = rx(IocType::Url, &[r"^https?://[^/]+/gate0\.php\?id=[0-9a-f]{4}$"]);
        assert!(urls.layers().all(|l| l.engine.sets.iter().all(|s| s.required.is_some())));
        assert_eq!(ids(&urls, "http://h.example/gate0.php?id=00af"), vec![1]);
        assert!(ids(&urls, "http://h.example/GATE0.php?id=00af").is_empty());
        assert!(ids(&urls, "http://h.example/index.php").is_empty());
    }

    fn found(b: &Bucket<Ac>, hay: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        b.scan(hay, |p| ids.extend(p.iter()));
        ids.sort();
        ids.dedup();
        ids
    }

    fn add(b: &mut Bucket<Ac>, pattern: &str, id: i64) {
        b.edit(&Arc::from(pattern), |p| p.push(id));
    }

    fn remove(b: &mut Bucket<Ac>, pattern: &str, id: i64) {
        b.edit_existing(pattern, |p| {
            p.remove(id);
        });
    }

    #[test]
    fn every_occurrence_anywhere() {
        let mut b = Bucket::<Ac>::new((), Tuning { delta_min: 1, delta_max: 100, dead_slack: 100 });
        add(&mut b, "ab", 1);
        add(&mut b, "b", 2);
        add(&mut b, "abc", 3);
        add(&mut b, "c", 4);
        b.settle();
        assert_eq!(found(&b, "abc"), &[1, 2, 3, 4]);
        assert_eq!(found(&b, "xab"), &[1, 2]);
        assert_eq!(found(&b, ""), Vec::<i64>::new());
    }

    #[test]
    fn large_buckets_use_the_gram_filter() {
        let mut b = Bucket::<Ac>::new((), Tuning { delta_min: 1, delta_max: 10, dead_slack: 10 });
        for i in 0..20_000 {
            add(&mut b, &format!("pattern-{i}.exe"), i);
        }
        b.settle();
        assert!(matches!(b.base.as_ref().map(|l| &l.engine), Some(Ac::Grams(_))));
        assert_eq!(found(&b, "my-pattern-19999.exe"), vec![19999]);
        assert_eq!(found(&b, "pattern-19999.ex"), Vec::<i64>::new());
    }

    #[test]
    fn layers_tombstones_and_compaction() {
        let mut b = Bucket::<Ac>::new((), Tuning { delta_min: 1, delta_max: 2, dead_slack: 0 });
        add(&mut b, "aa", 1);
        add(&mut b, "bb", 2);
        add(&mut b, "cc", 3);
        b.settle(); // 3 new > delta_max: base
        assert_eq!(b.layer_sizes(), (3, 0, 3, 0));
        add(&mut b, "dd", 4);
        b.settle();
        assert_eq!(b.layer_sizes(), (3, 1, 4, 0));
        assert_eq!(found(&b, "aabbccdd"), vec![1, 2, 3, 4]);
        // A delete leaves a tombstone; re-adding revives it without a rebuild.
        remove(&mut b, "aa", 1);
        b.settle();
        assert_eq!(b.layer_sizes(), (3, 1, 3, 1));
        assert_eq!(found(&b, "aabbccdd"), vec![2, 3, 4]);
        add(&mut b, "aa", 5);
        b.settle();
        assert_eq!(b.layer_sizes(), (3, 1, 4, 0));
        assert_eq!(found(&b, "aa"), vec![5]);
        // Added and removed before settling: never compiled.
        add(&mut b, "zz", 6);
        remove(&mut b, "zz", 6);
        b.settle();
        assert_eq!(b.layer_sizes(), (3, 1, 4, 0));
        // Tombstones beyond the slack: compaction into a new base.
        remove(&mut b, "aa", 5);
        remove(&mut b, "bb", 2);
        remove(&mut b, "cc", 3);
        b.settle();
        assert_eq!(b.layer_sizes(), (1, 0, 1, 0));
        assert_eq!(found(&b, "aabbccdd"), vec![4]);
        // The delta overflowing rebuilds the base.
        add(&mut b, "ee", 7);
        b.settle();
        add(&mut b, "ff", 8);
        b.settle();
        assert_eq!(b.layer_sizes(), (1, 2, 3, 0));
        add(&mut b, "gg", 9);
        b.settle();
        assert_eq!(b.layer_sizes(), (4, 0, 4, 0));
        assert_eq!(found(&b, "ddeeffgg"), vec![4, 7, 8, 9]);
        assert!(b.memory() > 0);
    }

    #[test]
    fn regex_sets() {
        let mut b = Bucket::<Rx>::new(IocType::FileName, Tuning { delta_min: 1, delta_max: 1000, dead_slack: 100 });
        for i in 0..150 {
            b.edit(&Arc::from(format!("^tool{i}\\.exe$")), |p| p.push(i));
        }
        b.edit(&Arc::from("(unclosed"), |p| p.push(999));
        b.settle();
        let mut ids = Vec::new();
        b.scan("TOOL149.EXE", |p| ids.extend(p.iter()));
        assert_eq!(ids, vec![149]);
        ids.clear();
        b.scan("tool7.exe", |p| ids.extend(p.iter()));
        assert_eq!(ids, vec![7]);
    }
}
