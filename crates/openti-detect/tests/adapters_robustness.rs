//! Damaged input never makes an adapter panic, and every record is accounted for: a cheap,
//! deterministic stand-in for the fuzz targets, run on every `cargo test`. It mutates real
//! files from the shared test data (bytes flipped, lines cut, records spliced) and feeds
//! every result to every adapter.

use std::path::{Path, PathBuf};

use openti_detect::adapters::{adapter_for, is_json_array, Format};

fn data_dir() -> PathBuf {
    std::env::var_os("OPENTI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\"", b"{", b"}", b"[", b"]", b"\\", b"\\u0000", b"\\ud800", b"\n", b"\r\n", b"\t", b",", b":",
    b"-", b"(empty)", b"null", b"1e999", b"-1", b"\xff", b"\xc3", b"::ffff:", b"SHA1=", b"#fields\t",
    b"#separator \\x", b"type:  5 ", b"://", b"[::1]:", b"\xe2\x80\xae",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            2 => out.truncate(at),
            3 if !out.is_empty() => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at.min(end)..end);
            }
            _ => {
                // Repeat a slice, to make duplicated keys and nested structures.
                let end = (at + rng.below(256)).min(out.len());
                let copy = out[at.min(end)..end].to_vec();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

/// Runs every adapter on `body` and checks the accounting.
fn run_all(body: &[u8]) {
    let lines = 1 + body.iter().filter(|&&b| b == b'\n').count();
    for format in Format::ALL {
        adapter_for(format).parse(body, &mut |result| {
            if let Err(e) = result {
                assert!(!e.message.is_empty());
                // Array elements and EVTX records are numbered by position, not by line.
                let array = is_json_array(body);
                if format != Format::Evtx && !array {
                    assert!(e.line <= lines, "{format}: line {} of {lines}: {}: {}", e.line, e.message, body.escape_ascii());
                }
            }
        });
    }
}

/// `OPENTI_MUTATIONS=20000 cargo test --release -p openti-detect --test adapters_robustness`
/// for a longer run.
fn iterations(default: usize) -> usize {
    std::env::var("OPENTI_MUTATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn sample(relative: &str, max: usize) -> Vec<u8> {
    let body = std::fs::read(data_dir().join(relative)).unwrap_or_default();
    body[..body.len().min(max)].to_vec()
}

#[test]
fn mutated_text_inputs_never_panic() {
    let samples = [
        sample("endpoint/telemetry/sysmon-json/Defense_Evasion/DSE_bypass_BYOV_TDL_dummydriver_sysmon_6_7_13.ndjson", 8_000),
        sample("endpoint/telemetry/otrf/cmd_bitsadmin_download_psh_script.json", 8_000),
        sample("network/zeek/ctu-malware-capture-botnet-355-1-simda/dns.log", 4_000),
        sample("network/zeek/slips-test9-mixed-json/http.log", 4_000),
        sample("network/zeek/otrf-apt29-day1-scranton/SCRANTON_files.log", 4_000),
        sample("network/suricata/slips-test6-malicious/test6-malicious.suricata.json", 6_000),
        br#"[{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"a","FileName":"x","FolderPath":"C:\\y"}]"#.to_vec(),
    ];
    assert!(samples.iter().all(|s| !s.is_empty()), "shared test data not found: set OPENTI_SHARED_DATA");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for sample in &samples {
        run_all(sample);
        for _ in 0..iterations(150) {
            run_all(&mutate(&mut rng, sample));
        }
    }
}

#[test]
fn mutated_evtx_never_panics() {
    let body = sample("endpoint/telemetry/evtx/Execution/exec_sysmon_1_ftp.evtx", usize::MAX);
    assert!(!body.is_empty(), "shared test data not found: set OPENTI_SHARED_DATA");
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..iterations(60) {
        let mut damaged = body.clone();
        // Keep the header mostly intact so that the decoder reaches the records.
        for _ in 0..1 + rng.below(16) {
            let at = 4096 + rng.below(damaged.len() - 4096);
            damaged[at] ^= 1 << rng.below(8);
        }
        let mut records = 0;
        adapter_for(Format::Evtx).parse(&damaged, &mut |_| records += 1);
        assert!(records > 0);
    }
}
