//! What a worker binary implements: a handler for one kind of job.

use std::future::Future;

use hub_db::DbError;
use hub_db::jobs::{FailureCode, Job, JobKind};
use hub_proto::v1::JobEnvelope;

use super::JobContext;

/// The work of one kind of job.
///
/// `run` must be idempotent: a job whose worker died is run again by another worker. Content
/// addressing makes the usual work (store chunks, store the flist, record its row) naturally
/// so; the result becomes visible only when the runtime commits the job's success.
pub trait JobHandler: Send + Sync + 'static {
    /// The kind of jobs this handler runs.
    const KIND: JobKind;

    /// Run `job`. Report progress and check for cancellation through `ctx`; return what to
    /// publish, or why the job failed.
    fn run(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
    ) -> impl Future<Output = Result<JobOutput, JobError>> + Send;
}

/// A job handed to a handler.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job row as claimed (`running`, `attempt` counts this run).
    pub job: Job,
    /// Its payload.
    pub envelope: JobEnvelope,
}

impl ClaimedJob {
    /// `retrying <attempt>/<max>: <reason>` when this run retries an earlier attempt, the reason
    /// being how that attempt failed; `None` on the first attempt. Handlers report it instead of
    /// repeating the first attempt's progress line, so a watcher sees that and why the job is
    /// retried.
    pub fn retry_note(&self) -> Option<String> {
        let job = &self.job;
        if job.attempt <= 1 {
            return None;
        }
        let reason = job
            .error
            .as_ref()
            .map_or("the previous attempt did not finish", |failure| {
                failure.message.as_str()
            });
        Some(format!(
            "retrying {}/{}: {reason}",
            job.attempt, job.max_attempts
        ))
    }
}

/// An entry to publish when the job succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// Repository to publish into (created if missing).
    pub repository: String,
    /// Entry name (replaces an existing entry).
    pub name: String,
    /// The flist it names.
    pub flist: PublishedFlist,
}

/// The flist a [`Publication`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishedFlist {
    /// An existing row, by id.
    Existing(i64),
    /// Bytes stored by [`crate::stage_flist`] whose row is written (or, for equal bytes, found)
    /// in the publishing transaction; the runtime then sets the job result's `flist_id`.
    Staged(Box<hub_db::flists::NewFlist>),
}

/// What a successful job produced.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutput {
    /// Stored as the job's `result`.
    pub result: serde_json::Value,
    /// Data of the final `info` event (the result message legacy listeners wait for).
    pub info: serde_json::Value,
    /// Entry to publish, in the same transaction as the job's success. When it names a
    /// [`PublishedFlist::Staged`] flist and `result` is an object, the runtime sets the
    /// result's `flist_id` member to the row's id before storing it.
    pub publish: Option<Publication>,
}

impl JobOutput {
    /// A result without a publication; the `info` event carries the result too.
    pub fn new(result: serde_json::Value) -> Self {
        Self {
            info: result.clone(),
            result,
            publish: None,
        }
    }

    /// A result that publishes `publication`.
    pub fn publishing(publication: Publication, result: serde_json::Value) -> Self {
        Self {
            publish: Some(publication),
            ..Self::new(result)
        }
    }

    /// Replace the data of the final `info` event.
    pub fn with_info(mut self, info: serde_json::Value) -> Self {
        self.info = info;
        self
    }
}

/// Why a job did not succeed; decides what happens next.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The input is unusable: the job fails at once, without retry, with `code`.
    #[error("{message}")]
    Invalid {
        /// Stable machine-readable code (`invalid_archive`, `image_not_found`, …).
        code: FailureCode,
        /// Human-readable message (shown to the user).
        message: String,
    },
    /// Something the job needs is unreachable or overloaded: retried with back-off. After the
    /// last attempt the job fails with `code` when it names the failure (e.g. `pull_failed`,
    /// which the gateway maps to a specific answer), or `attempts_exhausted` when it is the
    /// generic `transient`.
    #[error("{message}")]
    Transient {
        /// Stable machine-readable code: `transient`, or a handler's own.
        code: FailureCode,
        /// Human-readable message (shown to the user, and in the retry's progress line).
        message: String,
    },
    /// The job was cancelled (the handler saw [`JobContext::cancelled`]).
    #[error("cancelled")]
    Cancelled,
    /// A bug or an unexpected state: the job fails at once with code `internal`.
    #[error("{0}")]
    Internal(String),
}

impl JobError {
    /// An [`JobError::Invalid`] with the generic code `invalid_input`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::invalid_as(FailureCode::InvalidInput, message)
    }

    /// An [`JobError::Invalid`] with a specific code.
    pub fn invalid_as(code: FailureCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    /// A [`JobError::Transient`] with the generic code `transient`.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::transient_as(FailureCode::Transient, message)
    }

    /// A [`JobError::Transient`] with a specific code, kept as the job's failure code when the
    /// last attempt fails too.
    pub fn transient_as(code: FailureCode, message: impl Into<String>) -> Self {
        Self::Transient {
            code,
            message: message.into(),
        }
    }

    /// An [`JobError::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// The machine-readable code recorded for this failure.
    pub fn code(&self) -> &FailureCode {
        match self {
            Self::Invalid { code, .. } | Self::Transient { code, .. } => code,
            Self::Cancelled => &FailureCode::Cancelled,
            Self::Internal(_) => &FailureCode::Internal,
        }
    }
}

impl From<DbError> for JobError {
    fn from(err: DbError) -> Self {
        match err {
            // The job changed under the worker (cancelled, taken over): stop quietly.
            DbError::Stale => Self::Cancelled,
            err if err.is_transient() => Self::transient(err.to_string()),
            err => Self::Internal(err.to_string()),
        }
    }
}

impl From<hub_store::StoreError> for JobError {
    /// A store outage is retried; anything else is the hub's fault.
    fn from(err: hub_store::StoreError) -> Self {
        if err.is_transient() {
            Self::transient(err.to_string())
        } else {
            Self::Internal(err.to_string())
        }
    }
}

impl From<crate::JobsError> for JobError {
    fn from(err: crate::JobsError) -> Self {
        match err {
            crate::JobsError::Db(err) => err.into(),
            crate::JobsError::StagedObjectMissing(name) => Self::invalid_as(
                FailureCode::UploadMissing,
                format!("the uploaded file `{name}` is no longer available"),
            ),
            err if err.is_transient() => Self::transient(err.to_string()),
            err => Self::Internal(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_a_stable_code() {
        assert_eq!(JobError::invalid("x").code(), "invalid_input");
        assert_eq!(
            JobError::invalid_as(FailureCode::InvalidArchive, "x").code(),
            "invalid_archive"
        );
        assert_eq!(JobError::transient("x").code(), "transient");
        assert_eq!(
            JobError::transient_as(FailureCode::PullFailed, "x").code(),
            "pull_failed"
        );
        assert_eq!(JobError::Cancelled.code(), "cancelled");
        assert_eq!(JobError::internal("x").code(), "internal");
    }

    #[test]
    fn database_errors_map_to_what_the_runtime_should_do() {
        assert!(matches!(
            JobError::from(DbError::Stale),
            JobError::Cancelled
        ));
        let down = DbError::Sqlx(sqlx_pool_timeout());
        assert!(matches!(JobError::from(down), JobError::Transient { .. }));
        let corrupt = DbError::Corrupt("x".into());
        assert!(matches!(JobError::from(corrupt), JobError::Internal(_)));
    }

    fn sqlx_pool_timeout() -> sqlx::Error {
        sqlx::Error::PoolTimedOut
    }
}
