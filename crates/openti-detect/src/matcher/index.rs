//! The contents of one tenant's index and the match path over them.

use std::borrow::Cow;
use std::sync::Arc;

use openti_model::values::{
    compile_ioc_regex, decode_hex_digest, file_base_name, fold_case, fold_case_into, is_normal_observed_domain,
    observed_bare_host, observed_domain_buf, observed_ip, observed_url, parse_ip_block,
};
use openti_model::{DetectionFunction, IocType};

use super::anchored::{Anchored, End};
use super::clean;
use super::exact::{exact_kind, key_of, ExactIndex, Kind};
use super::ip::IpLengths;
use super::patterns::{Ac, Bucket, Rx, Tuning};
use super::postings::Postings;
use super::sharded::Sharded;
use super::{IndexChange, IndexedIoc, Match};
use crate::event::{Event, Field};

/// What the index remembers of an indexed IOC: what a hit needs to decide whether it counts,
/// and enough to find and remove its key or pattern.
#[derive(Debug, Clone, PartialEq)]
struct IocRecord {
    def_id: i64,
    /// ExpiresAt in Unix microseconds; `i64::MAX` for never.
    expires_us: i64,
    ioc_type: IocType,
    function: DetectionFunction,
    /// In normal form.
    value: Box<str>,
}

impl IocRecord {
    fn of(ioc: &IndexedIoc) -> IocRecord {
        IocRecord::with_value(ioc, ioc.value.as_str().into())
    }

    /// Takes the IOC's value without copying it.
    fn from_owned(mut ioc: IndexedIoc) -> IocRecord {
        let value = std::mem::take(&mut ioc.value).into_boxed_str();
        IocRecord::with_value(&ioc, value)
    }

    fn with_value(ioc: &IndexedIoc, value: Box<str>) -> IocRecord {
        IocRecord {
            def_id: ioc.definition_id,
            expires_us: ioc.expires_at.map_or(i64::MAX, |t| t.timestamp_micros()),
            ioc_type: ioc.ioc_type,
            function: ioc.function,
            value,
        }
    }

    /// Heap bytes of the value, as the allocator rounds them.
    fn value_bytes(&self) -> usize {
        self.value.len().div_ceil(16) * 16 + 16
    }
}

/// Url and FileName: prefixes, suffixes, substrings and regexes (Equals values are exact
/// keys).
#[derive(Clone)]
struct TextIndex {
    ioc_type: IocType,
    start: Anchored,
    end: Anchored,
    contains: Bucket<Ac>,
    regex: Bucket<Rx>,
}

impl TextIndex {
    fn new(ioc_type: IocType) -> TextIndex {
        TextIndex {
            ioc_type,
            start: Anchored::new(End::Start),
            end: Anchored::new(End::End),
            contains: Bucket::new((), Tuning::AHO_CORASICK),
            regex: Bucket::new(ioc_type, Tuning::REGEX),
        }
    }

    fn plain_patterns_are_empty(&self) -> bool {
        self.start.is_empty() && self.end.is_empty() && self.contains.is_empty()
    }

    /// Whether any pattern (not Equals) IOC of this type is indexed.
    fn has_patterns(&self) -> bool {
        !self.plain_patterns_are_empty() || !self.regex.is_empty()
    }

    /// StartWith, EndWith and Contains against a value in normal form.
    #[inline]
    fn scan_plain_patterns(&self, value: &str, sink: &mut Sink<'_>) {
        use DetectionFunction::{EndWith, StartWith};
        self.start.scan(value.as_bytes(), |p, part| sink.emit_anchored(p, self.ioc_type, StartWith, part));
        self.end.scan(value.as_bytes(), |p, part| sink.emit_anchored(p, self.ioc_type, EndWith, part));
        self.contains.scan(value, |p| sink.emit(p));
    }

    fn anchored_mut(&mut self, function: DetectionFunction) -> Option<&mut Anchored> {
        match function {
            DetectionFunction::StartWith => Some(&mut self.start),
            DetectionFunction::EndWith => Some(&mut self.end),
            _ => None,
        }
    }

    fn settle(&mut self) {
        self.start.settle();
        self.end.settle();
        self.contains.settle();
        self.regex.settle();
    }

