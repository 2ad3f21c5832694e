//! Shared fixtures for the unit tests: RSA keys are generated once per test binary because
//! 2048-bit generation is slow in debug builds.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::keys::{generate_signing_key, SigningKey};
use crate::token::{TokenRequest, ROLE_TI_READWRITE};

/// The fixed "now" of the tests, in Unix seconds (2023-11-14).
pub fn t0() -> i64 {
    1_700_000_000
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("valid timestamp")
}

pub fn key_a() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| generate_signing_key(at(t0() - 3600)).expect("keygen"))
}

pub fn key_b() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| generate_signing_key(at(t0())).expect("keygen"))
}

pub fn with_created_at(key: &SigningKey, secs: i64) -> SigningKey {
    SigningKey {
        created_at: at(secs),
        ..key.clone()
    }
}

pub fn accepted() -> Vec<String> {
    vec![
        "https://graph.windows.net".into(),
        "https://graph.microsoft.com".into(),
    ]
}

pub fn request() -> TokenRequest {
    TokenRequest {
        issuer: "https://openti.example/0b5c2a4e-8f0e-4c53-9d63-8f3f3f2f1a11/".into(),
        audience: "https://graph.windows.net".into(),
        tenant_id: uuid::Uuid::new_v4(),
        app_id: uuid::Uuid::new_v4(),
        roles: vec![ROLE_TI_READWRITE.into()],
        now: at(t0()),
        lifetime: Duration::minutes(60),
    }
}

pub fn b64_json(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
}

/// Builds a compact JWS by hand, with whatever header the test wants, so attack tokens are
/// not limited to what a JWT library agrees to produce.
pub fn sign_parts(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("sign");
    format!("{input}.{sig}")
}
