//! The worker's side: claiming a job and the guarded writes made while holding it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, PgExecutor, Postgres};
use uuid::Uuid;

use super::model::{FailureCode, JOB_COLUMNS, Job, JobFailure, JobRow, JobState};
use crate::events::{self, JobEvent, NewEvent};
use crate::{DbError, Missing};

/// Outcome of [`claim`]; tells the worker what to do with the queue message.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The job is now running on behalf of the caller.
    Claimed(Box<Claimed>),
    /// The job already reached a final state (a duplicate or late message): acknowledge it.
    Finished(JobState),
    /// Another worker holds the job and is alive: try the message again after `retry_in`, by
    /// which time the holder's heartbeat is stale if it has died.
    Busy {
        /// When the holder's heartbeat becomes stale.
        retry_in: Duration,
    },
    /// The job had used all its attempts; it is now failed. Acknowledge the message.
    Exhausted(Box<Job>, Vec<JobEvent>),
    /// No such job (purged by retention): drop the message.
    Missing,
}

/// A job claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job, now `running`.
    pub job: Job,
    /// The encoded `JobEnvelope`.
    pub payload: Vec<u8>,
    /// The right to write the job's status.
    pub lease: Lease,
    /// The events recorded (the `running` state).
    pub events: Vec<JobEvent>,
}

/// A worker's hold on a running job: the revision it last wrote. Every write through the lease
/// is guarded by that revision, so once someone else changed the job (a user cancelled it, the
/// janitor re-queued it, another worker took it over) every further write fails with
/// [`DbError::Stale`] and writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    job_id: Uuid,
    attempt: i32,
    max_attempts: i32,
    revision: i64,
}

/// The guard of every lease write: `$1` = job id, `$2` = the lease's revision.
const GUARD: &str = "id = $1 AND revision = $2 AND state = 'running'";

/// Take job `id` for the calling worker: `queued → running`, or `running → running` when the
/// previous holder's heartbeat is older than `stale_after` (it died without anyone noticing).
pub async fn claim(
    db: impl Acquire<'_, Database = Postgres>,
    id: Uuid,
    stale_after: Duration,
) -> Result<Claim, DbError> {
    #[derive(sqlx::FromRow)]
    struct Current {
        state: String,
        attempt: i32,
        max_attempts: i32,
        heartbeat_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    }
    let mut tx = db.begin().await?;
    let current = sqlx::query_as::<_, Current>(
        "SELECT state, attempt, max_attempts, heartbeat_at, now() AS now FROM jobs \
         WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(Claim::Missing);
    };
    let state: JobState = current.state.parse()?;
    let taking_over = match state {
        state if state.is_terminal() => return Ok(Claim::Finished(state)),
        JobState::Running => {
            let age = current
                .heartbeat_at
                .map(|at| (current.now - at).to_std().unwrap_or_default())
                .unwrap_or(Duration::MAX);
            if age < stale_after {
                return Ok(Claim::Busy {
                    retry_in: stale_after - age,
                });
            }
            true
        }
        _ => false,
    };
    if current.attempt >= current.max_attempts {
        let failure = exhausted(current.max_attempts, "the last attempt stopped responding");
        let (job, events) = fail_unleased(&mut tx, id, &failure).await?;
        tx.commit().await?;
        return Ok(Claim::Exhausted(Box::new(job), events));
    }
    let message = if taking_over {
        "running (the previous worker stopped responding)"
    } else {
        "running"
    };
    let row = sqlx::query_as::<_, JobRow>(sql!(
        "UPDATE jobs SET state = 'running', attempt = attempt + 1, started_at = now(), \
             heartbeat_at = now(), message = $2, revision = revision + 1, \
             last_event_seq = last_event_seq + 1, updated_at = now() \
         WHERE id = $1 RETURNING {JOB_COLUMNS}"
    ))
    .bind(id)
    .bind(message)
    .fetch_one(&mut *tx)
    .await?;
    let job = Job::try_from(row)?;
    let events = record(
        &mut tx,
        &job,
        vec![NewEvent {
            data: serde_json::json!({ "attempt": job.attempt }),
            ..NewEvent::state(JobState::Running, message)
        }],
    )
    .await?;
    let payload = super::queries::payload(&mut *tx, id).await?;
    tx.commit().await?;
    let lease = Lease {
        job_id: id,
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        revision: job.revision,
    };
    Ok(Claim::Claimed(Box::new(Claimed {
        job,
        payload,
        lease,
        events,
    })))
}

