//! Repositories: named collections of entries and tags.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::{DbError, Missing};

/// A repository as listed by `GET /api/repositories`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Repository {
    /// Repository name (a user or organisation name).
    pub name: String,
    /// Whether the name is in the configured official list.
    pub official: bool,
    /// When the repository was created.
    pub created_at: DateTime<Utc>,
    /// Last change of any of its entries or tags.
    pub updated_at: DateTime<Utc>,
}

/// Create the repository `name` if it does not exist (writes create the caller's repository on
/// demand, hub-api §7). Name validation is the caller's job.
pub async fn ensure(db: impl PgExecutor<'_>, name: &str) -> Result<(), DbError> {
    sqlx::query("INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(db)
        .await?;
    Ok(())
}

/// The repository `name`, if it exists.
pub async fn get(db: impl PgExecutor<'_>, name: &str) -> Result<Option<Repository>, DbError> {
    let repository = sqlx::query_as::<_, Repository>(
        "SELECT name, official, created_at, updated_at FROM repositories WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(db)
    .await?;
    Ok(repository)
}

/// Fail with [`Missing::Repository`] unless `name` exists.
pub async fn require(db: impl PgExecutor<'_>, name: &str) -> Result<(), DbError> {
    exists_or(db, name, Missing::Repository).await
}

/// The number of repositories and their latest change: every write advances some
/// repository's `updated_at`, so this changes with every entry or tag change anywhere (the
/// version of the whole-hub listings).
pub async fn hub_version(db: impl PgExecutor<'_>) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
    let version = sqlx::query_as("SELECT count(*), max(updated_at) FROM repositories")
        .fetch_one(db)
        .await?;
    Ok(version)
}

/// Locks repository `name`'s row until the end of the transaction, so that checks and writes
/// on its entries happen as one step. Fails with [`Missing::Repository`] when it does not exist.
pub async fn lock(conn: &mut PgConnection, name: &str) -> Result<(), DbError> {
    let locked: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM repositories WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    match locked {
        Some(_) => Ok(()),
        None => Err(DbError::NotFound(Missing::Repository)),
    }
}

/// Every repository, sorted by name.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Repository>, DbError> {
    let repositories = sqlx::query_as::<_, Repository>(
        "SELECT name, official, created_at, updated_at FROM repositories ORDER BY name",
    )
    .fetch_all(db)
    .await?;
    Ok(repositories)
}

/// Mark exactly the repositories in `names` as official (the configured list), creating the
/// missing ones so that they show up in listings.
pub async fn set_official(conn: &mut PgConnection, names: &[String]) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO repositories (name, official) SELECT unnest($1::text[]), true \
         ON CONFLICT (name) DO UPDATE SET official = true",
    )
    .bind(names)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE repositories SET official = false WHERE official AND NOT (name = ANY($1))")
        .bind(names)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Create the repository `name` if needed and record a change of its content, in one statement.
pub(crate) async fn ensure_touched(db: impl PgExecutor<'_>, name: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO repositories (name) VALUES ($1) \
         ON CONFLICT (name) DO UPDATE SET updated_at = now()",
    )
    .bind(name)
    .execute(db)
    .await?;
    Ok(())
}

/// Record a change of the repository's content (hub-api §6.2: mirrors compare `updated`).
pub(crate) async fn touch(db: impl PgExecutor<'_>, name: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE repositories SET updated_at = now() WHERE name = $1")
        .bind(name)
        .execute(db)
        .await?;
    Ok(())
}

/// Fail with `missing` unless repository `name` exists.
pub(crate) async fn exists_or(
    db: impl PgExecutor<'_>,
    name: &str,
    missing: Missing,
) -> Result<(), DbError> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM repositories WHERE name = $1")
        .bind(name)
        .fetch_optional(db)
        .await?;
    found.map(|_| ()).ok_or(DbError::NotFound(missing))
}
