//! `auth_tokens` (hub JWTs, recorded by their `jti`; the token itself is never stored) and
//! `auth_user_revocations` (revoke-everything times).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// A JWT minted by the hub, as recorded.
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

/// Who a recorded token authenticates and whether it was revoked.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenState {
    /// Whom it authenticates.
    pub username: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Records a newly issued token (`revoked_at` is ignored: a new token is not revoked).
pub async fn record(db: impl PgExecutor<'_>, info: &TokenInfo) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO auth_tokens (jti, username, description, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(info.jti)
    .bind(&info.username)
    .bind(&info.description)
    .bind(info.created_at)
    .bind(info.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The tokens issued to `username`, newest first, at most `limit`, revoked and expired ones
/// included.
pub async fn list_of(
    db: impl PgExecutor<'_>,
    username: &str,
    limit: i64,
) -> Result<Vec<TokenInfo>, DbError> {
    let tokens = sqlx::query_as::<_, TokenInfo>(
        "SELECT jti, username, description, created_at, expires_at, revoked_at \
         FROM auth_tokens WHERE username = $1 \
         ORDER BY created_at DESC, jti LIMIT $2",
    )
    .bind(username)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(tokens)
}

/// Revokes token `jti` if `username` holds it unrevoked; false otherwise (so nobody can probe
/// or revoke another user's tokens).
pub async fn revoke(db: impl PgExecutor<'_>, username: &str, jti: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE auth_tokens SET revoked_at = now() \
         WHERE jti = $1 AND username = $2 AND revoked_at IS NULL",
    )
    .bind(jti)
    .bind(username)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every recorded token of `username` and sets its revoke-everything time to now, in
/// one transaction; returns that time.
pub async fn revoke_all(pool: &PgPool, username: &str) -> Result<DateTime<Utc>, DbError> {
    let mut tx = pool.begin().await?;
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
        "UPDATE auth_tokens SET revoked_at = now() WHERE username = $1 AND revoked_at IS NULL",
    )
    .bind(username)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(at)
}

/// `username`'s revoke-everything time, if it ever revoked everything.
pub async fn revoked_before(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<DateTime<Utc>>, DbError> {
    let at =
        sqlx::query_scalar("SELECT revoked_before FROM auth_user_revocations WHERE username = $1")
            .bind(username)
            .fetch_optional(db)
            .await?;
    Ok(at)
}

/// Forgets the tokens that expired before `before`; returns how many.
pub async fn delete_expired(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, DbError> {
    let done = sqlx::query("DELETE FROM auth_tokens WHERE expires_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// The state of recorded token `jti`, `None` if it was never recorded (or forgotten).
pub async fn state(db: impl PgExecutor<'_>, jti: Uuid) -> Result<Option<TokenState>, DbError> {
    let state = sqlx::query_as::<_, TokenState>(
        "SELECT username, revoked_at FROM auth_tokens WHERE jti = $1",
    )
    .bind(jti)
    .fetch_optional(db)
    .await?;
    Ok(state)
}
