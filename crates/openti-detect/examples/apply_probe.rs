// TEMPORARY profiling probe (to be deleted)
#![allow(dead_code)]
use std::borrow::Cow;
use std::time::Instant;
use chrono::{TimeZone, Utc};
use openti_detect::matcher::{IndexChange, IndexedDefinition, IndexedIoc, TenantIndex};
use openti_detect::{Event, Field, Observable, Raw};
use openti_model::values::normalize_ioc_value;
use openti_model::{DetectionFunction, IocType};
include!("/tmp/gen.rs");
fn main() {
    let mut rng = Rng(0x5eed);
    let iocs = iocs(100_000, &mut rng);
    let defs: Vec<IndexedDefinition> = (1..=50).map(|id| IndexedDefinition { id, enabled: true }).collect();
    let index = TenantIndex::build(defs.clone(), iocs.clone());
    let value = normalize_ioc_value(IocType::Url, DetectionFunction::Contains, "/bench-new/").unwrap();
    let change = [IndexChange::UpsertIoc(IndexedIoc { id: 999_999, definition_id: 1, ioc_type: IocType::Url, function: DetectionFunction::Contains, value, enabled: true, expires_at: None })];
    for _ in 0..3 {
        let t = Instant::now();
        let n = 200;
        for _ in 0..n { let i = index.apply(&change); std::hint::black_box(&i); }
        println!("apply url contains: {:?}", t.elapsed() / n);
    }
    let t = Instant::now();
    let i = index.apply(&change);
    let applied = t.elapsed();
    let t = Instant::now();
    drop(i);
    println!("one apply {:?}, drop {:?}", applied, t.elapsed());
}
