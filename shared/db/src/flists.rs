//! Flist files: one immutable row per distinct content, addressed by the content hash of the
//! bytes in the object store.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use hub_model::Format;

use crate::{DbError, Missing};

/// A flist row without its (large) contents dump.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flist {
    /// Row id, referenced by entries.
    pub id: i64,
    /// Object id of the bytes in the store.
    pub content_hash: String,
    /// Hex MD5 of the bytes.
    pub md5: String,
    /// Size of the file in bytes.
    pub size: i64,
    /// File format.
    pub format: Format,
    /// `{regular, symlink, directory, special, failure, fullsize}`.
    pub stats: serde_json::Value,
    /// The flist's metadata table.
    pub metadata: serde_json::Value,
    /// What it was built from.
    pub source: Option<serde_json::Value>,
    /// Idempotency key of the conversion that built it.
    pub source_key: Option<String>,
    /// Account whose job first produced these bytes.
    pub creator: Option<String>,
    /// When these bytes were first recorded.
    pub created_at: DateTime<Utc>,
}

/// The values of a new flist row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlist {
    /// Object id of the bytes in the store.
    pub content_hash: String,
    /// Hex MD5 of the bytes (lowercase, 32 characters).
    pub md5: String,
    /// Size in bytes.
    pub size: i64,
    /// File format.
    pub format: Format,
    /// `{regular, symlink, directory, special, failure, fullsize}`.
    pub stats: serde_json::Value,
    /// The flist's metadata table as a JSON object.
    pub metadata: serde_json::Value,
    /// The hub-api §6.6 contents dump, serialised exactly as served.
    pub dump: Option<Vec<u8>>,
    /// What the flist was built from.
    pub source: Option<serde_json::Value>,
    /// Idempotency key of the conversion (source digest + options + format version).
    pub source_key: Option<String>,
    /// Account whose job produced it.
    pub creator: Option<String>,
}

