//! `hub-worker-docker`: converts container images into flists (jobs of kind `docker`).
//!
//! Images are pulled from their registry directly (default) or exported through a Docker
//! Engine API (`[docker] engine = "docker_engine"`, or per job), converted by `hub-oci`
//! without touching the disk, stored, and published by the job runtime. A second conversion
//! of the same content (manifest digest, platform, format, options) reuses the stored flist.
//!
//! The process wiring and the publishing steps are shared with the other workers
//! ([`hub_worker`]); this crate holds the handler and the `[docker]` table. The binary is a
//! thin `main` over [`run`].

mod config;
mod handler;
mod progress;
mod result;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hub_oci::Engine;
use hub_telemetry::Probe;
use hub_worker::{Connections, PublishSettings, Service, ServiceError};
use tokio_util::sync::CancellationToken;

pub use config::{DockerSettings, DockerTables, DockerWorkerConfig, EngineMode};
pub use handler::{DockerHandler, job_error};
pub use progress::{JobProgress, describe, human_size, phase};
pub use result::docker_info;

/// Where `/healthz` and `/readyz` listen unless `health_listen` says otherwise.
pub const DEFAULT_HEALTH_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8083);

/// Name of the process (logs, NATS client name).
pub const SERVICE_NAME: &str = "hub-worker-docker";

/// Why the worker could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The wiring every worker shares failed (configuration, connections, health endpoints,
    /// a job worker).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The Docker Engine (engine mode) is unreachable.
    #[error("docker engine: {0}")]
    Engine(#[from] hub_oci::OciError),
}

/// Run the worker until `shutdown`: connect to PostgreSQL, NATS, the store (and the engine in
/// engine mode), then run docker jobs, the janitor and the health endpoints; on shutdown
/// running jobs get `jobs.shutdown_grace` to finish.
pub async fn run(
    config: DockerWorkerConfig,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let publish = PublishSettings::new(&config.publish).map_err(ServiceError::from)?;
    let connections = Connections::open(&config, SERVICE_NAME).await?;
    let settings = &config.worker.docker;
    let mut handler = DockerHandler::new(connections.store.clone(), settings.clone(), publish)
        .map_err(ServiceError::from)?;
    let mut service = Service::new(connections, shutdown);
    if settings.engine == EngineMode::DockerEngine {
        let engine = Engine::connect(&settings.engine_options()).await?;
        service.add_probe(engine_probe(engine.clone()));
        handler = handler.with_engine(engine);
    }
    service.add_worker(handler).await?;
    service
        .run(config.health_addr(DEFAULT_HEALTH_LISTEN))
        .await?;
    Ok(())
}

/// `docker_engine`: ready when the engine answers its ping.
fn engine_probe(engine: Engine) -> Probe {
    Probe::new("docker_engine", move || {
        let engine = engine.clone();
        Box::pin(async move { engine.ping().await.map_err(|e| e.to_string()) })
    })
}
