//! Telemetry adapters: one module per input format, each mapping its records into the
//! native [`Event`] (SPEC B.1, B.2).
//!
//! Every adapter sits behind the same [`Adapter`] trait, the way vector's sources do: the
//! ingest endpoint and the CLI pick one with [`adapter_for`] (or [`guess_format`] for a file)
//! and never know which format they are feeding.
//!
//! | format | input | module |
//! | --- | --- | --- |
//! | `native` | NDJSON or a JSON array of SPEC B.2 events | [`native`] |
//! | `sysmon` | Windows events rendered to JSON (`evtx_dump -o jsonl` shape, or the flat OTRF shape) | [`sysmon`] |
//! | `evtx` | a raw `.evtx` file | [`evtx`] |
//! | `ecs` | Elastic Common Schema documents (Winlogbeat, Elastic Agent) | [`ecs`] |
//! | `zeek` | Zeek logs, tab-separated with their `#fields` header, or JSON lines | [`zeek`] |
//! | `suricata` | Suricata EVE JSON | [`suricata`] |
//!
//! Contract shared by all adapters:
//! - a bad record is reported as a [`LineError`] and skipped; nothing in the input is fatal
//!   to the records around it, and no input makes an adapter panic;
//! - records are bounded: a line (or JSON array element) larger than [`MAX_RECORD_BYTES`] is
//!   rejected without being parsed;
//! - events borrow from the body wherever the input allows it (see [`crate::event`]).

use std::fmt;
use std::str::FromStr;

use crate::event::Event;

mod body;
pub mod ecs;
pub mod evtx;
pub mod native;
pub mod suricata;
pub mod sysmon;
mod values;
mod walk;
mod windows;
pub mod zeek;

pub use body::{is_json_array, MAX_RECORD_BYTES};

/// An input format of `POST /ingest/v1/events?format=F` and `openti ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Native,
    Sysmon,
    Evtx,
    Ecs,
    Zeek,
    Suricata,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Native,
        Format::Sysmon,
        Format::Evtx,
        Format::Ecs,
        Format::Zeek,
        Format::Suricata,
    ];

    /// The name used in the `format` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Sysmon => "sysmon",
            Format::Evtx => "evtx",
            Format::Ecs => "ecs",
            Format::Zeek => "zeek",
            Format::Suricata => "suricata",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown telemetry format `{0}` (expected one of: native, sysmon, evtx, ecs, zeek, suricata)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// A record that could not be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The 1-based line number (NDJSON, Zeek), element number (JSON array) or record number
    /// (EVTX) of the rejected record; 0 when the error concerns the body as a whole (an
    /// input that is not EVTX at all, a JSON array that does not parse).
    pub line: usize,
    pub message: String,
}

impl LineError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        LineError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LineError {}

/// Maps one input format into native events.
pub trait Adapter: Send + Sync {
    fn format(&self) -> Format;

    /// Parses `body` and calls `emit` once per record, in input order: `Ok` for an event,
    /// `Err` for a record that was rejected (and skipped).
    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>));
}

/// The adapter for a format.
pub fn adapter_for(format: Format) -> &'static dyn Adapter {
    match format {
        Format::Native => &native::NativeAdapter,
        Format::Sysmon => &sysmon::SysmonAdapter,
        Format::Evtx => &evtx::EvtxAdapter,
        Format::Ecs => &ecs::EcsAdapter,
        Format::Zeek => &zeek::ZeekAdapter,
        Format::Suricata => &suricata::SuricataAdapter,
    }
}

/// Parses a whole body into a vector: events and errors in input order. A convenience for
/// tests and the CLI; the ingest path streams through [`Adapter::parse`].
pub fn parse_all<'a>(format: Format, body: &'a [u8]) -> (Vec<Event<'a>>, Vec<LineError>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    adapter_for(format).parse(body, &mut |r| match r {
        Ok(e) => events.push(e),
        Err(e) => errors.push(e),
    });
    (events, errors)
}

