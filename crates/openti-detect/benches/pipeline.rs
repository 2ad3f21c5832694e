//! The ingest pipeline against its physical limit, side by side in one run (issue 5):
//!
//! - (a) parse-only: `serde_json` decoding each line of the same NDJSON file into a struct of
//!   borrowed strings, the fields the native adapter reads and nothing else: the limit;
//! - (a') the native adapter alone (parse and map into [`Event`]s, no matching);
//! - (b) match-only: [`TenantIndex::match_event`] on events parsed beforehand, one core;
//!   beside it the reference's floor, three hash-set look-ups per event in a set of the same
//!   size;
//! - (c) parse+match: the native adapter feeding the matcher, as the ingest endpoint does;
//! - (b=), (c=): the same with an index of the Equals IOCs only, to show what the pattern
//!   functions (StartWith, EndWith, Contains, Regex) cost;
//! - (c0): the native adapter feeding the floor of (b0) instead of the matcher: the (c)/(a)
//!   a matcher as cheap as three hash-set look-ups would reach;
//! - the matcher's memory per IOC (live heap bytes counted by this binary's allocator, RSS
//!   growth, and the index's own estimate) and its build time;
//! - EVTX: over every `.evtx` file of a directory, the `evtx` crate alone rendering records to
//!   JSON (the floor), the `evtx` adapter, and the adapter plus matching.
//!
//! Rounds are interleaved (a, a', c, b, …) so a noisy neighbour slows every pass alike; each
//! figure is the median of the rounds, and each ratio the median of per-round ratios.
//!
//! ```text
//! bash bench/pipeline.sh                       # 1M IOCs, 1M events (also runs the HTTP part)
//! OPENTI_BENCH_DATA=DIR cargo bench -p openti-detect --bench pipeline
//! ```
//!
//! Environment: `OPENTI_BENCH_DATA` (a directory written by `bench/gen.py`: iocs.ndjson,
//! events.ndjson; without it this bench runs `bench/gen.py` itself with
//! `OPENTI_BENCH_IOCS`/`OPENTI_BENCH_EVENTS`, default 100,000 each), `OPENTI_BENCH_SKIP`
//! (IOCs left out, e.g. `Contains,StartWith,Url/EndWith`, to see what each kind costs),
//! `OPENTI_BENCH_ROUNDS`
//! (default 5), `OPENTI_BENCH_EVTX` (a directory searched for `.evtx` files; default the
//! shared test data), `OPENTI_BENCH_JSON` (a file the figures are written to as JSON).

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use openti_detect::adapters::{adapter_for, parse_all, Format};
use openti_detect::matcher::{IndexChange, IndexedDefinition, IndexedIoc, TenantIndex};
use openti_model::values::normalize_ioc_value;
use openti_model::{DetectionFunction, IocType};
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// Live heap bytes, counted only while switched on (around the index build), so that the
// timed passes pay one relaxed load per allocation and nothing else.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

// ---------------------------------------------------------------------------------------------
// Inputs

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The data directory: `OPENTI_BENCH_DATA`, or one generated now by `bench/gen.py`.
fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPENTI_BENCH_DATA") {
        // `cargo bench` runs this in the package directory: a relative path is taken as
        // relative to the workspace root, where the bench scripts run.
        let dir = PathBuf::from(dir);
        return if dir.is_relative() && !dir.exists() { repo_root().join(dir) } else { dir };
    }
    let iocs = env_usize("OPENTI_BENCH_IOCS", 100_000);
    let events = env_usize("OPENTI_BENCH_EVENTS", 100_000);
    let dir = repo_root().join(format!("target/bench-data/pipeline-{iocs}-{events}"));
    let status = std::process::Command::new("python3")
        .arg(repo_root().join("bench/gen.py"))
        .arg(&dir)
        .args(["--defs", "1000", "--iocs", &iocs.to_string(), "--events", &events.to_string()])
        .status()
        .expect("python3 runs bench/gen.py");
    assert!(status.success(), "bench/gen.py failed");
    dir
}

