//! Creating, reading, listing and cancelling jobs (the gateway's side).

use sqlx::{Acquire, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::model::{
    FailureCode, JOB_COLUMNS, Job, JobCursor, JobFailure, JobFilter, JobPage, JobRow, JobState,
    NewJob,
};
use crate::events::{self, JobEvent, NewEvent};
use crate::{Conflict, DbError, Missing};

/// Outcome of [`create`].
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The job: the new one, or the one created earlier with the same idempotency key.
    pub job: Job,
    /// `false` when an earlier submit with the same idempotency key created `job`.
    pub created: bool,
    /// The events recorded (the initial `queued` state), empty when not created.
    pub events: Vec<JobEvent>,
}

/// Record a new queued job with its first event, or return the job the same owner created
/// earlier with the same idempotency key (a retried submit).
pub async fn create(
    db: impl Acquire<'_, Database = Postgres>,
    new: &NewJob,
) -> Result<Created, DbError> {
    let mut tx = db.begin().await?;
    let inserted = sqlx::query_as::<_, JobRow>(sql!(
        "INSERT INTO jobs (id, kind, owner, repository, target_name, payload, max_attempts, \
                           idempotency_key, message, revision, last_event_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 1, 1) \
         ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.kind.as_str())
    .bind(&new.owner)
    .bind(&new.repository)
    .bind(&new.target_name)
    .bind(&new.payload)
    .bind(new.max_attempts)
    .bind(&new.idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    let created = match inserted {
        Some(row) => {
            let job = Job::try_from(row)?;
            let events = events::insert(
                &mut tx,
                job.id,
                1,
                job.created_at,
                vec![NewEvent::state(JobState::Queued, JobState::Queued.as_str())],
            )
            .await?;
            Created {
                job,
                created: true,
                events,
            }
        }
        None => {
            let key = new.idempotency_key.as_deref().unwrap_or_default();
            let job = find_by_idempotency_key(&mut *tx, &new.owner, key)
                .await?
                .ok_or(DbError::NotFound(Missing::Job))?;
            Created {
                job,
                created: false,
                events: Vec::new(),
            }
        }
    };
    tx.commit().await?;
    Ok(created)
}

/// The job `id`.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Job, DbError> {
    sqlx::query_as::<_, JobRow>(sql!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(DbError::NotFound(Missing::Job))?
        .try_into()
}

/// The encoded `JobEnvelope` of job `id`.
pub async fn payload(db: impl PgExecutor<'_>, id: Uuid) -> Result<Vec<u8>, DbError> {
    sqlx::query_scalar("SELECT payload FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(DbError::NotFound(Missing::Job))
}

/// The job `owner` created with idempotency key `key`, if any.
pub async fn find_by_idempotency_key(
    db: impl PgExecutor<'_>,
    owner: &str,
    key: &str,
) -> Result<Option<Job>, DbError> {
    sqlx::query_as::<_, JobRow>(sql!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE owner = $1 AND idempotency_key = $2"
    ))
    .bind(owner)
    .bind(key)
    .fetch_optional(db)
    .await?
    .map(Job::try_from)
    .transpose()
}

/// Those of `ids` whose job reached a final state. Ids without a job row are not among them:
/// the gateway's concurrent-job limit uses this to free slots, and a slot whose job is not
/// recorded yet belongs to an upload still in flight.
pub async fn finished_among(db: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<Vec<Uuid>, DbError> {
    let finished =
        sqlx::query_scalar("SELECT id FROM jobs WHERE id = ANY($1) AND state NOT IN ($2, $3)")
            .bind(ids)
            .bind(JobState::Queued.as_str())
            .bind(JobState::Running.as_str())
            .fetch_all(db)
            .await?;
    Ok(finished)
}

/// The state of each of `ids` that has a job row (ids without one are left out). The staging
/// sweep decides with it whether a staged upload still belongs to a job.
pub async fn states_among(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, JobState)>, DbError> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, state FROM jobs WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(db)
        .await?;
    rows.into_iter()
        .map(|(id, state)| Ok((id, state.parse()?)))
        .collect()
}

/// How many jobs are queued (waiting for a worker): the gateway's back-pressure compares it
/// with `limits.max_queued_jobs`. Counted on the partial index of queued jobs.
pub async fn count_queued(db: impl PgExecutor<'_>) -> Result<u64, DbError> {
    // A literal, not a parameter: only then can the planner use the partial index
    // `jobs_queued_updated` (`WHERE state = 'queued'`).
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'queued'")
        .fetch_one(db)
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Up to `limit` jobs matching `filter`, newest first, starting after `after`.
///
/// Keyset pagination on `(created_at, id)`: pages stay stable while jobs are added, and each
/// page is an index range scan whatever its depth.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &JobFilter,
    after: Option<JobCursor>,
    limit: u32,
) -> Result<JobPage, DbError> {
    let limit = limit.clamp(1, 1000);
    // Only the predicates in use are emitted, so the planner sees a query it can index.
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE true"));
    if let Some(owner) = &filter.owner {
        query.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(repository) = &filter.repository {
        query
            .push(" AND repository = ")
            .push_bind(repository.clone());
    }
    if !filter.states.is_empty() {
        let states: Vec<&str> = filter.states.iter().map(|state| state.as_str()).collect();
        query.push(" AND state = ANY(").push_bind(states).push(")");
    }
    if !filter.kinds.is_empty() {
        let kinds: Vec<&str> = filter.kinds.iter().map(|kind| kind.as_str()).collect();
        query.push(" AND kind = ANY(").push_bind(kinds).push(")");
    }
    if let Some(cursor) = after {
        query
            .push(" AND (created_at, id) < (")
            .push_bind(cursor.created_at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let rows = query.build_query_as::<JobRow>().fetch_all(db).await?;
    let mut jobs = rows
        .into_iter()
        .map(Job::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if jobs.len() > limit as usize {
        jobs.truncate(limit as usize);
        jobs.last().map(|job| JobCursor {
            created_at: job.created_at,
            id: job.id,
        })
    } else {
        None
    };
    Ok(JobPage { jobs, next })
}

/// Outcome of [`cancel`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cancelled {
    /// The job, now cancelled.
    pub job: Job,
    /// The state it was cancelled from (`queued` or `running`).
    pub previous: JobState,
    /// The events recorded (an `error` message for legacy listeners, then the state).
    pub events: Vec<JobEvent>,
}

/// Cancel job `id` if it has not finished. A running job's worker notices on its next guarded
/// write (or through the cancel subject) and stops; nothing it does afterwards is recorded.
///
/// Errors: [`Missing::Job`], [`Conflict::JobFinished`].
pub async fn cancel(
    db: impl Acquire<'_, Database = Postgres>,
    id: Uuid,
    reason: &str,
) -> Result<Cancelled, DbError> {
    let mut tx = db.begin().await?;
    // Lock first, to learn the state being left.
    let previous: Option<String> =
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let previous: JobState = previous.ok_or(DbError::NotFound(Missing::Job))?.parse()?;
    if previous.is_terminal() {
        return Err(DbError::Conflict(Conflict::JobFinished));
    }
    let failure = JobFailure::new(FailureCode::Cancelled, reason);
    let row = sqlx::query_as::<_, JobRow>(sql!(
        "UPDATE jobs SET state = 'cancelled', finished_at = now(), heartbeat_at = NULL, \
             error = $2, message = $3, revision = revision + 1, \
             last_event_seq = last_event_seq + 2, updated_at = now() \
         WHERE id = $1 RETURNING {JOB_COLUMNS}"
    ))
    .bind(id)
    .bind(serde_json::to_value(&failure).map_err(|err| DbError::Corrupt(err.to_string()))?)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    let job = Job::try_from(row)?;
    let events = events::insert(
        &mut tx,
        id,
        job.last_event_seq - 1,
        job.updated_at,
        vec![
            NewEvent::error(reason, serde_json::json!({ "code": failure.code })),
            NewEvent::state(JobState::Cancelled, reason),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Cancelled {
        job,
        previous,
        events,
    })
}
