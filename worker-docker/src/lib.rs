//! `hub-worker-docker`: converts container images into flists (jobs of kind `docker`).
//!
//! Images are pulled from their registry directly (default) or exported through a Docker
//! Engine API (`[docker] engine = "docker_engine"`, or per job), converted by `hub-oci`
//! without touching the disk, stored, and published by the job runtime. A second conversion
//! of the same content (manifest digest, platform, format, options) reuses the stored flist.
//!
//! The binary is a thin `main` over [`run`].

mod config;
mod handler;
mod output;
mod progress;

use hub_db::PgPool;
use hub_jobs::{Queue, Staging, Worker};
use hub_oci::Engine;
use hub_store::SharedStore;
use hub_telemetry::{Probe, Readiness};
use tokio_util::sync::CancellationToken;

pub use config::{DEFAULT_HEALTH_LISTEN, DockerSettings, EngineMode, WorkerDockerConfig};
pub use handler::{DockerHandler, job_error};
pub use output::{PublishTarget, Stats, docker_info, flist_file};
pub use progress::{JobProgress, describe, human_size, phase};

/// Why the worker could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration does not validate.
    #[error(transparent)]
    Config(#[from] hub_config::ConfigError),
    /// PostgreSQL is unreachable.
    #[error("connecting to PostgreSQL: {0}")]
    Database(#[from] hub_db::DbError),
    /// The chunk store cannot be opened.
    #[error("opening the chunk store: {0}")]
    Store(#[from] hub_store::StoreError),
    /// NATS, the queue or the staging bucket failed.
    #[error(transparent)]
    Jobs(#[from] hub_jobs::JobsError),
    /// The Docker Engine (engine mode) is unreachable.
    #[error("docker engine: {0}")]
    Engine(#[from] hub_oci::OciError),
    /// The health endpoints cannot listen.
    #[error("health endpoints: {0}")]
    Health(#[source] std::io::Error),
    /// A task panicked.
    #[error("a worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs the worker until `shutdown` fires: connects to PostgreSQL, NATS, the store (and the
/// engine in engine mode), serves `/healthz` and `/readyz`, and converts docker jobs; on
/// shutdown running jobs get `jobs.shutdown_grace` to finish.
pub async fn run(
    config: WorkerDockerConfig,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let common = &config.common;
    let pool = hub_db::connect(&common.database_url, common.database_max_connections).await?;
    let nats = hub_jobs::connect_nats(&common.nats_url, "hub-worker-docker").await?;
    let queue = Queue::new(nats, &common.nats_prefix, &config.jobs).await?;
    let staging =
        Staging::open_bucket(queue.jetstream(), queue.names(), config.jobs.staging_ttl).await?;
    let store = hub_store::open(&common.store).await?;
    let publish = PublishTarget::new(&config.publish)?;
    let mut handler = DockerHandler::new(store.clone(), config.docker.clone(), publish)?;
    let mut readiness = readiness(&pool, &queue, &store);
    if config.docker.engine == EngineMode::DockerEngine {
        let engine = Engine::connect(&config.docker.engine_options()).await?;
        readiness = readiness.with(engine_probe(engine.clone()));
        handler = handler.with_engine(engine);
    }
    let health = tokio::spawn(hub_telemetry::serve_health(
        config.health_addr(),
        readiness,
        shutdown.clone(),
    ));
    let worker = Worker::new(queue, pool, staging, handler).await?;
    let worked = worker.run(shutdown.clone()).await;
    shutdown.cancel();
    health.await?.map_err(WorkerError::Health)?;
    worked?;
    tracing::info!("docker worker stopped");
    Ok(())
}

/// `/readyz`: PostgreSQL answers, NATS is connected, the store answers.
fn readiness(pool: &PgPool, queue: &Queue, store: &SharedStore) -> Readiness {
    let pool = pool.clone();
    let nats = queue.client().clone();
    let store = SharedStore::clone(store);
    Readiness::new()
        .with(Probe::new("postgres", move || {
            let pool = pool.clone();
            Box::pin(async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
        }))
        .with(Probe::new("nats", move || {
            let state = nats.connection_state();
            Box::pin(async move {
                match state {
                    async_nats::connection::State::Connected => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
        }))
        .with(Probe::new("store", move || {
            let store = SharedStore::clone(&store);
            Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
        }))
}

fn engine_probe(engine: Engine) -> Probe {
    Probe::new("docker_engine", move || {
        let engine = engine.clone();
        Box::pin(async move { engine.ping().await.map_err(|e| e.to_string()) })
    })
}
