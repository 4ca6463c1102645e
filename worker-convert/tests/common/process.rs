//! Worker processes: the built `hub-worker-convert` binary started with a configuration file on
//! the test's database and NATS prefix, to be stopped, frozen and killed by signals.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use hub_db::PgPool;
use hub_jobs::{JobClient, JobEnvelope, Queue, Staging, Submission};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, FlistFormat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::{AnyResult, TestResult};

/// `GET path` over plain HTTP/1.0: the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> AnyResult<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("no status line")?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((status, body))
}

/// A port nobody listens on right now.
pub fn free_port() -> AnyResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The built `hub-worker-convert` started with a configuration file on this test's database,
/// NATS prefix and a directory store, ready (its `/readyz` answered 200).
pub struct WorkerProcess {
    pub child: tokio::process::Child,
    pub pid: u32,
}

/// What the processes of one test share: configuration file, NATS prefix, job client.
pub struct ProcessHub {
    pub pool: PgPool,
    pub nats: hub_testkit::NatsTest,
    pub staging: Staging,
    pub client: JobClient,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
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
        hub_testkit::init_logging();
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&pool)
            .await?;
        let database_url = hub_testkit::database_url_for(&database);
        let nats = hub_testkit::NatsTest::connect().await?;
        let dir = tempfile::tempdir()?;
        let store = dir.path().join("store");
        std::fs::create_dir_all(&store)?;
        let config = dir.path().join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "database_url = \"{database_url}\"\nnats_url = \"{}\"\nnats_prefix = \"{}\"\n\
                 store = \"dir://{}\"\npublic_url = \"http://ignored.example\"\n\
                 [publish]\nbackend_host = \"bin.test\"\n[jobs]\nshutdown_grace = \"2s\"\n\
                 ack_wait = \"{}ms\"\nmax_attempts = {}\nmax_deliver = {}\n\
                 [convert]\nworkers = 1\n[gateway]\nlisten = \"127.0.0.1:1\"\n",
                nats.url(),
                nats.prefix(),
                store.display(),
                jobs.ack_wait.as_millis(),
                jobs.max_attempts,
                jobs.max_deliver,
            ),
        )?;
        // The same queue settings as the processes, so that nobody redefines the consumers.
        let jobs = hub_jobs::JobsConfig {
            shutdown_grace: Duration::from_secs(2),
            ..jobs
        };
        let queue = Queue::new(nats.client().clone(), nats.prefix(), &jobs).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), jobs.staging_ttl).await?;
        let client = JobClient::new(pool.clone(), queue, Some(staging.clone()));
        Ok(Self {
            pool,
            nats,
            staging,
            client,
            config,
            _dir: dir,
        })
    }

    /// Start a worker process and wait until it is ready.
    pub async fn start_worker(&self) -> AnyResult<WorkerProcess> {
        self.start_worker_with(None).await
    }

    /// Start a worker process that aborts when a job reaches `point` of publishing
    /// ([`hub_jobs::crash`]), and wait until it is ready.
    pub async fn start_worker_crashing_at(
        &self,
        point: hub_jobs::crash::CrashPoint,
    ) -> AnyResult<WorkerProcess> {
        self.start_worker_with(Some(point)).await
    }

    async fn start_worker_with(
        &self,
        crash_at: Option<hub_jobs::crash::CrashPoint>,
    ) -> AnyResult<WorkerProcess> {
        let health = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-worker-convert"));
        match crash_at {
            Some(point) => command.env(hub_jobs::crash::CRASH_AT_ENV, point.name()),
            None => command.env_remove(hub_jobs::crash::CRASH_AT_ENV),
        };
        let child = command
            .arg("--config")
            .arg(&self.config)
            .env("HUB_HEALTH_LISTEN", health.to_string())
            .env_remove("HUB_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("no pid")?;
        hub_testkit::wait_until(
            Duration::from_secs(30),
            "the worker to be ready",
            || async {
                Ok::<_, std::io::Error>(match get(health, "/readyz").await {
                    Ok((200, _)) => Some(()),
                    _ => None,
                })
            },
        )
        .await?;
        assert_eq!(get(health, "/healthz").await?.0, 200);
        Ok(WorkerProcess { child, pid })
    }

    /// Stage `archive` and submit its conversion to `bob/<target>` the way the gateway does.
    pub async fn submit(&self, target: &str, archive: &[u8]) -> AnyResult<Uuid> {
        let id = Uuid::new_v4();
        let staged = self.staging.put(&id.to_string(), &mut &archive[..]).await?;
        let envelope = JobEnvelope {
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
        };
        self.client
            .submit(Submission {
                envelope,
                idempotency_key: None,
            })
            .await?;
        Ok(id)
    }

    /// Wait (at most 60 s) until job `id` satisfies `done`.
    pub async fn wait_for(
        &self,
        id: Uuid,
        what: &str,
        done: impl Fn(&hub_jobs::Job) -> bool,
    ) -> AnyResult<hub_jobs::Job> {
        let pool = &self.pool;
        let done = &done;
        hub_testkit::wait_until(Duration::from_secs(60), what, || async move {
            let job = hub_db::jobs::get(pool, id).await?;
            Ok::<_, hub_db::DbError>(done(&job).then_some(job))
        })
        .await
    }
}

/// Send signal `name` (`STOP`, `KILL`, `TERM`) to process `pid`.
pub async fn signal(pid: u32, name: &str) -> TestResult {
    let sent = tokio::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .await?;
    assert!(sent.success(), "kill -{name} {pid}");
    Ok(())
}
