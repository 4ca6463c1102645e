//! Running a worker process: its job workers, the janitor and the health endpoints, until a
//! shutdown signal.

use std::net::SocketAddr;

use hub_jobs::{Janitor, JobHandler, Worker};
use hub_telemetry::{Probe, Readiness};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Connections, ServiceError};

/// A worker process being assembled: add a worker per job kind (and any probe of the
/// worker's own dependencies), then [`Service::run`].
pub struct Service {
    connections: Connections,
    readiness: Readiness,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), ServiceError>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `connections` that stops when `shutdown` fires.
    pub fn new(connections: Connections, shutdown: CancellationToken) -> Self {
        Self {
            readiness: connections.readiness(),
            connections,
            shutdown,
            tasks: JoinSet::new(),
        }
    }

    /// Let `/readyz` also check `probe` (a dependency only this worker has, e.g. a Docker
    /// Engine), next to the connections' probes.
    pub fn add_probe(&mut self, probe: Probe) {
        self.readiness = std::mem::take(&mut self.readiness).with(probe);
    }

    /// The connections, to build handlers with.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Start pulling `handler`'s kind of jobs. While PostgreSQL, NATS or the store is down the
    /// worker takes no job and hands back those that fail because of it without spending an
    /// attempt (for at most `jobs.outage_max`). On shutdown the worker stops fetching, lets
    /// running jobs finish within `jobs.shutdown_grace` and hands the others back to the queue.
    pub async fn add_worker<H: JobHandler>(&mut self, handler: H) -> Result<(), ServiceError> {
        let connections = &self.connections;
        let worker = Worker::new(
            connections.queue.clone(),
            connections.pool.clone(),
            connections.staging.clone(),
            handler,
        )
        .await?
        // Only what every job needs: a worker's own probes (`add_probe`) do not pause it.
        .pause_while_down(connections.readiness());
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            worker
                .run(shutdown)
                .await
                .map_err(|source| ServiceError::Worker {
                    kind: H::KIND,
                    source,
                })
        });
        Ok(())
    }

    /// Serve `/healthz` and `/readyz` on `health`, run the janitor (leader-elected in the
    /// database, so one per process is harmless) and the workers until shutdown. If any of them
    /// fails, the others are stopped and the first error returned.
    pub async fn run(self, health: SocketAddr) -> Result<(), ServiceError> {
        // Bound before anything runs, so a taken port fails the start at once.
        let listener = TcpListener::bind(health)
            .await
            .map_err(|source| ServiceError::Health {
                addr: health,
                source,
            })?;
        self.run_with_listener(listener).await
    }

    /// [`Service::run`] with the health endpoints on an already bound `listener` (tests bind
    /// port 0 and read the address).
    pub async fn run_with_listener(mut self, listener: TcpListener) -> Result<(), ServiceError> {
        let readiness = std::mem::take(&mut self.readiness);
        let addr = listener
            .local_addr()
            .map_err(|source| ServiceError::Health {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                source,
            })?;
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            tracing::info!(%addr, "health endpoints listening");
            axum::serve(listener, hub_telemetry::health_router(readiness))
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .map_err(|source| ServiceError::Health { addr, source })
        });
        let connections = &self.connections;
        let janitor = Janitor::new(
            connections.pool.clone(),
            connections.queue.clone(),
            Some(connections.staging.clone()),
        );
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            janitor.run(shutdown).await;
            Ok(())
        });

        let mut first_error = None;
        while let Some(ended) = self.tasks.join_next().await {
            let error = match ended {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error,
                Err(panic) => ServiceError::Task(panic),
            };
            tracing::error!(%error, "a service task failed; stopping");
            self.shutdown.cancel();
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), Err)
    }
}