/// Guesses the format of a file from its name and its first bytes, for `openti ingest FILE`
/// when no `--format` is given. `head` may be cut anywhere (the first few KiB are enough).
///
/// The checks go from the most to the least specific shape, so that a record carrying keys
/// of two shapes lands in the more specific one (the OTRF Windows export has `@timestamp`
/// like ECS, but also `EventID` and `Channel`).
pub fn guess_format(file_name: &str, head: &[u8]) -> Format {
    let lower_name = file_name.to_ascii_lowercase();
    if lower_name.ends_with(".evtx") || head.starts_with(body::EVTX_MAGIC) {
        return Format::Evtx;
    }
    let head = head.strip_prefix(body::UTF8_BOM).unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = &head[start..];
    if head.starts_with(b"#separator") || head.starts_with(b"#fields") {
        return Format::Zeek;
    }
    // Look at the first record only: later ones may be cut off.
    let first = match head.first() {
        // A JSON array: its first element ends at the first `}` at depth one, but keys are
        // all we look for, so the first line (or the whole head) will do.
        Some(b'[') | Some(b'{') => first_record(head),
        _ => return Format::Native,
    };
    let has = |key: &str| body::contains_key(first, key);
    if has("event_type") && (has("src_ip") || has("flow_id") || has("timestamp")) {
        return Format::Suricata;
    }
    if has("ts")
        && (has("uid") || has("fuid") || has("id.orig_h") || has("id_orig_h") || has("_path"))
    {
        return Format::Zeek;
    }
    if has("EventID") || (has("Channel") && (has("Computer") || has("Hostname"))) {
        return Format::Sysmon;
    }
    if has("@timestamp")
        && (has("ecs")
            || has("ecs.version")
            || has("agent")
            || has("host")
            || has("event")
            || has("host.name")
            || has("event.action"))
    {
        return Format::Ecs;
    }
    Format::Native
}

/// The first line of `head`, or all of it when it has no line break (a pretty-printed array
/// spreads its first element over many lines, so fall back to the whole head then).
fn first_record(head: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', head) {
        Some(end) if head[..end].contains(&b'"') => &head[..end],
        _ => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_of_an_array_after_a_bom_are_numbered_by_position() {
        // What the fuzzer found: a BOM, a three-element array, then stray bytes.
        let body = b"\xEF\xBB\xBF[{\"Timestamp\":\"2026-11-22T10:00:00Z\",\"DeviceName\":\"ws-01\"}, 3]\n\x02\0";
        let (events, errors) = parse_all(Format::Native, body);
        assert_eq!(events.len(), 1);
        assert_eq!(errors.first().map(|e| e.line), Some(2), "{errors:?}");
    }

    #[test]
    fn format_names_round_trip_case_insensitively() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(f.as_str().to_uppercase().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert!("cef".parse::<Format>().is_err());
    }

    #[test]
    fn guesses_formats_from_name_and_head() {
        assert_eq!(guess_format("x.EVTX", b""), Format::Evtx);
        assert_eq!(guess_format("x.bin", b"ElfFile\0rest"), Format::Evtx);
        assert_eq!(guess_format("conn.log", b"#separator \\x09\n#set_separator\t,\n"), Format::Zeek);
        assert_eq!(
            guess_format("conn.log", br#"{"ts":22.3,"uid":"C6","id.orig_h":"fe80::1"}"#),
            Format::Zeek
        );
        assert_eq!(
            guess_format("c.log", br#"{"@stream":"conn","ts":1588205198.8,"uid":"Cw","id_orig_h":"10.0.1.4"}"#),
            Format::Zeek
        );
        assert_eq!(
            guess_format("eve.json", br#"{"timestamp":"2021-06-06T16:26:27.431769+0200","flow_id":1,"event_type":"dns","src_ip":"1.2.3.4"}"#),
            Format::Suricata
        );
        assert_eq!(
            guess_format("s.ndjson", br#"{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"}}}"#),
            Format::Sysmon
        );
        assert_eq!(
            guess_format("otrf.json", br#"{"@timestamp":"2020-10-23T02:36:45.970Z","Channel":"Security","EventID":4689,"Hostname":"W5"}"#),
            Format::Sysmon
        );
        assert_eq!(
            guess_format("wlb.json", br#"{"@timestamp":"2024-01-01T00:00:00Z","host":{"name":"ws"},"ecs":{"version":"8.0"}}"#),
            Format::Ecs
        );
        assert_eq!(
            guess_format("e.json", br#"[{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"ws-01"}]"#),
            Format::Native
        );
        assert_eq!(guess_format("e.json", b""), Format::Native);
        assert_eq!(guess_format("e.json", b"\xff\xfe garbage"), Format::Native);
    }
}
