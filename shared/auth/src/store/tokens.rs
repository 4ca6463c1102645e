//! Issued hub JWTs and per-user revocation times (queries in `hub_db::auth::tokens`).

use chrono::{DateTime, Utc};
use hub_db::auth::tokens;
use uuid::Uuid;

pub use hub_db::auth::tokens::TokenInfo;
pub(crate) use hub_db::auth::tokens::TokenState;

use super::AuthStore;
use crate::error::StoreError;

/// Most tokens returned by [`AuthStore::list_tokens`], newest first; keeps a listing bounded.
pub const MAX_LISTED_TOKENS: i64 = 1000;

impl AuthStore {
    pub(crate) async fn record_token(&self, info: &TokenInfo) -> Result<(), StoreError> {
        Ok(tokens::record(self.pool(), info).await?)
    }

    /// The hub JWTs issued to `username`, newest first (at most [`MAX_LISTED_TOKENS`]),
    /// revoked and expired ones included.
    pub async fn list_tokens(&self, username: &str) -> Result<Vec<TokenInfo>, StoreError> {
        Ok(tokens::list_of(self.pool(), username, MAX_LISTED_TOKENS).await?)
    }

    /// Revoke one token of `username`. False when the user has no such unrevoked token, so a
    /// user cannot probe or revoke other users' tokens.
    pub async fn revoke_token(&self, username: &str, jti: Uuid) -> Result<bool, StoreError> {
        Ok(tokens::revoke(self.pool(), username, jti).await?)
    }

    /// Revoke everything `username` holds: every hub JWT, and every hub Ed25519 token minted
    /// before now (they carry no id, only their time). Returns the revocation time.
    pub async fn revoke_all(&self, username: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(tokens::revoke_all(self.pool(), username).await?)
    }

    /// Hub Ed25519 tokens of `username` stamped before this time (or in its second) are
    /// refused.
    pub async fn revoked_before(
        &self,
        username: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(tokens::revoked_before(self.pool(), username).await?)
    }

    /// Forget tokens that expired before `before`; they can no longer be used anyway.
    /// Returns how many were deleted.
    pub async fn delete_expired_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(tokens::delete_expired(self.pool(), before).await?)
    }

    pub(crate) async fn token_state(&self, jti: Uuid) -> Result<Option<TokenState>, StoreError> {
        Ok(tokens::state(self.pool(), jti).await?)
    }
}
