//! The shared wiring against the real PostgreSQL and NATS: `/readyz` reports the connections'
//! probes and a worker's own, shutdown stops the service cleanly, a taken health port fails
//! the start.

use std::net::SocketAddr;
use std::time::Duration;

use hub_db::PgPool;
use hub_jobs::{JobsConfig, Queue, Staging};
use hub_telemetry::Probe;
use hub_testkit::NatsTest;
use hub_worker::{Connections, Service, ServiceError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn connections(
    pool: PgPool,
    nats: &NatsTest,
    store: &tempfile::TempDir,
) -> Result<Connections, Box<dyn std::error::Error + Send + Sync>> {
    let jobs = JobsConfig::default();
    let queue = Queue::new(nats.client().clone(), nats.prefix(), &jobs).await?;
    let staging = Staging::open_bucket(queue.jetstream(), queue.names(), jobs.staging_ttl).await?;
    let store = hub_store::open(&format!("dir://{}", store.path().display())).await?;
    Ok(Connections {
        pool,
        queue,
        staging,
        store,
    })
}

/// `GET path` over plain HTTP/1.0: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((status, body))
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn readiness_reports_the_connections_and_the_workers_own_probes(pool: PgPool) -> TestResult {
    let nats = NatsTest::connect().await?;
    let store = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let mut service = Service::new(connections(pool, &nats, &store).await?, shutdown.clone());
    service.add_probe(Probe::new("docker_engine", || {
        Box::pin(async { Err("engine down".to_owned()) })
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let health = listener.local_addr()?;
    let running = tokio::spawn(service.run_with_listener(listener));

    let (status, body) = get(health, "/readyz").await?;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        body["checks"],
        serde_json::json!({"postgres": "ok", "nats": "ok", "store": "ok",
                           "docker_engine": "engine down"})
    );
    assert_eq!(get(health, "/healthz").await?.0, 200);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), running).await???;
    nats.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_taken_health_port_fails_the_start(pool: PgPool) -> TestResult {
    let nats = NatsTest::connect().await?;
    let store = tempfile::tempdir()?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?;
    let service = Service::new(
        connections(pool, &nats, &store).await?,
        CancellationToken::new(),
    );
    let started = tokio::time::timeout(Duration::from_secs(20), service.run(addr)).await?;
    assert!(
        matches!(&started, Err(ServiceError::Health { addr: at, .. }) if *at == addr),
        "{started:?}"
    );
    nats.cleanup().await?;
    Ok(())
}