    fn memory(&self) -> usize {
        self.start.memory() + self.end.memory() + self.contains.memory() + self.regex.memory()
    }
}

/// DomainName: StartWith prefixes, a Contains automaton, and the label counts of EndWith values
/// (which are exact keys, probed once per label-aligned suffix of a host: `a.evil.com`,
/// `evil.com`, `com`, so `evil.com` never matches `notevil.com`).
#[derive(Clone)]
struct DomainIndex {
    /// EndWith values per label count: suffixes with a count no IOC has are not probed.
    suffix_labels: Vec<u32>,
    start: Anchored,
    contains: Bucket<Ac>,
}

/// Label counts above this share the last slot of `suffix_labels` (a host name of 253
/// characters has at most 127 labels).
const MAX_LABELS: usize = 127;

fn label_count(host: &str) -> usize {
    (host.bytes().filter(|b| *b == b'.').count() + 1).min(MAX_LABELS)
}

impl DomainIndex {
    fn new() -> DomainIndex {
        DomainIndex {
            suffix_labels: vec![0; MAX_LABELS + 1],
            start: Anchored::new(End::Start),
            contains: Bucket::new((), Tuning::AHO_CORASICK),
        }
    }

    /// Whether a StartWith or Contains IOC is indexed (EndWith values are exact keys).
    fn has_patterns(&self) -> bool {
        !self.start.is_empty() || !self.contains.is_empty()
    }

    fn settle(&mut self) {
        self.start.settle();
        self.contains.settle();
    }

    fn memory(&self) -> usize {
        self.suffix_labels.len() * 4 + self.start.memory() + self.contains.memory()
    }
}

/// Collects the matches of one observable.
struct Sink<'a> {
    defs: &'a Sharded<i64, bool>,
    iocs: &'a Sharded<i64, IocRecord>,
    now_us: i64,
    field: Field,
    raw: &'a str,
    out: &'a mut Vec<Match>,
    /// Whether a pattern scan reported anything (counted or not): such a value is not
    /// remembered as clean (see `clean.rs`).
    pattern_candidate: bool,
}

impl Sink<'_> {
    /// Keeps the IOCs of a pattern that count now.
    #[inline]
    fn emit(&mut self, postings: &Postings) {
        self.pattern_candidate = true;
        for id in postings.iter() {
            if let Some(record) = self.iocs.get(&id) {
                self.emit_record(id, record);
            }
        }
    }

    /// Keeps the IOCs of an exact key that count now and really have that key (not only its
    /// hash: see `exact.rs`).
    #[inline]
    fn emit_exact(&mut self, postings: &Postings, kind: Kind, key: &[u8]) {
        self.emit_where(postings, |record| {
            exact_kind(record.ioc_type, record.function) == Some(kind)
                && key_of(kind, &record.value).is_some_and(|k| k.as_bytes() == key)
        });
    }

    /// Keeps the IOCs of a prefix or suffix hash that count now and really are that part of
    /// the value (not only its hash: see `anchored.rs`).
    #[inline]
    fn emit_anchored(&mut self, postings: &Postings, ioc_type: IocType, function: DetectionFunction, part: &[u8]) {
        self.pattern_candidate = true;
        self.emit_where(postings, |record| {
            record.ioc_type == ioc_type && record.function == function && record.value.as_bytes() == part
        });
    }

    /// Keeps the IOCs of postings found by hash that count now and pass `really`.
    #[inline]
    fn emit_where(&mut self, postings: &Postings, really: impl Fn(&IocRecord) -> bool) {
        for id in postings.iter() {
            if let Some(record) = self.iocs.get(&id).filter(|r| really(r)) {
                self.emit_record(id, record);
            }
        }
    }

    /// Unexpired and of an enabled definition.
    #[inline]
    fn emit_record(&mut self, ioc_id: i64, record: &IocRecord) {
        if record.expires_us > self.now_us && self.defs.get(&record.def_id) == Some(&true) {
            self.out.push(Match {
                ioc_id,
                definition_id: record.def_id,
                field: self.field,
                value: self.raw.to_owned(),
            });
        }
    }
}

