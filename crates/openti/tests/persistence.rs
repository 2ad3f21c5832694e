//! Persistence (SPEC A.2, D): what the API acknowledged, the signing key and unexpired
//! tokens survive a SIGKILL and a restart on the same data directory; and no secret or token
//! ever reaches the server's log.

mod common;

use common::*;
use serde_json::{json, Value};

fn jwks(server: &Server, tenant: &str) -> Value {
    http().get(format!("{}/{tenant}/discovery/keys", server.url)).send().unwrap().json().unwrap()
}

#[test]
fn data_keys_and_tokens_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let a = server.default_tenant();
    let b = server.new_tenant("tenant-b");
    let details_before = server.details();

    // A bit of everything: single and bulk creates, an update, a rebinding, deletes.
    let def = create_definition(&server, &a.token, "Survives a crash");
    let def2 = create_definition(&server, &a.token, "Rebinding target");
    let doomed = create_definition(&server, &a.token, "Deleted before the crash");
    let ioc = create_ioc(&server, &a.token, def, "IpAddress", "203.0.113.0/24", "Equals");
    let bulk: Vec<Value> = (0..100)
        .map(|i| json!({"Type": "Sha256", "Value": format!("{i:064x}"), "AlertDefinition@odata.bind": format!("AlertDefinitions({def})")}))
        .collect();
    let (status, body) = call("POST", &server.api("IndicatorsOfCompromise/Actions.BulkUpload"), &a.token, Some(json!({"iocs": bulk})));
    assert_eq!(status, 200, "{body}");
    let (status, _) = call("PATCH", &server.api(&format!("AlertDefinitions({def})")), &a.token, Some(json!({"Severity": "High", "Enabled": "false"})));
    assert_eq!(status, 200);
    let (status, _) = call("PUT", &server.api(&format!("IndicatorsOfCompromise({ioc})/AlertDefinition/$ref")), &a.token, Some(json!({"@odata.id": format!("AlertDefinitions({def2})")})));
    assert_eq!(status, 204);
    assert_eq!(call("DELETE", &server.api(&format!("AlertDefinitions({doomed})")), &a.token, None).0, 204);
    create_definition(&server, &b.token, "B's, also durable");
    // The last write before the kill: acknowledged means durable.
    let last = create_ioc(&server, &a.token, def2, "DomainName", "last-write.example", "EndWith");

    let a_before = snapshot(&server, &a.token);
    let b_before = snapshot(&server, &b.token);
    let keys_before = jwks(&server, "default");

    server.kill();
    let server = Server::start_in(dir.path(), &[]);

    assert!(!server.output.lock().unwrap().contains("First start"), "a restart is not a first start");
    assert_eq!(server.details(), details_before, "the details file is kept as it was");
    assert_eq!(jwks(&server, "default"), keys_before, "the same signing keys");
    // The same token strings, issued before the kill, still work.
    assert_eq!(snapshot(&server, &a.token), a_before);
    assert_eq!(snapshot(&server, &b.token), b_before);
    let (status, body) = call("GET", &server.api(&format!("IndicatorsOfCompromise({last})")), &a.token, None);
    assert_eq!((status, body["Value"].as_str()), (200, Some("last-write.example")));
    let (status, body) = call("GET", &server.api(&format!("IndicatorsOfCompromise({ioc})/AlertDefinition")), &a.token, None);
    assert_eq!((status, body["Id"].as_i64()), (200, Some(def2)), "the rebinding survived");
    // New ids do not reuse old ones; the old token may write.
    let after = create_definition(&server, &a.token, "After the restart");
    assert!(after > doomed, "id {after} reuses an id at or below {doomed}");
    // The secrets still work, and new tokens are signed with the same key.
    let fresh = token(&server.url, "default", &a.client_id, &a.secret);
    assert_eq!(jwt_header(&fresh)["kid"], jwt_header(&a.token)["kid"]);
    token(&server.url, "tenant-b", &b.client_id, &b.secret);
}

