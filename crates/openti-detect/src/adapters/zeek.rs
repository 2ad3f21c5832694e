//! `zeek`: Zeek logs (conn, dns, http, ssl, files, x509), in Zeek's default tab-separated
//! format or as JSON lines. A body may mix both and may hold several logs one after the
//! other: every `#separator`/`#fields`/`#types` header applies to the records below it.
//!
//! JSON comes with Zeek's dotted keys (`"id.orig_h"`), nested (`{"id":{"orig_h":…}}`), or
//! with underscores as RockNSM ships it (`"id_orig_h"`, plus `@stream` naming the log). The
//! log a JSON record belongs to is its `_path`/`@stream` when present, else guessed from its
//! keys; it only decides the ActionType, because every log's fields map the same way:
//!
//! | Zeek | native |
//! | --- | --- |
//! | `ts` (epoch seconds, or ISO 8601; required) | Timestamp |
//! | `id.orig_h` (files: the originator's side of `tx_hosts`/`rx_hosts`) | DeviceName |
//! | `id.resp_h` (files: the other side) | RemoteIP |
//! | dns `query` | DnsQuery |
//! | dns `answers` | RemoteIP (addresses), RemoteUrl (names) |
//! | http `host`; `host` + `uri` | RemoteUrl (bare host, and `http://host[:port]/uri`) |
//! | ssl `server_name`, x509 `san.dns` | RemoteUrl (bare host) |
//! | files `md5`, `sha1`, `sha256`; `filename`, http `orig_filenames`/`resp_filenames` | MD5, SHA1, SHA256; FileName |
//!
//! A Host header or SNI that is an address literal is a RemoteIP, not a RemoteUrl.

use std::borrow::Cow;

use super::body::{is_blank, line_text, lines};
use super::values::{epoch_seconds, http_url, parse_timestamp, Parts};
use super::walk::{walk_json_text, Scalar, Sink};
use super::{Adapter, Format, LineError};
use crate::event::{Event, Field, Raw};

/// The `zeek` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeekAdapter;

impl Adapter for ZeekAdapter {
    fn format(&self) -> Format {
        Format::Zeek
    }

    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>)) {
        let mut header = Header::default();
        for (number, line) in lines(body) {
            if is_blank(line) {
                continue;
            }
            let result = line_text(line).and_then(|text| {
                if text.starts_with('#') {
                    header.directive(text);
                    return Ok(None);
                }
                let parts = if text.trim_start().starts_with('{') {
                    map_json(text)
                } else {
                    header.map_record(text)
                }?;
                Ok(Some(parts.into_event(Raw::Text(Cow::Borrowed(text)))))
            });
            match result {
                Ok(Some(event)) => emit(Ok(event)),
                Ok(None) => {}
                Err(message) => emit(Err(LineError::new(number, message))),
            }
        }
    }
}

fn map_json(text: &str) -> Result<Parts<'_>, String> {
    let mut sink = ZeekSink::default();
    walk_json_text(text, &mut sink)?;
    sink.finish(None)
}

/// The header of a tab-separated log, as far as it has been read.
struct Header<'a> {
    separator: String,
    set_separator: String,
    empty_field: String,
    unset_field: String,
    path: Option<&'a str>,
    fields: Vec<&'a str>,
    types: Vec<&'a str>,
}

impl Default for Header<'_> {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty_field: "(empty)".into(),
            unset_field: "-".into(),
            path: None,
            fields: Vec::new(),
            types: Vec::new(),
        }
    }
}

impl<'a> Header<'a> {
    /// A `#` line. Unknown directives (`#open`, `#close`, comments) are ignored.
    fn directive(&mut self, line: &'a str) {
        // `#separator` is the one directive written with a space, since its value is the
        // separator the others use (escaped: `\x09`).
        if let Some(value) = line.strip_prefix("#separator ") {
            let separator = unescape(value).into_owned();
            // A new header starts a new log.
            *self = Header::default();
            if !separator.is_empty() {
                self.separator = separator;
            }
            return;
        }
        let mut items = line.split(self.separator.as_str());
        let name = items.next().unwrap_or("");
        let value = || unescape(line.get(name.len() + self.separator.len()..).unwrap_or("")).into_owned();
        match name {
            "#set_separator" => {
                let value = value();
                if !value.is_empty() {
                    self.set_separator = value;
                }
            }
            "#empty_field" => self.empty_field = value(),
            "#unset_field" => self.unset_field = value(),
            "#path" => self.path = items.next(),
            "#fields" => self.fields = items.collect(),
            "#types" => self.types = items.collect(),
            _ => {}
        }
    }

