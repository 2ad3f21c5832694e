//! `native`: events already in the SPEC B.2 shape, modelled on Defender's advanced-hunting
//! tables.
//!
//! ```json
//! {"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"ws-01.contoso.local","ActionType":"ConnectionSuccess",
//!  "RemoteIP":"52.184.197.12","RemoteUrl":"http://52.184.197.12/","InitiatingProcessFileName":"powershell.exe"}
//! ```
//!
//! `Timestamp` and one of `DeviceId`/`DeviceName` are required. This is the hot path of
//! ingest, so a record is deserialized straight into a struct of borrowed strings (no
//! `serde_json::Value`); fields the struct does not name are skipped by the parser and kept
//! only in the raw line.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

use super::body::for_each_json_event;
use super::values::{parse_timestamp, present, Observables, Parts, Subject};
use super::{Adapter, Format, LineError};
use crate::event::{Event, Field};

/// The `native` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeAdapter;

impl Adapter for NativeAdapter {
    fn format(&self) -> Format {
        Format::Native
    }

    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>)) {
        for_each_json_event(body, emit, map);
    }
}

/// The native fields this adapter reads; names as in SPEC B.2.
#[derive(Deserialize)]
struct NativeRecord<'a> {
    #[serde(rename = "Timestamp", borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(rename = "DeviceId", borrow)]
    device_id: Option<Text<'a>>,
    #[serde(rename = "DeviceName", borrow)]
    device_name: Option<Text<'a>>,
    #[serde(rename = "ActionType", borrow)]
    action_type: Option<Text<'a>>,
    #[serde(rename = "SHA1", borrow)]
    sha1: Option<Text<'a>>,
    #[serde(rename = "SHA256", borrow)]
    sha256: Option<Text<'a>>,
    #[serde(rename = "MD5", borrow)]
    md5: Option<Text<'a>>,
    #[serde(rename = "FileName", borrow)]
    file_name: Option<Text<'a>>,
    #[serde(rename = "FolderPath", borrow)]
    folder_path: Option<Text<'a>>,
    #[serde(rename = "InitiatingProcessSHA1", borrow)]
    initiating_process_sha1: Option<Text<'a>>,
    #[serde(rename = "InitiatingProcessSHA256", borrow)]
    initiating_process_sha256: Option<Text<'a>>,
    #[serde(rename = "InitiatingProcessMD5", borrow)]
    initiating_process_md5: Option<Text<'a>>,
    #[serde(rename = "InitiatingProcessFileName", borrow)]
    initiating_process_file_name: Option<Text<'a>>,
    #[serde(rename = "InitiatingProcessFolderPath", borrow)]
    initiating_process_folder_path: Option<Text<'a>>,
    #[serde(rename = "RemoteIP", borrow)]
    remote_ip: Option<Text<'a>>,
    #[serde(rename = "RemoteUrl", borrow)]
    remote_url: Option<Text<'a>>,
    #[serde(rename = "DnsQuery", borrow)]
    dns_query: Option<Text<'a>>,
}

/// A field value: a string (borrowed unless it has escapes), or a number or boolean taken as
/// its JSON text, since senders disagree on whether an id is a number.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
        }
        de.deserialize_any(TextVisitor)
    }
}

