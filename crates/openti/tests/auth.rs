//! Authentication (SPEC A.1–A.3): every bad bearer token is a 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` and an OData error; a token without the
//! role is a 403; expired and revoked secrets are `invalid_client`; failures are braked; the
//! discovery documents describe the keys that really sign; rotation keeps old tokens valid.
//!
//! Tokens that are validly signed but wrong in one claim are forged with the server's own
//! key, read from its store (see `common::Forger`).

mod common;

use chrono::{Duration, Utc};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Asserts that `authorization` (the whole header, or none) is refused on a read and on a
/// write, and that nothing was written.
fn assert_invalid_token(server: &Server, what: &str, authorization: Option<&str>) {
    for (method, body) in [("GET", None), ("POST", Some(definition("Must not be created")))] {
        let mut req = request(method, &server.api("AlertDefinitions"));
        if let Some(value) = authorization {
            req = req.header("Authorization", value);
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let reply = req.send();
        assert_eq!(reply.status, 401, "{what} ({method}): {}", reply.text);
        assert_eq!(
            reply.header("WWW-Authenticate").as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{what} ({method}): the challenge"
        );
        assert_eq!(reply.error().code, "Unauthorized", "{what} ({method})");
    }
}

/// A JWT from a header and claims as JSON and raw signature bytes, without any checks.
fn compact(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes()),
        b64url(signature)
    )
}

