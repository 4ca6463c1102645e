//! Connections a worker process opens at start, and the readiness probes over them.

use hub_db::PgPool;
use hub_jobs::{Queue, Staging, probes};
use hub_store::SharedStore;
use hub_telemetry::Readiness;

use crate::{ServiceError, WorkerConfig};

/// The services a worker uses. Cheap to clone (every member is a shared handle).
#[derive(Debug, Clone)]
pub struct Connections {
    /// PostgreSQL.
    pub pool: PgPool,
    /// The job queue (and the NATS connection under it).
    pub queue: Queue,
    /// Staged uploads.
    pub staging: Staging,
    /// The chunk store, which also holds the flist files themselves.
    pub store: SharedStore,
}

impl Connections {
    /// Connect to PostgreSQL, NATS and the store of `config`, and set up the queue and the
    /// staging bucket (idempotent: every process does it at start). `client_name` names the
    /// NATS connection in the server's monitoring.
    pub async fn open<T>(
        config: &WorkerConfig<T>,
        client_name: &str,
    ) -> Result<Self, ServiceError> {
        let common = &config.common;
        let pool = hub_db::connect(&common.database_url, common.database_max_connections)
            .await
            .map_err(ServiceError::Database)?;
        let nats = hub_jobs::connect_nats(&common.nats_url, client_name).await?;
        let queue = Queue::new(nats, &common.nats_prefix, &config.jobs).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), config.jobs.staging_ttl).await?;
        let store = hub_store::open(&common.store)
            .await
            .map_err(ServiceError::Store)?;
        // Blocks this worker writes or reuses must be journaled for the garbage collector
        // when the store cannot record that itself (0-db; docs/gc.md).
        let store = hub_db::block_journal::journaled(store, pool.clone());
        Ok(Self {
            pool,
            queue,
            staging,
            store,
        })
    }

    /// `/readyz`: ready when PostgreSQL answers, NATS is connected and the store answers.
    pub fn readiness(&self) -> Readiness {
        Readiness::new()
            .with(probes::postgres(self.pool.clone()))
            .with(probes::nats(self.queue.client().clone()))
            .with(probes::store(SharedStore::clone(&self.store)))
    }
}
