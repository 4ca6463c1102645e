//! `auth_org_members`: which users may act as an organisation's repository.

use sqlx::PgExecutor;

use crate::DbError;

/// Makes `username` a member of `org`; false if it already was.
pub async fn add(db: impl PgExecutor<'_>, org: &str, username: &str) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO auth_org_members (org, username) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(username)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes `username` from `org`; false if it was not a member.
pub async fn remove(db: impl PgExecutor<'_>, org: &str, username: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM auth_org_members WHERE org = $1 AND username = $2")
        .bind(org)
        .bind(username)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The organisations `username` belongs to, sorted, at most `limit`.
pub async fn organisations_of(
    db: impl PgExecutor<'_>,
    username: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let orgs = sqlx::query_scalar(
        "SELECT org FROM auth_org_members WHERE username = $1 ORDER BY org LIMIT $2",
    )
    .bind(username)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(orgs)
}

/// The members of `org`, sorted, at most `limit`.
pub async fn members_of(
    db: impl PgExecutor<'_>,
    org: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let members = sqlx::query_scalar(
        "SELECT username FROM auth_org_members WHERE org = $1 ORDER BY username LIMIT $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(members)
}
