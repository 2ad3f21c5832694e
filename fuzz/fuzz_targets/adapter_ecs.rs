//! The `ecs` telemetry adapter on arbitrary bytes, followed by what ingest does with each event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openti_detect::adapters::Format;

fuzz_target!(|data: &[u8]| openti_fuzz::fuzz_adapter(Format::Ecs, data));
