//! The worker process: health endpoints of the shared wiring, and the built binary started
//! with a configuration file: converting a job, stopping on SIGTERM, and a process killed
//! (SIGKILL) in the middle of a job whose job another process then finishes exactly once.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::{AnyResult, TestHub, TestResult, source_tree, tar_gz, test_publish};
use hub_db::PgPool;
use hub_jobs::{JobClient, JobEnvelope, JobState, Queue, Staging, Submission};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, FlistFormat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// `GET path` over plain HTTP/1.0: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> AnyResult<(u16, String)> {
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

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn health_endpoints_report_each_dependency(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let (status, _) = get(hub.health, "/healthz").await?;
    assert_eq!(status, 200);
    let (status, body) = get(hub.health, "/readyz").await?;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        body["checks"],
        serde_json::json!({"postgres": "ok", "nats": "ok", "store": "ok"})
    );
    hub.stop().await
}

/// A port nobody listens on right now.
fn free_port() -> AnyResult<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The built `hub-worker-convert` started with a configuration file on this test's database,
/// NATS prefix and a directory store, ready (its `/readyz` answered 200).
struct WorkerProcess {
    child: tokio::process::Child,
    pid: u32,
}

/// What the processes of one test share: configuration file, NATS prefix, job client.
struct ProcessHub {
    pool: PgPool,
    nats: hub_testkit::NatsTest,
    staging: Staging,
    client: JobClient,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl ProcessHub {
    /// `ack_wait` is also what a stalled job waits before another worker may take it over.
    async fn new(pool: PgPool, ack_wait: Duration) -> AnyResult<Self> {
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
                 ack_wait = \"{}ms\"\n[convert]\nworkers = 1\n[gateway]\nlisten = \"127.0.0.1:1\"\n",
                nats.url(),
                nats.prefix(),
                store.display(),
                ack_wait.as_millis()
            ),
        )?;
        // The same queue settings as the processes, so that nobody redefines the consumers.
        let jobs = hub_jobs::JobsConfig {
            ack_wait,
            shutdown_grace: Duration::from_secs(2),
            ..hub_jobs::JobsConfig::default()
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

    async fn start_worker(&self) -> AnyResult<WorkerProcess> {
        let health = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-worker-convert"))
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
    async fn submit(&self, target: &str, archive: &[u8]) -> AnyResult<Uuid> {
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

    async fn wait_for(
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

async fn signal(pid: u32, name: &str) -> TestResult {
    let sent = tokio::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .await?;
    assert!(sent.success(), "kill -{name} {pid}");
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_binary_serves_jobs_and_stops_on_sigterm(pool: PgPool) -> TestResult {
    let hub = ProcessHub::new(pool, Duration::from_secs(30)).await?;
    let mut worker = hub.start_worker().await?;

    // A job submitted the way the gateway does is converted by the process.
    let source = source_tree()?;
    let id = hub.submit("app.flist", &tar_gz(source.path())?).await?;
    let job = hub
        .wait_for(id, "the job", |job| job.state.is_terminal())
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    // Unspecified format: `publish.default_format`, `.flist` with the configured backend.
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["format"], "flist");
    let lookup = hub_db::entries::lookup(&hub.pool, "bob", "app.flist").await?;
    let row = lookup.target.ok_or("dangling")?.flist;
    assert!(
        row.metadata["backend"]
            .as_str()
            .unwrap_or_default()
            .contains("bin.test")
    );

    // SIGTERM: a clean exit.
    signal(worker.pid, "TERM").await?;
    let status = tokio::time::timeout(Duration::from_secs(20), worker.child.wait()).await??;
    assert!(status.success(), "{status}");
    hub.nats.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_worker_process_killed_mid_job_loses_no_job(pool: PgPool) -> TestResult {
    let hub = ProcessHub::new(pool, Duration::from_secs(3)).await?;
    let mut doomed = hub.start_worker().await?;

    // Large enough that the conversion is still going when the process is frozen.
    let source = tempfile::tempdir()?;
    for i in 0..4u64 {
        std::fs::write(
            source.path().join(format!("blob{i}")),
            common::noise(16 << 20, i),
        )?;
    }
    let id = hub
        .submit("survivor.flist", &tar_gz(source.path())?)
        .await?;
    hub.wait_for(id, "the job to run", |job| job.state == JobState::Running)
        .await?;
    // Freeze the process first, so the state read next is the one it dies in.
    signal(doomed.pid, "STOP").await?;
    let frozen = hub_db::jobs::get(&hub.pool, id).await?;
    assert_eq!(
        frozen.state,
        JobState::Running,
        "the job ended before the kill"
    );
    signal(doomed.pid, "KILL").await?;
    let status = tokio::time::timeout(Duration::from_secs(20), doomed.child.wait()).await??;
    assert!(!status.success(), "{status}");

    // Another process takes the job over once its heartbeat is stale, and finishes it once.
    let mut rescuer = hub.start_worker().await?;
    let job = hub
        .wait_for(id, "the job to finish", |job| job.state.is_terminal())
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert!(job.attempt >= 2, "attempt {}", job.attempt);
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM entries WHERE repository = 'bob' AND name = $1")
            .bind("survivor.flist")
            .fetch_one(&hub.pool)
            .await?;
    assert_eq!(entries, 1);
    let finished = hub_db::events::list(&hub.pool, id, 0, 1000)
        .await?
        .into_iter()
        .filter(|e| e.state == Some(JobState::Succeeded))
        .count();
    assert_eq!(finished, 1, "finished exactly once");
    let lookup = hub_db::entries::lookup(&hub.pool, "bob", "survivor.flist").await?;
    assert!(lookup.target.is_some(), "the entry resolves to a flist");

    signal(rescuer.pid, "TERM").await?;
    tokio::time::timeout(Duration::from_secs(20), rescuer.child.wait()).await??;
    hub.nats.cleanup().await?;
    Ok(())
}
