//! Matcher tests: behaviour per structure, and property tests against a brute-force
//! reference matcher (a loop over IOCs written from SPEC A.5/B.3, sharing only the value
//! normalisation of `openti_model::values`).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use openti_model::values::{
    compile_ioc_regex, file_base_name, fold_case, normalize_ioc_value, normalize_observed_hash, observed_bare_host,
    observed_domain, observed_ip, observed_url, parse_ip_block,
};
use openti_model::{DetectionFunction, IocType};

use super::*;
use crate::event::{Event, Field, Observable, Raw};

use DetectionFunction::*;
use IocType::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

fn event(observables: &[(Field, &str)]) -> Event<'static> {
    Event {
        timestamp: now(),
        device_id: Some(Cow::Borrowed("dev-1")),
        device_name: None,
        action_type: None,
        observables: observables
            .iter()
            .map(|(f, v)| Observable { field: *f, value: Cow::Owned(v.to_string()) })
            .collect(),
        raw: Raw::Text(Cow::Borrowed("")),
    }
}

fn ioc(id: i64, def: i64, t: IocType, f: DetectionFunction, raw: &str) -> IndexedIoc {
    IndexedIoc {
        id,
        definition_id: def,
        ioc_type: t,
        function: f,
        value: normalize_ioc_value(t, f, raw).unwrap_or_else(|e| panic!("{t}/{f} {raw:?}: {}", e.message)),
        enabled: true,
        expires_at: None,
    }
}

fn def(id: i64) -> IndexedDefinition {
    IndexedDefinition { id, enabled: true }
}

/// (ioc id, field) of every match, sorted.
fn hits(index: &TenantIndex, observables: &[(Field, &str)]) -> Vec<(i64, Field)> {
    let mut out = Vec::new();
    index.match_event(&event(observables), now(), &mut out);
    let mut h: Vec<(i64, Field)> = out.iter().map(|m| (m.ioc_id, m.field)).collect();
    h.sort_by_key(|(id, f)| (*id, f.name()));
    h
}

fn ids(index: &TenantIndex, observables: &[(Field, &str)]) -> Vec<i64> {
    let mut v: Vec<i64> = hits(index, observables).into_iter().map(|(id, _)| id).collect();
    v.dedup();
    v
}

#[test]
fn hashes_match_in_any_case() {
    let sha1 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let index = TenantIndex::build(
        [def(1)],
        [ioc(1, 1, Sha1, Equals, sha1), ioc(2, 1, Sha256, Equals, sha256), ioc(3, 1, Md5, Equals, md5)],
    );
    assert_eq!(
        hits(&index, &[(Field::InitiatingProcessSha1, &sha1.to_uppercase())]),
        vec![(1, Field::InitiatingProcessSha1)]
    );
    assert_eq!(ids(&index, &[(Field::Sha256, sha256), (Field::Md5, &md5.to_uppercase())]), vec![2, 3]);
    // A hash is matched only against fields of its type.
    assert_eq!(ids(&index, &[(Field::Sha256, sha1), (Field::Md5, sha1), (Field::FileName, sha1)]), Vec::<i64>::new());
    assert_eq!(ids(&index, &[(Field::Sha1, &sha1[..39])]), Vec::<i64>::new());
    // The match carries the observed value as it was.
    let mut out = Vec::new();
    index.match_event(&event(&[(Field::Sha1, &sha1.to_uppercase())]), now(), &mut out);
    assert_eq!(out, vec![Match { ioc_id: 1, definition_id: 1, field: Field::Sha1, value: sha1.to_uppercase() }]);
}

#[test]
fn ip_blocks_report_every_covering_ioc() {
    let index = TenantIndex::build(
        [def(1), def(2)],
        [
            ioc(1, 1, IpAddress, Equals, "10.0.0.0/8"),
            ioc(2, 1, IpAddress, Equals, "10.1.2.3"),
            ioc(3, 2, IpAddress, Equals, "10.1.2.3"),
            ioc(4, 1, IpAddress, Equals, "2001:db8::/32"),
            ioc(5, 1, IpAddress, Equals, "::ffff:192.168.0.0/112"),
        ],
    );
    assert_eq!(ids(&index, &[(Field::RemoteIp, "10.1.2.3")]), vec![1, 2, 3]);
    assert_eq!(ids(&index, &[(Field::RemoteIp, "::ffff:10.1.2.3")]), vec![1, 2, 3]);
    assert_eq!(ids(&index, &[(Field::RemoteIp, "10.9.9.9")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::RemoteIp, "[2001:db8::5]:443")]), vec![4]);
    assert_eq!(ids(&index, &[(Field::RemoteIp, "192.168.3.4")]), vec![5]);
    assert_eq!(ids(&index, &[(Field::RemoteIp, "11.0.0.1"), (Field::RemoteIp, "not an ip")]), Vec::<i64>::new());
    // IP IOCs are not matched against URL hosts or DNS queries.
    assert_eq!(
        ids(&index, &[(Field::RemoteUrl, "http://10.1.2.3/"), (Field::DnsQuery, "10.1.2.3")]),
        Vec::<i64>::new()
    );
}

