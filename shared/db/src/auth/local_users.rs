//! `auth_local_users`: accounts of self-hosted hubs, by password hash (hashing and checking
//! are hub-auth's).

use sqlx::PgExecutor;

use crate::DbError;

/// Creates account `name` with `password_hash`; false if the name is taken.
pub async fn insert(
    db: impl PgExecutor<'_>,
    name: &str,
    password_hash: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO auth_local_users (name, password_hash) VALUES ($1, $2) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(password_hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the password hash of account `name`; false if there is no such account.
pub async fn set_password_hash(
    db: impl PgExecutor<'_>,
    name: &str,
    password_hash: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE auth_local_users SET password_hash = $2 WHERE name = $1")
        .bind(name)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The password hash of account `name`, `None` if there is no such account.
pub async fn password_hash(db: impl PgExecutor<'_>, name: &str) -> Result<Option<String>, DbError> {
    let hash = sqlx::query_scalar("SELECT password_hash FROM auth_local_users WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(hash)
}
