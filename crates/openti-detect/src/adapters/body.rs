//! Cutting a request body into records: lines (NDJSON, Zeek TSV) or the elements of a JSON
//! array, each bounded in size and numbered for error reports.

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;

use std::borrow::Cow;

use super::values::Parts;
use super::LineError;
use crate::event::{Event, Raw};

/// The largest record (line or JSON array element) an adapter accepts. A telemetry event is a
/// few KiB at most; anything bigger is a broken forwarder or an attempt to make the matcher
/// chew on one huge value, and is rejected before it is parsed.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The magic at the start of an EVTX file header.
pub(crate) const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// The lines of a body with their 1-based numbers, without the `\n` or `\r\n` terminator.
pub(crate) fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let mut rest = Some(body);
    let mut number = 0;
    std::iter::from_fn(move || {
        let current = rest?;
        number += 1;
        let line = match memchr::memchr(b'\n', current) {
            Some(end) => {
                rest = Some(&current[end + 1..]);
                &current[..end]
            }
            None => {
                rest = None;
                // A body ending with a line break has no empty last line to report.
                if current.is_empty() {
                    return None;
                }
                current
            }
        };
        Some((number, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The text of a non-blank line, or the reason it is rejected.
pub(crate) fn line_text(line: &[u8]) -> Result<&str, String> {
    if line.len() > MAX_RECORD_BYTES {
        return Err(too_large(line.len()));
    }
    std::str::from_utf8(line).map_err(|e| format!("line is not valid UTF-8 (at byte {})", e.valid_up_to()))
}

fn too_large(len: usize) -> String {
    format!("record is {len} bytes, larger than the {MAX_RECORD_BYTES}-byte limit")
}

/// Whether a JSON body is one array (its first non-blank byte after an optional UTF-8 BOM is
/// `[`), whose records are numbered by position, rather than NDJSON numbered by line.
pub fn is_json_array(body: &[u8]) -> bool {
    let unbommed = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    unbommed.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// Runs `parse` on every JSON record of a body: the elements of a JSON array when the body's
/// first non-blank byte is `[`, else every non-blank line (NDJSON).
///
/// `parse` sees the record's text, which the event can borrow as its raw evidence.
pub(crate) fn for_each_json_record<'a, F>(
    body: &'a [u8],
    emit: &mut dyn FnMut(Result<Event<'a>, LineError>),
    parse: F,
) where
    F: Fn(&'a str) -> Result<Event<'a>, String>,
{
    if is_json_array(body) {
        let unbommed = body.strip_prefix(UTF8_BOM).unwrap_or(body);
        return for_each_array_element(unbommed, emit, parse);
    }
    for (number, line) in lines(body) {
        if is_blank(line) {
            continue;
        }
        let result = line_text(line).and_then(&parse);
        emit(result.map_err(|message| LineError::new(number, message)));
    }
}

/// Runs `map` on every JSON record of a body ([`for_each_json_record`]) and emits each
/// mapped record as an event whose raw evidence is the record's text.
pub(crate) fn for_each_json_event<'a>(
    body: &'a [u8],
    emit: &mut dyn FnMut(Result<Event<'a>, LineError>),
    map: fn(&'a str) -> Result<Parts<'a>, String>,
) {
    for_each_json_record(body, emit, |text| {
        map(text).map(|parts| parts.into_event(Raw::Text(Cow::Borrowed(text))))
    });
}

/// A JSON array body. Elements are parsed one by one as they are read, so a syntax error
/// half-way loses only what follows it; it is reported with the line it is on.
fn for_each_array_element<'a, F>(
    body: &'a [u8],
    emit: &mut dyn FnMut(Result<Event<'a>, LineError>),
    parse: F,
) where
    F: Fn(&'a str) -> Result<Event<'a>, String>,
{
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let line = 1 + memchr::memchr_iter(b'\n', &body[..e.valid_up_to()]).count();
            emit(Err(LineError::new(line, "body is not valid UTF-8")));
            return;
        }
    };
    struct Elements<'e, 'a, F> {
        emit: &'e mut dyn FnMut(Result<Event<'a>, LineError>),
        parse: F,
    }
    impl<'a, F> Visitor<'a> for Elements<'_, 'a, F>
    where
        F: Fn(&'a str) -> Result<Event<'a>, String>,
    {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of events")
        }

        fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut number = 0;
            while let Some(element) = seq.next_element::<&'a RawValue>()? {
                number += 1;
                let element = element.get();
                let result = if element.len() > MAX_RECORD_BYTES {
                    Err(too_large(element.len()))
                } else {
                    (self.parse)(element)
                };
                (self.emit)(result.map_err(|message| LineError::new(number, message)));
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let result = de
        .deserialize_seq(Elements { emit: &mut *emit, parse })
        .and_then(|()| de.end());
    if let Err(e) = result {
        emit(Err(LineError::new(e.line(), format!("invalid JSON array: {e}"))));
    }
}

/// Whether a JSON text contains `"key"` used as a key (followed by `:`). Cheap and
/// approximate, for format guessing only.
pub(crate) fn contains_key(json: &[u8], key: &str) -> bool {
    let mut needle = Vec::with_capacity(key.len() + 2);
    needle.push(b'"');
    needle.extend_from_slice(key.as_bytes());
    needle.push(b'"');
    memchr::memmem::find_iter(json, &needle).any(|at| {
        json[at + needle.len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b':')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_an_array_when_its_first_byte_after_a_bom_and_blanks_is_a_bracket() {
        for array in [&b"[1]"[..], b" \n\t[", b"\xEF\xBB\xBF[{}]", b"\xEF\xBB\xBF \r\n[{}]"] {
            assert!(is_json_array(array), "{}", array.escape_ascii());
        }
        for not in [&b""[..], b"{}\n[", b"\xEF\xBB\xBF{}", b"\xEF\xBB[", b"x["] {
            assert!(!is_json_array(not), "{}", not.escape_ascii());
        }
    }

    #[test]
    fn lines_are_numbered_and_stripped_of_terminators() {
        let got: Vec<_> = lines(b"\xEF\xBB\xBFa\r\n\nb\nc").collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..]), (4, &b"c"[..])]);
        assert_eq!(lines(b"a\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn finds_keys_not_values() {
        assert!(contains_key(br#"{"ts" : 1}"#, "ts"));
        assert!(!contains_key(br#"{"a":"ts"}"#, "ts"));
        assert!(!contains_key(br#"{"a":"ts"#, "ts"));
    }
}
