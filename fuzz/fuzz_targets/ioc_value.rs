//! IOC value validation on arbitrary text, for every type and every detection function
//! (`openti_model::values::normalize_ioc_value`). Checks, beyond "no panic":
//! - a normalised value normalises to itself (the store holds normal forms only, and the
//!   matcher may normalise again);
//! - every accepted value can be indexed, and the index can match events carrying the raw
//!   text in every field;
//! - an Equals IOC of a hash, IP, domain or URL matches an event carrying its own normal form.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use openti_detect::matcher::{IndexChange, IndexedIoc};
use openti_detect::{Event, Field, Observable, Raw};
use openti_model::values::normalize_ioc_value;
use openti_model::{DetectionFunction, IocType};

fn field_for(t: IocType) -> Field {
    match t {
        IocType::Sha1 => Field::Sha1,
        IocType::Sha256 => Field::Sha256,
        IocType::Md5 => Field::Md5,
        IocType::IpAddress => Field::RemoteIp,
        IocType::DomainName => Field::DnsQuery,
        IocType::Url => Field::RemoteUrl,
        IocType::FileName => Field::FileName,
    }
}

fn event<'a>(observables: Vec<Observable<'a>>) -> Event<'a> {
    Event {
        timestamp: openti_fuzz::now(),
        device_id: Some(Cow::Borrowed("fuzz")),
        device_name: None,
        action_type: None,
        observables,
        raw: Raw::Text(Cow::Borrowed("{}")),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let mut accepted = Vec::new();
    for &t in IocType::ALL {
        for &f in DetectionFunction::ALL {
            let Ok(value) = normalize_ioc_value(t, f, raw) else { continue };
            let again = normalize_ioc_value(t, f, &value);
            assert_eq!(again.as_deref(), Ok(value.as_str()), "{t} {f}: normal form is not stable for {raw:?}");
            accepted.push((t, f, value));
        }
    }
    if accepted.is_empty() {
        return;
    }
    let iocs: Vec<IndexedIoc> = accepted
        .iter()
        .enumerate()
        .map(|(i, (t, f, v))| IndexedIoc {
            id: 1_000 + i as i64,
            definition_id: 1,
            ioc_type: *t,
            function: *f,
            value: v.clone(),
            enabled: true,
            expires_at: None,
        })
        .collect();
    // Through the incremental path the API's writes take: the IOCs added to an existing index.
    let changes: Vec<IndexChange> = iocs.iter().cloned().map(IndexChange::UpsertIoc).collect();
    let index = openti_fuzz::index().apply(&changes);
    let mut out = Vec::new();

    // The raw text in every field: must not panic.
    let all = Field::ALL.iter().map(|&field| Observable { field, value: Cow::Borrowed(raw) }).collect();
    index.match_event(&event(all), openti_fuzz::now(), &mut out);

    // An Equals IOC matches its own normal form.
    for ioc in &iocs {
        if ioc.function != DetectionFunction::Equals || ioc.ioc_type == IocType::FileName {
            continue;
        }
        out.clear();
        // A block is observed by its network address, which lies inside it.
        let value = match ioc.ioc_type {
            IocType::IpAddress => ioc.value.split('/').next().unwrap_or_default(),
            _ => ioc.value.as_str(),
        };
        let observed = vec![Observable { field: field_for(ioc.ioc_type), value: Cow::Borrowed(value) }];
        index.match_event(&event(observed), openti_fuzz::now(), &mut out);
        assert!(
            out.iter().any(|m| m.ioc_id == ioc.id),
            "{} Equals {:?} does not match an event carrying that value; IOCs: {:?}",
            ioc.ioc_type,
            ioc.value,
            iocs
        );
    }
});
