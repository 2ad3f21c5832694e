//! `evtx`: a raw Windows event log file (`.evtx`), decoded with the `evtx` crate. Each record
//! is rendered to JSON (the same rendering the `sysmon` format reads) and mapped by the code
//! the `sysmon` adapter uses, so a file and its JSON export give the same events.
//!
//! Records are numbered from 1 in file order; a record that does not decode is reported
//! under its number and skipped. A body that is not an EVTX file at all is one error.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ::evtx::{EvtxParser, ParserSettings};

use super::body::EVTX_MAGIC;
use super::{windows, Adapter, Format, LineError};
use crate::event::{Event, Raw};

/// The `evtx` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtxAdapter;

impl Adapter for EvtxAdapter {
    fn format(&self) -> Format {
        Format::Evtx
    }

    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>)) {
        if !body.starts_with(EVTX_MAGIC) {
            emit(Err(LineError::new(0, "not an EVTX file (no `ElfFile` header)")));
            return;
        }
        // The events own their strings: they point into the records the parser renders,
        // not into `body`.
        let mut parser = match EvtxParser::from_buffer(body.to_vec()) {
            // One thread: the server already runs requests in parallel, and a pool per
            // request would only fight them for the cores.
            Ok(parser) => parser.with_configuration(ParserSettings::new().num_threads(1)),
            Err(e) => {
                emit(Err(LineError::new(0, format!("not a readable EVTX file: {}", error_chain(&e)))));
                return;
            }
        };
        // The evtx crate is third-party code reading hostile input; should it panic, the
        // request gets an error for the rest of the file instead of losing its worker.
        let mut number = 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for record in parser.records_json_value() {
                number += 1;
                let result = match record {
                    Ok(record) => windows::map_value(&record.data)
                        .map(|parts| parts.into_owned())
                        .map(|parts| parts.into_event(Raw::Json(record.data))),
                    Err(e) => Err(error_chain(&e)),
                };
                emit(result.map_err(|message| LineError::new(number, message)));
            }
        }));
        if outcome.is_err() {
            emit(Err(LineError::new(number + 1, "the EVTX decoder failed on this record; the rest of the file was skipped")));
        }
    }
}

/// An error with its causes, `outer: inner: innermost`: the evtx crate's top-level messages
/// ("Failed to parse chunk number 3") say where, their sources say what.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::super::parse_all;
    use super::*;

    #[test]
    fn non_evtx_input_is_one_error() {
        for body in [&b""[..], b"{\"Event\":{}}", b"ElfFile\0short"] {
            let (events, errors) = parse_all(Format::Evtx, body);
            assert!(events.is_empty());
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].line, 0);
        }
    }
}
