//! Detection on real data, end to end: the public IOC lists in `shared/data` are uploaded
//! through the API (bulk upload, several definitions), the real telemetry is sent through
//! `POST /ingest/v1/events` (EVTX, Sysmon JSON, the OTRF export, Zeek TSV and JSON, Suricata
//! EVE), and the alerts the API then lists are compared with an independent brute-force
//! scan written here: each record is read as generic JSON (or Zeek TSV), the values of its
//! indicator-bearing fields are collected and normalised, and every listed value is looked up
//! in them with plain sets and string operations — never with the product's matcher.
//!
//! The comparison is exact: the set of (definition, device, IOC value) of the alerts must be
//! the set the scan finds, and per (definition, device) the alerts' EventCount must add up to
//! the number of matching records.
//!
//! # What is imported, and how (decisions the data READMEs ask for)
//! - LOLDrivers (`loldrivers.csv`): SHA1/SHA256/MD5 as hash IOCs, one definition per
//!   category (`vulnerable driver`, `malicious`); the `filename` column as FileName Equals in
//!   a third definition. Hashes listed under several ids are one IOC per definition.
//! - signature-base: `hash-iocs.txt` (type from the length, upper case folded), `c2-iocs.txt`
//!   (domains as DomainName Equals, addresses as IpAddress), `filename-iocs.txt` as FileName
//!   Regex. The regexes were written for Python's `re`: those the Rust `regex` syntax cannot
//!   express (look-arounds, back-references) are left out, and OpenTI's FileName regexes
//!   ignore case, which the scan follows. The false-positive column is not used.
//! - maltrail (one definition per family): a domain is DomainName EndWith (maltrail also flags
//!   its subdomains); an address is IpAddress; `http://IP[/path]` and `host/path` are Url
//!   Equals (`http://` added, no path meaning `/`); a path-only trail is a Url Regex for that
//!   path on any host; an `IP:port` trail names that service endpoint, not the whole host,
//!   and the IOC model has no port: it is imported as Url StartWith `http://IP:port/`, so it
//!   flags HTTP requests to that endpoint and never other traffic of the host (the slips
//!   ssl.log record of `204.79.197.200:443`, a Bing address, raises nothing).
//! - A few user-defined IOCs give the network logs that no shipped list covers positives
//!   (the APT29 attacker hosts, as the network README suggests, and values seen in the slips
//!   and honeypot captures), including CIDR blocks for IPv4 and IPv6.
//!
//! # Indicator-bearing fields (SPEC A.5: "remote/destination IPs")
//! Windows events: `Hashes`/`Hash` (SHA1, MD5, SHA256; IMPHASH is no file hash), the process
//! and file names and paths, `DestinationIp` (the peer), `QueryName`, `QueryResults`,
//! `DestinationHostname`, URLs in command lines, Security's `DestAddress`/`IpAddress`. Zeek:
//! `id.resp_h`, DNS `query`/`answers`, HTTP `host` + `uri`, `server_name`, file hashes and
//! names, the other side of `tx_hosts`/`rx_hosts`. Suricata: `dest_ip`, DNS names and
//! answers, `http.hostname` + `http.url`, `tls.sni`, fileinfo. The device is the Windows
//! `Computer`, Zeek's originator and Suricata's `src_ip`: a connection *from* a listed address
//! (the honeypot's scanners) is not matched as a remote address.
//!
//! The EVTX files are compared with the scan of their JSON renderings (`sysmon-json/`, same
//! records); both are sent, so each endpoint match counts twice in the end.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;

use common::*;
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// The IOCs

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Sha1,
    Sha256,
    Md5,
    Ip,
    Domain,
    Url,
    FileName,
}

impl Kind {
    fn api(self) -> &'static str {
        match self {
            Kind::Sha1 => "Sha1",
            Kind::Sha256 => "Sha256",
            Kind::Md5 => "Md5",
            Kind::Ip => "IpAddress",
            Kind::Domain => "DomainName",
            Kind::Url => "Url",
            Kind::FileName => "FileName",
        }
    }
}

/// An IOC to upload.
#[derive(Debug, Clone)]
struct Draft {
    kind: Kind,
    function: &'static str,
    value: String,
}

/// A definition to upload with its IOCs.
struct Feed {
    name: String,
    severity: &'static str,
    category: &'static str,
    iocs: Vec<Draft>,
}

impl Feed {
    fn new(name: &str, severity: &'static str, category: &'static str) -> Feed {
        Feed { name: name.into(), severity, category, iocs: Vec::new() }
    }

    /// Adds an IOC unless the same one is already in this feed.
    fn add(&mut self, kind: Kind, function: &'static str, value: impl Into<String>) {
        let value = value.into();
        if !self.iocs.iter().any(|d| d.kind == kind && d.function == function && d.value == value) {
            self.iocs.push(Draft { kind, function, value });
        }
    }
}

/// An IOC as the API stored it.
#[derive(Debug, Clone)]
struct Stored {
    definition: i64,
    kind: Kind,
    function: String,
    /// The normal form the API returned.
    value: String,
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hash_kind(hex: &str) -> Option<Kind> {
    if !is_hex(hex) {
        return None;
    }
    match hex.len() {
        32 => Some(Kind::Md5),
        40 => Some(Kind::Sha1),
        64 => Some(Kind::Sha256),
        _ => None,
    }
}

/// Data lines of a `#`-commented list.
fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn read_text(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).into_owned()
}

/// A minimal CSV reader for the LOLDrivers extract (quoted fields allowed).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut field)),
                _ => field.push(c),
            }
        }
        fields.push(field);
        rows.push(fields);
    }
    rows
}

fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The feeds built from the shared IOC lists, plus the user-defined ones.
fn feeds(data: &Path) -> Vec<Feed> {
    let mut out = Vec::new();

    // LOLDrivers.
    let rows = csv_rows(&read_text(&data.join("endpoint/iocs/loldrivers.csv")));
    let header = &rows[0];
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (sha1, sha256, md5, filename, category) = (column("sha1"), column("sha256"), column("md5"), column("filename"), column("category"));
    let mut vulnerable = Feed::new("LOLDrivers: vulnerable driver", "High", "Exploit");
    let mut malicious = Feed::new("LOLDrivers: malicious driver", "High", "Malware");
    let mut names = Feed::new("LOLDrivers: driver file name", "Medium", "SuspiciousActivity");
    for row in &rows[1..] {
        let feed = match row[category].as_str() {
            "vulnerable driver" => &mut vulnerable,
            "malicious" => &mut malicious,
            other => panic!("unknown LOLDrivers category {other}"),
        };
        for (col, kind) in [(sha1, Kind::Sha1), (sha256, Kind::Sha256), (md5, Kind::Md5)] {
            let value = row[col].trim();
            if !value.is_empty() {
                assert_eq!(hash_kind(value), Some(kind), "LOLDrivers {value}");
                feed.add(kind, "Equals", value);
            }
        }
        let name = row[filename].trim();
        if !name.is_empty() {
            names.add(Kind::FileName, "Equals", name);
        }
    }
    out.extend([vulnerable, malicious, names]);

    // signature-base.
    let mut hashes = Feed::new("signature-base: hash IOCs", "High", "Malware");
    for line in data_lines(&read_text(&data.join("endpoint/iocs/signature-base-hash-iocs.txt"))) {
        let hash = line.split(';').next().unwrap().trim();
        let kind = hash_kind(hash).unwrap_or_else(|| panic!("signature-base hash line {line}"));
        hashes.add(kind, "Equals", hash);
    }
    let mut c2 = Feed::new("signature-base: C2 servers", "High", "CommandAndControl");
    for line in data_lines(&read_text(&data.join("endpoint/iocs/signature-base-c2-iocs.txt"))) {
        // A few lines carry a LOKI score: `IP;SCORE`.
        let value = line.split(';').next().unwrap().trim();
        if is_ipv4(value) {
            c2.add(Kind::Ip, "Equals", value);
        } else {
            c2.add(Kind::Domain, "Equals", value);
        }
    }
    let mut file_names = Feed::new("signature-base: suspicious file names", "Medium", "SuspiciousActivity");
    for line in data_lines(&read_text(&data.join("endpoint/iocs/signature-base-filename-iocs.txt"))) {
        let pattern = line.split(';').next().unwrap();
        if file_regex(pattern).is_some() {
            file_names.add(Kind::FileName, "Regex", pattern);
        }
    }
    out.extend([hashes, c2, file_names]);

    // maltrail.
    let mut trails: Vec<_> = std::fs::read_dir(data.join("intel/maltrail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    trails.sort();
    for path in trails {
        let family = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut feed = Feed::new(&format!("maltrail: {family}"), "High", "CommandAndControl");
        for trail in data_lines(&read_text(&path)) {
            if let Some(path_only) = trail.strip_prefix('/') {
                feed.add(Kind::Url, "Regex", format!("^https?://[^/?#]+/{}(?:[?#].*)?$", regex::escape(path_only)));
            } else if trail.contains("://") {
                let with_path = if trail.splitn(4, '/').count() < 4 { format!("{trail}/") } else { trail.to_string() };
                feed.add(Kind::Url, "Equals", with_path);
            } else if trail.contains('/') {
                feed.add(Kind::Url, "Equals", format!("http://{trail}"));
            } else if let Some((ip, port)) = trail.split_once(':').filter(|(ip, port)| is_ipv4(ip) && port.parse::<u16>().is_ok()) {
                feed.add(Kind::Url, "StartWith", format!("http://{ip}:{port}/"));
            } else if is_ipv4(trail) {
                feed.add(Kind::Ip, "Equals", trail);
            } else {
                feed.add(Kind::Domain, "EndWith", trail);
            }
        }
        out.push(feed);
    }

    // User-defined IOCs for the network captures no shipped list covers.
    let mut apt29 = Feed::new("APT29 evaluation: attacker hosts (user-defined)", "High", "CommandAndControl");
    apt29.add(Kind::Ip, "Equals", "192.168.0.4");
    apt29.add(Kind::Ip, "Equals", "192.168.0.5");
    apt29.add(Kind::Sha1, "Equals", "96b696018a7ac4e898380421272ac37cc09fe157");
    let mut slips = Feed::new("Slips capture: planted indicators (user-defined)", "Medium", "SuspiciousNetworkTraffic");
    slips.add(Kind::Domain, "Equals", "eleterno.com");
    slips.add(Kind::Url, "Equals", "http://112.255.161.10/bin.sh");
    slips.add(Kind::Sha1, "Equals", "8800350f53cb7bfc883962e965461d94ab5d2616");
    slips.add(Kind::Md5, "Equals", "2e7db2a31d0e3da4b25f49b9542a2e1a");
    let mut honeypot = Feed::new("Honeypot: probes and lookups (user-defined)", "Low", "Reconnaissance");
    honeypot.add(Kind::Domain, "EndWith", "myedimax.com");
    honeypot.add(Kind::Ip, "Equals", "122.248.252.0/24");
    honeypot.add(Kind::Url, "Contains", "/scripts/setup.php");
    let mut resolver = Feed::new("CTU lab: IPv6 site prefix (user-defined)", "Informational", "SuspiciousNetworkTraffic");
    resolver.add(Kind::Ip, "Equals", "fd77:48a1:c0bb::/48");
    out.extend([apt29, slips, honeypot, resolver]);
    out
}

/// A FileName regex as OpenTI compiles it (Rust syntax, case-insensitive, size-limited), or
/// None when it cannot be one.
fn file_regex(pattern: &str) -> Option<Regex> {
    if pattern.trim().is_empty() || pattern.chars().count() > 2048 {
        return None;
    }
    RegexBuilder::new(pattern).case_insensitive(true).size_limit(256 * 1024).nest_limit(64).build().ok()
}

// ---------------------------------------------------------------------------------------------
// Upload through the API

struct Uploaded {
    definitions: BTreeMap<i64, String>,
    iocs: HashMap<i64, Stored>,
    /// IOCs the API refused (value, message): the importer skips them.
    refused: Vec<(String, String)>,
}

/// The index named in a bulk error's target (`iocs[12].Value`).
fn failed_index(error: &Value) -> Option<usize> {
    let target = error["error"]["target"].as_str()?;
    let start = target.find('[')? + 1;
    let end = start + target[start..].find(']')?;
    target[start..end].parse().ok()
}

fn upload(server: &Server, token: &str, feeds: &[Feed]) -> Uploaded {
    let bodies: Vec<Value> = feeds
        .iter()
        .map(|f| {
            json!({"Name": f.name, "Title": format!("{} indicator seen.", f.name), "Severity": f.severity, "Category": f.category,
                   "UxDescription": format!("The machine saw an indicator of the list '{}'.", f.name),
                   "RecommendedAction": "Investigate the machine."})
        })
        .collect();
    let (status, created) = call("POST", &server.api("AlertDefinitions/Actions.BulkUpload"), token, Some(json!({"alertDefinitions": bodies})));
    assert_eq!(status, 200, "definitions bulk upload: {created}");
    let ids: Vec<i64> = created["value"].as_array().unwrap().iter().map(|d| d["Id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), feeds.len());

    let mut all: Vec<(i64, Draft)> = Vec::new();
    for (feed, id) in feeds.iter().zip(&ids) {
        all.extend(feed.iocs.iter().map(|d| (*id, d.clone())));
    }
    let mut uploaded = Uploaded { definitions: ids.iter().copied().zip(feeds.iter().map(|f| f.name.clone())).collect(), iocs: HashMap::new(), refused: Vec::new() };
    for chunk in all.chunks(5000) {
        let mut chunk: Vec<(i64, Draft)> = chunk.to_vec();
        loop {
            let body: Vec<Value> = chunk
                .iter()
                .map(|(definition, d)| {
                    json!({"Type": d.kind.api(), "Value": d.value, "DetectionFunction": d.function,
                           "AlertDefinition@odata.bind": format!("AlertDefinitions({definition})")})
                })
                .collect();
            let (status, reply) = call("POST", &server.api("IndicatorsOfCompromise/Actions.BulkUpload"), token, Some(json!({"iocs": body})));
            if status == 200 {
                let created = reply["value"].as_array().unwrap();
                assert_eq!(created.len(), chunk.len(), "the bulk response lists every entity in order");
                for ((definition, draft), ioc) in chunk.iter().zip(created) {
                    assert_eq!(ioc["Type"], draft.kind.api());
                    assert_eq!(ioc["AlertDefinitionId"], *definition);
                    let stored = Stored {
                        definition: *definition,
                        kind: draft.kind,
                        function: ioc["DetectionFunction"].as_str().unwrap().to_string(),
                        value: ioc["Value"].as_str().unwrap().to_string(),
                    };
                    check_normal_form(draft, &stored.value);
                    uploaded.iocs.insert(ioc["Id"].as_i64().unwrap(), stored);
                }
                break;
            }
            // Atomic: nothing was stored; the error names the first bad entity.
            assert_eq!(status, 400, "IOC bulk upload: {reply}");
            let index = failed_index(&reply).unwrap_or_else(|| panic!("a bulk error names its index: {reply}"));
            let (_, draft) = chunk.remove(index);
            uploaded.refused.push((format!("{} {} {}", draft.kind.api(), draft.function, draft.value), reply["error"]["message"].as_str().unwrap_or("").to_string()));
            assert!(uploaded.refused.len() <= 100, "too many IOCs refused: {:#?}", uploaded.refused);
        }
    }
    uploaded
}

/// The normal forms of SPEC A.5, checked where they are simple enough to state here.
fn check_normal_form(draft: &Draft, stored: &str) {
    match draft.kind {
        Kind::Sha1 | Kind::Sha256 | Kind::Md5 | Kind::Domain => {
            assert_eq!(stored, draft.value.trim().trim_end_matches('.').to_ascii_lowercase(), "{draft:?}")
        }
        Kind::Ip if !draft.value.contains('/') => {
            assert_eq!(stored.parse::<IpAddr>().ok(), draft.value.parse::<IpAddr>().ok(), "{draft:?}")
        }
        Kind::FileName if draft.function == "Regex" => assert_eq!(stored, draft.value, "a pattern is kept as written"),
        Kind::FileName => assert_eq!(stored, draft.value.to_lowercase(), "{draft:?}"),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The brute-force scan

/// The values of one record's indicator-bearing fields, normalised.
#[derive(Debug, Default)]
struct Observed {
    device: String,
    hashes: BTreeSet<String>,
    ips: BTreeSet<IpAddr>,
    hosts: BTreeSet<String>,
    urls: BTreeSet<String>,
    files: BTreeSet<String>,
}

impl Observed {
    fn hash(&mut self, value: &str) {
        let v = value.trim().to_ascii_lowercase();
        if hash_kind(&v).is_some() {
            self.hashes.insert(v);
        }
    }

    fn ip(&mut self, value: &str) -> bool {
        match parse_ip(value) {
            Some(ip) => {
                self.ips.insert(ip);
                true
            }
            None => false,
        }
    }

    /// A host name or address (HTTP Host, SNI, DNS name or answer).
    fn host(&mut self, value: &str) {
        let v = value.trim();
        if v.is_empty() || v == "-" || v.contains(char::is_whitespace) || self.ip(v) {
            return;
        }
        // `host:port`
        let v = match v.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
            _ => v,
        };
        if self.ip(v) {
            return;
        }
        self.hosts.insert(v.trim_end_matches('.').to_lowercase());
    }

    fn url(&mut self, value: &str) {
        if let Some(url) = normal_url(value) {
            if let Some(host) = url_host(&url) {
                self.host(&host);
            }
            self.urls.insert(url);
        }
    }

    fn file(&mut self, value: &str) {
        let v = value.trim();
        if !v.is_empty() && v != "-" {
            self.files.insert(v.to_string());
        }
    }
}

fn parse_ip(value: &str) -> Option<IpAddr> {
    let v = value.trim();
    let v = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(v);
    let ip: IpAddr = v.parse().ok()?;
    // IPv4-mapped IPv6 is the IPv4 address (SPEC A.5).
    Some(ip.to_canonical())
}

/// `scheme://host[:port]/path…` with scheme and host lower-cased and a default port dropped.
fn normal_url(value: &str) -> Option<String> {
    let v = value.trim();
    let (scheme, rest) = v.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a).to_lowercase();
    if authority.is_empty() {
        return None;
    }
    let authority = match authority.rsplit_once(':') {
        Some((host, port)) if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") => host.to_string(),
        _ => authority,
    };
    let path = if path.is_empty() { "/" } else { path };
    Some(format!("{scheme}://{authority}{path}"))
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split_once(']').map(|(h, _)| h.to_string());
    }
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_string())
}

/// A JSON value's scalars as text (numbers too), depth-first.
fn texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| texts(i, out)),
        Value::Object(map) => map.values().for_each(|v| texts(v, out)),
        _ => {}
    }
}

