//! One wildcard subscription per process, fanned out to per-job listeners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use hub_db::PgPool;
use hub_db::events::JobEvent;
use hub_db::jobs::{self, Job};

use super::follow::{JobEventStream, follow};
use crate::{JobsError, Names};

/// Live events buffered per job for slow listeners; a listener that falls further behind
/// re-reads the database.
const LISTENER_BUFFER: usize = 64;

/// Live job events of one process (a gateway): one NATS subscription to
/// `<prefix>.events.*`, dispatched to the listeners of each job.
pub struct EventBus {
    shared: Arc<Shared>,
    dispatcher: JoinHandle<()>,
}

/// Called with every live event the process receives, before listeners get it (for caches
/// that must not outlive a change).
pub type EventObserver = Arc<dyn Fn(&JobEvent) + Send + Sync>;

pub(super) struct Shared {
    pub(super) pool: PgPool,
    pub(super) poll_interval: Duration,
    listeners: Mutex<HashMap<Uuid, broadcast::Sender<Arc<JobEvent>>>>,
    observers: RwLock<Vec<EventObserver>>,
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
        let shared = Arc::new(Shared {
            pool,
            poll_interval,
            listeners: Mutex::new(HashMap::new()),
            observers: RwLock::new(Vec::new()),
        });
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
        self.shared
            .observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
    }

    /// Number of jobs with at least one listener (for metrics and tests).
    pub fn jobs_listened(&self) -> usize {
        self.shared.lock().len()
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, broadcast::Sender<Arc<JobEvent>>>> {
        // The map stays consistent whatever panicked while holding the lock.
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn dispatch(&self, event: JobEvent) {
        for observer in self
            .observers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            observer(&event);
        }
        let mut listeners = self.lock();
        if let Some(sender) = listeners.get(&event.job_id) {
            let job_id = event.job_id;
            if sender.send(Arc::new(event)).is_err() {
                listeners.remove(&job_id);
            }
        }
    }
}

/// A registration for one job's live events; unregisters when dropped.
pub(super) struct Listener {
    shared: Arc<Shared>,
    job_id: Uuid,
    receiver: Option<broadcast::Receiver<Arc<JobEvent>>>,
}

impl Listener {
    pub(super) fn new(shared: &Arc<Shared>, job_id: Uuid) -> Self {
        let receiver = shared
            .lock()
            .entry(job_id)
            .or_insert_with(|| broadcast::channel(LISTENER_BUFFER).0)
            .subscribe();
        Self {
            shared: Arc::clone(shared),
            job_id,
            receiver: Some(receiver),
        }
    }

    /// The next live event of the job.
    pub(super) async fn recv(&mut self) -> Result<Arc<JobEvent>, broadcast::error::RecvError> {
        match &mut self.receiver {
            Some(receiver) => receiver.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut listeners = self.shared.lock();
        if listeners
            .get(&self.job_id)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            listeners.remove(&self.job_id);
        }
    }
}