#[test]
fn no_secret_or_token_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    // The most verbose level of our own crates, as an operator chasing a problem would run.
    let env = [("OPENTI_LOG", "debug")];
    let mut server = Server::start_with_env(dir.path(), &[], &env);
    let mut secrets: Vec<(String, String)> = Vec::new();

    let a = server.default_tenant();
    let b = server.new_tenant("tenant-b");
    secrets.push(("the default client secret".into(), a.secret.clone()));
    secrets.push(("tenant B's client secret".into(), b.secret.clone()));
    secrets.push(("tenant A's token".into(), a.token.clone()));
    secrets.push(("tenant B's token".into(), b.token.clone()));

    let sensor = cli_json(&server.data_dir, &["app", "create", "--tenant", "default", "--name", "sensor", "--roles", "Telemetry.Ingest", "--json"]);
    let sensor_secret = sensor["ClientSecret"].as_str().unwrap().to_string();
    let sensor_token = token(&server.url, "default", sensor["ClientId"].as_str().unwrap(), &sensor_secret);
    secrets.push(("the sensor's secret".into(), sensor_secret));
    secrets.push(("the sensor's token".into(), sensor_token.clone()));

    let added = cli_json(&server.data_dir, &["app", "secret", "add", "--tenant", "default", "--client-id", &a.client_id, "--json"]);
    let added_secret = added["ClientSecret"].as_str().unwrap().to_string();
    secrets.push(("a secret added with the CLI".into(), added_secret.clone()));

    // Tokens by every route: form body, HTTP Basic, the CLI.
    let form_token = token(&server.url, &a.tenant_id, &a.client_id, &added_secret);
    secrets.push(("a token for the added secret".into(), form_token.clone()));
    let basic: Value = http()
        .post(format!("{}/default/oauth2/token", server.url))
        .basic_auth(&a.client_id, Some(&a.secret))
        .form(&[("grant_type", "client_credentials"), ("resource", "https://graph.microsoft.com")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let basic_token = basic["access_token"].as_str().expect("a token through HTTP Basic").to_string();
    secrets.push(("a token through HTTP Basic".into(), basic_token.clone()));
    let out = server.cli(&["token", "--details", dir.path().join("custom-ti-app.json").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    secrets.push(("a token from `openti token`".into(), cli_token.clone()));

    // Failures are logged too; what the client sent must not be.
    let wrong = "wrong-secret-that-must-not-be-logged";
    assert_eq!(token_response(&server.url, "default", &a.client_id, wrong).status(), 401);
    secrets.push(("a wrong secret".into(), wrong.into()));
    let forged = format!("{}.forged-signature", a.token.rsplit_once('.').unwrap().0);
    assert_eq!(call("GET", &server.api("AlertDefinitions"), &forged, None).0, 401);
    secrets.push(("a rejected token".into(), forged));

    // Use every token on the API and ingestion, successes and errors alike.
    for t in [&a.token, &b.token, &form_token, &basic_token, &cli_token] {
        create_definition(&server, t, "Logged request");
        call("GET", &server.api("AlertDefinitions?$filter=Name eq 'x'"), t, None);
        call("GET", &server.api("AlertDefinitions(999999)"), t, None);
        call("POST", &server.api("IndicatorsOfCompromise"), t, Some(json!({"Type": "Sha1", "Value": "bad"})));
    }
    let event = r#"{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"ws-01","RemoteIP":"192.0.2.1"}"#;
    let reply = request("POST", &format!("{}/ingest/v1/events", server.url)).bearer(&sensor_token).body(Some("application/x-ndjson"), event).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    // A token in the query string, where a careless client might put it.
    request("GET", &format!("{}?access_token={}", server.api("AlertDefinitions"), a.token)).send();

    // Restart: the log of a start on existing data must be clean too.
    server.kill();
    let first_log = server.log();
    let mut server = Server::start_with_env(dir.path(), &[], &env);
    call("GET", &server.api("AlertDefinitions"), &a.token, None);
    server.kill();
    let log = format!("{first_log}{}", server.log());

    assert!(log.contains("issued an access token"), "the log should record the token requests at all:\n{log}");
    for (what, secret) in &secrets {
        assert!(!log.contains(secret.as_str()), "{what} appears in the server's log");
        // A token's signature alone is enough to replay it.
        if let Some((_, signature)) = secret.rsplit_once('.') {
            assert!(!log.contains(signature), "the signature of {what} appears in the server's log");
        }
    }
}
