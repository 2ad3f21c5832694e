//! End-to-end tests of detection (SPEC B): telemetry sent to the real binary over HTTP is
//! matched against the IOCs written through the API, and the alerts read back through the
//! API, the live stream and the CLI say what the spec promises.
//!
//! No test waits for the product's guarantees: an API write is effective for the very next
//! ingest request, and alerts are durable before the ingest response. Only the bookkeeping
//! the spec lets trail behind (device statistics, IOC hit counts) is polled, with a deadline.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use common::*;
use serde_json::{json, Value};

/// The reference time of the events in these tests.
fn t0() -> DateTime<Utc> {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A native network event from `device` to `ip`.
fn connection(device: &str, ip: &str, at: DateTime<Utc>) -> Value {
    json!({"Timestamp": stamp(at), "DeviceName": device, "ActionType": "ConnectionSuccess",
           "RemoteIP": ip, "RemotePort": 443, "InitiatingProcessFileName": "powershell.exe"})
}

/// A tenant ready for detection tests: its API token and a sensor token.
struct Tenant {
    api: String,
    sensor: String,
}

fn default_tenant(server: &Server) -> Tenant {
    Tenant { api: server.default_tenant().token, sensor: server.sensor_token("default") }
}

fn alert(server: &Server, token: &str, id: i64) -> Value {
    let (status, body) = call("GET", &server.api(&format!("Alerts({id})")), token, None);
    assert_eq!(status, 200, "GET Alerts({id}): {body}");
    body
}

fn patch(server: &Server, token: &str, path: &str, body: Value) -> Value {
    let (status, reply) = call("PATCH", &server.api(path), token, Some(body));
    assert_eq!(status, 200, "PATCH {path}: {reply}");
    reply
}

fn delete(server: &Server, token: &str, path: &str) {
    let (status, reply) = call("DELETE", &server.api(path), token, None);
    assert_eq!(status, 204, "DELETE {path}: {reply}");
}

fn ioc_body(definition: i64, ioc_type: &str, value: &str, function: &str) -> Value {
    json!({"Type": ioc_type, "Value": value, "DetectionFunction": function,
           "AlertDefinition@odata.bind": format!("AlertDefinitions({definition})")})
}

// ---------------------------------------------------------------------------------------------
// The seed experiment

/// SPEC B.4 on the original's own example: a definition "Test alert." with the IP IOC
/// 52.184.197.12; one connection to it and one to the neighbouring address raise exactly one
/// alert, which carries the definition's text and the SIEM fields.
#[test]
fn seed_experiment_raises_exactly_one_alert_with_the_definitions_text_and_siem_fields() {
    let server = Server::start();
    let t = default_tenant(&server);
    let (status, definition) = call(
        "POST",
        &server.api("AlertDefinitions"),
        &t.api,
        Some(json!({
            "Name": "Seed experiment", "Severity": "Medium", "Title": "Test alert.",
            "UxDescription": "A machine talked to the test address.",
            "RecommendedAction": "Check the machine.", "Category": "SuspiciousNetworkTraffic",
            "InternalDescription": "not shown in alerts",
        })),
    );
    assert_eq!(status, 201, "{definition}");
    let definition_id = definition["Id"].as_i64().unwrap();
    let ioc = create_ioc(&server, &t.api, definition_id, "IpAddress", "52.184.197.12", "Equals");

    let summary = ingest_events(
        &server,
        &t.sensor,
        &[connection("victim-01", "52.184.197.12", t0()), connection("victim-01", "52.184.197.13", t0() + Span::seconds(5))],
    );
    assert_eq!(summary, json!({"accepted": 2, "rejected": 0, "errors": [], "alerts": 1}));

    let all = alerts(&server, &t.api);
    assert_eq!(all.len(), 1, "exactly one alert: {all:?}");
    let a = &all[0];
    assert_eq!(a["Title"], "Test alert.");
    assert_eq!(a["Severity"], "Medium");
    assert_eq!(a["Category"], "SuspiciousNetworkTraffic");
    assert_eq!(a["Description"], "A machine talked to the test address.");
    assert_eq!(a["RecommendedAction"], "Check the machine.");
    assert_eq!(a["AlertDefinitionId"], definition_id);
    assert_eq!(a["IocIds"], json!([ioc]));
    assert_eq!(a["DeviceName"], "victim-01");
    assert_eq!(a["DeviceId"], "victim-01", "without a DeviceId the name is the device key");
    assert_eq!(a["EventCount"], 1);
    assert_eq!(a["Status"], "New");
    assert_eq!(a["FirstEventTime"], stamp(t0()));
    assert_eq!(a["LastEventTime"], stamp(t0()));
    // The fields of the original's SIEM feed.
    assert_eq!(a["IocName"], "IpAddress");
    assert_eq!(a["IocValue"], "52.184.197.12");
    assert_eq!(a["IocUniqueId"], ioc);
    assert_eq!(a["IoaDefinitionId"], definition_id);
    assert_eq!(a["DetectionSource"], "CustomerTI");
    // Not shown in alerts (SPEC A.5).
    let text = a.to_string();
    assert!(!text.contains("not shown in alerts") && !text.contains("Seed experiment"), "{a}");
    // The evidence names the matched field and value.
    let evidence = a["Evidence"].to_string();
    assert!(evidence.contains("RemoteIP") && evidence.contains("52.184.197.12"), "{evidence}");
    assert!(!evidence.contains("52.184.197.13"), "the non-matching event is no evidence: {evidence}");

    // The single-entity read says the same.
    let one = alert(&server, &t.api, a["Id"].as_i64().unwrap());
    for key in ["Title", "Severity", "Category", "Description", "EventCount", "IocIds", "DeviceName", "IocValue"] {
        assert_eq!(one[key], a[key], "{key}");
    }
    // And OData queries work on alerts.
    let filtered = query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'victim-01' and Severity eq 'Medium'&$select=Id,Title");
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["Title"], "Test alert.");
    assert!(query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'victim-02'").is_empty());
    let (status, counted) = call("GET", &server.api("Alerts?$count=true&$top=0"), &t.api, None);
    assert_eq!(status, 200);
    assert_eq!(counted["@odata.count"], 1);
}

// ---------------------------------------------------------------------------------------------
// Propagation (SPEC B.3): every write is effective for the very next event

/// The one alert of `device`, asserting there is exactly one.
fn only_alert_of(server: &Server, token: &str, device: &str) -> Value {
    let found = query_all(server, token, &format!("Alerts?$filter=DeviceName eq '{device}'"));
    assert_eq!(found.len(), 1, "alerts of {device}: {found:?}");
    found.into_iter().next().unwrap()
}

fn event_count(server: &Server, token: &str, id: i64) -> i64 {
    alert(server, token, id)["EventCount"].as_i64().unwrap()
}

#[test]
fn ioc_and_definition_writes_are_effective_for_the_next_event() {
    let server = Server::start();
    let t = default_tenant(&server);
    let ip = "198.51.100.20";
    // Events one minute apart, all within the grouping window of the first.
    let at = std::cell::Cell::new(t0());
    let next = || {
        at.set(at.get() + Span::minutes(1));
        at.get()
    };
    let send = |t: &Tenant| -> Value { ingest_events(&server, &t.sensor, &[connection("prop-01", ip, next())]) };

    // Create, then match at once.
    let definition = create_definition(&server, &t.api, "Propagation.");
    let ioc = create_ioc(&server, &t.api, definition, "IpAddress", ip, "Equals");
    assert_eq!(send(&t)["alerts"], 1, "a new IOC matches the very next event");
    let id = only_alert_of(&server, &t.api, "prop-01")["Id"].as_i64().unwrap();
    assert_eq!(event_count(&server, &t.api, id), 1);

    // IOC disabled → nothing; enabled again → matches.
    patch(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})"), json!({"Enabled": false}));
    assert_eq!(send(&t)["alerts"], 0, "a disabled IOC matches nothing");
    assert_eq!(event_count(&server, &t.api, id), 1);
    patch(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})"), json!({"Enabled": "true"}));
    assert_eq!(send(&t)["alerts"], 1, "a re-enabled IOC matches again");
    assert_eq!(event_count(&server, &t.api, id), 2);

    // Definition disabled → nothing; enabled again → matches.
    patch(&server, &t.api, &format!("AlertDefinitions({definition})"), json!({"Enabled": false}));
    assert_eq!(send(&t)["alerts"], 0, "a disabled definition raises nothing");
    assert_eq!(event_count(&server, &t.api, id), 2);
    patch(&server, &t.api, &format!("AlertDefinitions({definition})"), json!({"Enabled": true}));
    assert_eq!(send(&t)["alerts"], 1);
    assert_eq!(event_count(&server, &t.api, id), 3);

    // A changed value: the old one stops matching, the new one starts.
    patch(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})"), json!({"Value": "198.51.100.21"}));
    assert_eq!(send(&t)["alerts"], 0, "the IOC's old value matches nothing");
    assert_eq!(ingest_events(&server, &t.sensor, &[connection("prop-01", "198.51.100.21", next())])["alerts"], 1);
    assert_eq!(event_count(&server, &t.api, id), 4);
    patch(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})"), json!({"Value": ip}));

    // The IOC deleted → nothing.
    delete(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})"));
    assert_eq!(send(&t)["alerts"], 0, "a deleted IOC matches nothing");

    // DeleteIOCs on the definition → nothing; the definition stays.
    create_ioc(&server, &t.api, definition, "IpAddress", ip, "Equals");
    assert_eq!(send(&t)["alerts"], 1);
    let (status, body) = call("POST", &server.api(&format!("AlertDefinitions({definition})/Actions.DeleteIOCs")), &t.api, None);
    assert_eq!(status, 204, "{body}");
    assert_eq!(send(&t)["alerts"], 0, "DeleteIOCs removes the definition's IOCs from matching");

    // Delete all IOCs of the tenant → nothing.
    create_ioc(&server, &t.api, definition, "IpAddress", ip, "Equals");
    assert_eq!(send(&t)["alerts"], 1);
    delete(&server, &t.api, "IndicatorsOfCompromise");
    assert_eq!(send(&t)["alerts"], 0, "DELETE IndicatorsOfCompromise removes every IOC from matching");

    // The definition deleted (with its IOCs) → nothing.
    create_ioc(&server, &t.api, definition, "IpAddress", ip, "Equals");
    assert_eq!(send(&t)["alerts"], 1);
    delete(&server, &t.api, &format!("AlertDefinitions({definition})"));
    assert_eq!(send(&t)["alerts"], 0, "a deleted definition raises nothing");

    // Delete all definitions → nothing.
    let other = create_definition(&server, &t.api, "Propagation again.");
    create_ioc(&server, &t.api, other, "IpAddress", ip, "Equals");
    assert_eq!(send(&t)["alerts"], 1);
    delete(&server, &t.api, "AlertDefinitions");
    assert_eq!(send(&t)["alerts"], 0, "DELETE AlertDefinitions removes every definition from matching");

    // Every match above was counted once and no alert was lost to the deletions.
    let all = alerts(&server, &t.api);
    let total: i64 = all.iter().map(|a| a["EventCount"].as_i64().unwrap()).sum();
    assert_eq!(total, 8, "{all:?}");
    assert_eq!(event_count(&server, &t.api, id), 7, "the first definition's alert grouped its matches");
}

