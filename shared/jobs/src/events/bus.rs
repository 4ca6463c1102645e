//! One wildcard subscription per process, fanned out to per-job listeners.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use uuid::Uuid;

use hub_db::PgPool;
use hub_db::events::JobEvent;
use hub_db::jobs::{self, Job};

use super::follow::{JobEventStream, follow};
use super::listeners::{EventObserver, Listener, Shared};
use crate::{JobsError, Names};

/// Live job events of one process (a gateway): one NATS subscription to
/// `<prefix>.events.*`, dispatched to the listeners of each job.
pub struct EventBus {
    shared: Arc<Shared>,
    dispatcher: JoinHandle<()>,
}

impl EventBus {
    /// Subscribe to every job's events on `client`. `poll_interval` is how long a follower
    /// waits for a live event before re-reading the database.
    pub async fn subscribe_all(
        client: &async_nats::Client,
        names: &Names,
        pool: PgPool,
        poll_interval: Duration,
    ) -> Result<Self, JobsError> {
        let mut subscription = client
            .subscribe(names.all_events())
            .await
            .map_err(|err| JobsError::nats("subscribe to job events", err))?;
        let shared = Arc::new(Shared::new(pool, poll_interval));
        let dispatch_to = Arc::clone(&shared);
        let dispatcher = tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                match serde_json::from_slice::<JobEvent>(&message.payload) {
                    Ok(event) => dispatch_to.dispatch(event),
                    Err(err) => tracing::warn!(subject = %message.subject, %err, "bad job event"),
                }
            }
            tracing::warn!("job event subscription ended; followers fall back to polling");
        });
        Ok(Self { shared, dispatcher })
    }

    /// The events of job `job_id` after `after_seq` (0 = from the start): the recorded ones,
    /// then live ones as they happen, each once and in order; the stream ends after the job's
    /// final event. An unknown job yields one [`hub_db::DbError`] `NotFound` error.
    ///
    /// Live events are buffered from this call on; the database is read when the stream is
    /// first polled, and an `after_seq` beyond the log's end then resumes at its end.
    pub fn follow(&self, job_id: Uuid, after_seq: i64) -> JobEventStream {
        follow(Arc::clone(&self.shared), job_id, after_seq)
    }

    /// Wait until job `job_id` finishes or `timeout` passes, and return it as it is then (the
    /// caller checks `state`). Used by the synchronous legacy routes and `?wait=`.
    pub async fn wait_for_completion(
        &self,
        job_id: Uuid,
        timeout: Duration,
    ) -> Result<Job, JobsError> {
        // Listen before reading, so a completion between the two is not missed.
        let mut listener = Listener::new(&self.shared, job_id);
        let job = jobs::get(&self.shared.pool, job_id).await?;
        if job.state.is_terminal() {
            return Ok(job);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let wait = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(self.shared.poll_interval);
            if wait.is_zero() {
                break;
            }
            match tokio::time::timeout(wait, listener.recv()).await {
                Ok(Ok(event)) if !event.is_terminal() => continue,
                // Terminal event, lagged, or quiet for a while: check the database.
                _ => {
                    let job = jobs::get(&self.shared.pool, job_id).await?;
                    if job.state.is_terminal() {
                        return Ok(job);
                    }
                }
            }
        }
        Ok(jobs::get(&self.shared.pool, job_id).await?)
    }

    /// Calls `observer` with every live event from now on. Live events travel over core NATS
    /// (at most once), so an observer that caches must also bound how long it trusts an entry.
    pub fn observe(&self, observer: EventObserver) {
        self.shared.add_observer(observer);
    }

    /// Number of jobs with at least one listener (for metrics and tests).
    pub fn jobs_listened(&self) -> usize {
        self.shared.jobs_listened()
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}
