//! The adapters against the real telemetry in the shared test data (see the READMEs in
//! `shared/data/endpoint` and `shared/data/network`): every record of every file parses, the
//! record counts are the READMEs', and chosen records map to the values the READMEs name.
//!
//! The data is found at `$OPENTI_SHARED_DATA`, else at `../../../shared/data` from this crate
//! (the workspace and `shared/` are siblings).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openti_detect::adapters::{parse_all, Format};
use openti_detect::{guess_format, Event, Field, Raw};

fn data_dir() -> PathBuf {
    let dir = std::env::var_os("OPENTI_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        dir.join("endpoint").is_dir() && dir.join("network").is_dir(),
        "shared test data not found at {}: set OPENTI_SHARED_DATA",
        dir.display()
    );
    dir
}

fn read(relative: &str) -> Vec<u8> {
    let path = data_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses a file, asserting that no record is rejected.
fn parse_clean(format: Format, relative: &str, body: &[u8]) -> Vec<Event<'static>> {
    let (events, errors) = parse_all(format, body);
    assert!(errors.is_empty(), "{relative}: {} rejected, first: {:?}", errors.len(), errors.first());
    events.into_iter().map(into_static).collect()
}

/// Events outlive the test's buffers this way; tests are not the hot path.
fn into_static(e: Event<'_>) -> Event<'static> {
    use std::borrow::Cow;
    let own = |v: Option<Cow<'_, str>>| v.map(|v| Cow::Owned(v.into_owned()));
    Event {
        timestamp: e.timestamp,
        device_id: own(e.device_id),
        device_name: own(e.device_name),
        action_type: own(e.action_type),
        observables: e
            .observables
            .into_iter()
            .map(|o| openti_detect::Observable {
                field: o.field,
                value: Cow::Owned(o.value.into_owned()),
            })
            .collect(),
        raw: match e.raw {
            Raw::Text(t) => Raw::Text(Cow::Owned(t.into_owned())),
            Raw::Json(v) => Raw::Json(v),
        },
    }
}

fn has(e: &Event, field: Field, value: &str) -> bool {
    e.observables.iter().any(|o| o.field == field && o.value == value)
}

/// `telemetry/evtx/<name>.evtx` and `telemetry/sysmon-json/<name>.ndjson`, with the README's
/// event counts.
const ENDPOINT_FILES: &[(&str, usize)] = &[
    ("Defense_Evasion/DSE_bypass_BYOV_TDL_dummydriver_sysmon_6_7_13", 8),
    ("Discovery/discovery_UEFI_Settings_rweverything_sysmon_6", 1),
    ("Execution/exec_sysmon_1_ftp", 4),
    ("Command_and_Control/DE_sysmon-3-rdp-tun", 73),
    ("Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11", 8),
    ("Privilege_Escalation/Sysmon_UACME_64", 530),
    ("AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript", 122),
    ("Credential_Access/babyshark_mimikatz_powershell", 33),
    ("Other/maldoc_mshta_via_shellbrowserwind_rundll32", 11),
    ("Privilege_Escalation/sysmon_11_1_15_WScriptBypassUAC", 15),
    ("Defense_Evasion/sysmon_13_rdp_settings_tampering", 20),
];

fn evtx_events(name: &str) -> Vec<Event<'static>> {
    let relative = format!("endpoint/telemetry/evtx/{name}.evtx");
    let body = read(&relative);
    assert_eq!(guess_format("upload.bin", &body[..64]), Format::Evtx);
    parse_clean(Format::Evtx, &relative, &body)
}

fn sysmon_json_events(name: &str) -> Vec<Event<'static>> {
    let relative = format!("endpoint/telemetry/sysmon-json/{name}.ndjson");
    let body = read(&relative);
    assert_eq!(guess_format(&relative, &body[..body.len().min(4096)]), Format::Sysmon);
    parse_clean(Format::Sysmon, &relative, &body)
}

