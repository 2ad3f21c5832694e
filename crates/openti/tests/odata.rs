//! OData query language end to end (issue 4): paging with opaque skiptokens under concurrent
//! inserts, `/$count`, unsupported options, limits, positions in errors, ETags, and the
//! service description formats — all through the real binary.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

fn bulk_iocs(server: &Server, token: &str, definition: i64, prefix: &str, n: usize) -> Vec<i64> {
    let iocs: Vec<Value> = (0..n)
        .map(|i| {
            json!({"Type": "DomainName", "Value": format!("{prefix}{i}.example"),
                   "AlertDefinition@odata.bind": format!("AlertDefinitions({definition})")})
        })
        .collect();
    let (status, body) = call("POST", &server.api("IndicatorsOfCompromise/Actions.BulkUpload"), token, Some(json!({"iocs": iocs})));
    assert_eq!(status, 200, "{body}");
    body["value"].as_array().unwrap().iter().map(|v| v["Id"].as_i64().unwrap()).collect()
}

fn get_with(url: &str, token: &str, headers: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut request = http().get(url).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().unwrap()
}

#[test]
fn pages_return_every_row_exactly_once_under_concurrent_inserts() {
    let server = Server::start();
    let t = server.default_tenant();
    let definition = create_definition(&server, &t.token, "Paging.");
    let original: HashSet<i64> = bulk_iocs(&server, &t.token, definition, "orig", 2500).into_iter().collect();

    // Another client keeps inserting while we page; rows inserted meanwhile may or may not
    // show up, but none of the original rows may be skipped or repeated.
    let writer_url = server.api("IndicatorsOfCompromise");
    let writer_token = t.token.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..60 {
            let body = json!({"Type": "DomainName", "Value": format!("late{i}.example"),
                              "AlertDefinition@odata.bind": format!("AlertDefinitions({definition})")});
            let (status, _) = call("POST", &writer_url, &writer_token, Some(body));
            assert_eq!(status, 201);
        }
    });

    let mut seen = Vec::new();
    let mut next = Some(server.api("IndicatorsOfCompromise?$select=Id,Value&$orderby=Value desc"));
    let mut pages = 0;
    while let Some(url) = next {
        let response = get_with(&url, &t.token, &[("Prefer", "odata.maxpagesize=100")]);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["Preference-Applied"], "odata.maxpagesize=100");
        let body: Value = response.json().unwrap();
        let rows = body["value"].as_array().unwrap();
        assert!(rows.len() <= 100);
        seen.extend(rows.iter().map(|r| r["Id"].as_i64().unwrap()));
        next = body["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(link) = &next {
            assert!(link.contains("$skiptoken="), "{link}");
            assert!(link.contains("$orderby=") && link.contains("$select="), "the link keeps the options: {link}");
        }
        pages += 1;
        assert!(pages < 100, "paging does not end");
    }
    writer.join().unwrap();
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a row came back twice");
    assert!(original.is_subset(&unique), "{} original rows are missing", original.difference(&unique).count());
}

#[test]
fn client_top_above_the_page_size_still_pages() {
    let server = Server::start();
    let t = server.default_tenant();
    let definition = create_definition(&server, &t.token, "Top.");
    bulk_iocs(&server, &t.token, definition, "t", 1500);
    let (status, body) = call("GET", &server.api("IndicatorsOfCompromise?$top=1200&$count=true"), &t.token, None);
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().unwrap().len(), 1000, "server-driven page size caps a page");
    assert_eq!(body["@odata.count"], 1500);
    let link = body["@odata.nextLink"].as_str().expect("a next link");
    let (status, page2) = call("GET", link, &t.token, None);
    assert_eq!(status, 200);
    assert_eq!(page2["value"].as_array().unwrap().len(), 200, "the rest of $top");
    assert!(page2.get("@odata.nextLink").is_none());
}

#[test]
fn count_segment_filters_and_errors_point_at_positions() {
    let server = Server::start();
    let t = server.default_tenant();
    let definition = create_definition(&server, &t.token, "Count.");
    bulk_iocs(&server, &t.token, definition, "c", 30);
    let response = get_with(&server.api("IndicatorsOfCompromise/$count?$filter=endswith(Value,'1.example')"), &t.token, &[]);
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "3"); // c1, c11, c21

    let (status, body) = call("GET", &server.api("AlertDefinitions?$filter=Severity%20eq"), &t.token, None);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["target"], "$filter");
    assert!(body["error"]["message"].as_str().unwrap().contains("position"), "{body}");

    let (status, body) = call("GET", &server.api("AlertDefinitions?$search=evil"), &t.token, None);
    assert_eq!(status, 400, "unsupported options are refused, not ignored");
    assert!(body["error"]["message"].as_str().unwrap().contains("$search"), "{body}");

    let many: Vec<String> = (0..1100).map(|i| i.to_string()).collect();
    let (status, body) = call("GET", &server.api(&format!("AlertDefinitions?$filter=Id%20in%20({})", many.join(","))), &t.token, None);
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("max_in_list"), "the error names the limit: {body}");

    let (status, body) = call(
        "GET",
        &server.api("AlertDefinitions?$filter=IndicatorsOfCompromise/any(i:i/Value%20eq%20'c7.example')&$expand=IndicatorsOfCompromise($filter=Value%20eq%20'c7.example';$select=Value)"),
        &t.token,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["IndicatorsOfCompromise"], json!([{"Value": "c7.example"}]));
}

#[test]
fn etags_guard_writes_and_spare_reads() {
    let server = Server::start();
    let t = server.default_tenant();
    let id = create_definition(&server, &t.token, "Etag.");
    let url = server.api(&format!("AlertDefinitions({id})"));
    let response = get_with(&url, &t.token, &[]);
    let tag = response.headers()["ETag"].to_str().unwrap().to_string();
    let body: Value = response.json().unwrap();
    assert_eq!(body["@odata.etag"], tag.as_str());
    assert_eq!(get_with(&url, &t.token, &[("If-None-Match", &tag)]).status(), 304);

    let patch = |if_match: &str| {
        http().patch(&url).bearer_auth(&t.token).header("If-Match", if_match).json(&json!({"Severity": "Low"})).send().unwrap().status()
    };
    assert_eq!(patch("W/\"stale\""), 412);
    assert_eq!(patch(&tag), 200);
    assert_eq!(patch(&tag), 412, "the tag changed with the write");
    assert_eq!(patch("*"), 200);
    assert_eq!(get_with(&url, &t.token, &[("If-None-Match", &tag)]).status(), 200);
}

#[test]
fn service_description_in_every_format() {
    let server = Server::start();
    let xml = http().get(server.api("$metadata")).send().unwrap();
    assert_eq!(xml.status(), 200);
    assert!(xml.headers()["content-type"].to_str().unwrap().starts_with("application/xml"));
    let text = xml.text().unwrap();
    assert!(text.contains("<EntitySet Name=\"IndicatorsOfCompromise\""), "{text}");
    let json: Value = http().get(server.api("$metadata?$format=application/json")).send().unwrap().json().unwrap();
    assert_eq!(json["$Version"], "4.0");
    let openapi: Value = http().get(server.api("openapi.json")).send().unwrap().json().unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    let service: Value = http().get(server.api("")).send().unwrap().json().unwrap();
    let sets: Vec<&str> = service["value"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(sets, ["AlertDefinitions", "IndicatorsOfCompromise", "Alerts", "Devices"]);
}