#[derive(sqlx::FromRow)]
struct FlistRow {
    id: i64,
    content_hash: String,
    md5: String,
    size: i64,
    format: String,
    stats: serde_json::Value,
    metadata: serde_json::Value,
    source: Option<serde_json::Value>,
    source_key: Option<String>,
    creator: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<FlistRow> for Flist {
    type Error = DbError;

    fn try_from(row: FlistRow) -> Result<Self, DbError> {
        Ok(Self {
            id: row.id,
            content_hash: row.content_hash,
            md5: row.md5,
            size: row.size,
            format: row.format.parse()?,
            stats: row.stats,
            metadata: row.metadata,
            source: row.source,
            source_key: row.source_key,
            creator: row.creator,
            created_at: row.created_at,
        })
    }
}

const COLUMNS: &str = "id, content_hash, md5, size, format, stats, metadata, source, source_key, \
                       creator, created_at";

/// Record the flist `new`, or return the existing row with the same content hash.
///
/// Content addressing makes this idempotent: a redelivered job that stores the same bytes again
/// gets the same row, and two names publishing identical bytes share it. The first writer's
/// `source`/`creator` are kept. One statement, so it can run inside the caller's transaction.
pub async fn insert_or_get(db: impl PgExecutor<'_>, new: &NewFlist) -> Result<Flist, DbError> {
    // `DO UPDATE` of the conflict key (a no-op) rather than `DO NOTHING`, so that RETURNING
    // yields the existing row too.
    sqlx::query_as::<_, FlistRow>(sql!(
        "INSERT INTO flists (content_hash, md5, size, format, stats, metadata, dump, source, \
                             source_key, creator) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (content_hash) DO UPDATE SET content_hash = EXCLUDED.content_hash \
         RETURNING {COLUMNS}"
    ))
    .bind(&new.content_hash)
    .bind(&new.md5)
    .bind(new.size)
    .bind(new.format.as_str())
    .bind(&new.stats)
    .bind(&new.metadata)
    .bind(new.dump.as_deref())
    .bind(&new.source)
    .bind(&new.source_key)
    .bind(&new.creator)
    .fetch_one(db)
    .await?
    .try_into()
}

/// The flist with row id `id`.
pub async fn get(db: impl PgExecutor<'_>, id: i64) -> Result<Flist, DbError> {
    sqlx::query_as::<_, FlistRow>(sql!("SELECT {COLUMNS} FROM flists WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(DbError::NotFound(Missing::Flist))?
        .try_into()
}

/// The flist whose bytes have content hash `content_hash`.
pub async fn by_hash(
    db: impl PgExecutor<'_>,
    content_hash: &str,
) -> Result<Option<Flist>, DbError> {
    sqlx::query_as::<_, FlistRow>(sql!("SELECT {COLUMNS} FROM flists WHERE content_hash = $1"))
        .bind(content_hash)
        .fetch_optional(db)
        .await?
        .map(Flist::try_from)
        .transpose()
}

/// The newest flist built by a conversion with idempotency key `source_key`, so converting the
/// same source with the same options twice can reuse the result.
pub async fn by_source_key(
    db: impl PgExecutor<'_>,
    source_key: &str,
) -> Result<Option<Flist>, DbError> {
    sqlx::query_as::<_, FlistRow>(sql!(
        "SELECT {COLUMNS} FROM flists WHERE source_key = $1 ORDER BY id DESC LIMIT 1"
    ))
    .bind(source_key)
    .fetch_optional(db)
    .await?
    .map(Flist::try_from)
    .transpose()
}

/// At most `limit` flist rows that no entry references and that were recorded before
/// `created_before`, lowest id first, starting after id `after` (pass 0 to start): what a
/// garbage collector may remove, page by page.
///
/// Workers write a row only in the transaction that publishes an entry naming it, so such rows
/// are flists whose entries were deleted or replaced (or left by older releases). The grace
/// period (`created_before`) keeps a row a job found by `source_key` or content hash just
/// before its entry went away, so the job can publish it again. A delete must still repeat the
/// "no entry" condition, and the foreign key of `entries.flist_id` refuses to delete a row an
/// entry published in between.
pub async fn unreferenced(
    db: impl PgExecutor<'_>,
    created_before: DateTime<Utc>,
    after: i64,
    limit: i64,
) -> Result<Vec<Flist>, DbError> {
    sqlx::query_as::<_, FlistRow>(sql!(
        "SELECT {COLUMNS} FROM flists f \
         WHERE f.id > $1 AND f.created_at < $2 \
           AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.flist_id = f.id) \
         ORDER BY f.id LIMIT $3"
    ))
    .bind(after)
    .bind(created_before)
    .bind(limit)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(Flist::try_from)
    .collect()
}

/// The precomputed contents dump (hub-api §6.6) of flist `id`, if one was stored.
pub async fn dump(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Vec<u8>>, DbError> {
    let dump: Option<Option<Vec<u8>>> = sqlx::query_scalar("SELECT dump FROM flists WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    dump.ok_or(DbError::NotFound(Missing::Flist))
}

/// Flists the garbage collector must keep, as `(id, content_hash)`: those a `regular` entry
/// points at, and those created at or after `since` (the grace window), which covers a
/// job's flist stored before its entry is published.
pub async fn live_for_gc(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, content_hash FROM flists f \
         WHERE f.created_at >= $1 \
            OR EXISTS (SELECT 1 FROM entries e WHERE e.flist_id = f.id) \
         ORDER BY id",
    )
    .bind(since)
    .fetch_all(db)
    .await?)
}

/// Deletes the flist rows no entry references that were created before `before`; the number
/// deleted. One statement: an entry published concurrently either commits first (the row is
/// then referenced and kept) or fails on its foreign key (the row is gone), never dangles.
pub async fn delete_unreferenced(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM flists f WHERE f.created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.flist_id = f.id)",
    )
    .bind(before)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// How many rows [`delete_unreferenced`] would delete now.
pub async fn count_unreferenced(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, DbError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM flists f WHERE f.created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.flist_id = f.id)",
    )
    .bind(before)
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(count).unwrap_or_default())
}
