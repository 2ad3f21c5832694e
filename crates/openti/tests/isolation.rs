//! Tenant isolation (SPEC A.1, A.4): tenant B's token on tenant A's ids gets 404 (400 for a
//! binding, an empty list for a query) on every route, never A's data, and A's data is the
//! same afterwards. A's ids look exactly like ids that do not exist (no enumeration).

mod common;

use common::*;
use serde_json::{json, Value};

/// What B must get back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 404 NotFound.
    NotFound,
    /// 400 naming the binding.
    BadBinding,
    /// 200 with an empty `value`.
    EmptyList,
    /// 200 with exactly B's own entities in `value`, or `$count` text equal to B's count.
    OnlyB(usize),
    /// 204: a bulk delete that only reaches B's own entities.
    NoContent,
}

/// Text that appears only in tenant A's data: no reply to B may contain it.
const A_MARKER: &str = "tenant-a-only";

#[test]
fn tenant_b_never_reaches_tenant_a() {
    let server = Server::start();
    let a = server.default_tenant();
    let b = server.new_tenant("tenant-b");

    // Tenant A: two definitions, three IOCs, all marked.
    let a_def = create_definition(&server, &a.token, &format!("{A_MARKER} definition 1"));
    let a_def2 = create_definition(&server, &a.token, &format!("{A_MARKER} definition 2"));
    let a_ioc = create_ioc(&server, &a.token, a_def, "DomainName", &format!("{A_MARKER}.example"), "EndWith");
    let a_ioc2 = create_ioc(&server, &a.token, a_def, "Url", &format!("http://{A_MARKER}.example/x"), "StartWith");
    create_ioc(&server, &a.token, a_def2, "FileName", &format!("{A_MARKER}.exe"), "Equals");
    // Tenant B: one of each.
    let b_def = create_definition(&server, &b.token, "B's definition");
    let b_ioc = create_ioc(&server, &b.token, b_def, "Sha1", &"b".repeat(40), "Equals");
    let a_before = snapshot(&server, &a.token);

    let bind_a = json!(format!("AlertDefinitions({a_def})"));
    let b_ioc_body = |bind: &Value| json!({"Type": "Sha1", "Value": "c".repeat(40), "AlertDefinition@odata.bind": bind});
    let def_put = definition("B overwrites");
    let ioc_put = json!({"Type": "Sha1", "Value": "d".repeat(40), "DetectionFunction": "Equals"});

    use Expect::*;
    let routes: Vec<(&str, String, Option<Value>, Expect)> = vec![
        // By key.
        ("GET", format!("AlertDefinitions({a_def})"), None, NotFound),
        ("GET", format!("IndicatorsOfCompromise({a_ioc})"), None, NotFound),
        ("GET", format!("AlertDefinitions({a_def})?$expand=IndicatorsOfCompromise"), None, NotFound),
        ("GET", format!("IndicatorsOfCompromise({a_ioc})?$select=Value&$expand=AlertDefinition"), None, NotFound),
        ("PATCH", format!("AlertDefinitions({a_def})"), Some(json!({"Title": "B was here"})), NotFound),
        ("PATCH", format!("IndicatorsOfCompromise({a_ioc})"), Some(json!({"Enabled": false})), NotFound),
        ("PATCH", format!("IndicatorsOfCompromise({a_ioc2})"), Some(json!({"AlertDefinition@odata.bind": format!("AlertDefinitions({b_def})")})), NotFound),
        ("PUT", format!("AlertDefinitions({a_def})"), Some(def_put), NotFound),
        ("PUT", format!("IndicatorsOfCompromise({a_ioc})"), Some(ioc_put), NotFound),
        // Navigations, both ways, and references.
        ("GET", format!("IndicatorsOfCompromise({a_ioc})/AlertDefinition"), None, NotFound),
        ("GET", format!("AlertDefinitions({a_def})/IndicatorsOfCompromise"), None, NotFound),
        ("GET", format!("AlertDefinitions({a_def})/IndicatorsOfCompromise/$count"), None, NotFound),
        ("GET", format!("AlertDefinitions({a_def})/IndicatorsOfCompromise?$filter=Id eq {a_ioc}"), None, NotFound),
        ("GET", format!("IndicatorsOfCompromise({a_ioc})/AlertDefinition/$ref"), None, NotFound),
        ("PUT", format!("IndicatorsOfCompromise({a_ioc})/AlertDefinition/$ref"), Some(json!({"@odata.id": format!("AlertDefinitions({b_def})")})), NotFound),
        // Binding B's own IOCs to A's definition.
        ("PUT", format!("IndicatorsOfCompromise({b_ioc})/AlertDefinition/$ref"), Some(json!({"@odata.id": server.api(&format!("AlertDefinitions({a_def})"))})), BadBinding),
        ("PATCH", format!("IndicatorsOfCompromise({b_ioc})"), Some(json!({"AlertDefinition@odata.bind": bind_a})), BadBinding),
        ("POST", "IndicatorsOfCompromise".into(), Some(b_ioc_body(&bind_a)), BadBinding),
        ("POST", "IndicatorsOfCompromise/Actions.BulkUpload".into(), Some(json!({"iocs": [b_ioc_body(&json!(format!("AlertDefinitions({b_def})"))), b_ioc_body(&bind_a)]})), BadBinding),
        // Actions.
        ("POST", format!("AlertDefinitions({a_def})/Actions.DeleteIOCs"), None, NotFound),
        // Queries: A's ids filter to nothing; counts and expansions see only B.
        ("GET", format!("AlertDefinitions?$filter=Id eq {a_def}"), None, EmptyList),
        ("GET", format!("AlertDefinitions?$filter=Id in ({a_def}, {a_def2})&$count=true"), None, EmptyList),
        ("GET", format!("IndicatorsOfCompromise?$filter=Id eq {a_ioc} or Id eq {a_ioc2}"), None, EmptyList),
        ("GET", format!("IndicatorsOfCompromise?$filter=AlertDefinitionId eq {a_def}"), None, EmptyList),
        ("GET", format!("IndicatorsOfCompromise?$filter=contains(Value, '{A_MARKER}')"), None, EmptyList),
        ("GET", format!("AlertDefinitions?$filter=IndicatorsOfCompromise/any(i: i/Id eq {a_ioc})"), None, EmptyList),
        ("GET", "AlertDefinitions?$count=true".into(), None, OnlyB(1)),
        ("GET", "IndicatorsOfCompromise?$count=true".into(), None, OnlyB(1)),
        ("GET", "AlertDefinitions/$count".into(), None, OnlyB(1)),
        ("GET", "IndicatorsOfCompromise/$count".into(), None, OnlyB(1)),
        ("GET", "AlertDefinitions?$expand=IndicatorsOfCompromise".into(), None, OnlyB(1)),
        ("GET", "IndicatorsOfCompromise?$expand=AlertDefinition".into(), None, OnlyB(1)),
        ("GET", "AlertDefinitions?$orderby=Id desc&$top=10&$skip=0".into(), None, OnlyB(1)),
        // Deletes by key; then B's bulk deletes, which must stop at B's own data.
        ("DELETE", format!("IndicatorsOfCompromise({a_ioc})"), None, NotFound),
        ("DELETE", format!("AlertDefinitions({a_def})"), None, NotFound),
        ("DELETE", "IndicatorsOfCompromise".into(), None, NoContent),
        ("DELETE", "AlertDefinitions".into(), None, NoContent),
    ];

    for (method, path, body, expect) in &routes {
        let what = format!("{method} {path}");
        let mut req = request(method, &server.api(path)).bearer(&b.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let reply = req.send();
        assert!(!reply.text.contains(A_MARKER), "{what}: B saw A's data: {}", reply.text);
        assert!(!reply.text.contains(&a.tenant_id), "{what}: B saw A's tenant id: {}", reply.text);
        match expect {
            NotFound => {
                assert_eq!(reply.status, 404, "{what}: {}", reply.text);
                assert_eq!(reply.error().code, "NotFound", "{what}");
            }
            BadBinding => {
                assert_eq!(reply.status, 400, "{what}: {}", reply.text);
                let target = reply.error().target.unwrap_or_default();
                assert!(target.ends_with("@odata.bind") || target == "@odata.id", "{what}: target {target}");
            }
            EmptyList => {
                assert_eq!(reply.status, 200, "{what}: {}", reply.text);
                assert_eq!(reply.json["value"], json!([]), "{what}");
                if let Some(n) = reply.json.get("@odata.count") {
                    assert_eq!(n, 0, "{what}");
                }
            }
            OnlyB(n) => {
                assert_eq!(reply.status, 200, "{what}: {}", reply.text);
                match reply.json.get("value") {
                    Some(rows) => {
                        let rows = rows.as_array().unwrap();
                        assert_eq!(rows.len(), *n, "{what}: {}", reply.text);
                        if let Some(count) = reply.json.get("@odata.count") {
                            assert_eq!(count, &json!(n), "{what}");
                        }
                    }
                    None => assert_eq!(reply.text.trim(), n.to_string(), "{what}: $count"),
                }
            }
            NoContent => assert_eq!(reply.status, 204, "{what}: {}", reply.text),
        }
    }

    // A sees exactly what it had; B's bulk deletes emptied only B.
    assert_eq!(snapshot(&server, &a.token), a_before, "tenant A's data changed");
    assert_eq!(count(&server, &b.token, "AlertDefinitions"), 0);
    assert_eq!(count(&server, &b.token, "IndicatorsOfCompromise"), 0);
}

#[test]
fn another_tenants_key_looks_like_a_missing_key() {
    let server = Server::start();
    let a = server.default_tenant();
    let b = server.new_tenant("tenant-b");
    let a_def = create_definition(&server, &a.token, "A's");
    let a_ioc = create_ioc(&server, &a.token, a_def, "Md5", &"a".repeat(32), "Equals");
    // Far above any id in use: a key that exists in no tenant.
    let missing = a_def.max(a_ioc) + 1_000_000;

    for (set, existing) in [("AlertDefinitions", a_def), ("IndicatorsOfCompromise", a_ioc)] {
        for method in ["GET", "DELETE"] {
            let foreign = request(method, &server.api(&format!("{set}({existing})"))).bearer(&b.token).send();
            let absent = request(method, &server.api(&format!("{set}({missing})"))).bearer(&b.token).send();
            assert_eq!(foreign.status, absent.status, "{method} {set}");
            let (foreign, absent) = (foreign.error(), absent.error());
            assert_eq!(foreign.code, absent.code, "{method} {set}");
            assert_eq!(
                foreign.message.replace(&existing.to_string(), "N"),
                absent.message.replace(&missing.to_string(), "N"),
                "{method} {set}: the message tells A's key from a missing one"
            );
        }
    }
    // And A still has both.
    assert_eq!(call("GET", &server.api(&format!("IndicatorsOfCompromise({a_ioc})")), &a.token, None).0, 200);
}
