//! A protocol-faithful in-process 0-db server for tests.
//!
//! 0-db is in no package registry, so tests of 0-db clients run against this double instead.
//! It speaks RESP2 like 0-db v2.0.7 in user mode (`--mode user`), with the exact reply bytes
//! and error sentences real 0-db answers (zero-db §11: what a protocol-faithful double must
//! reply, byte for byte), namespaces with passwords and public read-only access, optional admin
//! authentication, and fault injection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hub_zdb_double::DoubleError> {
//! use hub_zdb_double::{DoubleConfig, NamespaceSettings, ZdbDouble};
//! let zdb = ZdbDouble::start(DoubleConfig::default()).await?;
//! zdb.create_namespace("blocks", NamespaceSettings::default())?;
//! let url = zdb.url("blocks"); // zdb://127.0.0.1:<port>/blocks
//! # let _ = url;
//! zdb.stop().await;            // outage: connections refused, data kept
//! zdb.restart().await?;        // same port again
//! zdb.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Not emulated: sequential mode, `AUTH SECURE` / `SELECT … SECURE`, replication and
//! maintenance commands, and 0-db's Nagle stall on pipelined replies (replies are sent with
//! `TCP_NODELAY`). Commands outside the emulated set answer `-Command not supported`.

#![warn(missing_docs)]

mod commands;
mod faults;
mod namespace;
mod resp;
mod server;
mod stats;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::Faults;
pub use namespace::NamespaceSettings;
pub use stats::Stats;

use namespace::Catalog;
use server::Shared;

/// Errors of the double's control API.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address the double tried to listen on.
        addr: SocketAddr,
        /// Underlying socket error.
        #[source]
        source: std::io::Error,
    },
    /// `restart` was called while the double was running.
    #[error("the zdb double is already running")]
    AlreadyRunning,
    /// A namespace of that name already exists.
    #[error("namespace {0:?} already exists")]
    NamespaceExists(String),
    /// The namespace name is one 0-db refuses (`default`, `.`, `..`, contains `/`, > 128 bytes).
    #[error("namespace name {0:?} is not allowed")]
    InvalidNamespace(String),
}

/// Configuration of a double.
#[derive(Debug, Clone)]
pub struct DoubleConfig {
    /// Address to listen on; the default is `127.0.0.1:0` (a random free port).
    pub listen: SocketAddr,
    /// Admin password (`--admin`). `None`: every connection is admin and `AUTH` answers
    /// `-Authentication disabled`, as 0-db does.
    pub admin_password: Option<String>,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            admin_password: None,
        }
    }
}

/// A running accept loop.
#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// An in-process 0-db server listening on loopback.
///
/// Data lives in memory and survives [`stop`](Self::stop)/[`restart`](Self::restart), as 0-db's
/// files would survive a process restart. Dropping the double stops it.
#[derive(Debug)]
pub struct ZdbDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl ZdbDouble {
    /// Starts listening and serving.
    pub async fn start(config: DoubleConfig) -> Result<Self, DoubleError> {
        let listener = bind(config.listen)?;
        let addr = listener.local_addr().map_err(|source| DoubleError::Bind {
            addr: config.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            catalog: Mutex::new(Catalog::new()),
            admin_password: config.admin_password,
            faults: Faults::new(),
            counters: stats::Counters::default(),
        });
        let double = Self {
            addr,
            shared,
            running: Mutex::new(None),
        };
        double.spawn(listener);
        tracing::debug!(%addr, "zdb double started");
        Ok(double)
    }

    /// The address the double listens on (stable across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `zdb://127.0.0.1:<port>/<namespace>`, or without a path for `default`.
    pub fn url(&self, namespace: &str) -> String {
        if namespace == "default" {
            format!("zdb://{}", self.addr)
        } else {
            format!("zdb://{}/{namespace}", self.addr)
        }
    }

    /// `zdb://user:<password>@127.0.0.1:<port>/<namespace>`.
    pub fn url_with_password(&self, namespace: &str, password: &str) -> String {
        format!("zdb://user:{password}@{}/{namespace}", self.addr)
    }