impl Lease {
    /// The job held.
    pub fn job_id(&self) -> Uuid {
        self.job_id
    }

    /// The attempt this lease is (1 for the first claim).
    pub fn attempt(&self) -> i32 {
        self.attempt
    }

    /// Claims allowed before the job fails.
    pub fn max_attempts(&self) -> i32 {
        self.max_attempts
    }

    /// The revision this lease last wrote.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Record a sign of life. Not a status change: the revision stays.
    pub async fn heartbeat(&self, db: impl PgExecutor<'_>) -> Result<(), DbError> {
        let done = sqlx::query(sql!("UPDATE jobs SET heartbeat_at = now() WHERE {GUARD}"))
            .bind(self.job_id)
            .bind(self.revision)
            .execute(db)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::Stale);
        }
        Ok(())
    }

    /// Record progress (`progress` is clamped to 0–100) and its `update` event.
    pub async fn progress(
        &mut self,
        db: impl Acquire<'_, Database = Postgres>,
        progress: i16,
        phase: Option<&str>,
        message: &str,
    ) -> Result<Vec<JobEvent>, DbError> {
        let progress = progress.clamp(0, 100);
        let mut tx = db.begin().await?;
        let row = sqlx::query_as::<_, JobRow>(sql!(
            "UPDATE jobs SET progress = $3, phase = $4, message = $5, heartbeat_at = now(), \
                 revision = revision + 1, last_event_seq = last_event_seq + 1, updated_at = now() \
             WHERE {GUARD} RETURNING {JOB_COLUMNS}"
        ))
        .bind(self.job_id)
        .bind(self.revision)
        .bind(progress)
        .bind(phase)
        .bind(message)
        .fetch_optional(&mut *tx)
        .await?;
        let job = Self::written(row)?;
        let event = NewEvent::update(progress, phase.map(str::to_owned), message);
        let events = record(&mut tx, &job, vec![event]).await?;
        tx.commit().await?;
        // Only once committed: a write that did not happen must not move the lease on.
        self.revision = job.revision;
        Ok(events)
    }

    /// Record an `info` or `error` event without changing the job's status.
    pub async fn event(
        &mut self,
        db: impl Acquire<'_, Database = Postgres>,
        event: NewEvent,
    ) -> Result<Vec<JobEvent>, DbError> {
        let mut tx = db.begin().await?;
        let row = sqlx::query_as::<_, JobRow>(sql!(
            "UPDATE jobs SET revision = revision + 1, last_event_seq = last_event_seq + 1, \
                 updated_at = now() \
             WHERE {GUARD} RETURNING {JOB_COLUMNS}"
        ))
        .bind(self.job_id)
        .bind(self.revision)
        .fetch_optional(&mut *tx)
        .await?;
        let job = Self::written(row)?;
        let events = record(&mut tx, &job, vec![event]).await?;
        tx.commit().await?;
        // Only once committed: a write that did not happen must not move the lease on.
        self.revision = job.revision;
        Ok(events)
    }

    /// `running → succeeded` with `result`, recording `info` (the result message legacy
    /// listeners wait for) and the final state.
    ///
    /// Run it in the transaction that publishes the result, so both happen or neither does.
    /// If that transaction is then rolled back, the lease is spent: later writes are refused.
    pub async fn succeed(
        &mut self,
        conn: &mut PgConnection,
        result: &serde_json::Value,
        info: NewEvent,
    ) -> Result<(Job, Vec<JobEvent>), DbError> {
        let mut tx = conn.begin().await?;
        let row = sqlx::query_as::<_, JobRow>(sql!(
            "UPDATE jobs SET state = 'succeeded', progress = 100, result = $3, error = NULL, \
                 message = 'succeeded', finished_at = now(), heartbeat_at = NULL, \
                 revision = revision + 1, last_event_seq = last_event_seq + 2, updated_at = now() \
             WHERE {GUARD} RETURNING {JOB_COLUMNS}"
        ))
        .bind(self.job_id)
        .bind(self.revision)
        .bind(result)
        .fetch_optional(&mut *tx)
        .await?;
        let job = Self::written(row)?;
        let events = record(
            &mut tx,
            &job,
            vec![
                info,
                NewEvent::state(JobState::Succeeded, JobState::Succeeded.as_str()),
            ],
        )
        .await?;
        tx.commit().await?;
        self.revision = job.revision;
        Ok((job, events))
    }

    /// `running → failed` with `failure`, recording an `error` event and the final state.
    pub async fn fail(
        &mut self,
        db: impl Acquire<'_, Database = Postgres>,
        failure: &JobFailure,
    ) -> Result<(Job, Vec<JobEvent>), DbError> {
        let mut tx = db.begin().await?;
        let row = sqlx::query_as::<_, JobRow>(sql!(
            "UPDATE jobs SET state = 'failed', error = $3, message = $4, finished_at = now(), \
                 heartbeat_at = NULL, revision = revision + 1, \
                 last_event_seq = last_event_seq + 2, updated_at = now() \
             WHERE {GUARD} RETURNING {JOB_COLUMNS}"
        ))
        .bind(self.job_id)
        .bind(self.revision)
        .bind(failure_json(failure)?)
        .bind(&failure.message)
        .fetch_optional(&mut *tx)
        .await?;
        let job = Self::written(row)?;
        let events = record(&mut tx, &job, failure_events(failure)).await?;
        tx.commit().await?;
        self.revision = job.revision;
        Ok((job, events))
    }

    /// After a transient error: `running → queued` to be retried after `delay`, recording the
    /// error; or, when this was the last attempt, `running → failed` with the failure's own code
    /// when it names what failed (e.g. `pull_failed`), else (the generic
    /// [`FailureCode::Transient`]) with [`FailureCode::AttemptsExhausted`]. The returned
    /// job's state says which.
    pub async fn retry(
        &mut self,
        db: impl Acquire<'_, Database = Postgres>,
        failure: &JobFailure,
        delay: Duration,
    ) -> Result<(Job, Vec<JobEvent>), DbError> {
        if self.attempt >= self.max_attempts {
            let failure = last_failure(self.max_attempts, failure);
            return self.fail(db, &failure).await;
        }
        let message = format!(
            "attempt {} failed, retrying in {} s: {}",
            self.attempt,
            announced_seconds(delay),
            failure.message
        );
        self.requeue(db, Some(failure), &message, 0).await
    }

    /// `running → queued` without using up the attempt: the worker is stopping and hands the
    /// job back for another worker to start at once.
    pub async fn release(
        &mut self,
        db: impl Acquire<'_, Database = Postgres>,
        reason: &str,
    ) -> Result<(Job, Vec<JobEvent>), DbError> {
        self.requeue(db, None, reason, 1).await
    }

    async fn requeue(
        &mut self,
        db: impl Acquire<'_, Database = Postgres>,
        failure: Option<&JobFailure>,
        message: &str,
        refund_attempts: i32,
    ) -> Result<(Job, Vec<JobEvent>), DbError> {
        let mut tx = db.begin().await?;
        let row = sqlx::query_as::<_, JobRow>(sql!(
            "UPDATE jobs SET state = 'queued', error = COALESCE($3, error), message = $4, \
                 attempt = attempt - $5, heartbeat_at = NULL, revision = revision + 1, \
                 last_event_seq = last_event_seq + 1, updated_at = now() \
             WHERE {GUARD} RETURNING {JOB_COLUMNS}"
        ))
        .bind(self.job_id)
        .bind(self.revision)
        .bind(failure.map(failure_json).transpose()?)
        .bind(message)
        .bind(refund_attempts)
        .fetch_optional(&mut *tx)
        .await?;
        let job = Self::written(row)?;
        let events = record(
            &mut tx,
            &job,
            vec![NewEvent::state(JobState::Queued, message)],
        )
        .await?;
        tx.commit().await?;
        self.revision = job.revision;
        Ok((job, events))
    }

    /// The job written by a guarded write, or [`DbError::Stale`] when the guard failed.
    fn written(row: Option<JobRow>) -> Result<Job, DbError> {
        Job::try_from(row.ok_or(DbError::Stale)?)
    }
}

