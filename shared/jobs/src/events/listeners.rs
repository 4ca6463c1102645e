//! The per-job listeners of an [`EventBus`](super::EventBus) and the observers of every event,
//! shared by the bus's dispatcher and the followers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;

use hub_db::PgPool;
use hub_db::events::JobEvent;

/// Live events buffered per job for slow listeners; a listener that falls further behind
/// re-reads the database.
const LISTENER_BUFFER: usize = 64;

/// Called with every live event the process receives, before listeners get it (for caches
/// that must not outlive a change).
pub type EventObserver = Arc<dyn Fn(&JobEvent) + Send + Sync>;

/// What the bus, its dispatcher and every follower share: the database to replay from, and
/// the live listeners and observers.
pub(super) struct Shared {
    pub(super) pool: PgPool,
    pub(super) poll_interval: Duration,
    listeners: Mutex<HashMap<Uuid, broadcast::Sender<Arc<JobEvent>>>>,
    observers: RwLock<Vec<EventObserver>>,
}

impl Shared {
    pub(super) fn new(pool: PgPool, poll_interval: Duration) -> Self {
        Self {
            pool,
            poll_interval,
            listeners: Mutex::new(HashMap::new()),
            observers: RwLock::new(Vec::new()),
        }
    }

    pub(super) fn add_observer(&self, observer: EventObserver) {
        self.observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
    }

    pub(super) fn jobs_listened(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, broadcast::Sender<Arc<JobEvent>>>> {
        // The map stays consistent whatever panicked while holding the lock.
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn dispatch(&self, event: JobEvent) {
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