fn record_id(e: &Event) -> u64 {
    e.raw_json()["Event"]["System"]["EventRecordID"].as_u64().unwrap_or(0)
}

#[test]
fn every_evtx_file_parses_with_the_readme_counts() {
    let mut total = 0;
    for &(name, count) in ENDPOINT_FILES {
        let events = evtx_events(name);
        assert_eq!(events.len(), count, "{name}");
        assert!(events.iter().all(|e| e.device_name.is_some()), "{name}");
        total += events.len();
    }
    assert_eq!(total, 825);
}

/// The `.evtx` files and their JSON renderings give the same events: the two adapters share
/// their mapping, and it does not depend on how the JSON was produced.
#[test]
fn evtx_and_its_json_rendering_map_alike() {
    let mut with_observables = 0;
    for &(name, count) in ENDPOINT_FILES {
        let from_evtx = evtx_events(name);
        let from_json = sysmon_json_events(name);
        assert_eq!(from_json.len(), count, "{name}");
        for (i, (a, b)) in from_evtx.iter().zip(&from_json).enumerate() {
            assert_eq!(record_id(a), record_id(b), "{name} #{i}");
            // evtx 0.15 writes SystemTime to the 100 ns tick, the 0.14 rendering to the
            // microsecond: compare at the coarser.
            assert_eq!(
                (a.timestamp.timestamp_micros(), &a.device_name, &a.action_type, &a.observables),
                (b.timestamp.timestamp_micros(), &b.device_name, &b.action_type, &b.observables),
                "{name} record {}",
                record_id(a)
            );
            assert!(matches!(a.raw, Raw::Json(_)) && matches!(b.raw, Raw::Text(_)));
            with_observables += usize::from(!a.observables.is_empty());
        }
    }
    // Every Sysmon event in these files names at least one file or address.
    assert!(with_observables >= 819, "{with_observables}");
}

#[test]
fn loldrivers_driver_load_carries_the_readme_sha1() {
    let events = evtx_events("Defense_Evasion/DSE_bypass_BYOV_TDL_dummydriver_sysmon_6_7_13");
    let load = events.iter().find(|e| record_id(e) == 18766).expect("EventRecordID 18766");
    assert_eq!(load.action_type.as_deref(), Some("DriverLoad"));
    assert_eq!(load.device_name.as_deref(), Some("MSEDGEWIN10"));
    assert_eq!(load.timestamp.to_rfc3339(), "2020-02-10T08:28:12.870+00:00");
    assert!(has(load, Field::Sha1, "7C1B25518DEE1E30B5A6EAA1EA8E4A3780C24D0C"));
    assert!(has(load, Field::Md5, "EAEA9CCB40C82AF8F3867CD0F4DD5E9D"));
    assert!(has(load, Field::FileName, r"C:\Windows\System32\drivers\VBoxDrv.sys"));
    // IMPHASH is not a file hash.
    assert!(!load.observables.iter().any(|o| o.value.starts_with("B262E8D0")));
    // The dropping of the driver (11) names it too.
    assert!(events
        .iter()
        .any(|e| e.action_type.as_deref() == Some("FileCreate")
            && has(e, Field::FileName, r"C:\Windows\System32\drivers\VBoxDrv.sys")
            && has(e, Field::InitiatingProcessFileName, r"c:\Users\Public\BYOV\TDL\Furutaka.exe")));
}

