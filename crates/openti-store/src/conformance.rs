//! The behaviour every [`Store`] implementation must show, as one suite of async checks.
//! The SQLite store runs it in `tests/sqlite.rs`; a PostgreSQL store runs the same suite.
//! Each check panics with a message naming what broke.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use openti_model::{AlertCategory, AlertSeverity, DefinitionDraft, DetectionFunction, IocDraft, IocType};
use uuid::Uuid;

use crate::{App, Change, DetectionIoc, DeviceSeen, Hit, Quotas, SecretRecord, Sighting, Store, StoreError};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).single().expect("valid time")
}

pub fn definition_draft(title: &str) -> DefinitionDraft {
    DefinitionDraft {
        name: format!("def {title}"),
        severity: AlertSeverity::Medium,
        internal_description: None,
        title: title.to_string(),
        ux_description: "description".into(),
        recommended_action: Some("act".into()),
        category: AlertCategory::Malware,
        enabled: true,
    }
}

pub fn ioc_draft(definition: i64, value: &str, function: DetectionFunction) -> IocDraft {
    IocDraft {
        ioc_type: IocType::DomainName,
        value: value.to_string(),
        detection_function: function,
        enabled: true,
        expires_at: None,
        alert_definition_id: definition,
    }
}

/// Runs every check against a fresh, empty store.
pub async fn run_all(store: Arc<dyn Store>) {
    tenants_and_apps(store.as_ref()).await;
    definitions_and_feed(store.as_ref()).await;
    iocs_are_atomic_and_bounded(store.as_ref()).await;
    tenants_are_isolated(store.as_ref()).await;
    alerts_group_by_definition_device_and_day(store.as_ref()).await;
    snapshot_agrees_with_feed(store.as_ref()).await;
    snapshot_carries_what_the_matcher_needs(store.as_ref()).await;
    telemetry_stats_add_up(store.as_ref()).await;
}

async fn tenant(store: &dyn Store, name: &str) -> Uuid {
    store.create_tenant(name, Quotas::default(), now()).await.expect("create tenant").id
}

pub async fn tenants_and_apps(store: &dyn Store) {
    let id = tenant(store, "alpha").await;
    assert_eq!(store.find_tenant("alpha").await.unwrap().map(|t| t.id), Some(id), "find by name");
    assert_eq!(store.find_tenant(&id.to_string()).await.unwrap().map(|t| t.name), Some("alpha".into()), "find by id");
    assert!(matches!(store.create_tenant("alpha", Quotas::default(), now()).await, Err(StoreError::Conflict(_))), "names are unique");

    let app = App { client_id: Uuid::new_v4(), tenant_id: id, name: "ti".into(), roles: vec!["Ti.ReadWrite".into()], is_custom_ti: true, created_at: now() };
    let secret = |client_id| SecretRecord {
        id: Uuid::new_v4(),
        tenant_id: id,
        client_id,
        description: "d".into(),
        hash: "$argon2id$placeholder".into(),
        hint: "abcdef".into(),
        created_at: now(),
        expires_at: Some(now() + Duration::days(1)),
        revoked_at: None,
    };
    store.create_app(&app, &secret(app.client_id)).await.expect("create app");
    let second = App { client_id: Uuid::new_v4(), ..app.clone() };
    assert!(matches!(store.create_app(&second, &secret(second.client_id)).await, Err(StoreError::Conflict(_))), "one custom TI app per tenant");
    assert!(store.find_app(second.client_id).await.unwrap().is_none(), "the refused app left nothing behind");
    assert_eq!(store.custom_ti_app(id).await.unwrap().map(|a| a.client_id), Some(app.client_id));

    let extra = secret(app.client_id);
    store.add_secret(&extra).await.unwrap();
    assert_eq!(store.list_secrets(id, app.client_id).await.unwrap().len(), 2, "several secrets at once");
    assert!(store.revoke_secret(id, app.client_id, extra.id, now()).await.unwrap());
    assert!(!store.revoke_secret(id, app.client_id, extra.id, now()).await.unwrap(), "revoking twice reports nothing to revoke");
    let listed = store.list_secrets(id, app.client_id).await.unwrap();
    assert!(!listed.iter().find(|s| s.id == extra.id).unwrap().is_valid_at(now()));
}