#[test]
fn events_with_more_exact_keys_than_are_held_still_match_everywhere() {
    // Three prefix lengths in use: each address is three exact keys, so 40 addresses are
    // far more keys than the first pass holds (the rest are looked up at once).
    let index = TenantIndex::build(
        [def(1)],
        [
            ioc(1, 1, IpAddress, Equals, "10.0.0.1"),
            ioc(2, 1, IpAddress, Equals, "10.0.1.0/24"),
            ioc(3, 1, IpAddress, Equals, "10.1.0.0/16"),
        ],
    );
    let addresses: Vec<String> = (0..40).map(|i| format!("172.16.0.{i}")).collect();
    for (at, address, expected) in [(0, "10.0.0.1", 1), (20, "10.0.1.9", 2), (39, "10.1.200.1", 3)] {
        let mut observables: Vec<(Field, &str)> = addresses.iter().map(|a| (Field::RemoteIp, a.as_str())).collect();
        observables[at] = (Field::RemoteIp, address);
        assert_eq!(ids(&index, &observables), vec![expected], "{address} at {at}");
    }
}

#[test]
fn domains_end_with_is_label_aligned() {
    let index = TenantIndex::build(
        [def(1)],
        [
            ioc(1, 1, DomainName, EndWith, "evil.com"),
            ioc(2, 1, DomainName, Equals, "exact.org"),
            ioc(3, 1, DomainName, StartWith, "login."),
            ioc(4, 1, DomainName, Contains, "paypa1"),
            ioc(5, 1, DomainName, EndWith, "co.uk"),
        ],
    );
    assert_eq!(ids(&index, &[(Field::DnsQuery, "evil.com")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "A.B.Evil.COM.")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "notevil.com")]), Vec::<i64>::new());
    assert_eq!(ids(&index, &[(Field::DnsQuery, "evil.com.au")]), Vec::<i64>::new());
    assert_eq!(ids(&index, &[(Field::DnsQuery, "exact.org")]), vec![2]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "www.exact.org")]), Vec::<i64>::new());
    assert_eq!(ids(&index, &[(Field::DnsQuery, "login.paypa1.co.uk")]), vec![3, 4, 5]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "my.login.example")]), Vec::<i64>::new());
    // URL hosts, bare hosts (HTTP Host, SNI) with or without a port.
    assert_eq!(hits(&index, &[(Field::RemoteUrl, "HTTPS://WWW.EVIL.COM:8443/x")]), vec![(1, Field::RemoteUrl)]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "cdn.evil.com")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "cdn.evil.com:443")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://notevil.com/evil.com")]), Vec::<i64>::new());
    // Domain IOCs do not look at hashes or file names.
    assert_eq!(ids(&index, &[(Field::FileName, "evil.com")]), Vec::<i64>::new());
}

#[test]
fn internationalised_domains_meet_in_punycode() {
    let index = TenantIndex::build([def(1)], [ioc(1, 1, DomainName, EndWith, "bücher.example")]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "shop.xn--bcher-kva.example")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "shop.BÜCHER.example")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://bücher.example/")]), vec![1]);
}

#[test]
fn urls_by_every_function() {
    let index = TenantIndex::build(
        [def(1)],
        [
            ioc(1, 1, Url, Equals, "http://evil.com/payload.exe"),
            ioc(2, 1, Url, StartWith, "https://evil.com/dl/"),
            ioc(3, 1, Url, EndWith, "/gate.php"),
            ioc(4, 1, Url, Contains, "cmd=whoami"),
            ioc(5, 1, Url, Regex, r"^https?://[^/]+/[a-f0-9]{32}$"),
        ],
    );
    // The observed URL is normalised like the IOC: scheme and host case, default port.
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "HTTP://EVIL.com:80/payload.exe")]), vec![1]);
    assert_eq!(
        ids(&index, &[(Field::RemoteUrl, "http://evil.com/Payload.exe")]),
        Vec::<i64>::new(),
        "paths keep their case"
    );
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "https://evil.com/dl/x.zip")]), vec![2]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "https://evil.com.example/dl/x")]), Vec::<i64>::new());
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://a.b/x/gate.php")]), vec![3]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://a.b/gate.php?x")]), Vec::<i64>::new());
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://a.b/?cmd=whoami&cmd=whoami")]), vec![4], "one match per IOC");
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://x.y/d41d8cd98f00b204e9800998ecf8427e")]), vec![5]);
    // A bare host is only a domain; a URL IOC never sees it.
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "evil.com")]), Vec::<i64>::new());
}

