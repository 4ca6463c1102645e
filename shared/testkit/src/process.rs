//! Service binaries run as processes: started with a configuration file, reached on their
//! health endpoint, stopped, frozen and killed by signals.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{BoxError, NatsTest, database_url_for, wait_until};

/// `GET path` over plain HTTP/1.0, which needs no client library: the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Send signal `name` (`STOP`, `CONT`, `KILL`, `TERM`) to process `pid`.
pub async fn signal(pid: u32, name: &str) -> io::Result<()> {
    let sent = tokio::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .await?;
    if sent.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("kill -{name} {pid}: {sent}")))
    }
}

/// The start of a service's configuration file on the test's own services: `database_url` (the
/// database of `pool`), `nats_url` and `nats_prefix` (those of `nats`) and a `dir://` store in
/// `store`. Sections for the service follow it.
pub async fn service_config(
    pool: &sqlx::PgPool,
    nats: &NatsTest,
    store: &Path,
) -> Result<String, sqlx::Error> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await?;
    Ok(format!(
        "database_url = \"{}\"\nnats_url = \"{}\"\nnats_prefix = \"{}\"\nstore = \"dir://{}\"\n",
        database_url_for(&database),
        nats.url(),
        nats.prefix(),
        store.display(),
    ))
}

/// A service binary (a worker) running as a child process, ready: its `/readyz` answered 200.
/// Dropping it kills the process.
pub struct ServiceProcess {
    /// The process.
    pub child: tokio::process::Child,
    /// Its id, for [`signal`].
    pub pid: u32,
    /// Where its health endpoints listen.
    pub health: SocketAddr,
}

impl ServiceProcess {
    /// Run `command` (a service binary, with whatever environment the test gives it) with
    /// `--config config`, its health endpoints on a free loopback port and `HUB_CONFIG`
    /// removed, so that only `config` counts; and wait up to 30 s until it is ready. Its
    /// standard error goes to the test's.
    pub async fn start(
        mut command: tokio::process::Command,
        config: &Path,
    ) -> Result<Self, BoxError> {
        let health = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let child = command
            .arg("--config")
            .arg(config)
            .env_remove("HUB_CONFIG")
            .env("HUB_HEALTH_LISTEN", health.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the process exited at once")?;
        wait_until(
            Duration::from_secs(30),
            "the process to be ready",
            || async {
                let ready = matches!(http_get(health, "/readyz").await, Ok((200, _)));
                Ok::<_, io::Error>(ready.then_some(()))
            },
        )
        .await?;
        Ok(Self { child, pid, health })
    }
}