#[test]
fn sysmon_quirks_named_in_the_readme() {
    // Network connections to public addresses, with DestinationHostname.
    let events = evtx_events("Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11");
    let connects: Vec<_> = events.iter().filter(|e| e.action_type.as_deref() == Some("NetworkConnect")).collect();
    assert!(!connects.is_empty());
    assert!(connects.iter().all(|e| e.observables.iter().any(|o| o.field == Field::RemoteIp)));

    // IPv6 written expanded; `Hashes` with SHA1 only.
    let events = evtx_events("Command_and_Control/DE_sysmon-3-rdp-tun");
    assert_eq!(events.iter().filter(|e| e.action_type.as_deref() == Some("NetworkConnect")).count(), 42);
    assert!(events.iter().any(|e| has(e, Field::RemoteIp, "fe80:0:0:0:80ac:4126:fa58:1b81")));
    let creates: Vec<_> = events.iter().filter(|e| e.action_type.as_deref() == Some("ProcessCreate")).collect();
    assert!(creates.iter().all(|e| {
        e.observables.iter().any(|o| o.field == Field::Sha1)
            && !e.observables.iter().any(|o| matches!(o.field, Field::Md5 | Field::Sha256))
    }));

    // The one DNS query (22), and file deletes (23) with hashes.
    let events = evtx_events("Privilege_Escalation/Sysmon_UACME_64");
    let dns: Vec<_> = events.iter().filter(|e| e.action_type.as_deref() == Some("DnsQuery")).collect();
    assert_eq!(dns.len(), 1);
    assert!(has(dns[0], Field::DnsQuery, "wpad"));
    let deletes: Vec<_> = events.iter().filter(|e| e.action_type.as_deref() == Some("FileDelete")).collect();
    assert!(!deletes.is_empty());
    assert!(deletes.iter().all(|e| e.observables.iter().any(|o| matches!(o.field, Field::Sha1 | Field::Md5 | Field::Sha256))));

    // Sysmon reconfigured mid-file: SHA1 only, then all three.
    let events = evtx_events("Credential_Access/babyshark_mimikatz_powershell");
    assert!(events.iter().any(|e| e.observables.iter().any(|o| o.field == Field::Sha256)));
    assert!(events.iter().any(|e| {
        e.observables.iter().any(|o| o.field == Field::Sha1) && !e.observables.iter().any(|o| o.field == Field::Sha256)
    }));

    // Security 4663 events interleaved with Sysmon: accepted, mapped on their own fields.
    let events = evtx_events("Other/maldoc_mshta_via_shellbrowserwind_rundll32");
    let audits: Vec<_> = events.iter().filter(|e| e.action_type.as_deref() == Some("Security:4663")).collect();
    assert_eq!(audits.len(), 6);
    assert!(audits.iter().all(|e| e.observables.iter().any(|o| o.field == Field::InitiatingProcessFileName)));

    // Event 15 with `Hash: Unknown` gives its file name and no hash.
    let events = evtx_events("Privilege_Escalation/sysmon_11_1_15_WScriptBypassUAC");
    let stream = events.iter().find(|e| e.action_type.as_deref() == Some("FileCreateStreamHash")).unwrap();
    assert!(has(stream, Field::FileName, r"C:\Users\IEUser\AppData"));
    assert!(!stream.observables.iter().any(|o| matches!(o.field, Field::Sha1 | Field::Md5 | Field::Sha256)));

    // `Hashes` with MD5 and IMPHASH only.
    let events = evtx_events("Defense_Evasion/sysmon_13_rdp_settings_tampering");
    let creates: Vec<_> = events.iter().filter(|e| e.action_type.as_deref() == Some("ProcessCreate")).collect();
    assert!(!creates.is_empty());
    assert!(creates.iter().all(|e| {
        e.observables.iter().any(|o| o.field == Field::Md5) && !e.observables.iter().any(|o| o.field == Field::Sha1)
    }));
}