pub async fn definitions_and_feed(store: &dyn Store) {
    let t = tenant(store, "feed").await;
    let mut feed = store.feed().subscribe();
    let before = store.feed().committed();
    let created = store.create_definitions(t, &[definition_draft("A."), definition_draft("B.")], "tester", now()).await.unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].created_by.as_deref(), Some("tester"));
    let batch = feed.recv().await.expect("a batch after the commit");
    assert_eq!(batch.tenant_id, t);
    assert!(batch.seq > before && store.feed().committed() == batch.seq, "the committed sequence moves with the batch");
    assert_eq!(batch.changes, created.iter().cloned().map(Change::DefinitionUpserted).collect::<Vec<_>>());

    let mut draft = definition_draft("A2.");
    draft.enabled = false;
    let updated = store.update_definition(t, created[0].id, &draft, "editor", now()).await.unwrap().expect("exists");
    assert_eq!((updated.title.as_str(), updated.enabled, updated.last_modified_by.as_deref()), ("A2.", false, Some("editor")));
    assert!(store.update_definition(t, 999_999, &draft, "editor", now()).await.unwrap().is_none());

    let ioc = store.create_iocs(t, &[ioc_draft(created[1].id, "evil.example", DetectionFunction::Equals)], "tester", now()).await.unwrap();
    assert!(store.delete_definition(t, created[1].id).await.unwrap());
    assert!(store.get_ioc(t, ioc[0].id).await.unwrap().is_none(), "deleting a definition deletes its IOCs");
    assert!(!store.delete_definition(t, created[1].id).await.unwrap());
    let kinds: Vec<Change> = std::iter::from_fn(|| feed.try_recv().ok()).flat_map(|b| b.changes.clone()).collect();
    assert!(kinds.contains(&Change::DefinitionDeleted(created[1].id)), "deletes reach the feed: {kinds:?}");
}

pub async fn iocs_are_atomic_and_bounded(store: &dyn Store) {
    let t = tenant(store, "atomic").await;
    let d = store.create_definitions(t, &[definition_draft("D.")], "t", now()).await.unwrap()[0].id;
    let mut drafts: Vec<IocDraft> = (0..50).map(|i| ioc_draft(d, &format!("h{i}.example"), DetectionFunction::Equals)).collect();
    drafts[37].alert_definition_id = 424_242;
    match store.create_iocs(t, &drafts, "t", now()).await {
        Err(StoreError::MissingDefinition { index, definition_id }) => assert_eq!((index, definition_id), (37, 424_242)),
        other => panic!("expected MissingDefinition, got {other:?}"),
    }
    drafts[37].alert_definition_id = d;
    store.set_quotas(t, Quotas { max_definitions: 1, max_iocs: 60, max_non_equals_iocs: 2 }).await.unwrap();
    assert!(matches!(store.create_definitions(t, &[definition_draft("E.")], "t", now()).await, Err(StoreError::QuotaExceeded { .. })));
    let stored = store.create_iocs(t, &drafts, "t", now()).await.expect("50 fit");
    let eleven: Vec<IocDraft> = (0..11).map(|i| ioc_draft(d, &format!("x{i}.example"), DetectionFunction::Equals)).collect();
    assert!(matches!(store.create_iocs(t, &eleven, "t", now()).await, Err(StoreError::QuotaExceeded { .. })), "60 is the limit");
    let suffixes: Vec<IocDraft> = (0..3).map(|i| ioc_draft(d, &format!("s{i}.example"), DetectionFunction::EndWith)).collect();
    assert!(matches!(store.create_iocs(t, &suffixes, "t", now()).await, Err(StoreError::QuotaExceeded { .. })), "non-Equals quota");
    let snapshot = store.detection_snapshot().await.unwrap();
    let mine = snapshot.tenants.iter().find(|c| c.tenant_id == t).expect("tenant in snapshot");
    assert_eq!(mine.iocs.len(), 50, "refused writes stored nothing");

    // The quotas follow deletions and changes of function, not only creations.
    for ioc in &stored[..5] {
        assert!(store.delete_ioc(t, ioc.id).await.unwrap());
    }
    store.create_iocs(t, &eleven, "t", now()).await.expect("56 of 60 after 5 deletions");
    for (i, ioc) in stored[5..7].iter().enumerate() {
        let draft = ioc_draft(d, &format!("e{i}.example"), DetectionFunction::EndWith);
        store.update_ioc(t, ioc.id, &draft, "t", now()).await.unwrap().expect("updated to EndWith");
    }
    let third = ioc_draft(d, "e3.example", DetectionFunction::EndWith);
    assert!(
        matches!(store.update_ioc(t, stored[7].id, &third, "t", now()).await, Err(StoreError::QuotaExceeded { .. })),
        "a change to a non-Equals function counts against its quota"
    );
    let back = ioc_draft(d, "e0.example", DetectionFunction::Equals);
    store.update_ioc(t, stored[5].id, &back, "t", now()).await.unwrap().expect("back to Equals");
    store.update_ioc(t, stored[7].id, &third, "t", now()).await.unwrap().expect("room again for one non-Equals IOC");
    assert!(store.delete_definition(t, d).await.unwrap());
    let d = store.create_definitions(t, &[definition_draft("F.")], "t", now()).await.unwrap()[0].id;
    let sixty: Vec<IocDraft> = (0..60).map(|i| ioc_draft(d, &format!("y{i}.example"), DetectionFunction::Equals)).collect();
    store.create_iocs(t, &sixty, "t", now()).await.expect("a deleted definition's IOCs no longer count");
}

pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "iso-a").await;
    let b = tenant(store, "iso-b").await;
    let d = store.create_definitions(a, &[definition_draft("A.")], "t", now()).await.unwrap()[0].id;
    let i = store.create_iocs(a, &[ioc_draft(d, "a.example", DetectionFunction::Equals)], "t", now()).await.unwrap()[0].id;
    assert!(store.get_definition(b, d).await.unwrap().is_none());
    assert!(store.get_ioc(b, i).await.unwrap().is_none());
    assert!(!store.delete_definition(b, d).await.unwrap());
    assert!(!store.delete_ioc(b, i).await.unwrap());
    assert!(!store.delete_iocs_of_definition(b, d).await.unwrap());
    assert!(store.update_definition(b, d, &definition_draft("B."), "b", now()).await.unwrap().is_none());
    assert!(matches!(
        store.create_iocs(b, &[ioc_draft(d, "b.example", DetectionFunction::Equals)], "b", now()).await,
        Err(StoreError::MissingDefinition { .. })
    ), "B cannot bind to A's definition");
    store.delete_all_definitions(b).await.unwrap();
    store.delete_all_iocs(b).await.unwrap();
    assert!(store.get_ioc(a, i).await.unwrap().is_some(), "B's delete-all left A alone");
}

fn hit(definition: &openti_model::AlertDefinition, ioc: i64, device: &str, at: chrono::DateTime<Utc>, event_index: usize) -> Hit {
    Hit {
        definition: definition.clone(),
        ioc_id: ioc,
        ioc_type: IocType::DomainName,
        ioc_value: "a.example".into(),
        device_id: device.into(),
        device_name: Some(device.into()),
        event_time: at,
        event_index,
        field: "DnsQuery".into(),
        observed: "a.example".into(),
        event: serde_json::json!({"DnsQuery": "a.example"}),
    }
}