#[test]
fn file_names_compare_base_names_case_insensitively() {
    let index = TenantIndex::build(
        [def(1)],
        [
            ioc(1, 1, FileName, Equals, "mimikatz.exe"),
            ioc(2, 1, FileName, StartWith, "psexe"),
            ioc(3, 1, FileName, EndWith, ".scr"),
            ioc(4, 1, FileName, Contains, "rubeus"),
            ioc(5, 1, FileName, Regex, r"\\temp\\[^\\]+\.exe$"),
            ioc(6, 1, FileName, Regex, r"^svch0st\.exe$"),
            ioc(7, 1, FileName, Equals, "ÉVIL.exe"),
        ],
    );
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\Users\x\Downloads\MimiKatz.EXE")]), vec![1]);
    assert_eq!(ids(&index, &[(Field::InitiatingProcessFileName, "/opt/PsExec64.exe")]), vec![2]);
    assert_eq!(ids(&index, &[(Field::FileName, "invoice.pdf.SCR")]), vec![3]);
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\Rubeus\x.exe")]), Vec::<i64>::new(), "only the base name");
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\x\my-RUBEUS-v2.exe")]), vec![4]);
    // Regexes see the full path and the base name.
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\Users\x\AppData\Local\TEMP\a.exe")]), vec![5]);
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\Windows\SVCH0ST.exe")]), vec![6]);
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\x\évil.EXE")]), vec![7]);
    assert_eq!(ids(&index, &[(Field::FileName, r"C:\dir\")]), Vec::<i64>::new());
}

#[test]
fn several_iocs_with_one_value_all_match() {
    let index = TenantIndex::build(
        [def(1), def(2), def(3)],
        [
            ioc(1, 1, DomainName, Equals, "evil.com"),
            ioc(2, 2, DomainName, Equals, "evil.com"),
            ioc(3, 3, DomainName, EndWith, "evil.com"),
            ioc(4, 1, DomainName, Contains, "evil"),
            ioc(5, 2, DomainName, Contains, "evil"),
            ioc(6, 1, Url, Regex, "evil"),
            ioc(7, 2, Url, Regex, "evil"),
        ],
    );
    assert_eq!(ids(&index, &[(Field::DnsQuery, "evil.com")]), vec![1, 2, 3, 4, 5]);
    assert_eq!(ids(&index, &[(Field::RemoteUrl, "http://evil.com/")]), vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn expiry_is_checked_against_now() {
    let mut expiring = ioc(1, 1, DomainName, Equals, "evil.com");
    expiring.expires_at = Some(now());
    let mut later = ioc(2, 1, DomainName, Equals, "evil.com");
    later.expires_at = Some(now() + Duration::seconds(1));
    let index = TenantIndex::build([def(1)], [expiring, later]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "evil.com")]), vec![2], "expires_at <= now matches nothing");
    let mut out = Vec::new();
    index.match_event(&event(&[(Field::DnsQuery, "evil.com")]), now() - Duration::seconds(1), &mut out);
    assert_eq!(out.len(), 2);
    out.clear();
    index.match_event(&event(&[(Field::DnsQuery, "evil.com")]), now() + Duration::seconds(1), &mut out);
    assert!(out.is_empty());
}

/// Values seen again skip the pattern scans while no pattern changed (see `clean.rs`); they
/// must still meet every pattern added later, in every snapshot as it was, whatever the
/// event's time or the state of definitions when the value was first seen.
#[test]
fn values_seen_before_still_meet_new_patterns_expired_and_disabled_ones() {
    let process = [(Field::InitiatingProcessFileName, "C:\\Tools\\mimikatz.exe")];
    let query = [(Field::DnsQuery, "c2.evil.example")];
    let url = [(Field::RemoteUrl, "http://c2.evil.example/gate.php")];
    let index = TenantIndex::build([def(1)], [ioc(1, 1, FileName, Contains, "zzz")]);
    for _ in 0..3 {
        assert!(ids(&index, &process).is_empty());
        assert!(ids(&index, &query).is_empty());
        assert!(ids(&index, &url).is_empty());
    }
    let index2 = index.apply(&[
        IndexChange::UpsertIoc(ioc(2, 1, FileName, StartWith, "mimi")),
        IndexChange::UpsertIoc(ioc(3, 1, DomainName, StartWith, "c2.")),
        IndexChange::UpsertIoc(ioc(4, 1, Url, EndWith, "/gate.php")),
    ]);
    assert_eq!(ids(&index2, &process), vec![2]);
    assert_eq!(ids(&index2, &query), vec![3]);
    assert_eq!(ids(&index2, &url), vec![3, 4]);
    assert!(ids(&index, &process).is_empty(), "the old snapshot is as it was");
    assert_eq!(ids(&index2, &process), vec![2]);

    // An expired pattern IOC matches nothing now, but an event from before its expiry still
    // meets it although the value was seen (and nothing counted) in between.
    let mut expiring = ioc(5, 1, FileName, EndWith, "katz.exe");
    expiring.expires_at = Some(now() - Duration::seconds(10));
    let index3 = index2.apply(&[IndexChange::UpsertIoc(expiring)]);
    assert_eq!(ids(&index3, &process), vec![2]);
    let mut out = Vec::new();
    index3.match_event(&event(&process), now() - Duration::seconds(20), &mut out);
    let mut earlier: Vec<i64> = out.iter().map(|m| m.ioc_id).collect();
    earlier.sort();
    assert_eq!(earlier, vec![2, 5]);

    // A pattern IOC of a disabled definition counts as soon as the definition is enabled.
    let index4 = index3.apply(&[
        IndexChange::UpsertDefinition(IndexedDefinition { id: 2, enabled: false }),
        IndexChange::UpsertIoc(ioc(6, 2, FileName, Contains, "katz")),
    ]);
    assert_eq!(ids(&index4, &process), vec![2]);
    let index5 = index4.apply(&[IndexChange::UpsertDefinition(def(2))]);
    assert_eq!(ids(&index5, &process), vec![2, 6]);

    // Removing the pattern IOCs: the value is clean again, in the new snapshot only.
    let index6 = index5.apply(&[IndexChange::DeleteIoc(2), IndexChange::DeleteIoc(6)]);
    assert!(ids(&index6, &process).is_empty());
    assert_eq!(ids(&index5, &process), vec![2, 6]);
}

#[test]
fn disabled_and_unknown_definitions_and_disabled_iocs_never_match() {
    let mut disabled_ioc = ioc(3, 1, DomainName, Equals, "evil.com");
    disabled_ioc.enabled = false;
    let index = TenantIndex::build(
        [def(1), IndexedDefinition { id: 2, enabled: false }],
        [
            ioc(1, 1, DomainName, Equals, "evil.com"),
            ioc(2, 2, DomainName, Equals, "evil.com"),
            disabled_ioc,
            ioc(4, 9, DomainName, Equals, "evil.com"),
        ],
    );
    assert_eq!(index.len(), 3, "the disabled IOC is not indexed");
    let q = [(Field::DnsQuery, "evil.com")];
    assert_eq!(ids(&index, &q), vec![1]);
    // Enabling a definition, creating a missing one: their IOCs match at once.
    let index2 = index.apply(&[IndexChange::UpsertDefinition(def(2)), IndexChange::UpsertDefinition(def(9))]);
    assert_eq!(ids(&index2, &q), vec![1, 2, 4]);
    // The old snapshot is unchanged.
    assert_eq!(ids(&index, &q), vec![1]);
    // Disabling an IOC removes it; disabling a definition silences its IOCs.
    let mut off = ioc(1, 1, DomainName, Equals, "evil.com");
    off.enabled = false;
    let index3 = index2.apply(&[
        IndexChange::UpsertIoc(off),
        IndexChange::UpsertDefinition(IndexedDefinition { id: 2, enabled: false }),
    ]);
    assert_eq!(ids(&index3, &q), vec![4]);
    assert_eq!(index3.len(), 2);
}

#[test]
fn deleting_definitions_deletes_their_iocs() {
    let index = TenantIndex::build(
        [def(1), def(2)],
        [
            ioc(1, 1, DomainName, Equals, "evil.com"),
            ioc(2, 1, FileName, Contains, "evil"),
            ioc(3, 2, DomainName, Equals, "evil.com"),
            ioc(4, 1, IpAddress, Equals, "10.0.0.0/8"),
        ],
    );
    let q = [(Field::DnsQuery, "evil.com"), (Field::FileName, "evil.exe"), (Field::RemoteIp, "10.0.0.1")];
    assert_eq!(ids(&index, &q), vec![1, 2, 3, 4]);
    let after = index.apply(&[IndexChange::DeleteDefinition(1)]);
    assert_eq!(ids(&after, &q), vec![3]);
    assert_eq!(after.len(), 1);
    // Re-creating the definition does not bring its IOCs back.
    let again = after.apply(&[IndexChange::UpsertDefinition(def(1))]);
    assert_eq!(ids(&again, &q), vec![3]);
    let cleared = index.apply(&[IndexChange::Clear]);
    assert!(cleared.is_empty());
    assert_eq!(ids(&cleared, &q), Vec::<i64>::new());
    let deleted = index.apply(&[IndexChange::DeleteIoc(3), IndexChange::DeleteIoc(12345)]);
    assert_eq!(ids(&deleted, &q), vec![1, 2, 4]);
}

#[test]
fn moving_an_ioc_to_another_definition_or_value() {
    let index = TenantIndex::build(
        [def(1), IndexedDefinition { id: 2, enabled: false }],
        [ioc(1, 1, DomainName, Equals, "evil.com")],
    );
    let moved = index.apply(&[IndexChange::UpsertIoc(ioc(1, 2, DomainName, Equals, "evil.com"))]);
    assert_eq!(ids(&moved, &[(Field::DnsQuery, "evil.com")]), Vec::<i64>::new());
    let changed = index.apply(&[IndexChange::UpsertIoc(ioc(1, 1, DomainName, EndWith, "other.com"))]);
    assert_eq!(ids(&changed, &[(Field::DnsQuery, "evil.com")]), Vec::<i64>::new());
    assert_eq!(ids(&changed, &[(Field::DnsQuery, "a.other.com")]), vec![1]);
    let after_delete = changed.apply(&[IndexChange::DeleteDefinition(1)]);
    assert!(after_delete.is_empty());
}

#[test]
fn values_not_in_normal_form_are_left_out_without_panicking() {
    let bad = |id, t, f, v: &str| IndexedIoc {
        id,
        definition_id: 1,
        ioc_type: t,
        function: f,
        value: v.to_string(),
        enabled: true,
        expires_at: None,
    };
    let index = TenantIndex::build(
        [def(1)],
        [
            bad(1, Sha1, Equals, "xyz"),
            bad(2, IpAddress, Equals, "999.1.1.1"),
            bad(3, Url, Regex, "(unclosed"),
            bad(4, Sha1, Contains, "abc"),
            bad(5, DomainName, Regex, "evil"),
            bad(6, DomainName, Equals, "evil.com"),
            // A valid value replaced by one that is not: the IOC is left out altogether.
            bad(7, DomainName, Equals, "other.com"),
            bad(7, DomainName, Regex, "other"),
        ],
    );
    assert_eq!(index.len(), 1);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "evil.com")]), vec![6]);
    assert_eq!(ids(&index, &[(Field::DnsQuery, "other.com")]), Vec::<i64>::new());
    assert_eq!(index.ioc(7), None);
}

