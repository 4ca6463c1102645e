//! Shared state of the gateway's handlers. Nothing in it is local state that another replica
//! would lack: everything durable lives in PostgreSQL, NATS, Redis or the chunk store.

use std::ops::Deref;
use std::sync::Arc;

use hub_auth::Authenticator;
use hub_db::PgPool;
use hub_jobs::{EventBus, JobClient, Staging};
use hub_store::{ObjectStore, SharedStore};

use crate::config::GatewayConfig;

/// Cheap-to-clone handle on everything a request may need.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// Validated configuration.
    pub config: GatewayConfig,
    /// PostgreSQL pool.
    pub pool: PgPool,
    /// Records and queues jobs.
    pub jobs: JobClient,
    /// Upload staging (JetStream object store).
    pub staging: Staging,
    /// Live job events, fanned out to SSE listeners and synchronous routes.
    pub events: EventBus,
    /// The chunk store.
    pub store: SharedStore,
    /// Whole flist files, content-addressed, in the chunk store.
    pub objects: ObjectStore,
    /// The API guard.
    pub auth: Authenticator,
    /// Redis (rate limits, counters).
    pub redis: redis::aio::ConnectionManager,
    /// Caches and clients of the original hub's routes and the website.
    pub compat: crate::compat::Compat,
    /// Jobs served from memory (the job API's polls), invalidated by job events.
    pub job_cache: Arc<crate::service::jobs::cache::JobCache>,
    /// The queue depth the back-pressure compares with `limits.max_queued_jobs`.
    pub queue_depth: crate::backpressure::depth::QueueDepth,
}

impl AppState {
    /// Wrap the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
