//! Access tokens: what we put in them and what a presented token must satisfy.
//!
//! Tokens mimic Azure AD v1 application tokens (SPEC A.2) because the original clients were
//! written against those: a compact JWS signed with RS256, key id in `kid`, claims `iss`, `aud`
//! (the requested resource), `tid`, `appid`, `sub`, `iat`, `nbf`, `exp`, `roles`, `ver`, `jti`.
//!
//! Signing and signature checks live with the keys ([`crate::KeyRing`]); this module holds the
//! rules that are not cryptography, applied by [`crate::KeyRing::verify`] in this order:
//!
//! 1. at most [`MAX_TOKEN_LEN`] bytes, exactly three base64url parts, a JSON object header;
//! 2. header `alg` is exactly `RS256` (so `none`, `HS256` keyed with our public key, `RS384`,
//!    `PS256` … are [`AuthError::WrongAlgorithm`]); no `crit`; `kid` present and in the ring;
//! 3. the signature verifies — only then is the payload parsed;
//! 4. every claim we issue is present; `tid` and `appid` are GUIDs;
//! 5. `nbf - NBF_LEEWAY_SECS <= now < exp`, with `now` injected by the caller;
//! 6. `aud` is one of the accepted audiences.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AuthError;

/// Role that allows reading and writing alert definitions and IOCs.
pub const ROLE_TI_READWRITE: &str = "Ti.ReadWrite";
/// Role that allows posting telemetry events.
pub const ROLE_TELEMETRY_INGEST: &str = "Telemetry.Ingest";

/// The only signature algorithm accepted, compared as an exact string.
pub const ALGORITHM: &str = "RS256";

/// The `ver` claim of every token we issue (Azure AD v1 shape).
pub const TOKEN_VERSION: &str = "1.0";

/// Clock skew tolerated on `nbf` only: a token minted by a node whose clock is up to a minute
/// ahead is still usable at once. There is no leeway on `exp`: a token must not outlive the
/// lifetime we promised, and a client whose token just expired simply fetches a new one.
pub const NBF_LEEWAY_SECS: i64 = 60;

/// Our tokens are well under 2 KiB; anything far larger is refused before decoding so a
/// hostile `Authorization` header cannot make us base64-decode and parse megabytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What to put in a new access token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `iss`, e.g. `{base}/{tenantId}/`.
    pub issuer: String,
    /// `aud`: the `resource` the client asked for (or the server's default).
    pub audience: String,
    pub tenant_id: Uuid,
    /// The custom TI application's client id; also used as `sub`.
    pub app_id: Uuid,
    pub roles: Vec<String>,
    /// Becomes `iat` and `nbf`.
    pub now: DateTime<Utc>,
    /// `exp = now + lifetime`; 60 minutes in production (SPEC A.2). Must be at least a second.
    pub lifetime: Duration,
}

/// A signed token and the numbers the token endpoint echoes (as strings) in its response.
#[derive(Clone)]
pub struct IssuedToken {
    pub access_token: String,
    /// Unix seconds; equals the `nbf` claim.
    pub not_before: i64,
    /// Unix seconds; equals the `exp` claim.
    pub expires_on: i64,
    /// Seconds from issue to `exp`.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedToken {
    // A bearer token is a credential; keep it out of logs even by accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field("not_before", &self.not_before)
            .field("expires_on", &self.expires_on)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The claims of a token we issued, as returned by a successful verification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    /// The accepted audience the token was issued for.
    pub aud: String,
    /// Tenant id, a hyphenated GUID.
    pub tid: String,
    /// Client id of the application, a hyphenated GUID.
    pub appid: String,
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub roles: Vec<String>,
    pub ver: String,
    /// Unique token id (a random GUID), for audit logs.
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
}

impl Claims {
    /// The tenant the token belongs to. Always `Some` on claims returned by
    /// [`crate::KeyRing::verify`].
    pub fn tenant_id(&self) -> Option<Uuid> {
        parse_guid(&self.tid)
    }

    /// The application (client id) the token was issued to. Always `Some` on verified claims.
    pub fn app_id(&self) -> Option<Uuid> {
        parse_guid(&self.appid)
    }