fn text_of(value: Option<&Value>) -> Option<String> {
    let mut out = Vec::new();
    texts(value?, &mut out);
    out.into_iter().next()
}

/// URLs in free text (command lines).
fn urls_in(text: &str) -> Vec<String> {
    let re = Regex::new(r#"(?i)\b(?:https?|ftp)://[^\s"'<>`^|]+"#).unwrap();
    re.find_iter(text).map(|m| m.as_str().trim_end_matches(['.', ',', ';', ')']).to_string()).collect()
}

/// A Windows event: the nested rendering of the evtx crate or the flat OTRF export.
fn windows_record(record: &Value) -> Observed {
    let mut fields: Map<String, Value> = Map::new();
    let device;
    if let Some(event) = record.get("Event") {
        device = text_of(event.pointer("/System/Computer"));
        if let Some(Value::Object(data)) = event.get("EventData") {
            fields.extend(data.clone());
        }
        if let Some(Value::Object(user)) = event.get("UserData") {
            for element in user.values() {
                if let Value::Object(data) = element {
                    fields.extend(data.clone());
                }
            }
        }
    } else {
        device = text_of(record.get("Hostname")).or_else(|| text_of(record.get("Computer")));
        fields = record.as_object().cloned().unwrap_or_default();
    }
    let get = |name: &str| text_of(fields.get(name)).filter(|v| !v.trim().is_empty());
    let mut o = Observed { device: device.unwrap_or_default(), ..Observed::default() };
    for key in ["Hashes", "Hash"] {
        for item in get(key).unwrap_or_default().split(',') {
            if let Some((algorithm, hex)) = item.split_once('=') {
                if ["SHA1", "MD5", "SHA256"].iter().any(|a| a.eq_ignore_ascii_case(algorithm.trim())) {
                    o.hash(hex);
                }
            }
        }
    }
    for key in [
        "Image", "ParentImage", "ImageLoaded", "TargetFilename", "OriginalFileName", "SourceImage", "TargetImage", "NewProcessName",
        "ProcessName", "ParentProcessName", "CallerProcessName", "Application", "ImagePath",
    ] {
        if let Some(v) = get(key) {
            o.file(&v);
        }
    }
    if get("ObjectType").is_some_and(|t| t.trim().eq_ignore_ascii_case("File")) {
        if let Some(v) = get("ObjectName") {
            o.file(&v);
        }
    }
    for key in ["DestinationIp", "DestAddress", "IpAddress"] {
        if let Some(v) = get(key) {
            o.ip(&v);
        }
    }
    for key in ["QueryName", "DestinationHostname"] {
        if let Some(v) = get(key) {
            o.host(&v);
        }
    }
    for answer in get("QueryResults").unwrap_or_default().split(';') {
        // `type:  5 name` is a CNAME record; the rest are addresses.
        let answer = answer.trim().strip_prefix("type:").map(|r| r.split_whitespace().last().unwrap_or("")).unwrap_or(answer.trim());
        o.host(answer);
    }
    for key in ["CommandLine", "ParentCommandLine"] {
        for url in urls_in(&get(key).unwrap_or_default()) {
            o.url(&url);
        }
    }
    o
}

/// A Zeek record, from TSV (fields → values, sets split) or JSON.
fn zeek_record(fields: &BTreeMap<String, Vec<String>>) -> Observed {
    let one = |k: &str| fields.get(k).and_then(|v| v.first()).cloned();
    let all = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let is_orig = one("is_orig").map(|v| v == "true" || v == "T");
    let (own, remote) = if is_orig == Some(true) { ("tx_hosts", "rx_hosts") } else { ("rx_hosts", "tx_hosts") };
    let mut o = Observed { device: one("id.orig_h").or_else(|| all(own).first().cloned()).unwrap_or_default(), ..Observed::default() };
    if let Some(ip) = one("id.resp_h") {
        o.ip(&ip);
    }
    for ip in all(remote) {
        o.ip(&ip);
    }
    for name in all("query").iter().chain(&all("answers")).chain(&all("server_name")).chain(&all("san.dns")) {
        o.host(name);
    }
    if let Some(host) = one("host") {
        o.host(&host);
    }
    if let Some(uri) = one("uri") {
        let host = one("host").or_else(|| one("id.resp_h")).unwrap_or_default();
        if uri.contains("://") {
            o.url(&uri);
        } else if uri.starts_with('/') && !host.is_empty() {
            let host = if host.contains(':') && !host.contains('[') && host.matches(':').count() > 1 { format!("[{host}]") } else { host };
            let port = one("id.resp_p").filter(|p| p != "80" && !host.contains("]:") && host.matches(':').count() != 1);
            o.url(&match port {
                Some(p) => format!("http://{host}:{p}{uri}"),
                None => format!("http://{host}{uri}"),
            });
        }
    }
    for key in ["md5", "sha1", "sha256"] {
        for h in all(key) {
            o.hash(&h);
        }
    }
    for key in ["filename", "orig_filenames", "resp_filenames"] {
        for f in all(key) {
            o.file(&f);
        }
    }
    o
}

/// A Zeek JSON record as field → values; RockNSM's `id_orig_h` is `id.orig_h`.
fn zeek_json_fields(record: &Value) -> BTreeMap<String, Vec<String>> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Vec<String>>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            Value::Bool(b) => out.entry(prefix.to_string()).or_default().push(b.to_string()),
            other => {
                let mut values = Vec::new();
                texts(other, &mut values);
                out.entry(prefix.to_string()).or_default().extend(values);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", record, &mut out);
    for side in ["orig_h", "orig_p", "resp_h", "resp_p"] {
        if let Some(v) = out.remove(&format!("id_{side}")) {
            out.insert(format!("id.{side}"), v);
        }
    }
    out
}

/// The records of a Zeek TSV log, as field → values.
fn zeek_tsv_records(text: &str) -> Vec<BTreeMap<String, Vec<String>>> {
    let (mut fields, mut types): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let (mut set_separator, mut empty, mut unset) = (",".to_string(), "(empty)".to_string(), "-".to_string());
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(directive) = line.strip_prefix('#') {
            let mut parts = directive.split('\t');
            match parts.next().unwrap_or("") {
                "set_separator" => set_separator = parts.next().unwrap_or(",").to_string(),
                "empty_field" => empty = parts.next().unwrap_or("").to_string(),
                "unset_field" => unset = parts.next().unwrap_or("").to_string(),
                "fields" => fields = parts.map(str::to_string).collect(),
                "types" => types = parts.map(str::to_string).collect(),
                _ => {}
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let mut record = BTreeMap::new();
        for (i, value) in line.split('\t').enumerate() {
            if value == unset || value == empty {
                continue;
            }
            let container = types.get(i).is_some_and(|t| t.starts_with("set[") || t.starts_with("vector["));
            let values: Vec<String> = if container { value.split(set_separator.as_str()).map(str::to_string).collect() } else { vec![value.to_string()] };
            record.insert(fields[i].clone(), values);
        }
        out.push(record);
    }
    out
}

/// A Suricata EVE event.
fn eve_record(record: &Value) -> Observed {
    let mut o = Observed { device: text_of(record.get("src_ip")).unwrap_or_default(), ..Observed::default() };
    if let Some(ip) = text_of(record.get("dest_ip")) {
        o.ip(&ip);
    }
    if let Some(dns) = record.get("dns") {
        let mut names = Vec::new();
        for key in ["rrname", "rdata"] {
            if let Some(v) = dns.get(key) {
                texts(v, &mut names);
            }
        }
        for list in ["queries", "answers"] {
            for item in dns.get(list).and_then(Value::as_array).into_iter().flatten() {
                for key in ["rrname", "rdata"] {
                    if let Some(v) = item.get(key) {
                        texts(v, &mut names);
                    }
                }
            }
        }
        if let Some(grouped) = dns.get("grouped") {
            texts(grouped, &mut names);
        }
        for name in names {
            o.host(&name);
        }
    }
    let http = record.get("http");
    let hostname = text_of(http.and_then(|h| h.get("hostname")));
    if let Some(host) = &hostname {
        o.host(host);
    }
    if let Some(url) = text_of(http.and_then(|h| h.get("url"))) {
        if url.contains("://") {
            o.url(&url);
        } else if let (Some(host), true) = (&hostname, url.starts_with('/')) {
            let port = http.and_then(|h| h.get("http_port")).and_then(Value::as_u64).filter(|p| *p != 80);
            o.url(&match port {
                Some(p) => format!("http://{host}:{p}{url}"),
                None => format!("http://{host}{url}"),
            });
        }
    }
    for key in ["tls", "quic"] {
        if let Some(sni) = text_of(record.get(key).and_then(|t| t.get("sni"))) {
            o.host(&sni);
        }
    }
    let mut files: Vec<&Value> = record.get("fileinfo").into_iter().collect();
    files.extend(record.get("files").and_then(Value::as_array).into_iter().flatten());
    for file in files {
        for key in ["md5", "sha1", "sha256"] {
            if let Some(h) = text_of(file.get(key)) {
                o.hash(&h);
            }
        }
        if let Some(name) = text_of(file.get("filename")).filter(|n| n.trim() != "/") {
            o.file(&name);
        }
    }
    o
}

/// The listed values, in plain structures.
struct Lists {
    exact: HashMap<(Kind, String), Vec<i64>>,
    ip_exact: HashMap<IpAddr, Vec<i64>>,
    ip_blocks: Vec<(IpAddr, u8, i64)>,
    domain_suffix: HashMap<String, Vec<i64>>,
    /// (kind, function, value, id) of the remaining non-Equals IOCs, scanned linearly.
    scanned: Vec<(Kind, String, String, i64)>,
    url_regexes: Vec<(Regex, i64)>,
    file_regexes: Vec<(RegexSet, Vec<i64>)>,
}

fn in_block(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32u32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128u32),
        _ => return false,
    };
    let bits = u32::from(bits);
    bits == 0 || (a >> (width - bits)) == (b >> (width - bits))
}

fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

impl Lists {
    fn new(iocs: &HashMap<i64, Stored>) -> Lists {
        let mut lists = Lists {
            exact: HashMap::new(),
            ip_exact: HashMap::new(),
            ip_blocks: Vec::new(),
            domain_suffix: HashMap::new(),
            scanned: Vec::new(),
            url_regexes: Vec::new(),
            file_regexes: Vec::new(),
        };
        let mut file_patterns: Vec<(String, i64)> = Vec::new();
        let mut ids: Vec<&i64> = iocs.keys().collect();
        ids.sort();
        for id in ids {
            let ioc = &iocs[id];
            match (ioc.kind, ioc.function.as_str()) {
                (Kind::Ip, "Equals") => match ioc.value.split_once('/') {
                    Some((network, bits)) => lists.ip_blocks.push((parse_ip(network).unwrap(), bits.parse().unwrap(), *id)),
                    None => lists.ip_exact.entry(parse_ip(&ioc.value).unwrap()).or_default().push(*id),
                },
                (Kind::Domain, "EndWith") => lists.domain_suffix.entry(ioc.value.clone()).or_default().push(*id),
                (Kind::Url, "Regex") => lists.url_regexes.push((Regex::new(&ioc.value).unwrap(), *id)),
                (Kind::FileName, "Regex") => file_patterns.push((ioc.value.clone(), *id)),
                (kind, "Equals") => lists.exact.entry((kind, ioc.value.clone())).or_default().push(*id),
                (kind, function) => lists.scanned.push((kind, function.to_string(), ioc.value.clone(), *id)),
            }
        }
        for chunk in file_patterns.chunks(256) {
            let set = RegexSetBuilder::new(chunk.iter().map(|(p, _)| p))
                .case_insensitive(true)
                .size_limit(256 * 1024 * chunk.len())
                .nest_limit(64)
                .build()
                .unwrap();
            lists.file_regexes.push((set, chunk.iter().map(|(_, id)| *id).collect()));
        }
        lists
    }

