//! `sysmon`: Windows events (Sysmon and any other provider) rendered to JSON, one per line or
//! in an array: the evtx crate's rendering (`evtx_dump -o jsonl`, PyPI `evtx`) or the flat
//! shape of exports such as OTRF Security-Datasets. The mapping itself lives in
//! `windows.rs`, shared with the [`evtx`](super::evtx) adapter.

use super::body::for_each_json_event;
use super::{windows, Adapter, Format, LineError};
use crate::event::Event;

/// The `sysmon` adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysmonAdapter;

impl Adapter for SysmonAdapter {
    fn format(&self) -> Format {
        Format::Sysmon
    }

    fn parse<'a>(&self, body: &'a [u8], emit: &mut dyn FnMut(Result<Event<'a>, LineError>)) {
        for_each_json_event(body, emit, windows::map_text);
    }
}
