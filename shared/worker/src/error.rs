//! Why a worker process could not start or stopped with an error.

use std::net::SocketAddr;

use hub_jobs::{JobKind, JobsError};

/// Why a worker process could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration does not load or validate.
    #[error(transparent)]
    Config(#[from] hub_config::ConfigError),
    /// Logging or trace export cannot start.
    #[error(transparent)]
    Telemetry(#[from] hub_telemetry::TelemetryError),
    /// PostgreSQL is unreachable.
    #[error("connecting to PostgreSQL: {0}")]
    Database(#[source] hub_db::DbError),
    /// The chunk store cannot be opened.
    #[error("opening the chunk store: {0}")]
    Store(#[source] hub_store::StoreError),
    /// NATS, the queue or the staging bucket failed.
    #[error(transparent)]
    Jobs(#[from] JobsError),
    /// The health endpoints cannot listen.
    #[error("health endpoints on {addr}: {source}")]
    Health {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A job worker stopped with an error.
    #[error("the {kind} worker stopped: {source}")]
    Worker {
        /// Its kind of jobs.
        kind: JobKind,
        /// Why.
        #[source]
        source: JobsError,
    },
    /// A task of the process panicked.
    #[error("a service task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
