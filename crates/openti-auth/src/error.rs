//! The one error type of the crate.
//!
//! Every variant except [`AuthError::Key`] means "this bearer token is not acceptable" and maps to
//! `401` with `WWW-Authenticate: Bearer error="invalid_token"` (SPEC A.3); the variants exist so
//! logs and tests can tell the reasons apart, never to tell the caller which check failed.

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Not a compact JWS: wrong number of parts, bad base64url, bad JSON, too long, or an
    /// unsupported `crit` header.
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify with the key named by `kid`.
    #[error("invalid token signature")]
    BadSignature,
    /// `kid` names no key in the ring (e.g. a key rotated out, or a foreign issuer).
    #[error("unknown signing key")]
    UnknownKey,
    /// `now >= exp`.
    #[error("token expired")]
    Expired,
    /// `nbf` is later than `now` plus the allowed clock skew.
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` is not one of the accepted audiences.
    #[error("token audience not accepted")]
    WrongAudience,
    /// The header `alg` is anything but `RS256` (`none`, `HS256`, `RS384`, `PS256`, …).
    #[error("token algorithm not accepted")]
    WrongAlgorithm,
    /// A required claim (or the `kid` header) is absent or empty.
    #[error("missing claim: {0}")]
    MissingClaim(&'static str),
    /// A claim is present but has an unacceptable value (e.g. `tid` is not a GUID). Also returned
    /// by [`crate::KeyRing::issue`] for a request that would produce such a claim.
    #[error("invalid claim: {0}")]
    InvalidClaim(&'static str),
    /// A key could not be generated, parsed or used. A server-side problem (500), never the
    /// caller's; the message never contains key material.
    #[error("signing key error: {0}")]
    Key(String),
}

impl AuthError {
    /// True when the error is about the presented token (→ 401 `invalid_token`), false when it
    /// is a server-side key problem (→ 500).
    pub fn is_invalid_token(&self) -> bool {
        !matches!(self, AuthError::Key(_))
    }
}
