//! Authentication for OpenTI: everything needed to prove *who* is calling, and nothing about
//! *what* they may do with the data.
//!
//! The room holds the custom TI application's credentials and the tokens they buy
//! (SPEC A.1–A.3):
//!
//! - [`secret`]: client secrets and portal passwords, generated from the OS RNG and stored only
//!   as argon2id PHC strings.
//! - [`keys`]: RSA signing keys, the [`KeyRing`] that signs with the newest key and verifies with
//!   all of them (rotation without invalidating unexpired tokens), and the JWKS document.
//! - [`token`]: the access-token claims (Azure AD v1 shape) and the rules a bearer token must pass.
//! - [`limiter`]: an in-memory brake on repeated authentication failures (429 + `Retry-After`).
//! - [`clock`]: injected time, so expiry is tested by moving a clock instead of sleeping.
//!
//! The crate does no I/O: keys and secret hashes are persisted by the store, HTTP shapes belong to
//! the server. Errors are one [`AuthError`] enum.

pub mod clock;
pub mod error;
pub mod keys;
pub mod limiter;
pub mod secret;
pub mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::AuthError;
pub use keys::{generate_signing_key, jwk_thumbprint, KeyRing, SigningKey};
pub use limiter::FailureLimiter;
pub use secret::{
    dummy_verify, generate_client_secret, hash_password, hash_secret, needs_rehash,
    verify_password, verify_secret,
};
pub use token::{
    Claims, IssuedToken, TokenRequest, MAX_TOKEN_LEN, NBF_LEEWAY_SECS, ROLE_TELEMETRY_INGEST,
    ROLE_TI_READWRITE,
};

#[cfg(test)]
pub(crate) mod test_support;
