//! Matcher benchmark: match-only throughput on pre-parsed events, memory per IOC, and the
//! cost of an incremental change, with a plain hash-set baseline measured in the same run.
//!
//! ```text
//! cargo bench -p openti-detect --bench matcher                          # 100k IOCs, short run
//! OPENTI_BENCH_IOCS=1000000 cargo bench -p openti-detect --bench matcher
//! ```
//!
//! The IOC mix: 40% hashes (SHA1/SHA256/MD5), 15% IPs (addresses, /16 and /24 blocks, some
//! IPv6), 20% domains, 10% URLs, 15% file names, with every detection function represented:
//! about 6% of IOCs are not Equals (the default quota allows 5%), plus 20 regexes. Events look like process events
//! (hashes in upper case as Sysmon writes them, full image paths), network events (IP, URL,
//! DNS) and DNS events; 1% of them carry an IOC value.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use openti_detect::matcher::{IndexChange, IndexedDefinition, IndexedIoc, TenantIndex};
use openti_detect::{Event, Field, Observable, Raw};
use openti_model::values::normalize_ioc_value;
use openti_model::{DetectionFunction, IocType};

/// A small deterministic generator (splitmix64): the data set is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self) -> u64 {
        self.below(100)
    }

    fn hex(&mut self, bytes: usize) -> String {
        (0..bytes).map(|_| format!("{:02x}", self.below(256))).collect()
    }

    fn word(&mut self) -> String {
        const SYLLABLES: [&str; 16] =
            ["ka", "lo", "mi", "ne", "so", "tu", "ra", "vi", "xe", "zo", "pa", "qu", "de", "fi", "go", "hy"];
        let n = 2 + self.below(4);
        let mut w: String = (0..n).map(|_| SYLLABLES[self.below(16) as usize]).collect();
        w.push_str(&self.below(1000).to_string());
        w
    }

    fn domain(&mut self) -> String {
        const TLDS: [&str; 7] = ["com", "net", "org", "ru", "xyz", "info", "io"];
        let tld = TLDS[self.below(7) as usize];
        if self.percent() < 30 {
            format!("{}.{}.{tld}", self.word(), self.word())
        } else {
            format!("{}.{tld}", self.word())
        }
    }

    fn url(&mut self) -> String {
        let scheme = if self.percent() < 60 { "https" } else { "http" };
        format!("{scheme}://{}/{}/{}.php", self.domain(), self.word(), self.word())
    }

    fn file(&mut self) -> String {
        const EXT: [&str; 5] = ["exe", "dll", "ps1", "bat", "scr"];
        format!("{}.{}", self.word(), EXT[self.below(5) as usize])
    }

    fn ipv4(&mut self) -> String {
        format!("{}.{}.{}.{}", 1 + self.below(223), self.below(256), self.below(256), 1 + self.below(254))
    }
}

