//! Bad input never yields a 500 and never half-writes (SPEC A.3, A.5–A.7, A.9): every
//! malformed request gets its status, OData error code and target, and the tenant's data is
//! exactly what it was before. Bulk uploads are atomic and name the bad entity's index;
//! quotas refuse whole writes with 507.

mod common;

use common::*;
use serde_json::{json, Value};

/// What a case sends.
enum Body {
    None,
    Json(Value),
    /// Raw bytes with a `Content-Type` (or none).
    Raw(Option<&'static str>, Vec<u8>),
}

/// One malformed request and the error it must get.
struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
    target: Option<&'static str>,
}

fn case(what: &'static str, method: &'static str, path: impl Into<String>, body: Body, status: u16, code: &'static str, target: Option<&'static str>) -> Case {
    Case { what, method, path: path.into(), body, status, code, target }
}

/// A valid definition with one property replaced (or removed, for `Value::Null` on a key
/// given as `-Name`).
fn def_with(property: &str, value: Value) -> Body {
    let mut body = definition("Malformed input");
    match property.strip_prefix('-') {
        Some(removed) => {
            body.as_object_mut().unwrap().remove(removed);
        }
        None => body[property] = value,
    }
    Body::Json(body)
}

/// A valid IOC bound to `definition`, with Type, Value and DetectionFunction as given.
fn ioc(definition: i64, ioc_type: &str, value: &str, function: &str) -> Value {
    json!({
        "Type": ioc_type, "Value": value, "DetectionFunction": function,
        "AlertDefinition@odata.bind": format!("AlertDefinitions({definition})"),
    })
}

fn ioc_with(definition: i64, property: &str, value: Value) -> Body {
    let mut body = ioc(definition, "Sha1", &"a".repeat(40), "Equals");
    match property.strip_prefix('-') {
        Some(removed) => {
            body.as_object_mut().unwrap().remove(removed);
        }
        None => body[property] = value,
    }
    Body::Json(body)
}

/// Asserts one case: status, code, target, never a 500, and no change to the tenant's data.
fn check(server: &Server, token: &str, c: &Case) {
    let defs_before = count(server, token, "AlertDefinitions");
    let iocs_before = count(server, token, "IndicatorsOfCompromise");
    let before = snapshot(server, token);

    let mut req = request(c.method, &server.api(&c.path)).bearer(token);
    req = match &c.body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Raw(content_type, bytes) => req.body(*content_type, bytes.clone()),
    };
    let reply = req.send();
    assert_ne!(reply.status, 500, "{}: a 500 for bad input: {}", c.what, reply.text);
    assert_eq!(reply.status, c.status, "{}: status; body {}", c.what, reply.text);
    let error = reply.error();
    assert_eq!(error.code, c.code, "{}: code; body {}", c.what, reply.text);
    assert_eq!(error.target.as_deref(), c.target, "{}: target; body {}", c.what, reply.text);
    assert!(!error.message.is_empty(), "{}: an empty message", c.what);

    assert_eq!(count(server, token, "AlertDefinitions"), defs_before, "{}: definitions were written", c.what);
    assert_eq!(count(server, token, "IndicatorsOfCompromise"), iocs_before, "{}: IOCs were written", c.what);
    assert_eq!(snapshot(server, token), before, "{}: the tenant's data changed", c.what);
}