#[test]
fn nothing_matches_nothing() {
    let index = TenantIndex::default();
    assert!(index.is_empty());
    assert_eq!(ids(&index, &[(Field::DnsQuery, "evil.com"), (Field::RemoteUrl, "http://x/")]), Vec::<i64>::new());
    assert!(index.memory_estimate() > 0);
}

#[test]
fn matcher_publishes_per_tenant() {
    let matcher = Matcher::new();
    let q = event(&[(Field::DnsQuery, "evil.com")]);
    assert!(matcher.tenant("t1").is_empty());
    matcher.apply(
        "t1",
        &[IndexChange::UpsertDefinition(def(1)), IndexChange::UpsertIoc(ioc(1, 1, DomainName, Equals, "evil.com"))],
    );
    let mut out = Vec::new();
    matcher.match_event("t1", &q, now(), &mut out);
    assert_eq!(out.len(), 1);
    out.clear();
    matcher.match_event("t2", &q, now(), &mut out);
    assert!(out.is_empty(), "tenants are isolated");
    // A reader holding a snapshot keeps it across writes.
    let snapshot = matcher.tenant("t1");
    matcher.apply("t1", &[IndexChange::DeleteIoc(1)]);
    assert_eq!(snapshot.len(), 1);
    assert_eq!(matcher.tenant("t1").len(), 0);
    matcher.replace("t2", TenantIndex::build([def(1)], [ioc(1, 1, DomainName, Equals, "evil.com")]));
    assert_eq!(matcher.tenant("t2").len(), 1);
    matcher.remove_tenant("t2");
    assert!(matcher.tenant("t2").is_empty());
}

