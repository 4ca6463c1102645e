//! The block journal (`docs/gc.md`): keys writers are about to write or confirm in a store
//! that cannot record a confirmation itself (0-db), and the garbage collector's deletion lock.
//!
//! A writer's [`touch`] commits before it sends anything to the store. The collector deletes
//! a block only inside a transaction holding the block's row locked ([`lock_for_deletion`]):
//! a touch that committed before is seen (the block is kept), a touch that comes later waits
//! for the transaction to end, and the writer then finds the block gone and writes it again.

use chrono::{DateTime, Utc};
use futures::{Stream, TryStreamExt};
use sqlx::{PgConnection, PgExecutor};

use crate::DbError;

/// Rows removed per statement by [`prune`]: short transactions, so writers touching one of
/// the rows never wait long.
const PRUNE_BATCH: i64 = 10_000;

/// Records `keys` as touched at `at` (a later time wins over an earlier one). Waits while the
/// collector holds one of the rows locked for deletion.
pub async fn touch(
    db: impl PgExecutor<'_>,
    keys: &[&[u8]],
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    // Distinct and sorted: one upsert cannot update a row twice, and a fixed lock order keeps
    // concurrent batches from deadlocking.
    sqlx::query(
        "INSERT INTO block_journal (key, touched_at) \
         SELECT DISTINCT k, $2::timestamptz FROM unnest($1::bytea[]) AS t(k) ORDER BY k \
         ON CONFLICT (key) DO UPDATE \
         SET touched_at = greatest(block_journal.touched_at, excluded.touched_at)",
    )
    .bind(keys)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// A journal row as locked by [`lock_for_deletion`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Touched {
    /// The block key.
    pub key: Vec<u8>,
    /// Last touch; `None` when no writer ever touched it (the row was inserted by the lock).
    pub touched_at: Option<DateTime<Utc>>,
}

/// Locks the rows of `keys` until the end of the caller's transaction, inserting the missing
/// ones (never touched: `-infinity`) so a writer arriving later waits on them too. Returns
/// every row, sorted by key.
///
/// One upsert whose update changes nothing: it goes through the primary key whatever the
/// planner thinks of the table (a `SELECT … WHERE key = ANY(…) FOR UPDATE` got a cached
/// sequential-scan plan and slowed down with every row the collector added), and it takes
/// the same row lock as a writer's [`touch`], so each waits for the other.
pub async fn lock_for_deletion(
    tx: &mut PgConnection,
    keys: &[Vec<u8>],
) -> Result<Vec<Touched>, DbError> {
    let mut rows: Vec<Touched> = sqlx::query_as(
        "INSERT INTO block_journal AS j (key, touched_at) \
         SELECT DISTINCT k, '-infinity'::timestamptz FROM unnest($1::bytea[]) AS t(k) ORDER BY k \
         ON CONFLICT (key) DO UPDATE SET touched_at = j.touched_at \
         RETURNING j.key, nullif(j.touched_at, '-infinity'::timestamptz) AS touched_at",
    )
    .bind(keys)
    .fetch_all(&mut *tx)
    .await?;
    rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(rows)
}

/// Deletes the rows last touched before `before` (including the ones the collector's locks
/// inserted), in short batches; the number deleted.
pub async fn prune(db: &sqlx::PgPool, before: DateTime<Utc>) -> Result<u64, DbError> {
    let mut deleted = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM block_journal WHERE key IN \
             (SELECT key FROM block_journal WHERE touched_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(PRUNE_BATCH)
        .execute(db)
        .await?;
        deleted += done.rows_affected();
        if done.rows_affected() < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// The keys touched at or after `since`, streamed (the collector marks them).
pub fn touched_since<'a>(
    db: &'a sqlx::PgPool,
    since: DateTime<Utc>,
) -> impl Stream<Item = Result<Vec<u8>, DbError>> + Send + 'a {
    sqlx::query_scalar("SELECT key FROM block_journal WHERE touched_at >= $1")
        .bind(since)
        .fetch(db)
        .map_err(DbError::from)
}

/// The journal over a PostgreSQL pool, for [`hub_store::Journaled`] stores.
#[derive(Debug, Clone)]
pub struct PgJournal {
    pool: sqlx::PgPool,
}

impl PgJournal {
    /// A journal writing through `pool`.
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl hub_store::BlockJournal for PgJournal {
    async fn touch(&self, ids: &[&[u8]]) -> Result<(), hub_store::StoreError> {
        touch(&self.pool, ids, Utc::now())
            .await
            .map_err(|error| hub_store::StoreError::Journal {
                transient: error.is_transient(),
                reason: error.to_string(),
            })
    }
}

/// `store` wrapped so every write and confirmation is journaled first, when it needs it
/// ([`hub_store::BlockStore::needs_journal`]): what every writer to the hub's store uses.
pub fn journaled(store: hub_store::SharedStore, pool: sqlx::PgPool) -> hub_store::SharedStore {
    hub_store::Journaled::wrap_if_needed(store, std::sync::Arc::new(PgJournal::new(pool)))
}
