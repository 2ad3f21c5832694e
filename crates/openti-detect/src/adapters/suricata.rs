//! `suricata`: Suricata EVE JSON, one event per line. Every `event_type` is accepted; those
//! without indicator fields (`stats`, `netflow`, `anomaly`…) become events with no
//! observables. Fields map the same whichever event carries them (an `alert` with an `http`
//! object maps its URL like an `http` event does):
//!
//! | EVE | native |
//! | --- | --- |
//! | `timestamp` (required; `2021-06-06T16:26:27.431769+0200`) | Timestamp |
//! | `src_ip` | DeviceName |
//! | `dest_ip` | RemoteIP |
//! | `event_type` | ActionType |
//! | `dns.rrname`, `dns.queries[].rrname` | DnsQuery |
//! | `dns.rdata`, `dns.answers[].rdata`, `dns.grouped.*` | RemoteIP (addresses), RemoteUrl (names) |
//! | `http.hostname`; `http.hostname` + `http.url` | RemoteUrl (bare host, and `http://host[:port]/url`) |
//! | `tls.sni`, `quic.sni` | RemoteUrl (bare host) |
//! | `fileinfo.md5`/`sha1`/`sha256`, `fileinfo.filename` (and the same under `files[]`) | MD5/SHA1/SHA256, FileName |
//!
//! DNS events come in three layouts: v1 (one event per query or answer record:
//! `{"type":"answer","rrname":…,"rdata":…}`), v2 (`answers` lists and/or `grouped`), and v3
//! (`queries` and `answers` lists). All of them are read.

use std::borrow::Cow;

use super::body::for_each_json_event;
use super::values::{http_url, parse_timestamp, present, Observables, Parts};
use super::walk::{walk_json_text, Scalar, Sink};
use super::{Adapter, Format, LineError};
use crate::event::{Event, Field};

/// The `suricata` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct SuricataAdapter;

impl Adapter for SuricataAdapter {
    fn format(&self) -> Format {
        Format::Suricata
    }

    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>)) {
        for_each_json_event(body, emit, map);
    }
}

fn map(text: &str) -> Result<Parts<'_>, String> {
    let mut sink = EveSink::default();
    walk_json_text(text, &mut sink)?;
    sink.finish()
}

#[derive(Default)]
struct EveSink<'a> {
    timestamp: Option<Cow<'a, str>>,
    event_type: Option<Cow<'a, str>>,
    src_ip: Option<Cow<'a, str>>,
    dest_ip: Option<Cow<'a, str>>,
    http_hostname: Option<Cow<'a, str>>,
    http_url: Option<Cow<'a, str>>,
    /// The port of the Host header, logged only when it names one: without it the client
    /// asked for the scheme's default port. (`dest_port` is no stand-in: in `fileinfo`
    /// events source and destination follow the file, so it is the client's port.)
    http_port: Option<u64>,
    /// DNS names and answers, file names and hashes, in document order.
    found: Observables<'a>,
    /// `dns.grouped` repeats `dns.answers` when both are logged: kept aside and used only
    /// when there is no `answers` list.
    grouped: Observables<'a>,
    has_answers: bool,
}

impl<'a> Sink<'a> for EveSink<'a> {
    fn leaf(&mut self, path: &str, value: Scalar<'a>) {
        match path {
            "timestamp" => self.timestamp = value.into_text(),
            "event_type" => self.event_type = value.into_text(),
            "src_ip" => self.src_ip = value.into_text(),
            "dest_ip" => self.dest_ip = value.into_text(),
            "http.hostname" => self.http_hostname = value.into_text(),
            "http.url" => self.http_url = value.into_text(),
            "http.http_port" => self.http_port = value.as_u64(),
            "dns.rrname" | "dns.queries.rrname" | "dns.query.rrname" => {
                if let Some(name) = value.into_text() {
                    self.found.push_query(&name);
                }
            }
            "dns.rdata" | "dns.answers.rdata" => {
                self.has_answers |= path == "dns.answers.rdata";
                if let Some(answer) = value.into_text() {
                    self.found.push_answer(&answer);
                }
            }
            "tls.sni" | "quic.sni" => {
                if let Some(host) = value.into_text() {
                    self.found.push_host(&host);
                }
            }
            _ => {
                if path.starts_with("dns.grouped.") {
                    if let Some(answer) = value.into_text() {
                        self.grouped.push_answer(&answer);
                    }
                } else if let Some(key) = path
                    .strip_prefix("fileinfo.")
                    .or_else(|| path.strip_prefix("files."))
                {
                    self.file(key, value);
                }
            }
        }
    }
}

impl<'a> EveSink<'a> {
    fn file(&mut self, key: &str, value: Scalar<'a>) {
        let field = match key {
            "md5" => Field::Md5,
            "sha1" => Field::Sha1,
            "sha256" => Field::Sha256,
            "filename" => Field::FileName,
            _ => return,
        };
        let Some(value) = value.into_text() else { return };
        // For HTTP the "file name" is the request path; `/` names nothing.
        if field == Field::FileName && value.trim() == "/" {
            return;
        }
        self.found.push(field, &value);
    }

