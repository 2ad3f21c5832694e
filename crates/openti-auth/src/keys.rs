//! RSA signing keys, the key ring, and the JWKS document.
//!
//! Keys persist in the store as [`SigningKey`] rows (PEM text) so tokens survive a restart. At
//! start-up, and after each rotation, the server builds a [`KeyRing`] from all rows: the newest
//! key signs, every key verifies, so rotating never invalidates an unexpired token (SPEC A.2).
//! A key may be deleted once the newest key is older than the longest token lifetime.
//!
//! Parsing happens once, in [`KeyRing::new`]; a request only does a hash-map lookup and one
//! RSA signature operation in `ring` (via `jsonwebtoken`). The `rsa` crate is used only to
//! generate keys and convert PEM/DER, never to sign, so its private-key timing side channel
//! (RUSTSEC-2023-0071) is not on any request path.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rand::rngs::OsRng;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::AuthError;
use crate::token::{self, Claims, IssuedToken, TokenRequest};

/// Size of newly generated keys.
pub const KEY_BITS: usize = 2048;

/// `ring` signs only with 2048–4096-bit RSA keys; refuse anything else when loading instead of
/// failing on the first token request.
const MIN_KEY_BITS: usize = 2048;
const MAX_KEY_BITS: usize = 4096;

/// A persisted signing key.
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id, published in the JWKS and put in each token's `kid` header. For generated keys it
    /// is the RFC 7638 JWK thumbprint (SHA-256, base64url), so the same key always has the same
    /// id and the id reveals nothing but the public key.
    pub kid: String,
    /// RSA private key, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub private_pem: String,
    /// The newest key in a ring signs new tokens.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for SigningKey {
    // The PEM is the crown jewel; it must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("private_pem", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Generates a new 2048-bit RSA key (PKCS#8 PEM) whose `kid` is its RFC 7638 thumbprint.
///
/// Takes a few hundred milliseconds in release builds; call it from a blocking task.
pub fn generate_signing_key(now: DateTime<Utc>) -> Result<SigningKey, AuthError> {
    let key = RsaPrivateKey::new(&mut OsRng, KEY_BITS)
        .map_err(|e| AuthError::Key(format!("RSA key generation failed: {e}")))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| AuthError::Key(format!("PKCS#8 encoding failed: {e}")))?;
    let (n, e) = public_components(&key);
    Ok(SigningKey {
        kid: jwk_thumbprint(&n, &e),
        private_pem: pem.to_string(),
        created_at: now,
    })
}