    /// Exact, case-sensitive match, as Azure AD app roles are.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Accepts only the canonical 36-character hyphenated form, which is what we issue; the
/// braced, URN and 32-hex forms that `Uuid::parse_str` also takes are not GUIDs in a token.
fn parse_guid(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

/// Builds the claims for a request; rejects requests that would produce an unusable token.
pub(crate) fn claims_for(req: &TokenRequest) -> Result<Claims, AuthError> {
    if req.issuer.is_empty() {
        return Err(AuthError::InvalidClaim("iss"));
    }
    if req.audience.is_empty() {
        return Err(AuthError::InvalidClaim("aud"));
    }
    let lifetime = req.lifetime.num_seconds();
    if lifetime < 1 {
        return Err(AuthError::InvalidClaim("exp"));
    }
    let iat = req.now.timestamp();
    let app_id = req.app_id.hyphenated().to_string();
    Ok(Claims {
        iss: req.issuer.clone(),
        aud: req.audience.clone(),
        tid: req.tenant_id.hyphenated().to_string(),
        appid: app_id.clone(),
        sub: app_id,
        iat,
        nbf: iat,
        exp: iat.saturating_add(lifetime),
        roles: req.roles.clone(),
        ver: TOKEN_VERSION.to_owned(),
        jti: Uuid::new_v4().hyphenated().to_string(),
        oid: None,
    })
}

/// The three parts of a compact JWS, split but not yet trusted.
pub(crate) struct Parts<'a> {
    /// `base64(header) "." base64(payload)`: the bytes the signature covers.
    pub signing_input: &'a str,
    pub payload_b64: &'a str,
    pub signature_b64: &'a str,
    pub header: Header,
}

/// The header fields we look at; others (`typ`, `x5t`, …) are ignored.
#[derive(Deserialize)]
pub(crate) struct Header {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Parses a JSON object into `T`. serde's derived structs also accept a JSON array of the
/// fields in order, and JOSE headers and claim sets are objects only, so anything else is
/// refused first. serde rejects duplicate members, so `{"alg":"RS256","alg":"none"}` cannot
/// mean two things to two parsers.
fn parse_object<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, AuthError> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(AuthError::Malformed);
    }
    serde_json::from_slice(json).map_err(|_| AuthError::Malformed)
}

/// Steps 1 and 2 of the rules, except the key lookup.
pub(crate) fn split_and_check_header(token: &str) -> Result<Parts<'_>, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed);
    }
    let mut it = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::Malformed)?;
    let header: Header = parse_object(&header_bytes)?;
    if header.alg.as_deref() != Some(ALGORITHM) {
        return Err(AuthError::WrongAlgorithm);
    }
    // RFC 7515 §4.1.11: a recipient must reject a token whose `crit` extensions it does not
    // understand, and we understand none.
    if header.crit.is_some() {
        return Err(AuthError::Malformed);
    }
    match header.kid.as_deref() {
        None | Some("") => return Err(AuthError::MissingClaim("kid")),
        Some(_) => {}
    }
    if signature_b64.is_empty() {
        return Err(AuthError::BadSignature);
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    Ok(Parts {
        signing_input,
        payload_b64,
        signature_b64,
        header,
    })
}

/// `aud` may be a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The payload as received: every claim optional so a missing one is reported by name.
#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    tid: Option<String>,
    appid: Option<String>,
    sub: Option<String>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    roles: Option<Vec<String>>,
    ver: Option<String>,
    jti: Option<String>,
    #[serde(default)]
    oid: Option<String>,
}

fn required<T>(value: Option<T>, name: &'static str) -> Result<T, AuthError> {
    value.ok_or(AuthError::MissingClaim(name))
}

fn required_str(value: Option<String>, name: &'static str) -> Result<String, AuthError> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(AuthError::MissingClaim(name)),
    }
}

/// Exact comparison, except that a single trailing slash on either side is ignored:
/// `https://graph.windows.net/` (the Azure AD v1 spelling) and `https://graph.windows.net`
/// (what the published scripts send as `resource`) are the same audience.
pub(crate) fn audience_matches(token_aud: &str, accepted: &str) -> bool {
    let t = token_aud.strip_suffix('/').unwrap_or(token_aud);
    let a = accepted.strip_suffix('/').unwrap_or(accepted);
    !t.is_empty() && t == a
}