    /// Fault injection switches.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Zeroes the counters (the open-connection gauge is kept).
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
    }

    /// Creates a namespace directly, as `NSNEW` plus `NSSET` would.
    pub fn create_namespace(
        &self,
        name: &str,
        settings: NamespaceSettings,
    ) -> Result<(), DoubleError> {
        let forbidden = matches!(name, "default" | "." | "..") || name.contains('/');
        if forbidden || name.is_empty() || name.len() > 128 {
            return Err(DoubleError::InvalidNamespace(name.to_owned()));
        }
        let created = self
            .catalog()
            .create(Bytes::copy_from_slice(name.as_bytes()), settings);
        if created {
            Ok(())
        } else {
            Err(DoubleError::NamespaceExists(name.to_owned()))
        }
    }

    /// Number of keys in a namespace, `None` if it does not exist.
    pub fn key_count(&self, namespace: &str) -> Option<usize> {
        self.catalog()
            .get(namespace.as_bytes())
            .map(|ns| ns.entries.len())
    }

    /// The value stored under `key`, read directly (no connection involved).
    pub fn value(&self, namespace: &str, key: &[u8]) -> Option<Bytes> {
        self.catalog()
            .get(namespace.as_bytes())?
            .entries
            .get(key)
            .map(|entry| entry.value.clone())
    }

    /// Every live key of a namespace, in write order (empty if it does not exist).
    pub fn keys(&self, namespace: &str) -> Vec<Bytes> {
        let catalog = self.catalog();
        let Some(ns) = catalog.get(namespace.as_bytes()) else {
            return Vec::new();
        };
        let mut keys: Vec<(u64, Bytes)> = ns
            .entries
            .iter()
            .map(|(key, entry)| (entry.seq, key.clone()))
            .collect();
        keys.sort_unstable_by_key(|(seq, _)| *seq);
        keys.into_iter().map(|(_, key)| key).collect()
    }

    /// Moves the timestamp of every key of a namespace `by` into the past, as if the keys
    /// had been written that long before (what `SCAN` reports). 0-db itself cannot do this;
    /// tests of age-based behaviour (garbage collection) need it.
    pub fn age(&self, namespace: &str, by: std::time::Duration) {
        let secs = u32::try_from(by.as_secs()).unwrap_or(u32::MAX);
        if let Some(ns) = self.catalog().get_mut(namespace.as_bytes()) {
            for entry in ns.entries.values_mut() {
                entry.timestamp = entry.timestamp.saturating_sub(secs);
            }
        }
    }

    /// Stops listening and closes every connection; data is kept. Connecting fails with
    /// "connection refused" until [`restart`](Self::restart).
    pub async fn stop(&self) {
        let running = self.lock_running().take();
        if let Some(running) = running {
            // The loop may already be gone if its task panicked; either way it is stopped.
            let _ = running.stop.send(());
            let _ = running.task.await;
            tracing::debug!(addr = %self.addr, "zdb double stopped");
        }
    }

    /// Listens again on the same address after [`stop`](Self::stop).
    pub async fn restart(&self) -> Result<(), DoubleError> {
        if self.lock_running().is_some() {
            return Err(DoubleError::AlreadyRunning);
        }
        let listener = bind(self.addr)?;
        self.spawn(listener);
        tracing::debug!(addr = %self.addr, "zdb double restarted");
        Ok(())
    }

    /// Stops the double for good.
    pub async fn shutdown(self) {
        self.stop().await;
    }

    fn spawn(&self, listener: TcpListener) {
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(server::accept_loop(
            listener,
            Arc::clone(&self.shared),
            stop_rx,
        ));
        *self.lock_running() = Some(Running { stop, task });
    }

    fn catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.shared
            .catalog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for ZdbDouble {
    fn drop(&mut self) {
        if let Some(running) = self.lock_running().take() {
            // Aborting the loop drops its JoinSet, which aborts every connection task.
            running.task.abort();
        }
    }
}

/// Binds with `SO_REUSEADDR` so a restart can take the same port while old connections of
/// the previous run are still in TIME_WAIT.
fn bind(addr: SocketAddr) -> Result<TcpListener, DoubleError> {
    let bind_error = |source| DoubleError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(bind_error)?;
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(addr).map_err(bind_error)?;
    socket.listen(1024).map_err(bind_error)
}