    /// The IOCs a record's values contain.
    fn matches(&self, o: &Observed) -> BTreeSet<i64> {
        let mut found = BTreeSet::new();
        let mut exact = |kind: Kind, value: &str| {
            if let Some(ids) = self.exact.get(&(kind, value.to_string())) {
                found.extend(ids.iter().copied());
            }
        };
        for h in &o.hashes {
            exact(hash_kind(h).unwrap(), h);
        }
        for host in &o.hosts {
            exact(Kind::Domain, host);
        }
        for url in &o.urls {
            exact(Kind::Url, url);
        }
        for file in &o.files {
            exact(Kind::FileName, &base_name(file).to_lowercase());
        }
        for ip in &o.ips {
            found.extend(self.ip_exact.get(ip).into_iter().flatten().copied());
            found.extend(self.ip_blocks.iter().filter(|(n, bits, _)| in_block(*ip, *n, *bits)).map(|(_, _, id)| *id));
        }
        for host in &o.hosts {
            // Label-aligned suffixes: the host itself and every parent domain.
            let mut suffix = host.as_str();
            loop {
                found.extend(self.domain_suffix.get(suffix).into_iter().flatten().copied());
                match suffix.split_once('.') {
                    Some((_, parent)) => suffix = parent,
                    None => break,
                }
            }
        }
        for (kind, function, value, id) in &self.scanned {
            let candidates: Vec<String> = match kind {
                Kind::Domain => o.hosts.iter().cloned().collect(),
                Kind::Url => o.urls.iter().cloned().collect(),
                Kind::FileName => o.files.iter().map(|f| base_name(f).to_lowercase()).collect(),
                _ => Vec::new(),
            };
            let hit = candidates.iter().any(|c| match function.as_str() {
                "StartWith" => c.starts_with(value.as_str()),
                "EndWith" => c.ends_with(value.as_str()),
                "Contains" => c.contains(value.as_str()),
                other => panic!("unexpected function {other}"),
            });
            if hit {
                found.insert(*id);
            }
        }
        for (re, id) in &self.url_regexes {
            if o.urls.iter().any(|u| re.is_match(u)) {
                found.insert(*id);
            }
        }
        for file in &o.files {
            for (set, ids) in &self.file_regexes {
                for i in set.matches(file).iter().chain(set.matches(base_name(file)).iter()) {
                    found.insert(ids[i]);
                }
            }
        }
        found
    }
}

