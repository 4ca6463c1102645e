//! Tags: named sets of pointers inside a repository. A tag exists while it has entries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgExecutor, Postgres};

use crate::entries::{self, Entry, ListedEntry, ListedKind, Lookup};
use crate::quota::{self, EntryQuota, Slot};
use crate::repositories;
use crate::{DbError, Missing};

/// A tag of a repository.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct Tag {
    /// Repository holding the tag.
    pub repository: String,
    /// Tag name.
    pub name: String,
    /// When the tag was created.
    pub created_at: DateTime<Utc>,
    /// Last change of its entries.
    pub updated_at: DateTime<Utc>,
}

/// The tag `repository/name`, if it exists.
pub async fn get(
    db: impl PgExecutor<'_>,
    repository: &str,
    name: &str,
) -> Result<Option<Tag>, DbError> {
    let tag = sqlx::query_as::<_, Tag>(
        "SELECT repository, name, created_at, updated_at FROM tags \
         WHERE repository = $1 AND name = $2",
    )
    .bind(repository)
    .bind(name)
    .fetch_optional(db)
    .await?;
    Ok(tag)
}

#[derive(sqlx::FromRow)]
struct TagEntryRow {
    name: String,
    target_repository: String,
    target_name: String,
    own_updated: DateTime<Utc>,
    size: Option<i64>,
    target_updated: Option<DateTime<Utc>>,
}

/// The entries of tag `tag` of `repository`, sorted by name (hub-api §6.5), each resolved to its
/// final target's size and mtime. Tag entries are always listed as symlinks with the target
/// `repo/name`.
///
/// Errors: [`Missing::Repository`], [`Missing::Tag`].
pub async fn listing(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    tag: &str,
) -> Result<Vec<ListedEntry>, DbError> {
    let mut conn = db.acquire().await?;
    repositories::require(&mut *conn, repository).await?;
    if get(&mut *conn, repository, tag).await?.is_none() {
        return Err(DbError::NotFound(Missing::Tag));
    }
    let resolve = entries::resolve_pointer_join("p", "true", "r");
    let rows = sqlx::query_as::<_, TagEntryRow>(sql!(
        "SELECT p.name, p.target_repository, p.target_name, p.updated_at AS own_updated, \
                r.size, r.updated_at AS target_updated \
         FROM tag_entries p {resolve} \
         WHERE p.repository = $1 AND p.tag = $2 ORDER BY p.name"
    ))
    .bind(repository)
    .bind(tag)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ListedEntry {
            name: row.name,
            kind: ListedKind::Symlink,
            size: row.size,
            updated: row.target_updated.unwrap_or(row.own_updated),
            linktime: Some(row.own_updated),
            target: Some(format!("{}/{}", row.target_repository, row.target_name)),
        })
        .collect())
}

/// Add or replace the entry `name` → `target_repository/target_name` in tag `tag` of
/// `repository` (hub-api §7.5 GET), creating the repository and the tag on demand.
///
/// Errors: [`Missing::SourceRepository`], [`Missing::Entry`] when the target does not exist,
/// [`DbError::QuotaExceeded`] when a new tag entry exceeds `quota`.
pub async fn put_entry(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    tag: &str,
    name: &str,
    target_repository: &str,
    target_name: &str,
    quota: EntryQuota,
) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    repositories::exists_or(&mut *tx, target_repository, Missing::SourceRepository).await?;
    if entries::get(&mut *tx, target_repository, target_name)
        .await?
        .is_none()
    {
        return Err(DbError::NotFound(Missing::Entry));
    }
    repositories::ensure_touched(&mut *tx, repository).await?;
    quota::admit(&mut tx, repository, Slot::TagEntry { tag, name }, quota).await?;
    sqlx::query(
        "INSERT INTO tags (repository, name) VALUES ($1, $2) \
         ON CONFLICT (repository, name) DO UPDATE SET updated_at = now()",
    )
    .bind(repository)
    .bind(tag)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO tag_entries (repository, tag, name, target_repository, target_name) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (repository, tag, name) DO UPDATE SET \
             target_repository = EXCLUDED.target_repository, \
             target_name = EXCLUDED.target_name, updated_at = now()",
    )
    .bind(repository)
    .bind(tag)
    .bind(name)
    .bind(target_repository)
    .bind(target_name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Remove the entry `name` from tag `tag` of `repository` (hub-api §7.5 DELETE), whether or not its
/// target still exists; the tag disappears with its last entry.
///
/// Errors: [`Missing::TagEntry`] when the repository, the tag or the entry does not exist.
pub async fn remove_entry(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    tag: &str,
    name: &str,
) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    let removed =
        sqlx::query("DELETE FROM tag_entries WHERE repository = $1 AND tag = $2 AND name = $3")
            .bind(repository)
            .bind(tag)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    if removed.rows_affected() == 0 {
        return Err(DbError::NotFound(Missing::TagEntry));
    }
    // Delete the tag when this was its last entry, otherwise record the change.
    sqlx::query(
        "DELETE FROM tags WHERE repository = $1 AND name = $2 \
         AND NOT EXISTS (SELECT 1 FROM tag_entries WHERE repository = $1 AND tag = $2)",
    )
    .bind(repository)
    .bind(tag)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE tags SET updated_at = now() WHERE repository = $1 AND name = $2")
        .bind(repository)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    repositories::touch(&mut *tx, repository).await?;
    tx.commit().await?;
    Ok(())
}

/// Look up entry `name` of tag `tag` of `repository` and the flist it resolves to, for
/// downloads through a tag path (hub-api §8.1). The returned [`Lookup::entry`] describes the tag
/// entry as a symlink.
///
/// Errors: [`Missing::Repository`], [`Missing::Tag`], [`Missing::TagEntry`].
pub async fn lookup_entry(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    tag: &str,
    name: &str,
) -> Result<Lookup, DbError> {
    let mut conn = db.acquire().await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        target_repository: String,
        target_name: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT target_repository, target_name, created_at, updated_at FROM tag_entries \
         WHERE repository = $1 AND tag = $2 AND name = $3",
    )
    .bind(repository)
    .bind(tag)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        repositories::require(&mut *conn, repository).await?;
        if get(&mut *conn, repository, tag).await?.is_none() {
            return Err(DbError::NotFound(Missing::Tag));
        }
        return Err(DbError::NotFound(Missing::TagEntry));
    };
    let chain = entries::follow_chain(&mut conn, &row.target_repository, &row.target_name).await?;
    let target = match chain.last() {
        Some(end) => entries::target_of(&mut conn, end).await?,
        None => None,
    };
    let raw_target = format!("../../{}/{}", row.target_repository, row.target_name);
    Ok(Lookup {
        entry: Entry {
            repository: repository.to_owned(),
            name: name.to_owned(),
            kind: entries::EntryKind::Symlink,
            flist_id: None,
            target_repository: Some(row.target_repository),
            target_name: Some(row.target_name),
            raw_target: Some(raw_target),
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
        target,
    })
}