/// One tenant's index. Cloning it is cheap (every part is shared copy-on-write); a change
/// copies only what it touches.
#[derive(Clone)]
pub(crate) struct Inner {
    /// Definition id → Enabled. Checked on a hit, so enabling or disabling a definition is
    /// one map write whatever the number of its IOCs.
    defs: Sharded<i64, bool>,
    /// Every indexed IOC (enabled; possibly expired, or of a disabled or unknown definition).
    iocs: Sharded<i64, IocRecord>,
    /// Heap bytes of IOC values held by the registry.
    text_bytes: usize,
    values: Values,
}

/// Every structure that finds IOC ids by observed value, and the match path over them.
#[derive(Clone)]
struct Values {
    /// Changes whenever a pattern (not exact) IOC is added or removed: what values
    /// remembered as matching no pattern are valid for (see `clean.rs`).
    pattern_version: u64,
    exact: ExactIndex,
    ip: IpLengths,
    domain: DomainIndex,
    url: TextIndex,
    file: TextIndex,
}

/// Add or remove one IOC.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
}

impl Inner {
    pub fn new() -> Inner {
        Inner {
            defs: Sharded::new(),
            iocs: Sharded::new(),
            text_bytes: 0,
            values: Values {
                pattern_version: clean::next_pattern_version(),
                exact: ExactIndex::default(),
                ip: IpLengths::default(),
                domain: DomainIndex::new(),
                url: TextIndex::new(IocType::Url),
                file: TextIndex::new(IocType::FileName),
            },
        }
    }

    pub fn len(&self) -> usize {
        self.iocs.len()
    }

    /// Prepares the registry and the exact index for `iocs` more IOCs (see
    /// [`Sharded::reserve`]); most IOCs are exact keys.
    pub fn reserve(&mut self, iocs: usize) {
        self.iocs.reserve(iocs);
        self.values.exact.reserve(iocs);
    }

    pub fn apply(&mut self, change: &IndexChange) {
        match change {
            IndexChange::UpsertIoc(ioc) => self.upsert_ioc(ioc),
            IndexChange::DeleteIoc(id) => self.remove_ioc(*id),
            IndexChange::UpsertDefinition(def) => {
                self.defs.insert(def.id, def.enabled);
            }
            IndexChange::DeleteDefinition(id) => {
                self.defs.remove(id);
                self.remove_iocs_of(*id);
            }
            IndexChange::DeleteIocsOfDefinition(id) => self.remove_iocs_of(*id),
            IndexChange::ClearIocs => {
                let defs = std::mem::take(&mut self.defs);
                *self = Inner::new();
                self.defs = defs;
            }
            IndexChange::Clear => *self = Inner::new(),
        }
    }

    /// One pass over the registry: definitions are deleted rarely, and an index from
    /// definitions to IOCs would cost about 20 bytes per IOC.
    fn remove_iocs_of(&mut self, def_id: i64) {
        let ids: Vec<i64> = self.iocs.iter().filter(|(_, r)| r.def_id == def_id).map(|(id, _)| *id).collect();
        for id in ids {
            self.remove_ioc(id);
        }
    }

    pub fn ioc(&self, id: i64) -> Option<super::IocInfo> {
        let r = self.iocs.get(&id)?;
        Some(super::IocInfo { ioc_type: r.ioc_type, definition_id: r.def_id, value: r.value.to_string() })
    }

