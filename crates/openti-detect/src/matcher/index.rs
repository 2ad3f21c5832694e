//! The contents of one tenant's index and the match path over them.

use std::borrow::Cow;
use std::sync::Arc;

use openti_model::values::{
    compile_ioc_regex, decode_hex_digest, file_base_name, fold_case, fold_case_into, is_normal_observed_domain,
    observed_bare_host, observed_domain_buf, observed_ip, observed_url, parse_ip_block,
};
use openti_model::{DetectionFunction, IocType};

use super::ip::{edit_map, IpTable};
use super::patterns::{Ac, Anchor, Bucket, Rx, Tuning};
use super::postings::{remove_posting, Posting, Postings};
use super::sharded::Sharded;
use super::{IndexChange, IndexedIoc, Match};
use crate::event::{Event, Field};

/// What the index remembers of an indexed IOC: enough to find and remove its postings.
#[derive(Debug, Clone, PartialEq)]
struct IocRecord {
    def_id: i64,
    expires_us: i64,
    ioc_type: IocType,
    function: DetectionFunction,
    /// Shared with the structure that holds it (text maps and pattern buckets key by it).
    value: Arc<str>,
}

impl IocRecord {
    fn of(ioc: &IndexedIoc) -> IocRecord {
        IocRecord {
            def_id: ioc.definition_id,
            expires_us: ioc.expires_at.map_or(i64::MAX, |t| t.timestamp_micros()),
            ioc_type: ioc.ioc_type,
            function: ioc.function,
            value: Arc::from(ioc.value.as_str()),
        }
    }
}

/// Add or remove one IOC's posting.
#[derive(Clone, Copy)]
enum Op {
    Add(Posting),
    Remove(i64),
}

impl Op {
    fn delta(self) -> i32 {
        match self {
            Op::Add(_) => 1,
            Op::Remove(_) => -1,
        }
    }

    fn apply(self, postings: &mut Postings) {
        match self {
            Op::Add(p) => postings.push(p),
            Op::Remove(id) => remove_posting(postings, id),
        }
    }

    fn to_map<K: std::hash::Hash + Eq + Clone>(self, map: &mut Sharded<K, Postings>, key: K) -> bool {
        edit_map(map, key, self.delta(), |p| self.apply(p))
    }

    fn to_bucket<E: super::patterns::Engine>(self, bucket: &mut Bucket<E>, pattern: &Arc<str>) {
        match self {
            Op::Add(_) => bucket.edit(pattern, |p| self.apply(p)),
            Op::Remove(_) => bucket.edit_existing(pattern, |p| self.apply(p)),
        }
    }
}

/// Url and FileName: exact values, three automata and a regex bucket.
#[derive(Clone)]
struct TextIndex {
    equals: Sharded<Arc<str>, Postings>,
    start: Bucket<Ac>,
    end: Bucket<Ac>,
    contains: Bucket<Ac>,
    regex: Bucket<Rx>,
}

impl TextIndex {
    fn new(ioc_type: IocType) -> TextIndex {
        TextIndex {
            equals: Sharded::new(),
            start: Bucket::new(Anchor::Start, Tuning::AHO_CORASICK),
            end: Bucket::new(Anchor::End, Tuning::AHO_CORASICK),
            contains: Bucket::new(Anchor::Anywhere, Tuning::AHO_CORASICK),
            regex: Bucket::new(ioc_type, Tuning::REGEX),
        }
    }

    fn plain_is_empty(&self) -> bool {
        self.equals.is_empty() && self.start.is_empty() && self.end.is_empty() && self.contains.is_empty()
    }

    fn is_empty(&self) -> bool {
        self.plain_is_empty() && self.regex.is_empty()
    }

    /// Equals, StartWith, EndWith and Contains against a value in normal form.
    #[inline]
    fn match_plain(&self, value: &str, sink: &mut Sink<'_>) {
        if let Some(p) = self.equals.get(value) {
            sink.emit(p);
        }
        self.start.scan(value, |p| sink.emit(p));
        self.end.scan(value, |p| sink.emit(p));
        self.contains.scan(value, |p| sink.emit(p));
    }

    fn settle(&mut self) {
        self.start.settle();
        self.end.settle();
        self.contains.settle();
        self.regex.settle();
    }

    fn memory(&self) -> usize {
        self.equals.heap_bytes()
            + self.start.memory()
            + self.end.memory()
            + self.contains.memory()
            + self.regex.memory()
    }
}