/// RFC 7638 thumbprint of an RSA public JWK: SHA-256 over `{"e":…,"kty":"RSA","n":…}` (members
/// in lexicographic order, no whitespace), base64url without padding (43 characters).
/// `n` and `e` are the base64url JWK values.
pub fn jwk_thumbprint(n: &str, e: &str) -> String {
    // base64url text never needs JSON escaping, so formatting is exact.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The base64url big-endian modulus and exponent, as in a JWK.
fn public_components(key: &RsaPrivateKey) -> (String, String) {
    (
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    )
}

/// One key, parsed once.
#[derive(Clone)]
struct LoadedKey {
    kid: String,
    created_at: DateTime<Utc>,
    n: String,
    e: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// All signing keys, ready to sign and verify. Immutable: to rotate, build a new ring and swap
/// it in (e.g. `RwLock<Arc<KeyRing>>` in the server state).
#[derive(Clone)]
pub struct KeyRing {
    /// Newest first; `keys[0]` signs.
    keys: Vec<LoadedKey>,
    by_kid: HashMap<String, usize>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "kids",
                &self.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRing {
    /// Parses every key and proves each one can sign and verify. Errors (never containing key
    /// material) on an empty list, an empty or duplicate `kid`, a PEM that is not an RSA
    /// private key, or a key outside 2048–4096 bits.
    ///
    /// The key with the greatest `created_at` becomes the active signer (ties broken by the
    /// greater `kid`, so every node of a cluster picks the same one).
    pub fn new(keys: Vec<SigningKey>) -> Result<KeyRing, AuthError> {
        if keys.is_empty() {
            return Err(AuthError::Key(
                "the key ring needs at least one signing key".into(),
            ));
        }
        let mut loaded = Vec::with_capacity(keys.len());
        for key in keys {
            loaded.push(load(key)?);
        }
        loaded.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.kid.cmp(&a.kid))
        });
        let mut by_kid = HashMap::with_capacity(loaded.len());
        for (i, key) in loaded.iter().enumerate() {
            if by_kid.insert(key.kid.clone(), i).is_some() {
                return Err(AuthError::Key(format!("duplicate key id {:?}", key.kid)));
            }
        }
        Ok(KeyRing {
            keys: loaded,
            by_kid,
        })
    }

    /// The key id new tokens are signed with.
    pub fn active_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Key ids in the ring, newest first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// The JWKS document for `/{tenant}/discovery/keys`: every key, newest first, as
    /// `{"kty":"RSA","use":"sig","alg":"RS256","kid":…,"n":…,"e":…}`. There is no certificate,
    /// so no `x5t`/`x5c`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "RSA", "use": "sig", "alg": token::ALGORITHM,
                    "kid": k.kid, "n": k.n, "e": k.e,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Signs a new access token with the active key: header `{"typ":"JWT","alg":"RS256",
    /// "kid":…}`, claims `iat = nbf = now`, `exp = now + lifetime`, `sub = appid`, a random
    /// `jti`. Fails with [`AuthError::InvalidClaim`] for an empty issuer or audience or a
    /// lifetime under one second.
    pub fn issue(&self, req: &TokenRequest) -> Result<IssuedToken, AuthError> {
        let claims = token::claims_for(req)?;
        let active = &self.keys[0];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(active.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &active.encoding)
            .map_err(|e| AuthError::Key(format!("signing failed: {e}")))?;
        Ok(IssuedToken {
            access_token,
            not_before: claims.nbf,
            expires_on: claims.exp,
            expires_in: claims.exp - claims.iat,
        })
    }

    /// Verifies a bearer token against every rule in [`crate::token`], using `now` (never the
    /// system clock) for the time checks. `accepted_audiences` are compared exactly, modulo
    /// one trailing slash.
    ///
    /// The issuer is not checked here: `iss` names the tenant the server minted it for, and
    /// the server decides what to compare it with (the tenant is taken from `tid`).
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
        accepted_audiences: &[String],
    ) -> Result<Claims, AuthError> {
        let parts = token::split_and_check_header(token)?;
        let kid = parts.header.kid.as_deref().unwrap_or_default();
        let key = self
            .by_kid
            .get(kid)
            .map(|&i| &self.keys[i])
            .ok_or(AuthError::UnknownKey)?;
        // The algorithm is fixed here, not taken from the header: the header only gets to say
        // "RS256", which was checked above.
        let valid = jsonwebtoken::crypto::verify(
            parts.signature_b64,
            parts.signing_input.as_bytes(),
            &key.decoding,
            Algorithm::RS256,
        )
        .map_err(|_| AuthError::Malformed)?;
        if !valid {
            return Err(AuthError::BadSignature);
        }
        token::check_claims(parts.payload_b64, now, accepted_audiences)
    }
}