#[test]
fn bad_bearer_tokens_get_401_invalid_token() {
    let server = Server::start();
    let a = server.default_tenant();
    let b = server.new_tenant("tenant-b");
    let forger = Forger::server(&server.data_dir);
    let kid = forger.kid().to_string();
    let valid = token_request(&server, &a);
    let header = jwt_header(&a.token);
    let claims = jwt_claims(&a.token);
    let signature = a.token.rsplit('.').next().unwrap().to_string();
    assert_eq!(header["kid"], json!(kid), "the forger signs with the server's active key");

    // The controls: the genuine token works, the bearer scheme in any case, and so does a
    // forged one with nothing wrong in it (so each refusal below is about its one defect).
    assert_eq!(call("GET", &server.api("AlertDefinitions"), &a.token, None).0, 200);
    let lower = request("GET", &server.api("AlertDefinitions")).header("Authorization", &format!("bearer {}", a.token)).send();
    assert_eq!(lower.status, 200, "the scheme is case-insensitive");
    assert_eq!(call("GET", &server.api("AlertDefinitions"), &forger.sign(&valid), None).0, 200);

    let with = |change: &dyn Fn(&mut openti_auth::TokenRequest)| {
        let mut req = valid.clone();
        change(&mut req);
        forger.sign(&req)
    };
    let tampered = |key: &str, value: Value| {
        let mut claims = claims.clone();
        claims[key] = value;
        format!("{}.{}.{signature}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
    };
    let unsigned = |alg: &str| compact(&json!({"typ": "JWT", "alg": alg, "kid": kid}), &claims, b"");
    let server_pem = signing_keys(&server.data_dir).remove(0).private_pem;
    let rs512 = jsonwebtoken::encode(
        &Header { alg: Algorithm::RS512, kid: Some(kid.clone()), ..Header::default() },
        &claims,
        &EncodingKey::from_rsa_pem(server_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let b_tid = b.tenant_id.clone();
    let nobody = uuid_v4();

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("an empty bearer token", Some("Bearer ".into())),
        ("the Basic scheme", Some(format!("Basic {}", b64url(format!("{}:{}", a.client_id, a.secret).as_bytes())))),
        ("a token without a scheme", Some(a.token.clone())),
        ("not a JWT", Some("Bearer not-a-token".into())),
        ("two parts", Some(format!("Bearer {}", a.token.rsplit_once('.').unwrap().0))),
        ("four parts", Some(format!("Bearer {}.xyz", a.token))),
        ("garbage in three parts", Some("Bearer e30.e30.e30".into())),
        ("a truncated signature", Some(format!("Bearer {}", &a.token[..a.token.len() - 4]))),
        ("an empty signature", Some(format!("Bearer {}.", a.token.rsplit_once('.').unwrap().0))),
        ("a very long token", Some(format!("Bearer {}", "a".repeat(64 * 1024)))),
        ("expired a minute ago", Some(format!("Bearer {}", with(&|r| r.now = Utc::now() - Duration::minutes(61))))),
        ("expired long ago", Some(format!("Bearer {}", with(&|r| r.now = Utc::now() - Duration::days(400))))),
        ("not valid for ten minutes", Some(format!("Bearer {}", with(&|r| r.now = Utc::now() + Duration::minutes(10))))),
        ("signed by another key under the server's kid", Some(format!("Bearer {}", Forger::foreign(Some(&kid)).sign(&valid)))),
        ("a kid the server does not have", Some(format!("Bearer {}", Forger::foreign(None).sign(&valid)))),
        ("no kid", Some(format!("Bearer {}", compact(&json!({"typ": "JWT", "alg": "RS256"}), &claims, b"x")))),
        ("tampered roles", Some(format!("Bearer {}", tampered("roles", json!(["Ti.ReadWrite", "Admin"]))))),
        ("tampered expiry", Some(format!("Bearer {}", tampered("exp", json!(4_102_444_800_i64))))),
        ("tampered tenant", Some(format!("Bearer {}", tampered("tid", json!(b_tid))))),
        ("alg none", Some(format!("Bearer {}", unsigned("none")))),
        ("alg None", Some(format!("Bearer {}", unsigned("None")))),
        ("alg none with the real signature", Some(format!("Bearer {}.{signature}", unsigned("none").trim_end_matches('.')))),
        ("RS512 with the server's key", Some(format!("Bearer {rs512}"))),
        ("the audience of another service", Some(format!("Bearer {}", with(&|r| r.audience = "https://evil.example.com".into())))),
        ("an audience that only starts like graph", Some(format!("Bearer {}", with(&|r| r.audience = "https://graph.windows.net.evil.com".into())))),
        ("a tenant that does not exist", Some(format!("Bearer {}", with(&|r| {
            r.tenant_id = nobody.parse().unwrap();
            r.issuer = format!("{}/{nobody}/", server.url);
        })))),
        ("tid and iss disagree", Some(format!("Bearer {}", with(&|r| r.issuer = format!("{}/{b_tid}/", server.url))))),
        ("tenant B's tid on tenant A's application", Some(format!("Bearer {}", with(&|r| {
            r.tenant_id = b_tid.parse().unwrap();
            r.issuer = format!("{}/{b_tid}/", server.url);
        })))),
        ("an application that does not exist", Some(format!("Bearer {}", with(&|r| r.app_id = nobody.parse().unwrap())))),
    ];
    for (what, authorization) in &cases {
        assert_invalid_token(&server, what, authorization.as_deref());
    }
    assert_eq!(count(&server, &a.token, "AlertDefinitions"), 0, "a refused token wrote something");
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[test]
fn hs256_keyed_with_the_published_public_key_is_refused() {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    use rsa::{BigUint, RsaPublicKey};

    let server = Server::start();
    let a = server.default_tenant();
    let jwks: Value = http().get(format!("{}/{}/discovery/keys", server.url, a.tenant_id)).send().unwrap().json().unwrap();
    let jwk = &jwks["keys"][0];
    let kid = jwk["kid"].as_str().unwrap();
    let decode = |field: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwk[field].as_str().unwrap()).unwrap()
    };
    let public = RsaPublicKey::new(BigUint::from_bytes_be(&decode("n")), BigUint::from_bytes_be(&decode("e"))).unwrap();

    // Every way a confused verifier might turn the public key into an HMAC secret.
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("SPKI PEM", public.to_public_key_pem(LineEnding::LF).unwrap().into_bytes()),
        ("SPKI PEM, CRLF", public.to_public_key_pem(LineEnding::CRLF).unwrap().into_bytes()),
        ("PKCS#1 PEM", public.to_pkcs1_pem(LineEnding::LF).unwrap().into_bytes()),
        ("SPKI DER", public.to_public_key_der().unwrap().as_bytes().to_vec()),
        ("PKCS#1 DER", public.to_pkcs1_der().unwrap().as_bytes().to_vec()),
        ("the JWK JSON", jwk.to_string().into_bytes()),
        ("the modulus", decode("n")),
    ];
    // The genuine token's claims: the algorithm is the only thing wrong.
    let claims = jwt_claims(&a.token);
    for (what, secret) in secrets {
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let header = Header { alg, kid: Some(kid.to_string()), ..Header::default() };
            let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            assert_invalid_token(&server, &format!("{alg:?} keyed with the {what}"), Some(&format!("Bearer {forged}")));
        }
    }
}

