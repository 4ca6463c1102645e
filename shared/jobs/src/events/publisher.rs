//! Publishing recorded events and cancellations on core NATS.

use uuid::Uuid;

use hub_db::events::JobEvent;

use crate::Names;

/// Publishes job events and cancellations. Cheap to clone.
///
/// Publishing is best effort: the events are already durable in `job_events` when they are
/// published, and followers re-read the database when live messages stop, so a lost message
/// only delays a listener.
#[derive(Clone, Debug)]
pub struct EventPublisher {
    client: async_nats::Client,
    names: Names,
}

impl EventPublisher {
    /// A publisher on `client` with `names`.
    pub fn new(client: async_nats::Client, names: Names) -> Self {
        Self { client, names }
    }

    /// Publish `events` (already recorded) to their job's subject.
    pub async fn publish(&self, events: &[JobEvent]) {
        for event in events {
            let payload = match serde_json::to_vec(event) {
                Ok(payload) => payload,
                Err(err) => {
                    tracing::warn!(job = %event.job_id, %err, "cannot encode a job event");
                    continue;
                }
            };
            let subject = self.names.events_subject(event.job_id);
            if let Err(err) = self.client.publish(subject, payload.into()).await {
                tracing::debug!(job = %event.job_id, %err, "live job event not published");
            }
        }
    }

    /// Tell the worker running job `id` that it was cancelled (the database already says so;
    /// this only makes the worker notice at once).
    pub async fn cancel(&self, id: Uuid) {
        let subject = self.names.cancel_subject(id);
        if let Err(err) = self.client.publish(subject, bytes::Bytes::new()).await {
            tracing::debug!(job = %id, %err, "cancellation not published");
        }
    }
}