#[test]
fn otrf_flat_export() {
    let relative = "endpoint/telemetry/otrf/cmd_bitsadmin_download_psh_script.json";
    let body = read(relative);
    assert_eq!(guess_format(relative, &body[..4096]), Format::Sysmon);
    let events = parse_clean(Format::Sysmon, relative, &body);
    assert_eq!(events.len(), 424);
    let sysmon = events.iter().filter(|e| !e.action_type.as_deref().unwrap_or("").contains(':')).count();
    assert_eq!(sysmon, 336);
    assert!(events.iter().all(|e| e.device_name.as_deref() == Some("WORKSTATION5")));
    // The DNS query of the README, with its CNAME and IPv4-mapped answer.
    let dns = events
        .iter()
        .find(|e| has(e, Field::DnsQuery, "raw.githubusercontent.com"))
        .expect("DNS query");
    assert!(has(dns, Field::RemoteUrl, "github.map.fastly.net"));
    assert!(has(dns, Field::RemoteIp, "151.101.208.133"));
    // UtcTime, not the export's @timestamp (local time labelled UTC).
    assert_eq!(dns.timestamp.to_rfc3339(), "2020-10-23T06:36:42.882+00:00");
    // The download URL on the bitsadmin command line (Security 4688 and Sysmon 1).
    let url = "https://raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics/T1197/T1197.md";
    assert!(events.iter().filter(|e| has(e, Field::RemoteUrl, url)).count() >= 2);
    assert!(events
        .iter()
        .any(|e| e.action_type.as_deref() == Some("Security:4688") && has(e, Field::FileName, r"C:\Windows\System32\bitsadmin.exe")));
    // Event 23 carries the empty file's hashes.
    assert!(events.iter().any(|e| {
        e.action_type.as_deref() == Some("FileDelete") && has(e, Field::Sha1, "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709")
    }));
}

/// `network/<path>` with the README's record counts.
const NETWORK_FILES: &[(&str, Format, usize)] = &[
    ("zeek/ctu-malware-capture-botnet-355-1-simda/conn.log", Format::Zeek, 992),
    ("zeek/ctu-malware-capture-botnet-355-1-simda/dns.log", Format::Zeek, 992),
    ("zeek/ctu-malware-capture-botnet-355-1-simda/http.log", Format::Zeek, 992),
    ("zeek/slips-test9-mixed-json/conn.log", Format::Zeek, 576),
    ("zeek/slips-test9-mixed-json/dns.log", Format::Zeek, 239),
    ("zeek/slips-test9-mixed-json/http.log", Format::Zeek, 516),
    ("zeek/slips-test9-mixed-json/ssl.log", Format::Zeek, 205),
    ("zeek/slips-test9-mixed-json/files.log", Format::Zeek, 936),
    ("zeek/otrf-apt29-day1-scranton/SCRANTON_conn.log", Format::Zeek, 134),
    ("zeek/otrf-apt29-day1-scranton/SCRANTON_dns.log", Format::Zeek, 32),
    ("zeek/otrf-apt29-day1-scranton/SCRANTON_http.log", Format::Zeek, 62),
    ("zeek/otrf-apt29-day1-scranton/SCRANTON_ssl.log", Format::Zeek, 2),
    ("zeek/otrf-apt29-day1-scranton/SCRANTON_files.log", Format::Zeek, 69),
    ("suricata/slips-test6-malicious/test6-malicious.suricata.json", Format::Suricata, 5000),
];

fn network_events(relative: &str, format: Format) -> Vec<Event<'static>> {
    let relative = format!("network/{relative}");
    parse_clean(format, &relative, &read(&relative))
}

#[test]
fn every_network_log_parses_with_the_readme_counts() {
    for &(relative, format, count) in NETWORK_FILES {
        let body = read(&format!("network/{relative}"));
        assert_eq!(guess_format(relative, &body[..body.len().min(4096)]), format, "{relative}");
        let events = network_events(relative, format);
        assert_eq!(events.len(), count, "{relative}");
        // The log name is the file's (`SCRANTON_dns.log` is a dns log).
        if format == Format::Zeek {
            let log = relative.rsplit(['/', '_']).next().unwrap().trim_end_matches(".log");
            assert!(events.iter().all(|e| e.action_type.as_deref() == Some(log)), "{relative}");
            assert!(events.iter().all(|e| e.device_name.is_some()), "{relative}");
        }
    }
}

