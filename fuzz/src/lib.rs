//! Shared helpers of the fuzz targets: every adapter target pushes what it parsed through
//! the same steps the ingest endpoint takes (device key, matching, evidence), so a fuzzed
//! record exercises the observed-value normalisation of the matcher as well as the parser.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use openti_detect::adapters::{adapter_for, is_json_array, Format};
use openti_detect::matcher::{IndexedDefinition, IndexedIoc, Match, TenantIndex};
use openti_detect::Event;
use openti_model::values::normalize_ioc_value;
use openti_model::{DetectionFunction, IocType};

/// IOCs of every type and detection function, some of them values that occur in the seed
/// corpora (so that the fuzzer reaches the "something matched" paths early).
const IOCS: &[(IocType, DetectionFunction, &str)] = &[
    (IocType::Sha1, DetectionFunction::Equals, "6cbce4a295c163791b60fc23d285e6d84f28ee4c"),
    (IocType::Sha256, DetectionFunction::Equals, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    (IocType::Md5, DetectionFunction::Equals, "098f6bcd4621d373cade4e832627b4f6"),
    (IocType::IpAddress, DetectionFunction::Equals, "52.184.197.12"),
    (IocType::IpAddress, DetectionFunction::Equals, "192.168.0.0/16"),
    (IocType::IpAddress, DetectionFunction::Equals, "10.0.0.0/8"),
    (IocType::IpAddress, DetectionFunction::Equals, "fd77:48a1:c0bb::/48"),
    (IocType::IpAddress, DetectionFunction::Equals, "2001:db8::1"),
    (IocType::DomainName, DetectionFunction::Equals, "gacyfew.com"),
    (IocType::DomainName, DetectionFunction::EndWith, "com"),
    (IocType::DomainName, DetectionFunction::StartWith, "www."),
    (IocType::DomainName, DetectionFunction::Contains, "msft"),
    (IocType::Url, DetectionFunction::Equals, "http://52.184.197.12/"),
    (IocType::Url, DetectionFunction::StartWith, "http://52.184.197.12/"),
    (IocType::Url, DetectionFunction::EndWith, ".php"),
    (IocType::Url, DetectionFunction::Contains, "login"),
    (IocType::Url, DetectionFunction::Regex, r"^https?://[^/]+/[a-z]+\.php"),
    (IocType::FileName, DetectionFunction::Equals, "powershell.exe"),
    (IocType::FileName, DetectionFunction::StartWith, "mimi"),
    (IocType::FileName, DetectionFunction::EndWith, ".sys"),
    (IocType::FileName, DetectionFunction::Contains, "dll"),
    (IocType::FileName, DetectionFunction::Regex, r"\\temp\\[a-z0-9]+\.exe$"),
];

/// The moment every target matches at (fixed, so runs are reproducible).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().expect("a valid date")
}

/// One index of [`IOCS`], built once per process.
pub fn index() -> &'static TenantIndex {
    static INDEX: OnceLock<TenantIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let iocs = IOCS.iter().enumerate().map(|(i, (t, f, raw))| IndexedIoc {
            id: i as i64 + 1,
            definition_id: 1 + (i as i64 % 2),
            ioc_type: *t,
            function: *f,
            value: normalize_ioc_value(*t, *f, raw).expect("the fuzz IOCs are valid"),
            enabled: true,
            expires_at: None,
        });
        let defs = [IndexedDefinition { id: 1, enabled: true }, IndexedDefinition { id: 2, enabled: true }];
        TenantIndex::build(defs, iocs)
    })
}

/// What the ingest endpoint does with one event: device key, match, and for a match the
/// evidence.
pub fn exercise_event(event: &Event<'_>, out: &mut Vec<Match>) {
    std::hint::black_box(event.device_key());
    out.clear();
    index().match_event(event, now(), out);
    if !out.is_empty() {
        std::hint::black_box(event.raw_json());
    }
}

/// Runs one adapter over `data` as the ingest endpoint would. Adapters must never panic and
/// must report errors with a line number within the input.
pub fn fuzz_adapter(format: Format, data: &[u8]) {
    let mut out = Vec::new();
    let mut records = 0usize;
    // NDJSON and Zeek errors carry a line number; array elements and EVTX records are
    // numbered by position instead.
    let lines = 1 + memchr_count(b'\n', data);
    // The adapters' own test decides, so that a BOM before the `[` is read the same way.
    let numbered_by_line = format != Format::Evtx && !is_json_array(data);
    adapter_for(format).parse(data, &mut |record| {
        records += 1;
        match record {
            Ok(event) => exercise_event(&event, &mut out),
            Err(e) => {
                assert!(!e.message.is_empty(), "a rejected record must say why");
                if numbered_by_line {
                    assert!(e.line <= lines, "{format}: error on line {} of {lines}: {}", e.line, e.message);
                }
            }
        }
    });
    std::hint::black_box(records);
}

fn memchr_count(needle: u8, haystack: &[u8]) -> usize {
    haystack.iter().filter(|&&b| b == needle).count()
}
