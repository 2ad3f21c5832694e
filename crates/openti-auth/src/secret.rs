//! Client secrets and passwords.
//!
//! A client secret is shown to the tenant admin exactly once (SPEC A.1) and only its argon2id
//! hash is stored. Portal user passwords use the same hashing, via the [`hash_password`] /
//! [`verify_password`] aliases, so there is one policy to review.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;

/// Random bytes in a client secret: 256 bits, far beyond any online or offline guessing.
pub const CLIENT_SECRET_BYTES: usize = 32;

/// OWASP password storage recommendation for argon2id (m = 19 MiB, t = 2, p = 1): roughly
/// 10–50 ms per hash on a server core, which keeps the token endpoint cheap for honest clients
/// and an offline attack on a leaked hash expensive.
pub const ARGON2_M_COST_KIB: u32 = 19_456;
pub const ARGON2_T_COST: u32 = 2;
pub const ARGON2_P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    // The parameters are compile-time constants inside argon2's accepted ranges; a failure here
    // is a programming error caught by every test that hashes.
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A new client secret: 32 bytes from the OS RNG, base64url without padding (43 characters).
///
/// The alphabet (`A–Z a–z 0–9 - _`) needs no escaping in a form body, a URL, a JSON string or
/// an HTTP Basic header, so PowerShell and curl users can paste it anywhere.
pub fn generate_client_secret() -> String {
    let mut bytes = [0u8; CLIENT_SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hashes a secret into an argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
/// with a fresh random salt.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    // Hashing can only fail for out-of-range parameters (constants, see `hasher`) or a password
    // longer than 4 GiB, which no request body can carry.
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2id hashing with constant parameters cannot fail")
        .to_string()
}

/// Checks a secret against a stored PHC string. False for a wrong secret and for a malformed or
/// non-argon2id PHC string (never panics). The comparison inside argon2 is constant-time.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Only argon2id is ever written; refusing other variants stops a tampered row from
    // downgrading to argon2d/argon2i.
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    // The verifier takes m/t/p from the PHC string itself, so hashes made with older
    // parameters keep verifying after a policy change (see `needs_rehash`).
    hasher().verify_password(secret.as_bytes(), &parsed).is_ok()
}

/// True when a stored hash was made with other parameters than today's policy, so the caller
/// may re-hash the secret after a successful verification.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() != ARGON2_M_COST_KIB
                || p.t_cost() != ARGON2_T_COST
                || p.p_cost() != ARGON2_P_COST
        }
        Err(_) => true,
    }
}

/// Spends the same time as a real [`verify_secret`] and always fails.
///
/// Call it when the client id (or user name) is unknown, so the response time of the token
/// endpoint does not reveal which client ids exist.
pub fn dummy_verify(secret: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_secret(&generate_client_secret()));
    let _ = verify_secret(secret, phc);
}

/// Hashes a portal user's password; the same policy as client secrets.
pub fn hash_password(password: &str) -> String {
    hash_secret(password)
}

/// Verifies a portal user's password; the same policy as client secrets.
pub fn verify_password(password: &str, phc: &str) -> bool {
    verify_secret(password, phc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secret_is_256_bits_of_url_safe_text() {
        let s = generate_client_secret();
        assert_eq!(s.len(), 43);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&s).expect("base64url").len(), 32);
        assert_ne!(s, generate_client_secret(), "two secrets must differ");
    }

    #[test]
    fn hash_is_argon2id_with_owasp_params_and_verifies() {
        let secret = generate_client_secret();
        let phc = hash_secret(&secret);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_secret(&secret, &phc));
        assert!(!verify_secret("wrong", &phc));
        assert!(!verify_secret(&secret[..42], &phc));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn same_secret_gets_a_fresh_salt() {
        assert_ne!(hash_secret("pw"), hash_secret("pw"));
    }

    #[test]
    fn malformed_or_foreign_phc_is_false_not_panic() {
        for phc in [
            "",
            "plain",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$bad",
            "$argon2id$v=19$m=x,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
            "$2b$12$abcdefghijklmnopqrstuuJ7l8Qe0k0YQm5n0n9sD8sP6hQ2E5i7a",
        ] {
            assert!(!verify_secret("pw", phc), "{phc:?}");
            assert!(needs_rehash(phc), "{phc:?}");
        }
    }

    #[test]
    fn argon2i_hash_is_refused_even_when_correct() {
        let salt = SaltString::generate(&mut OsRng);
        let params =
            Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None).expect("params");
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string();
        assert!(phc.starts_with("$argon2i$"));
        assert!(!verify_secret("pw", &phc));
    }

    #[test]
    fn weaker_params_verify_but_ask_for_rehash() {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(4096, 1, 1, None).expect("params");
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_secret("pw", &phc));
        assert!(needs_rehash(&phc));
    }

    #[test]
    fn password_aliases_and_dummy_verify() {
        let phc = hash_password("correct horse");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("Correct horse", &phc));
        dummy_verify("anything");
    }
}