#[test]
fn zeek_records_named_in_the_readme() {
    let dir = "zeek/ctu-malware-capture-botnet-355-1-simda";
    let line = |file: &str, n: usize| {
        let body = String::from_utf8(read(&format!("network/{dir}/{file}"))).unwrap();
        body.lines().nth(n - 1).unwrap().to_string()
    };
    // dns.log line 40: the Simda DGA domain gatyfus.com and its address.
    let events = network_events(&format!("{dir}/dns.log"), Format::Zeek);
    let line40 = line("dns.log", 40);
    let e = events.iter().find(|e| matches!(&e.raw, Raw::Text(t) if *t == line40)).unwrap();
    assert!(has(e, Field::DnsQuery, "gatyfus.com"));
    assert!(has(e, Field::RemoteIp, "67.55.121.97"));
    assert_eq!(e.device_name.as_deref(), Some("fd77:48a1:c0bb:0:b96c:506d:6c7f:e8be"));
    assert_eq!(e.timestamp.timestamp_micros(), 181_829_451);
    // NetBIOS queries repeat the DGA names in upper case.
    assert!(events.iter().any(|e| has(e, Field::DnsQuery, "GACYFEW.COM")));

    // http.log line 9: host gatyfus.com, uri /login.php.
    let events = network_events(&format!("{dir}/http.log"), Format::Zeek);
    let line9 = line("http.log", 9);
    let e = events.iter().find(|e| matches!(&e.raw, Raw::Text(t) if *t == line9)).unwrap();
    assert!(has(e, Field::RemoteUrl, "gatyfus.com"));
    assert!(has(e, Field::RemoteUrl, "http://gatyfus.com/login.php"));
    assert!(has(e, Field::RemoteIp, "67.55.121.97"));

    // Slips ssl.log line 1: 204.79.197.200:443, SNI ieonline.microsoft.com.
    let events = network_events("zeek/slips-test9-mixed-json/ssl.log", Format::Zeek);
    assert!(has(&events[0], Field::RemoteIp, "204.79.197.200"));
    assert!(has(&events[0], Field::RemoteUrl, "ieonline.microsoft.com"));
    assert_eq!(events[0].device_name.as_deref(), Some("10.0.2.15"));

    // Slips http.log lines 1-2: an IP literal Host with a Mozi path.
    let events = network_events("zeek/slips-test9-mixed-json/http.log", Format::Zeek);
    assert!(has(&events[1], Field::RemoteIp, "103.41.26.58"));
    assert!(has(&events[1], Field::RemoteUrl, "http://103.41.26.58/Mozi.m"));
    assert!(events.iter().any(|e| has(e, Field::RemoteUrl, "eleterno.com")));

    // Slips files.log: MD5 and SHA1, the device is the receiving host.
    let events = network_events("zeek/slips-test9-mixed-json/files.log", Format::Zeek);
    assert!(has(&events[0], Field::Md5, "df7c845e4eadd7bac6cbfe2087bbd482"));
    assert!(has(&events[0], Field::Sha1, "8800350f53cb7bfc883962e965461d94ab5d2616"));
    assert!(has(&events[0], Field::RemoteIp, "147.32.80.7"));
    assert_eq!(events[0].device_name.as_deref(), Some("10.0.2.15"));

    // RockNSM keys: the WebDAV server 192.168.0.4 serving python.exe.
    let events = network_events("zeek/otrf-apt29-day1-scranton/SCRANTON_http.log", Format::Zeek);
    assert!(events.iter().any(|e| has(e, Field::RemoteIp, "192.168.0.4")
        && has(e, Field::RemoteUrl, "http://192.168.0.4/webdav/python.exe")));
    let files = network_events("zeek/otrf-apt29-day1-scranton/SCRANTON_files.log", Format::Zeek);
    assert!(files.iter().any(|e| e.observables.iter().any(|o| o.field == Field::FileName && o.value.ends_with("GptTmpl.inf"))));
    assert_eq!(files.iter().filter(|e| e.observables.iter().any(|o| o.field == Field::Sha1)).count(), 68);
    let conn = network_events("zeek/otrf-apt29-day1-scranton/SCRANTON_conn.log", Format::Zeek);
    assert_eq!(conn[0].timestamp.timestamp(), 1_588_205_198);
    assert_eq!(conn[0].device_name.as_deref(), Some("10.0.1.4"));
}