/// Record `events` as the last `events.len()` numbers reserved by the write that returned
/// `job`.
pub(super) async fn record(
    conn: &mut PgConnection,
    job: &Job,
    events: Vec<NewEvent>,
) -> Result<Vec<JobEvent>, DbError> {
    let count = i64::try_from(events.len()).map_err(|err| DbError::Corrupt(err.to_string()))?;
    events::insert(
        conn,
        job.id,
        job.last_event_seq - count + 1,
        job.updated_at,
        events,
    )
    .await
}

/// `queued|running → failed` with `failure`, without a lease: for jobs no worker can run (an
/// undecodable payload, a job that could not be queued).
///
/// Errors: [`Missing::Job`], [`crate::Conflict::JobFinished`].
pub async fn abort(
    db: impl Acquire<'_, Database = Postgres>,
    id: Uuid,
    failure: &JobFailure,
) -> Result<(Job, Vec<JobEvent>), DbError> {
    let mut tx = db.begin().await?;
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let state: JobState = state.ok_or(DbError::NotFound(Missing::Job))?.parse()?;
    if state.is_terminal() {
        return Err(DbError::Conflict(crate::Conflict::JobFinished));
    }
    let failed = fail_unleased(&mut tx, id, failure).await?;
    tx.commit().await?;
    Ok(failed)
}

