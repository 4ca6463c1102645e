//! A hub for the worker tests: the real PostgreSQL (a database per test), NATS (a prefix per
//! test) and a directory store in a temporary directory, with the convert and verify workers
//! running through the shared service wiring.

#![allow(dead_code)] // each test binary uses a different part

pub mod process;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use hub_config::PublishConfig;
use hub_db::PgPool;
use hub_db::flists::Flist as FlistRow;
use hub_flist::Flist;
use hub_jobs::{
    Job, JobClient, JobEnvelope, JobEvent, JobState, JobsConfig, Queue, Staging, Submission,
};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, FlistFormat, VerifyJob};
use hub_store::{ObjectId, ObjectStore, SharedStore};
use hub_testkit::NatsTest;
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

pub struct TestHub {
    pub nats: NatsTest,
    pub pool: PgPool,
    pub queue: Queue,
    pub staging: Staging,
    pub client: JobClient,
    pub store_dir: tempfile::TempDir,
    pub store: SharedStore,
    pub objects: ObjectStore,
    pub health: SocketAddr,
    shutdown: CancellationToken,
    service: JoinHandle<Result<(), ServiceError>>,
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
        hub_testkit::init_logging();
        let nats = NatsTest::connect().await?;
        let queue = Queue::new(nats.client().clone(), nats.prefix(), &jobs).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), jobs.staging_ttl).await?;
        let client = JobClient::new(pool.clone(), queue.clone(), Some(staging.clone()));
        let connections = Connections {
            pool: pool.clone(),
            queue: queue.clone(),
            staging: staging.clone(),
            store: SharedStore::clone(&store),
        };
        let convert = ConvertHandler::new(
            SharedStore::clone(&store),
            PublishSettings::new(&publish)?,
            small_pipeline(),
        )
        .with_upload_sizes(queue.clone());
        let verify = VerifyHandler::new(SharedStore::clone(&store), VerifySettings::default());
        let shutdown = CancellationToken::new();
        let mut service = Service::new(connections, shutdown.clone());
        service.add_worker(convert).await?;
        service.add_worker(verify).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let health = listener.local_addr()?;
        let service = tokio::spawn(service.run_with_listener(listener));
        Ok(Self {
            nats,
            pool,
            queue,
            staging,
            client,
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
        self.nats.cleanup().await?;
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
        let envelope = JobEnvelope {
            job_id: id.to_string(),
            owner: REPO.into(),
            repository: REPO.into(),
            target_name: target.into(),
            format: format as i32,
            repository_max_entries: 0,
            payload: Some(payload(staged.name)),
        };
        self.client
            .submit(Submission {
                envelope,
                idempotency_key: None,
            })
            .await?;
        Ok(id)
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
        hub_testkit::wait_until(
            Duration::from_secs(60),
            &format!("job {id} to finish"),
            || async {
                let job = hub_db::jobs::get(&self.pool, id).await?;
                Ok::<_, hub_db::DbError>(job.state.is_terminal().then_some(job))
            },
        )
        .await
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
        let lookup = match hub_db::entries::lookup(&self.pool, REPO, name).await {
            Ok(lookup) => lookup,
            Err(hub_db::DbError::NotFound(_)) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let row = lookup.target.ok_or("the entry dangles")?.flist;
        let id: ObjectId = row.content_hash.parse()?;
        let bytes = self
            .objects
            .get(&id)
            .await?
            .ok_or("the flist file is not stored")?;
        Ok(Some((row, bytes)))
    }

    /// Unpack `flist` (blocks read from this hub's store) into a new directory.
    pub async fn unpack(&self, flist: &Flist) -> AnyResult<tempfile::TempDir> {
        let out = tempfile::tempdir()?;
        hub_convert::unpack(
            flist,
            SharedStore::clone(&self.store),
            out.path(),
            &hub_convert::UnpackOptions::default(),
        )
        .await?;
        Ok(out)
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

/// Small pipelines: tests exercise back-pressure and stay light on the shared machine.
pub fn small_pipeline() -> ConvertSettings {
    ConvertSettings {
        workers: 2,
        blocks_in_flight: 4,
        store_concurrency: 4,
        ..ConvertSettings::default()
    }
}

/// Deterministic bytes that do not compress away.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
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
    std::fs::write(root.join("usr/bin/tool"), noise(1_300_000, 7))?;
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

/// `root`'s content as a gzip'd tar.
pub fn tar_gz(root: &Path) -> AnyResult<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", root)?;
    Ok(builder.into_inner()?.finish()?)
}

/// `bytes` gzip'd.
pub fn gzip(bytes: &[u8]) -> AnyResult<Vec<u8>> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snap {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
}

/// Every entry below `root`, by relative path.
pub fn snapshot(root: &Path) -> AnyResult<BTreeMap<String, Snap>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path)?;
            let mode = meta.mode() & 0o7777;
            let snap = if meta.is_dir() {
                stack.push(path.clone());
                Snap::Dir { mode }
            } else if meta.file_type().is_symlink() {
                Snap::Symlink {
                    target: std::fs::read_link(&path)?.to_string_lossy().into_owned(),
                }
            } else {
                Snap::File {
                    mode,
                    data: std::fs::read(&path)?,
                }
            };
            out.insert(rel, snap);
        }
    }
    Ok(out)
}