/// An IOC whose ExpiresAt is already past when it is created matches nothing; one expiring
/// later matches.
#[test]
fn an_ioc_expired_at_creation_matches_nothing() {
    let server = Server::start();
    let t = default_tenant(&server);
    let definition = create_definition(&server, &t.api, "Expiry.");
    let mut past = ioc_body(definition, "DomainName", "expired.example", "Equals");
    past["ExpiresAt"] = json!("2020-01-01T00:00:00Z");
    let (status, body) = call("POST", &server.api("IndicatorsOfCompromise"), &t.api, Some(past));
    assert_eq!(status, 201, "{body}");
    let mut future = ioc_body(definition, "DomainName", "valid.example", "Equals");
    future["ExpiresAt"] = json!(stamp(Utc::now() + Span::days(30)));
    let (status, body) = call("POST", &server.api("IndicatorsOfCompromise"), &t.api, Some(future));
    assert_eq!(status, 201, "{body}");

    let dns = |device: &str, name: &str| json!({"Timestamp": stamp(t0()), "DeviceName": device, "DnsQuery": name});
    let summary = ingest_events(&server, &t.sensor, &[dns("exp-01", "expired.example"), dns("exp-02", "valid.example")]);
    assert_eq!(summary["alerts"], 1, "{summary}");
    let all = alerts(&server, &t.api);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["DeviceName"], "exp-02");
    assert_eq!(all[0]["IocValue"], "valid.example");

    // Moving an IOC's expiry into the past is effective at once too.
    let valid_id = all[0]["IocIds"][0].as_i64().unwrap();
    patch(&server, &t.api, &format!("IndicatorsOfCompromise({valid_id})"), json!({"ExpiresAt": "2021-06-01T00:00:00Z"}));
    assert_eq!(ingest_events(&server, &t.sensor, &[dns("exp-02", "valid.example")])["alerts"], 0);
    assert_eq!(alerts(&server, &t.api)[0]["EventCount"], 1);
}

// ---------------------------------------------------------------------------------------------
// Grouping (SPEC B.4)

