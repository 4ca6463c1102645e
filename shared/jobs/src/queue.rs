//! The JetStream work queue: one stream, one subject and one durable pull consumer per kind.

use std::sync::Arc;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use prost::Message;
use uuid::Uuid;

use hub_db::jobs::JobKind;
use hub_proto::v1::JobEnvelope;

use crate::envelope::{envelope_job_id, envelope_kind};
use crate::{JobsConfig, JobsError, Names};

/// Handle on the job queue of one hub. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    client: async_nats::Client,
    js: Context,
    names: Names,
    config: JobsConfig,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("prefix", &self.inner.names.prefix())
            .finish_non_exhaustive()
    }
}

/// Outcome of a publish to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Stream sequence of the message.
    pub sequence: u64,
    /// The stream already had a message with this id (a retried submit): nothing was added.
    pub duplicate: bool,
}

impl Queue {
    /// Open the queue under `prefix`, creating or updating the stream and the four consumers
    /// so that they match `config`. Idempotent: every process calls it at start.
    pub async fn new(
        client: async_nats::Client,
        prefix: &str,
        config: &JobsConfig,
    ) -> Result<Self, JobsError> {
        config.validate()?;
        let js = jetstream::new(client.clone());
        let names = Names::new(prefix);
        let stream_config = stream::Config {
            name: names.stream(),
            description: Some("hub jobs, one subject per kind".into()),
            subjects: JobKind::ALL
                .iter()
                .map(|kind| names.job_subject(*kind))
                .collect(),
            retention: RetentionPolicy::WorkQueue,
            storage: StorageType::File,
            discard: DiscardPolicy::Old,
            max_age: config.queue_max_age,
            duplicate_window: config.duplicate_window,
            ..Default::default()
        };
        js.create_or_update_stream(stream_config)
            .await
            .map_err(|err| JobsError::nats("create the job stream", err))?;
        for kind in JobKind::ALL {
            // A work-queue stream allows one consumer per subject (NATS 2.9 has no multi-filter
            // consumers), which every worker of the kind shares.
            let consumer = pull::Config {
                durable_name: Some(names.consumer(kind)),
                description: Some(format!("{kind} workers")),
                filter_subject: names.job_subject(kind),
                ack_policy: AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_deliver: config.max_deliver,
                // No redelivery back-off: on NATS 2.9 it also stretches every delayed nak (a
                // retry's delay, a busy job's "come back when its holder is stale") and every
                // ack timeout after the first delivery, so a job killed twice waited 2× then 4×
                // `ack_wait`. Left empty, an older version's back-off is removed on update.
                backoff: Vec::new(),
                ..Default::default()
            };
            js.create_consumer_on_stream(consumer, names.stream())
                .await
                .map_err(|err| JobsError::nats("create a job consumer", err))?;
        }
        Ok(Self {
            inner: Arc::new(QueueInner {
                client,
                js,
                names,
                config: config.clone(),
            }),
        })
    }

    /// Queue a job. The message id is the job id, so a retried submit within the
    /// `duplicate_window` is dropped by the server (`duplicate: true`).
    pub async fn submit(&self, envelope: &JobEnvelope) -> Result<Published, JobsError> {
        let kind = envelope_kind(envelope)?;
        let id = envelope_job_id(envelope)?;
        self.publish(kind, &id.to_string(), envelope.encode_to_vec().into())
            .await
    }

    /// Queue a job again (janitor): `nonce` makes the message id differ from the earlier
    /// messages of the job, which deduplication would otherwise swallow.
    pub async fn resubmit(
        &self,
        kind: JobKind,
        id: Uuid,
        nonce: &str,
        payload: Bytes,
    ) -> Result<Published, JobsError> {
        self.publish(kind, &format!("{id}:{nonce}"), payload).await
    }

    async fn publish(
        &self,
        kind: JobKind,
        message_id: &str,
        payload: Bytes,
    ) -> Result<Published, JobsError> {
        let message = PublishMessage::build()
            .payload(payload)
            .message_id(message_id);
        let ack = self
            .inner
            .js
            .send_publish(self.inner.names.job_subject(kind), message)
            .await
            .map_err(|err| JobsError::nats("publish a job", err))?
            .await
            .map_err(|err| JobsError::nats("confirm a job publish", err))?;
        Ok(Published {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// The consumer of `kind`'s jobs.
    pub async fn consumer(&self, kind: JobKind) -> Result<PullConsumer, JobsError> {
        self.inner
            .js
            .get_consumer_from_stream(self.inner.names.consumer(kind), self.inner.names.stream())
            .await
            .map_err(|err| JobsError::nats("open a job consumer", err))
    }

    /// The NATS connection.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// A JetStream context on the connection.
    pub fn jetstream(&self) -> &Context {
        &self.inner.js
    }

    /// The hub's NATS names.
    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    /// The settings the queue was opened with.
    pub fn config(&self) -> &JobsConfig {
        &self.inner.config
    }
}