#[test]
fn malformed_requests_get_a_precise_error_and_store_nothing() {
    let server = Server::start();
    let a = server.default_tenant();
    let b = server.new_tenant("other");
    let def = create_definition(&server, &a.token, "Existing definition");
    let ioc_id = create_ioc(&server, &a.token, def, "Sha1", &"b".repeat(40), "Equals");
    let foreign_def = create_definition(&server, &b.token, "Tenant B's definition");
    let missing_def = 999_999;

    let defs = "AlertDefinitions";
    let iocs = "IndicatorsOfCompromise";
    let def_key = format!("AlertDefinitions({def})");
    let ioc_key = format!("IndicatorsOfCompromise({ioc_id})");
    let bulk_defs = "AlertDefinitions/Actions.BulkUpload";
    let bulk_iocs = "IndicatorsOfCompromise/Actions.BulkUpload";
    let json_type = Some("application/json");
    let bind = Some("AlertDefinition@odata.bind");
    let value = Some("Value");
    let long = |n: usize| Value::from("x".repeat(n));

    let cases = vec![
        // --- the body is not a JSON object ------------------------------------------------------
        case("no body", "POST", defs, Body::None, 400, "InvalidRequestBody", None),
        case("empty JSON body", "POST", iocs, Body::Raw(json_type, Vec::new()), 400, "InvalidRequestBody", None),
        case("invalid JSON", "POST", defs, Body::Raw(json_type, b"{\"Name\": ".to_vec()), 400, "InvalidRequestBody", None),
        case("not JSON at all", "POST", iocs, Body::Raw(json_type, b"Type=Sha1".to_vec()), 400, "InvalidRequestBody", None),
        case("invalid UTF-8", "POST", defs, Body::Raw(json_type, b"{\"Name\": \"\xff\xfe\"}".to_vec()), 400, "InvalidRequestBody", None),
        case("JSON array instead of object", "POST", defs, Body::Json(json!([definition("In an array")])), 400, "InvalidRequestBody", None),
        case("JSON string instead of object", "POST", iocs, Body::Json(json!("Sha1")), 400, "InvalidRequestBody", None),
        case("deeply nested JSON", "POST", defs, Body::Raw(json_type, format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()), 400, "InvalidRequestBody", None),
        // --- wrong types ------------------------------------------------------------------------
        case("Severity as a number", "POST", defs, def_with("Severity", json!(3)), 400, "InvalidRequestBody", Some("Severity")),
        case("Name as an object", "POST", defs, def_with("Name", json!({"text": "n"})), 400, "InvalidRequestBody", Some("Name")),
        case("Enabled as a number", "POST", iocs, ioc_with(def, "Enabled", json!(5)), 400, "InvalidRequestBody", Some("Enabled")),
        case("Enabled as a word", "POST", defs, def_with("Enabled", json!("maybe")), 400, "InvalidRequestBody", Some("Enabled")),
        case("ExpiresAt not a date", "POST", iocs, ioc_with(def, "ExpiresAt", json!("next tuesday")), 400, "InvalidRequestBody", Some("ExpiresAt")),
        case("bind as a number", "POST", iocs, ioc_with(def, "AlertDefinition@odata.bind", json!(def)), 400, "InvalidRequestBody", bind),
        // --- unknown enum members and properties ------------------------------------------------
        case("unknown Severity", "POST", defs, def_with("Severity", json!("Catastrophic")), 400, "InvalidRequestBody", Some("Severity")),
        case("unknown Category", "POST", defs, def_with("Category", json!("Sneaky")), 400, "InvalidRequestBody", Some("Category")),
        case("unknown IocType", "POST", iocs, ioc_with(def, "Type", json!("Sha512")), 400, "InvalidRequestBody", Some("Type")),
        case("unknown DetectionFunction", "POST", iocs, ioc_with(def, "DetectionFunction", json!("Fuzzy")), 400, "InvalidRequestBody", Some("DetectionFunction")),
        case("unknown property", "POST", defs, def_with("Colour", json!("red")), 400, "InvalidRequestBody", Some("Colour")),
        case("unknown IOC property", "POST", iocs, ioc_with(def, "Action", json!("Alert")), 400, "InvalidRequestBody", Some("Action")),
        // --- each IocType with a wrong value ----------------------------------------------------
        case("Sha1 of 39 characters", "POST", iocs, Body::Json(ioc(def, "Sha1", &"a".repeat(39), "Equals")), 400, "InvalidHashValue", value),
        case("Sha1 not hex", "POST", iocs, Body::Json(ioc(def, "Sha1", &"g".repeat(40), "Equals")), 400, "InvalidHashValue", value),
        case("Sha256 of 63 characters", "POST", iocs, Body::Json(ioc(def, "Sha256", &"a".repeat(63), "Equals")), 400, "InvalidHashValue", value),
        case("Md5 not hex", "POST", iocs, Body::Json(ioc(def, "Md5", &"z".repeat(32), "Equals")), 400, "InvalidHashValue", value),
        case("IPv4 octet of 999", "POST", iocs, Body::Json(ioc(def, "IpAddress", "999.1.1.1", "Equals")), 400, "InvalidIpAddress", value),
        case("CIDR prefix of 33", "POST", iocs, Body::Json(ioc(def, "IpAddress", "10.0.0.0/33", "Equals")), 400, "InvalidIpAddress", value),
        case("CIDR prefix not a number", "POST", iocs, Body::Json(ioc(def, "IpAddress", "10.0.0.0/ab", "Equals")), 400, "InvalidIpAddress", value),
        case("domain with a space", "POST", iocs, Body::Json(ioc(def, "DomainName", "bad domain!.com", "Equals")), 400, "InvalidDomainName", value),
        case("domain given as a URL", "POST", iocs, Body::Json(ioc(def, "DomainName", "http://evil.com/x", "EndWith")), 400, "InvalidDomainName", value),
        case("URL without scheme", "POST", iocs, Body::Json(ioc(def, "Url", "evil.com/payload", "Equals")), 400, "InvalidUrl", value),
        case("URL regex that does not compile", "POST", iocs, Body::Json(ioc(def, "Url", "https?://(evil", "Regex")), 400, "InvalidRequestBody", value),
        case("file name regex that does not compile", "POST", iocs, Body::Json(ioc(def, "FileName", "[a-", "Regex")), 400, "InvalidRequestBody", value),
        case("empty Value", "POST", iocs, Body::Json(ioc(def, "Md5", "  ", "Equals")), 400, "InvalidHashValue", value),
        // --- DetectionFunction not allowed for the Type -----------------------------------------
        case("Sha1 with Contains", "POST", iocs, Body::Json(ioc(def, "Sha1", &"a".repeat(40), "Contains")), 400, "BadRequest", Some("DetectionFunction")),
        case("DomainName with Regex", "POST", iocs, Body::Json(ioc(def, "DomainName", "evil\\.com", "Regex")), 400, "BadRequest", Some("DetectionFunction")),
        case("IpAddress with StartWith", "POST", iocs, Body::Json(ioc(def, "IpAddress", "10.", "StartWith")), 400, "BadRequest", Some("DetectionFunction")),
        // --- over-long strings (one past each limit) --------------------------------------------
        case("Name of 101 characters", "POST", defs, def_with("Name", long(101)), 400, "InvalidRequestBody", Some("Name")),
        case("Title of 121 characters", "POST", defs, def_with("Title", long(121)), 400, "InvalidRequestBody", Some("Title")),
        case("UxDescription of 501 characters", "POST", defs, def_with("UxDescription", long(501)), 400, "InvalidRequestBody", Some("UxDescription")),
        case("RecommendedAction of 2001 characters", "POST", defs, def_with("RecommendedAction", long(2001)), 400, "InvalidRequestBody", Some("RecommendedAction")),
        case("InternalDescription of 351 characters", "POST", defs, def_with("InternalDescription", long(351)), 400, "InvalidRequestBody", Some("InternalDescription")),
        case("Value of 2049 characters", "POST", iocs, Body::Json(ioc(def, "Url", &format!("/{}", "a".repeat(2048)), "Contains")), 400, "InvalidRequestBody", value),
        // --- missing required properties --------------------------------------------------------
        case("missing Name", "POST", defs, def_with("-Name", Value::Null), 400, "MissingRequiredParameter", Some("Name")),
        case("missing Severity", "POST", defs, def_with("-Severity", Value::Null), 400, "MissingRequiredParameter", Some("Severity")),
        case("missing Title", "POST", defs, def_with("-Title", Value::Null), 400, "MissingRequiredParameter", Some("Title")),
        case("missing UxDescription", "POST", defs, def_with("-UxDescription", Value::Null), 400, "MissingRequiredParameter", Some("UxDescription")),
        case("missing Category", "POST", defs, def_with("-Category", Value::Null), 400, "MissingRequiredParameter", Some("Category")),
        case("null Title", "POST", defs, def_with("Title", Value::Null), 400, "MissingRequiredParameter", Some("Title")),
        case("blank Name", "POST", defs, def_with("Name", json!("   ")), 400, "InvalidRequestBody", Some("Name")),
        case("missing Type", "POST", iocs, ioc_with(def, "-Type", Value::Null), 400, "MissingRequiredParameter", Some("Type")),
        case("missing Value", "POST", iocs, ioc_with(def, "-Value", Value::Null), 400, "MissingRequiredParameter", value),
        case("missing binding", "POST", iocs, ioc_with(def, "-AlertDefinition@odata.bind", Value::Null), 400, "MissingRequiredParameter", bind),
        // --- bindings ---------------------------------------------------------------------------
        case("bind to a missing definition", "POST", iocs, ioc_with(def, "AlertDefinition@odata.bind", json!(format!("AlertDefinitions({missing_def})"))), 400, "BadRequest", bind),
        case("bind to another tenant's definition", "POST", iocs, ioc_with(def, "AlertDefinition@odata.bind", json!(format!("AlertDefinitions({foreign_def})"))), 400, "BadRequest", bind),
        case("bind to something else", "POST", iocs, ioc_with(def, "AlertDefinition@odata.bind", json!(format!("IndicatorsOfCompromise({ioc_id})"))), 400, "InvalidRequestBody", bind),
        case("bind to key 0", "POST", iocs, ioc_with(def, "AlertDefinition@odata.bind", json!("AlertDefinitions(0)")), 400, "InvalidRequestBody", bind),
        // --- bulk uploads -----------------------------------------------------------------------
        case("5001 definitions", "POST", bulk_defs, Body::Json(json!({"alertDefinitions": vec![definition("One of many"); 5001]})), 400, "MaximumBatchSizeExceeded", Some("alertDefinitions")),
        case("5001 IOCs", "POST", bulk_iocs, Body::Json(json!({"iocs": (0..5001).map(|i| ioc(def, "Sha1", &format!("{i:040x}"), "Equals")).collect::<Vec<_>>()})), 400, "MaximumBatchSizeExceeded", Some("iocs")),
        case("bulk with an unknown wrapper", "POST", bulk_iocs, Body::Json(json!({"indicators": []})), 400, "InvalidRequestBody", Some("indicators")),
        case("bulk wrapper not an array", "POST", bulk_defs, Body::Json(json!({"alertDefinitions": definition("Not in an array")})), 400, "InvalidRequestBody", Some("alertDefinitions")),
        case("bulk without a wrapper", "POST", bulk_iocs, Body::Json(json!({})), 400, "MissingRequiredParameter", Some("iocs")),
        case("bulk entity that is not an object", "POST", bulk_defs, Body::Json(json!({"alertDefinitions": [definition("Fine"), 42]})), 400, "InvalidRequestBody", Some("alertDefinitions[1]")),
        // --- transport: size and media type -----------------------------------------------------
        case("a 10 MB body", "POST", defs, Body::Raw(json_type, format!("{{\"Name\": \"{}\"}}", "a".repeat(10 * 1024 * 1024)).into_bytes()), 413, "RequestEntityTooLarge", None),
        case("a 10 MB bulk", "POST", bulk_iocs, Body::Raw(json_type, format!("{{\"iocs\": [\"{}\"]}}", "a".repeat(10 * 1024 * 1024)).into_bytes()), 413, "RequestEntityTooLarge", None),
        case("text/plain body", "POST", defs, Body::Raw(Some("text/plain"), serde_json::to_vec(&definition("As text")).unwrap()), 415, "UnsupportedMediaType", None),
        case("form body", "POST", iocs, Body::Raw(Some("application/x-www-form-urlencoded"), b"Type=Sha1".to_vec()), 415, "UnsupportedMediaType", None),
        case("XML body on PATCH", "PATCH", def_key.clone(), Body::Raw(Some("application/xml"), b"<Name>x</Name>".to_vec()), 415, "UnsupportedMediaType", None),
        // --- PATCH and PUT with invalid values --------------------------------------------------
        case("PATCH unknown Severity", "PATCH", def_key.clone(), Body::Json(json!({"Severity": "Huge"})), 400, "InvalidRequestBody", Some("Severity")),
        case("PATCH Title of 121 characters", "PATCH", def_key.clone(), Body::Json(json!({"Title": "t".repeat(121)})), 400, "InvalidRequestBody", Some("Title")),
        case("PATCH Title to null", "PATCH", def_key.clone(), Body::Json(json!({"Title": null})), 400, "MissingRequiredParameter", Some("Title")),
        case("PATCH valid and invalid together", "PATCH", def_key.clone(), Body::Json(json!({"Name": "renamed", "Category": "Nonsense"})), 400, "InvalidRequestBody", Some("Category")),
        case("PATCH unknown property", "PATCH", ioc_key.clone(), Body::Json(json!({"Colour": "red"})), 400, "InvalidRequestBody", Some("Colour")),
        case("PATCH a bad hash", "PATCH", ioc_key.clone(), Body::Json(json!({"Value": "not-a-hash"})), 400, "InvalidHashValue", value),
        case("PATCH a function the Type forbids", "PATCH", ioc_key.clone(), Body::Json(json!({"DetectionFunction": "EndWith"})), 400, "BadRequest", Some("DetectionFunction")),
        case("PATCH a Type the Value does not fit", "PATCH", ioc_key.clone(), Body::Json(json!({"Type": "IpAddress"})), 400, "InvalidIpAddress", value),
        case("PATCH bind to a missing definition", "PATCH", ioc_key.clone(), Body::Json(json!({"AlertDefinition@odata.bind": format!("AlertDefinitions({missing_def})")})), 400, "BadRequest", bind),
        case("PUT definition without Name", "PUT", def_key.clone(), def_with("-Name", Value::Null), 400, "MissingRequiredParameter", Some("Name")),
        // --- PUT $ref ---------------------------------------------------------------------------
        case("$ref to a missing definition", "PUT", format!("{ioc_key}/AlertDefinition/$ref"), Body::Json(json!({"@odata.id": format!("AlertDefinitions({missing_def})")})), 400, "BadRequest", Some("@odata.id")),
        case("$ref to another tenant's definition", "PUT", format!("{ioc_key}/AlertDefinition/$ref"), Body::Json(json!({"@odata.id": format!("{}AlertDefinitions({foreign_def})", server.api(""))})), 400, "BadRequest", Some("@odata.id")),
        case("$ref without @odata.id", "PUT", format!("{ioc_key}/AlertDefinition/$ref"), Body::Json(json!({"id": "AlertDefinitions(1)"})), 400, "MissingRequiredParameter", Some("@odata.id")),
        case("$ref to an IOC", "PUT", format!("{ioc_key}/AlertDefinition/$ref"), Body::Json(json!({"@odata.id": format!("IndicatorsOfCompromise({ioc_id})")})), 400, "InvalidRequestBody", Some("@odata.id")),
        // --- query options ----------------------------------------------------------------------
        case("$filter syntax error", "GET", "AlertDefinitions?$filter=Name eq", Body::None, 400, "BadRequest", Some("$filter")),
        case("$filter on an unknown property", "GET", "IndicatorsOfCompromise?$filter=Colour eq 'red'", Body::None, 400, "BadRequest", Some("$filter")),
        case("$top not a number", "GET", "AlertDefinitions?$top=many", Body::None, 400, "BadRequest", Some("$top")),
        case("key not a number", "GET", "AlertDefinitions(abc)", Body::None, 400, "BadRequest", Some("AlertDefinitions")),
    ];
    assert!(cases.len() >= 30);
    for c in &cases {
        check(&server, &a.token, c);
    }
}

