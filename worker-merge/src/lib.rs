//! `hub-worker-merge`: the worker that merges flists ([`MergeHandler`]).
//!
//! Sources are resolved through the hub's entries (symlinks and crosslinks followed), read from
//! the object store, merged with hub-convert (first source wins per path, or overlay), pointed
//! at the hub's public store and published under the job's target name. The process wiring and
//! the publishing steps are shared with the other workers ([`hub_worker`]).

mod config;
mod merge;
pub mod sources;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hub_worker::{Connections, PublishSettings, Service, ServiceError};
use tokio_util::sync::CancellationToken;

pub use config::{MergeSettings, MergeTables, MergeWorkerConfig};
pub use merge::{MERGING, MergeHandler, READING};

/// Where `/healthz` and `/readyz` listen unless `health_listen` says otherwise.
pub const DEFAULT_HEALTH_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8082);

/// Name of the process (logs, NATS client name).
pub const SERVICE_NAME: &str = "hub-worker-merge";

/// Run the worker until `shutdown`: connect, then run merge jobs, the janitor and the health
/// endpoints.
pub async fn run(
    config: MergeWorkerConfig,
    shutdown: CancellationToken,
) -> Result<(), ServiceError> {
    let publish = PublishSettings::new(&config.publish)?;
    let connections = Connections::open(&config, SERVICE_NAME).await?;
    let handler = MergeHandler::new(
        connections.store.clone(),
        publish,
        config.worker.merge.clone(),
    );
    let mut service = Service::new(connections, shutdown);
    service.add_worker(handler).await?;
    service.run(config.health_addr(DEFAULT_HEALTH_LISTEN)).await
}
