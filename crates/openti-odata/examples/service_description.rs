//! Prints one of the generated service descriptions, for tools that want a file:
//! `cargo run -q -p openti-odata --example service_description -- xml|json|openapi|service [ROOT]`.
//! `tests/compat/check_metadata.sh` uses it to feed the OASIS converter.

use openti_odata::{csdl, openapi};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "xml".into());
    let root = args.next().unwrap_or_else(|| "https://localhost/V1.0/".into());
    let out = match what.as_str() {
        "xml" => csdl::metadata_xml(&root),
        "json" => pretty(&csdl::metadata_json(&root)),
        "openapi" => pretty(&openapi::openapi_json(&root)),
        "service" => pretty(&csdl::service_document(&root)),
        other => {
            eprintln!("unknown document '{other}': expected xml, json, openapi or service");
            std::process::exit(2);
        }
    };
    print!("{out}");
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
