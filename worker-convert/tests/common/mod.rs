//! A hub for the worker tests: the real PostgreSQL (a database per test), NATS (a prefix per
//! test) and a directory store in a temporary directory, with the convert and verify workers
//! running through the shared service wiring.

#![allow(dead_code)] // each test binary uses a different part

pub mod process;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use hub_config::PublishConfig;
use hub_db::PgPool;
use hub_db::flists::Flist as FlistRow;
use hub_jobs::{Job, JobEnvelope, JobEvent, JobState, JobsConfig};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, FlistFormat, VerifyJob};
use hub_store::{ObjectStore, SharedStore};
use hub_testkit::Stack;
use hub_worker::{Connections, PublishSettings, Service, ServiceError};
use hub_worker_convert::{ConvertHandler, ConvertSettings, VerifyHandler, VerifySettings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The repository jobs publish into.
pub const REPO: &str = "alice";

/// Short timings, so that a test never waits long.
pub fn fast_jobs() -> JobsConfig {
    JobsConfig {
        ack_wait: Duration::from_secs(5),
        retry_backoff: Duration::from_millis(100),
        max_retry_backoff: Duration::from_millis(400),
        progress_interval: Duration::from_millis(50),
        fetch_expiry: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(5),
        event_poll_interval: Duration::from_millis(500),
        ..JobsConfig::default()
    }
}

/// The public endpoint written into `.flist` files by the test hub.
pub fn test_publish() -> PublishConfig {
    PublishConfig {
        backend_host: "hub.test".into(),
        backend_port: 9911,
        backend_namespace: "public".into(),
        ..PublishConfig::default()
    }
}

/// The job platform of the test ([`Stack`], reached through `Deref`) with the workers running
/// on it.
pub struct TestHub {
    stack: Stack,
    pub store_dir: tempfile::TempDir,
    pub store: SharedStore,
    pub objects: ObjectStore,
    pub health: SocketAddr,
    shutdown: CancellationToken,
    service: JoinHandle<Result<(), ServiceError>>,
}

impl std::ops::Deref for TestHub {
    type Target = Stack;

    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl TestHub {
    /// A hub publishing with `publish`, its convert and verify workers running.
    pub async fn start(pool: PgPool, publish: PublishConfig) -> AnyResult<Self> {
        let store_dir = tempfile::tempdir()?;
        let store = hub_store::open(&format!("dir://{}", store_dir.path().display())).await?;
        Self::start_on(pool, publish, fast_jobs(), store, store_dir).await
    }

    /// A hub with `jobs` settings whose workers store chunks in `store` (e.g. a 0-db double);
    /// `store_dir` is kept for the hub's lifetime (an unused empty directory for other stores).
    pub async fn start_on(
        pool: PgPool,
        publish: PublishConfig,
        jobs: JobsConfig,
        store: SharedStore,
        store_dir: tempfile::TempDir,
    ) -> AnyResult<Self> {
        let stack = Stack::start(pool, &jobs).await?;
        let connections = Connections {
            pool: stack.pool.clone(),
            queue: stack.queue.clone(),
            staging: stack.staging.clone(),
            store: SharedStore::clone(&store),
        };
        let convert = ConvertHandler::new(
            SharedStore::clone(&store),
            PublishSettings::new(&publish)?,
            ConvertSettings::small(),
        )
        .with_upload_sizes(stack.queue.clone());
        let verify = VerifyHandler::new(SharedStore::clone(&store), VerifySettings::default());
        let shutdown = CancellationToken::new();
        let mut service = Service::new(connections, shutdown.clone());
        service.add_worker(convert).await?;
        service.add_worker(verify).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let health = listener.local_addr()?;
        let service = tokio::spawn(service.run_with_listener(listener));
        Ok(Self {
            stack,
            store_dir,
            objects: ObjectStore::new(SharedStore::clone(&store)),
            store,
            health,
            shutdown,
            service,
        })
    }

    /// Stop the workers (they must stop cleanly) and delete the test's NATS streams.
    pub async fn stop(self) -> TestResult {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.service).await???;
        self.stack.cleanup().await?;
        Ok(())
    }

    /// Stage `upload` and submit a job with `payload` for it, publishing `alice/<target>`.
    async fn submit(
        &self,
        target: &str,
        format: FlistFormat,
        upload: &[u8],
        payload: impl FnOnce(String) -> Payload,
    ) -> AnyResult<Uuid> {
        let id = Uuid::new_v4();
        let staged = self.staging.put(&id.to_string(), &mut &upload[..]).await?;
        Ok(self
            .submit_envelope(JobEnvelope {
                job_id: id.to_string(),
                owner: REPO.into(),
                repository: REPO.into(),
                target_name: target.into(),
                format: format as i32,
                repository_max_entries: 0,
                payload: Some(payload(staged.name)),
            })
            .await?)
    }

    /// Submit a convert job for `archive`.
    pub async fn convert(
        &self,
        target: &str,
        format: FlistFormat,
        archive: &[u8],
        metadata: HashMap<String, String>,
    ) -> AnyResult<Uuid> {
        self.submit(target, format, archive, |staged_object| {
            Payload::Convert(ConvertJob {
                staged_object,
                original_name: "upload.tar.gz".into(),
                metadata,
            })
        })
        .await
    }

    /// Submit a verify job for the flist `file`.
    pub async fn verify(&self, target: &str, format: FlistFormat, file: &[u8]) -> AnyResult<Uuid> {
        self.submit(target, format, file, |staged_object| {
            Payload::Verify(VerifyJob { staged_object })
        })
        .await
    }

    /// Wait until job `id` has finished, and return it.
    pub async fn finished(&self, id: Uuid) -> AnyResult<Job> {
        self.stack.finished(id, Duration::from_secs(60)).await
    }

    /// Wait for the staged upload of job `id` to be deleted: the worker deletes it right after
    /// recording the job's final state, so it can still be there when [`Self::finished`]
    /// returns.
    pub async fn staged_upload_deleted(&self, id: Uuid) -> AnyResult<()> {
        hub_testkit::wait_until(
            Duration::from_secs(10),
            &format!("the staged upload of job {id} to be deleted"),
            || async {
                let gone = self.staging.open(&id.to_string()).await.is_err();
                Ok::<_, std::convert::Infallible>(gone.then_some(()))
            },
        )
        .await
    }

    /// Wait for job `id` to succeed.
    pub async fn succeeded(&self, id: Uuid) -> AnyResult<Job> {
        let job = self.finished(id).await?;
        if job.state != JobState::Succeeded {
            return Err(format!("job {id} is {} ({:?})", job.state, job.error).into());
        }
        Ok(job)
    }

    /// The job's recorded events, in order.
    pub async fn events(&self, id: Uuid) -> AnyResult<Vec<JobEvent>> {
        Ok(hub_db::events::list(&self.pool, id, 0, 10_000).await?)
    }

    /// The row and bytes of the flist published as `alice/<name>`, if any.
    pub async fn published(&self, name: &str) -> AnyResult<Option<(FlistRow, Bytes)>> {
        hub_testkit::published(&self.pool, &self.objects, REPO, name).await
    }

    /// Path of block `id` in the directory store.
    pub fn block_path(&self, id: &[u8]) -> Option<PathBuf> {
        let name = hex::encode(id);
        // Written flat; older hubs wrote `<hex[0:2]>/<hex>`.
        let flat = self.store_dir.path().join(&name);
        let sharded = self.store_dir.path().join(&name[..2]).join(&name);
        [flat, sharded].into_iter().find(|path| path.exists())
    }
}

/// A source tree on disk: nested directories, a multi-block file, an empty file, a symlink,
/// a `.README.md`, non-default modes.
pub fn source_tree() -> AnyResult<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/conf.d"))?;
    std::fs::create_dir_all(root.join("usr/bin"))?;
    std::fs::write(root.join("etc/hostname"), b"zos\n")?;
    std::fs::write(root.join("etc/conf.d/empty"), b"")?;
    std::fs::write(root.join("usr/bin/tool"), hub_testkit::noise(1_300_000, 7))?;
    std::fs::set_permissions(
        root.join("usr/bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    std::fs::set_permissions(
        root.join("etc/hostname"),
        std::fs::Permissions::from_mode(0o600),
    )?;
    std::os::unix::fs::symlink("../usr/bin/tool", root.join("etc/tool-link"))?;
    std::fs::write(root.join(".README.md"), b"# Demo\nhello\n")?;
    Ok(dir)
}
