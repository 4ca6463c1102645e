//! A pool of 0-db connections with exactly one request in flight per connection.
//!
//! 0-db stalls ~40 ms on pipelined requests (Nagle on its side), so parallelism comes from
//! several connections, never from pipelining: a task checks a connection out, sends one
//! command, reads its reply and puts the connection back.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo,
    Value,
};
use tokio::sync::Semaphore;

use super::ZdbUrl;
use super::url::DEFAULT_NAMESPACE;
use crate::StoreError;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct ZdbOptions {
    /// Connections (and so requests in flight) at most. A `?pool=N` URL option wins.
    pub pool_size: usize,
    /// Time allowed to open a connection (TCP connect).
    pub connect_timeout: Duration,
    /// Time allowed for one reply, `SELECT` included.
    pub command_timeout: Duration,
}

impl Default for ZdbOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            // An 8 MiB SET over a slow link must fit.
            command_timeout: Duration::from_secs(30),
        }
    }
}

/// How one command ended.
pub(crate) enum Reply {
    /// Any reply but an error.
    Value(Value),
    /// An error reply: the full 0-db sentence (`redis` splits off the first word as a "code").
    ServerError(String),
}

pub(crate) struct Pool {
    client: Client,
    config: AsyncConnectionConfig,
    url: ZdbUrl,
    display_url: String,
    size: usize,
    idle: Mutex<Vec<MultiplexedConnection>>,
    /// One permit per connection: the holder of a permit is the only user of its connection.
    permits: Semaphore,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.display_url)
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub fn new(url: ZdbUrl, options: &ZdbOptions) -> Result<Self, StoreError> {
        let display_url = url.public_url();
        let size = url.pool_size().unwrap_or(options.pool_size).max(1);
        // No HELLO, AUTH, `SELECT <db>` or CLIENT SETINFO on connect: 0-db answers
        // `-Command not supported` to those, and the setup pipeline would be a pipelined batch.
        let redis_settings = RedisConnectionInfo::default().set_skip_set_lib_name();
        let info = ConnectionAddr::Tcp(url.host().to_owned(), url.port())
            .into_connection_info()
            .map_err(|error| unavailable(&display_url, &error))?
            .set_redis_settings(redis_settings)
            // Requests go out whole and alone; do not let Nagle hold back the tail of a big SET.
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = Client::open(info).map_err(|error| unavailable(&display_url, &error))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.command_timeout));
        Ok(Self {
            client,
            config,
            url,
            display_url,
            size,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        })
    }

    /// Maximum number of connections.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs one idempotent command on a pooled connection. A connection that fails is
    /// dropped, and the command is retried once on a fresh connection when the failed one had
    /// been sitting in the pool (it may have died while idle: server restart, `-Payload too big`).
    pub async fn run(&self, cmd: &Cmd) -> Result<Reply, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable {
                url: self.display_url.clone(),
                reason: "connection pool closed".to_owned(),
            })?;
        let pooled = self.take_idle();
        let retry_allowed = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match self.send(&mut conn, cmd).await {
            Ok(reply) => {
                self.put_idle(conn);
                Ok(reply)
            }
            Err(error) if retry_allowed => {
                tracing::debug!(url = %self.display_url, %error, "zdb: pooled connection failed, reconnecting");
                // Whatever killed this connection (most often a server restart) killed the
                // other idle ones too: do not hand them out again.
                self.clear_idle();
                let mut conn = self.connect().await?;
                let reply = self.send(&mut conn, cmd).await?;
                self.put_idle(conn);
                Ok(reply)
            }
            Err(error) => {
                self.clear_idle();
                Err(error)
            }
        }
    }

    async fn send(&self, conn: &mut MultiplexedConnection, cmd: &Cmd) -> Result<Reply, StoreError> {
        match conn.send_packed_command(cmd).await {
            Ok(Value::ServerError(error)) => {
                let message = match error.details() {
                    Some(details) => format!("{} {details}", error.code()),
                    None => error.code().to_owned(),
                };
                Ok(Reply::ServerError(message))
            }
            Ok(value) => Ok(Reply::Value(value)),
            Err(error) => Err(unavailable(&self.display_url, &error)),
        }
    }

    /// Opens a connection and selects the namespace.
    async fn connect(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(|error| unavailable(&self.display_url, &error))?;
        let namespace = self.url.namespace();
        if namespace != DEFAULT_NAMESPACE {
            let mut select = redis::cmd("SELECT");
            select.arg(namespace);
            if let Some(password) = self.url.password() {
                select.arg(password);
            }
            match self.send(&mut conn, &select).await? {
                Reply::Value(Value::Okay) => {}
                Reply::Value(other) => {
                    return Err(self.protocol(format!("unexpected reply to SELECT: {other:?}")));
                }
                Reply::ServerError(message) => {
                    return Err(self.protocol(format!("SELECT {namespace}: {message}")));
                }
            }
        }
        tracing::debug!(url = %self.display_url, "zdb: connected");
        Ok(conn)
    }

    pub fn protocol(&self, message: String) -> StoreError {
        StoreError::Protocol {
            url: self.display_url.clone(),
            message,
        }
    }

    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    fn take_idle(&self) -> Option<MultiplexedConnection> {
        self.lock_idle().pop()
    }

    fn put_idle(&self, conn: MultiplexedConnection) {
        self.lock_idle().push(conn);
    }

    fn clear_idle(&self) {
        self.lock_idle().clear();
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<MultiplexedConnection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every failure below the reply level (refused, reset, closed, timed out, unparsable reply)
/// leaves the connection unusable and may pass: the store is unavailable for now.
fn unavailable(url: &str, error: &redis::RedisError) -> StoreError {
    StoreError::Unavailable {
        url: url.to_owned(),
        reason: error.to_string(),
    }
}