#[test]
fn a_bulk_upload_with_one_bad_entity_stores_nothing_and_names_its_index() {
    let server = Server::start();
    let t = server.default_tenant();
    let def = create_definition(&server, &t.token, "Bulk target");
    let url = server.api("IndicatorsOfCompromise/Actions.BulkUpload");
    let good = |i: usize| ioc(def, "Sha256", &format!("{i:064x}"), "Equals");

    // A bad value at index 3771 of 5000.
    let mut items: Vec<Value> = (0..5000).map(good).collect();
    items[3771]["Value"] = json!("999.1.1.1");
    let reply = request("POST", &url).bearer(&t.token).json(&json!({ "iocs": items })).send();
    assert_eq!(reply.status, 400, "{}", reply.text);
    let error = reply.error();
    assert_eq!(error.code, "InvalidHashValue");
    assert_eq!(error.target.as_deref(), Some("iocs[3771].Value"));
    assert!(error.message.contains("3771"), "the message names the index: {}", error.message);
    assert_eq!(count(&server, &t.token, "IndicatorsOfCompromise"), 0);

    // A binding to a definition that does not exist, at index 4999: found by the store, still atomic.
    let mut items: Vec<Value> = (0..5000).map(good).collect();
    items[4999]["AlertDefinition@odata.bind"] = json!("AlertDefinitions(424242)");
    let reply = request("POST", &url).bearer(&t.token).json(&json!({ "IOCs": items })).send();
    assert_eq!(reply.status, 400, "{}", reply.text);
    let error = reply.error();
    assert_eq!(error.target.as_deref(), Some("iocs[4999].AlertDefinition@odata.bind"));
    assert!(error.message.contains("4999"), "{}", error.message);
    assert_eq!(count(&server, &t.token, "IndicatorsOfCompromise"), 0);

    // A bad definition in a definitions bulk.
    let mut defs: Vec<Value> = (0..50).map(|i| definition(&format!("Bulk definition {i}"))).collect();
    defs[17]["Severity"] = json!("Apocalyptic");
    let reply = request("POST", &server.api("AlertDefinitions/Actions.BulkUpload")).bearer(&t.token).json(&json!({ "alertDefinitions": defs })).send();
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.error().target.as_deref(), Some("alertDefinitions[17].Severity"));
    assert!(reply.error().message.contains("17"));
    assert_eq!(count(&server, &t.token, "AlertDefinitions"), 1);

    // The same 5000 without the bad one are all stored, in request order.
    let items: Vec<Value> = (0..5000).map(good).collect();
    let reply = request("POST", &url).bearer(&t.token).json(&json!({ "iocs": items })).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let created = reply.json["value"].as_array().unwrap();
    assert_eq!(created.len(), 5000);
    assert_eq!(created[3771]["Value"], json!(format!("{:064x}", 3771)));
    assert_eq!(count(&server, &t.token, "IndicatorsOfCompromise"), 5000);
}