    fn map_record(&self, line: &'a str) -> Result<Parts<'a>, String> {
        if self.fields.is_empty() {
            return Err("record before any #fields header (not a Zeek log?)".into());
        }
        let count = line.split(self.separator.as_str()).count();
        if count != self.fields.len() {
            return Err(format!("record has {count} fields, the #fields header names {}", self.fields.len()));
        }
        let mut sink = ZeekSink::default();
        for (i, (name, value)) in self.fields.iter().zip(line.split(self.separator.as_str())).enumerate() {
            if value == self.unset_field || value == self.empty_field {
                continue;
            }
            let container = match self.types.get(i) {
                Some(t) => t.starts_with("set[") || t.starts_with("vector["),
                None => CONTAINERS.contains(name),
            };
            if container {
                for item in value.split(self.set_separator.as_str()) {
                    sink.leaf(name, Scalar::Str(unescape(item)));
                }
            } else {
                sink.leaf(name, Scalar::Str(unescape(value)));
            }
        }
        sink.finish(self.path)
    }
}

/// Set and vector fields of the logs we read, for a header without `#types`.
const CONTAINERS: &[&str] = &[
    "answers",
    "TTLs",
    "tx_hosts",
    "rx_hosts",
    "conn_uids",
    "analyzers",
    "orig_filenames",
    "resp_filenames",
    "orig_fuids",
    "resp_fuids",
    "orig_mime_types",
    "resp_mime_types",
    "tags",
    "tunnel_parents",
    "san.dns",
    "san.ip",
    "cert_chain_fuids",
];

/// Zeek's ASCII writer escapes bytes it cannot write as-is (the separator, non-printable
/// bytes) as `\xHH`.
fn unescape(value: &str) -> Cow<'_, str> {
    if !value.contains("\\x") {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            let hex = bytes.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Default)]
struct ZeekSink<'a> {
    log: Option<Cow<'a, str>>,
    ts: Option<Scalar<'a>>,
    orig_h: Option<Cow<'a, str>>,
    resp_h: Option<Cow<'a, str>>,
    resp_p: Option<u64>,
    query: Option<Cow<'a, str>>,
    answers: Vec<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
    uri: Option<Cow<'a, str>>,
    server_name: Option<Cow<'a, str>>,
    md5: Option<Cow<'a, str>>,
    sha1: Option<Cow<'a, str>>,
    sha256: Option<Cow<'a, str>>,
    filenames: Vec<Cow<'a, str>>,
    is_orig: Option<bool>,
    tx_hosts: Vec<Cow<'a, str>>,
    rx_hosts: Vec<Cow<'a, str>>,
    san_dns: Vec<Cow<'a, str>>,
    /// Keys that tell which log a record without `_path` comes from.
    seen_http: bool,
    seen_ssl: bool,
    seen_files: bool,
    seen_x509: bool,
    seen_conn: bool,
}

impl<'a> Sink<'a> for ZeekSink<'a> {
    fn leaf(&mut self, path: &str, value: Scalar<'a>) {
        fn push<'a>(list: &mut Vec<Cow<'a, str>>, value: Scalar<'a>) {
            // Bounded like the observables they become.
            if list.len() < super::values::MAX_OBSERVABLES {
                list.extend(value.into_text());
            }
        }
        match path {
            "_path" | "@stream" => self.log = value.into_text(),
            "ts" => self.ts = Some(value),
            "id.orig_h" | "id_orig_h" => self.orig_h = value.into_text(),
            "id.resp_h" | "id_resp_h" => self.resp_h = value.into_text(),
            "id.resp_p" | "id_resp_p" => self.resp_p = value.as_u64(),
            "query" => self.query = value.into_text(),
            "answers" => push(&mut self.answers, value),
            "host" => self.host = value.into_text(),
            "uri" => {
                self.seen_http = true;
                self.uri = value.into_text();
            }
            "method" | "user_agent" | "status_code" => self.seen_http = true,
            "server_name" => {
                self.seen_ssl = true;
                self.server_name = value.into_text();
            }
            "cipher" | "ja3" => self.seen_ssl = true,
            "fuid" | "mime_type" => self.seen_files = true,
            "md5" => self.md5 = value.into_text(),
            "sha1" => self.sha1 = value.into_text(),
            "sha256" => self.sha256 = value.into_text(),
            "filename" | "orig_filenames" | "resp_filenames" => push(&mut self.filenames, value),
            "is_orig" => self.is_orig = value.as_bool(),
            "tx_hosts" => push(&mut self.tx_hosts, value),
            "rx_hosts" => push(&mut self.rx_hosts, value),
            "san.dns" => {
                self.seen_x509 = true;
                push(&mut self.san_dns, value)
            }
            "conn_state" | "history" => self.seen_conn = true,
            _ if path.starts_with("certificate.") => self.seen_x509 = true,
            _ => {}
        }
    }
}

