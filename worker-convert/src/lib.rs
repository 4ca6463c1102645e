//! `hub-worker-convert`: the worker that turns uploaded archives into flists ([`ConvertHandler`])
//! and checks homemade flists before publishing them unchanged ([`VerifyHandler`]).
//!
//! The handlers are library code so that other processes (tests, an all-in-one binary) can run
//! them in-process. The process wiring and the publishing steps are shared with the other
//! workers ([`hub_worker`]); this crate holds the handlers and the `[convert]` and `[verify]`
//! tables.

pub mod config;
mod convert;
pub mod progress;
mod upload;
mod verify;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hub_worker::{Connections, Service, ServiceError};
use tokio_util::sync::CancellationToken;

pub use config::{ConvertSettings, ConvertTables, ConvertWorkerConfig, VerifySettings};
pub use convert::{ConvertHandler, PROTECTED_METADATA};
/// What [`ConvertHandler::new`] takes to point flists at the hub's public store.
pub use hub_worker::PublishSettings;
pub use verify::VerifyHandler;

/// Where `/healthz` and `/readyz` listen unless `health_listen` says otherwise.
pub const DEFAULT_HEALTH_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);

/// Name of the process (logs, NATS client name).
pub const SERVICE_NAME: &str = "hub-worker-convert";

/// Run the worker until `shutdown`: connect, then run convert and verify jobs, the janitor and
/// the health endpoints.
pub async fn run(
    config: ConvertWorkerConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let publish = PublishSettings::new(&config.publish)?;
    let connections = Connections::open(&config, SERVICE_NAME).await?;
    let store = connections.store.clone();
    let convert = ConvertHandler::new(store.clone(), publish, config.worker.convert.clone())
        .with_upload_sizes(connections.queue.clone());
    let verify = VerifyHandler::new(store, config.worker.verify.clone());
    let mut service = Service::new(connections, shutdown);
    service.add_worker(convert).await?;
    service.add_worker(verify).await?;
    service.run(config.health_addr(DEFAULT_HEALTH_LISTEN)).await
}
