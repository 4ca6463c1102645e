//! The work queue and the staging bucket against the real NATS JetStream.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::AckPolicy;
use async_nats::jetstream::stream::RetentionPolicy;
use common::{Hub, TestResult, fast_config};
use hub_db::PgPool;
use hub_jobs::{JobEnvelope, JobKind, JobsError, Queue, Submission};
use hub_proto::v1::MergeJob;
use hub_proto::v1::job_envelope::Payload;
use hub_testkit::NatsTest;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use uuid::Uuid;

fn merge_envelope() -> JobEnvelope {
    JobEnvelope {
        job_id: Uuid::new_v4().to_string(),
        owner: "alice".into(),
        repository: "alice".into(),
        target_name: "merged.flist".into(),
        payload: Some(Payload::Merge(MergeJob::default())),
        ..JobEnvelope::default()
    }
}

async fn stream_messages(queue: &Queue) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = queue.jetstream().get_stream(queue.names().stream()).await?;
    Ok(stream.info().await?.state.messages)
}

#[tokio::test]
async fn stream_and_consumers_are_created_idempotently() -> TestResult {
    let nats = NatsTest::connect().await?;
    let config = fast_config();
    let first = Queue::new(nats.client().clone(), nats.prefix(), &config).await?;
    first.submit(&merge_envelope()).await?;
    // A second process starting, and a restart with a changed setting, both succeed and keep
    // the queued job.
    Queue::new(nats.client().clone(), nats.prefix(), &config).await?;
    let changed = hub_jobs::JobsConfig {
        ack_wait: Duration::from_secs(2),
        ..config.clone()
    };
    let queue = Queue::new(nats.client().clone(), nats.prefix(), &changed).await?;
    assert_eq!(stream_messages(&queue).await?, 1);

    let mut stream = queue.jetstream().get_stream(queue.names().stream()).await?;
    let info = stream.info().await?;
    assert_eq!(info.config.retention, RetentionPolicy::WorkQueue);
    assert_eq!(info.config.subjects.len(), 4);
    assert_eq!(info.config.duplicate_window, config.duplicate_window);
    for kind in JobKind::ALL {
        let mut consumer = queue.consumer(kind).await?;
        let info = consumer.info().await?;
        assert_eq!(info.config.filter_subject, queue.names().job_subject(kind));
        assert_eq!(info.config.ack_policy, AckPolicy::Explicit);
        assert_eq!(info.config.max_deliver, config.max_deliver);
        assert_eq!(
            info.config.ack_wait,
            Duration::from_secs(2),
            "updated in place"
        );
    }
    nats.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn opening_the_queue_removes_a_redelivery_backoff_of_an_older_version() -> TestResult {
    let nats = NatsTest::connect().await?;
    let config = fast_config();
    let queue = Queue::new(nats.client().clone(), nats.prefix(), &config).await?;
    // What earlier versions configured: redeliveries after ack_wait, then doubling. The server
    // stretches every delayed nak and every ack timeout after the first by it.
    for kind in JobKind::ALL {
        let older = async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(queue.names().consumer(kind)),
            filter_subject: queue.names().job_subject(kind),
            ack_policy: AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            max_deliver: config.max_deliver,
            backoff: vec![config.ack_wait, config.ack_wait * 2],
            ..Default::default()
        };
        queue
            .jetstream()
            .create_consumer_on_stream(older, queue.names().stream())
            .await?;
    }

    let queue = Queue::new(nats.client().clone(), nats.prefix(), &config).await?;
    for kind in JobKind::ALL {
        let mut consumer = queue.consumer(kind).await?;
        let info = consumer.info().await?;
        assert!(info.config.backoff.is_empty(), "{:?}", info.config.backoff);
        assert_eq!(info.config.ack_wait, config.ack_wait);
    }
    nats.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn a_retried_publish_is_queued_once() -> TestResult {
    let nats = NatsTest::connect().await?;
    let queue = Queue::new(nats.client().clone(), nats.prefix(), &fast_config()).await?;
    let envelope = merge_envelope();
    let first = queue.submit(&envelope).await?;
    let again = queue.submit(&envelope).await?;
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(first.sequence, again.sequence);
    assert_eq!(stream_messages(&queue).await?, 1);

    // The janitor's re-publish carries a different message id, so it is not swallowed.
    let id = Uuid::try_parse(&envelope.job_id)?;
    let payload = prost::Message::encode_to_vec(&envelope).into();
    let republished = queue.resubmit(JobKind::Merge, id, "r2", payload).await?;
    assert!(!republished.duplicate);
    assert_eq!(stream_messages(&queue).await?, 2);
    nats.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_idempotency_key_returns_the_first_job(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let submit = |envelope: JobEnvelope| Submission {
        envelope,
        idempotency_key: Some("upload-42".into()),
    };
    let first = hub.client.submit(submit(merge_envelope())).await?;
    let retried = hub.client.submit(submit(merge_envelope())).await?;
    assert!(first.created && !retried.created);
    assert_eq!(first.job.id, retried.job.id);
    assert_eq!(stream_messages(&hub.queue).await?, 1);

    let bad = JobEnvelope {
        job_id: "not-a-uuid".into(),
        ..merge_envelope()
    };
    assert!(matches!(
        hub.client.submit(submit(bad)).await,
        Err(JobsError::InvalidEnvelope(_))
    ));
    hub.cleanup().await?;
    Ok(())
}

/// A deterministic pseudo-random byte stream of `remaining` bytes, produced on demand.
struct Generated {
    remaining: usize,
    state: u64,
}

impl AsyncRead for Generated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.remaining).min(64 * 1024);
        let mut chunk = vec![0u8; n];
        for byte in &mut chunk {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *byte = self.state.to_le_bytes()[0];
        }
        buf.put_slice(&chunk);
        self.remaining -= n;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn staging_streams_a_large_upload_both_ways() -> TestResult {
    const SIZE: usize = 50 * 1024 * 1024;
    let nats = NatsTest::connect().await?;
    let queue = Queue::new(nats.client().clone(), nats.prefix(), &fast_config()).await?;
    let staging =
        hub_jobs::Staging::open_bucket(queue.jetstream(), queue.names(), Duration::from_secs(3600))
            .await?;

    let mut expected = Sha256::new();
    let mut source = Generated {
        remaining: SIZE,
        state: 0x9e37_79b9_7f4a_7c15,
    };
    let mut copy = Generated {
        remaining: SIZE,
        state: 0x9e37_79b9_7f4a_7c15,
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = copy.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        expected.update(&buf[..n]);
    }
    let expected = expected.finalize();

    let started = Instant::now();
    let staged = staging.put("big-upload", &mut source).await?;
    let put_time = started.elapsed();
    assert_eq!(staged.size, SIZE as u64);
    assert!(staged.digest.is_some());

    let started = Instant::now();
    let mut reader = staging.open("big-upload").await?;
    let mut actual = Sha256::new();
    let mut read = 0;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        read += n;
        actual.update(&buf[..n]);
    }
    println!(
        "50 MiB staged in {put_time:?}, read back in {:?}",
        started.elapsed()
    );
    assert_eq!(read, SIZE);
    assert_eq!(actual.finalize(), expected);

    staging.delete("big-upload").await?;
    staging.delete("big-upload").await?;
    assert!(matches!(
        staging.open("big-upload").await,
        Err(JobsError::StagedObjectMissing(_))
    ));
    // Reopening the bucket (another process, a changed TTL) keeps working.
    hub_jobs::Staging::open_bucket(queue.jetstream(), queue.names(), Duration::from_secs(60))
        .await?;
    nats.cleanup().await?;
    Ok(())
}
