//! The built binary starts from a configuration file, answers its health endpoints and stops
//! cleanly on SIGTERM.

use std::time::Duration;

use hub_db::PgPool;
use hub_testkit::{ServiceProcess, http_get, service_config, signal};

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_binary_is_healthy_and_stops_on_sigterm(pool: PgPool) -> AnyResult<()> {
    hub_testkit::init_logging();
    let nats = hub_testkit::NatsTest::connect().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("hub.toml");
    let common = service_config(&pool, &nats, &dir.path().join("store")).await?;
    std::fs::write(&config, format!("{common}[merge]\nmax_sources = 4\n"))?;
    let binary = env!("CARGO_BIN_EXE_hub-worker-merge");
    let mut worker = ServiceProcess::start(tokio::process::Command::new(binary), &config).await?;
    assert_eq!(http_get(worker.health, "/healthz").await?.0, 200);

    signal(worker.pid, "TERM").await?;
    let exit = tokio::time::timeout(Duration::from_secs(20), worker.child.wait()).await??;
    assert!(exit.success(), "{exit}");

    // A configuration that cannot work is refused at start, naming the key.
    let output = tokio::process::Command::new(binary)
        .arg("--config")
        .arg(&config)
        .env("HUB_MERGE__MAX_SOURCES", "0")
        .env_remove("HUB_CONFIG")
        .output()
        .await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("merge.max_sources"), "{stderr}");
    nats.cleanup().await?;
    Ok(())
}