fn iocs(n: usize, rng: &mut Rng) -> Vec<IndexedIoc> {
    use DetectionFunction::*;
    use IocType::*;
    let mut out = Vec::with_capacity(n + 20);
    let mut push = |t: IocType, f: DetectionFunction, raw: String| {
        if let Ok(value) = normalize_ioc_value(t, f, &raw) {
            let id = out.len() as i64 + 1;
            out.push(IndexedIoc {
                id,
                definition_id: id % 50 + 1,
                ioc_type: t,
                function: f,
                value,
                enabled: true,
                expires_at: None,
            });
        }
    };
    for _ in 0..n {
        let p = rng.percent();
        let q = rng.percent();
        match p {
            0..=14 => push(Sha1, Equals, rng.hex(20)),
            15..=29 => push(Sha256, Equals, rng.hex(32)),
            30..=39 => push(Md5, Equals, rng.hex(16)),
            40..=54 => {
                let v = match q {
                    0..=79 => rng.ipv4(),
                    80..=84 => format!("{}/24", rng.ipv4()),
                    85..=89 => format!("{}/16", rng.ipv4()),
                    90..=94 => format!("2001:db8:{:x}::{:x}", rng.below(65536), rng.below(65536)),
                    _ => format!("2001:db8:{:x}::/48", rng.below(65536)),
                };
                push(IpAddress, Equals, v)
            }
            55..=74 => match q {
                0..=79 => push(DomainName, Equals, rng.domain()),
                80..=94 => push(DomainName, EndWith, rng.domain()),
                95..=96 => push(DomainName, StartWith, format!("{}.", rng.word())),
                _ => push(DomainName, Contains, rng.word()),
            },
            75..=84 => match q {
                0..=89 => push(Url, Equals, rng.url()),
                90..=94 => push(Url, StartWith, format!("https://{}/", rng.domain())),
                95..=97 => push(Url, EndWith, format!("/{}.php", rng.word())),
                _ => push(Url, Contains, format!("/{}/", rng.word())),
            },
            _ => match q {
                0..=91 => push(FileName, Equals, rng.file()),
                92..=94 => push(FileName, StartWith, rng.word()),
                95..=97 => push(FileName, EndWith, format!("{}.exe", rng.word())),
                _ => push(FileName, Contains, rng.word()),
            },
        }
    }
    for i in 0..10 {
        push(Url, Regex, format!(r"^https?://[^/]+/gate{i}\.php\?id=[0-9a-f]{{16}}$"));
        push(FileName, Regex, format!(r"\\temp\\{}[0-9]+\.exe$", rng.word()));
    }
    out
}

/// Pre-parsed events; `hit_percent` of them carry a value of some IOC.
fn events(n: usize, iocs: &[IndexedIoc], hit_percent: u64, rng: &mut Rng) -> Vec<Event<'static>> {
    let ts = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().unwrap_or_default();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut obs: Vec<Observable<'static>> = Vec::new();
        let mut add = |field: Field, value: String| obs.push(Observable { field, value: Cow::Owned(value) });
        match rng.percent() {
            0..=49 => {
                add(Field::Sha1, rng.hex(20).to_uppercase());
                add(Field::Sha256, rng.hex(32).to_uppercase());
                add(Field::Md5, rng.hex(16).to_uppercase());
                add(Field::FileName, format!(r"C:\Users\Alice\AppData\Local\Temp\{}", rng.file()));
                add(
                    Field::InitiatingProcessFileName,
                    r"C:\Windows\System32\WindowsPowerShell\v1.0\PowerShell.exe".into(),
                );
                add(Field::InitiatingProcessSha1, rng.hex(20).to_uppercase());
            }
            50..=84 => {
                add(Field::RemoteIp, rng.ipv4());
                let url = rng.url();
                // Most URLs arrive in normal form; some need the url crate.
                add(Field::RemoteUrl, if rng.percent() < 10 { url.replacen("://", "://WWW.", 1) } else { url });
                add(Field::DnsQuery, rng.domain());
                add(Field::InitiatingProcessFileName, r"C:\Program Files\Google\Chrome\Application\chrome.exe".into());
            }
            _ => {
                add(Field::DnsQuery, rng.domain());
                add(Field::InitiatingProcessFileName, r"C:\Windows\System32\svchost.exe".into());
            }
        }
        if rng.percent() < hit_percent && !iocs.is_empty() {
            let ioc = &iocs[rng.below(iocs.len() as u64) as usize];
            let field = match ioc.ioc_type {
                IocType::Sha1 => Field::Sha1,
                IocType::Sha256 => Field::Sha256,
                IocType::Md5 => Field::Md5,
                IocType::IpAddress => Field::RemoteIp,
                IocType::DomainName => Field::DnsQuery,
                IocType::Url => Field::RemoteUrl,
                IocType::FileName => Field::FileName,
            };
            let value = match ioc.function {
                DetectionFunction::Equals if ioc.ioc_type == IocType::IpAddress => {
                    ioc.value.split('/').next().unwrap_or("").to_string()
                }
                DetectionFunction::Equals | DetectionFunction::EndWith | DetectionFunction::Regex => ioc.value.clone(),
                DetectionFunction::StartWith | DetectionFunction::Contains => format!("{}x", ioc.value),
            };
            add(field, value);
        }
        out.push(Event {
            timestamp: ts,
            device_id: Some(Cow::Borrowed("dev")),
            device_name: None,
            action_type: None,
            observables: obs,
            raw: Raw::Text(Cow::Borrowed("")),
        });
    }
    out
}