#[test]
fn a_sensor_token_is_forbidden_on_the_ti_api() {
    let server = Server::start();
    let sensor = server.sensor_token("default");
    assert_eq!(jwt_claims(&sensor)["roles"], json!(["Telemetry.Ingest"]));

    for (method, path, body) in [
        ("GET", "AlertDefinitions", None),
        ("GET", "IndicatorsOfCompromise?$count=true", None),
        ("POST", "AlertDefinitions", Some(definition("From a sensor"))),
        ("DELETE", "IndicatorsOfCompromise", None),
    ] {
        let mut req = request(method, &server.api(path)).bearer(&sensor);
        if let Some(body) = &body {
            req = req.json(body);
        }
        let reply = req.send();
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text);
        assert_eq!(reply.error().code, "Forbidden");
        assert!(reply.header("WWW-Authenticate").is_none(), "a valid token is not challenged");
    }
    // The token itself is good: it may do what its role allows.
    let event = r#"{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"ws-01","RemoteIP":"192.0.2.1"}"#;
    let reply = request("POST", &format!("{}/ingest/v1/events", server.url)).bearer(&sensor).body(Some("application/x-ndjson"), event).send();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["accepted"], 1);
    // And the custom TI application, which may use the API, may not ingest.
    let ti = server.default_tenant();
    let reply = request("POST", &format!("{}/ingest/v1/events", server.url)).bearer(&ti.token).body(Some("application/x-ndjson"), event).send();
    assert_eq!(reply.status, 403, "{}", reply.text);
}

/// Asserts the token endpoint refuses a secret with `invalid_client`.
fn assert_invalid_client(server: &Server, tenant: &str, client_id: &str, secret: &str, what: &str) {
    let response = token_response(&server.url, tenant, client_id, secret);
    assert_eq!(response.status(), 401, "{what}");
    let body: Value = response.json().unwrap();
    assert_eq!(body["error"], "invalid_client", "{what}: {body}");
    assert!(body.get("access_token").is_none());
}