    fn finish(self) -> Result<Parts<'a>, String> {
        let stamp = self.timestamp.and_then(present).ok_or("missing required field timestamp")?;
        let timestamp = parse_timestamp(&stamp).ok_or("invalid timestamp: expected an ISO 8601 date-time")?;
        let mut parts = Parts::new(timestamp);
        parts.device_name = self.src_ip.and_then(present);
        parts.action_type = self.event_type.and_then(present);
        let o = &mut parts.observables;
        if let Some(ip) = &self.dest_ip {
            o.push_ip(ip);
        }
        if let Some(host) = &self.http_hostname {
            o.push_host(host);
        }
        if let Some(url) = &self.http_url {
            // Without a Host header there is no telling which site a path belongs to; only an
            // absolute URL stands on its own.
            let host = self.http_hostname.as_deref().unwrap_or("");
            if let Some(url) = http_url(host, self.http_port, url) {
                o.push(Field::RemoteUrl, &url);
            }
        }
        let grouped = if self.has_answers { Vec::new() } else { self.grouped.0 };
        for observable in self.found.0.into_iter().chain(grouped) {
            o.push(observable.field, &observable.value);
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

    #[test]
    fn dns_layouts() {
        let body = concat!(
            r#"{"timestamp":"2021-06-06T16:26:27.431769+0200","flow_id":1,"event_type":"dns","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","dns":{"type":"query","id":2,"rrname":"www.google.com","rrtype":"A","tx_id":0}}"#,
            "\n",
            r#"{"timestamp":"2021-06-06T16:26:27.442512+0200","event_type":"dns","src_ip":"192.168.1.1","dest_ip":"192.168.1.129","dns":{"version":2,"type":"answer","id":2,"rrname":"www.google.com","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"www.google.com","rrtype":"CNAME","rdata":"cdn.example.net"},{"rrname":"cdn.example.net","rrtype":"A","ttl":91,"rdata":"172.217.23.196"}],"grouped":{"A":["172.217.23.196"],"CNAME":["cdn.example.net"]}}}"#,
            "\n",
            r#"{"timestamp":"2021-06-06T16:26:27.442512+0200","event_type":"dns","src_ip":"192.168.1.1","dest_ip":"192.168.1.129","dns":{"version":2,"type":"answer","rrname":"x.example","grouped":{"AAAA":["2001:db8::1"]}}}"#,
            "\n",
            r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"dns","src_ip":"10.0.0.2","dest_ip":"10.0.0.1","dns":{"version":3,"type":"request","queries":[{"rrname":"v3.example","rrtype":"A"}]}}"#,
        );
        let (events, errors) = parse_all(Format::Suricata, body.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events[0].timestamp.to_rfc3339(), "2021-06-06T14:26:27.431769+00:00");
        assert_eq!(events[0].device_name.as_deref(), Some("192.168.1.129"));
        assert_eq!(events[0].action_type.as_deref(), Some("dns"));
        assert_eq!(obs(&events[0]), vec![(Field::RemoteIp, "192.168.1.1"), (Field::DnsQuery, "www.google.com")]);
        assert_eq!(
            obs(&events[1]),
            vec![
                (Field::RemoteIp, "192.168.1.129"),
                (Field::DnsQuery, "www.google.com"),
                (Field::RemoteUrl, "cdn.example.net"),
                (Field::RemoteIp, "172.217.23.196"),
            ]
        );
        assert_eq!(obs(&events[2])[2], (Field::RemoteIp, "2001:db8::1"));
        assert_eq!(obs(&events[3])[1], (Field::DnsQuery, "v3.example"));
    }

    #[test]
    fn http_tls_fileinfo_and_others() {
        let body = concat!(
            r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","event_type":"http","src_ip":"182.237.17.202","dest_ip":"192.168.1.129","dest_port":80,"http":{"hostname":"147.32.82.197","http_port":8080,"url":"/setup.cgi?x=1","http_method":"GET"}}"#,
            "\n",
            r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","event_type":"http","src_ip":"1.1.1.1","dest_ip":"192.168.1.129","dest_port":554,"http":{"url":"rtsp://147.32.82.197:554/11"}}"#,
            "\n",
            r#"{"timestamp":"2021-06-06T16:54:00.074627+0200","event_type":"tls","src_ip":"192.168.1.129","dest_ip":"122.248.252.67","tls":{"sni":"www.myedimax.com","version":"TLS 1.1"}}"#,
            "\n",
            r#"{"timestamp":"2021-06-07T09:25:25.523057+0200","event_type":"fileinfo","src_ip":"192.168.1.129","dest_ip":"162.142.125.53","http":{"hostname":"evil.example","url":"/a.exe"},"fileinfo":{"filename":"/a.exe","md5":"44d88612fea8a8f36de82e1278abb02f","stored":false}}"#,
            "\n",
            r#"{"timestamp":"2021-06-07T09:25:25.523057+0200","event_type":"stats","stats":{"uptime":10}}"#,
            "\n",
            r#"{"event_type":"flow"}"#,
        );
        let (events, errors) = parse_all(Format::Suricata, body.as_bytes());
        assert_eq!(errors, vec![LineError::new(6, "missing required field timestamp")]);
        assert_eq!(
            obs(&events[0]),
            vec![
                (Field::RemoteIp, "192.168.1.129"),
                (Field::RemoteIp, "147.32.82.197"),
                (Field::RemoteUrl, "http://147.32.82.197:8080/setup.cgi?x=1"),
            ]
        );
        assert_eq!(obs(&events[1])[1], (Field::RemoteUrl, "rtsp://147.32.82.197:554/11"));
        assert_eq!(obs(&events[2])[1], (Field::RemoteUrl, "www.myedimax.com"));
        assert_eq!(
            obs(&events[3])[1..],
            [
                (Field::RemoteUrl, "evil.example"),
                (Field::RemoteUrl, "http://evil.example/a.exe"),
                (Field::FileName, "/a.exe"),
                (Field::Md5, "44d88612fea8a8f36de82e1278abb02f"),
            ]
        );
        assert_eq!(events[4].action_type.as_deref(), Some("stats"));
        assert!(events[4].observables.is_empty());
        assert_eq!(events[4].device_name, None);
    }
}
