//! Connections a worker process opens at start, and the readiness probes over them.

use hub_db::PgPool;
use hub_jobs::{Queue, Staging};
use hub_store::SharedStore;
use hub_telemetry::{Probe, Readiness};

use super::{ServiceError, WorkerConfig};

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
        Ok(Self {
            pool,
            queue,
            staging,
            store,
        })
    }

    /// `/readyz`: ready when PostgreSQL answers, NATS is connected and the store answers.
    pub fn readiness(&self) -> Readiness {
        let pool = self.pool.clone();
        let nats = self.queue.client().clone();
        let store = SharedStore::clone(&self.store);
        Readiness::new()
            .with(Probe::new("postgres", move || {
                let pool = pool.clone();
                Box::pin(async move {
                    sqlx::query("SELECT 1")
                        .execute(&pool)
                        .await
                        .map(drop)
                        .map_err(|err| err.to_string())
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
                Box::pin(async move { store.ping().await.map_err(|err| err.to_string()) })
            }))
    }
}
