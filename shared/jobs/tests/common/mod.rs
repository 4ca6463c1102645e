//! Shared set-up of the hub-jobs integration tests: the testkit's job platform with `alice`'s
//! convert jobs, and a scripted job handler.

#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hub_db::PgPool;
use hub_db::flists::{self, NewFlist};
use hub_jobs::{
    ClaimedJob, EventBus, JobContext, JobEnvelope, JobError, JobHandler, JobKind, JobOutput,
    JobsConfig, Publication,
};
use hub_model::Format;
use hub_proto::v1::ConvertJob;
use hub_proto::v1::job_envelope::Payload;
use hub_testkit::{BoxError, Stack};
use tokio::sync::Notify;
use uuid::Uuid;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Short timings, so redeliveries and retries happen within a test.
pub fn fast_config() -> JobsConfig {
    hub_testkit::fast_jobs()
}

/// Everything a test needs against the real NATS and its own database: the testkit's
/// [`Stack`], plus submitting `alice`'s convert jobs and following events.
pub struct Hub {
    stack: Stack,
}

impl std::ops::Deref for Hub {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl Hub {
    pub async fn start(pool: PgPool) -> Result<Self, BoxError> {
        Self::with_config(pool, fast_config()).await
    }

    pub async fn with_config(pool: PgPool, config: JobsConfig) -> Result<Self, BoxError> {
        Ok(Self {
            stack: Stack::start(pool, &config).await?,
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
        self.submit_envelope(JobEnvelope {
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
        })
        .await
    }

    /// Delete the test's NATS streams and buckets.
    pub async fn cleanup(self) -> Result<(), hub_testkit::TestkitError> {
        self.stack.cleanup().await
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
