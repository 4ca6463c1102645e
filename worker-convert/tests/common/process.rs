//! Worker processes: the built `hub-worker-convert` binary started with a configuration file on
//! the test's database and NATS prefix, to be stopped, frozen and killed by signals.

use std::collections::HashMap;
use std::time::Duration;

use hub_db::PgPool;
use hub_jobs::JobEnvelope;
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, FlistFormat};
use hub_testkit::{ServiceProcess, Stack, http_get, service_config};
use uuid::Uuid;

use super::AnyResult;

/// How long a test waits for a job of the worker processes.
pub const WAIT: Duration = Duration::from_secs(60);

/// What the processes of one test share: configuration file, and the job platform ([`Stack`],
/// reached through `Deref`) on the same database and NATS prefix.
pub struct ProcessHub {
    stack: Stack,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for ProcessHub {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl ProcessHub {
    /// `ack_wait` is also what a stalled job waits before another worker may take it over.
    pub async fn new(pool: PgPool, ack_wait: Duration) -> AnyResult<Self> {
        let jobs = hub_jobs::JobsConfig {
            ack_wait,
            ..hub_jobs::JobsConfig::default()
        };
        Self::with_jobs(pool, jobs).await
    }

    /// Processes with `jobs`'s `ack_wait`, `max_attempts` and `max_deliver` (the other queue
    /// settings are the defaults; `shutdown_grace` is 2 s).
    pub async fn with_jobs(pool: PgPool, jobs: hub_jobs::JobsConfig) -> AnyResult<Self> {
        // The same queue settings as the processes, so that nobody redefines the consumers.
        let jobs = hub_jobs::JobsConfig {
            shutdown_grace: Duration::from_secs(2),
            ..jobs
        };
        let stack = Stack::start(pool, &jobs).await?;
        let dir = tempfile::tempdir()?;
        let store = dir.path().join("store");
        std::fs::create_dir_all(&store)?;
        let config = dir.path().join("hub.toml");
        let common = service_config(&stack.pool, &stack.nats, &store).await?;
        std::fs::write(
            &config,
            format!(
                "{common}public_url = \"http://ignored.example\"\n\
                 [publish]\nbackend_host = \"bin.test\"\n[jobs]\nshutdown_grace = \"2s\"\n\
                 ack_wait = \"{}ms\"\nmax_attempts = {}\nmax_deliver = {}\n\
                 [convert]\nworkers = 1\n[gateway]\nlisten = \"127.0.0.1:1\"\n",
                jobs.ack_wait.as_millis(),
                jobs.max_attempts,
                jobs.max_deliver,
            ),
        )?;
        Ok(Self {
            stack,
            config,
            _dir: dir,
        })
    }

    /// Delete the test's NATS streams and buckets.
    pub async fn cleanup(self) -> Result<(), hub_testkit::TestkitError> {
        self.stack.cleanup().await
    }

    /// Start a worker process and wait until it is ready.
    pub async fn start_worker(&self) -> AnyResult<ServiceProcess> {
        self.start_worker_with(None).await
    }

    /// Start a worker process that aborts when a job reaches `point` of publishing
    /// ([`hub_jobs::crash`]), and wait until it is ready.
    pub async fn start_worker_crashing_at(
        &self,
        point: hub_jobs::crash::CrashPoint,
    ) -> AnyResult<ServiceProcess> {
        self.start_worker_with(Some(point)).await
    }

    async fn start_worker_with(
        &self,
        crash_at: Option<hub_jobs::crash::CrashPoint>,
    ) -> AnyResult<ServiceProcess> {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-worker-convert"));
        match crash_at {
            Some(point) => command.env(hub_jobs::crash::CRASH_AT_ENV, point.name()),
            None => command.env_remove(hub_jobs::crash::CRASH_AT_ENV),
        };
        let worker = ServiceProcess::start(command, &self.config).await?;
        assert_eq!(http_get(worker.health, "/healthz").await?.0, 200);
        Ok(worker)
    }

    /// Stage `archive` and submit its conversion to `bob/<target>` the way the gateway does.
    pub async fn submit(&self, target: &str, archive: &[u8]) -> AnyResult<Uuid> {
        let id = Uuid::new_v4();
        let staged = self.staging.put(&id.to_string(), &mut &archive[..]).await?;
        Ok(self
            .submit_envelope(JobEnvelope {
                job_id: id.to_string(),
                owner: "bob".into(),
                repository: "bob".into(),
                target_name: target.into(),
                format: FlistFormat::Unspecified as i32,
                repository_max_entries: 0,
                payload: Some(Payload::Convert(ConvertJob {
                    staged_object: staged.name,
                    original_name: "app.tar.gz".into(),
                    metadata: HashMap::new(),
                })),
            })
            .await?)
    }
}