/// `queued|running → failed` without a lease (claim of an exhausted job, janitor).
pub(super) async fn fail_unleased(
    conn: &mut PgConnection,
    id: Uuid,
    failure: &JobFailure,
) -> Result<(Job, Vec<JobEvent>), DbError> {
    let row = sqlx::query_as::<_, JobRow>(sql!(
        "UPDATE jobs SET state = 'failed', error = $2, message = $3, finished_at = now(), \
             heartbeat_at = NULL, revision = revision + 1, last_event_seq = last_event_seq + 2, \
             updated_at = now() \
         WHERE id = $1 AND state IN ('queued', 'running') RETURNING {JOB_COLUMNS}"
    ))
    .bind(id)
    .bind(failure_json(failure)?)
    .bind(&failure.message)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(DbError::NotFound(Missing::Job))?;
    let job = Job::try_from(row)?;
    let events = record(conn, &job, failure_events(failure)).await?;
    Ok((job, events))
}

/// The failure of a job that used up its `max_attempts`; `last` says how the last one ended.
pub(super) fn exhausted(max_attempts: i32, last: &str) -> JobFailure {
    JobFailure::new(
        FailureCode::AttemptsExhausted,
        format!("gave up after {max_attempts} attempts: {last}"),
    )
}

/// The failure of a job whose last attempt ended in a retryable `last` error. A specific code
/// is kept: the gateway answers from it (a docker pull that never reached the registry is
/// `502 could not pull this image`, not a generic error).
fn last_failure(max_attempts: i32, last: &JobFailure) -> JobFailure {
    if last.code == FailureCode::Transient {
        return exhausted(max_attempts, &last.message);
    }
    JobFailure::new(
        last.code.clone(),
        format!("gave up after {max_attempts} attempts: {}", last.message),
    )
}

/// `delay` in seconds as announced to users: to the millisecond, without trailing zeros
/// (`10`, `0.1`, `1.25`), so that the announced delay is the one waited (rounding up to whole
/// seconds announced 1 s for a 100 ms retry).
fn announced_seconds(delay: Duration) -> f64 {
    (delay.as_secs_f64() * 1000.0).round() / 1000.0
}

fn failure_events(failure: &JobFailure) -> Vec<NewEvent> {
    vec![
        NewEvent::error(
            failure.message.clone(),
            serde_json::json!({ "code": failure.code }),
        ),
        NewEvent::state(JobState::Failed, failure.message.clone()),
    ]
}

fn failure_json(failure: &JobFailure) -> Result<serde_json::Value, DbError> {
    serde_json::to_value(failure).map_err(|err| DbError::Corrupt(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_are_announced_as_they_are() {
        let announced = |ms| announced_seconds(Duration::from_millis(ms)).to_string();
        assert_eq!(announced(10_000), "10");
        assert_eq!(announced(100), "0.1");
        assert_eq!(announced(1250), "1.25");
    }
}
