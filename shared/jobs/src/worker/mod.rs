//! The worker runtime shared by the worker binaries.
//!
//! [`Worker::run`] pulls jobs of its handler's kind with long-polling pull requests, at most
//! `concurrency` at a time. Each job is claimed in the database (a finished or cancelled job's
//! message is just acknowledged), kept alive by a heartbeat (in-progress acks plus
//! `heartbeat_at`) while the handler runs, and finished with one guarded transaction: publish
//! and succeed, retry later (nak with back-off), or fail (terminate). A worker killed at any
//! moment leaves an unacknowledged message that JetStream redelivers after `ack_wait`; the
//! next worker takes the job over once its heartbeat is stale, and the revision guard makes
//! sure only one of them ever records an outcome.
//!
//! A worker given its dependencies' probes ([`Worker::pause_while_down`]) takes no job while one
//! of them is down and hands back, without spending an attempt, a job that failed because of
//! it (see `outage`).

mod cancel;
mod context;
mod handler;
mod outage;
mod process;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use hub_db::PgPool;
use hub_telemetry::Readiness;

pub use context::JobContext;
pub use handler::{ClaimedJob, JobError, JobHandler, JobOutput, Publication, PublishedFlist};

use crate::{EventPublisher, JobsConfig, JobsError, Queue, Staging};
use cancel::CancelWatch;
use outage::{Dependencies, Health};

/// Pause after a failed pull request (NATS unreachable) before the next one.
const FETCH_RETRY: Duration = Duration::from_secs(1);

/// Everything a job task needs, shared by the tasks of one worker.
struct Runtime<H> {
    handler: H,
    queue: Queue,
    pool: PgPool,
    staging: Staging,
    publisher: EventPublisher,
    cancels: CancelWatch,
    config: JobsConfig,
    dependencies: Dependencies,
}

/// A worker process's job loop for handler `H`.
pub struct Worker<H> {
    runtime: Runtime<H>,
}

impl<H: JobHandler> Worker<H> {
    /// A worker running `handler` on `queue`'s jobs of kind [`JobHandler::KIND`], with the
    /// queue's settings.
    pub async fn new(
        queue: Queue,
        pool: PgPool,
        staging: Staging,
        handler: H,
    ) -> Result<Self, JobsError> {
        let cancels = CancelWatch::subscribe(queue.client(), queue.names()).await?;
        let publisher = EventPublisher::new(queue.client().clone(), queue.names().clone());
        let config = queue.config().clone();
        let dependencies = Dependencies::new(None, config.outage_max);
        Ok(Self {
            runtime: Runtime {
                handler,
                queue,
                pool,
                staging,
                publisher,
                cancels,
                config,
                dependencies,
            },
        })
    }

    /// Take no job while one of `readiness`'s probes fails, and hand back without spending an
    /// attempt a job whose handler failed transiently while a probe failed, for at most
    /// `jobs.outage_max` per outage. Give it the probes of what every job needs (PostgreSQL,
    /// NATS, the chunk store).
    #[must_use]
    pub fn pause_while_down(mut self, readiness: Readiness) -> Self {
        self.runtime.dependencies =
            Dependencies::new(Some(readiness), self.runtime.config.outage_max);
        self
    }

    /// Run jobs until `shutdown` fires, then stop fetching, give running jobs
    /// `shutdown_grace` to finish and hand the others back to the queue.
    ///
    /// Dropping the future instead (aborting its task) drops every running job on the spot,
    /// like a crash: their messages are redelivered after `ack_wait`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), JobsError> {
        let runtime = Arc::new(self.runtime);
        let consumer = runtime.queue.consumer(H::KIND).await?;
        let config = &runtime.config;
        let slots = Arc::new(Semaphore::new(config.concurrency));
        let mut tasks = JoinSet::new();
        tracing::info!(kind = %H::KIND, concurrency = config.concurrency, "worker started");
        'fetch: loop {
            reap(&mut tasks);
            // Wait for a free slot, then take all free slots: one pull request asks for as many
            // jobs as can start now, and nothing is fetched that would wait in this process.
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                slot = Arc::clone(&slots).acquire_owned() => slot,
            };
            let Ok(first) = first else { break };
            let mut free = vec![first];
            while let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
                free.push(slot);
            }
            // Pulled jobs would only fail while a dependency is down: leave them in the queue
            // (for workers that can reach it) and probe again later.
            if let Health::Down(_) = runtime.dependencies.check().await {
                drop(free);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(config.outage_probe_interval) => continue,
                }
            }
            let batch = consumer
                .batch()
                .max_messages(free.len())
                .expires(config.fetch_expiry)
                .messages()
                .await;
            let mut batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(%err, "job pull request failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(FETCH_RETRY) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => break 'fetch,
                    next = batch.next() => next,
                };
                match next {
                    None => break,
                    Some(Ok(message)) => {
                        let Some(slot) = free.pop() else {
                            // The server sent more than asked; let another worker have it.
                            let _ = message
                                .ack_with(async_nats::jetstream::AckKind::Nak(None))
                                .await;
                            continue;
                        };
                        let job =
                            process::process(Arc::clone(&runtime), message, slot, shutdown.clone());
                        tasks.spawn(job);
                    }
                    Some(Err(err)) => {
                        tracing::debug!(%err, "pull request ended");
                        break;
                    }
                }
            }
        }
        tracing::info!(kind = %H::KIND, running = tasks.len(), "worker stopping");
        while let Some(result) = tasks.join_next().await {
            log_task(result);
        }
        Ok(())
    }
}

fn reap(tasks: &mut JoinSet<()>) {
    while let Some(result) = tasks.try_join_next() {
        log_task(result);
    }
}

fn log_task(result: Result<(), tokio::task::JoinError>) {
    if let Err(err) = result {
        tracing::error!(%err, "job task failed");
    }
}