impl<'a> ZeekSink<'a> {
    /// The log's name: `_path`/`@stream`, the TSV `#path`, or a guess from the keys.
    fn log_name(&self, tsv_path: Option<&'a str>) -> Option<Cow<'a, str>> {
        if let Some(log) = self.log.clone().or(tsv_path.map(Cow::Borrowed)) {
            return Some(log);
        }
        let guess = if self.query.is_some() {
            "dns"
        } else if self.seen_http {
            "http"
        } else if self.seen_ssl {
            "ssl"
        } else if self.seen_files {
            "files"
        } else if self.seen_x509 {
            "x509"
        } else if self.seen_conn {
            "conn"
        } else {
            return None;
        };
        Some(Cow::Borrowed(guess))
    }

    fn finish(self, tsv_path: Option<&'a str>) -> Result<Parts<'a>, String> {
        let timestamp = match &self.ts {
            None | Some(Scalar::Null) => return Err("missing required field ts".into()),
            Some(Scalar::F64(seconds)) => epoch_seconds(*seconds),
            Some(Scalar::U64(seconds)) => epoch_seconds(*seconds as f64),
            Some(Scalar::I64(seconds)) => epoch_seconds(*seconds as f64),
            Some(Scalar::Str(text)) => parse_timestamp(text),
            Some(Scalar::Bool(_)) => None,
        }
        .ok_or("invalid ts: expected epoch seconds or an ISO 8601 date-time")?;
        let mut parts = Parts::new(timestamp);
        parts.action_type = self.log_name(tsv_path);
        // files.log has no connection id: the originator is the sender of a file it
        // uploaded (`is_orig`), the receiver of one it downloaded.
        let (device, remotes) = if self.is_orig == Some(true) {
            (self.tx_hosts.first(), &self.rx_hosts)
        } else {
            (self.rx_hosts.first(), &self.tx_hosts)
        };
        parts.device_name = self.orig_h.clone().or_else(|| device.cloned());
        let o = &mut parts.observables;
        if let Some(ip) = &self.resp_h {
            o.push_ip(ip);
        }
        for ip in remotes {
            o.push_ip(ip);
        }
        if let Some(query) = &self.query {
            o.push_query(query);
        }
        for answer in &self.answers {
            o.push_answer(answer);
        }
        if let Some(host) = &self.host {
            o.push_host(host);
        }
        if let Some(uri) = &self.uri {
            // HTTP/1.0 requests may have no Host header: the server's address stands in.
            let host = self.host.as_deref().or(self.resp_h.as_deref()).unwrap_or("");
            if let Some(url) = http_url(host, self.resp_p, uri) {
                o.push(Field::RemoteUrl, &url);
            }
        }
        if let Some(name) = &self.server_name {
            o.push_host(name);
        }
        for name in &self.san_dns {
            o.push_host(name);
        }
        o.push_opt(Field::Md5, self.md5.as_ref());
        o.push_opt(Field::Sha1, self.sha1.as_ref());
        o.push_opt(Field::Sha256, self.sha256.as_ref());
        for name in &self.filenames {
            o.push(Field::FileName, name);
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_all;
    use super::*;

    fn obs<'e>(e: &'e Event) -> Vec<(Field, &'e str)> {
        e.observables.iter().map(|o| (o.field, o.value.as_ref())).collect()
    }

    const DNS_TSV: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n#open\t2018-05-14-16-27-31\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\tTTLs\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\tvector[interval]\n181.829451\tCME4\tfd77:48a1:c0bb:0:b96c:506d:6c7f:e8be\t59585\tfd77:48a1:c0bb::1\t53\tudp\tgatyfus.com\t67.55.121.97,alias.example.net\t1800.0,1.0\n30.8\tCQX\tfe80::28fb\t55065\tff02::1:3\t5355\tudp\twpad\t-\t-\n";

    #[test]
    fn tsv_dns() {
        let (events, errors) = parse_all(Format::Zeek, DNS_TSV.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.timestamp.timestamp_micros(), 181_829_451);
        assert_eq!(e.device_name.as_deref(), Some("fd77:48a1:c0bb:0:b96c:506d:6c7f:e8be"));
        assert_eq!(e.action_type.as_deref(), Some("dns"));
        assert_eq!(
            obs(e),
            vec![
                (Field::RemoteIp, "fd77:48a1:c0bb::1"),
                (Field::DnsQuery, "gatyfus.com"),
                (Field::RemoteIp, "67.55.121.97"),
                (Field::RemoteUrl, "alias.example.net"),
            ]
        );
        assert!(e.observables.iter().all(|o| matches!(o.value, Cow::Borrowed(_))));
    }

    #[test]
    fn tsv_errors_and_escapes() {
        let body = "1.0\tx\n#separator \\x7c\n#fields|ts|host|uri|id.resp_h|id.resp_p\n2.0|a\\x7cb.example|/x|10.0.0.1|8080\n3.0|short\n";
        let (events, errors) = parse_all(Format::Zeek, body.as_bytes());
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 5]);
        assert!(errors[1].message.contains("2 fields"), "{}", errors[1].message);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action_type.as_deref(), Some("http"));
        assert_eq!(
            obs(&events[0]),
            vec![
                (Field::RemoteIp, "10.0.0.1"),
                (Field::RemoteUrl, "a|b.example"),
                (Field::RemoteUrl, "http://a|b.example:8080/x"),
            ]
        );
        assert_eq!(unescape(r"\x41\x4g\x"), r"A\x4g\x");
    }

