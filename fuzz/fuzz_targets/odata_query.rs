//! The OData query-string parser and SQL generation, on arbitrary bytes, for every entity set
//! and both SQL dialects (`openti_odata::fuzz_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| openti_odata::fuzz_parse(data));