fn load(key: SigningKey) -> Result<LoadedKey, AuthError> {
    if key.kid.is_empty() {
        return Err(AuthError::Key("signing key with an empty key id".into()));
    }
    let kid = key.kid;
    let private = RsaPrivateKey::from_pkcs8_pem(&key.private_pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&key.private_pem))
        .map_err(|_| {
            AuthError::Key(format!(
                "key {kid:?} is not a PKCS#8 or PKCS#1 RSA private key PEM"
            ))
        })?;
    let bits = private.size() * 8;
    if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        return Err(AuthError::Key(format!(
            "key {kid:?} has {bits} bits; {MIN_KEY_BITS} to {MAX_KEY_BITS} are supported"
        )));
    }
    let der = private
        .to_pkcs1_der()
        .map_err(|_| AuthError::Key(format!("key {kid:?} cannot be encoded as PKCS#1")))?;
    let encoding = EncodingKey::from_rsa_der(der.as_bytes());
    let (n, e) = public_components(&private);
    let decoding = DecodingKey::from_rsa_components(&n, &e)
        .map_err(|_| AuthError::Key(format!("key {kid:?} has unusable public components")))?;

    // Sign and verify once now, so a key `ring` refuses (bad exponent, inconsistent CRT
    // values) fails at start-up rather than on a client's token request.
    let probe = b"openti key ring probe";
    let signature = jsonwebtoken::crypto::sign(probe, &encoding, Algorithm::RS256)
        .map_err(|_| AuthError::Key(format!("key {kid:?} cannot sign")))?;
    let verified = jsonwebtoken::crypto::verify(&signature, probe, &decoding, Algorithm::RS256)
        .unwrap_or(false);
    if !verified {
        return Err(AuthError::Key(format!(
            "key {kid:?} does not verify its own signature"
        )));
    }

    Ok(LoadedKey {
        kid,
        created_at: key.created_at,
        n,
        e,
        encoding,
        decoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        accepted, b64_json, key_a, key_b, request, sign_parts, t0, with_created_at,
    };
    use crate::token::{MAX_TOKEN_LEN, ROLE_TI_READWRITE};
    use chrono::Duration;
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::EncodePublicKey as _;
    use serde_json::json;

    fn ring_a() -> KeyRing {
        KeyRing::new(vec![key_a().clone()]).expect("ring")
    }

    fn issue_a() -> String {
        ring_a().issue(&request()).expect("issue").access_token
    }

    fn header_of(token: &str) -> serde_json::Value {
        let h = token.split('.').next().expect("header");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("json")
    }

    fn payload_of(token: &str) -> serde_json::Value {
        let p = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("b64")).expect("json")
    }

    fn encoding_key(key: &SigningKey) -> EncodingKey {
        EncodingKey::from_rsa_pem(key.private_pem.as_bytes()).expect("pem")
    }

    #[test]
    fn issued_token_round_trips() {
        let ring = ring_a();
        let req = request();
        let issued = ring.issue(&req).expect("issue");
        assert_eq!(issued.not_before, req.now.timestamp());
        assert_eq!(issued.expires_on, req.now.timestamp() + 3600);
        assert_eq!(issued.expires_in, 3600);
        assert!(!format!("{issued:?}").contains(&issued.access_token));

        let header = header_of(&issued.access_token);
        assert_eq!(
            header,
            json!({"typ": "JWT", "alg": "RS256", "kid": key_a().kid})
        );

        let claims = ring
            .verify(&issued.access_token, req.now, &accepted())
            .expect("valid");
        assert_eq!(claims.tenant_id(), Some(req.tenant_id));
        assert_eq!(claims.app_id(), Some(req.app_id));
        assert_eq!(claims.sub, req.app_id.to_string());
        assert_eq!(claims.iss, req.issuer);
        assert_eq!(claims.aud, req.audience);
        assert_eq!(
            (claims.iat, claims.nbf, claims.exp),
            (t0(), t0(), t0() + 3600)
        );
        assert!(claims.has_role(ROLE_TI_READWRITE));
        assert_eq!(claims.ver, "1.0");
        assert_eq!(claims.jti.len(), 36);
        assert_eq!(claims.oid, None);
        assert!(payload_of(&issued.access_token).get("oid").is_none());

        let other = ring.issue(&req).expect("issue");
        assert_ne!(payload_of(&other.access_token)["jti"], json!(claims.jti));
    }

    #[test]
    fn verification_uses_the_injected_clock_only() {
        let ring = ring_a();
        // Issued in 1990: long expired by the system clock, valid at the injected time.
        let mut req = request();
        req.now = DateTime::from_timestamp(650_000_000, 0).expect("valid");
        let token = ring.issue(&req).expect("issue").access_token;
        assert!(ring
            .verify(&token, req.now + Duration::minutes(59), &accepted())
            .is_ok());
        assert_eq!(
            ring.verify(&token, req.now + Duration::minutes(60), &accepted())
                .err(),
            Some(AuthError::Expired)
        );
        assert_eq!(
            ring.verify(&token, req.now - Duration::seconds(61), &accepted())
                .err(),
            Some(AuthError::NotYetValid)
        );
        assert!(ring
            .verify(&token, req.now - Duration::seconds(60), &accepted())
            .is_ok());
    }

    #[test]
    fn alg_none_is_refused() {
        let token = issue_a();
        let payload = token.split('.').nth(1).expect("payload");
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = b64_json(&json!({"alg": alg, "typ": "JWT", "kid": key_a().kid}));
            for sig in ["", "AAAA"] {
                let forged = format!("{header}.{payload}.{sig}");
                assert_eq!(
                    ring_a().verify(&forged, request().now, &accepted()).err(),
                    Some(AuthError::WrongAlgorithm),
                    "{alg} {sig:?}"
                );
            }
        }
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused() {
        // The classic confusion attack: the attacker knows our public key and uses it as an
        // HMAC secret, hoping the verifier feeds "the key" to whatever `alg` says.
        let private = RsaPrivateKey::from_pkcs8_pem(&key_a().private_pem).expect("pem");
        let public = private.to_public_key();
        let spki_pem = public.to_public_key_pem(LineEnding::LF).expect("spki pem");
        let pkcs1_pem = public.to_pkcs1_pem(LineEnding::LF).expect("pkcs1 pem");
        let spki_der = public.to_public_key_der().expect("spki der");
        let pkcs1_der = public.to_pkcs1_der().expect("pkcs1 der");
        let n_bytes = public.n().to_bytes_be();
        let secrets: [&[u8]; 5] = [
            spki_pem.as_bytes(),
            pkcs1_pem.as_bytes(),
            spki_der.as_bytes(),
            pkcs1_der.as_bytes(),
            &n_bytes,
        ];
        let token = issue_a();
        let claims = payload_of(&token);
        for secret in secrets {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let forged = sign_parts(
                    &json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": key_a().kid}),
                    &claims,
                    &EncodingKey::from_secret(secret),
                    alg,
                );
                assert_eq!(
                    ring_a().verify(&forged, request().now, &accepted()).err(),
                    Some(AuthError::WrongAlgorithm),
                    "{alg:?}"
                );
            }
        }
    }

    #[test]
    fn other_rsa_algorithms_are_refused_even_with_a_valid_signature() {
        let claims = payload_of(&issue_a());
        for alg in [
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            let token = sign_parts(
                &json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": key_a().kid}),
                &claims,
                &encoding_key(key_a()),
                alg,
            );
            assert_eq!(
                ring_a().verify(&token, request().now, &accepted()).err(),
                Some(AuthError::WrongAlgorithm),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn a_hand_signed_rs256_token_verifies() {
        // Guards the helpers used by the attack tests: the same construction with RS256 and
        // the right key must pass, so the refusals above are about the algorithm alone.
        let claims = payload_of(&issue_a());
        let token = sign_parts(
            &json!({"alg": "RS256", "kid": key_a().kid}),
            &claims,
            &encoding_key(key_a()),
            Algorithm::RS256,
        );
        assert!(ring_a().verify(&token, request().now, &accepted()).is_ok());
    }

    #[test]
    fn kid_is_required_and_must_be_known() {
        let claims = payload_of(&issue_a());
        let sign = |header: serde_json::Value| {
            sign_parts(&header, &claims, &encoding_key(key_a()), Algorithm::RS256)
        };
        let now = request().now;
        assert_eq!(
            ring_a()
                .verify(&sign(json!({"alg": "RS256"})), now, &accepted())
                .err(),
            Some(AuthError::MissingClaim("kid"))
        );
        assert_eq!(
            ring_a()
                .verify(
                    &sign(json!({"alg": "RS256", "kid": "nope"})),
                    now,
                    &accepted()
                )
                .err(),
            Some(AuthError::UnknownKey)
        );
        // A token from key B is unknown to a ring holding only A.
        let b_ring = KeyRing::new(vec![key_b().clone()]).expect("ring");
        let b_token = b_ring.issue(&request()).expect("issue").access_token;
        assert_eq!(
            ring_a().verify(&b_token, now, &accepted()).err(),
            Some(AuthError::UnknownKey)
        );
    }

    #[test]
    fn bad_signatures_are_refused() {
        let now = request().now;
        let token = issue_a();
        let claims = payload_of(&token);

        // Signed by key B but claiming key A's kid.
        let wrong_key = sign_parts(
            &json!({"alg": "RS256", "typ": "JWT", "kid": key_a().kid}),
            &claims,
            &encoding_key(key_b()),
            Algorithm::RS256,
        );
        assert_eq!(
            ring_a().verify(&wrong_key, now, &accepted()).err(),
            Some(AuthError::BadSignature)
        );

        // Payload changed after signing (extra role, other tenant).
        let (h, _, s) = split3(&token);
        let mut elevated = claims.clone();
        elevated["roles"] = json!(["Ti.ReadWrite", "Telemetry.Ingest"]);
        elevated["tid"] = json!(uuid::Uuid::new_v4().to_string());
        let tampered = format!("{h}.{}.{s}", b64_json(&elevated));
        assert_eq!(
            ring_a().verify(&tampered, now, &accepted()).err(),
            Some(AuthError::BadSignature)
        );

        // Signature truncated, bit-flipped, or empty.
        let (h, p, s) = split3(&token);
        let sig = URL_SAFE_NO_PAD.decode(s).expect("b64");
        let truncated = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(&sig[..sig.len() - 3]));
        assert_eq!(
            ring_a().verify(&truncated, now, &accepted()).err(),
            Some(AuthError::BadSignature)
        );
        let mut sig = sig;
        sig[10] ^= 1;
        let flipped = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(
            ring_a().verify(&flipped, now, &accepted()).err(),
            Some(AuthError::BadSignature)
        );
        assert_eq!(
            ring_a()
                .verify(&format!("{h}.{p}."), now, &accepted())
                .err(),
            Some(AuthError::BadSignature)
        );
        // A signature that is not (canonical) base64url.
        for bad in [
            format!("{s}!"),
            format!("{s}="),
            // 256 bytes are 342 characters whose last one carries 4 zero bits; 'B' sets one.
            format!("{}B", &s[..s.len() - 1]),
        ] {
            assert_eq!(
                ring_a()
                    .verify(&format!("{h}.{p}.{bad}"), now, &accepted())
                    .err(),
                Some(AuthError::Malformed)
            );
        }
    }

    fn split3(token: &str) -> (&str, &str, &str) {
        let mut it = token.split('.');
        (
            it.next().expect("h"),
            it.next().expect("p"),
            it.next().expect("s"),
        )
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        let now = request().now;
        let token = issue_a();
        let (h, p, s) = split3(&token);
        let signed = |payload: &str| {
            let header = b64_json(&json!({"alg": "RS256", "kid": key_a().kid}));
            let input = format!("{header}.{payload}");
            let sig = jsonwebtoken::crypto::sign(
                input.as_bytes(),
                &encoding_key(key_a()),
                Algorithm::RS256,
            )
            .expect("sign");
            format!("{input}.{sig}")
        };
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "Bearer".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}.{p}.{s}.{s}.{s}"),
            format!("%%%.{p}.{s}"),
            format!("{}.{p}.{s}", URL_SAFE_NO_PAD.encode("{not json")),
            format!("{}.{p}.{s}", URL_SAFE_NO_PAD.encode("\"RS256\"")),
            format!("{h}.{p}.{s}{}", "A".repeat(MAX_TOKEN_LEN)),
            format!("é.{p}.{s}"),
            // Validly signed, but the payload is not base64url / not JSON / not an object.
            signed("%%%"),
            signed(&URL_SAFE_NO_PAD.encode("{\"tid\":")),
            signed(&URL_SAFE_NO_PAD.encode("[]")),
        ];
        for case in &cases {
            assert_eq!(
                ring_a().verify(case, now, &accepted()).err(),
                Some(AuthError::Malformed),
                "{case:.60}"
            );
        }
        // Arbitrary byte soup must not panic whatever the result.
        for n in 0..200usize {
            let junk: String = (0..n)
                .map(|i| ['.', 'a', '_', '-', '=', 'Z'][(i * 7 + n) % 6])
                .collect();
            assert!(ring_a().verify(&junk, now, &accepted()).is_err());
        }
    }

    #[test]
    fn validly_signed_bad_claims_are_refused() {
        let now = request().now;
        let base = payload_of(&issue_a());
        let sign = |claims: &serde_json::Value| {
            sign_parts(
                &json!({"alg": "RS256", "kid": key_a().kid}),
                claims,
                &encoding_key(key_a()),
                Algorithm::RS256,
            )
        };
        let with = |name: &str, value: serde_json::Value| {
            let mut c = base.clone();
            c[name] = value;
            sign(&c)
        };
        let without = |name: &str| {
            let mut c = base.clone();
            c.as_object_mut().expect("object").remove(name);
            sign(&c)
        };
        let verify = |t: &str| ring_a().verify(t, now, &accepted()).err();
        for name in ["tid", "appid", "exp", "nbf", "aud", "iss", "sub", "roles"] {
            assert_eq!(
                verify(&without(name)),
                Some(AuthError::MissingClaim(name)),
                "{name}"
            );
        }
        assert_eq!(
            verify(&with("tid", json!("contoso"))),
            Some(AuthError::InvalidClaim("tid"))
        );
        assert_eq!(
            verify(&with("appid", json!("1234"))),
            Some(AuthError::InvalidClaim("appid"))
        );
        assert_eq!(
            verify(&with("aud", json!("https://evil.example"))),
            Some(AuthError::WrongAudience)
        );
        assert_eq!(
            verify(&with("exp", json!(now.timestamp()))),
            Some(AuthError::Expired)
        );
        assert_eq!(
            verify(&with("nbf", json!(now.timestamp() + 61))),
            Some(AuthError::NotYetValid)
        );
        assert_eq!(verify(&with("nbf", json!(now.timestamp() + 60))), None);
        assert_eq!(
            verify(&with("aud", json!("https://graph.windows.net/"))),
            None,
            "trailing slash variant"
        );
    }

    #[test]
    fn audience_must_be_accepted() {
        let ring = ring_a();
        let now = request().now;
        let mut req = request();
        req.audience = "https://graph.microsoft.com".into();
        let token = ring.issue(&req).expect("issue").access_token;
        assert!(ring.verify(&token, now, &accepted()).is_ok());
        assert_eq!(
            ring.verify(&token, now, &["https://graph.windows.net".to_owned()])
                .err(),
            Some(AuthError::WrongAudience)
        );
        assert_eq!(
            ring.verify(&token, now, &[]).err(),
            Some(AuthError::WrongAudience)
        );
        assert!(ring
            .verify(&token, now, &["https://graph.microsoft.com/".to_owned()])
            .is_ok());
    }

    #[test]
    fn rotation_signs_with_newest_and_verifies_all() {
        let now = request().now;
        let old = with_created_at(key_a(), t0() - 86_400);
        let new = with_created_at(key_b(), t0());
        let old_ring = KeyRing::new(vec![old.clone()]).expect("ring");
        let old_token = old_ring.issue(&request()).expect("issue").access_token;

        for keys in [
            vec![old.clone(), new.clone()],
            vec![new.clone(), old.clone()],
        ] {
            let ring = KeyRing::new(keys).expect("ring");
            assert_eq!(ring.active_kid(), new.kid);
            assert_eq!(
                ring.kids().collect::<Vec<_>>(),
                vec![new.kid.as_str(), old.kid.as_str()]
            );
            let new_token = ring.issue(&request()).expect("issue").access_token;
            assert_eq!(header_of(&new_token)["kid"], json!(new.kid));
            assert!(ring.verify(&new_token, now, &accepted()).is_ok());
            assert!(
                ring.verify(&old_token, now, &accepted()).is_ok(),
                "old token still valid"
            );
            assert_eq!(
                old_ring.verify(&new_token, now, &accepted()).err(),
                Some(AuthError::UnknownKey)
            );
        }
        // Once the old key is dropped, its tokens stop verifying.
        let only_new = KeyRing::new(vec![new]).expect("ring");
        assert_eq!(
            only_new.verify(&old_token, now, &accepted()).err(),
            Some(AuthError::UnknownKey)
        );
    }

    #[test]
    fn equal_created_at_picks_the_same_signer_in_any_order() {
        let a = with_created_at(key_a(), t0());
        let b = with_created_at(key_b(), t0());
        let r1 = KeyRing::new(vec![a.clone(), b.clone()]).expect("ring");
        let r2 = KeyRing::new(vec![b, a]).expect("ring");
        assert_eq!(r1.active_kid(), r2.active_kid());
    }

    #[test]
    fn jwks_publishes_every_public_key_and_nothing_private() {
        let ring = KeyRing::new(vec![
            with_created_at(key_a(), t0() - 10),
            with_created_at(key_b(), t0()),
        ])
        .expect("ring");
        let jwks = ring.jwks();
        let keys = jwks["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], json!(key_b().kid));
        for k in keys {
            let obj = k.as_object().expect("object");
            let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
            names.sort_unstable();
            assert_eq!(names, ["alg", "e", "kid", "kty", "n", "use"]);
            assert_eq!(
                (k["kty"].as_str(), k["use"].as_str(), k["alg"].as_str()),
                (Some("RSA"), Some("sig"), Some("RS256"))
            );
            assert_eq!(k["e"], json!("AQAB"));
            let n = URL_SAFE_NO_PAD
                .decode(k["n"].as_str().expect("n"))
                .expect("b64");
            assert_eq!(n.len(), 256, "2048-bit modulus without a leading zero");
            let kid = k["kid"].as_str().expect("kid");
            assert_eq!(kid, jwk_thumbprint(k["n"].as_str().expect("n"), "AQAB"));
        }
        // A verifier that only knows the JWKS can check our tokens.
        let token = ring.issue(&request()).expect("issue").access_token;
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(keys[0].clone()).expect("jwk parses");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://graph.windows.net"]);
        jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).expect("key"),
            &validation,
        )
        .expect("third-party verification");
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            jwk_thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn key_ring_rejects_bad_inputs_without_leaking_pem() {
        assert!(matches!(KeyRing::new(vec![]), Err(AuthError::Key(_))));

        let mut bad = key_a().clone();
        bad.private_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        assert!(matches!(KeyRing::new(vec![bad]), Err(AuthError::Key(_))));

        let mut empty_kid = key_a().clone();
        empty_kid.kid.clear();
        assert!(matches!(
            KeyRing::new(vec![empty_kid]),
            Err(AuthError::Key(_))
        ));

        let mut dup = key_b().clone();
        dup.kid = key_a().kid.clone();
        let err = KeyRing::new(vec![key_a().clone(), dup]).expect_err("duplicate kid");
        assert!(
            matches!(&err, AuthError::Key(m) if m.contains("duplicate")),
            "{err}"
        );

        let small = RsaPrivateKey::new(&mut OsRng, 1024).expect("keygen");
        let small = SigningKey {
            kid: "small".into(),
            private_pem: small.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
            created_at: DateTime::from_timestamp(t0(), 0).expect("valid"),
        };
        let err = KeyRing::new(vec![small]).expect_err("1024-bit key");
        assert!(
            matches!(&err, AuthError::Key(m) if m.contains("1024")),
            "{err}"
        );

        // Error messages and Debug output never carry the PEM.
        let body_line = key_a().private_pem.lines().nth(1).expect("pem body");
        assert!(!err.to_string().contains(body_line));
        assert!(!format!("{:?}", key_a()).contains(body_line));
        assert!(!format!("{:?}", ring_a()).contains(body_line));
    }

    #[test]
    fn pkcs1_pem_is_accepted_and_interoperates() {
        let private = RsaPrivateKey::from_pkcs8_pem(&key_a().private_pem).expect("pem");
        let mut pkcs1 = key_a().clone();
        pkcs1.private_pem = private
            .to_pkcs1_pem(LineEnding::CRLF)
            .expect("pem")
            .to_string();
        assert!(pkcs1
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let ring = KeyRing::new(vec![pkcs1]).expect("ring");
        assert!(ring.verify(&issue_a(), request().now, &accepted()).is_ok());
        assert_eq!(ring.jwks(), ring_a().jwks());
    }

    #[test]
    fn generated_key_is_pkcs8_with_thumbprint_kid_and_serde_round_trips() {
        let key = key_a();
        assert!(key.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(key.kid.len(), 43);
        let json = serde_json::to_string(key).expect("serialize");
        let back: SigningKey = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(
            (back.kid.as_str(), back.created_at),
            (key.kid.as_str(), key.created_at)
        );
        assert_eq!(back.private_pem, key.private_pem);
        assert_ne!(key_a().kid, key_b().kid);
    }

    #[test]
    fn issue_refuses_unusable_requests() {
        let mut req = request();
        req.lifetime = Duration::zero();
        assert_eq!(
            ring_a().issue(&req).err(),
            Some(AuthError::InvalidClaim("exp"))
        );
    }
}
