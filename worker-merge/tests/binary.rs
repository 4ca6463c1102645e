//! The built binary starts from a configuration file, answers its health endpoints and stops
//! cleanly on SIGTERM.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use hub_db::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The status code of `GET path` over plain HTTP/1.0.
async fn status(addr: SocketAddr, path: &str) -> AnyResult<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("no status line")?)
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_binary_is_healthy_and_stops_on_sigterm(pool: PgPool) -> AnyResult<()> {
    hub_testkit::init_logging();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    let database_url = hub_testkit::database_url_for(&database);
    let nats = hub_testkit::NatsTest::connect().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{database_url}\"\nnats_url = \"{}\"\nnats_prefix = \"{}\"\n\
             store = \"dir://{}\"\n[merge]\nmax_sources = 4\n",
            nats.url(),
            nats.prefix(),
            dir.path().join("store").display()
        ),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let health = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-worker-merge"))
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
            Ok::<_, std::io::Error>(
                matches!(status(health, "/readyz").await, Ok(200)).then_some(()),
            )
        },
    )
    .await?;
    assert_eq!(status(health, "/healthz").await?, 200);

    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait()).await??;
    assert!(exit.success(), "{exit}");

    // A configuration that cannot work is refused at start, naming the key.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-worker-merge"))
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