    #[test]
    fn json_variants() {
        let body = concat!(
            r#"{"ts":95.036038,"uid":"Cmj","id.orig_h":"10.0.2.15","id.orig_p":49194,"id.resp_h":"204.79.197.200","id.resp_p":443,"version":"TLSv10","server_name":"ieonline.microsoft.com"}"#,
            "\n",
            r#"{"@stream":"files","ts":1588205521.662286,"fuid":"FS","tx_hosts":["10.0.0.4"],"rx_hosts":["10.0.1.4"],"is_orig":false,"filename":"dmevals.local\\gpt.ini","md5":"cc85d7649546d3c0b1607f761b73fec2","sha1":"1a1a10b819f321b91b47d7dd73668406a15992db"}"#,
            "\n",
            r#"{"ts":"2020-04-30T00:06:38.899710Z","id":{"orig_h":"10.0.1.4","resp_h":"192.168.0.4","resp_p":80},"method":"GET","uri":"/webdav/python.exe"}"#,
            "\n",
            r#"{"uid":"C"}"#,
        );
        let (events, errors) = parse_all(Format::Zeek, body.as_bytes());
        assert_eq!(errors, vec![LineError::new(4, "missing required field ts")]);
        assert_eq!(events[0].action_type.as_deref(), Some("ssl"));
        assert_eq!(
            obs(&events[0]),
            vec![(Field::RemoteIp, "204.79.197.200"), (Field::RemoteUrl, "ieonline.microsoft.com")]
        );
        assert_eq!(events[1].action_type.as_deref(), Some("files"));
        assert_eq!(events[1].device_name.as_deref(), Some("10.0.1.4"));
        assert_eq!(
            obs(&events[1]),
            vec![
                (Field::RemoteIp, "10.0.0.4"),
                (Field::Md5, "cc85d7649546d3c0b1607f761b73fec2"),
                (Field::Sha1, "1a1a10b819f321b91b47d7dd73668406a15992db"),
                (Field::FileName, r"dmevals.local\gpt.ini"),
            ]
        );
        assert_eq!(events[2].action_type.as_deref(), Some("http"));
        assert_eq!(
            obs(&events[2]),
            vec![(Field::RemoteIp, "192.168.0.4"), (Field::RemoteUrl, "http://192.168.0.4/webdav/python.exe")]
        );
    }
}