/// DomainName: exact names, label-aligned suffixes, and two automata.
#[derive(Clone)]
struct DomainIndex {
    equals: Sharded<Arc<str>, Postings>,
    /// EndWith values. An observed host is looked up once per label-aligned suffix
    /// (`a.evil.com`, `evil.com`, `com`), so `evil.com` never matches `notevil.com`.
    suffix: Sharded<Arc<str>, Postings>,
    /// EndWith postings per label count of the value: suffixes with a count no IOC has are
    /// not looked up.
    suffix_labels: Vec<u32>,
    start: Bucket<Ac>,
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
            equals: Sharded::new(),
            suffix: Sharded::new(),
            suffix_labels: vec![0; MAX_LABELS + 1],
            start: Bucket::new(Anchor::Start, Tuning::AHO_CORASICK),
            contains: Bucket::new(Anchor::Anywhere, Tuning::AHO_CORASICK),
        }
    }

    fn is_empty(&self) -> bool {
        self.equals.is_empty() && self.suffix.is_empty() && self.start.is_empty() && self.contains.is_empty()
    }

    /// Matches a host in normal form (lower case, no trailing dot, punycode).
    #[inline]
    fn match_host(&self, host: &str, sink: &mut Sink<'_>) {
        if host.is_empty() {
            return;
        }
        if let Some(p) = self.equals.get(host) {
            sink.emit(p);
        }
        if !self.suffix.is_empty() {
            let mut labels = host.bytes().filter(|b| *b == b'.').count() + 1;
            let mut rest = host;
            loop {
                if self.suffix_labels.get(labels).is_some_and(|n| *n > 0) {
                    if let Some(p) = self.suffix.get(rest) {
                        sink.emit(p);
                    }
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
        self.start.scan(host, |p| sink.emit(p));
        self.contains.scan(host, |p| sink.emit(p));
    }

    /// Matches an observed host that still needs normalising.
    #[inline]
    fn match_observed(&self, raw: &str, sink: &mut Sink<'_>) {
        if is_normal_observed_domain(raw) {
            return self.match_host(raw, sink);
        }
        let mut buf = [0u8; 256];
        if let Some(host) = observed_domain_buf(raw, &mut buf) {
            self.match_host(&host, sink);
        }
    }

    fn settle(&mut self) {
        self.start.settle();
        self.contains.settle();
    }

    fn memory(&self) -> usize {
        self.equals.heap_bytes() + self.suffix.heap_bytes() + self.start.memory() + self.contains.memory()
    }
}

/// Collects the matches of one observable.
struct Sink<'a> {
    defs: &'a Sharded<i64, bool>,
    now_us: i64,
    field: Field,
    raw: &'a str,
    out: &'a mut Vec<Match>,
}

impl Sink<'_> {
    /// Keeps the postings that count now: unexpired, of an enabled definition.
    #[inline]
    fn emit(&mut self, postings: &Postings) {
        for p in postings {
            if p.expires_us > self.now_us && self.defs.get(&p.def_id) == Some(&true) {
                self.out.push(Match {
                    ioc_id: p.ioc_id,
                    definition_id: p.def_id,
                    field: self.field,
                    value: self.raw.to_owned(),
                });
            }
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
    /// Definition id → its indexed IOCs, for DeleteDefinition.
    by_def: Sharded<i64, Sharded<i64, ()>>,
    /// Heap bytes of IOC values (shared between the registry and the structures).
    text_bytes: usize,
    sha1: Sharded<[u8; 20], Postings>,
    sha256: Sharded<[u8; 32], Postings>,
    md5: Sharded<[u8; 16], Postings>,
    ip: IpTable,
    domain: DomainIndex,
    url: TextIndex,
    file: TextIndex,
}

impl Inner {
    pub fn new() -> Inner {
        Inner {
            defs: Sharded::new(),
            iocs: Sharded::new(),
            by_def: Sharded::new(),
            text_bytes: 0,
            sha1: Sharded::new(),
            sha256: Sharded::new(),
            md5: Sharded::new(),
            ip: IpTable::default(),
            domain: DomainIndex::new(),
            url: TextIndex::new(IocType::Url),
            file: TextIndex::new(IocType::FileName),
        }
    }

    pub fn len(&self) -> usize {
        self.iocs.len()
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
                if let Some(iocs) = self.by_def.remove(id) {
                    for (ioc_id, ()) in iocs.iter() {
                        self.remove_ioc(*ioc_id);
                    }
                }
            }
            IndexChange::DeleteIocsOfDefinition(id) => {
                if let Some(iocs) = self.by_def.remove(id) {
                    for (ioc_id, ()) in iocs.iter() {
                        self.remove_ioc(*ioc_id);
                    }
                }
            }
            IndexChange::ClearIocs => {
                let defs = std::mem::take(&mut self.defs);
                *self = Inner::new();
                self.defs = defs;
            }
            IndexChange::Clear => *self = Inner::new(),
        }
    }

    pub fn ioc(&self, id: i64) -> Option<super::IocInfo> {
        let r = self.iocs.get(&id)?;
        Some(super::IocInfo { ioc_type: r.ioc_type, definition_id: r.def_id, value: r.value.to_string() })
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
        let posting = Posting { ioc_id: ioc.id, def_id: record.def_id, expires_us: record.expires_us };
        if !self.place(&record, Op::Add(posting)) {
            tracing::warn!(
                ioc_id = ioc.id,
                ioc_type = %ioc.ioc_type,
                function = %ioc.function,
                "IOC value is not in normal form for its type and function; it is not indexed"
            );
            return;
        }
        self.text_bytes += record.value.len() + 16;
        self.by_def.get_or_insert_with(record.def_id, Sharded::new).insert(ioc.id, ());
        self.iocs.insert(ioc.id, record);
    }

    pub fn remove_ioc(&mut self, id: i64) {
        let Some(record) = self.iocs.remove(&id) else { return };
        self.place(&record, Op::Remove(id));
        self.text_bytes -= record.value.len() + 16;
        if let Some(set) = self.by_def.get_mut(&record.def_id) {
            set.remove(&id);
            if set.is_empty() {
                self.by_def.remove(&record.def_id);
            }
        }
    }

    /// Adds or removes the posting of `record` in the structure of its (type, function).
    /// Returns false if the value cannot be indexed (not in normal form).
    fn place(&mut self, record: &IocRecord, op: Op) -> bool {
        use DetectionFunction::*;
        let value = &record.value;
        match (record.ioc_type, record.function) {
            (IocType::Sha1, Equals) => place_digest(&mut self.sha1, value, op),
            (IocType::Sha256, Equals) => place_digest(&mut self.sha256, value, op),
            (IocType::Md5, Equals) => place_digest(&mut self.md5, value, op),
            (IocType::IpAddress, Equals) => match parse_ip_block(value) {
                Ok(net) => {
                    self.ip.edit(net, op.delta(), |p| op.apply(p));
                    true
                }
                Err(_) => false,
            },
            (IocType::DomainName, Equals) => {
                op.to_map(&mut self.domain.equals, value.clone());
                true
            }
            (IocType::DomainName, EndWith) => {
                if op.to_map(&mut self.domain.suffix, value.clone()) {
                    let slot = &mut self.domain.suffix_labels[label_count(value)];
                    *slot = slot.saturating_add_signed(op.delta());
                }
                true
            }
            (IocType::DomainName, StartWith) => {
                op.to_bucket(&mut self.domain.start, value);
                true
            }
            (IocType::DomainName, Contains) => {
                op.to_bucket(&mut self.domain.contains, value);
                true
            }
            (t @ (IocType::Url | IocType::FileName), f) => {
                if matches!(op, Op::Add(_)) && f == Regex && compile_ioc_regex(t, value).is_err() {
                    return false;
                }
                let text = if t == IocType::Url { &mut self.url } else { &mut self.file };
                match f {
                    Equals => {
                        op.to_map(&mut text.equals, value.clone());
                    }
                    StartWith => op.to_bucket(&mut text.start, value),
                    EndWith => op.to_bucket(&mut text.end, value),
                    Contains => op.to_bucket(&mut text.contains, value),
                    Regex => op.to_bucket(&mut text.regex, value),
                }
                true
            }
            // A function the type does not allow.
            _ => false,
        }
    }

    /// Compiles what the changes left pending (see `patterns`).
    pub fn settle(&mut self) {
        self.domain.settle();
        self.url.settle();
        self.file.settle();
    }

    pub fn memory(&self) -> usize {
        let by_def: usize = self.by_def.iter().map(|(_, s)| s.heap_bytes()).sum();
        self.defs.heap_bytes()
            + self.iocs.heap_bytes()
            + self.by_def.heap_bytes()
            + by_def
            + self.text_bytes
            + self.sha1.heap_bytes()
            + self.sha256.heap_bytes()
            + self.md5.heap_bytes()
            + self.ip.memory()
            + self.domain.memory()
            + self.url.memory()
            + self.file.memory()
    }

    /// See [`super::TenantIndex::match_event`].
    pub fn match_event(&self, event: &Event<'_>, now_us: i64, out: &mut Vec<Match>) {
        let start = out.len();
        for obs in &event.observables {
            let raw: &str = &obs.value;
            let mut sink = Sink { defs: &self.defs, now_us, field: obs.field, raw, out: &mut *out };
            let types = obs.field.ioc_types();
            if types.contains(&IocType::Url) {
                // A URL field: the URL, and its host as a domain (or a bare host as a domain).
                self.match_remote_url(raw, types.contains(&IocType::DomainName), &mut sink);
            } else {
                for t in types {
                    self.match_as(*t, raw, &mut sink);
                }
            }
        }
        dedup_tail(out, start);
    }

    #[inline]
    fn match_as(&self, ioc_type: IocType, raw: &str, sink: &mut Sink<'_>) {
        match ioc_type {
            IocType::Sha1 => lookup_digest::<20>(&self.sha1, raw, sink),
            IocType::Sha256 => lookup_digest::<32>(&self.sha256, raw, sink),
            IocType::Md5 => lookup_digest::<16>(&self.md5, raw, sink),
            IocType::IpAddress => {
                if !self.ip.is_empty() {
                    if let Some(addr) = observed_ip(raw) {
                        self.ip.lookup(addr, |p| sink.emit(p));
                    }
                }
            }
            IocType::DomainName => {
                if !self.domain.is_empty() {
                    self.domain.match_observed(raw, sink);
                }
            }
            IocType::Url => self.match_remote_url(raw, false, sink),
            IocType::FileName => self.match_file(raw, sink),
        }
    }

    #[inline]
    fn match_remote_url(&self, raw: &str, with_domain: bool, sink: &mut Sink<'_>) {
        let want_url = !self.url.is_empty();
        let want_domain = with_domain && !self.domain.is_empty();
        if !want_url && !want_domain {
            return;
        }
        match observed_url(raw) {
            Some(url) => {
                if want_url {
                    self.url.match_plain(url.as_str(), sink);
                    self.url.regex.scan(url.as_str(), |p| sink.emit(p));
                }
                if want_domain && url.host_is_domain() {
                    self.domain.match_observed(url.host(), sink);
                }
            }
            None => {
                if want_domain {
                    if let Some(host) = observed_bare_host(raw) {
                        self.domain.match_observed(host, sink);
                    }
                }
            }
        }
    }

    /// File names may be full paths: plain functions compare the case-folded base name;
    /// regexes (case-insensitive) run on the full value and on the base name.
    #[inline]
    fn match_file(&self, raw: &str, sink: &mut Sink<'_>) {
        if self.file.is_empty() {
            return;
        }
        let base = file_base_name(raw);
        if !base.is_empty() && !self.file.plain_is_empty() {
            let mut buf = [0u8; 256];
            let folded = if base.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
                Cow::Borrowed(base) // already folded: no buffer to prepare
            } else {
                match fold_case_into(base, &mut buf) {
                    Some(s) => Cow::Borrowed(s),
                    None => fold_case(base), // a very long name: rare, may allocate
                }
            };
            self.file.match_plain(&folded, sink);
        }
        if !self.file.regex.is_empty() {
            self.file.regex.scan(raw, |p| sink.emit(p));
            if base.len() < raw.len() {
                self.file.regex.scan(base, |p| sink.emit(p));
            }
        }
    }
}

fn place_digest<const N: usize>(map: &mut Sharded<[u8; N], Postings>, value: &str, op: Op) -> bool {
    match decode_hex_digest::<N>(value) {
        Some(digest) => {
            op.to_map(map, digest);
            true
        }
        None => false,
    }
}

#[inline]
fn lookup_digest<const N: usize>(map: &Sharded<[u8; N], Postings>, raw: &str, sink: &mut Sink<'_>) {
    if map.is_empty() {
        return;
    }
    if let Some(digest) = decode_hex_digest::<N>(raw) {
        if let Some(p) = map.get(&digest) {
            sink.emit(p);
        }
    }
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