/// Lowers a tenant's quotas through the CLI (while the server runs).
fn set_quotas(server: &Server, tenant: &str, flags: &[&str]) -> Value {
    let mut args = vec!["tenant", "quota", "--tenant", tenant, "--json"];
    args.extend_from_slice(flags);
    cli_json(&server.data_dir, &args)
}

/// Asserts a write is refused with 507 QuotaExceeded and stores nothing.
fn assert_over_quota(server: &Server, token: &str, what: &str, method: &str, path: &str, body: Value) {
    let before = snapshot(server, token);
    let reply = request(method, &server.api(path)).bearer(token).json(&body).send();
    assert_eq!(reply.status, 507, "{what}: {}", reply.text);
    assert_eq!(reply.error().code, "QuotaExceeded", "{what}");
    assert_eq!(snapshot(server, token), before, "{what}: a write over quota changed the data");
}

#[test]
fn the_definition_quota_refuses_whole_writes_with_507() {
    let server = Server::start();
    let t = server.default_tenant();
    let quotas = set_quotas(&server, "default", &["--max-definitions", "3"]);
    assert_eq!(quotas["MaxDefinitions"], 3);
    assert_eq!(quotas["MaxIocs"], 1_000_000, "flags not given keep their value");

    create_definition(&server, &t.token, "First");
    let bulk = |n: usize| json!({"alertDefinitions": (0..n).map(|i| definition(&format!("Bulk {i}"))).collect::<Vec<_>>()});
    assert_over_quota(&server, &t.token, "a bulk of 3 onto 1 of 3", "POST", "AlertDefinitions/Actions.BulkUpload", bulk(3));
    let reply = request("POST", &server.api("AlertDefinitions/Actions.BulkUpload")).bearer(&t.token).json(&bulk(2)).send();
    assert_eq!(reply.status, 200, "a bulk that exactly fills the quota: {}", reply.text);
    assert_over_quota(&server, &t.token, "a single create over quota", "POST", "AlertDefinitions", definition("Fourth"));
    assert_eq!(count(&server, &t.token, "AlertDefinitions"), 3);

    // Another tenant's quota is its own.
    let other = server.new_tenant("roomy");
    create_definition(&server, &other.token, "Not limited by default's quota");
}

