//! The match path allocates nothing when nothing matches (SPEC B.3; reference-figures.md:
//! a matcher that allocates per event throws away half of the ingest budget).
//!
//! A counting global allocator, in a test binary of its own so that it counts only this.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;

use chrono::{TimeZone, Utc};
use openti_detect::matcher::{IndexedDefinition, IndexedIoc, TenantIndex};
use openti_detect::{Event, Field, Observable, Raw};
use openti_model::values::normalize_ioc_value;
use openti_model::{DetectionFunction, IocType};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(|a| a.get())
}

#[test]
fn matching_nothing_allocates_nothing() {
    use DetectionFunction::*;
    use IocType::*;
    let specs: &[(IocType, DetectionFunction, &str)] = &[
        (Sha1, Equals, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
        (Sha256, Equals, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (Md5, Equals, "d41d8cd98f00b204e9800998ecf8427e"),
        (IpAddress, Equals, "10.0.0.0/8"),
        (IpAddress, Equals, "2001:db8::/32"),
        (DomainName, Equals, "evil.com"),
        (DomainName, EndWith, "evil.net"),
        (DomainName, StartWith, "login."),
        (DomainName, Contains, "paypa1"),
        (Url, Equals, "http://evil.com/a"),
        (Url, StartWith, "https://evil.com/"),
        (Url, EndWith, "/gate.php"),
        (Url, Contains, "cmd="),
        (Url, Regex, r"^http://[^/]+/[0-9a-f]{32}$"),
        (FileName, Equals, "mimikatz.exe"),
        (FileName, StartWith, "psexe"),
        (FileName, EndWith, ".scr"),
        (FileName, Contains, "rubeus"),
        (FileName, Regex, r"\\temp\\[a-z]+\.exe$"),
    ];
    let iocs = specs.iter().enumerate().map(|(i, (t, f, v))| IndexedIoc {
        id: i as i64 + 1,
        definition_id: 1,
        ioc_type: *t,
        function: *f,
        value: normalize_ioc_value(*t, *f, v).expect("valid"),
        enabled: true,
        expires_at: None,
    });
    let index = TenantIndex::build([IndexedDefinition { id: 1, enabled: true }], iocs);
    let observables = [
        (Field::Sha1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"),
        (Field::Sha256, "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"),
        (Field::Md5, "5d41402abc4b2a76b9719d911017c592"),
        (Field::InitiatingProcessSha1, "not a hash"),
        (Field::RemoteIp, "::ffff:192.168.1.1"),
        (Field::RemoteIp, "[2001:db9::1]:443"),
        (Field::DnsQuery, "WWW.Example.ORG."),
        (Field::DnsQuery, "example.org"),
        (Field::RemoteUrl, "https://www.example.org/index.html?q=1"),
        (Field::RemoteUrl, "www.example.org:443"),
        (Field::FileName, r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.exe"),
        (Field::InitiatingProcessFileName, "/usr/bin/curl"),
        (Field::FileName, r"C:\Users\Ünïcode\DOCUMENTS\Ärger.TXT"),
    ];
    let event = Event {
        timestamp: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        device_id: Some(Cow::Borrowed("dev")),
        device_name: None,
        action_type: None,
        observables: observables.iter().map(|(f, v)| Observable { field: *f, value: Cow::Borrowed(*v) }).collect(),
        raw: Raw::Text(Cow::Borrowed("")),
    };
    let now = event.timestamp;
    let mut out = Vec::with_capacity(16);
    // Warm up: the regex crate builds its per-thread search cache on first use.
    index.match_event(&event, now, &mut out);
    assert!(out.is_empty(), "{out:?}");
    let before = allocations();
    for _ in 0..100 {
        index.match_event(&event, now, &mut out);
    }
    assert_eq!(allocations() - before, 0, "the no-match path allocated");
    assert!(out.is_empty());

    // A match allocates (its value), and is found.
    let hit = Event {
        observables: vec![Observable { field: Field::DnsQuery, value: Cow::Borrowed("EVIL.com") }],
        ..event.clone()
    };
    index.match_event(&hit, now, &mut out);
    assert_eq!(out.len(), 1);
}
