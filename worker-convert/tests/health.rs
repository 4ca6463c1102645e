//! The worker process: health endpoints of the shared wiring, and the built binary started
//! with a configuration file, converting a job and stopping on SIGTERM.

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

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_binary_serves_jobs_and_stops_on_sigterm(pool: PgPool) -> TestResult {
    hub_testkit::init_logging();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    let server = hub_testkit::database_url();
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    let nats = hub_testkit::NatsTest::connect().await?;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{base}/{database}\"\nnats_url = \"{}\"\nnats_prefix = \"{}\"\n\
             store = \"dir://{}\"\npublic_url = \"http://ignored.example\"\n\
             [publish]\nbackend_host = \"bin.test\"\n[jobs]\nshutdown_grace = \"2s\"\n\
             [convert]\nworkers = 1\n[gateway]\nlisten = \"127.0.0.1:1\"\n",
            nats.url(),
            nats.prefix(),
            store.display()
        ),
    )?;
    let health = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-worker-convert"))
        .arg("--config")
        .arg(&config)
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

    // A job submitted the way the gateway does is converted by the process.
    let jobs = common::fast_jobs();
    let queue = Queue::new(nats.client().clone(), nats.prefix(), &jobs).await?;
    let staging = Staging::open_bucket(queue.jetstream(), queue.names(), jobs.staging_ttl).await?;
    let client = JobClient::new(pool.clone(), queue, Some(staging.clone()));
    let id = Uuid::new_v4();
    let source = source_tree()?;
    let staged = staging
        .put(&id.to_string(), &mut &tar_gz(source.path())?[..])
        .await?;
    let envelope = JobEnvelope {
        job_id: id.to_string(),
        owner: "bob".into(),
        repository: "bob".into(),
        target_name: "app.flist".into(),
        format: FlistFormat::Unspecified as i32,
        payload: Some(Payload::Convert(ConvertJob {
            staged_object: staged.name,
            original_name: "app.tar.gz".into(),
            metadata: HashMap::new(),
        })),
    };
    client
        .submit(Submission {
            envelope,
            idempotency_key: None,
        })
        .await?;
    let job = hub_testkit::wait_until(Duration::from_secs(60), "the job", || async {
        let job = hub_db::jobs::get(&pool, id).await?;
        Ok::<_, hub_db::DbError>(job.state.is_terminal().then_some(job))
    })
    .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    // Unspecified format: `publish.default_format`, `.flist` with the configured backend.
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["format"], "flist");
    let lookup = hub_db::entries::lookup(&pool, "bob", "app.flist").await?;
    let row = lookup.target.ok_or("dangling")?.flist;
    assert!(
        row.metadata["backend"]
            .as_str()
            .unwrap_or_default()
            .contains("bin.test")
    );

    // SIGTERM: a clean exit.
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await??;
    assert!(status.success(), "{status}");
    nats.cleanup().await?;
    Ok(())
}