    /// [`Inner::upsert_ioc`] of every IOC in order, on two threads: this one puts each IOC
    /// in its structure, the other files it in the registry, in batches handed over as they
    /// fill (so the input is moved, never copied). An IOC that appears twice is placed twice;
    /// the registry keeps the last, and the structures then forget what it displaced — the
    /// outcome of applying the IOCs one by one.
    pub fn load(&mut self, iocs: impl Iterator<Item = IndexedIoc>) {
        const BATCH: usize = 4096;
        let Inner { iocs: registry, text_bytes, values, .. } = self;
        let displaced = std::thread::scope(|scope| {
            let (sender, batches) = std::sync::mpsc::sync_channel::<Vec<(IndexedIoc, bool)>>(4);
            let filing = scope.spawn(move || {
                let mut displaced = Vec::new();
                for batch in batches {
                    for (ioc, indexed) in batch {
                        let id = ioc.id;
                        let old = if indexed {
                            let record = IocRecord::from_owned(ioc);
                            *text_bytes += record.value_bytes();
                            registry.insert(id, record)
                        } else {
                            registry.remove(&id)
                        };
                        if let Some(old) = old {
                            *text_bytes -= old.value_bytes();
                            displaced.push((id, old));
                        }
                    }
                }
                displaced
            });
            let mut batch = Vec::with_capacity(BATCH);
            for ioc in iocs {
                let indexed = ioc.enabled && values.place(ioc.id, ioc.ioc_type, ioc.function, &ioc.value, Op::Add);
                if ioc.enabled && !indexed {
                    warn_not_indexed(&ioc);
                }
                batch.push((ioc, indexed));
                if batch.len() == BATCH {
                    // Fails only if the filing thread panicked: its join below reports it.
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if sender.send(full).is_err() {
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = sender.send(batch);
            }
            drop(sender);
            filing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        for (id, old) in displaced {
            values.place(id, old.ioc_type, old.function, &old.value, Op::Remove);
        }
    }

    pub fn upsert_ioc(&mut self, ioc: &IndexedIoc) {
        let record = ioc.enabled.then(|| IocRecord::of(ioc));
        if let (Some(old), Some(new)) = (self.iocs.get(&ioc.id), record.as_ref()) {
            if old == new {
                return; // a replayed change
            }
        }
        self.remove_ioc(ioc.id);
        let Some(record) = record else { return }; // disabled: not indexed
        if !self.values.place(ioc.id, record.ioc_type, record.function, &record.value, Op::Add) {
            warn_not_indexed(ioc);
            return;
        }
        self.text_bytes += record.value_bytes();
        self.iocs.insert(ioc.id, record);
    }

    pub fn remove_ioc(&mut self, id: i64) {
        let Some(record) = self.iocs.remove(&id) else { return };
        self.values.place(id, record.ioc_type, record.function, &record.value, Op::Remove);
        self.text_bytes -= record.value_bytes();
    }

    /// Compiles what the changes left pending (see `patterns`) and refreshes the exact
    /// index's filter if it asked for it.
    pub fn settle(&mut self) {
        self.values.settle();
    }

    pub fn memory(&self) -> usize {
        self.defs.heap_bytes()
            + self.iocs.heap_bytes()
            + self.text_bytes
            + self.values.memory()
    }

    /// See [`super::TenantIndex::match_event`].
    ///
    /// Two passes, so that the cache misses of the exact index overlap instead of queueing:
    /// the first walks every observable, scans the pattern buckets and, for each exact key,
    /// only computes its hash and asks for its filter block ([`FirstPass`]); while those
    /// blocks arrive the walk goes on. The second asks the filter about each hash, and walks
    /// again, looking keys up for real ([`LookUp`]), only the observables with a key that
    /// passed it: nearly always none.
    pub fn match_event(&self, event: &Event<'_>, now_us: i64, out: &mut Vec<Match>) {
        let start = out.len();
        let mut hashes = FirstPass { observable: 0, patterns: true, hashes: [(0, 0); HELD_KEYS], held: 0 };
        let version = self.values.pattern_version;
        for (i, obs) in event.observables.iter().enumerate() {
            hashes.observable = i;
            let ticket = self.values.pattern_class(obs.field).and_then(|class| clean::look_up(version, class, &obs.value));
            hashes.patterns = !matches!(ticket, Some((true, _)));
            let mut sink = self.sink(obs.field, &obs.value, now_us, out);
            self.values.match_observable(obs.field, &obs.value, &mut hashes, &mut sink);
            if let Some((false, ticket)) = ticket {
                if !sink.pattern_candidate {
                    clean::remember(version, ticket, &obs.value);
                }
            }
        }
        let mut done = usize::MAX;
        for &(hash, i) in &hashes.hashes[..hashes.held] {
            if i != done && self.values.exact.get(hash).is_some() {
                done = i;
                let obs = &event.observables[i];
                let mut sink = self.sink(obs.field, &obs.value, now_us, out);
                self.values.match_observable(obs.field, &obs.value, &mut LookUp, &mut sink);
            }
        }
        dedup_tail(out, start);
    }

    fn sink<'a>(&'a self, field: Field, raw: &'a str, now_us: i64, out: &'a mut Vec<Match>) -> Sink<'a> {
        Sink { defs: &self.defs, iocs: &self.iocs, now_us, field, raw, out, pattern_candidate: false }
    }
}

impl Values {
    /// Adds or removes IOC `id` in the structure of its (type, function). Returns false if
    /// the value cannot be indexed (not in normal form).
    fn place(&mut self, id: i64, ioc_type: IocType, function: DetectionFunction, value: &str, op: Op) -> bool {
        use DetectionFunction::*;
        if let Some(kind) = exact_kind(ioc_type, function) {
            let Some(key) = key_of(kind, value) else { return false };
            let done = match op {
                Op::Add => {
                    self.exact.add(kind, key.as_bytes(), id);
                    true
                }
                Op::Remove => self.exact.remove(kind, key.as_bytes(), id),
            };
            let delta = if op == Op::Add { 1 } else { -1 };
            match kind {
                Kind::Ip if done => {
                    if let Ok(net) = parse_ip_block(value) {
                        self.ip.count(net, delta);
                    }
                }
                Kind::DomainSuffix if done => {
                    let slot = &mut self.domain.suffix_labels[label_count(value)];
                    *slot = slot.saturating_add_signed(delta);
                }
                _ => {}
            }
            return true;
        }
        self.pattern_version = clean::next_pattern_version();
        if op == Op::Add && function == Regex && compile_ioc_regex(ioc_type, value).is_err() {
            return false;
        }
        let anchored = match (ioc_type, function) {
            (IocType::DomainName, StartWith) => &mut self.domain.start,
            (IocType::DomainName, Contains) => return edit_bucket(&mut self.domain.contains, value, id, op),
            (IocType::Url, Contains) => return edit_bucket(&mut self.url.contains, value, id, op),
            (IocType::FileName, Contains) => return edit_bucket(&mut self.file.contains, value, id, op),
            (IocType::Url, Regex) => return edit_bucket(&mut self.url.regex, value, id, op),
            (IocType::FileName, Regex) => return edit_bucket(&mut self.file.regex, value, id, op),
            (IocType::Url, f) => match self.url.anchored_mut(f) {
                Some(a) => a,
                None => return false,
            },
            (IocType::FileName, f) => match self.file.anchored_mut(f) {
                Some(a) => a,
                None => return false,
            },
            // A function the type does not allow.
            _ => return false,
        };
        match op {
            Op::Add => anchored.add(value, id),
            Op::Remove => {
                anchored.remove(value, id);
            }
        }
        true
    }

    fn settle(&mut self) {
        self.exact.settle();
        self.domain.settle();
        self.url.settle();
        self.file.settle();
    }

    fn memory(&self) -> usize {
        self.exact.memory() + self.ip.memory() + self.domain.memory() + self.url.memory() + self.file.memory()
    }

    #[inline]
    fn match_observable<P: Pass>(&self, field: Field, raw: &str, pass: &mut P, sink: &mut Sink<'_>) {
        let types = field.ioc_types();
        if types.contains(&IocType::Url) {
            // A URL field: the URL, and its host as a domain (or a bare host as a domain).
            self.match_remote_url(raw, types.contains(&IocType::DomainName), pass, sink);
        } else {
            for t in types {
                self.match_as(*t, raw, pass, sink);
            }
        }
    }

    #[inline]
    fn match_as<P: Pass>(&self, ioc_type: IocType, raw: &str, pass: &mut P, sink: &mut Sink<'_>) {
        match ioc_type {
            IocType::Sha1 => self.digest_key::<20, P>(Kind::Sha1, raw, pass, sink),
            IocType::Sha256 => self.digest_key::<32, P>(Kind::Sha256, raw, pass, sink),
            IocType::Md5 => self.digest_key::<16, P>(Kind::Md5, raw, pass, sink),
            IocType::IpAddress => {
                if !self.ip.is_empty() {
                    if let Some(addr) = observed_ip(raw) {
                        self.ip.covering_keys(addr, |key| pass.key(self, Kind::Ip, key.as_bytes(), sink));
                    }
                }
            }
            IocType::DomainName => {
                if self.has_domains() {
                    self.match_observed_host(raw, pass, sink);
                }
            }
            IocType::Url => self.match_remote_url(raw, false, pass, sink),
            IocType::FileName => self.match_file(raw, pass, sink),
        }
    }

    #[inline]
    fn digest_key<const N: usize, P: Pass>(&self, kind: Kind, raw: &str, pass: &mut P, sink: &mut Sink<'_>) {
        if self.exact.has(kind) {
            if let Some(digest) = decode_hex_digest::<N>(raw) {
                pass.key(self, kind, &digest, sink);
            }
        }
    }

    /// The class under which a value of `field` is remembered as matching no pattern, or
    /// `None` if no pattern IOC could match it (nothing to spare).
    #[inline]
    fn pattern_class(&self, field: Field) -> Option<clean::Class> {
        match field {
            Field::FileName | Field::InitiatingProcessFileName => self.file.has_patterns().then_some(1),
            Field::RemoteUrl => (self.url.has_patterns() || self.domain.has_patterns()).then_some(2),
            Field::DnsQuery => self.domain.has_patterns().then_some(3),
            _ => None,
        }
    }

    fn has_domains(&self) -> bool {
        self.exact.has(Kind::DomainEquals) || self.exact.has(Kind::DomainSuffix) || self.domain.has_patterns()
    }

    /// Matches an observed host that still needs normalising.
    #[inline]
    fn match_observed_host<P: Pass>(&self, raw: &str, pass: &mut P, sink: &mut Sink<'_>) {
        if is_normal_observed_domain(raw) {
            return self.match_host(raw, pass, sink);
        }
        let mut buf = [0u8; 256];
        if let Some(host) = observed_domain_buf(raw, &mut buf) {
            self.match_host(&host, pass, sink);
        }
    }

    /// Matches a host in normal form (lower case, no trailing dot, punycode) as a domain.
    #[inline]
    fn match_host<P: Pass>(&self, host: &str, pass: &mut P, sink: &mut Sink<'_>) {
        if host.is_empty() {
            return;
        }
        if self.exact.has(Kind::DomainEquals) {
            pass.key(self, Kind::DomainEquals, host.as_bytes(), sink);
        }
        if self.exact.has(Kind::DomainSuffix) {
            let mut labels = host.bytes().filter(|b| *b == b'.').count() + 1;
            let mut rest = host;
            loop {
                if self.domain.suffix_labels.get(labels).is_some_and(|n| *n > 0) {
                    pass.key(self, Kind::DomainSuffix, rest.as_bytes(), sink);
                }
                match rest.find('.') {
                    Some(dot) => {
                        rest = &rest[dot + 1..];
                        labels -= 1;
                    }
                    None => break,
                }
            }
        }
        if pass.patterns() {
            let start = DetectionFunction::StartWith;
            self.domain.start.scan(host.as_bytes(), |p, part| sink.emit_anchored(p, IocType::DomainName, start, part));
            self.domain.contains.scan(host, |p| sink.emit(p));
        }
    }

    #[inline]
    fn match_remote_url<P: Pass>(&self, raw: &str, with_domain: bool, pass: &mut P, sink: &mut Sink<'_>) {
        let want_url_equals = self.exact.has(Kind::UrlEquals);
        let want_url_patterns = pass.patterns() && self.url.has_patterns();
        let want_domain = with_domain && self.has_domains();
        if !want_url_equals && !want_url_patterns && !want_domain {
            return;
        }
        match observed_url(raw) {
            Some(url) => {
                if want_url_equals {
                    pass.key(self, Kind::UrlEquals, url.as_str().as_bytes(), sink);
                }
                if want_url_patterns {
                    self.url.scan_plain_patterns(url.as_str(), sink);
                    self.url.regex.scan(url.as_str(), |p| sink.emit(p));
                }
                if want_domain && url.host_is_domain() {
                    self.match_observed_host(url.host(), pass, sink);
                }
            }
            None => {
                if want_domain {
                    if let Some(host) = observed_bare_host(raw) {
                        self.match_observed_host(host, pass, sink);
                    }
                }
            }
        }
    }

    /// File names may be full paths: plain functions compare the case-folded base name;
    /// regexes (case-insensitive) run on the full value and on the base name.
    #[inline]
    fn match_file<P: Pass>(&self, raw: &str, pass: &mut P, sink: &mut Sink<'_>) {
        let want_equals = self.exact.has(Kind::FileEquals);
        let want_automata = pass.patterns() && !self.file.plain_patterns_are_empty();
        let want_regex = pass.patterns() && !self.file.regex.is_empty();
        if !want_equals && !want_automata && !want_regex {
            return;
        }
        let base = file_base_name(raw);
        if !base.is_empty() && (want_equals || want_automata) {
            let mut buf = [0u8; 256];
            let folded = if base.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                Cow::Borrowed(base) // already folded: no buffer to prepare
            } else {
                match fold_case_into(base, &mut buf) {
                    Some(s) => Cow::Borrowed(s),
                    None => fold_case(base), // a very long name: rare, may allocate
                }
            };
            if want_equals {
                pass.key(self, Kind::FileEquals, folded.as_bytes(), sink);
            }
            if want_automata {
                self.file.scan_plain_patterns(&folded, sink);
            }
        }
        if want_regex {
            self.file.regex.scan(raw, |p| sink.emit(p));
            if base.len() < raw.len() {
                self.file.regex.scan(base, |p| sink.emit(p));
            }
        }
    }
}

/// What a walk over an observable does with its exact keys, and whether it scans the
/// pattern buckets. See [`Inner::match_event`].
trait Pass {
    /// Whether the pattern buckets are scanned (not for a value known to match none).
    fn patterns(&self) -> bool;
    fn key(&mut self, index: &Values, kind: Kind, key: &[u8], sink: &mut Sink<'_>);
}

/// Keys of one event held for the second pass; beyond them, keys are looked up at once.
const HELD_KEYS: usize = 32;

/// The first pass: hashes of the exact keys, their filter blocks fetched; patterns scanned.
struct FirstPass {
    observable: usize,
    patterns: bool,
    /// (key hash, observable index), in observable order. On the stack: matching nothing
    /// allocates nothing.
    hashes: [(u64, usize); HELD_KEYS],
    held: usize,
}

impl Pass for FirstPass {
    #[inline]
    fn patterns(&self) -> bool {
        self.patterns
    }

