//! The ordered event log of each job: state changes, progress updates, info and error messages.
//!
//! Events are numbered per job from 1 (`seq`) under the job row's lock, in the same transaction
//! as the job change they describe, so a listener that replays `seq > n` and then follows live
//! events sees every event exactly once, in order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::DbError;
use crate::jobs::JobState;

/// What an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The job entered [`JobEvent::state`].
    State,
    /// Progress: `progress`, `phase`, `message` (the original's `update` message).
    Update,
    /// A result or informational message; `data` carries it (the original's `info` message).
    Info,
    /// An error message (the original's `error` message).
    Error,
}

impl EventKind {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Update => "update",
            Self::Info => "info",
            Self::Error => "error",
        }
    }

    fn parse(s: &str) -> Result<Self, DbError> {
        match s {
            "state" => Ok(Self::State),
            "update" => Ok(Self::Update),
            "info" => Ok(Self::Info),
            "error" => Ok(Self::Error),
            other => Err(DbError::Corrupt(format!("event kind `{other}`"))),
        }
    }
}

/// One recorded event of a job. Also the JSON published live on `<prefix>.events.<job id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct JobEvent {
    /// The job.
    pub job_id: Uuid,
    /// Position in the job's log, from 1, without gaps.
    pub seq: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What it reports.
    pub kind: EventKind,
    /// For [`EventKind::State`]: the state entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Human-readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Percent done, for [`EventKind::Update`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<i16>,
    /// Machine-readable phase name, for [`EventKind::Update`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Structured payload (the result of an `info` event, the error code of an `error` event).
    #[serde(default)]
    pub data: serde_json::Value,
}

impl JobEvent {
    /// Whether this event is the job's last one: it entered a final state.
    pub fn is_terminal(&self) -> bool {
        self.kind == EventKind::State && self.state.is_some_and(JobState::is_terminal)
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// What it reports.
    pub kind: EventKind,
    /// For [`EventKind::State`]: the state entered.
    pub state: Option<JobState>,
    /// Human-readable text.
    pub message: Option<String>,
    /// Percent done.
    pub progress: Option<i16>,
    /// Phase name.
    pub phase: Option<String>,
    /// Structured payload.
    pub data: serde_json::Value,
}

impl NewEvent {
    fn new(kind: EventKind) -> Self {
        Self {
            kind,
            state: None,
            message: None,
            progress: None,
            phase: None,
            data: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The job entered `state`.
    pub fn state(state: JobState, message: impl Into<String>) -> Self {
        Self {
            state: Some(state),
            message: Some(message.into()),
            ..Self::new(EventKind::State)
        }
    }

    /// A progress update.
    pub fn update(progress: i16, phase: Option<String>, message: impl Into<String>) -> Self {
        Self {
            progress: Some(progress),
            phase,
            message: Some(message.into()),
            ..Self::new(EventKind::Update)
        }
    }

    /// An informational message with structured `data`.
    pub fn info(message: Option<String>, data: serde_json::Value) -> Self {
        Self {
            message,
            data,
            ..Self::new(EventKind::Info)
        }
    }

    /// An error message with structured `data` (e.g. `{"code": …}`).
    pub fn error(message: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            message: Some(message.into()),
            data,
            ..Self::new(EventKind::Error)
        }
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    job_id: Uuid,
    seq: i64,
    created_at: DateTime<Utc>,
    kind: String,
    state: Option<String>,
    message: Option<String>,
    progress: Option<i16>,
    phase: Option<String>,
    data: serde_json::Value,
}

impl TryFrom<EventRow> for JobEvent {
    type Error = DbError;

    fn try_from(row: EventRow) -> Result<Self, DbError> {
        Ok(Self {
            job_id: row.job_id,
            seq: row.seq,
            at: row.created_at,
            kind: EventKind::parse(&row.kind)?,
            state: row.state.as_deref().map(str::parse).transpose()?,
            message: row.message,
            progress: row.progress,
            phase: row.phase,
            data: row.data,
        })
    }
}

/// Up to `limit` events of job `job_id` with `seq > after_seq`, in order.
pub async fn list(
    db: impl PgExecutor<'_>,
    job_id: Uuid,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<JobEvent>, DbError> {
    let rows = sqlx::query_as::<_, EventRow>(
        "SELECT job_id, seq, created_at, kind, state, message, progress, phase, data \
         FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(job_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(JobEvent::try_from).collect()
}

/// Record `events` as numbers `first_seq..` of job `job_id`. The caller has reserved the numbers
/// by advancing `jobs.last_event_seq` in the same transaction.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    job_id: Uuid,
    first_seq: i64,
    at: DateTime<Utc>,
    events: Vec<NewEvent>,
) -> Result<Vec<JobEvent>, DbError> {
    let mut recorded = Vec::with_capacity(events.len());
    for (seq, event) in (first_seq..).zip(events) {
        sqlx::query(
            "INSERT INTO job_events (job_id, seq, created_at, kind, state, message, progress, \
                                     phase, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(job_id)
        .bind(seq)
        .bind(at)
        .bind(event.kind.as_str())
        .bind(event.state.map(JobState::as_str))
        .bind(&event.message)
        .bind(event.progress)
        .bind(&event.phase)
        .bind(&event.data)
        .execute(&mut *conn)
        .await?;
        recorded.push(JobEvent {
            job_id,
            seq,
            at,
            kind: event.kind,
            state: event.state,
            message: event.message,
            progress: event.progress,
            phase: event.phase,
            data: event.data,
        });
    }
    Ok(recorded)
}
