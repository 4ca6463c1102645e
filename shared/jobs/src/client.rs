//! The gateway's side: submitting and cancelling jobs.

use prost::Message;
use uuid::Uuid;

use hub_db::PgPool;
use hub_db::jobs::{self, Cancelled, Created, FailureCode, JobFailure, JobState, NewJob};
use hub_proto::v1::JobEnvelope;

use crate::envelope::{envelope_job_id, envelope_kind};
use crate::{EventPublisher, JobsError, Queue, Staging};

/// A job to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The payload; its `job_id` (a fresh UUIDv4) becomes the job's id.
    pub envelope: JobEnvelope,
    /// The submitter's `Idempotency-Key`: a second submit with the same key returns the first
    /// job instead of creating another.
    pub idempotency_key: Option<String>,
}

/// Records jobs in PostgreSQL and queues them on JetStream. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobClient {
    pool: PgPool,
    queue: Queue,
    publisher: EventPublisher,
    staging: Option<Staging>,
}

impl JobClient {
    /// A client for `queue`; `staging`, when given, lets it delete the upload of a job
    /// cancelled before it started.
    pub fn new(pool: PgPool, queue: Queue, staging: Option<Staging>) -> Self {
        let publisher = EventPublisher::new(queue.client().clone(), queue.names().clone());
        Self {
            pool,
            queue,
            publisher,
            staging,
        }
    }

    /// Record and queue a job (`202 Accepted` material). With an idempotency key already
    /// used by the envelope's owner, returns that job (`created: false`) and queues nothing new.
    ///
    /// When the queue cannot take the job, the job is failed with `queue_unavailable` and the
    /// error returned (a retried submit with the same key then sees the failed job, so clients
    /// retry without a key or with a new one).
    pub async fn submit(&self, submission: Submission) -> Result<Created, JobsError> {
        let envelope = &submission.envelope;
        let new = NewJob {
            id: envelope_job_id(envelope)?,
            kind: envelope_kind(envelope)?,
            owner: envelope.owner.clone(),
            repository: envelope.repository.clone(),
            target_name: envelope.target_name.clone(),
            payload: envelope.encode_to_vec(),
            max_attempts: self.queue.config().max_attempts,
            idempotency_key: submission.idempotency_key.clone(),
        };
        let created = jobs::create(&self.pool, &new).await?;
        if !created.created {
            return Ok(created);
        }
        self.publisher.publish(&created.events).await;
        if let Err(err) = self.queue.submit(envelope).await {
            let failure = JobFailure::new(
                FailureCode::QueueUnavailable,
                "the job could not be queued; try again later",
            );
            match jobs::abort(&self.pool, new.id, &failure).await {
                Ok((_, events)) => self.publisher.publish(&events).await,
                Err(abort) => tracing::warn!(job = %new.id, %abort, "cannot fail an unqueued job"),
            }
            self.delete_staged(envelope).await;
            return Err(err);
        }
        Ok(created)
    }

    /// Cancel job `id` (`reason` is shown to listeners). A queued job never runs; a running
    /// one's worker is told to stop and records nothing more.
    ///
    /// Errors: `NotFound` (unknown job), `Conflict(JobFinished)`.
    pub async fn cancel(&self, id: Uuid, reason: &str) -> Result<Cancelled, JobsError> {
        let cancelled = jobs::cancel(&self.pool, id, reason).await?;
        self.publisher.publish(&cancelled.events).await;
        if cancelled.previous == JobState::Running {
            self.publisher.cancel(id).await;
        } else if let Ok(payload) = jobs::payload(&self.pool, id).await {
            // A queued job's message is acknowledged unseen by a worker: drop its upload here.
            if let Ok(envelope) = crate::decode_envelope(&payload) {
                self.delete_staged(&envelope).await;
            }
        }
        Ok(cancelled)
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    async fn delete_staged(&self, envelope: &JobEnvelope) {
        if let Some(staging) = &self.staging {
            staging.discard_upload_of(envelope).await;
        }
    }
}
