//! The shared wiring against the real PostgreSQL and NATS: `/readyz` reports the connections'
//! probes and a worker's own, shutdown stops the service cleanly, a taken health port fails
//! the start.

use std::path::Path;
use std::time::Duration;

use hub_db::PgPool;
use hub_jobs::JobsConfig;
use hub_telemetry::Probe;
use hub_testkit::{BoxError, Stack, http_get};
use hub_worker::{Connections, Service, ServiceError};
use tokio_util::sync::CancellationToken;

type TestResult = Result<(), BoxError>;

/// The shared connections of the service on the test's job platform and a `dir://` store in
/// `store`.
async fn connections(stack: &Stack, store: &Path) -> Result<Connections, BoxError> {
    Ok(Connections {
        pool: stack.pool.clone(),
        queue: stack.queue.clone(),
        staging: stack.staging.clone(),
        store: hub_store::open(&format!("dir://{}", store.display())).await?,
    })
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn readiness_reports_the_connections_and_the_workers_own_probes(pool: PgPool) -> TestResult {
    let stack = Stack::start(pool, &JobsConfig::default()).await?;
    let store = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let mut service = Service::new(connections(&stack, store.path()).await?, shutdown.clone());
    service.add_probe(Probe::new("docker_engine", || {
        Box::pin(async { Err("engine down".to_owned()) })
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let health = listener.local_addr()?;
    let running = tokio::spawn(service.run_with_listener(listener));

    let (status, body) = http_get(health, "/readyz").await?;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        body["checks"],
        serde_json::json!({"postgres": "ok", "nats": "ok", "store": "ok",
                           "docker_engine": "engine down"})
    );
    assert_eq!(http_get(health, "/healthz").await?.0, 200);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), running).await???;
    stack.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_taken_health_port_fails_the_start(pool: PgPool) -> TestResult {
    let stack = Stack::start(pool, &JobsConfig::default()).await?;
    let store = tempfile::tempdir()?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?;
    let service = Service::new(
        connections(&stack, store.path()).await?,
        CancellationToken::new(),
    );
    let started = tokio::time::timeout(Duration::from_secs(20), service.run(addr)).await?;
    assert!(
        matches!(&started, Err(ServiceError::Health { addr: at, .. }) if *at == addr),
        "{started:?}"
    );
    stack.cleanup().await?;
    Ok(())
}
