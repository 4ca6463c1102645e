//! Garbage collection of the chunk store (`hub-gateway gc`): mark every block a live flist
//! uses, then sweep the unmarked blocks older than the grace window.
//!
//! Safety (see `docs/gc.md`): a block is deleted only when no live flist references it (an
//! entry points at the flist, or the flist row is younger than the grace window) and no
//! writer wrote or confirmed it within the grace window. A `dir://` store records
//! confirmations itself (mtime) and checks them atomically in
//! [`hub_store::BlockStore::delete_if_older`]; a `zdb://` store cannot, so writers record
//! them in the block journal (PostgreSQL) first and the collector deletes a block only while
//! it holds the block's journal row locked ([`hub_db::block_journal::lock_for_deletion`]).

mod bloom;
mod mark;
mod run;
mod sweep;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

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
    /// A run continues the sweep of an unfinished run of the same store started within this
    /// window (after a crash), instead of starting over.
    #[serde(with = "humantime_serde")]
    pub resume_within: Duration,
    /// Save the sweep's position at the first resumable point after this many listed
    /// blocks.
    pub checkpoint_every: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(24 * 3600),
            expected_blocks: 10_000_000,
            false_positive_rate: 0.01,
            concurrency: 16,
            progress_every: 100_000,
            resume_within: Duration::from_secs(6 * 3600),
            checkpoint_every: 10_000,
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
    /// Block-journal keys touched within the grace window, marked (stores that need a
    /// journal).
    pub journal_marked: u64,
    /// Block-journal rows older than the grace window, removed before the mark.
    pub journal_pruned: u64,
    /// The id of this run in `gc_runs` (none for a dry run).
    pub run_id: Option<i64>,
    /// The interrupted run whose sweep this run continued, if any.
    pub resumed_from: Option<i64>,
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
    /// Another collection holds the collector's lock.
    #[error("another garbage collection is running")]
    Busy,
    /// A [`Fault`] stopped the run (tests).
    #[error("stopped by an injected fault after {0} deletions")]
    Interrupted(u64),
    /// A blocking task failed.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A failure to inject into a run, to test resuming.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fault {
    /// None.
    #[default]
    None,
    /// Stop with [`GcError::Interrupted`] once this many blocks were deleted (at the end of
    /// the deletion batch that reaches it).
    FailAfter(u64),
    /// Abort the process there, as a crash would (`HUB_GC_CRASH_AFTER`).
    AbortAfter(u64),
}

/// Code a test runs inside a journaled deletion batch, given the batch's candidate ids.
pub type Hook = Arc<dyn Fn(Vec<Vec<u8>>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Fault injection and interleaving points for tests; [`Hooks::default`] has none.
#[derive(Clone, Default)]
pub struct Hooks {
    /// A failure to inject.
    pub fault: Fault,
    /// Runs before a journaled batch's rows are locked (`zdb://`).
    pub before_lock: Option<Hook>,
    /// Runs once a journaled batch's rows are locked, before its blocks are deleted.
    pub after_lock: Option<Hook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("fault", &self.fault)
            .field("before_lock", &self.before_lock.is_some())
            .field("after_lock", &self.after_lock.is_some())
            .finish()
    }
}

/// Runs one collection over `store` with the flists of `db`.
pub async fn run(
    db: &hub_db::PgPool,
    store: &hub_store::SharedStore,
    config: &GcConfig,
    dry_run: bool,
) -> Result<GcReport, GcError> {
    run::run(db, store, config, dry_run, &Hooks::default()).await
}

/// [`run`] with test [`Hooks`].
pub async fn run_with_hooks(
    db: &hub_db::PgPool,
    store: &hub_store::SharedStore,
    config: &GcConfig,
    dry_run: bool,
    hooks: &Hooks,
) -> Result<GcReport, GcError> {
    run::run(db, store, config, dry_run, hooks).await
}