#[test]
fn matches_group_by_definition_device_and_24_hours_from_the_first_event() {
    let server = Server::start();
    let t = default_tenant(&server);
    let definition = create_definition(&server, &t.api, "Grouping.");
    let ip = "203.0.113.50";
    let ioc = create_ioc(&server, &t.api, definition, "IpAddress", ip, "Equals");

    // Two events 1 h apart from one device → one alert, EventCount 2.
    ingest_events(&server, &t.sensor, &[connection("grp-a", ip, t0())]);
    ingest_events(&server, &t.sensor, &[connection("grp-a", ip, t0() + Span::hours(1))]);
    let a = only_alert_of(&server, &t.api, "grp-a");
    assert_eq!(a["EventCount"], 2);
    assert_eq!(a["FirstEventTime"], stamp(t0()));
    assert_eq!(a["LastEventTime"], stamp(t0() + Span::hours(1)));

    // The same events from two other devices, in one body → one alert each.
    let summary = ingest_events(
        &server,
        &t.sensor,
        &[
            connection("grp-b", ip, t0()),
            connection("grp-c", ip, t0()),
            connection("grp-b", ip, t0() + Span::hours(1)),
            connection("grp-c", ip, t0() + Span::hours(1)),
        ],
    );
    assert_eq!(summary["alerts"], 2, "{summary}");
    for device in ["grp-b", "grp-c"] {
        let a = only_alert_of(&server, &t.api, device);
        assert_eq!(a["EventCount"], 2, "{device}");
        assert_eq!(a["AlertDefinitionId"], definition);
    }

    // 23 h after the first event still joins it; 25 h after it starts a new alert, which the
    // next event joins.
    ingest_events(&server, &t.sensor, &[connection("grp-a", ip, t0() + Span::hours(23))]);
    assert_eq!(only_alert_of(&server, &t.api, "grp-a")["EventCount"], 3);
    let summary = ingest_events(&server, &t.sensor, &[connection("grp-a", ip, t0() + Span::hours(25))]);
    assert_eq!(summary["alerts"], 1);
    let of_a = query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'grp-a'&$orderby=FirstEventTime");
    assert_eq!(of_a.len(), 2, "{of_a:?}");
    assert_eq!(of_a[0]["EventCount"], 3);
    assert_eq!(of_a[0]["LastEventTime"], stamp(t0() + Span::hours(23)));
    assert_eq!(of_a[1]["EventCount"], 1);
    assert_eq!(of_a[1]["FirstEventTime"], stamp(t0() + Span::hours(25)));
    ingest_events(&server, &t.sensor, &[connection("grp-a", ip, t0() + Span::hours(26))]);
    let of_a = query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'grp-a'&$orderby=FirstEventTime");
    assert_eq!((of_a[0]["EventCount"].as_i64(), of_a[1]["EventCount"].as_i64()), (Some(3), Some(2)));

    // One event matching two IOCs of the definition is one event of one alert, naming both
    // IOCs; a second definition matching the same event raises its own alert.
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let hash_ioc = create_ioc(&server, &t.api, definition, "Sha1", hash, "Equals");
    let second = create_definition(&server, &t.api, "Grouping, second definition.");
    create_ioc(&server, &t.api, second, "Sha1", hash, "Equals");
    let mut both = connection("grp-d", ip, t0());
    both["InitiatingProcessSHA1"] = json!(hash.to_uppercase());
    let summary = ingest_events(&server, &t.sensor, &[both]);
    assert_eq!(summary["alerts"], 2, "{summary}");
    let of_d = query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'grp-d'&$orderby=AlertDefinitionId");
    assert_eq!(of_d.len(), 2, "{of_d:?}");
    assert_eq!(of_d[0]["AlertDefinitionId"], definition);
    assert_eq!(of_d[0]["EventCount"], 1, "one event, however many IOCs it matched");
    let ids: BTreeSet<i64> = of_d[0]["IocIds"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from([ioc, hash_ioc]));
    assert_eq!(of_d[1]["AlertDefinitionId"], second);
    assert_eq!(of_d[1]["EventCount"], 1);
    assert_eq!(of_d[1]["Title"], "Grouping, second definition.");
}

