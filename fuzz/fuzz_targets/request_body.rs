//! Request-body validation: arbitrary JSON as an AlertDefinition, an IOC (create and
//! PATCH-on-top-of-an-existing-one), a bulk upload wrapper and an alert PATCH. Bad input must
//! be an error naming a property, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openti_model::input::{bulk_entities, parse_alert_patch, parse_definition, parse_ioc};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let definition = parse_definition(&body, None);
    let ioc = parse_ioc(&body, None);
    // PATCH: the same body applied on top of a valid entity.
    if let Ok(base) = &definition {
        let _ = parse_definition(&body, Some(base));
    }
    if let Ok(base) = &ioc {
        let _ = parse_ioc(&body, Some(base));
        // Whatever was accepted is in normal form: validating it again changes nothing.
        let again = openti_model::values::normalize_ioc_value(base.ioc_type, base.detection_function, &base.value);
        assert_eq!(again.as_deref(), Ok(base.value.as_str()), "an accepted IOC value is not in normal form");
    }
    let _ = parse_alert_patch(&body);
    for wrappers in [&["alertDefinitions", "alertdefinition"][..], &["iocs"][..]] {
        if let Ok(entities) = bulk_entities(&body, wrappers) {
            for entity in entities.iter().take(64) {
                let _ = parse_definition(entity, None);
                let _ = parse_ioc(entity, None);
            }
        }
    }
});