pub async fn alerts_group_by_definition_device_and_day(store: &dyn Store) {
    let t = tenant(store, "alerts").await;
    let d = store.create_definitions(t, &[definition_draft("Alerting.")], "t", now()).await.unwrap().remove(0);
    let i = store.create_iocs(t, &[ioc_draft(d.id, "a.example", DetectionFunction::Equals)], "t", now()).await.unwrap()[0].id;
    let first = store.record_hits(t, &[hit(&d, i, "pc-1", now(), 0), hit(&d, i, "pc-1", now() + Duration::hours(1), 1)], now()).await.unwrap();
    assert_eq!(first.len(), 1, "two hits on one device within a day are one alert");
    assert!(first[0].created);
    assert_eq!(first[0].alert["EventCount"], 2);
    let later = store
        .record_hits(t, &[hit(&d, i, "pc-2", now(), 0), hit(&d, i, "pc-1", now() + Duration::hours(25), 1)], now())
        .await
        .unwrap();
    assert_eq!(later.iter().filter(|u| u.created).count(), 2, "another device, or a day later, opens a new alert");
    store.delete_definition(t, d.id).await.unwrap();
    let alerts = store.alerts_after(t, 0, 100).await.unwrap();
    assert_eq!(alerts.len(), 3, "deleting the definition keeps its alerts");
    assert_eq!(alerts[0]["Title"], "Alerting.");
    assert_eq!(alerts[0]["DetectionSource"], "CustomerTI");
}

pub async fn snapshot_agrees_with_feed(store: &dyn Store) {
    let t = tenant(store, "snapshot").await;
    let d = store.create_definitions(t, &[definition_draft("S.")], "t", now()).await.unwrap()[0].id;
    store.create_iocs(t, &[ioc_draft(d, "s.example", DetectionFunction::Contains)], "t", now()).await.unwrap();
    let snapshot = store.detection_snapshot().await.unwrap();
    assert_eq!(snapshot.seq, store.feed().committed(), "the snapshot includes every committed change");
    let mine = snapshot.tenants.iter().find(|c| c.tenant_id == t).unwrap();
    assert_eq!((mine.definitions.len(), mine.iocs.len()), (1, 1));
}

pub async fn snapshot_carries_what_the_matcher_needs(store: &dyn Store) {
    let t = tenant(store, "lean").await;
    let other = tenant(store, "lean-other").await;
    let defs = store.create_definitions(t, &[definition_draft("L1."), definition_draft("L2.")], "t", now()).await.unwrap();
    let mut drafts = vec![
        ioc_draft(defs[0].id, "lean.example", DetectionFunction::EndWith),
        IocDraft {
            ioc_type: IocType::FileName,
            // Quotes, backslashes and non-ASCII text survive whatever encoding the store uses.
            value: r#"^c:\temp\"é"[0-9]+\.exe$"#.into(),
            detection_function: DetectionFunction::Regex,
            enabled: false,
            expires_at: Some(now() + Duration::milliseconds(86_400_123)),
            alert_definition_id: defs[1].id,
        },
        IocDraft {
            ioc_type: IocType::Sha256,
            value: "a".repeat(64),
            detection_function: DetectionFunction::Equals,
            enabled: true,
            expires_at: Some(now() - Duration::days(1)),
            alert_definition_id: defs[1].id,
        },
    ];
    drafts.extend((0..20).map(|i| ioc_draft(defs[0].id, &format!("n{i}.lean.example"), DetectionFunction::Equals)));
    let created = store.create_iocs(t, &drafts, "t", now()).await.unwrap();
    let theirs = store.create_definitions(other, &[definition_draft("O.")], "t", now()).await.unwrap()[0].id;
    store.create_iocs(other, &[ioc_draft(theirs, "other.example", DetectionFunction::Equals)], "t", now()).await.unwrap();
    // Statistics are not the matcher's business and must not disturb the snapshot.
    store.record_telemetry_stats(t, &[], &[Sighting { ioc_id: created[0].id, hits: 3, last_seen: now() }]).await.unwrap();

    let snapshot = store.detection_snapshot().await.unwrap();
    let mine = snapshot.tenants.iter().find(|c| c.tenant_id == t).expect("tenant in snapshot");
    let mut got = mine.iocs.clone();
    got.sort_by_key(|i| i.id);
    let expected: Vec<DetectionIoc> = created.iter().map(DetectionIoc::from).collect();
    assert_eq!(got, expected, "every IOC, disabled and expired ones included, with each field as stored");
    let disabled = got.iter().find(|i| i.ioc_type == IocType::FileName).unwrap();
    assert_eq!((disabled.enabled, disabled.expires_at), (false, Some(now() + Duration::milliseconds(86_400_123))));
    assert_eq!(mine.definitions.iter().map(|d| d.id).collect::<Vec<_>>(), defs.iter().map(|d| d.id).collect::<Vec<_>>());
    let theirs = snapshot.tenants.iter().find(|c| c.tenant_id == other).expect("other tenant in snapshot");
    assert_eq!(theirs.iocs.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(), ["other.example"]);
}