/// Resident memory of this process, in bytes (Linux), for a second opinion on the estimate.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("OPENTI_BENCH_IOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let mut rng = Rng(0x5eed);
    let iocs = iocs(n, &mut rng);
    let defs: Vec<IndexedDefinition> = (1..=50).map(|id| IndexedDefinition { id, enabled: true }).collect();

    let rss_before = rss_bytes();
    let started = Instant::now();
    let index = TenantIndex::build(defs.clone(), iocs.clone());
    let build = started.elapsed();
    let rss_after = rss_bytes();
    let estimate = index.memory_estimate();
    eprintln!(
        "index: {} IOCs built in {:.2?} ({:.0} IOCs/s); memory estimate {:.1} MiB = {} B/IOC; RSS growth {}",
        index.len(),
        build,
        index.len() as f64 / build.as_secs_f64(),
        estimate as f64 / (1 << 20) as f64,
        estimate / index.len().max(1),
        match (rss_before, rss_after) {
            (Some(b), Some(a)) => format!(
                "{:.1} MiB = {} B/IOC",
                (a.saturating_sub(b)) as f64 / (1 << 20) as f64,
                a.saturating_sub(b) / index.len().max(1)
            ),
            _ => "n/a".into(),
        }
    );

    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().unwrap_or_default();
    let events = events(10_000, &iocs, 1, &mut rng);
    let observables: usize = events.iter().map(|e| e.observables.len()).sum();
    let mut out = Vec::new();
    for e in &events {
        index.match_event(e, now, &mut out);
    }
    eprintln!("events: {} with {} observables; {} matches", events.len(), observables, out.len());

    let mut group = c.benchmark_group("matcher");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(format!("match_events/{n}_iocs"), |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            for e in &events {
                out.clear();
                index.match_event(black_box(e), now, &mut out);
            }
            black_box(out.len())
        })
    });

    // Baseline (reference-figures.md): three hash-set look-ups per pre-parsed event in a
    // set of the same size, in the same run.
    let set: std::collections::HashSet<String> = iocs.iter().map(|i| i.value.clone()).collect();
    let probes: Vec<[String; 3]> = (0..events.len()).map(|_| [rng.hex(20), rng.domain(), rng.ipv4()]).collect();
    group.bench_function(format!("baseline_3_hashset_lookups/{n}_entries"), |b| {
        b.iter(|| {
            let mut found = 0usize;
            for p in &probes {
                found += p.iter().filter(|v| set.contains(v.as_str())).count();
            }
            black_box(found)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("apply");
    let next_id = iocs.len() as i64 + 1;
    let mut add = |name: &str, t: IocType, f: DetectionFunction, raw: &str| {
        let Ok(value) = normalize_ioc_value(t, f, raw) else { return };
        let change = [IndexChange::UpsertIoc(IndexedIoc {
            id: next_id,
            definition_id: 1,
            ioc_type: t,
            function: f,
            value,
            enabled: true,
            expires_at: None,
        })];
        group.bench_function(name, |b| b.iter_batched(|| index.clone(), |i| i.apply(&change), BatchSize::SmallInput));
    };
    add("one_sha256", IocType::Sha256, DetectionFunction::Equals, &"ab".repeat(32));
    add("one_domain_end_with", IocType::DomainName, DetectionFunction::EndWith, "bench-new.example");
    add("one_url_contains", IocType::Url, DetectionFunction::Contains, "/bench-new/");
    add("one_file_regex", IocType::FileName, DetectionFunction::Regex, r"^bench[0-9]+\.exe$");
    group.bench_function("disable_definition", |b| {
        let change = [IndexChange::UpsertDefinition(IndexedDefinition { id: 1, enabled: false })];
        b.iter_batched(|| index.clone(), |i| i.apply(&change), BatchSize::SmallInput)
    });
    group.bench_function("delete_ioc", |b| {
        let change = [IndexChange::DeleteIoc(7)];
        b.iter_batched(|| index.clone(), |i| i.apply(&change), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