#[test]
fn suricata_records_named_in_the_readme() {
    let events = network_events("suricata/slips-test6-malicious/test6-malicious.suricata.json", Format::Suricata);
    let mut by_type = BTreeMap::new();
    for e in &events {
        *by_type.entry(e.action_type.as_deref().unwrap_or("")).or_insert(0) += 1;
    }
    assert_eq!(
        by_type,
        BTreeMap::from([("alert", 745), ("anomaly", 3), ("dns", 680), ("fileinfo", 3), ("flow", 3512), ("http", 56), ("tls", 1)])
    );
    assert!(events.iter().all(|e| e.device_name.is_some()));
    let tls = events.iter().find(|e| e.action_type.as_deref() == Some("tls")).unwrap();
    assert!(has(tls, Field::RemoteUrl, "www.myedimax.com"));
    assert!(has(tls, Field::RemoteIp, "122.248.252.67"));
    assert_eq!(tls.device_name.as_deref(), Some("192.168.1.129"));
    assert_eq!(tls.timestamp.to_rfc3339(), "2021-06-06T14:54:00.074627+00:00");
    // v1 query and v2 answer layouts.
    assert!(events.iter().any(|e| e.action_type.as_deref() == Some("dns")
        && has(e, Field::DnsQuery, "www.google.com")
        && has(e, Field::RemoteIp, "172.217.23.196")));
    // Absolute and `//` URLs.
    assert!(events.iter().any(|e| has(e, Field::RemoteUrl, "rtsp://147.32.82.197:554/11")));
    let http = events.iter().filter(|e| e.action_type.as_deref() == Some("http"));
    assert!(http.clone().all(|e| e.observables.iter().any(|o| o.field == Field::RemoteUrl)
        || !e.raw_json()["http"].as_object().is_some_and(|h| h.contains_key("hostname"))));
    assert!(http.clone().count() == 56);
}

/// Bad input in the middle of a real file: one error, on the right line, and everything
/// else still accepted.
#[test]
fn a_broken_line_in_a_real_file_costs_only_that_line() {
    let relative = "endpoint/telemetry/sysmon-json/Execution/exec_persist_rundll32_mshta_scheduledtask_sysmon_1_3_11.ndjson";
    let text = String::from_utf8(read(relative)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(4, r#"{"Event":{"System":{"EventID":1,"#);
    let body = lines.join("\r\n");
    let (events, errors) = parse_all(Format::Sysmon, body.as_bytes());
    assert_eq!(events.len(), 8);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 5);

    let relative = "network/zeek/ctu-malware-capture-botnet-355-1-simda/conn.log";
    let text = String::from_utf8(read(relative)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(100, "12.5\tCfoo\t192.168.1.116");
    let body = lines.join("\n");
    let (events, errors) = parse_all(Format::Zeek, body.as_bytes());
    assert_eq!(events.len(), 992);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 101);
}

/// A damaged record in a real EVTX file is reported under its number; the file's other
/// records are still read.
#[test]
fn a_damaged_evtx_record_costs_only_that_record() {
    let mut body = read("endpoint/telemetry/evtx/Defense_Evasion/DSE_bypass_BYOV_TDL_dummydriver_sysmon_6_7_13.evtx");
    // The first chunk starts at 4096 and its records at 4096 + 512; records start with the
    // signature 2a 2a 00 00. Break the signature of the third record.
    let records: Vec<usize> = (4096 + 512..body.len() - 4)
        .filter(|&i| body[i..i + 4] == [0x2a, 0x2a, 0, 0])
        .collect();
    assert!(records.len() >= 8);
    body[records[2]] = 0;
    let (events, errors) = parse_all(Format::Evtx, &body);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 3);
    assert!(errors[0].message.contains("record header magic"), "{}", errors[0].message);
    assert_eq!(events.len(), 7);
}

