//! Sweeps run by the janitor: jobs whose worker vanished, jobs that never reached a worker,
//! and retention of finished jobs.

use std::time::Duration;

use sqlx::{Acquire, PgConnection, PgExecutor, Postgres};
use uuid::Uuid;

use super::lease::{exhausted, fail_unleased, record};
use super::model::{JOB_COLUMNS, Job, JobRow, JobState};
use crate::DbError;
use crate::events::{JobEvent, NewEvent};

/// Advisory lock key of janitor sweeps ("hub_jani").
const SWEEP_LOCK: i64 = 0x6875_625f_6a61_6e69;

/// Take the janitor's sweep lock for the rest of the transaction `tx` runs; `false` when
/// another janitor holds it. So one janitor sweeps at a time however many processes run one.
pub async fn try_lock_sweep(tx: &mut PgConnection) -> Result<bool, DbError> {
    let locked = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SWEEP_LOCK)
        .fetch_one(tx)
        .await?;
    Ok(locked)
}

/// A job put back in the queue, to be published again.
#[derive(Debug, Clone, PartialEq)]
pub struct Requeued {
    /// The job, now `queued`.
    pub job: Job,
    /// Its encoded `JobEnvelope`.
    pub payload: Vec<u8>,
    /// The events recorded (the `queued` state; none for [`stale_queued`]).
    pub events: Vec<JobEvent>,
}

/// `running → queued` for up to `limit` jobs whose heartbeat is older than `stale_after` and
/// that have attempts left. Their worker died (or lost its database and queue connections); the
/// caller publishes them again.
pub async fn requeue_stale(
    db: impl Acquire<'_, Database = Postgres>,
    stale_after: Duration,
    limit: i64,
) -> Result<Vec<Requeued>, DbError> {
    let mut tx = db.begin().await?;
    // SKIP LOCKED: a job a worker is writing right now is alive; leave it for the next sweep.
    let rows = sqlx::query_as::<_, JobRow>(sql!(
        "UPDATE jobs SET state = 'queued', heartbeat_at = NULL, \
             message = 'the worker stopped responding; queued again', \
             revision = revision + 1, last_event_seq = last_event_seq + 1, updated_at = now() \
         WHERE id IN ( \
             SELECT id FROM jobs WHERE state = 'running' \
               AND heartbeat_at < now() - make_interval(secs => $1) \
               AND attempt < max_attempts \
             ORDER BY heartbeat_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(stale_after.as_secs_f64())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut requeued = Vec::with_capacity(rows.len());
    for row in rows {
        let job = Job::try_from(row)?;
        let message = job.message.clone().unwrap_or_default();
        let events = record(
            &mut tx,
            &job,
            vec![NewEvent::state(JobState::Queued, message)],
        )
        .await?;
        let payload = super::queries::payload(&mut *tx, job.id).await?;
        requeued.push(Requeued {
            job,
            payload,
            events,
        });
    }
    tx.commit().await?;
    Ok(requeued)
}

/// `running → failed` for up to `limit` jobs whose heartbeat is older than `stale_after` and
/// that used all their attempts.
pub async fn fail_exhausted(
    db: impl Acquire<'_, Database = Postgres>,
    stale_after: Duration,
    limit: i64,
) -> Result<Vec<(Job, Vec<JobEvent>)>, DbError> {
    let mut tx = db.begin().await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        max_attempts: i32,
    }
    let stale = sqlx::query_as::<_, Row>(
        "SELECT id, max_attempts FROM jobs WHERE state = 'running' \
           AND heartbeat_at < now() - make_interval(secs => $1) AND attempt >= max_attempts \
         ORDER BY heartbeat_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(stale_after.as_secs_f64())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut failed = Vec::with_capacity(stale.len());
    for row in stale {
        let failure = exhausted(row.max_attempts, "the last attempt stopped responding");
        failed.push(fail_unleased(&mut tx, row.id, &failure).await?);
    }
    tx.commit().await?;
    Ok(failed)
}

/// Up to `limit` jobs queued and unchanged for longer than `older_than`: their queue message
/// was probably lost (e.g. the gateway died between recording and publishing). Marks them as
/// seen, so the next sweep does not return them again before another `older_than`, and returns
/// them to be published again. Not a status change: the revision stays.
pub async fn stale_queued(
    db: impl PgExecutor<'_>,
    older_than: Duration,
    limit: i64,
) -> Result<Vec<Requeued>, DbError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        job: JobRow,
        payload: Vec<u8>,
    }
    let rows = sqlx::query_as::<_, Row>(sql!(
        "UPDATE jobs SET updated_at = now() \
         WHERE id IN ( \
             SELECT id FROM jobs WHERE state = 'queued' \
               AND updated_at < now() - make_interval(secs => $1) \
             ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}, payload"
    ))
    .bind(older_than.as_secs_f64())
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Requeued {
                job: Job::try_from(row.job)?,
                payload: row.payload,
                events: Vec::new(),
            })
        })
        .collect()
}

/// Delete jobs that finished more than `older_than` ago, with their events. Returns how many.
pub async fn purge_finished(db: impl PgExecutor<'_>, older_than: Duration) -> Result<u64, DbError> {
    let done =
        sqlx::query("DELETE FROM jobs WHERE finished_at < now() - make_interval(secs => $1)")
            .bind(older_than.as_secs_f64())
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}
