//! Fault injection for crash tests: abort the process at a named step of publishing.
//!
//! Set `HUB_JOBS_CRASH_AT` to one of the [`CrashPoint`] names (e.g. `before_commit`) and the
//! worker process aborts (like `kill -9`: no destructor, no acknowledgement, no rollback sent)
//! the first time a job reaches that step. Unset (always, outside tests), each point is one
//! read of a cached value.

use std::sync::OnceLock;

/// Environment variable naming the step to abort at.
pub const CRASH_AT_ENV: &str = "HUB_JOBS_CRASH_AT";

/// A step of publishing a job's flist, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The flist bytes are in the object store.
    FlistStored,
    /// The publishing transaction has begun.
    TransactionBegan,
    /// The flist row is written.
    FlistRowInserted,
    /// Entry and job success are written, the transaction not yet committed.
    BeforeCommit,
    /// Committed; the queue message is not acknowledged yet.
    AfterCommit,
}

impl CrashPoint {
    /// Every point, in the order a job reaches them.
    pub const ALL: [Self; 5] = [
        Self::FlistStored,
        Self::TransactionBegan,
        Self::FlistRowInserted,
        Self::BeforeCommit,
        Self::AfterCommit,
    ];

    /// Its name in [`CRASH_AT_ENV`].
    pub fn name(self) -> &'static str {
        match self {
            Self::FlistStored => "flist_stored",
            Self::TransactionBegan => "transaction_began",
            Self::FlistRowInserted => "flist_row_inserted",
            Self::BeforeCommit => "before_commit",
            Self::AfterCommit => "after_commit",
        }
    }
}

/// Abort the process if [`CRASH_AT_ENV`] names `point`.
pub(crate) fn crash_point(point: CrashPoint) {
    static CRASH_AT: OnceLock<Option<String>> = OnceLock::new();
    let armed = CRASH_AT.get_or_init(|| std::env::var(CRASH_AT_ENV).ok());
    if armed.as_deref() == Some(point.name()) {
        tracing::error!(point = point.name(), "crash test: aborting the process");
        std::process::abort();
    }
}