/// At most this much of a bad value is quoted back in an error.
fn snippet(value: &str) -> &str {
    let mut end = value.len().min(64);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn map(line: &str) -> Result<Parts<'_>, String> {
    let r: NativeRecord = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    // Values move out of the record: an escaped (hence owned) string is never copied.
    fn raw(field: Option<Text<'_>>) -> Option<Cow<'_, str>> {
        field.map(|t| t.0)
    }
    fn take(field: Option<Text<'_>>) -> Option<Cow<'_, str>> {
        raw(field).and_then(present)
    }
    let stamp = take(r.timestamp).ok_or("missing required field Timestamp")?;
    let timestamp = parse_timestamp(&stamp)
        .ok_or_else(|| format!("invalid Timestamp `{}`: expected an RFC 3339 date-time", snippet(&stamp)))?;
    let mut parts = Parts::new(timestamp);
    parts.device_id = take(r.device_id);
    parts.device_name = take(r.device_name);
    if parts.device_id.is_none() && parts.device_name.is_none() {
        return Err("missing required field DeviceId or DeviceName".into());
    }
    parts.action_type = take(r.action_type);
    let o: &mut Observables = &mut parts.observables;
    for (subject, sha1, sha256, md5, name, folder) in [
        (Subject::File, r.sha1, r.sha256, r.md5, r.file_name, r.folder_path),
        (
            Subject::InitiatingProcess,
            r.initiating_process_sha1,
            r.initiating_process_sha256,
            r.initiating_process_md5,
            r.initiating_process_file_name,
            r.initiating_process_folder_path,
        ),
    ] {
        // The observable helpers skip blank values themselves.
        for (field, value) in [(subject.sha1(), sha1), (subject.sha256(), sha256), (subject.md5(), md5)] {
            if let Some(value) = raw(value) {
                o.push_value(field, value);
            }
        }
        o.push_path(subject.file_name(), raw(name), raw(folder));
    }
    if let Some(ip) = raw(r.remote_ip) {
        o.push_ip(&ip);
    }
    if let Some(url) = raw(r.remote_url) {
        o.push_value(Field::RemoteUrl, url);
    }
    if let Some(query) = raw(r.dns_query) {
        o.push_query(&query);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::super::parse_all;
    use super::*;
    use crate::event::Raw;

    #[test]
    fn maps_the_spec_example() {
        let body = br#"{"Timestamp":"2026-11-22T10:00:00Z","DeviceId":"7f1c","DeviceName":"ws-01.contoso.local","ActionType":"ConnectionSuccess","RemoteIP":"52.184.197.12","RemotePort":80,"RemoteUrl":"http://52.184.197.12/","InitiatingProcessFileName":"powershell.exe","InitiatingProcessFolderPath":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","InitiatingProcessSHA1":"AB12","SHA256":"","MD5":"-","Extra":{"nested":[1,2]}}"#;
        let (events, errors) = parse_all(Format::Native, body);
        assert!(errors.is_empty(), "{errors:?}");
        let e = &events[0];
        assert_eq!(e.timestamp.to_rfc3339(), "2026-11-22T10:00:00+00:00");
        assert_eq!(e.device_key(), "7f1c");
        assert_eq!(e.device_name.as_deref(), Some("ws-01.contoso.local"));
        assert_eq!(e.action_type.as_deref(), Some("ConnectionSuccess"));
        let obs: Vec<_> = e.observables.iter().map(|o| (o.field, o.value.as_ref())).collect();
        assert_eq!(
            obs,
            vec![
                (Field::InitiatingProcessSha1, "AB12"),
                (
                    Field::InitiatingProcessFileName,
                    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
                ),
                (Field::RemoteIp, "52.184.197.12"),
                (Field::RemoteUrl, "http://52.184.197.12/"),
            ]
        );
        // Values without JSON escapes point into the body.
        assert!(e.observables[2..].iter().all(|o| matches!(o.value, Cow::Borrowed(_))));
        assert!(matches!(e.raw, Raw::Text(Cow::Borrowed(_))));
    }

    #[test]
    fn required_fields() {
        let body = b"{\"DeviceName\":\"a\"}\n{\"Timestamp\":\"2026-11-22T10:00:00Z\",\"DeviceId\":\" \"}\n{\"Timestamp\":\"noon\",\"DeviceName\":\"a\"}\n{\"Timestamp\":1700000000,\"DeviceId\":42}";
        let (events, errors) = parse_all(Format::Native, body);
        assert_eq!(errors.len(), 3);
        assert_eq!((errors[0].line, errors[0].message.as_str()), (1, "missing required field Timestamp"));
        assert_eq!(
            (errors[1].line, errors[1].message.as_str()),
            (2, "missing required field DeviceId or DeviceName")
        );
        assert_eq!(errors[2].line, 3);
        assert!(errors[2].message.contains("invalid Timestamp `noon`"), "{}", errors[2].message);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].device_id.as_deref(), Some("42"));
    }

    #[test]
    fn bad_lines_are_skipped_with_their_numbers() {
        let good = r#"{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"a","DnsQuery":"x.example."}"#;
        let body = format!("{good}\r\n\r\n{{\"Timestamp\": oops}}\n[1,2]\n  \n{good}\n\u{0}\n\"str\"\n{good}");
        let (events, errors) = parse_all(Format::Native, body.as_bytes());
        assert_eq!(events.len(), 3);
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4, 7, 8]);
        assert_eq!(events[0].observables[0].value, "x.example");
    }

    #[test]
    fn huge_lines_are_rejected_unparsed() {
        let good = r#"{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"a"}"#;
        let huge = format!(r#"{{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"{}"}}"#, "a".repeat(MAX + 1));
        let body = format!("{good}\n{huge}\n{good}\n");
        let (events, errors) = parse_all(Format::Native, body.as_bytes());
        assert_eq!(events.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.contains("limit"), "{}", errors[0].message);
    }
    const MAX: usize = super::super::MAX_RECORD_BYTES;

    #[test]
    fn json_arrays() {
        let body = br#"
        [ {"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"a","SHA1":"x"},
          {"DeviceName":"b"},
          {"Timestamp":"2026-11-22T10:00:01Z","DeviceName":"c"} ]
        "#;
        let (events, errors) = parse_all(Format::Native, body);
        assert_eq!(events.len(), 2);
        assert_eq!(errors, vec![LineError::new(2, "missing required field Timestamp")]);
        assert!(matches!(&events[0].raw, Raw::Text(Cow::Borrowed(t)) if t.starts_with('{') && t.ends_with('}')));
        assert_eq!(events[0].raw_json()["SHA1"], "x");

        // A syntax error keeps what came before it and is reported on its line.
        let body = b"[{\"Timestamp\":\"2026-11-22T10:00:00Z\",\"DeviceName\":\"a\"},\n{\"Timestamp\":,}]";
        let (events, errors) = parse_all(Format::Native, body);
        assert_eq!(events.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        let (events, errors) = parse_all(Format::Native, b"[] x");
        assert!(events.is_empty());
        assert_eq!(errors.len(), 1);
        let (_, errors) = parse_all(Format::Native, b"[\"\xff\"]");
        assert_eq!(errors[0].message, "body is not valid UTF-8");
    }

    #[test]
    fn folder_paths_make_full_paths() {
        let body = br#"{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"a","FileName":"a.sys","FolderPath":"C:\\drivers"}"#;
        let (events, _) = parse_all(Format::Native, body);
        assert_eq!(events[0].observables[0].value, r"C:\drivers\a.sys");
    }
}
