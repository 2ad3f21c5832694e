//! Native ingest throughput against the floor it cannot beat: serde_json deserializing the
//! same lines into a struct of borrowed strings and doing nothing else. The goal is a ratio
//! of at least 0.8.
//!
//! ```text
//! cargo run --release -p openti-detect --example native_throughput [EVENTS]
//! ```
//!
//! On a shared machine wall time is noisy; count cycles of each side alone instead:
//! `perf stat -e cycles:u target/release/examples/native_throughput 200000 baseline` (and
//! `native`), and subtract a run with `none` (building the test body).

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Instant;

use openti_detect::adapters::{adapter_for, Format};
use serde::Deserialize;

/// The fields the native adapter reads, and nothing else done with them.
#[allow(dead_code)]
#[derive(Deserialize)]
struct Baseline<'a> {
    #[serde(rename = "Timestamp", borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "DeviceId", borrow)]
    device_id: Option<Cow<'a, str>>,
    #[serde(rename = "DeviceName", borrow)]
    device_name: Option<Cow<'a, str>>,
    #[serde(rename = "ActionType", borrow)]
    action_type: Option<Cow<'a, str>>,
    #[serde(rename = "SHA1", borrow)]
    sha1: Option<Cow<'a, str>>,
    #[serde(rename = "SHA256", borrow)]
    sha256: Option<Cow<'a, str>>,
    #[serde(rename = "MD5", borrow)]
    md5: Option<Cow<'a, str>>,
    #[serde(rename = "FileName", borrow)]
    file_name: Option<Cow<'a, str>>,
    #[serde(rename = "FolderPath", borrow)]
    folder_path: Option<Cow<'a, str>>,
    #[serde(rename = "InitiatingProcessSHA1", borrow)]
    ip_sha1: Option<Cow<'a, str>>,
    #[serde(rename = "InitiatingProcessSHA256", borrow)]
    ip_sha256: Option<Cow<'a, str>>,
    #[serde(rename = "InitiatingProcessMD5", borrow)]
    ip_md5: Option<Cow<'a, str>>,
    #[serde(rename = "InitiatingProcessFileName", borrow)]
    ip_file_name: Option<Cow<'a, str>>,
    #[serde(rename = "InitiatingProcessFolderPath", borrow)]
    ip_folder_path: Option<Cow<'a, str>>,
    #[serde(rename = "RemoteIP", borrow)]
    remote_ip: Option<Cow<'a, str>>,
    #[serde(rename = "RemoteUrl", borrow)]
    remote_url: Option<Cow<'a, str>>,
    #[serde(rename = "DnsQuery", borrow)]
    dns_query: Option<Cow<'a, str>>,
}

fn body(events: usize) -> String {
    let mut out = String::new();
    for i in 0..events {
        let kind = i % 3;
        let line = match kind {
            0 => format!(
                r#"{{"Timestamp":"2026-11-22T10:{:02}:{:02}.{:06}Z","DeviceId":"7f1c9a0b{i:08x}","DeviceName":"ws-{:03}.contoso.local","ActionType":"ConnectionSuccess","RemoteIP":"52.184.{}.{}","RemotePort":443,"RemoteUrl":"https://update{}.example.com/path/to/resource?id={i}","InitiatingProcessFileName":"powershell.exe","InitiatingProcessFolderPath":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","InitiatingProcessSHA1":"6cbce4a295c163791b60fc23d285e6d84f28ee4c","InitiatingProcessCommandLine":"powershell.exe -nop -w hidden -c iex(new-object net.webclient)","ReportId":{i}}}"#,
                i / 60 % 60, i % 60, i % 1_000_000, i % 500, i % 256, i / 256 % 256, i % 97
            ),
            1 => format!(
                r#"{{"Timestamp":"2026-11-22T10:00:00Z","DeviceId":"7f1c9a0b{i:08x}","DeviceName":"ws-{:03}.contoso.local","ActionType":"FileCreated","FileName":"payload{i}.dll","FolderPath":"C:\\Users\\alice\\AppData\\Local\\Temp\\payload{i}.dll","SHA1":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3","SHA256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","MD5":"098f6bcd4621d373cade4e832627b4f6","InitiatingProcessFileName":"winword.exe","ReportId":{i}}}"#,
                i % 500
            ),
            _ => format!(
                r#"{{"Timestamp":"2026-11-22T10:00:00.123Z","DeviceName":"ws-{:03}.contoso.local","ActionType":"DnsQueryResponse","DnsQuery":"host{i}.bad.example","RemoteIP":"10.0.0.1","ReportId":{i}}}"#,
                i % 500
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn time<F: FnMut() -> usize>(mut f: F) -> f64 {
    let start = Instant::now();
    black_box(f());
    start.elapsed().as_secs_f64()
}

fn main() {
    let events: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let only = std::env::args().nth(2);
    let body = body(events);
    let adapter = adapter_for(Format::Native);
    let baseline_run = || {
        body.lines()
            .filter(|l| serde_json::from_str::<Baseline>(l).is_ok())
            .count()
    };
    let native_run = || {
        let mut ok = 0;
        adapter.parse(body.as_bytes(), &mut |r| {
            ok += usize::from(r.is_ok());
            black_box(&r);
        });
        assert_eq!(ok, events);
        ok
    };
    match only.as_deref() {
        Some("baseline") => return println!("{}", (0..9).map(|_| baseline_run()).sum::<usize>()),
        Some("native") => return println!("{}", (0..9).map(|_| native_run()).sum::<usize>()),
        Some(_) => return,
        None => {}
    }
    let bytes = body.len() as f64;

    // Best of several rounds, the two interleaved so that a busy machine slows both alike.
    let (mut baseline, mut native) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..9 {
        baseline = baseline.min(time(baseline_run));
        native = native.min(time(native_run));
    }
    let mb = |secs: f64| bytes / secs / 1e6;
    println!("{events} events, {:.1} MB", bytes / 1e6);
    println!("serde_json borrowed struct: {:>7.1} MB/s  {:>6.0} ns/event", mb(baseline), baseline * 1e9 / events as f64);
    println!("native adapter (parse+map): {:>7.1} MB/s  {:>6.0} ns/event", mb(native), native * 1e9 / events as f64);
    println!("ratio: {:.2}", baseline / native);
}