#[test]
fn concurrent_readers_and_writers() {
    let matcher = std::sync::Arc::new(Matcher::new());
    matcher.apply("t", &[IndexChange::UpsertDefinition(def(1))]);
    let writer = {
        let m = matcher.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                m.apply("t", &[IndexChange::UpsertIoc(ioc(i, 1, DomainName, EndWith, &format!("d{i}.example")))]);
            }
        })
    };
    let q = event(&[(Field::DnsQuery, "x.d0.example")]);
    let mut seen_after = false;
    for _ in 0..2000 {
        let mut out = Vec::new();
        matcher.match_event("t", &q, now(), &mut out);
        // Once the first IOC is visible it stays visible.
        assert!(!(seen_after && out.is_empty()));
        seen_after |= !out.is_empty();
    }
    writer.join().unwrap();
    assert_eq!(matcher.tenant("t").len(), 200);
}

// ---------------------------------------------------------------------------------------------
// Property tests against a brute-force reference

/// What one match is, for comparisons.
type Hit = (i64, i64, &'static str, String);

/// The reference: a loop over IOCs, with the semantics of SPEC A.5 spelled out directly.
fn reference(defs: &BTreeMap<i64, bool>, iocs: &[IndexedIoc], event: &Event<'_>, now: DateTime<Utc>) -> BTreeSet<Hit> {
    let mut hits = BTreeSet::new();
    for obs in &event.observables {
        for ioc in iocs {
            let counts =
                ioc.enabled && defs.get(&ioc.definition_id) == Some(&true) && ioc.expires_at.is_none_or(|e| e > now);
            if counts && reference_matches(ioc, obs.field, &obs.value) {
                hits.insert((ioc.id, ioc.definition_id, obs.field.name(), obs.value.to_string()));
            }
        }
    }
    hits
}

fn reference_matches(ioc: &IndexedIoc, field: Field, raw: &str) -> bool {
    let types = field.ioc_types();
    if !types.contains(&ioc.ioc_type) {
        return false;
    }
    let v = ioc.value.as_str();
    let text = |s: &str| match ioc.function {
        Equals => s == v,
        StartWith => s.starts_with(v),
        EndWith => s.ends_with(v),
        Contains => s.contains(v),
        Regex => compile_ioc_regex(ioc.ioc_type, v).map(|r| r.is_match(s)).unwrap_or(false),
    };
    match ioc.ioc_type {
        Sha1 | Sha256 | Md5 => normalize_observed_hash(raw).is_some_and(|h| h == v),
        IpAddress => match (observed_ip(raw), parse_ip_block(v)) {
            (Some(a), Ok(net)) => net.contains(&a),
            _ => false,
        },
        DomainName => {
            let host: Option<String> = if types.contains(&Url) {
                match observed_url(raw) {
                    Some(u) => u.host_is_domain().then(|| observed_domain(u.host()).map(|h| h.into_owned())).flatten(),
                    None => observed_bare_host(raw).and_then(observed_domain).map(|h| h.into_owned()),
                }
            } else {
                observed_domain(raw).map(|h| h.into_owned())
            };
            let Some(h) = host else { return false };
            match ioc.function {
                EndWith => h == v || h.ends_with(&format!(".{v}")),
                _ => text(&h),
            }
        }
        Url => observed_url(raw).is_some_and(|u| text(u.as_str())),
        FileName => {
            let base = file_base_name(raw);
            if ioc.function == Regex {
                text(raw) || text(base)
            } else {
                !base.is_empty() && text(&fold_case(base))
            }
        }
    }
}

fn index_hits(index: &TenantIndex, event: &Event<'_>, now: DateTime<Utc>) -> (BTreeSet<Hit>, usize) {
    let mut out = Vec::new();
    index.match_event(event, now, &mut out);
    let n = out.len();
    (out.into_iter().map(|m| (m.ioc_id, m.definition_id, m.field.name(), m.value)).collect(), n)
}

mod properties {
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;

    const SHA1: [&str; 3] = [
        "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "0000000000000000000000000000000000000001",
    ];
    const SHA256: [&str; 2] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    ];
    const MD5: [&str; 2] = ["d41d8cd98f00b204e9800998ecf8427e", "5d41402abc4b2a76b9719d911017c592"];
    const LABELS: [&str; 7] = ["evil", "a", "com", "notevil", "x-y", "b", "co"];
    const FILES: [&str; 7] = ["mimikatz.exe", "cmd.exe", "a.exe", "evil.dll", "Évil.exe", "a", "x.scr"];
    const PATHS: [&str; 6] = ["", "/a", "/a/b", "/x.exe", "/A?q=1", "/a/./b/../c.exe#f"];

    fn random_case(s: String, upper: Vec<bool>) -> String {
        s.chars()
            .zip(upper.into_iter().cycle())
            .map(|(c, u)| if u { c.to_uppercase().next().unwrap_or(c) } else { c })
            .collect()
    }

    fn host() -> impl Strategy<Value = String> {
        prop::collection::vec(select(&LABELS[..]), 1..4).prop_map(|l| l.join("."))
    }

    fn url() -> impl Strategy<Value = String> {
        (select(vec!["http://", "https://"]), host(), select(vec!["", ":8080", ":80", ":443"]), select(&PATHS[..]))
            .prop_map(|(s, h, p, path)| format!("{s}{h}{p}{path}"))
    }

    /// Normal forms of values the observables below produce: fragments are cut from them
    /// (so that they match, or nearly match, often) or are random.
    const SOURCES: [&str; 8] = [
        "https://evil.com:8080/a/b",
        "http://a.notevil.co/x.exe",
        "evil.x-y.com",
        "b.a.co",
        "mimikatz.exe",
        "\u{e9}vil.exe",
        "c:\\windows\\system32\\cmd.exe",
        "http://x-y.b/c.exe#f",
    ];

    fn fragment() -> impl Strategy<Value = String> {
        let cut = (
            select(&SOURCES[..]),
            any::<prop::sample::Index>(),
            1usize..9,
            prop::option::of(select(vec!['x', '.', '/', 'e'])),
        )
            .prop_map(|(src, start, len, mutate)| {
                let chars: Vec<char> = src.chars().collect();
                let from = start.index(chars.len());
                let mut piece: String = chars[from..(from + len).min(chars.len())].iter().collect();
                if let Some(c) = mutate {
                    piece.pop();
                    piece.push(c);
                }
                piece
            });
        prop_oneof![3 => cut, 1 => "[abceiloxv./-]{1,5}"]
    }

    fn ioc_value(t: IocType, f: DetectionFunction) -> BoxedStrategy<String> {
        match (t, f) {
            (Sha1, _) => select(&SHA1[..]).prop_map(String::from).boxed(),
            (Sha256, _) => select(&SHA256[..]).prop_map(String::from).boxed(),
            (Md5, _) => select(&MD5[..]).prop_map(String::from).boxed(),
            (IpAddress, _) => select(vec![
                "10.0.0.0/8",
                "10.1.0.0/16",
                "10.1.2.3",
                "10.1.2.0/24",
                "10.1.2.3/31",
                "192.168.1.1",
                "0.0.0.0/0",
                "2001:db8::/32",
                "2001:db8::1",
                "::ffff:10.1.2.3",
                "2001:db8:1::/48",
                "::/0",
            ])
            .prop_map(String::from)
            .boxed(),
            (DomainName, Equals | EndWith) => host().boxed(),
            (DomainName, _) => fragment().boxed(),
            (Url, Equals | StartWith) => url().boxed(),
            (Url, Regex) => select(vec!["^https?://evil", r"\.exe$", "a/b", "(?i)EVIL", "[0-9]+", "co/"])
                .prop_map(String::from)
                .boxed(),
            (Url, _) => fragment().boxed(),
            (FileName, Regex) => {
                select(vec!["^mimi", r"\.EXE$", "system32", r"^c:\\", "évil", r"\\a$"]).prop_map(String::from).boxed()
            }
            (FileName, Equals) => select(&FILES[..]).prop_map(String::from).boxed(),
            (FileName, _) => prop_oneof![fragment(), "[acdeilmx.é]{1,4}"].boxed(),
        }
    }

    fn type_and_function() -> impl Strategy<Value = (IocType, DetectionFunction)> {
        select(
            IocType::ALL.iter().flat_map(|t| t.allowed_functions().iter().map(move |f| (*t, *f))).collect::<Vec<_>>(),
        )
    }

    /// An IOC with a random id in `ids`, definition 1–4 (4 never exists), sometimes disabled,
    /// sometimes expiring around `now()`.
    fn random_ioc(ids: std::ops::Range<i64>) -> impl Strategy<Value = Option<IndexedIoc>> {
        (ids, 1i64..=4, type_and_function(), any::<bool>(), prop::option::weighted(0.3, -2i64..=2), 0u8..10)
            .prop_flat_map(|(id, def, (t, f), _, exp, enabled)| {
                ioc_value(t, f).prop_map(move |raw| {
                    let value = normalize_ioc_value(t, f, &raw).ok()?;
                    Some(IndexedIoc {
                        id,
                        definition_id: def,
                        ioc_type: t,
                        function: f,
                        value,
                        enabled: enabled < 8,
                        expires_at: exp.map(|s| now() + Duration::seconds(s)),
                    })
                })
            })
    }

    fn observable() -> impl Strategy<Value = (Field, String)> {
        let hash = prop_oneof![select(&SHA1[..]), select(&SHA256[..]), select(&MD5[..]), Just("not-a-hash")];
        let hash = (hash, prop::collection::vec(any::<bool>(), 1..4)).prop_map(|(h, u)| random_case(h.to_string(), u));
        let ip = select(vec![
            "10.1.2.3",
            "10.1.2.2",
            "10.2.0.1",
            "::ffff:10.1.2.3",
            "[2001:db8::1]:443",
            "2001:db8:1::5",
            "192.168.1.1",
            "8.8.8.8",
            "fe80::1%eth0",
            "garbage",
        ])
        .prop_map(String::from);
        let domain = (host(), any::<bool>(), prop::collection::vec(any::<bool>(), 1..4))
            .prop_map(|(h, dot, u)| random_case(if dot { format!("{h}.") } else { h }, u));
        let remote = prop_oneof![
            (url(), prop::collection::vec(any::<bool>(), 1..3)).prop_map(|(u, c)| random_case(u, c)),
            url(),
            (host(), select(vec!["", ":8443", "/x"])).prop_map(|(h, p)| format!("{h}{p}")),
            Just("http://10.1.2.3/x".to_string()),
        ];
        let file = (
            select(vec!["", r"C:\Windows\System32\", "/usr/bin/", r"c:\temp\x\"]),
            select(&FILES[..]),
            prop::collection::vec(any::<bool>(), 1..3),
        )
            .prop_map(|(dir, f, u)| random_case(format!("{dir}{f}"), u));
        (select(Field::ALL.to_vec()), hash, ip, domain, remote, file).prop_map(
            |(field, hash, ip, domain, remote, file)| {
                let value = match field {
                    Field::Sha1
                    | Field::Sha256
                    | Field::Md5
                    | Field::InitiatingProcessSha1
                    | Field::InitiatingProcessSha256
                    | Field::InitiatingProcessMd5 => hash,
                    Field::FileName | Field::InitiatingProcessFileName => file,
                    Field::RemoteIp => ip,
                    Field::RemoteUrl => remote,
                    Field::DnsQuery => domain,
                };
                (field, value)
            },
        )
    }

    fn events() -> impl Strategy<Value = Vec<Vec<(Field, String)>>> {
        prop::collection::vec(prop::collection::vec(observable(), 1..4), 1..12)
    }

    fn to_event(obs: &[(Field, String)]) -> Event<'static> {
        let obs: Vec<(Field, &str)> = obs.iter().map(|(f, v)| (*f, v.as_str())).collect();
        event(&obs)
    }

    fn definitions() -> impl Strategy<Value = BTreeMap<i64, bool>> {
        prop::collection::vec(0u8..10, 3)
            .prop_map(|e| e.into_iter().enumerate().map(|(i, e)| (i as i64 + 1, e < 7)).collect())
    }

    fn check(
        index: &TenantIndex,
        defs: &BTreeMap<i64, bool>,
        iocs: &[IndexedIoc],
        events: &[Vec<(Field, String)>],
    ) -> Result<(), TestCaseError> {
        for obs in events {
            let e = to_event(obs);
            let expected = reference(defs, iocs, &e, now());
            let (got, n) = index_hits(index, &e, now());
            prop_assert_eq!(&got, &expected, "event {:?}", obs);
            prop_assert_eq!(n, got.len(), "duplicate matches for {:?}", obs);
        }
        Ok(())
    }

    /// A change of the model the incremental test applies.
    #[derive(Debug, Clone)]
    enum Step {
        Upsert(IndexedIoc),
        Delete(i64),
        Definition(i64, bool),
        DeleteDefinition(i64),
        DeleteIocsOfDefinition(i64),
        ClearIocs,
        Clear,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            12 => random_ioc(1..25).prop_filter_map("invalid value", |i| i.map(Step::Upsert)),
            4 => (1i64..25).prop_map(Step::Delete),
            3 => (1i64..=4, 0u8..10).prop_map(|(d, e)| Step::Definition(d, e < 7)),
            1 => (1i64..=4).prop_map(Step::DeleteDefinition),
            1 => (1i64..=4).prop_map(Step::DeleteIocsOfDefinition),
            1 => Just(Step::ClearIocs),
            1 => Just(Step::Clear),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn index_matches_the_reference(
            defs in definitions(),
            iocs in prop::collection::vec(random_ioc(1..1000), 0..40),
            events in events(),
        ) {
            // Ids must be unique: later duplicates are dropped as an upsert would replace them.
            let mut unique = BTreeMap::new();
            for i in iocs.into_iter().flatten() {
                unique.insert(i.id, i);
            }
            let iocs: Vec<IndexedIoc> = unique.into_values().collect();
            let index = TenantIndex::build(defs.iter().map(|(id, e)| IndexedDefinition { id: *id, enabled: *e }), iocs.clone());
            check(&index, &defs, &iocs, &events)?;
        }

        #[test]
        fn a_bulk_build_equals_upserting_one_by_one(
            // Few ids: most appear several times, enabled or not, valid or not.
            iocs in prop::collection::vec(random_ioc(1..6), 0..30),
            probes in events(),
        ) {
            let defs: BTreeMap<i64, bool> = [(1, true), (2, true), (3, false)].into();
            let iocs: Vec<IndexedIoc> = iocs.into_iter().flatten().collect();
            let def_list = || defs.iter().map(|(id, e)| IndexedDefinition { id: *id, enabled: *e });
            let built = TenantIndex::build(def_list(), iocs.clone());
            let one_by_one = TenantIndex::build(def_list(), []).apply(
                &iocs.iter().cloned().map(IndexChange::UpsertIoc).collect::<Vec<_>>(),
            );
            let model: BTreeMap<i64, IndexedIoc> = iocs.iter().map(|i| (i.id, i.clone())).collect();
            let last: Vec<IndexedIoc> = model.into_values().collect();
            prop_assert_eq!(built.len(), one_by_one.len());
            for id in 0..7 {
                prop_assert_eq!(built.ioc(id), one_by_one.ioc(id));
            }
            check(&built, &defs, &last, &probes)?;
            check(&one_by_one, &defs, &last, &probes)?;
        }

        #[test]
        fn incremental_changes_equal_a_rebuild(
            initial in prop::collection::vec(random_ioc(1..25), 0..15),
            steps in prop::collection::vec(step(), 1..60),
            batch_sizes in prop::collection::vec(1usize..5, 60),
            probes in events(),
        ) {
            let mut defs: BTreeMap<i64, bool> = [(1, true), (2, true), (3, false)].into();
            let mut model: BTreeMap<i64, IndexedIoc> = initial.into_iter().flatten().map(|i| (i.id, i)).collect();
            let mut index = TenantIndex::build(
                defs.iter().map(|(id, e)| IndexedDefinition { id: *id, enabled: *e }),
                model.values().cloned(),
            );
            let mut batches = batch_sizes.into_iter().cycle();
            let mut rest = &steps[..];
            while !rest.is_empty() {
                let n = batches.next().unwrap_or(1).min(rest.len());
                let (batch, tail) = rest.split_at(n);
                rest = tail;
                let mut changes = Vec::new();
                for s in batch {
                    match s {
                        Step::Upsert(i) => {
                            model.insert(i.id, i.clone());
                            changes.push(IndexChange::UpsertIoc(i.clone()));
                        }
                        Step::Delete(id) => {
                            model.remove(id);
                            changes.push(IndexChange::DeleteIoc(*id));
                        }
                        Step::Definition(id, enabled) => {
                            defs.insert(*id, *enabled);
                            changes.push(IndexChange::UpsertDefinition(IndexedDefinition { id: *id, enabled: *enabled }));
                        }
                        Step::DeleteDefinition(id) => {
                            defs.remove(id);
                            model.retain(|_, i| i.definition_id != *id);
                            changes.push(IndexChange::DeleteDefinition(*id));
                        }
                        Step::DeleteIocsOfDefinition(id) => {
                            model.retain(|_, i| i.definition_id != *id);
                            changes.push(IndexChange::DeleteIocsOfDefinition(*id));
                        }
                        Step::ClearIocs => {
                            model.clear();
                            changes.push(IndexChange::ClearIocs);
                        }
                        Step::Clear => {
                            defs.clear();
                            model.clear();
                            changes.push(IndexChange::Clear);
                        }
                    }
                }
                // Applying to a snapshot leaves it as it was (copy-on-write).
                let before = index.clone();
                let probe = to_event(&probes[0]);
                let before_hits = index_hits(&before, &probe, now());
                index = index.apply(&changes);
                prop_assert_eq!(index_hits(&before, &probe, now()), before_hits);
                let iocs: Vec<IndexedIoc> = model.values().cloned().collect();
                check(&index, &defs, &iocs, &probes[..probes.len().min(3)])?;
            }
            let iocs: Vec<IndexedIoc> = model.values().cloned().collect();
            let scratch = TenantIndex::build(defs.iter().map(|(id, e)| IndexedDefinition { id: *id, enabled: *e }), iocs.clone());
            prop_assert_eq!(index.len(), scratch.len());
            // Every enabled IOC answers `ioc` with its own type, definition and value.
            for i in &iocs {
                let info = index.ioc(i.id);
                if i.enabled {
                    prop_assert_eq!(
                        info,
                        Some(IocInfo { ioc_type: i.ioc_type, definition_id: i.definition_id, value: i.value.clone() })
                    );
                } else {
                    prop_assert_eq!(info, None);
                }
            }
            check(&index, &defs, &iocs, &probes)?;
            check(&scratch, &defs, &iocs, &probes)?;
            for obs in &probes {
                let e = to_event(obs);
                prop_assert_eq!(index_hits(&index, &e, now()).0, index_hits(&scratch, &e, now()).0);
            }
        }
    }
}
