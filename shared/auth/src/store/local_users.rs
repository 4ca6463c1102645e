//! Local accounts for self-hosted hubs without ThreeFold Connect: argon2id password hashes.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Argon2, PasswordHash};

use hub_db::auth::local_users;

use super::AuthStore;
use crate::error::{AuthError, StoreError};
use hub_model::names::validate_repository_name;

/// Longest accepted password, in bytes. Argon2 accepts more, but nobody types more and an
/// unbounded input is unbounded work.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Verified against when the user does not exist, so that an unknown name costs as much time as
/// a wrong password and timing does not reveal which names exist. Its parameters are argon2's
/// defaults (those of every stored hash); its output matches no password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm90LWEtcmVhbC1zYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

impl AuthStore {
    /// Create a local account. The name becomes a repository, so it must be a valid one.
    pub async fn create_local_user(&self, name: &str, password: &str) -> Result<(), StoreError> {
        validate_repository_name(name)?;
        let hash = hash_password(password).await?;
        if !local_users::insert(self.pool(), name, &hash).await? {
            return Err(StoreError::UserExists(name.to_owned()));
        }
        Ok(())
    }

    /// Replace a local account's password. False if there is no such account.
    pub async fn set_local_password(&self, name: &str, password: &str) -> Result<bool, StoreError> {
        let hash = hash_password(password).await?;
        Ok(local_users::set_password_hash(self.pool(), name, &hash).await?)
    }

    /// Check a local login. Every failure, unknown user or wrong password, is the same
    /// [`AuthError::InvalidCredentials`] and takes the same time.
    pub async fn verify_local_password(&self, name: &str, password: &str) -> Result<(), AuthError> {
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::InvalidCredentials);
        }
        let stored = local_users::password_hash(self.pool(), name)
            .await
            .map_err(StoreError::from)?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let password = password.to_owned();
        // Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let matches = tokio::task::spawn_blocking(move || password_matches(&hash, &password))
            .await
            .map_err(StoreError::from)?;
        if known && matches {
            Ok(())
        } else {
            Err(AuthError::InvalidCredentials)
        }
    }
}

async fn hash_password(password: &str) -> Result<String, StoreError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::InvalidPassword {
            max: MAX_PASSWORD_BYTES,
        });
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::PasswordHash(e.to_string()))
    })
    .await?
}

/// argon2's verification compares the outputs in constant time.
fn password_matches(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_costs_what_a_real_hash_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).expect("dummy hash parses");
        let real_text = Argon2::default()
            .hash_password(b"pw")
            .expect("hashing works")
            .to_string();
        let real = PasswordHash::new(&real_text).expect("real hash parses");
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.params, real.params);
        assert!(real_text.starts_with("$argon2id$"));
        assert!(!password_matches(DUMMY_HASH, "pw"));
        assert!(!password_matches(DUMMY_HASH, ""));
        assert!(password_matches(&real_text, "pw"));
        assert!(!password_matches(&real_text, "pw "));
    }
}