#[test]
fn expired_and_revoked_secrets_get_invalid_client() {
    let server = Server::start();
    let a = server.default_tenant();
    let add = |expires: &str| {
        cli_json(&server.data_dir, &["app", "secret", "add", "--tenant", "default", "--client-id", &a.client_id, "--expires", expires, "--json"])
    };

    let expired = add("2020-01-01T00:00:00Z");
    assert_eq!(expired["ExpiresAt"], "2020-01-01T00:00:00Z");
    assert_invalid_client(&server, "default", &a.client_id, expired["ClientSecret"].as_str().unwrap(), "an already expired secret");

    let revoked = add("never");
    let revoked_secret = revoked["ClientSecret"].as_str().unwrap();
    token(&server.url, "default", &a.client_id, revoked_secret);
    let out = server.cli(&["app", "secret", "revoke", "--tenant", "default", "--client-id", &a.client_id, "--secret-id", revoked["SecretId"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_invalid_client(&server, "default", &a.client_id, revoked_secret, "a revoked secret");

    // A wrong secret, a secret of the right client at another tenant, an unknown client.
    assert_invalid_client(&server, "default", &a.client_id, "not-the-secret", "a wrong secret");
    let b = server.new_tenant("tenant-b");
    assert_invalid_client(&server, "tenant-b", &a.client_id, &a.secret, "tenant A's client at tenant B");
    assert_invalid_client(&server, &b.tenant_id, &uuid_v4(), &b.secret, "an unknown client id");

    // The original secret is untouched by all of this.
    token(&server.url, "default", &a.client_id, &a.secret);
}

#[test]
fn repeated_failures_are_rate_limited() {
    let server = Server::start();
    let a = server.default_tenant();
    let mut statuses = Vec::new();
    let limited = loop {
        let response = token_response(&server.url, "default", &a.client_id, "a-wrong-guess");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 401);
        assert!(statuses.len() < 50, "no 429 after {} failures", statuses.len());
    };
    assert!(statuses.len() > 3, "limited too early: {statuses:?}");
    let retry_after: u64 = limited.headers()["Retry-After"].to_str().unwrap().parse().expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    let body: Value = limited.json().unwrap();
    assert!(body["error"].is_string(), "an OAuth error body: {body}");
    // While the brake is on, even the right secret waits.
    assert_eq!(token_response(&server.url, "default", &a.client_id, &a.secret).status(), 429);
}

#[test]
fn discovery_documents_describe_the_signing_keys() {
    let server = Server::start();
    let a = server.default_tenant();
    for tenant in [a.tenant_id.as_str(), "default"] {
        let config: Value = http().get(format!("{}/{tenant}/.well-known/openid-configuration", server.url)).send().unwrap().json().unwrap();
        assert_eq!(config["issuer"], json!(format!("{}/{}/", server.url, a.tenant_id)));
        assert_eq!(config["token_endpoint"], json!(format!("{}/{}/oauth2/token", server.url, a.tenant_id)));
        let jwks: Value = http().get(config["jwks_uri"].as_str().unwrap()).send().unwrap().json().unwrap();

        // The token's kid is published, and the published key verifies the token.
        let kid = jwt_header(&a.token)["kid"].as_str().unwrap().to_string();
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == json!(kid)).expect("the token's kid is in the JWKS");
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        let key = jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://graph.windows.net"]);
        validation.set_issuer(&[config["issuer"].as_str().unwrap()]);
        let verified = jsonwebtoken::decode::<Value>(&a.token, &key, &validation).expect("the JWKS key verifies the token");
        assert_eq!(verified.claims["tid"], json!(a.tenant_id));
        assert_eq!(verified.claims["appid"], json!(a.client_id));
    }
    let reply = request("GET", &format!("{}/{}/discovery/keys", server.url, uuid_v4())).send();
    assert_eq!(reply.status, 404, "an unknown tenant has no keys");
}

fn kids(server: &Server, tenant: &str) -> Vec<String> {
    let jwks: Value = http().get(format!("{}/{tenant}/discovery/keys", server.url)).send().unwrap().json().unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[test]
fn rotating_the_key_while_serving_keeps_old_tokens_valid() {
    let server = Server::start();
    let a = server.default_tenant();
    let old = a.token.clone();
    let old_kid = jwt_header(&old)["kid"].as_str().unwrap().to_string();

    let out = server.cli(&["key", "rotate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let new = token(&server.url, "default", &a.client_id, &a.secret);
    let new_kid = jwt_header(&new)["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid, "new tokens are signed with the new key");
    let published = kids(&server, "default");
    assert!(published.contains(&old_kid) && published.contains(&new_kid), "both keys are published: {published:?}");
    assert_eq!(published[0], new_kid, "newest first");
    for (what, t) in [("the old token", &old), ("the new token", &new)] {
        let (status, body) = call("GET", &server.api("AlertDefinitions"), t, None);
        assert_eq!(status, 200, "{what}: {body}");
    }
}