/// Deleting or disabling IOCs and definitions never deletes or hides past alerts.
#[test]
fn past_alerts_survive_disabling_and_deleting_their_iocs_and_definitions() {
    let server = Server::start();
    let t = default_tenant(&server);
    let mut ids = Vec::new();
    for (n, action) in ["disable-ioc", "delete-ioc", "disable-definition", "delete-iocs", "delete-definition"].iter().enumerate() {
        let definition = create_definition(&server, &t.api, &format!("Past alert {action}."));
        let ip = format!("192.0.2.{}", n + 1);
        let ioc = create_ioc(&server, &t.api, definition, "IpAddress", &ip, "Equals");
        ingest_events(&server, &t.sensor, &[connection(&format!("past-{n}"), &ip, t0())]);
        let a = only_alert_of(&server, &t.api, &format!("past-{n}"));
        ids.push(a["Id"].as_i64().unwrap());
        match *action {
            "disable-ioc" => drop(patch(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})"), json!({"Enabled": false}))),
            "delete-ioc" => delete(&server, &t.api, &format!("IndicatorsOfCompromise({ioc})")),
            "disable-definition" => drop(patch(&server, &t.api, &format!("AlertDefinitions({definition})"), json!({"Enabled": false}))),
            "delete-iocs" => {
                let (status, _) = call("POST", &server.api(&format!("AlertDefinitions({definition})/Actions.DeleteIOCs")), &t.api, None);
                assert_eq!(status, 204);
            }
            _ => delete(&server, &t.api, &format!("AlertDefinitions({definition})")),
        }
    }
    delete(&server, &t.api, "AlertDefinitions");
    let all = alerts(&server, &t.api);
    assert_eq!(all.iter().map(|a| a["Id"].as_i64().unwrap()).collect::<Vec<_>>(), ids);
    for (n, a) in all.iter().enumerate() {
        assert!(a["Title"].as_str().unwrap().starts_with("Past alert"), "{a}");
        assert_eq!(a["EventCount"], 1);
        assert_eq!(a["IocValue"], format!("192.0.2.{}", n + 1));
        assert_eq!(alert(&server, &t.api, ids[n])["Title"], a["Title"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Every IOC type and detection function on native events

struct Case {
    ioc_type: &'static str,
    function: &'static str,
    value: &'static str,
    /// The value the API returns (normal form).
    normal: &'static str,
    /// (native field, value) of events that must match, and of events that must not.
    hits: &'static [(&'static str, &'static str)],
    misses: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        ioc_type: "Sha1", function: "Equals",
        value: "7C1B25518DEE1E30B5A6EAA1EA8E4A3780C24D0C", normal: "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0c",
        hits: &[("SHA1", "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0c"), ("InitiatingProcessSHA1", "7C1B25518DEE1E30B5A6EAA1EA8E4A3780C24D0C")],
        misses: &[("SHA1", "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0d"), ("SHA256", "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0c7c1b25518dee1e30b5a6eaa1")],
    },
    Case {
        ioc_type: "Sha256", function: "Equals",
        value: "cf3a7d4285d65bf8688215407bce1b51d7c6b22497f09021f0fce31cbeb78986", normal: "cf3a7d4285d65bf8688215407bce1b51d7c6b22497f09021f0fce31cbeb78986",
        hits: &[("SHA256", "CF3A7D4285D65BF8688215407BCE1B51D7C6B22497F09021F0FCE31CBEB78986"), ("InitiatingProcessSHA256", "cf3a7d4285d65bf8688215407bce1b51d7c6b22497f09021f0fce31cbeb78986")],
        misses: &[("SHA256", "cf3a7d4285d65bf8688215407bce1b51d7c6b22497f09021f0fce31cbeb78987")],
    },
    Case {
        ioc_type: "Md5", function: "Equals",
        value: "eaea9ccb40c82af8f3867cd0f4dd5e9d", normal: "eaea9ccb40c82af8f3867cd0f4dd5e9d",
        hits: &[("MD5", "EAEA9CCB40C82AF8F3867CD0F4DD5E9D"), ("InitiatingProcessMD5", "eaea9ccb40c82af8f3867cd0f4dd5e9d")],
        misses: &[("MD5", "eaea9ccb40c82af8f3867cd0f4dd5e9e"), ("SHA1", "eaea9ccb40c82af8f3867cd0f4dd5e9d00000000")],
    },
    Case {
        ioc_type: "IpAddress", function: "Equals", value: "52.184.197.12", normal: "52.184.197.12",
        hits: &[("RemoteIP", "52.184.197.12"), ("RemoteIP", "::ffff:52.184.197.12")],
        misses: &[("RemoteIP", "52.184.197.120"), ("RemoteIP", "52.184.197.1")],
    },
    Case {
        ioc_type: "IpAddress", function: "Equals", value: "10.20.0.0/16", normal: "10.20.0.0/16",
        hits: &[("RemoteIP", "10.20.0.1"), ("RemoteIP", "10.20.255.254"), ("RemoteIP", "::ffff:10.20.7.7")],
        misses: &[("RemoteIP", "10.21.0.1"), ("RemoteIP", "10.19.255.255")],
    },
    Case {
        ioc_type: "IpAddress", function: "Equals", value: "2001:DB8:ABCD::/48", normal: "2001:db8:abcd::/48",
        hits: &[("RemoteIP", "2001:db8:abcd:12::1"), ("RemoteIP", "2001:db8:abcd:0:0:0:0:1"), ("RemoteIP", "2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff")],
        misses: &[("RemoteIP", "2001:db8:abce::1"), ("RemoteIP", "2001:db8:abcc:ffff::1")],
    },
    Case {
        // An IPv4-mapped IOC is folded to IPv4 and matches the plain IPv4 address.
        ioc_type: "IpAddress", function: "Equals", value: "::ffff:198.51.100.7", normal: "198.51.100.7",
        hits: &[("RemoteIP", "198.51.100.7"), ("RemoteIP", "::FFFF:198.51.100.7")],
        misses: &[("RemoteIP", "198.51.100.8")],
    },
    Case {
        ioc_type: "DomainName", function: "Equals", value: "Bad.Example.NET.", normal: "bad.example.net",
        hits: &[("DnsQuery", "bad.example.net"), ("DnsQuery", "BAD.example.net."), ("RemoteUrl", "http://bad.example.net/x")],
        misses: &[("DnsQuery", "a.bad.example.net"), ("DnsQuery", "bad.example.network")],
    },
    Case {
        // Label-aligned: evil.com and its subdomains, never notevil.com.
        ioc_type: "DomainName", function: "EndWith", value: "evil.com", normal: "evil.com",
        hits: &[("DnsQuery", "evil.com"), ("DnsQuery", "a.evil.com"), ("DnsQuery", "x.y.EVIL.com."), ("RemoteUrl", "https://cdn.evil.com/a.js"), ("RemoteUrl", "mail.evil.com")],
        misses: &[("DnsQuery", "notevil.com"), ("DnsQuery", "evil.com.example.org"), ("RemoteUrl", "http://notevil.com/evil.com")],
    },
    Case {
        ioc_type: "DomainName", function: "StartWith", value: "login-", normal: "login-",
        hits: &[("DnsQuery", "login-secure.example.org"), ("RemoteUrl", "http://LOGIN-account.example.org/")],
        misses: &[("DnsQuery", "xlogin-secure.example.org"), ("DnsQuery", "www.login-secure.example.org")],
    },
    Case {
        ioc_type: "DomainName", function: "Contains", value: "paypa1", normal: "paypa1",
        hits: &[("DnsQuery", "www.paypa1-secure.net"), ("DnsQuery", "PAYPA1.example")],
        misses: &[("DnsQuery", "www.paypal.com")],
    },
    Case {
        ioc_type: "Url", function: "Equals", value: "HTTP://X4Z9ARB.CN:80/4712/", normal: "http://x4z9arb.cn/4712/",
        hits: &[("RemoteUrl", "http://x4z9arb.cn/4712/"), ("RemoteUrl", "http://X4Z9ARB.cn/4712/")],
        misses: &[("RemoteUrl", "http://x4z9arb.cn/4712/a"), ("RemoteUrl", "https://x4z9arb.cn/4712/")],
    },
    Case {
        ioc_type: "Url", function: "StartWith", value: "https://files.example.org/drop/", normal: "https://files.example.org/drop/",
        hits: &[("RemoteUrl", "https://files.example.org/drop/a.exe")],
        misses: &[("RemoteUrl", "https://files.example.org/dropbox/a.exe"), ("RemoteUrl", "http://files.example.org/drop/a.exe")],
    },
    Case {
        ioc_type: "Url", function: "EndWith", value: "/payload.ps1", normal: "/payload.ps1",
        hits: &[("RemoteUrl", "http://h.example.com/x/payload.ps1")],
        misses: &[("RemoteUrl", "http://h.example.com/payload.ps1.txt")],
    },
    Case {
        ioc_type: "Url", function: "Contains", value: "/wp-content/plugins/evil/", normal: "/wp-content/plugins/evil/",
        hits: &[("RemoteUrl", "http://blog.example.com/wp-content/plugins/evil/x.php")],
        misses: &[("RemoteUrl", "http://blog.example.com/wp-content/plugins/good/x.php")],
    },
    Case {
        ioc_type: "Url", function: "Regex", value: r"^https?://[^/]+/gate\.php\?id=[0-9]+$", normal: r"^https?://[^/]+/gate\.php\?id=[0-9]+$",
        hits: &[("RemoteUrl", "http://c2.example.net/gate.php?id=42"), ("RemoteUrl", "https://other.example/gate.php?id=7")],
        misses: &[("RemoteUrl", "http://c2.example.net/gate.php?id=abc"), ("RemoteUrl", "http://c2.example.net/x/gate.php?id=1")],
    },
    Case {
        ioc_type: "FileName", function: "Equals", value: "Mimikatz.exe", normal: "mimikatz.exe",
        hits: &[("FileName", r"C:\Tools\MIMIKATZ.EXE"), ("InitiatingProcessFileName", "mimikatz.exe")],
        misses: &[("FileName", r"C:\mimikatz.exe\readme.txt"), ("FileName", "mimikatz.exe.txt")],
    },
    Case {
        ioc_type: "FileName", function: "StartWith", value: "psexe", normal: "psexe",
        hits: &[("FileName", r"\\srv\share\PsExec64.exe")],
        misses: &[("FileName", r"C:\psexec\tool.exe")],
    },
    Case {
        // Against the base name of a full path.
        ioc_type: "FileName", function: "EndWith", value: "dump.dmp", normal: "dump.dmp",
        hits: &[("FileName", r"C:\Users\a\AppData\Local\Temp\lsass_DUMP.dmp"), ("InitiatingProcessFileName", "dump.dmp")],
        misses: &[("FileName", r"C:\dump.dmp\notes.txt"), ("FileName", r"C:\x\dump.dmp.bak")],
    },
    Case {
        ioc_type: "FileName", function: "Contains", value: "rubeus", normal: "rubeus",
        hits: &[("FileName", r"C:\x\SharpRubeus_v2.exe")],
        misses: &[("FileName", r"C:\rubeus\a.exe")],
    },
    Case {
        // signature-base's Regin rule, written for a full path; FileName regexes ignore case.
        ioc_type: "FileName", function: "Regex", value: r"\\usbclass\.sys$", normal: r"\\usbclass\.sys$",
        hits: &[("FileName", r"C:\Windows\System32\drivers\USBCLASS.SYS")],
        misses: &[("FileName", r"C:\Windows\usbclass.sys.bak"), ("FileName", "usbclass.sys")],
    },
    Case {
        ioc_type: "FileName", function: "Regex", value: r"\\Temp\\[^\\]+\.exe$", normal: r"\\Temp\\[^\\]+\.exe$",
        hits: &[("InitiatingProcessFileName", r"C:\Users\a\AppData\Local\Temp\x.exe")],
        misses: &[("InitiatingProcessFileName", r"C:\Temp2\x.exe"), ("InitiatingProcessFileName", r"C:\Temp\sub\x.dll")],
    },
];

#[test]
fn every_ioc_type_and_detection_function_triggers_on_native_events() {
    let server = Server::start();
    let t = default_tenant(&server);
    let mut definitions = Vec::new();
    let mut events = Vec::new();
    for (n, case) in CASES.iter().enumerate() {
        let definition = create_definition(&server, &t.api, &format!("Case {n}: {} {}.", case.ioc_type, case.function));
        let (status, ioc) = call("POST", &server.api("IndicatorsOfCompromise"), &t.api, Some(ioc_body(definition, case.ioc_type, case.value, case.function)));
        assert_eq!(status, 201, "case {n}: {ioc}");
        assert_eq!(ioc["Value"], case.normal, "case {n}: the normal form");
        assert_eq!(ioc["DetectionFunction"], case.function, "case {n}");
        definitions.push(definition);
        for (k, (field, value)) in case.hits.iter().enumerate() {
            events.push(json!({"Timestamp": stamp(t0() + Span::seconds(k as i64)), "DeviceName": format!("hit-{n}"), *field: value}));
        }
        for (k, (field, value)) in case.misses.iter().enumerate() {
            events.push(json!({"Timestamp": stamp(t0() + Span::seconds(k as i64)), "DeviceName": format!("miss-{n}-{k}"), *field: value}));
        }
    }
    let summary = ingest_events(&server, &t.sensor, &events);
    assert_eq!(summary["accepted"], events.len());
    assert_eq!(summary["rejected"], 0, "{summary}");

    let got: BTreeMap<(i64, String), i64> = alerts(&server, &t.api)
        .iter()
        .map(|a| ((a["AlertDefinitionId"].as_i64().unwrap(), a["DeviceName"].as_str().unwrap().to_string()), a["EventCount"].as_i64().unwrap()))
        .collect();
    let expected: BTreeMap<(i64, String), i64> = CASES
        .iter()
        .enumerate()
        .map(|(n, case)| ((definitions[n], format!("hit-{n}")), case.hits.len() as i64))
        .collect();
    let describe = |m: &BTreeMap<(i64, String), i64>| -> Vec<String> {
        m.iter()
            .map(|((d, device), count)| {
                let n = definitions.iter().position(|x| x == d).unwrap();
                format!("case {n} ({} {} {}) on {device}: {count}", CASES[n].ioc_type, CASES[n].function, CASES[n].value)
            })
            .collect()
    };
    let missing: BTreeMap<_, _> = expected.iter().filter(|(k, v)| got.get(*k) != Some(v)).map(|(k, v)| (k.clone(), *v)).collect();
    let extra: BTreeMap<_, _> = got.iter().filter(|(k, v)| expected.get(*k) != Some(v)).map(|(k, v)| (k.clone(), *v)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "expected but not raised (or another count):\n  {}\nraised but not expected:\n  {}",
        describe(&missing).join("\n  "),
        describe(&extra).join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Triage

#[test]
fn alert_triage_changes_status_classification_and_assignee_only() {
    let server = Server::start();
    let t = default_tenant(&server);
    let definition = create_definition(&server, &t.api, "Triage.");
    create_ioc(&server, &t.api, definition, "IpAddress", "192.0.2.77", "Equals");
    ingest_events(&server, &t.sensor, &[connection("triage-01", "192.0.2.77", t0())]);
    let id = only_alert_of(&server, &t.api, "triage-01")["Id"].as_i64().unwrap();
    let path = format!("Alerts({id})");

    let updated = patch(&server, &t.api, &path, json!({"Status": "inprogress", "AssignedTo": "analyst@contoso.com"}));
    assert_eq!(updated["Status"], "InProgress", "enum values in any case, returned in their metadata spelling");
    assert_eq!(updated["AssignedTo"], "analyst@contoso.com");
    assert_eq!(updated["Classification"], Value::Null);
    let updated = patch(&server, &t.api, &path, json!({"Classification": "TruePositive", "Status": "Resolved"}));
    assert_eq!(updated["Classification"], "TruePositive");
    assert_eq!(updated["Status"], "Resolved");
    assert_eq!(updated["AssignedTo"], "analyst@contoso.com", "a partial update keeps the rest");
    let stored = alert(&server, &t.api, id);
    assert_eq!((&stored["Status"], &stored["Classification"], &stored["AssignedTo"]), (&json!("Resolved"), &json!("TruePositive"), &json!("analyst@contoso.com")));
    assert_eq!(stored["Title"], "Triage.");
    assert_eq!(stored["EventCount"], 1);
    assert_eq!(query_all(&server, &t.api, "Alerts?$filter=Status eq 'Resolved'").len(), 1);
    let cleared = patch(&server, &t.api, &path, json!({"AssignedTo": null, "Classification": null}));
    assert_eq!((&cleared["AssignedTo"], &cleared["Classification"]), (&Value::Null, &Value::Null));

    // A client may send back the whole alert it read with only the triage fields changed
    // (what a PowerShell script does with an object it got).
    let mut echoed = alert(&server, &t.api, id);
    echoed["Status"] = json!("InProgress");
    echoed["AssignedTo"] = json!("soc-team");
    let updated = patch(&server, &t.api, &path, echoed);
    assert_eq!((&updated["Status"], &updated["AssignedTo"]), (&json!("InProgress"), &json!("soc-team")));
    patch(&server, &t.api, &path, json!({"Status": "Resolved", "Classification": "TruePositive", "AssignedTo": "analyst@contoso.com"}));

    for body in [
        json!({"Title": "changed"}),
        json!({"EventCount": 9}),
        json!({"Severity": "High"}),
        json!({"DeviceName": "other"}),
        json!({"Status": "Done"}),
        json!({"Classification": "Maybe"}),
        json!({"Unknown": 1}),
        json!({"Status": "New", "Description": "also changed"}),
        json!({"Status": "New", "IocIds": [1, 2]}),
    ] {
        let (status, reply) = call("PATCH", &server.api(&path), &t.api, Some(body.clone()));
        assert_eq!(status, 400, "PATCH {body}: {reply}");
        assert!(reply["error"]["code"].is_string(), "an OData error: {reply}");
    }
    let stored = alert(&server, &t.api, id);
    assert_eq!(stored["Title"], "Triage.");
    assert_eq!(stored["Status"], "Resolved", "a refused PATCH changes nothing");
    assert_eq!(stored["IocIds"], json!([1]));
    let (status, _) = call("PATCH", &server.api("Alerts(999999)"), &t.api, Some(json!({"Status": "New"})));
    assert_eq!(status, 404);
    let (status, _) = call("DELETE", &server.api(&path), &t.api, None);
    assert_eq!(status, 405, "alerts are not deleted through the API");
}

// ---------------------------------------------------------------------------------------------
// Tenants

#[test]
fn tenants_never_see_each_others_matches_alerts_or_devices() {
    let server = Server::start();
    let a = default_tenant(&server);
    let b_ctx = server.new_tenant("contoso-b");
    let b = Tenant { api: b_ctx.token.clone(), sensor: server.sensor_token("contoso-b") };
    let definition = create_definition(&server, &a.api, "Tenant A only.");
    create_ioc(&server, &a.api, definition, "DomainName", "tenant-a-only.example", "EndWith");
    let dns = |device: &str| json!({"Timestamp": stamp(t0()), "DeviceName": device, "DnsQuery": "x.tenant-a-only.example"});

    // B's event matches nothing of A's.
    assert_eq!(ingest_events(&server, &b.sensor, &[dns("b-host")])["alerts"], 0);
    assert!(alerts(&server, &b.api).is_empty());
    assert!(alerts(&server, &a.api).is_empty(), "B's telemetry never raises A's alerts");

    // A's event does.
    assert_eq!(ingest_events(&server, &a.sensor, &[dns("a-host")])["alerts"], 1);
    let a_alert = only_alert_of(&server, &a.api, "a-host");
    let id = a_alert["Id"].as_i64().unwrap();
    assert!(alerts(&server, &b.api).is_empty(), "B lists none of A's alerts");
    for method in ["GET", "PATCH"] {
        let body = (method == "PATCH").then(|| json!({"Status": "Resolved"}));
        let (status, reply) = call(method, &server.api(&format!("Alerts({id})")), &b.api, body);
        assert_eq!(status, 404, "{method} of A's alert by B: {reply}");
    }
    assert_eq!(alert(&server, &a.api, id)["Status"], "New");
    assert!(query_all(&server, &b.api, &format!("Alerts?$filter=Id eq {id}")).is_empty());

    // Devices are per tenant too (recorded after the response: poll).
    eventually("A's device", || {
        query_all(&server, &a.api, "Devices").iter().any(|d| d["DeviceName"] == "a-host").then_some(())
    });
    let b_devices = eventually("B's device", || {
        let devices = query_all(&server, &b.api, "Devices");
        devices.iter().any(|d| d["DeviceName"] == "b-host").then_some(devices)
    });
    assert!(b_devices.iter().all(|d| d["DeviceName"] != "a-host"), "{b_devices:?}");

    // A sensor token never writes into another tenant: the tenant comes from the token.
    let (status, _) = ingest_with(&server, &b.sensor, "native", dns("a-host").to_string().into_bytes(), &[("X-Tenant", "default")]);
    assert_eq!(status, 200);
    assert_eq!(only_alert_of(&server, &a.api, "a-host")["EventCount"], 1);
}

// ---------------------------------------------------------------------------------------------
// Ingest errors (SPEC B.1, A.9)

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn ingest_reports_bad_lines_and_refuses_bad_requests() {
    let server = Server::start();
    let t = default_tenant(&server);
    let definition = create_definition(&server, &t.api, "Ingest errors.");
    create_ioc(&server, &t.api, definition, "IpAddress", "192.0.2.200", "Equals");
    let good = |device: &str| connection(device, "192.0.2.200", t0()).to_string();

    // A bad line in the middle is reported with its number; the rest is accepted.
    let body = [
        good("err-1"),
        "{not json".to_string(),
        json!({"DeviceName": "err-x", "RemoteIP": "192.0.2.200"}).to_string(),
        String::new(),
        good("err-2"),
    ]
    .join("\n");
    let summary = ingest(&server, &t.sensor, "native", body.into_bytes());
    assert_eq!(summary["accepted"], 2, "{summary}");
    assert_eq!(summary["rejected"], 2, "{summary}");
    assert_eq!(summary["alerts"], 2, "{summary}");
    let lines: Vec<i64> = summary["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![2, 3], "{summary}");
    for error in summary["errors"].as_array().unwrap() {
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    assert!(summary["errors"][1]["message"].as_str().unwrap().contains("Timestamp"), "{summary}");

    // A JSON array body is accepted too.
    let array = json!([connection("err-3", "192.0.2.200", t0()), connection("err-3", "192.0.2.201", t0())]);
    let summary = ingest(&server, &t.sensor, "native", array.to_string().into_bytes());
    assert_eq!((summary["accepted"].as_i64(), summary["alerts"].as_i64()), (Some(2), Some(1)), "{summary}");

    // An unknown format is a 400 naming the parameter; the format name is case-insensitive.
    let (status, reply) = ingest_with(&server, &t.sensor, "cef", good("err-4").into_bytes(), &[]);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["target"], "format", "{reply}");
    let (status, reply) = ingest_with(&server, &t.sensor, "NATIVE", good("err-4").into_bytes(), &[]);
    assert_eq!(status, 200, "{reply}");

    // gzip works.
    let body = format!("{}\n{}\n", good("err-5"), connection("err-5", "192.0.2.201", t0()));
    let (status, reply) = ingest_with(&server, &t.sensor, "native", gzip(body.as_bytes()), &[("Content-Encoding", "gzip")]);
    assert_eq!(status, 200, "{reply}");
    assert_eq!((reply["accepted"].as_i64(), reply["alerts"].as_i64()), (Some(2), Some(1)), "{reply}");
    assert_eq!(only_alert_of(&server, &t.api, "err-5")["EventCount"], 1);
    let (status, reply) = ingest_with(&server, &t.sensor, "native", b"\x1f\x8b not gzip".to_vec(), &[("Content-Encoding", "gzip")]);
    assert_eq!(status, 400, "{reply}");

    // A body larger than the limit (64 MiB once decompressed) is a 413, and nothing of it
    // is taken.
    let mut bomb = good("err-6").into_bytes();
    bomb.push(b'\n');
    bomb.resize(65 * 1024 * 1024, b'\n');
    let (status, reply) = ingest_with(&server, &t.sensor, "native", gzip(&bomb), &[("Content-Encoding", "gzip")]);
    assert_eq!(status, 413, "{reply}");
    assert!(reply["error"]["code"].is_string(), "an OData error: {reply}");
    assert!(query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'err-6'").is_empty());

    // A body larger than axum's default 2 MB but within the limit is taken whole.
    let mut big = String::new();
    let mut n = 0;
    while big.len() < 3 * 1024 * 1024 {
        big.push_str(&connection("err-7", "192.0.2.99", t0() + Span::seconds(n)).to_string());
        big.push('\n');
        n += 1;
    }
    big.push_str(&good("err-7"));
    let summary = ingest(&server, &t.sensor, "native", big.into_bytes());
    assert_eq!(summary["accepted"], n + 1);
    assert_eq!(summary["alerts"], 1);

    // A token without the Telemetry.Ingest role is a 403; no token or a bad one a 401.
    let (status, reply) = ingest_with(&server, &t.api, "native", good("err-8").into_bytes(), &[]);
    assert_eq!(status, 403, "the custom TI application may not send telemetry: {reply}");
    let (status, _) = ingest_with(&server, "not-a-token", "native", good("err-8").into_bytes(), &[]);
    assert_eq!(status, 401);
    let response = http().post(format!("{}/ingest/v1/events", server.url)).body(good("err-8")).send().unwrap();
    assert_eq!(response.status(), 401);
    assert!(query_all(&server, &t.api, "Alerts?$filter=DeviceName eq 'err-8'").is_empty());
}

// ---------------------------------------------------------------------------------------------
// The live stream

/// One Server-Sent Event.
#[derive(Debug, Default, Clone)]
struct Sse {
    event: String,
    id: String,
    data: String,
}

/// Opens `Alerts/$stream` and hands its events over a channel (read on a thread).
fn open_stream(server: &Server, token: &str, last_event_id: Option<&str>) -> mpsc::Receiver<Sse> {
    let client = reqwest::blocking::Client::builder().timeout(None::<Duration>).build().unwrap();
    let mut request = client.get(server.api("Alerts/$stream")).bearer_auth(token).header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut current = Sse::default();
        for line in BufReader::new(response).lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                let complete = !current.event.is_empty() || !current.data.is_empty();
                if complete && tx.send(std::mem::take(&mut current)).is_err() {
                    return;
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // keep-alive
            }
            let (field, value) = line.split_once(':').map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((&line, ""));
            match field {
                "event" => current.event = value.to_string(),
                "id" => current.id = value.to_string(),
                "data" => {
                    if !current.data.is_empty() {
                        current.data.push('\n');
                    }
                    current.data.push_str(value)
                }
                _ => {}
            }
        }
    });
    rx
}

fn next_event(rx: &mpsc::Receiver<Sse>, what: &str) -> Sse {
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("the stream delivered no {what}"))
}

#[test]
fn the_alert_stream_delivers_new_and_updated_alerts_and_replays_after_a_reconnect() {
    let server = Server::start();
    let t = default_tenant(&server);
    let other = server.new_tenant("stream-other");
    let other_sensor = server.sensor_token("stream-other");
    let definition = create_definition(&server, &t.api, "Streamed.");
    create_ioc(&server, &t.api, definition, "IpAddress", "192.0.2.33", "Equals");
    let other_definition = create_definition(&server, &other.token, "Other tenant.");
    create_ioc(&server, &other.token, other_definition, "IpAddress", "192.0.2.33", "Equals");

    let live = open_stream(&server, &t.api, None);
    // Another tenant's alert comes first and must not be delivered.
    assert_eq!(ingest_events(&server, &other_sensor, &[connection("other-host", "192.0.2.33", t0())])["alerts"], 1);
    assert_eq!(ingest_events(&server, &t.sensor, &[connection("stream-01", "192.0.2.33", t0())])["alerts"], 1);
    let first = next_event(&live, "alert");
    assert_eq!(first.event, "alert", "{first:?}");
    let data: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(data["DeviceName"], "stream-01", "only the caller's tenant: {data}");
    assert_eq!(data["Title"], "Streamed.");
    assert_eq!(data["EventCount"], 1);
    let id = data["Id"].as_i64().unwrap();
    assert_eq!(first.id, id.to_string(), "the event id is the alert Id");
    assert_eq!(data["Id"], alert(&server, &t.api, id)["Id"]);

    // Another matching event updates the alert.
    ingest_events(&server, &t.sensor, &[connection("stream-01", "192.0.2.33", t0() + Span::minutes(5))]);
    let second = next_event(&live, "update");
    assert_eq!(second.event, "update", "{second:?}");
    let data: Value = serde_json::from_str(&second.data).unwrap();
    assert_eq!((data["Id"].as_i64(), data["EventCount"].as_i64()), (Some(id), Some(2)));

    // Triage through the API is an update too.
    patch(&server, &t.api, &format!("Alerts({id})"), json!({"Status": "InProgress"}));
    let triaged = next_event(&live, "triage update");
    assert_eq!(triaged.event, "update", "{triaged:?}");
    let data: Value = serde_json::from_str(&triaged.data).unwrap();
    assert_eq!((data["Id"].as_i64(), data["Status"].as_str()), (Some(id), Some("InProgress")));

    // Reconnecting with Last-Event-ID: 0 replays the alerts created since.
    let replay = open_stream(&server, &t.api, Some("0"));
    let replayed = next_event(&replay, "replayed alert");
    assert_eq!(replayed.event, "alert");
    assert_eq!(replayed.id, id.to_string());
    let data: Value = serde_json::from_str(&replayed.data).unwrap();
    assert_eq!(data["DeviceName"], "stream-01");
    // ... and then goes live, without repeating it.
    ingest_events(&server, &t.sensor, &[connection("stream-02", "192.0.2.33", t0())]);
    let fresh = next_event(&replay, "new alert after the replay");
    assert_eq!(fresh.event, "alert");
    let data: Value = serde_json::from_str(&fresh.data).unwrap();
    assert_eq!(data["DeviceName"], "stream-02", "{fresh:?}");
    // Resuming after the last alert seen replays nothing old.
    let resumed = open_stream(&server, &t.api, Some(&fresh.id));
    ingest_events(&server, &t.sensor, &[connection("stream-03", "192.0.2.33", t0())]);
    let data: Value = serde_json::from_str(&next_event(&resumed, "alert after resuming").data).unwrap();
    assert_eq!(data["DeviceName"], "stream-03");

    // The stream needs a valid token.
    let response = http().get(server.api("Alerts/$stream")).send().unwrap();
    assert_eq!(response.status(), 401);
}

// ---------------------------------------------------------------------------------------------
// Devices and IOC statistics

#[test]
fn devices_and_ioc_hit_counts_follow_the_telemetry() {
    let server = Server::start();
    let t = default_tenant(&server);
    let definition = create_definition(&server, &t.api, "Statistics.");
    let ioc = create_ioc(&server, &t.api, definition, "IpAddress", "192.0.2.44", "Equals");
    let idle = create_ioc(&server, &t.api, definition, "IpAddress", "192.0.2.45", "Equals");
    let fresh: Value = call("GET", &server.api(&format!("IndicatorsOfCompromise({ioc})")), &t.api, None).1;
    assert_eq!(fresh["HitCount"], 0);
    assert_eq!(fresh["LastSeenAt"], Value::Null);

    let events = [
        connection("stats-01", "192.0.2.44", t0()),
        connection("stats-01", "192.0.2.1", t0() + Span::minutes(1)),
        connection("stats-01", "192.0.2.44", t0() + Span::minutes(2)),
        json!({"Timestamp": stamp(t0()), "DeviceId": "7f1c0000-0000-4000-8000-000000000002", "DeviceName": "stats-02.contoso.local", "RemoteIP": "192.0.2.44"}),
    ];
    assert_eq!(ingest_events(&server, &t.sensor, &events)["alerts"], 2);

    let devices = eventually("both devices", || {
        let devices = query_all(&server, &t.api, "Devices?$orderby=DeviceName");
        (devices.len() == 2).then_some(devices)
    });
    assert_eq!(devices[0]["DeviceName"], "stats-01");
    assert_eq!(devices[0]["EventCount"], 3);
    assert_eq!(devices[0]["FirstSeen"], stamp(t0()));
    assert_eq!(devices[0]["LastSeen"], stamp(t0() + Span::minutes(2)));
    assert_eq!(devices[1]["DeviceName"], "stats-02.contoso.local");
    assert_eq!(devices[1]["DeviceId"], "7f1c0000-0000-4000-8000-000000000002");
    assert_eq!(devices[1]["EventCount"], 1);
    // With a DeviceId, the alert is keyed by it and still names the device.
    let by_id = query_all(&server, &t.api, "Alerts?$filter=DeviceId eq '7f1c0000-0000-4000-8000-000000000002'");
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["DeviceName"], "stats-02.contoso.local");

    let counted = eventually("the IOC's hit count", || {
        let (_, body) = call("GET", &server.api(&format!("IndicatorsOfCompromise({ioc})")), &t.api, None);
        (body["HitCount"] == 3).then_some(body)
    });
    assert_eq!(counted["LastSeenAt"], stamp(t0() + Span::minutes(2)));
    let (_, untouched) = call("GET", &server.api(&format!("IndicatorsOfCompromise({idle})")), &t.api, None);
    assert_eq!((&untouched["HitCount"], &untouched["LastSeenAt"]), (&json!(0), &Value::Null));
    // Devices accumulate over requests.
    ingest_events(&server, &t.sensor, &[connection("stats-01", "192.0.2.1", t0() + Span::minutes(3))]);
    eventually("the device's event count", || {
        let devices = query_all(&server, &t.api, "Devices?$filter=DeviceName eq 'stats-01'");
        (devices.first().map(|d| d["EventCount"].clone()) == Some(json!(4))).then_some(())
    });
    // Hit counts are queryable like any property.
    let hit = query_all(&server, &t.api, "IndicatorsOfCompromise?$filter=HitCount gt 0");
    assert_eq!(hit.iter().map(|i| i["Id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![ioc]);
    // Nothing of this appears as a change to the IOC itself.
    assert_eq!(counted["LastModifiedAt"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// The CLI

/// A details file of a sensor application (same keys as `app enable --json`).
fn sensor_details(server: &Server, dir: &std::path::Path) -> std::path::PathBuf {
    let created = cli_json(&server.data_dir, &["app", "create", "--tenant", "default", "--name", "cli-sensor", "--roles", "Telemetry.Ingest", "--json"]);
    let details = json!({
        "ClientId": created["ClientId"],
        "ClientSecret": created["ClientSecret"],
        "AuthorizationUrl": format!("{}/default/oauth2/token", server.url),
    });
    let path = dir.join("sensor.json");
    std::fs::write(&path, details.to_string()).unwrap();
    path
}

fn summary_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "openti ingest failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no summary printed; stderr: {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("the summary is not JSON ({e}): {stdout}"))
}

#[test]
fn the_cli_sends_files_and_standard_input_and_guesses_formats() {
    let server = Server::start();
    let t = default_tenant(&server);
    let temp = tempfile::tempdir().unwrap();
    let details = sensor_details(&server, temp.path());
    let details = details.to_str().unwrap();
    let definition = create_definition(&server, &t.api, "CLI.");
    create_ioc(&server, &t.api, definition, "IpAddress", "192.0.2.55", "Equals");

    // A native file with --format.
    let file = temp.path().join("events.ndjson");
    let body = [connection("cli-01", "192.0.2.55", t0()), connection("cli-01", "192.0.2.56", t0())]
        .iter()
        .map(|e| format!("{e}\n"))
        .collect::<String>()
        + "{broken\n";
    std::fs::write(&file, body).unwrap();
    let out = server.cli(&["ingest", "--details", details, "--format", "native", file.to_str().unwrap()]);
    assert_eq!(summary_of(&out), json!({"accepted": 2, "rejected": 1, "alerts": 1}));
    assert_eq!(only_alert_of(&server, &t.api, "cli-01")["EventCount"], 1);

    // Standard input.
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(["ingest", "--details", details, "--format", "native", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = format!("{}\n", connection("cli-02", "192.0.2.55", t0()));
    child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(summary_of(&out), json!({"accepted": 1, "rejected": 0, "alerts": 1}));
    assert_eq!(only_alert_of(&server, &t.api, "cli-02")["EventCount"], 1);

    // Formats guessed from each file: a raw EVTX file, a Zeek TSV log and a Sysmon NDJSON.
    let data = shared_data();
    let evtx = data.join("endpoint/telemetry/evtx/Defense_Evasion/DSE_bypass_BYOV_TDL_dummydriver_sysmon_6_7_13.evtx");
    let zeek = data.join("network/zeek/ctu-malware-capture-botnet-355-1-simda/dns.log");
    let sysmon = data.join("endpoint/telemetry/sysmon-json/Discovery/discovery_UEFI_Settings_rweverything_sysmon_6.ndjson");
    let drivers = create_definition(&server, &t.api, "CLI drivers.");
    create_ioc(&server, &t.api, drivers, "Sha1", "7c1b25518dee1e30b5a6eaa1ea8e4a3780c24d0c", "Equals");
    create_ioc(&server, &t.api, drivers, "FileName", "rwdrv.sys", "Equals");
    let simda = create_definition(&server, &t.api, "CLI Simda.");
    create_ioc(&server, &t.api, simda, "DomainName", "gatyfus.com", "Equals");
    let out = server.cli(&["ingest", "--details", details, evtx.to_str().unwrap(), zeek.to_str().unwrap(), sysmon.to_str().unwrap()]);
    let summary = summary_of(&out);
    assert_eq!(summary["accepted"], 8 + 992 + 1, "{summary}");
    assert_eq!(summary["rejected"], 0, "{summary}");
    let of = |definition: i64| query_all(&server, &t.api, &format!("Alerts?$filter=AlertDefinitionId eq {definition}&$orderby=DeviceName"));
    let driver_alerts = of(drivers);
    assert_eq!(
        driver_alerts.iter().map(|a| (a["DeviceName"].as_str().unwrap(), a["EventCount"].as_i64().unwrap())).collect::<Vec<_>>(),
        vec![("MSEDGEWIN10", 1), ("MSEDGEWIN10", 1)],
        "the VBoxDrv.sys load (EVTX) and the RWEverything driver load (NDJSON), on dates far apart: {driver_alerts:?}"
    );
    let simda_alerts = of(simda);
    assert_eq!(simda_alerts.len(), 1, "{simda_alerts:?}");
    assert_eq!(simda_alerts[0]["DeviceName"], "fd77:48a1:c0bb:0:b96c:506d:6c7f:e8be");

    // Errors: a missing file, and a details file without the keys.
    let out = server.cli(&["ingest", "--details", details, temp.path().join("missing.log").to_str().unwrap()]);
    assert!(!out.status.success());
    let bad = temp.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = server.cli(&["ingest", "--details", bad.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AuthorizationUrl"), "{}", String::from_utf8_lossy(&out.stderr));
}