/// Steps 4–6, on a payload whose signature has already been verified.
pub(crate) fn check_claims(
    payload_b64: &str,
    now: DateTime<Utc>,
    accepted_audiences: &[String],
) -> Result<Claims, AuthError> {
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| AuthError::Malformed)?;
    let raw: RawClaims = parse_object(&payload)?;

    let iss = required_str(raw.iss, "iss")?;
    let auds = match required(raw.aud, "aud")? {
        Audience::One(a) => vec![a],
        Audience::Many(v) => v,
    };
    if auds.iter().all(String::is_empty) {
        return Err(AuthError::MissingClaim("aud"));
    }
    let tid = required_str(raw.tid, "tid")?;
    let appid = required_str(raw.appid, "appid")?;
    let sub = required_str(raw.sub, "sub")?;
    let iat = required(raw.iat, "iat")?;
    let nbf = required(raw.nbf, "nbf")?;
    let exp = required(raw.exp, "exp")?;
    let roles = required(raw.roles, "roles")?;
    let ver = required_str(raw.ver, "ver")?;
    let jti = required_str(raw.jti, "jti")?;

    if parse_guid(&tid).is_none() {
        return Err(AuthError::InvalidClaim("tid"));
    }
    if parse_guid(&appid).is_none() {
        return Err(AuthError::InvalidClaim("appid"));
    }

    // Whole seconds, as in the token; `timestamp()` floors, so a token is still valid during
    // the fraction of a second before `exp`.
    let now = now.timestamp();
    if now >= exp {
        return Err(AuthError::Expired);
    }
    if nbf > now.saturating_add(NBF_LEEWAY_SECS) {
        return Err(AuthError::NotYetValid);
    }

    let aud = auds
        .into_iter()
        .find(|a| {
            accepted_audiences
                .iter()
                .any(|acc| audience_matches(a, acc))
        })
        .ok_or(AuthError::WrongAudience)?;

    Ok(Claims {
        iss,
        aud,
        tid,
        appid,
        sub,
        iat,
        nbf,
        exp,
        roles,
        ver,
        jti,
        oid: raw.oid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("valid")
    }

    fn good_claims() -> serde_json::Value {
        json!({
            "iss": "https://openti.example/t/", "aud": "https://graph.windows.net",
            "tid": "0b5c2a4e-8f0e-4c53-9d63-8f3f3f2f1a11",
            "appid": "7d9e6a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
            "sub": "7d9e6a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
            "iat": 1_700_000_000i64, "nbf": 1_700_000_000i64, "exp": 1_700_003_600i64,
            "roles": ["Ti.ReadWrite"], "ver": "1.0", "jti": "x"
        })
    }

    fn accepted() -> Vec<String> {
        vec![
            "https://graph.windows.net".into(),
            "https://graph.microsoft.com/".into(),
        ]
    }

    #[test]
    fn good_claims_pass() {
        let c = check_claims(&b64(&good_claims()), now(), &accepted()).expect("valid");
        assert_eq!(c.aud, "https://graph.windows.net");
        assert!(c.has_role(ROLE_TI_READWRITE));
        assert!(!c.has_role("ti.readwrite"));
        assert!(!c.has_role(ROLE_TELEMETRY_INGEST));
        assert!(c.tenant_id().is_some() && c.app_id().is_some());
    }

    #[test]
    fn each_required_claim_is_enforced() {
        for name in [
            "iss", "aud", "tid", "appid", "sub", "iat", "nbf", "exp", "roles", "ver", "jti",
        ] {
            let mut c = good_claims();
            c.as_object_mut().expect("object").remove(name);
            assert_eq!(
                check_claims(&b64(&c), now(), &accepted()),
                Err(AuthError::MissingClaim(name)),
                "{name}"
            );
            let mut c = good_claims();
            c[name] = serde_json::Value::Null;
            assert_eq!(
                check_claims(&b64(&c), now(), &accepted()),
                Err(AuthError::MissingClaim(name)),
                "{name} = null"
            );
        }
        let mut c = good_claims();
        c["tid"] = json!("");
        assert_eq!(
            check_claims(&b64(&c), now(), &accepted()),
            Err(AuthError::MissingClaim("tid"))
        );
    }

    #[test]
    fn tid_and_appid_must_be_hyphenated_guids() {
        for bad in [
            "not-a-guid",
            "0b5c2a4e8f0e4c539d638f3f3f2f1a11",
            "{0b5c2a4e-8f0e-4c53-9d63-8f3f3f2f1a11}",
            "urn:uuid:0b5c2a4e-8f0e-4c53-9d63-8f3f3f2f1a11",
            "0b5c2a4e-8f0e-4c53-9d63-8f3f3f2f1a1g",
        ] {
            for name in ["tid", "appid"] {
                let mut c = good_claims();
                c[name] = json!(bad);
                assert_eq!(
                    check_claims(&b64(&c), now(), &accepted()),
                    Err(AuthError::InvalidClaim(name)),
                    "{name} = {bad}"
                );
            }
        }
        // Upper-case hex is still a GUID.
        let mut c = good_claims();
        c["tid"] = json!("0B5C2A4E-8F0E-4C53-9D63-8F3F3F2F1A11");
        assert!(check_claims(&b64(&c), now(), &accepted()).is_ok());
    }

    #[test]
    fn wrongly_typed_claims_are_malformed() {
        for (name, value) in [
            ("exp", json!("1700003600")),
            ("exp", json!(1.7e9)),
            ("roles", json!("Ti.ReadWrite")),
            ("tid", json!(42)),
            ("aud", json!({"a": 1})),
        ] {
            let mut c = good_claims();
            c[name] = value;
            assert_eq!(
                check_claims(&b64(&c), now(), &accepted()),
                Err(AuthError::Malformed),
                "{name}"
            );
        }
        let as_array = URL_SAFE_NO_PAD.encode(
            r#"["i","a","0b5c2a4e-8f0e-4c53-9d63-8f3f3f2f1a11","7d9e6a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
               "s",1700000000,1700000000,1700003600,[],"1.0","j",null]"#,
        );
        for payload in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("[1]"),
            &URL_SAFE_NO_PAD.encode("{"),
            &as_array,
        ] {
            assert_eq!(
                check_claims(payload, now(), &accepted()),
                Err(AuthError::Malformed)
            );
        }
    }

    #[test]
    fn exp_edge_has_no_leeway() {
        let c = b64(&good_claims()); // exp = 1_700_003_600
        let exp = DateTime::from_timestamp(1_700_003_600, 0).expect("valid");
        assert_eq!(check_claims(&c, exp, &accepted()), Err(AuthError::Expired));
        assert!(check_claims(&c, exp - Duration::seconds(1), &accepted()).is_ok());
        assert!(check_claims(&c, exp - Duration::milliseconds(1), &accepted()).is_ok());
        assert_eq!(
            check_claims(&c, exp + Duration::days(1), &accepted()),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn nbf_edge_allows_exactly_the_leeway() {
        let c = b64(&good_claims()); // nbf = 1_700_000_000
        let nbf = now();
        assert!(check_claims(&c, nbf, &accepted()).is_ok());
        let at_edge = nbf - Duration::seconds(NBF_LEEWAY_SECS);
        assert!(check_claims(&c, at_edge, &accepted()).is_ok());
        assert_eq!(
            check_claims(&c, at_edge - Duration::seconds(1), &accepted()),
            Err(AuthError::NotYetValid)
        );
    }

    #[test]
    fn audience_rules() {
        let check = |aud: serde_json::Value, acc: &[String]| {
            let mut c = good_claims();
            c["aud"] = aud;
            check_claims(&b64(&c), now(), acc)
        };
        assert!(check(json!("https://graph.windows.net/"), &accepted()).is_ok());
        assert_eq!(
            check(json!("https://graph.microsoft.com"), &accepted()).map(|c| c.aud),
            Ok("https://graph.microsoft.com".to_owned())
        );
        for wrong in [
            "https://graph.windows.net//",
            "https://GRAPH.windows.net",
            "https://graph.windows.net.evil",
            "graph.windows.net",
            "https://evil.example",
        ] {
            assert_eq!(
                check(json!(wrong), &accepted()),
                Err(AuthError::WrongAudience),
                "{wrong}"
            );
        }
        assert_eq!(
            check(json!("https://graph.windows.net"), &[]),
            Err(AuthError::WrongAudience)
        );
        assert_eq!(
            check(
                json!(["https://evil.example", "https://graph.windows.net"]),
                &accepted()
            )
            .map(|c| c.aud),
            Ok("https://graph.windows.net".to_owned())
        );
        assert_eq!(
            check(json!(["https://evil.example"]), &accepted()),
            Err(AuthError::WrongAudience)
        );
        assert_eq!(
            check(json!([]), &accepted()),
            Err(AuthError::MissingClaim("aud"))
        );
        assert!(!audience_matches("/", "/"));
    }

    #[test]
    fn header_structure_rules() {
        let h = |v: serde_json::Value| b64(&v);
        let ok = h(json!({"alg": "RS256", "kid": "k"}));
        assert!(split_and_check_header(&format!("{ok}.e30.c2ln")).is_ok());
        for token in [
            String::new(),
            "abc".into(),
            format!("{ok}.e30"),
            format!("{ok}.e30.c2ln.c2ln"),
            format!("{ok}.e30.c2ln.c2ln.c2ln"),
            "!!!.e30.c2ln".into(),
            format!("{ok}=.e30.c2ln"),
            format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode("not json")),
            format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode("[\"RS256\"]")),
            format!(
                "{}.e30.c2ln",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none"}"#)
            ),
            format!(
                "{}.e30.c2ln",
                h(json!({"alg": "RS256", "kid": "k", "crit": ["exp"]}))
            ),
            format!("{ok}.e30.{}", "A".repeat(MAX_TOKEN_LEN)),
        ] {
            assert_eq!(
                split_and_check_header(&token).err(),
                Some(AuthError::Malformed),
                "{token:.80}"
            );
        }
        for alg in [
            json!("none"),
            json!("None"),
            json!("rs256"),
            json!("RS256 "),
            json!(null),
        ] {
            let t = format!("{}.e30.c2ln", h(json!({"alg": alg, "kid": "k"})));
            assert_eq!(
                split_and_check_header(&t).err(),
                Some(AuthError::WrongAlgorithm)
            );
        }
        let no_alg = format!("{}.e30.c2ln", h(json!({"kid": "k"})));
        assert_eq!(
            split_and_check_header(&no_alg).err(),
            Some(AuthError::WrongAlgorithm)
        );
        for header in [json!({"alg": "RS256"}), json!({"alg": "RS256", "kid": ""})] {
            let t = format!("{}.e30.c2ln", h(header));
            assert_eq!(
                split_and_check_header(&t).err(),
                Some(AuthError::MissingClaim("kid"))
            );
        }
        assert_eq!(
            split_and_check_header(&format!("{ok}.e30.")).err(),
            Some(AuthError::BadSignature)
        );
    }

    #[test]
    fn issue_request_validation() {
        let req = TokenRequest {
            issuer: "https://openti.example/t/".into(),
            audience: "https://graph.windows.net".into(),
            tenant_id: Uuid::new_v4(),
            app_id: Uuid::new_v4(),
            roles: vec![ROLE_TI_READWRITE.into()],
            now: now(),
            lifetime: Duration::minutes(60),
        };
        let c = claims_for(&req).expect("claims");
        assert_eq!(
            (c.iat, c.nbf, c.exp),
            (1_700_000_000, 1_700_000_000, 1_700_003_600)
        );
        assert_eq!(c.sub, c.appid);
        assert_eq!(c.ver, "1.0");
        let mut bad = req.clone();
        bad.lifetime = Duration::milliseconds(999);
        assert_eq!(claims_for(&bad).err(), Some(AuthError::InvalidClaim("exp")));
        let mut bad = req.clone();
        bad.audience.clear();
        assert_eq!(claims_for(&bad).err(), Some(AuthError::InvalidClaim("aud")));
        let mut bad = req;
        bad.issuer.clear();
        assert_eq!(claims_for(&bad).err(), Some(AuthError::InvalidClaim("iss")));
    }
}