#[test]
fn the_ioc_quota_refuses_whole_writes_with_507() {
    let server = Server::start();
    let t = server.default_tenant();
    set_quotas(&server, "default", &["--max-iocs", "10"]);
    let def = create_definition(&server, &t.token, "IOC quota");
    let bulk = |from: usize, n: usize| json!({"iocs": (from..from + n).map(|i| ioc(def, "Md5", &format!("{i:032x}"), "Equals")).collect::<Vec<_>>()});

    let reply = request("POST", &server.api("IndicatorsOfCompromise/Actions.BulkUpload")).bearer(&t.token).json(&bulk(0, 8)).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_over_quota(&server, &t.token, "a bulk of 3 onto 8 of 10", "POST", "IndicatorsOfCompromise/Actions.BulkUpload", bulk(8, 3));
    create_ioc(&server, &t.token, def, "Md5", &format!("{:032x}", 100), "Equals");
    create_ioc(&server, &t.token, def, "Md5", &format!("{:032x}", 101), "Equals");
    assert_over_quota(&server, &t.token, "an 11th IOC", "POST", "IndicatorsOfCompromise", ioc(def, "Md5", &format!("{:032x}", 102), "Equals"));
    assert_eq!(count(&server, &t.token, "IndicatorsOfCompromise"), 10);

    // Raising the quota while the server runs takes effect at once.
    set_quotas(&server, "default", &["--max-iocs", "11"]);
    create_ioc(&server, &t.token, def, "Md5", &format!("{:032x}", 102), "Equals");
}

