//! Runs of the garbage collector (`hub-gateway gc`) and their checkpoints, so a run that
//! crashed mid-sweep is continued by the next instead of starting over (`docs/gc.md`).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::DbError;

/// An unfinished run, as [`unfinished`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GcRun {
    /// Run id.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// `mark` or `sweep`.
    pub phase: String,
    /// The store listing's cursor after which its sweep continues, if it saved one.
    pub cursor: Option<Vec<u8>>,
}

/// What a run did so far, saved with each checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Blocks listed.
    pub blocks_scanned: u64,
    /// Blocks deleted.
    pub freed_blocks: u64,
    /// Bytes deleted.
    pub freed_bytes: u64,
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Records a new run of `store` in the `mark` phase, continuing `resumed_from` (whose
/// `cursor` it takes over) if given; its id.
pub async fn start(
    db: impl PgExecutor<'_>,
    store: &str,
    cutoff: DateTime<Utc>,
    resumed_from: Option<&GcRun>,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO gc_runs (store, cutoff, phase, cursor, resumed_from) \
         VALUES ($1, $2, 'mark', $3, $4) RETURNING id",
    )
    .bind(store)
    .bind(cutoff)
    .bind(resumed_from.and_then(|run| run.cursor.as_deref()))
    .bind(resumed_from.map(|run| run.id))
    .fetch_one(db)
    .await?)
}

/// The latest unfinished run of `store` started at or after `since`.
pub async fn unfinished(
    db: impl PgExecutor<'_>,
    store: &str,
    since: DateTime<Utc>,
) -> Result<Option<GcRun>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, started_at, phase, cursor FROM gc_runs \
         WHERE store = $1 AND finished_at IS NULL AND started_at >= $2 \
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(store)
    .bind(since)
    .fetch_optional(db)
    .await?)
}

/// Closes every unfinished run of `store` as `resumed`: a new run takes their place (and
/// the latest one's checkpoint, if it continues it).
pub async fn supersede(db: impl PgExecutor<'_>, store: &str) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE gc_runs SET phase = 'resumed', finished_at = now() \
         WHERE store = $1 AND finished_at IS NULL",
    )
    .bind(store)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The run's mark is complete: it sweeps now.
pub async fn sweeping(db: impl PgExecutor<'_>, id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE gc_runs SET phase = 'sweep' WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Saves that every listed block up to `cursor` has been dealt with.
pub async fn checkpoint(
    db: impl PgExecutor<'_>,
    id: i64,
    cursor: &[u8],
    progress: Progress,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE gc_runs SET cursor = $2, blocks_scanned = $3, freed_blocks = $4, \
         freed_bytes = $5, checkpoint_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(cursor)
    .bind(signed(progress.blocks_scanned))
    .bind(signed(progress.freed_blocks))
    .bind(signed(progress.freed_bytes))
    .execute(db)
    .await?;
    Ok(())
}

/// The run completed.
pub async fn finish(db: impl PgExecutor<'_>, id: i64, progress: Progress) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE gc_runs SET phase = 'done', finished_at = now(), blocks_scanned = $2, \
         freed_blocks = $3, freed_bytes = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(signed(progress.blocks_scanned))
    .bind(signed(progress.freed_blocks))
    .bind(signed(progress.freed_bytes))
    .execute(db)
    .await?;
    Ok(())
}

/// Holds PostgreSQL's advisory lock reserved for collections on `conn` (released when the
/// connection closes, so a crashed run never blocks the next): `false` when another
/// collection holds it.
pub async fn try_lock(conn: &mut sqlx::PgConnection) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(GC_LOCK)
        .fetch_one(conn)
        .await?)
}

/// Advisory lock key of collections ("hub-gc" in ASCII).
const GC_LOCK: i64 = 0x6875_622d_6763;