    #[inline]
    fn key(&mut self, index: &Values, kind: Kind, key: &[u8], sink: &mut Sink<'_>) {
        if self.held == HELD_KEYS {
            return LookUp.key(index, kind, key, sink);
        }
        let hash = index.exact.hash(kind, key);
        index.exact.prefetch(hash);
        self.hashes[self.held] = (hash, self.observable);
        self.held += 1;
    }
}

/// The second pass: exact keys looked up and verified; patterns already done.
struct LookUp;

impl Pass for LookUp {
    fn patterns(&self) -> bool {
        false
    }

    #[inline]
    fn key(&mut self, index: &Values, kind: Kind, key: &[u8], sink: &mut Sink<'_>) {
        if let Some(postings) = index.exact.get(index.exact.hash(kind, key)) {
            sink.emit_exact(postings, kind, key);
        }
    }
}

fn warn_not_indexed(ioc: &IndexedIoc) {
    tracing::warn!(
        ioc_id = ioc.id,
        ioc_type = %ioc.ioc_type,
        function = %ioc.function,
        "IOC value is not in normal form for its type and function; it is not indexed"
    );
}

/// Adds or removes IOC `id` under `pattern` in a pattern bucket.
fn edit_bucket<E: super::patterns::Engine>(bucket: &mut Bucket<E>, pattern: &str, id: i64, op: Op) -> bool {
    match op {
        Op::Add => bucket.edit(&Arc::from(pattern), |p| p.push(id)),
        Op::Remove => bucket.edit_existing(pattern, |p| {
            p.remove(id);
        }),
    }
    true
}

/// An event can reach the same IOC twice with the same observation (a Contains pattern
/// occurring twice in a value, a regex matching both the path and the base name, an adapter
/// listing one hash twice): keep one match per (IOC, field, value).
fn dedup_tail(out: &mut Vec<Match>, start: usize) {
    if out.len() - start < 2 {
        return;
    }
    out[start..]
        .sort_unstable_by(|a, b| (a.ioc_id, a.field.name(), &a.value).cmp(&(b.ioc_id, b.field.name(), &b.value)));
    let mut write = start + 1;
    for read in start + 1..out.len() {
        if out[read] != out[write - 1] {
            out.swap(read, write);
            write += 1;
        }
    }
    out.truncate(write);
}