// ---------------------------------------------------------------------------------------------
// Expected and actual alerts

/// What the alerts of a tenant add up to.
#[derive(Default, Debug, PartialEq)]
struct Tally {
    /// (definition, device, IOC value)
    keys: BTreeSet<(i64, String, String)>,
    /// (definition, device) → events
    events: BTreeMap<(i64, String), i64>,
}

impl Tally {
    /// Adds one record that matched `ids`.
    fn add(&mut self, iocs: &HashMap<i64, Stored>, device: &str, ids: &BTreeSet<i64>) {
        let mut definitions = BTreeSet::new();
        for id in ids {
            let ioc = &iocs[id];
            self.keys.insert((ioc.definition, device.to_string(), ioc.value.clone()));
            definitions.insert(ioc.definition);
        }
        for definition in definitions {
            *self.events.entry((definition, device.to_string())).or_default() += 1;
        }
    }
}

fn actual(server: &Server, token: &str, iocs: &HashMap<i64, Stored>) -> Tally {
    let mut tally = Tally::default();
    for a in query_all(server, token, "Alerts?$select=Id,AlertDefinitionId,DeviceId,IocIds,EventCount&$orderby=Id") {
        let definition = a["AlertDefinitionId"].as_i64().unwrap();
        let device = a["DeviceId"].as_str().unwrap().to_string();
        for id in a["IocIds"].as_array().unwrap() {
            let ioc = &iocs[&id.as_i64().unwrap()];
            assert_eq!(ioc.definition, definition, "an alert names only IOCs of its definition: {a}");
            tally.keys.insert((definition, device.clone(), ioc.value.clone()));
        }
        *tally.events.entry((definition, device)).or_default() += a["EventCount"].as_i64().unwrap();
    }
    tally
}

