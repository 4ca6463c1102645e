//! The job platform of one test against the real services: its own PostgreSQL database (from
//! `#[sqlx::test]`), its own NATS prefix with the job queue and the upload bucket, and a job
//! client, as the gateway and the workers open them.

use std::time::Duration;

use bytes::Bytes;
use hub_db::PgPool;
use hub_db::flists::Flist as FlistRow;
use hub_jobs::{
    Job, JobClient, JobEnvelope, JobHandler, JobState, JobsConfig, JobsError, Queue, Staging,
    Submission,
};
use hub_store::{ObjectId, ObjectStore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{BoxError, NatsTest, TestkitError, wait_until};

/// Job timings short enough for redeliveries, retries and the janitor to happen within a
/// test: `ack_wait` 1.5 s, three attempts 100–400 ms apart, a stale job is swept after 2 s.
pub fn fast_jobs() -> JobsConfig {
    JobsConfig {
        ack_wait: Duration::from_millis(1500),
        max_deliver: 8,
        max_attempts: 3,
        retry_backoff: Duration::from_millis(100),
        max_retry_backoff: Duration::from_millis(400),
        concurrency: 2,
        progress_interval: Duration::from_millis(200),
        fetch_expiry: Duration::from_secs(1),
        shutdown_grace: Duration::from_millis(500),
        janitor_stale_after: Duration::from_secs(2),
        event_poll_interval: Duration::from_millis(500),
        ..JobsConfig::default()
    }
}

/// One test's job platform. Call [`Stack::cleanup`] at the end (the NATS streams of the test's
/// prefix are deleted on drop too, should the test panic first).
pub struct Stack {
    /// The NATS connection and the test's prefix.
    pub nats: NatsTest,
    /// The test's database.
    pub pool: PgPool,
    /// The job queue under the test's prefix.
    pub queue: Queue,
    /// The upload bucket under the test's prefix.
    pub staging: Staging,
    /// A client submitting to the queue, as the gateway does.
    pub client: JobClient,
}

impl Stack {
    /// Open the queue with `jobs`'s settings, the upload bucket and a job client under a fresh
    /// NATS prefix, on `pool`'s database.
    pub async fn start(pool: PgPool, jobs: &JobsConfig) -> Result<Self, BoxError> {
        crate::init_logging();
        let nats = NatsTest::connect().await?;
        let queue = Queue::new(nats.client().clone(), nats.prefix(), jobs).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), jobs.staging_ttl).await?;
        let client = JobClient::new(pool.clone(), queue.clone(), Some(staging.clone()));
        Ok(Self {
            nats,
            pool,
            queue,
            staging,
            client,
        })
    }

    /// Record and queue the job `envelope` describes (no idempotency key); its id.
    pub async fn submit_envelope(&self, envelope: JobEnvelope) -> Result<Uuid, JobsError> {
        let id = hub_jobs::envelope_job_id(&envelope)?;
        self.client
            .submit(Submission {
                envelope,
                idempotency_key: None,
            })
            .await?;
        Ok(id)
    }

    /// Start a worker running `handler` (see [`crate::spawn_worker`]), with a shutdown token
    /// of its own.
    pub async fn spawn_worker<H: JobHandler>(
        &self,
        handler: H,
    ) -> Result<(JoinHandle<Result<(), JobsError>>, CancellationToken), JobsError> {
        let shutdown = CancellationToken::new();
        let task =
            crate::spawn_worker(&self.queue, &self.pool, &self.staging, handler, &shutdown).await?;
        Ok((task, shutdown))
    }

    /// Job `id` as recorded now.
    pub async fn job(&self, id: Uuid) -> Result<Job, hub_db::DbError> {
        hub_db::jobs::get(&self.pool, id).await
    }

    /// Wait until job `id` satisfies `done`, for at most `timeout`; `what` names the wait in
    /// the timeout error.
    pub async fn wait_for(
        &self,
        id: Uuid,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Job) -> bool,
    ) -> Result<Job, BoxError> {
        let done = &done;
        wait_until(timeout, what, || async move {
            let job = self.job(id).await?;
            Ok::<_, hub_db::DbError>(done(&job).then_some(job))
        })
        .await
    }

    /// Wait until job `id` is in `state`.
    pub async fn wait_state(
        &self,
        id: Uuid,
        state: JobState,
        timeout: Duration,
    ) -> Result<Job, BoxError> {
        self.wait_for(id, timeout, &format!("job {id} {state}"), |job| {
            job.state == state
        })
        .await
    }

    /// Wait until job `id` has ended (succeeded, failed or cancelled).
    pub async fn finished(&self, id: Uuid, timeout: Duration) -> Result<Job, BoxError> {
        self.wait_for(id, timeout, &format!("job {id} to finish"), |job| {
            job.state.is_terminal()
        })
        .await
    }

    /// Delete the test's NATS streams and buckets.
    pub async fn cleanup(self) -> Result<(), TestkitError> {
        self.nats.cleanup().await
    }
}

/// The row and the file of the flist published as `repository/name` (following pointers), read
/// from `objects`; `None` when no such entry exists.
pub async fn published(
    pool: &PgPool,
    objects: &ObjectStore,
    repository: &str,
    name: &str,
) -> Result<Option<(FlistRow, Bytes)>, BoxError> {
    let lookup = match hub_db::entries::lookup(pool, repository, name).await {
        Ok(lookup) => lookup,
        Err(hub_db::DbError::NotFound(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let row = lookup
        .target
        .ok_or_else(|| format!("{repository}/{name} dangles"))?
        .flist;
    let id: ObjectId = row.content_hash.parse()?;
    let bytes = objects
        .get(&id)
        .await?
        .ok_or_else(|| format!("the file of {repository}/{name} is not stored"))?;
    Ok(Some((row, bytes)))
}
