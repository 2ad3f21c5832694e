//! The command line (SPEC A.1, D): the exact `--json` shapes scripts rely on, secrets shown
//! once and managed while `serve` runs on the same data directory, the first start's saved
//! details, health endpoints, and one-line errors.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

fn keys(value: &Value) -> BTreeSet<&str> {
    value.as_object().unwrap_or_else(|| panic!("not a JSON object: {value}")).keys().map(String::as_str).collect()
}

fn set(keys: &[&'static str]) -> BTreeSet<&'static str> {
    keys.iter().copied().collect()
}

fn api_status(server: &Server, token: &str) -> u16 {
    call("GET", &server.api("AlertDefinitions"), token, None).0
}

#[test]
fn json_outputs_have_exactly_the_documented_keys() {
    let server = Server::start();
    let dir = &server.data_dir;

    let tenant = cli_json(dir, &["tenant", "create", "contoso", "--json"]);
    assert_eq!(keys(&tenant), set(&["TenantId", "Name"]));
    assert_eq!(tenant["Name"], "contoso");
    let tenant_id = tenant["TenantId"].as_str().unwrap().to_string();
    uuid::Uuid::parse_str(&tenant_id).expect("TenantId is a GUID");

    // By name and by id.
    for (tenant_arg, name) in [("contoso", "contoso"), ("fabrikam", "fabrikam")] {
        if name == "fabrikam" {
            cli_json(dir, &["tenant", "create", "fabrikam", "--json"]);
        }
        let enabled = cli_json(dir, &["app", "enable", "--tenant", tenant_arg, "--public-url", &server.url, "--json"]);
        assert_eq!(
            keys(&enabled),
            set(&["TenantId", "ApplicationName", "ClientId", "ClientSecret", "AuthorizationUrl", "Resource", "ApiUrl"])
        );
        let tid = enabled["TenantId"].as_str().unwrap();
        assert_eq!(enabled["AuthorizationUrl"].as_str().unwrap(), format!("{}/{tid}/oauth2/token", server.url));
        assert_eq!(enabled["ApiUrl"].as_str().unwrap(), format!("{}/V1.0/", server.url));
        assert_eq!(enabled["Resource"], "https://graph.windows.net");
        // The values work against the running server, as a client script would use them.
        let response = http()
            .post(enabled["AuthorizationUrl"].as_str().unwrap())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", enabled["ClientId"].as_str().unwrap()),
                ("client_secret", enabled["ClientSecret"].as_str().unwrap()),
                ("resource", enabled["Resource"].as_str().unwrap()),
            ])
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let t: Value = response.json().unwrap();
        let reply = request("GET", &format!("{}AlertDefinitions", enabled["ApiUrl"].as_str().unwrap())).bearer(t["access_token"].as_str().unwrap()).send();
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let by_id = cli_json(dir, &["app", "create", "--tenant", &tenant_id, "--name", "sensor-1", "--roles", "Telemetry.Ingest", "--json"]);
    assert_eq!(keys(&by_id), set(&["TenantId", "ClientId", "ClientSecret", "Roles"]));
    assert_eq!(by_id["TenantId"].as_str(), Some(tenant_id.as_str()));
    assert_eq!(by_id["Roles"], serde_json::json!(["Telemetry.Ingest"]));
    let sensor = token(&server.url, "contoso", by_id["ClientId"].as_str().unwrap(), by_id["ClientSecret"].as_str().unwrap());
    assert_eq!(api_status(&server, &sensor), 403, "a sensor may not use the TI API");

    let quotas = cli_json(dir, &["tenant", "quota", "--tenant", "contoso", "--max-iocs", "500", "--json"]);
    assert_eq!(keys(&quotas), set(&["TenantId", "Name", "MaxDefinitions", "MaxIocs", "MaxNonEqualsIocs"]));
    assert_eq!(quotas["MaxIocs"], 500);
    assert_eq!(cli_json(dir, &["tenant", "quota", "--tenant", &tenant_id, "--json"])["MaxIocs"], 500, "the change is stored");
}

#[test]
fn enabling_twice_is_a_one_line_error_pointing_to_secret_add() {
    let server = Server::start();
    let error = cli_error(&server.data_dir, &["app", "enable", "--tenant", "default", "--json"]);
    assert!(error.contains("app secret add"), "{error}");
    // The first secret is not replaced.
    let a = server.default_tenant();
    assert_eq!(api_status(&server, &a.token), 200);
}

#[test]
fn several_secrets_are_valid_at_once_and_a_revoked_one_is_refused() {
    let server = Server::start();
    let a = server.default_tenant();
    let dir = &server.data_dir;
    let add = |description: &str, expires: &str| {
        let s = cli_json(dir, &["app", "secret", "add", "--tenant", "default", "--client-id", &a.client_id, "--description", description, "--expires", expires, "--json"]);
        (s["SecretId"].as_str().unwrap().to_string(), s["ClientSecret"].as_str().unwrap().to_string())
    };
    let (one_year_id, one_year) = add("rotation 2026", "1y");
    let (_, forever) = add("break-glass", "never");

    // Three secrets, each good for a token, at the same time.
    for secret in [&a.secret, &one_year, &forever] {
        let t = token(&server.url, "default", &a.client_id, secret);
        assert_eq!(api_status(&server, &t), 200);
    }

    let out = server.cli(&["app", "secret", "list", "--tenant", "default", "--client-id", &a.client_id, "--json"]);
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Value> = serde_json::from_str(&listing).unwrap();
    assert_eq!(rows.len(), 3, "{listing}");
    for secret in [&a.secret, &one_year, &forever] {
        assert!(!listing.contains(secret.as_str()), "the listing shows a secret's value");
    }
    assert!(!listing.contains("$argon2"), "the listing shows a hash");
    // The human listing too.
    let out = server.cli(&["app", "secret", "list", "--tenant", "default", "--client-id", &a.client_id]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("break-glass") && text.contains("never"), "{text}");

    let out = server.cli(&["app", "secret", "revoke", "--tenant", "default", "--client-id", &a.client_id, "--secret-id", &one_year_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response = token_response(&server.url, "default", &a.client_id, &one_year);
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().unwrap()["error"], "invalid_client");
    // The others are untouched.
    token(&server.url, "default", &a.client_id, &a.secret);
    token(&server.url, "default", &a.client_id, &forever);
    // Revoking again is an error.
    let error = cli_error(dir, &["app", "secret", "revoke", "--tenant", "default", "--client-id", &a.client_id, "--secret-id", &one_year_id]);
    assert!(error.contains(&one_year_id), "{error}");
}

#[test]
fn token_prints_a_token_that_works() {
    let server = Server::start();
    let details = server.data_dir.join("custom-ti-app.json");
    let out = server.cli(&["token", "--details", details.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the token, for TOKEN=$(openti token …)");
    assert_eq!(api_status(&server, stdout.trim()), 200);

    // The explicit form, against the same server.
    let a = server.default_tenant();
    let out = server.cli(&["token", "--url", &server.url, "--tenant", "default", "--client-id", &a.client_id, "--client-secret", &a.secret]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(api_status(&server, String::from_utf8(out.stdout).unwrap().trim()), 200);

    // A wrong secret: one line saying why, and no token.
    let error = cli_error(&server.data_dir, &["token", "--url", &server.url, "--tenant", "default", "--client-id", &a.client_id, "--client-secret", "wrong"]);
    assert!(error.contains("invalid_client"), "{error}");
}

#[cfg(unix)]
#[test]
fn first_start_saves_the_details_privately_and_says_how_to_begin() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let path = dir.path().join("custom-ti-app.json");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let details = server.details();
    assert_eq!(
        keys(&details),
        set(&["TenantId", "ApplicationName", "ClientId", "ClientSecret", "AuthorizationUrl", "Resource", "ApiUrl"])
    );
    assert_eq!(details["AuthorizationUrl"].as_str().unwrap(), format!("{}/{}/oauth2/token", server.url, details["TenantId"].as_str().unwrap()));

    // The lines after "listening on" may still be on their way through the pipe.
    let output = eventually("the getting-started lines", || {
        let output = server.output.lock().unwrap().clone();
        output.contains("curl ").then_some(output)
    });
    for expected in [
        format!("Token URL: {}/{{tenant}}/oauth2/token", server.url),
        format!("API URL:   {}/V1.0/", server.url),
        format!("curl -H \"Authorization: Bearer $TOKEN\" {}/V1.0/AlertDefinitions", server.url),
        format!("token --details {}", path.display()),
    ] {
        assert!(output.contains(&expected), "the first start should print {expected:?}:\n{output}");
    }

    // A second start keeps the file and does not create another tenant.
    let saved = std::fs::read(&path).unwrap();
    server.kill();
    let server = Server::start_in(dir.path(), &[]);
    assert_eq!(std::fs::read(&path).unwrap(), saved);
    assert!(!server.output.lock().unwrap().contains("First start"));
    let tenants: Value = cli_json(dir.path(), &["tenant", "list", "--json"]);
    assert_eq!(tenants.as_array().unwrap().len(), 1);
}

#[test]
fn health_endpoints_answer() {
    let server = Server::start();
    for path in ["/healthz", "/readyz"] {
        let reply = request("GET", &format!("{}{path}", server.url)).send();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    cli_json(dir, &["tenant", "create", "contoso", "--json"]);
    let nobody = uuid::Uuid::new_v4().to_string();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["tenant", "create", "x", "--bogus"], "--bogus"),
        (vec!["--bogus", "tenant", "list"], "--bogus"),
        (vec!["frobnicate"], "frobnicate"),
        (vec!["tenant", "create"], "NAME"),
        (vec!["tenant", "create", "bad name"], "bad name"),
        (vec!["tenant", "create", "contoso"], "contoso"),
        (vec!["app", "enable", "--tenant", "nosuch"], "nosuch"),
        (vec!["app", "create", "--tenant", "contoso", "--name", "x", "--roles", "Root"], "Root"),
        (vec!["app", "secret", "add", "--tenant", "contoso", "--client-id", "not-a-guid"], "not-a-guid"),
        (vec!["app", "secret", "add", "--tenant", "contoso", "--client-id", &nobody], &nobody),
        (vec!["app", "secret", "add", "--tenant", "contoso", "--client-id", &nobody, "--expires", "someday"], "someday"),
        (vec!["tenant", "quota", "--tenant", "contoso", "--max-iocs", "-3"], "-3"),
        (vec!["tenant", "quota", "--tenant", "contoso", "--max-iocs", "lots"], "lots"),
        (vec!["token"], "--details"),
    ];
    for (args, mentions) in &cases {
        let error = cli_error(dir, args);
        assert!(error.starts_with("openti: "), "{args:?}: {error}");
        assert!(error.contains(mentions), "{args:?}: the error should mention {mentions:?}: {error}");
    }
}