fn compare(stage: &str, expected: &Tally, got: &Tally, definitions: &BTreeMap<i64, String>) {
    let name = |d: &i64| definitions.get(d).cloned().unwrap_or_default();
    let diff = |a: &BTreeSet<(i64, String, String)>, b: &BTreeSet<(i64, String, String)>| -> Vec<String> {
        a.difference(b).take(40).map(|(d, device, v)| format!("{} | {device} | {v}", name(d))).collect()
    };
    let missing = diff(&expected.keys, &got.keys);
    let extra = diff(&got.keys, &expected.keys);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{stage}: alerts differ from the brute-force scan\n  expected, not raised ({}):\n    {}\n  raised, not expected ({}):\n    {}",
        expected.keys.difference(&got.keys).count(),
        missing.join("\n    "),
        got.keys.difference(&expected.keys).count(),
        extra.join("\n    ")
    );
    let counts: Vec<String> = expected
        .events
        .iter()
        .filter(|(k, v)| got.events.get(*k) != Some(v))
        .take(40)
        .map(|((d, device), n)| format!("{} | {device}: expected {n} events, alerts count {:?}", name(d), got.events.get(&(*d, device.clone()))))
        .collect();
    assert!(counts.is_empty(), "{stage}: EventCount sums differ\n  {}", counts.join("\n  "));
    assert_eq!(expected.events.len(), got.events.len(), "{stage}");
}

// ---------------------------------------------------------------------------------------------
// The test

