//! Portal accounts: the rules for e-mail addresses and passwords, and user creation (shared
//! by `openti user create` and anything else that adds users).

use chrono::{DateTime, Utc};
use openti_store::{Role, Store, StoreError, UserRecord};
use uuid::Uuid;

use crate::identity::IdentityError;

pub const MIN_PASSWORD_LEN: usize = 12;
const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a password someone chose.
pub fn check_password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!("The password must be at least {MIN_PASSWORD_LEN} characters long."));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(format!("The password must be at most {MAX_PASSWORD_LEN} characters long."));
    }
    Ok(())
}

/// A plausible e-mail address: one `@`, something on each side, no spaces, ≤ 254 characters.
pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email.to_string())
    } else {
        Err(format!("'{email}' is not an e-mail address"))
    }
}

/// A user just created; `one_time_password` is set when none was given, and is shown once.
#[derive(Debug, Clone)]
pub struct CreatedUser {
    pub user: UserRecord,
    pub one_time_password: Option<String>,
}

/// Creates a portal user in a tenant. Without a password, a one-time password is generated
/// that must be changed at the first sign-in.
pub async fn create_user(
    store: &dyn Store,
    tenant: &str,
    email: &str,
    role: Role,
    password: Option<String>,
    now: DateTime<Utc>,
) -> Result<CreatedUser, IdentityError> {
    let tenant = store.find_tenant(tenant).await?.ok_or_else(|| IdentityError::UnknownTenant(tenant.to_string()))?;
    let email = check_email(email).map_err(IdentityError::Invalid)?;
    let (password, one_time) = match password {
        Some(p) => {
            check_password(&p).map_err(IdentityError::Invalid)?;
            (p, false)
        }
        // 120 random bits, easy to type once.
        None => (openti_auth::generate_client_secret().chars().take(20).collect(), true),
    };
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || openti_auth::hash_password(&password))
            .await
            .map_err(|e| IdentityError::Invalid(format!("hashing failed: {e}")))?
    };
    let user = UserRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        email,
        role,
        password_hash: hash,
        must_change_password: one_time,
        created_at: now,
    };
    store.create_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(m) => IdentityError::Invalid(format!("{m} already exists")),
        other => other.into(),
    })?;
    Ok(CreatedUser { user, one_time_password: one_time.then_some(password) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_passwords() {
        assert!(check_email("a@b").is_ok());
        assert_eq!(check_email("  admin@example.org ").unwrap(), "admin@example.org");
        assert!(check_email("no-at").is_err());
        assert!(check_email("a b@c").is_err());
        assert!(check_email("@c").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough passphrase").is_ok());
    }
}
