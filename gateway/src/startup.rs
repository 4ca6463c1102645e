//! Start-up of the gateway: connect to every dependency and wire the observers of job events
//! (the job cache, the release of finished jobs' slots) into a fresh [`AppState`].

use std::sync::Arc;

use hub_auth::Authenticator;
use hub_db::PgPool;
use hub_jobs::{EventBus, JobClient, Queue, Staging};
use hub_store::ObjectStore;

use crate::config::GatewayConfig;
use crate::state::{AppState, Inner};

/// A dependency the gateway could not reach or set up at start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// PostgreSQL.
    #[error("database: {0}")]
    Database(#[from] hub_db::DbError),
    /// NATS / JetStream.
    #[error("job queue: {0}")]
    Jobs(#[from] hub_jobs::JobsError),
    /// Chunk store.
    #[error("chunk store: {0}")]
    Store(#[from] hub_store::StoreError),
    /// Redis.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Authentication configuration (keys, secrets).
    #[error("authentication: {0}")]
    Auth(#[from] hub_auth::ConfigError),
}

impl AppState {
    /// Connect to every dependency named by `config`.
    pub async fn connect(config: GatewayConfig) -> Result<Self, StartupError> {
        let common = &config.common;
        let pool = hub_db::connect(&common.database_url, common.database_max_connections).await?;
        Self::connect_with_pool(config, pool).await
    }

    /// Connect to every dependency named by `config`, using an existing PostgreSQL pool (tests
    /// pass the per-test database's pool).
    pub async fn connect_with_pool(
        config: GatewayConfig,
        pool: PgPool,
    ) -> Result<Self, StartupError> {
        let common = &config.common;
        let nats = hub_jobs::connect_nats(&common.nats_url, "hub-gateway").await?;
        let queue = Queue::new(nats.clone(), &common.nats_prefix, &config.jobs).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), config.jobs.staging_ttl).await?;
        let events = EventBus::subscribe_all(
            &nats,
            queue.names(),
            pool.clone(),
            config.jobs.event_poll_interval,
        )
        .await?;
        let job_cache = Arc::new(crate::service::jobs::cache::JobCache::new(
            config.gateway.active_job_cache_ttl,
        ));
        let observer = Arc::clone(&job_cache);
        events.observe(Arc::new(move |event| observer.observe(event)));
        let jobs = JobClient::new(pool.clone(), queue, Some(staging.clone()));
        // Chunk uploads and flist files written here must be journaled for the garbage
        // collector when the store cannot record that itself (0-db; docs/gc.md).
        let store =
            hub_db::block_journal::journaled(hub_store::open(&common.store).await?, pool.clone());
        let objects = ObjectStore::new(store.clone());
        let redis_client = redis::Client::open(common.redis_url.as_str())?;
        let redis = redis::aio::ConnectionManager::new(redis_client).await?;
        release_slots_of_finished_jobs(&events, &redis, &common.nats_prefix);
        let auth = Authenticator::new(&config.auth, pool.clone()).await?;
        let compat = crate::compat::Compat::new(&config);
        Ok(AppState::new(Inner {
            config,
            pool,
            jobs,
            staging,
            events,
            store,
            objects,
            auth,
            redis,
            compat,
            job_cache,
            queue_depth: crate::backpressure::depth::QueueDepth::default(),
        }))
    }
}

/// Free the concurrent-job slot of every job whose final event this gateway sees, so that an
/// asynchronous job's slot comes back as soon as it ends (whichever replica queued it).
fn release_slots_of_finished_jobs(
    events: &EventBus,
    redis: &redis::aio::ConnectionManager,
    prefix: &str,
) {
    let redis = redis.clone();
    let prefix: Arc<str> = Arc::from(prefix);
    events.observe(Arc::new(move |event| {
        if event.is_terminal() {
            let (redis, prefix, job_id) = (redis.clone(), Arc::clone(&prefix), event.job_id);
            tokio::spawn(async move {
                crate::limits::release_finished(redis, &prefix, job_id).await;
            });
        }
    }));
}
