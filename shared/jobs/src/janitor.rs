//! The janitor: re-queues jobs whose worker vanished, re-publishes jobs whose message was
//! lost, fails jobs out of attempts, purges old finished jobs, and removes abandoned staged
//! uploads.

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use hub_db::PgPool;
use hub_db::jobs::{self, Job, Requeued};

use crate::envelope::decode_envelope;
use crate::{EventPublisher, JobsError, Queue, Staging, StagingSweep};

/// Jobs handled per category and sweep; the rest wait for the next sweep.
const SWEEP_LIMIT: i64 = 200;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Whether this janitor held the lock (if not, another one swept and the rest is zero).
    pub leader: bool,
    /// Running jobs with a stale heartbeat put back in the queue.
    pub requeued: usize,
    /// Running jobs with a stale heartbeat and no attempts left, failed.
    pub failed: usize,
    /// Queued jobs unchanged for `queued_timeout`, published again.
    pub republished: usize,
    /// Finished jobs deleted after `retention`.
    pub purged: u64,
    /// Staged uploads removed (see [`Staging::sweep_abandoned`]).
    pub staging: StagingSweep,
}

impl SweepReport {
    /// The report of a leader's sweep that found nothing to do.
    fn idle_leader() -> Self {
        Self {
            leader: true,
            ..Self::default()
        }
    }
}

/// The janitor. Run one in any process (the gateway does); extra ones are harmless.
pub struct Janitor {
    pool: PgPool,
    queue: Queue,
    publisher: EventPublisher,
    staging: Option<Staging>,
}

impl Janitor {
    /// A janitor for `queue`'s jobs; `staging`, when given, lets it delete the uploads of the
    /// jobs it fails.
    pub fn new(pool: PgPool, queue: Queue, staging: Option<Staging>) -> Self {
        let publisher = EventPublisher::new(queue.client().clone(), queue.names().clone());
        Self {
            pool,
            queue,
            publisher,
            staging,
        }
    }

    /// Sweep every `janitor_interval` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.queue.config().janitor_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            match self.sweep().await {
                // Logged when it did something (`leader` alone is every sweep of the leader).
                Ok(report) if report.leader && report != SweepReport::idle_leader() => {
                    tracing::info!(?report, "janitor sweep");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "janitor sweep failed"),
            }
        }
    }

    /// One sweep, if no other janitor is sweeping.
    pub async fn sweep(&self) -> Result<SweepReport, JobsError> {
        let config = self.queue.config();
        let mut tx = self.pool.begin().await.map_err(hub_db::DbError::from)?;
        if !jobs::try_lock_sweep(&mut tx).await? {
            return Ok(SweepReport::default());
        }
        let requeued =
            jobs::requeue_stale(&mut *tx, config.janitor_stale_after, SWEEP_LIMIT).await?;
        let failed =
            jobs::fail_exhausted(&mut *tx, config.janitor_stale_after, SWEEP_LIMIT).await?;
        let forgotten = jobs::stale_queued(&mut *tx, config.queued_timeout, SWEEP_LIMIT).await?;
        let purged = jobs::purge_finished(&mut *tx, config.retention).await?;
        tx.commit().await.map_err(hub_db::DbError::from)?;

        // Published after the commit: a worker receiving the message must find the job queued.
        // A failed publish is caught by the next `queued_timeout` sweep.
        for job in &requeued {
            self.publisher.publish(&job.events).await;
            self.republish(job, &format!("r{}", job.job.revision)).await;
        }
        for job in &forgotten {
            let nonce = format!("q{}", job.job.updated_at.timestamp_micros());
            self.republish(job, &nonce).await;
        }
        for (job, events) in &failed {
            self.publisher.publish(events).await;
            self.delete_staged(job).await;
        }
        Ok(SweepReport {
            leader: true,
            requeued: requeued.len(),
            failed: failed.len(),
            republished: forgotten.len(),
            purged,
            staging: self.sweep_staging().await,
        })
    }

    /// Remove abandoned staged uploads. Only the leader does it, to spare the bucket listings;
    /// a failure is logged, and the next sweep tries again.
    async fn sweep_staging(&self) -> StagingSweep {
        let Some(staging) = &self.staging else {
            return StagingSweep::default();
        };
        let orphan_after = self.queue.config().staging_orphan_after;
        match staging.sweep_abandoned(&self.pool, orphan_after).await {
            Ok(sweep) => sweep,
            Err(err) => {
                tracing::warn!(%err, "cannot sweep the staging bucket");
                StagingSweep::default()
            }
        }
    }

    async fn republish(&self, requeued: &Requeued, nonce: &str) {
        let job = &requeued.job;
        let payload = Bytes::copy_from_slice(&requeued.payload);
        if let Err(err) = self.queue.resubmit(job.kind, job.id, nonce, payload).await {
            tracing::warn!(job = %job.id, %err, "cannot publish a re-queued job");
        }
    }

    async fn delete_staged(&self, job: &Job) {
        let Some(staging) = &self.staging else { return };
        let Ok(payload) = jobs::payload(&self.pool, job.id).await else {
            return;
        };
        let Ok(envelope) = decode_envelope(&payload) else {
            return;
        };
        staging.discard_upload_of(&envelope).await;
    }
}