#[derive(Deserialize)]
struct IocLine {
    #[serde(rename = "Type")]
    ioc_type: String,
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "DetectionFunction")]
    function: String,
    #[serde(rename = "Def")]
    def: i64,
}

/// The IOCs of `iocs.ndjson`, normalised as the API would store them, without those
/// `OPENTI_BENCH_SKIP` names (a comma-separated list of types, functions or `Type/Function`).
fn load_iocs(path: &Path) -> Vec<IndexedIoc> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let skip = std::env::var("OPENTI_BENCH_SKIP").unwrap_or_default();
    let skipped = |l: &IocLine| {
        let both = format!("{}/{}", l.ioc_type, l.function);
        skip.split(',').any(|k| k == both || k == l.ioc_type || k == l.function)
    };
    let mut out = Vec::new();
    let mut invalid = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let l: IocLine = serde_json::from_str(line).expect("a bench/gen.py IOC line");
        if skipped(&l) {
            continue;
        }
        let (Some(t), Some(f)) = (IocType::parse(&l.ioc_type), DetectionFunction::parse(&l.function)) else {
            invalid += 1;
            continue;
        };
        match normalize_ioc_value(t, f, &l.value) {
            Ok(value) => out.push(IndexedIoc {
                id: out.len() as i64 + 1,
                definition_id: l.def + 1,
                ioc_type: t,
                function: f,
                value,
                enabled: true,
                expires_at: None,
            }),
            Err(_) => invalid += 1,
        }
    }
    if invalid > 0 {
        eprintln!("note: {invalid} generated IOCs were not valid and were left out");
    }
    out
}

fn evtx_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPENTI_BENCH_EVTX") {
        return PathBuf::from(dir);
    }
    let shared = std::env::var_os("OPENTI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    shared.join("endpoint/telemetry/evtx")
}

fn evtx_files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            evtx_files(&path, out);
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("evtx")) {
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
}

/// (a): the fields the native adapter reads, decoded and nothing else done with them; each
/// string borrowed from the input unless it holds an escape, as the adapter's are.
#[allow(dead_code)]
#[derive(Deserialize)]
struct Baseline<'a> {
    #[serde(rename = "Timestamp", borrow)]
    timestamp: Option<Borrowed<'a>>,
    #[serde(rename = "DeviceId", borrow)]
    device_id: Option<Borrowed<'a>>,
    #[serde(rename = "DeviceName", borrow)]
    device_name: Option<Borrowed<'a>>,
    #[serde(rename = "ActionType", borrow)]
    action_type: Option<Borrowed<'a>>,
    #[serde(rename = "SHA1", borrow)]
    sha1: Option<Borrowed<'a>>,
    #[serde(rename = "SHA256", borrow)]
    sha256: Option<Borrowed<'a>>,
    #[serde(rename = "MD5", borrow)]
    md5: Option<Borrowed<'a>>,
    #[serde(rename = "FileName", borrow)]
    file_name: Option<Borrowed<'a>>,
    #[serde(rename = "FolderPath", borrow)]
    folder_path: Option<Borrowed<'a>>,
    #[serde(rename = "InitiatingProcessSHA1", borrow)]
    ip_sha1: Option<Borrowed<'a>>,
    #[serde(rename = "InitiatingProcessSHA256", borrow)]
    ip_sha256: Option<Borrowed<'a>>,
    #[serde(rename = "InitiatingProcessMD5", borrow)]
    ip_md5: Option<Borrowed<'a>>,
    #[serde(rename = "InitiatingProcessFileName", borrow)]
    ip_file_name: Option<Borrowed<'a>>,
    #[serde(rename = "InitiatingProcessFolderPath", borrow)]
    ip_folder_path: Option<Borrowed<'a>>,
    #[serde(rename = "RemoteIP", borrow)]
    remote_ip: Option<Borrowed<'a>>,
    #[serde(rename = "RemoteUrl", borrow)]
    remote_url: Option<Borrowed<'a>>,
    #[serde(rename = "DnsQuery", borrow)]
    dns_query: Option<Borrowed<'a>>,
}