#[test]
fn the_non_equals_quota_is_separate_and_smaller() {
    let server = Server::start();
    let t = server.default_tenant();
    set_quotas(&server, "default", &["--max-iocs", "100", "--max-non-equals-iocs", "2"]);
    let def = create_definition(&server, &t.token, "Non-Equals quota");

    create_ioc(&server, &t.token, def, "DomainName", "one.example", "EndWith");
    let bulk = json!({"iocs": [
        ioc(def, "DomainName", "two.example", "EndWith"),
        ioc(def, "Url", "http://three.example/", "StartWith"),
    ]});
    assert_over_quota(&server, &t.token, "two non-Equals onto one of two", "POST", "IndicatorsOfCompromise/Actions.BulkUpload", bulk);

    // Equals IOCs do not count against it.
    let equals: Vec<Value> = (0..20).map(|i| ioc(def, "DomainName", &format!("host{i}.example"), "Equals")).collect();
    let reply = request("POST", &server.api("IndicatorsOfCompromise/Actions.BulkUpload")).bearer(&t.token).json(&json!({"iocs": equals})).send();
    assert_eq!(reply.status, 200, "{}", reply.text);

    create_ioc(&server, &t.token, def, "FileName", "evil", "StartWith");
    assert_over_quota(&server, &t.token, "a third non-Equals IOC", "POST", "IndicatorsOfCompromise", ioc(def, "FileName", "bad", "Contains"));
    // Turning an Equals IOC into a non-Equals one counts too.
    let equals_id = list_all(&server, &t.token, "IndicatorsOfCompromise")
        .iter()
        .find(|i| i["DetectionFunction"] == "Equals")
        .and_then(|i| i["Id"].as_i64())
        .unwrap();
    assert_over_quota(&server, &t.token, "PATCH to EndWith at the quota", "PATCH", &format!("IndicatorsOfCompromise({equals_id})"), json!({"DetectionFunction": "EndWith"}));
    assert_eq!(count(&server, &t.token, "IndicatorsOfCompromise"), 22);
}
