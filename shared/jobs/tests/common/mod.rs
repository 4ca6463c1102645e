//! Shared set-up of the hub-jobs integration tests: a NATS prefix of their own, a fast
//! configuration, and a scripted job handler.

#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hub_db::PgPool;
use hub_db::flists::{self, NewFlist};
use hub_jobs::{
    ClaimedJob, EventBus, JobClient, JobContext, JobEnvelope, JobError, JobHandler, JobKind,
    JobOutput, JobsConfig, Publication, Queue, Staging, Submission, Worker,
};
use hub_model::Format;
use hub_proto::v1::ConvertJob;
use hub_proto::v1::job_envelope::Payload;
use hub_testkit::NatsTest;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Short timings, so redeliveries and retries happen within a test.
pub fn fast_config() -> JobsConfig {
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

/// Everything a test needs against the real NATS and its own database.
pub struct Hub {
    pub nats: NatsTest,
    pub pool: PgPool,
    pub queue: Queue,
    pub staging: Staging,
    pub client: JobClient,
}

impl Hub {
    pub async fn start(pool: PgPool) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::with_config(pool, fast_config()).await
    }

    pub async fn with_config(
        pool: PgPool,
        config: JobsConfig,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        hub_testkit::init_logging();
        let nats = NatsTest::connect().await?;
        let queue = Queue::new(nats.client().clone(), nats.prefix(), &config).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), config.staging_ttl).await?;
        let client = JobClient::new(pool.clone(), queue.clone(), Some(staging.clone()));
        Ok(Self {
            nats,
            pool,
            queue,
            staging,
            client,
        })
    }

    pub async fn bus(&self) -> Result<EventBus, hub_jobs::JobsError> {
        EventBus::subscribe_all(
            self.nats.client(),
            self.queue.names(),
            self.pool.clone(),
            self.queue.config().event_poll_interval,
        )
        .await
    }

    /// Submit a convert job for `alice/<name>`, with an optional staged upload.
    pub async fn submit(
        &self,
        name: &str,
        staged: Option<&str>,
    ) -> Result<Uuid, hub_jobs::JobsError> {
        self.submit_with_id(Uuid::new_v4(), name, staged).await
    }

    /// [`Hub::submit`] with the job id chosen by the caller (the gateway names a staged upload
    /// by its job's id before the job exists).
    pub async fn submit_with_id(
        &self,
        id: Uuid,
        name: &str,
        staged: Option<&str>,
    ) -> Result<Uuid, hub_jobs::JobsError> {
        let envelope = JobEnvelope {
            job_id: id.to_string(),
            owner: "alice".into(),
            repository: "alice".into(),
            target_name: name.into(),
            payload: Some(Payload::Convert(ConvertJob {
                staged_object: staged.unwrap_or_default().into(),
                original_name: name.into(),
                ..ConvertJob::default()
            })),
            ..JobEnvelope::default()
        };
        self.client
            .submit(Submission {
                envelope,
                idempotency_key: None,
            })
            .await?;
        Ok(id)
    }

    /// Start a worker with `handler` on its own task; returns the task and its shutdown token.
    pub async fn spawn_worker<H: JobHandler>(
        &self,
        handler: H,
    ) -> Result<
        (
            tokio::task::JoinHandle<Result<(), hub_jobs::JobsError>>,
            CancellationToken,
        ),
        hub_jobs::JobsError,
    > {
        let worker = Worker::new(
            self.queue.clone(),
            self.pool.clone(),
            self.staging.clone(),
            handler,
        )
        .await?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(worker.run(shutdown.clone()));
        Ok((task, shutdown))
    }

    pub async fn job(&self, id: Uuid) -> Result<hub_jobs::Job, hub_db::DbError> {
        hub_db::jobs::get(&self.pool, id).await
    }

    /// Wait until job `id` is in `state`.
    pub async fn wait_state(
        &self,
        id: Uuid,
        state: hub_jobs::JobState,
        timeout: Duration,
    ) -> Result<hub_jobs::Job, Box<dyn std::error::Error + Send + Sync>> {
        hub_testkit::wait_until(timeout, &format!("job {id} {state}"), || async {
            let job = self.job(id).await?;
            Ok::<_, hub_db::DbError>((job.state == state).then_some(job))
        })
        .await
    }
}

/// What the scripted handler does on its n-th run (0-based, over all workers sharing it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Report progress a few times, then publish a flist.
    Succeed,
    /// Fail with a transient error.
    Transient,
    /// Fail with invalid input.
    Invalid,
    /// Wait until cancelled, then return `Cancelled`.
    WaitForCancel,
    /// Never return, ignoring cancellation (a hung or about-to-be-killed worker).
    Hang,
    /// Sleep this many milliseconds, then succeed.
    Slow(u64),
    /// Panic.
    Panic,
}

/// A handler following a script, shared by the workers of a test.
#[derive(Clone)]
pub struct TestHandler {
    script: Arc<Vec<Step>>,
    pub runs: Arc<AtomicUsize>,
    pub started: Arc<Notify>,
}

impl TestHandler {
    /// Runs follow `script`; runs past its end repeat its last step.
    pub fn new(script: &[Step]) -> Self {
        Self {
            script: Arc::new(script.to_vec()),
            runs: Arc::new(AtomicUsize::new(0)),
            started: Arc::new(Notify::new()),
        }
    }

    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl JobHandler for TestHandler {
    const KIND: JobKind = JobKind::Convert;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        let step = self
            .script
            .get(run)
            .or(self.script.last())
            .copied()
            .unwrap_or(Step::Succeed);
        match step {
            Step::Succeed => succeed(job, ctx).await,
            Step::Transient => Err(JobError::transient("store unreachable")),
            Step::Invalid => Err(JobError::invalid_as(
                hub_db::jobs::FailureCode::InvalidArchive,
                "invalid archive",
            )),
            Step::WaitForCancel => {
                ctx.progress(10, "wait", "waiting to be cancelled");
                ctx.cancelled().cancelled().await;
                Err(JobError::Cancelled)
            }
            Step::Hang => std::future::pending().await,
            Step::Slow(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                succeed(job, ctx).await
            }
            Step::Panic => panic!("scripted panic"),
        }
    }
}

async fn succeed(job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
    for item in 1..=20u8 {
        ctx.progress(
            item * 5,
            "build",
            format!("Building: processing item {item} of 20"),
        );
    }
    ctx.event(
        hub_jobs::EventKind::Info,
        Some("flist built".into()),
        serde_json::json!({"stage": "built"}),
    )
    .await?;
    // Content-addressed: a rerun of the same job records the same row.
    let new = NewFlist {
        content_hash: format!("{:064x}", job.job.id.as_u128()),
        md5: format!("{:032x}", job.job.id.as_u128()),
        size: 1234,
        format: Format::Flist,
        stats: serde_json::json!({"regular": 1, "symlink": 0, "directory": 0, "special": 0, "failure": 0, "fullsize": 5}),
        metadata: serde_json::json!({}),
        dump: None,
        source: None,
        source_key: None,
        creator: Some(job.job.owner.clone()),
    };
    let flist = flists::insert_or_get(ctx.pool(), &new).await?;
    let info = serde_json::json!({"filename": job.job.target_name, "flist": new.stats});
    Ok(JobOutput::publishing(
        Publication::for_job(job, &flist),
        serde_json::json!({"flist_id": flist.id}),
    )
    .with_info(info))
}