/// A string borrowed from the input where JSON allows (no escapes). Not `Option<Cow<str>>`
/// with `#[serde(borrow)]`: serde borrows a bare `Cow<str>` only, and inside an `Option` it
/// allocates every string, which would make (a) slower than the physical limit it stands for.
struct Borrowed<'a>(#[allow(dead_code)] Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Borrowed<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Borrowed<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Borrowed<'de>, E> {
                Ok(Borrowed(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Borrowed<'de>, E> {
                Ok(Borrowed(Cow::Owned(v.to_owned())))
            }
        }
        de.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn seconds<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = black_box(f());
    (start.elapsed().as_secs_f64(), out)
}

struct Pass {
    name: &'static str,
    times: Vec<f64>,
}

fn main() {
    let rounds = env_usize("OPENTI_BENCH_ROUNDS", 5).max(1);
    let dir = data_dir();
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).single().unwrap_or_default();
    println!("pipeline benchmark: data {}, {rounds} rounds, one thread", dir.display());

    // --- the index, and what it costs
    let rss0 = rss_bytes();
    COUNTING.store(true, Relaxed);
    let live0 = LIVE.load(Relaxed);
    let iocs = load_iocs(&dir.join("iocs.ndjson"));
    let n_iocs = iocs.len();
    let defs: HashSet<i64> = iocs.iter().map(|i| i.definition_id).collect();
    let n_defs = defs.len();
    let defs: Vec<IndexedDefinition> = defs.into_iter().map(|id| IndexedDefinition { id, enabled: true }).collect();
    let mut by_kind = std::collections::BTreeMap::<(String, String), usize>::new();
    for i in &iocs {
        *by_kind.entry((i.ioc_type.to_string(), i.function.to_string())).or_default() += 1;
    }
    let live_inputs = LIVE.load(Relaxed);
    let values: HashSet<String> = iocs.iter().map(|i| i.value.clone()).collect();
    let live_with_set = LIVE.load(Relaxed);
    let (build_s, index) = seconds(|| TenantIndex::build(defs, iocs));
    let live1 = LIVE.load(Relaxed);
    COUNTING.store(false, Relaxed);
    let rss1 = rss_bytes();
    let index_bytes = (live1 - live0 - (live_with_set - live_inputs)).max(0) as f64;
    let estimate = index.memory_estimate() as f64;
    let per_ioc = index_bytes / n_iocs.max(1) as f64;
    let set_per_value = (live_with_set - live_inputs) as f64 / values.len().max(1) as f64;
    println!("\nIOCs: {n_iocs} over {n_defs} definitions");
    for ((t, f), n) in &by_kind {
        println!("  {t:<10} {f:<10} {n:>9} ({:.2}%)", *n as f64 * 100.0 / n_iocs.max(1) as f64);
    }
    println!(
        "index build: {:.2} s ({:.0} IOCs/s)\nmatcher memory: {:.1} MiB live heap = {:.0} B/IOC (goal <= 200); index estimate {:.0} B/IOC; process RSS growth {}; for scale, a HashSet<String> of the same values: {:.0} B/value",
        build_s,
        n_iocs as f64 / build_s,
        index_bytes / (1 << 20) as f64,
        per_ioc,
        estimate / n_iocs.max(1) as f64,
        match (rss0, rss1) {
            (Some(a), Some(b)) => format!("{:.1} MiB (includes the inputs)", (b.saturating_sub(a)) as f64 / (1 << 20) as f64),
            _ => "n/a".to_string(),
        },
        set_per_value,
    );

    // --- one IOC change against the full index (what an API write waits for before an
    // ingest that follows it can match)
    let change = [IndexChange::UpsertIoc(IndexedIoc {
        id: i64::MAX - 1,
        definition_id: 1,
        ioc_type: IocType::Sha256,
        function: DetectionFunction::Equals,
        value: "ab".repeat(32),
        enabled: true,
        expires_at: None,
    })];
    let apply_times: Vec<f64> = (0..50)
        .map(|_| {
            let (t, next) = seconds(|| index.apply(&change));
            drop(next);
            t
        })
        .collect();
    let apply_ms = median(apply_times.clone()) * 1e3;
    let apply_max_ms = apply_times.iter().copied().fold(0.0, f64::max) * 1e3;
    println!("one IOC change (TenantIndex::apply of one Sha256): median {apply_ms:.3} ms, max {apply_max_ms:.3} ms over 50");

    // --- events
    let path = dir.join("events.ndjson");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mb = body.len() as f64 / 1e6;
    let (events, errors) = parse_all(Format::Native, &body);
    assert!(errors.is_empty(), "the generated events parse: {:?}", errors.first());
    let n = events.len();
    let observables: usize = events.iter().map(|e| e.observables.len()).sum();
    let mut out = Vec::new();
    let mut matched_events = 0usize;
    let mut matches = 0usize;
    for e in &events {
        out.clear();
        index.match_event(e, now, &mut out);
        matched_events += usize::from(!out.is_empty());
        matches += out.len();
    }
    println!(
        "\nevents: {n} in {mb:.1} MB ({:.0} B/event), {:.1} observables/event; {matched_events} events match ({matches} matches)",
        body.len() as f64 / n.max(1) as f64,
        observables as f64 / n.max(1) as f64
    );
    // Three look-ups per event into a set of the IOC values, for the reference's floor.
    let probes: Vec<[&str; 3]> = events
        .iter()
        .map(|e| {
            let mut p = [""; 3];
            for (slot, o) in p.iter_mut().zip(&e.observables) {
                *slot = &o.value;
            }
            p
        })
        .collect();

    // The same index without the non-Equals IOCs: how much the pattern functions cost.
    let equals_only: Vec<IndexedIoc> =
        load_iocs(&dir.join("iocs.ndjson")).into_iter().filter(|i| i.function == DetectionFunction::Equals).collect();
    let n_equals = equals_only.len();
    let equals_index = TenantIndex::build(
        equals_only.iter().map(|i| i.definition_id).collect::<HashSet<_>>().into_iter().map(|id| IndexedDefinition { id, enabled: true }),
        equals_only,
    );

    let adapter = adapter_for(Format::Native);
    let lines = || body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let mut passes = vec![
        Pass { name: "a  parse-only: serde_json into a borrowed struct", times: vec![] },
        Pass { name: "a' native adapter alone (parse + map to Event)", times: vec![] },
        Pass { name: "c  parse+match: native adapter + matcher", times: vec![] },
        Pass { name: "b  match-only on pre-parsed events", times: vec![] },
        Pass { name: "b0 floor: 3 hash-set look-ups per event", times: vec![] },
        Pass { name: "c= parse+match, only the Equals IOCs indexed", times: vec![] },
        Pass { name: "b= match-only, only the Equals IOCs indexed", times: vec![] },
        Pass { name: "c0 floor: native adapter + 3 hash-set look-ups", times: vec![] },
    ];
    // (c) and (b) over an index; each returns the number of matches.
    let parse_and_match = |index: &TenantIndex| {
        let mut out = Vec::with_capacity(16);
        let mut hits = 0usize;
        adapter.parse(&body, &mut |r| {
            if let Ok(e) = r {
                out.clear();
                index.match_event(&e, now, &mut out);
                hits += out.len();
            }
        });
        hits
    };
    let match_only = |index: &TenantIndex| {
        let mut out = Vec::with_capacity(16);
        let mut hits = 0usize;
        for e in &events {
            out.clear();
            index.match_event(black_box(e), now, &mut out);
            hits += out.len();
        }
        hits
    };
    for round in 0..rounds {
        let (t, ok) = seconds(|| lines().filter(|l| serde_json::from_slice::<Baseline>(l).is_ok()).count());
        assert_eq!(ok, n);
        passes[0].times.push(t);
        let (t, ok) = seconds(|| {
            let mut ok = 0usize;
            adapter.parse(&body, &mut |r| {
                ok += usize::from(r.is_ok());
                black_box(&r);
            });
            ok
        });
        assert_eq!(ok, n);
        passes[1].times.push(t);
        let (t, hits) = seconds(|| parse_and_match(&index));
        assert_eq!(hits, matches);
        passes[2].times.push(t);
        let (t, hits) = seconds(|| match_only(&index));
        assert_eq!(hits, matches);
        passes[3].times.push(t);
        let (t, _) = seconds(|| probes.iter().map(|p| p.iter().filter(|v| values.contains(**v)).count()).sum::<usize>());
        passes[4].times.push(t);
        let (t, _) = seconds(|| parse_and_match(&equals_index));
        passes[5].times.push(t);
        let (t, _) = seconds(|| match_only(&equals_index));
        passes[6].times.push(t);
        let (t, _) = seconds(|| {
            let mut found = 0usize;
            adapter.parse(&body, &mut |r| {
                if let Ok(e) = r {
                    found += e.observables.iter().take(3).filter(|o| values.contains(&*o.value)).count();
                }
            });
            found
        });
        passes[7].times.push(t);
        eprintln!("  round {}/{rounds} done", round + 1);
    }

    println!("\n{:<52} {:>12} {:>10} {:>9}", "pass (median of rounds)", "events/s", "ns/event", "MB/s");
    let mut medians = Vec::new();
    for p in &passes {
        let t = median(p.times.clone());
        medians.push(t);
        println!("{:<52} {:>12.0} {:>10.0} {:>9.0}", p.name, n as f64 / t, t * 1e9 / n as f64, mb / t);
    }
    let ratio = |num: usize, den: usize| median(passes[num].times.iter().zip(&passes[den].times).map(|(a, b)| a / b).collect());
    let c_over_a = ratio(0, 2);
    let adapter_over_a = ratio(0, 1);
    println!("\nratios (median of per-round ratios; throughput relative to (a)):");
    println!("  (c) parse+match / (a) parse-only   = {c_over_a:.2}  (goal >= 0.80)");
    println!("  (a') adapter alone / (a)           = {adapter_over_a:.2}");
    println!(
        "  (b) match-only: {:.2} M events/s on one core (goal >= 1.0)",
        n as f64 / medians[3] / 1e6
    );
    let floor_c_over_a = ratio(0, 7);
    println!("  (c0) adapter + the b0 floor / (a)  = {floor_c_over_a:.2}  (what a matcher as cheap as three hash-set look-ups would give)");
    let equals_c_over_a = ratio(0, 5);
    println!(
        "  with only the {n_equals} Equals IOCs ({:.0}%) indexed: (c)/(a) = {equals_c_over_a:.2}, (b) {:.2} M events/s",
        n_equals as f64 * 100.0 / n_iocs.max(1) as f64,
        n as f64 / medians[6] / 1e6
    );

    // --- EVTX
    let mut files = Vec::new();
    evtx_files(&evtx_dir(), &mut files);
    let evtx_bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let mut evtx = serde_json::Value::Null;
    if files.is_empty() {
        println!("\nEVTX: no .evtx files under {} (set OPENTI_BENCH_EVTX)", evtx_dir().display());
    } else {
        let evtx_adapter = adapter_for(Format::Evtx);
        let run = |with_match: bool| {
            let mut records = 0usize;
            let mut rejected = 0usize;
            let mut out = Vec::new();
            for (_, bytes) in &files {
                evtx_adapter.parse(bytes, &mut |r| match r {
                    Ok(e) => {
                        records += 1;
                        if with_match {
                            out.clear();
                            index.match_event(&e, now, &mut out);
                        }
                    }
                    Err(_) => rejected += 1,
                });
            }
            (records, rejected)
        };
        // The floor: the `evtx` crate alone on one thread, rendering every record to JSON text,
        // to JSON text parsed into a `serde_json::Value`, and to a `Value` directly (what the
        // adapter uses).
        #[derive(Clone, Copy)]
        enum Floor {
            Text,
            TextThenValue,
            Value,
        }
        let crate_only = |floor: Floor| {
            let mut records = 0usize;
            for (_, bytes) in &files {
                let Ok(parser) = ::evtx::EvtxParser::from_buffer(bytes.clone()) else { continue };
                let mut parser = parser.with_configuration(::evtx::ParserSettings::new().num_threads(1));
                records += match floor {
                    Floor::Text => parser.records_json().filter(|r| r.is_ok()).count(),
                    Floor::TextThenValue => parser
                        .records_json()
                        .filter_map(|r| r.ok())
                        .filter(|r| serde_json::from_str::<serde_json::Value>(&r.data).is_ok())
                        .count(),
                    Floor::Value => parser.records_json_value().filter(|r| r.is_ok()).count(),
                };
            }
            records
        };
        let (mut parse, mut both) = (Vec::new(), Vec::new());
        let mut floors: [Vec<f64>; 3] = Default::default();
        let mut counts = (0, 0);
        for _ in 0..rounds.max(5) {
            for (i, f) in [Floor::Text, Floor::TextThenValue, Floor::Value].into_iter().enumerate() {
                floors[i].push(seconds(|| crate_only(f)).0);
            }
            let (t, c) = seconds(|| run(false));
            counts = c;
            parse.push(t);
            both.push(seconds(|| run(true)).0);
        }
        let (tp, tb) = (median(parse), median(both));
        let [tft, tftv, tfv] = floors.map(median);
        let emb = evtx_bytes as f64 / 1e6;
        println!(
            "\nEVTX: {} files, {:.2} MB, {} records ({} rejected) from {}",
            files.len(),
            emb,
            counts.0,
            counts.1,
            evtx_dir().display()
        );
        println!("  {:<52} {:>7.1} MB/s  {:>8.0} records/s", "evtx crate alone: records to JSON text", emb / tft, counts.0 as f64 / tft);
        println!("  {:<52} {:>7.1} MB/s  {:>8.0} records/s", "evtx crate alone: JSON text, then serde_json::Value", emb / tftv, counts.0 as f64 / tftv);
        println!("  {:<52} {:>7.1} MB/s  {:>8.0} records/s", "evtx crate alone: records to serde_json::Value", emb / tfv, counts.0 as f64 / tfv);
        println!("  {:<52} {:>7.1} MB/s  {:>8.0} records/s", "evtx adapter (decode + map to Event)", emb / tp, counts.0 as f64 / tp);
        println!("  {:<52} {:>7.1} MB/s  {:>8.0} records/s", "evtx adapter + matcher", emb / tb, counts.0 as f64 / tb);
        evtx = serde_json::json!({
            "files": files.len(), "bytes": evtx_bytes, "records": counts.0, "rejected": counts.1,
            "parse_mb_s": emb / tp, "parse_records_s": counts.0 as f64 / tp,
            "parse_match_mb_s": emb / tb, "parse_match_records_s": counts.0 as f64 / tb,
            "crate_json_text_mb_s": emb / tft, "crate_json_text_then_value_mb_s": emb / tftv,
            "crate_json_value_mb_s": emb / tfv,
        });
    }

    let result = serde_json::json!({
        "iocs": n_iocs, "events": n, "event_bytes": body.len(), "rounds": rounds,
        "index_build_s": build_s, "index_bytes_per_ioc": per_ioc, "apply_one_ms": apply_ms,
        "index_estimate_bytes_per_ioc": estimate / n_iocs.max(1) as f64,
        "parse_only_events_s": n as f64 / medians[0], "parse_only_mb_s": mb / medians[0],
        "adapter_events_s": n as f64 / medians[1],
        "parse_match_events_s": n as f64 / medians[2], "parse_match_mb_s": mb / medians[2],
        "match_only_events_s": n as f64 / medians[3],
        "hashset_floor_events_s": n as f64 / medians[4],
        "equals_only": { "iocs": n_equals, "parse_match_events_s": n as f64 / medians[5],
            "match_only_events_s": n as f64 / medians[6], "ratio_parse_match_to_parse_only": equals_c_over_a },
        "ratio_parse_match_to_parse_only": c_over_a,
        "ratio_adapter_to_parse_only": adapter_over_a,
        "ratio_adapter_plus_floor_to_parse_only": floor_c_over_a,
        "matched_events": matched_events,
        "evtx": evtx,
    });
    if let Some(path) = std::env::var_os("OPENTI_BENCH_JSON") {
        std::fs::write(&path, serde_json::to_string_pretty(&result).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()));
    }
}
