//! Issued hub JWTs and per-user revocation times.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::AuthStore;
use crate::error::StoreError;

/// Most tokens returned by [`AuthStore::list_tokens`], newest first; keeps a listing bounded.
pub const MAX_LISTED_TOKENS: i64 = 1000;

/// A JWT minted by the hub, as recorded (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TokenInfo {
    /// The token's `jti`.
    pub jti: Uuid,
    /// Whom it authenticates.
    pub username: String,
    /// Free text given when it was issued ("CI of project x").
    pub description: String,
    /// Its `iat`.
    pub created_at: DateTime<Utc>,
    /// Its `exp`.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What the guard needs to know about a presented hub JWT.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TokenState {
    pub(crate) username: String,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl AuthStore {
    pub(crate) async fn record_token(&self, info: &TokenInfo) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_tokens (jti, username, description, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(info.jti)
        .bind(&info.username)
        .bind(&info.description)
        .bind(info.created_at)
        .bind(info.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The hub JWTs issued to `username`, newest first (at most [`MAX_LISTED_TOKENS`]),
    /// revoked and expired ones included.
    pub async fn list_tokens(&self, username: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let tokens = sqlx::query_as::<_, TokenInfo>(
            "SELECT jti, username, description, created_at, expires_at, revoked_at \
             FROM auth_tokens WHERE username = $1 \
             ORDER BY created_at DESC, jti LIMIT $2",
        )
        .bind(username)
        .bind(MAX_LISTED_TOKENS)
        .fetch_all(&self.pool)
        .await?;
        Ok(tokens)
    }

    /// Revoke one token of `username`. False when the user has no such unrevoked token, so a
    /// user cannot probe or revoke other users' tokens.
    pub async fn revoke_token(&self, username: &str, jti: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE auth_tokens SET revoked_at = now() \
             WHERE jti = $1 AND username = $2 AND revoked_at IS NULL",
        )
        .bind(jti)
        .bind(username)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revoke everything `username` holds: every hub JWT, and every hub Ed25519 token minted
    /// before now (they carry no id, only their time). Returns the revocation time.
    pub async fn revoke_all(&self, username: &str) -> Result<DateTime<Utc>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // `now()` is the transaction's start time, identical in both statements.
        let at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO auth_user_revocations (username, revoked_before) VALUES ($1, now()) \
             ON CONFLICT (username) DO UPDATE SET revoked_before = EXCLUDED.revoked_before \
             RETURNING revoked_before",
        )
        .bind(username)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE auth_tokens SET revoked_at = now() \
             WHERE username = $1 AND revoked_at IS NULL",
        )
        .bind(username)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(at)
    }

    /// Hub Ed25519 tokens of `username` stamped before this time (or in its second) are
    /// refused.
    pub async fn revoked_before(
        &self,
        username: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at = sqlx::query_scalar(
            "SELECT revoked_before FROM auth_user_revocations WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(at)
    }

    /// Forget tokens that expired before `before`; they can no longer be used anyway.
    /// Returns how many were deleted.
    pub async fn delete_expired_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM auth_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn token_state(&self, jti: Uuid) -> Result<Option<TokenState>, StoreError> {
        let state = sqlx::query_as::<_, TokenState>(
            "SELECT username, revoked_at FROM auth_tokens WHERE jti = $1",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await?;
        Ok(state)
    }
}