pub async fn telemetry_stats_add_up(store: &dyn Store) {
    use openti_odata::{parse_collection_query, QueryLimits};
    let t = tenant(store, "stats").await;
    let other = tenant(store, "stats-other").await;
    let d = store.create_definitions(t, &[definition_draft("St.")], "t", now()).await.unwrap()[0].id;
    let iocs = store
        .create_iocs(t, &[ioc_draft(d, "st1.example", DetectionFunction::Equals), ioc_draft(d, "st2.example", DetectionFunction::Equals)], "t", now())
        .await
        .unwrap();
    let od = store.create_definitions(other, &[definition_draft("Ot.")], "t", now()).await.unwrap()[0].id;
    let theirs = store.create_iocs(other, &[ioc_draft(od, "ot.example", DetectionFunction::Equals)], "t", now()).await.unwrap()[0].id;
    let seen = |id: &str, name: Option<&str>, first: i64, last: i64, events: i64| DeviceSeen {
        device_id: id.into(),
        device_name: name.map(str::to_string),
        first_seen: now() + Duration::minutes(first),
        last_seen: now() + Duration::minutes(last),
        events,
    };
    // More devices than one statement takes, and one device twice in a call.
    let mut devices: Vec<DeviceSeen> = (0..1203).map(|i| seen(&format!("bulk-{i:04}"), None, 0, 0, 1)).collect();
    devices.push(seen("pc-1", Some("first-name"), 0, 10, 2));
    devices.push(seen("pc-1", None, -5, 3, 1));
    let sightings = [
        Sighting { ioc_id: iocs[0].id, hits: 2, last_seen: now() + Duration::minutes(10) },
        Sighting { ioc_id: iocs[0].id, hits: 1, last_seen: now() },
        // Another tenant's IOC is not this tenant's to count.
        Sighting { ioc_id: theirs, hits: 5, last_seen: now() },
    ];
    store.record_telemetry_stats(t, &devices, &sightings).await.unwrap();
    store
        .record_telemetry_stats(t, &[seen("pc-1", Some("renamed"), 1, 20, 4)], &[Sighting { ioc_id: iocs[0].id, hits: 1, last_seen: now() }])
        .await
        .unwrap();
    let counted = store.get_ioc(t, iocs[0].id).await.unwrap().unwrap();
    assert_eq!((counted.hit_count, counted.last_seen_at), (4, Some(now() + Duration::minutes(10))), "hits add up, last seen is the latest");
    let untouched = store.get_ioc(t, iocs[1].id).await.unwrap().unwrap();
    assert_eq!((untouched.hit_count, untouched.last_seen_at), (0, None));
    assert_eq!(store.get_ioc(other, theirs).await.unwrap().unwrap().hit_count, 0, "tenants are isolated");

    let devices_of = |raw: &str| parse_collection_query(&openti_model::schema::DEVICE, Some(raw), &QueryLimits::default()).unwrap();
    let page = store.query(t, &devices_of("$filter=DeviceId eq 'pc-1'&$count=true"), 10).await.unwrap();
    assert_eq!(page.rows.len(), 1, "one row per device");
    let pc = &page.rows[0];
    assert_eq!(pc["DeviceName"], "renamed", "the latest name wins");
    assert_eq!(pc["EventCount"], 7);
    assert_eq!(pc["FirstSeen"], openti_model::format_timestamp(now() - Duration::minutes(5)));
    assert_eq!(pc["LastSeen"], openti_model::format_timestamp(now() + Duration::minutes(20)));
    let all = store.query(t, &devices_of("$count=true"), 1).await.unwrap();
    assert_eq!(all.count, Some(1204), "every device of the bulk is recorded");
    assert_eq!(store.query(other, &devices_of("$count=true"), 1).await.unwrap().count, Some(0));
}