fn lines(path: &Path) -> Vec<Value> {
    read_text(path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn files_in(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_in(&path, extension));
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Sends one file and checks that every record was taken.
fn send(server: &Server, sensor: &str, format: &str, path: &Path, records: usize) {
    let summary = ingest(server, sensor, format, std::fs::read(path).unwrap());
    assert_eq!(summary["rejected"], 0, "{}: {summary}", path.display());
    assert_eq!(summary["accepted"], records, "{}: {summary}", path.display());
}

#[test]
fn alerts_on_real_telemetry_are_exactly_what_a_brute_force_scan_of_the_real_ioc_lists_finds() {
    let data = shared_data();
    assert!(data.join("endpoint").is_dir() && data.join("network").is_dir() && data.join("intel").is_dir(), "shared data not found at {}: set OPENTI_SHARED_DATA", data.display());
    let server = Server::start();
    let token = server.default_tenant().token;
    let sensor = server.sensor_token("default");

    let feeds = feeds(&data);
    let uploaded = upload(&server, &token, &feeds);
    let wanted: usize = feeds.iter().map(|f| f.iocs.len()).sum();
    assert!(wanted > 20_000, "the lists hold {wanted} IOCs");
    assert_eq!(uploaded.iocs.len() + uploaded.refused.len(), wanted);
    // What the API refuses is rare and named (e.g. a maltrail "domain" that is no host name).
    assert!(uploaded.refused.len() * 200 < wanted, "refused: {:#?}", uploaded.refused);
    if !uploaded.refused.is_empty() {
        eprintln!("IOCs the API refused ({}):", uploaded.refused.len());
        for (ioc, message) in &uploaded.refused {
            eprintln!("  {ioc}: {message}");
        }
    }
    let definition_of = |name: &str| *uploaded.definitions.iter().find(|(_, n)| n.as_str() == name).unwrap().0;
    let id_of = |definition: i64, value: &str| *uploaded.iocs.iter().find(|(_, s)| s.definition == definition && s.value == value).unwrap_or_else(|| panic!("no IOC {value}")).0;
    let lists = Lists::new(&uploaded.iocs);
    let mut expected = Tally::default();

    // 1. EVTX, compared with the scan of the JSON renderings of the same records.
    let rendered = data.join("endpoint/telemetry/sysmon-json");
    let mut endpoint = Tally::default();
    let mut endpoint_records: Vec<(std::path::PathBuf, Vec<Value>)> = Vec::new();
    for json_file in files_in(&rendered, "ndjson") {
        let records = lines(&json_file);
        for record in &records {
            let o = windows_record(record);
            endpoint.add(&uploaded.iocs, &o.device, &lists.matches(&o));
        }
        let relative = json_file.strip_prefix(&rendered).unwrap().with_extension("evtx");
        send(&server, &sensor, "evtx", &data.join("endpoint/telemetry/evtx").join(&relative), records.len());
        endpoint_records.push((json_file, records));
    }
    assert_eq!(endpoint_records.len(), 11);
    expected.keys.extend(endpoint.keys.iter().cloned());
    for (k, n) in &endpoint.events {
        *expected.events.entry(k.clone()).or_default() += n;
    }
    compare("EVTX", &expected, &actual(&server, &token, &uploaded.iocs), &uploaded.definitions);

    // The README's example: the LOLDrivers SHA1 of VBoxDrv.sys in Sysmon event 6, record 18766.
    let vulnerable = definition_of("LOLDrivers: vulnerable driver");
    let sha1 = id_of(vulnerable, "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0c");
    let vbox = query_all(&server, &token, &format!("Alerts?$filter=AlertDefinitionId eq {vulnerable} and DeviceId eq 'MSEDGEWIN10'"));
    let vbox: Vec<&Value> = vbox.iter().filter(|a| a["IocIds"].as_array().unwrap().contains(&json!(sha1))).collect();
    assert_eq!(vbox.len(), 1, "{vbox:?}");
    assert_eq!(vbox[0]["Severity"], "High");
    assert_eq!(vbox[0]["EventCount"], 1, "one event, although its SHA1, MD5 and SHA256 are all listed");
    assert_eq!(vbox[0]["IocIds"].as_array().unwrap().len(), 3, "{}", vbox[0]);
    assert_eq!(vbox[0]["FirstEventTime"], "2020-02-10T08:28:12.870Z");
    let evidence = vbox[0]["Evidence"].to_string();
    assert!(evidence.contains("18766") && evidence.contains("VBoxDrv.sys"), "{evidence}");
    let signature_base = definition_of("signature-base: hash IOCs");
    assert!(expected.keys.contains(&(signature_base, "MSEDGEWIN10".into(), "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0c".into())), "the same SHA1 is in signature-base");
    assert!(
        expected.keys.contains(&(definition_of("LOLDrivers: driver file name"), "MSEDGEWIN10".into(), "vboxdrv.sys".into())),
        "the driver's file name is listed too (and the registry value naming it is no file field)"
    );

    // 2. The JSON renderings themselves: every endpoint match counts twice now.
    for (json_file, records) in &endpoint_records {
        send(&server, &sensor, "sysmon", json_file, records.len());
    }
    for (k, n) in &endpoint.events {
        *expected.events.entry(k.clone()).or_default() += n;
    }
    compare("Sysmon JSON", &expected, &actual(&server, &token, &uploaded.iocs), &uploaded.definitions);

    // 3. The flat OTRF export (Sysmon, Security and System events).
    let otrf = data.join("endpoint/telemetry/otrf/cmd_bitsadmin_download_psh_script.json");
    let records = lines(&otrf);
    for record in &records {
        let o = windows_record(record);
        expected.add(&uploaded.iocs, &o.device, &lists.matches(&o));
    }
    send(&server, &sensor, "sysmon", &otrf, records.len());
    compare("OTRF", &expected, &actual(&server, &token, &uploaded.iocs), &uploaded.definitions);

    // 4. Zeek TSV: the Simda capture.
    let ctu = data.join("network/zeek/ctu-malware-capture-botnet-355-1-simda");
    let simda = definition_of("maltrail: simda");
    for log in ["conn.log", "dns.log", "http.log"] {
        let records = zeek_tsv_records(&read_text(&ctu.join(log)));
        for (n, record) in records.iter().enumerate() {
            let o = zeek_record(record);
            let ids = lists.matches(&o);
            // The README's examples: dns.log line 40 and http.log line 9 (8 header lines).
            if (log, n + 9) == ("dns.log", 40) || (log, n + 9) == ("http.log", 9) {
                assert!(ids.iter().any(|id| uploaded.iocs[id].definition == simda && uploaded.iocs[id].value == "gatyfus.com"), "{log} line {}: {o:?}", n + 9);
            }
            expected.add(&uploaded.iocs, &o.device, &ids);
        }
        send(&server, &sensor, "zeek", &ctu.join(log), records.len());
    }
    compare("Zeek TSV", &expected, &actual(&server, &token, &uploaded.iocs), &uploaded.definitions);
    let gatyfus = id_of(simda, "gatyfus.com");
    for device in ["fd77:48a1:c0bb:0:b96c:506d:6c7f:e8be", "192.168.1.116"] {
        let found = query_all(&server, &token, &format!("Alerts?$filter=AlertDefinitionId eq {simda} and DeviceId eq '{device}'"));
        assert!(found.iter().any(|a| a["IocIds"].as_array().unwrap().contains(&json!(gatyfus))), "gatyfus.com on {device}: {found:?}");
    }

    // 5. Zeek JSON: default keys (slips) and the RockNSM variant (APT29).
    for dir in ["network/zeek/slips-test9-mixed-json", "network/zeek/otrf-apt29-day1-scranton"] {
        for log in files_in(&data.join(dir), "log") {
            let records = lines(&log);
            for (n, record) in records.iter().enumerate() {
                let o = zeek_record(&zeek_json_fields(record));
                let ids = lists.matches(&o);
                if log.ends_with("slips-test9-mixed-json/ssl.log") && n == 0 {
                    assert!(ids.is_empty(), "the IP:port trail 204.79.197.200:443 does not flag TLS to that host: {ids:?}");
                }
                expected.add(&uploaded.iocs, &o.device, &ids);
            }
            send(&server, &sensor, "zeek", &log, records.len());
        }
    }
    compare("Zeek JSON", &expected, &actual(&server, &token, &uploaded.iocs), &uploaded.definitions);
    let apt29 = definition_of("APT29 evaluation: attacker hosts (user-defined)");
    assert!(expected.events.contains_key(&(apt29, "10.0.1.4".to_string())), "the APT29 attacker hosts are seen from the victim");

    // 6. Suricata EVE (2.8 MB in one request).
    let eve = data.join("network/suricata/slips-test6-malicious/test6-malicious.suricata.json");
    let records = lines(&eve);
    for record in &records {
        let o = eve_record(record);
        expected.add(&uploaded.iocs, &o.device, &lists.matches(&o));
    }
    send(&server, &sensor, "suricata", &eve, records.len());
    let got = actual(&server, &token, &uploaded.iocs);
    compare("Suricata EVE", &expected, &got, &uploaded.definitions);

    // Every kind of source contributed, and the user-defined blocks matched.
    let honeypot = definition_of("Honeypot: probes and lookups (user-defined)");
    let resolver = definition_of("CTU lab: IPv6 site prefix (user-defined)");
    for (definition, value) in [(honeypot, "122.248.252.0/24"), (honeypot, "/scripts/setup.php"), (honeypot, "myedimax.com"), (resolver, "fd77:48a1:c0bb::/48")] {
        assert!(got.keys.iter().any(|(d, _, v)| *d == definition && v == value), "{value} matched nothing");
    }
    let mut per_definition: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for (d, _, _) in &got.keys {
        per_definition.entry(uploaded.definitions[d].as_str()).or_default().0 += 1;
    }
    for ((d, _), n) in &got.events {
        per_definition.entry(uploaded.definitions[d].as_str()).or_default().1 += n;
    }
    for (name, (triples, events)) in &per_definition {
        eprintln!("  {name}: {triples} (device, IOC) pairs, {events} events");
    }
    let total: i64 = got.events.values().sum();
    eprintln!(
        "{} IOCs in {} definitions; {} (definition, device, IOC) triples; {} matching events",
        uploaded.iocs.len(),
        uploaded.definitions.len(),
        got.keys.len(),
        total
    );
}
