//! Garbage collection of the chunk store (`hub-gateway gc`): mark every block a live flist
//! uses, then sweep the unmarked blocks older than the grace window.
//!
//! Safety (see `docs/gc.md`): a block is deleted only when no live flist references it (an
//! entry points at the flist, or the flist row is younger than the grace window) and the
//! store says it was neither written nor confirmed by `exists`/`set` within the grace window,
//! checked atomically by [`hub_store::BlockStore::delete_if_older`]. A block written or
//! confirmed during the collection is therefore never deleted, whatever the mark saw.

mod bloom;
mod mark;
mod sweep;

use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

pub use bloom::Bloom;

/// The `[gc]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GcConfig {
    /// Blocks and flist rows younger than this are never collected. Must exceed the longest
    /// job (a conversion's blocks are protected by it until its flist is published).
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// Expected number of distinct referenced blocks; sizes the mark's Bloom filter. More
    /// blocks only raise the false-positive rate (garbage kept longer), never delete live data.
    pub expected_blocks: u64,
    /// Target false-positive rate of the mark's Bloom filter.
    pub false_positive_rate: f64,
    /// Deletions in flight at once.
    pub concurrency: usize,
    /// Log progress every this many listed blocks.
    pub progress_every: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(24 * 3600),
            expected_blocks: 10_000_000,
            false_positive_rate: 0.01,
            concurrency: 16,
            progress_every: 100_000,
        }
    }
}

/// What a collection did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// Flist rows no entry references and older than the grace window, deleted (dry run:
    /// that would be deleted) before the mark; their files and blocks are then swept.
    pub flist_rows_deleted: u64,
    /// Live flists whose blocks were marked.
    pub flists_marked: u64,
    /// Live flists whose file is no longer in the store (nothing to mark; logged).
    pub flists_missing: u64,
    /// Block references marked (with repetitions).
    pub blocks_marked: u64,
    /// Blocks listed in the store.
    pub blocks_scanned: u64,
    /// Blocks kept because a live flist references them (or a Bloom false positive).
    pub kept_referenced: u64,
    /// Unreferenced blocks kept because they are younger than the grace window.
    pub kept_young: u64,
    /// Blocks deleted (dry run: that would be deleted).
    pub freed_blocks: u64,
    /// Bytes deleted (dry run: that would be deleted).
    pub freed_bytes: u64,
    /// Time spent marking, in milliseconds.
    pub mark_ms: u64,
    /// Time spent sweeping, in milliseconds.
    pub sweep_ms: u64,
}

/// Errors of a collection; any error stops it before (or while) sweeping, never after a
/// partial mark.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Db(#[from] hub_db::DbError),
    /// The chunk store.
    #[error("chunk store: {0}")]
    Store(#[from] hub_store::StoreError),
    /// A live flist's file cannot be read: its blocks cannot be marked, so nothing is swept.
    #[error("flist {hash} cannot be read, not sweeping: {source}")]
    Flist {
        /// Content hash of the flist.
        hash: String,
        /// Why.
        source: hub_flist::FlistError,
    },
    /// A live flist row has a malformed content hash.
    #[error("flist row {id} has a malformed content hash {hash:?}")]
    BadHash {
        /// Row id.
        id: i64,
        /// The hash text.
        hash: String,
    },
    /// The grace window reaches before the epoch or the settings are unusable.
    #[error("invalid gc settings: {0}")]
    Settings(String),
    /// A blocking task failed.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs one collection over `store` with the flists of `db`.
pub async fn run(
    db: &hub_db::PgPool,
    store: &hub_store::SharedStore,
    config: &GcConfig,
    dry_run: bool,
) -> Result<GcReport, GcError> {
    let started = SystemTime::now();
    let cutoff = started
        .checked_sub(config.grace)
        .ok_or_else(|| GcError::Settings("gc.grace reaches before 1970".to_owned()))?;
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    // A store that cannot be collected is refused before anything is deleted. The listing
    // only starts here: no verdict is made before the mark below is complete.
    let mut listing = store.blocks().peekable();
    if let Some(Err(_)) = std::pin::Pin::new(&mut listing).peek().await
        && let Some(Err(error)) = listing.next().await
    {
        return Err(error.into());
    }
    // Rows first: a row deleted here can no longer be reused by a job (its entry would fail
    // on the foreign key), and the mark below sees exactly the rows that stay.
    let before = chrono::DateTime::<chrono::Utc>::from(cutoff);
    report.flist_rows_deleted = if dry_run {
        hub_db::flists::count_unreferenced(db, before).await?
    } else {
        hub_db::flists::delete_unreferenced(db, before).await?
    };
    tracing::info!(
        rows = report.flist_rows_deleted,
        dry_run,
        "gc: unreferenced flist rows"
    );
    let mut marked = Bloom::new(config.expected_blocks, config.false_positive_rate);
    mark::run(db, store, cutoff, &mut marked, &mut report).await?;
    sweep::run(store, listing, config, cutoff, &marked, &mut report).await?;
    Ok(report)
}
