//! Job types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DbError;

pub use hub_model::{FailureCode, JobKind, JobState};

/// Why a job failed: a stable `code` for programs and a `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct JobFailure {
    /// Machine-readable code.
    pub code: FailureCode,
    /// Human-readable explanation.
    pub message: String,
}

impl JobFailure {
    /// A failure with `code` and `message`.
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A job as the API shows it (the payload is left out: it may be large and holds sealed
/// credentials).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Job id.
    pub id: Uuid,
    /// Family.
    pub kind: JobKind,
    /// Account that submitted it.
    pub owner: String,
    /// Repository the result goes to.
    pub repository: String,
    /// Entry name of the result.
    pub target_name: String,
    /// Current state.
    pub state: JobState,
    /// Percent done (0–100).
    pub progress: i16,
    /// Current phase name.
    pub phase: Option<String>,
    /// Last progress or status message.
    pub message: Option<String>,
    /// Number of times a worker claimed it.
    pub attempt: i32,
    /// Claims allowed before it fails.
    pub max_attempts: i32,
    /// What the job produced (set when it succeeds).
    pub result: Option<serde_json::Value>,
    /// Why it failed, or the last transient error while it waits for a retry.
    pub error: Option<JobFailure>,
    /// The submitter's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// Start of the current (or last) attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last sign of life of the worker running it.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Last change of any field.
    pub updated_at: DateTime<Utc>,
    /// Incremented by every status write; the guard of concurrent writers.
    pub revision: i64,
    /// `seq` of the job's last event.
    pub last_event_seq: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: Uuid,
    kind: String,
    owner: String,
    repository: String,
    target_name: String,
    state: String,
    progress: i16,
    phase: Option<String>,
    message: Option<String>,
    attempt: i32,
    max_attempts: i32,
    result: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    idempotency_key: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    heartbeat_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    revision: i64,
    last_event_seq: i64,
}

/// The columns [`JobRow`] reads, for `SELECT` and `RETURNING` lists.
pub(crate) const JOB_COLUMNS: &str = "id, kind, owner, repository, target_name, state, progress, \
     phase, message, attempt, max_attempts, result, error, idempotency_key, created_at, \
     started_at, finished_at, heartbeat_at, updated_at, revision, last_event_seq";

impl TryFrom<JobRow> for Job {
    type Error = DbError;

    fn try_from(row: JobRow) -> Result<Self, DbError> {
        let error = row
            .error
            .map(serde_json::from_value::<JobFailure>)
            .transpose()
            .map_err(|err| DbError::Corrupt(format!("job error: {err}")))?;
        Ok(Self {
            id: row.id,
            kind: row.kind.parse()?,
            owner: row.owner,
            repository: row.repository,
            target_name: row.target_name,
            state: row.state.parse()?,
            progress: row.progress,
            phase: row.phase,
            message: row.message,
            attempt: row.attempt,
            max_attempts: row.max_attempts,
            result: row.result,
            error,
            idempotency_key: row.idempotency_key,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            heartbeat_at: row.heartbeat_at,
            updated_at: row.updated_at,
            revision: row.revision,
            last_event_seq: row.last_event_seq,
        })
    }
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Job id (UUIDv4 chosen by the gateway, also the queue message id).
    pub id: Uuid,
    /// Family.
    pub kind: JobKind,
    /// Submitting account.
    pub owner: String,
    /// Repository the result goes to.
    pub repository: String,
    /// Entry name of the result.
    pub target_name: String,
    /// Encoded protobuf `JobEnvelope`.
    pub payload: Vec<u8>,
    /// Claims allowed before the job fails.
    pub max_attempts: i32,
    /// The submitter's `Idempotency-Key`, unique per owner.
    pub idempotency_key: Option<String>,
}

/// Filters of a job listing; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs of this owner.
    pub owner: Option<String>,
    /// Only jobs in one of these states.
    pub states: Vec<JobState>,
    /// Only jobs of one of these kinds.
    pub kinds: Vec<JobKind>,
    /// Only jobs publishing into this repository.
    pub repository: Option<String>,
}

/// Position after which a listing continues (keyset pagination, newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    /// `created_at` of the last job of the previous page.
    pub created_at: DateTime<Utc>,
    /// Its id (breaks ties between jobs created in the same microsecond).
    pub id: Uuid,
}

/// A cursor string that was not produced by [`JobCursor`]'s `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

impl fmt::Display for JobCursor {
    /// Opaque to clients: `<microseconds since the epoch>_<id as 32 hex digits>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.simple()
        )
    }
}

impl FromStr for JobCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, InvalidCursor> {
        let (micros, id) = s.split_once('_').ok_or(InvalidCursor)?;
        let micros: i64 = micros.parse().map_err(|_| InvalidCursor)?;
        let created_at = Utc.timestamp_micros(micros).single().ok_or(InvalidCursor)?;
        let id = Uuid::try_parse(id).map_err(|_| InvalidCursor)?;
        Ok(Self { created_at, id })
    }
}

/// One page of a job listing.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// Jobs, newest first.
    pub jobs: Vec<Job>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<JobCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = JobCursor {
            created_at: Utc
                .timestamp_micros(1_764_000_000_123_456)
                .single()
                .unwrap_or_default(),
            id: Uuid::new_v4(),
        };
        assert_eq!(cursor.to_string().parse::<JobCursor>(), Ok(cursor));
        for bad in [
            "",
            "12",
            "x_y",
            "12_notauuid",
            "_00000000000000000000000000000000",
        ] {
            assert_eq!(bad.parse::<JobCursor>(), Err(InvalidCursor), "{bad}");
        }
    }
}
