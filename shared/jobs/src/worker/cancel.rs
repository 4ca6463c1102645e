//! Cancellation messages for the jobs a worker process runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::context::{JobContext, StopReason};
use crate::{JobsError, Names};

type Running = Arc<Mutex<HashMap<Uuid, JobContext>>>;

/// One subscription to `<prefix>.cancel.*`, stopping the matching running job at once. (Without
/// it a cancelled job still stops, at its next guarded write or heartbeat.)
pub(crate) struct CancelWatch {
    running: Running,
    task: JoinHandle<()>,
}

impl CancelWatch {
    pub(crate) async fn subscribe(
        client: &async_nats::Client,
        names: &Names,
    ) -> Result<Self, JobsError> {
        let mut subscription = client
            .subscribe(names.all_cancels())
            .await
            .map_err(|err| JobsError::nats("subscribe to cancellations", err))?;
        let running: Running = Arc::default();
        let watched = Arc::clone(&running);
        let task = tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let Some(id) = Names::job_id_of(&message.subject) else {
                    continue;
                };
                let context = lock(&watched).get(&id).cloned();
                if let Some(context) = context {
                    tracing::info!(job = %id, "cancellation received");
                    context.stop(StopReason::Cancelled);
                }
            }
        });
        Ok(Self { running, task })
    }

    /// Watch for the cancellation of the job of `context` until the guard is dropped.
    pub(crate) fn register(&self, context: &JobContext) -> Registration {
        let id = context.job_id();
        lock(&self.running).insert(id, context.clone());
        Registration {
            running: Arc::clone(&self.running),
            id,
        }
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Removes a job from the [`CancelWatch`] when dropped.
pub(crate) struct Registration {
    running: Running,
    id: Uuid,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.id);
    }
}

fn lock(running: &Running) -> std::sync::MutexGuard<'_, HashMap<Uuid, JobContext>> {
    running.lock().unwrap_or_else(PoisonError::into_inner)
}
