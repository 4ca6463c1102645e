//! The error type of every query.

use std::fmt;

/// What a query did not find. The gateway turns each into a 404 with the spec's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The repository named by the request (`user not found`).
    Repository,
    /// The repository a link, tag entry or promote reads from (`source repository not found`).
    SourceRepository,
    /// The entry a request reads, renames or deletes, or a link's target (`source not found`).
    Entry,
    /// A tag (`tag not found`, `source tag not found`).
    Tag,
    /// An entry of a tag (`target not found on this tag`).
    TagEntry,
    /// A flist row.
    Flist,
    /// A job (`job id not found`).
    Job,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Repository => "repository",
            Self::SourceRepository => "source repository",
            Self::Entry => "entry",
            Self::Tag => "tag",
            Self::TagEntry => "tag entry",
            Self::Flist => "flist",
            Self::Job => "job",
        })
    }
}

/// Why a write was refused. The gateway turns each into a 409 (or 400) with the spec's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A link would replace a regular flist (`link destination is already a file`).
    DestinationIsFlist,
    /// A taglink name is taken by `<name>.flist` (`there is a .flist file with the same name
    /// existing already`).
    FlistNameTaken,
    /// The job already reached a final state (cancel of a finished job).
    JobFinished,
    /// A rename's destination exists and may not be replaced.
    DestinationExists,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DestinationIsFlist => "the destination is a regular flist",
            Self::FlistNameTaken => "a flist with the same name exists",
            Self::JobFinished => "the job has already finished",
            Self::DestinationExists => "the destination already exists",
        })
    }
}

/// Error of a hub-db query.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The addressed row does not exist.
    #[error("{0} not found")]
    NotFound(Missing),
    /// The write conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A guarded job write found the job changed since the caller last saw it (cancelled,
    /// re-queued by the janitor, or claimed by another worker); nothing was written.
    #[error("the job changed since this worker claimed it")]
    Stale,
    /// A row holds a value the code does not know (a newer schema wrote it?).
    #[error("unexpected value in the database: {0}")]
    Corrupt(String),
    /// The write would add an entry to a repository that holds its quota already
    /// (`limits.repository_max_entries`); nothing was written.
    #[error("repository quota exceeded: {repository} holds {held} entries (at most {max})")]
    QuotaExceeded {
        /// The repository.
        repository: String,
        /// Entries it holds.
        held: u64,
        /// Its quota.
        max: u64,
    },
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Whether retrying later may succeed: the database is unreachable or overloaded, or the
    /// transaction lost a serialisation race. Workers back off and retry on these.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Sqlx(err) => is_transient_sqlx(err),
            _ => false,
        }
    }
}

/// Whether a failure of sqlx may pass by itself (see [`DbError::is_transient`]).
fn is_transient_sqlx(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 = connection exception, 40 = transaction rollback (serialization, deadlock),
        // 53 = insufficient resources, 57P = operator intervention (shutdown, crash recovery).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("40")
                || code.starts_with("53")
                || code.starts_with("57P")
        }),
        _ => false,
    }
}

impl From<hub_model::UnknownFormat> for DbError {
    fn from(err: hub_model::UnknownFormat) -> Self {
        Self::Corrupt(format!("flist format `{}`", err.0))
    }
}

impl From<hub_model::UnknownName> for DbError {
    fn from(err: hub_model::UnknownName) -> Self {
        Self::Corrupt(format!("{} `{}`", err.what, err.value))
    }
}
