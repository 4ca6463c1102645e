//! What a handler can do while it runs: report progress, record events, notice cancellation.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::{MutexGuard, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use hub_db::events::{EventKind, NewEvent};
use hub_db::jobs::Lease;
use hub_db::{DbError, PgPool};

use super::JobError;
use crate::{EventPublisher, Staging};

/// Why a running job was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A user cancelled it.
    Cancelled,
    /// Someone else changed the job (cancelled, re-queued, taken over): this worker's writes
    /// are refused.
    LeaseLost,
    /// The worker is shutting down and the grace period is over.
    Shutdown,
}

/// The running job's handle for its handler. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

struct Inner {
    job_id: Uuid,
    attempt: i32,
    pool: PgPool,
    staging: Staging,
    publisher: EventPublisher,
    /// Serialises the job's writes: each is guarded by the revision the previous one produced.
    lease: tokio::sync::Mutex<Lease>,
    cancel: CancellationToken,
    reason: OnceLock<StopReason>,
    /// Latest progress not yet written (later reports replace earlier ones).
    pending: Mutex<Option<Progress>>,
    progress_reported: Notify,
    progress_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Progress {
    percent: i16,
    phase: Option<String>,
    message: String,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.inner.job_id)
            .field("attempt", &self.inner.attempt)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    pub(crate) fn new(
        lease: Lease,
        pool: PgPool,
        staging: Staging,
        publisher: EventPublisher,
        progress_interval: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                job_id: lease.job_id(),
                attempt: lease.attempt(),
                pool,
                staging,
                publisher,
                lease: tokio::sync::Mutex::new(lease),
                cancel: CancellationToken::new(),
                reason: OnceLock::new(),
                pending: Mutex::new(None),
                progress_reported: Notify::new(),
                progress_interval,
            }),
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> Uuid {
        self.inner.job_id
    }

    /// Which attempt this run is (1 for the first).
    pub fn attempt(&self) -> i32 {
        self.inner.attempt
    }

    /// The database pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The staged uploads.
    pub fn staging(&self) -> &Staging {
        &self.inner.staging
    }

    /// Report progress: `percent` (0–100), a machine-readable `phase` and a message such as
    /// `Building: processing item 3 of 10`. Returns at once; reports are written at most once
    /// per `progress_interval`, later ones replacing earlier ones, and the last one is always
    /// written.
    pub fn progress(&self, percent: u8, phase: &str, message: impl Into<String>) {
        let progress = Progress {
            percent: i16::from(percent.min(100)),
            phase: (!phase.is_empty()).then(|| phase.to_owned()),
            message: message.into(),
        };
        *self.lock_pending() = Some(progress);
        self.inner.progress_reported.notify_one();
    }

    /// Record an `info` or `error` event now (after any pending progress, to keep the order).
    /// Fails with [`JobError::Cancelled`] when the job is no longer this worker's.
    pub async fn event(
        &self,
        kind: EventKind,
        message: Option<String>,
        data: serde_json::Value,
    ) -> Result<(), JobError> {
        let event = match kind {
            EventKind::Info => NewEvent::info(message, data),
            EventKind::Error => NewEvent::error(message.unwrap_or_default(), data),
            EventKind::State | EventKind::Update => {
                return Err(JobError::internal(
                    "handlers record state and progress through the runtime",
                ));
            }
        };
        self.flush_progress().await;
        let written = self.lease().await.event(&self.inner.pool, event).await;
        match written {
            Ok(events) => {
                self.inner.publisher.publish(&events).await;
                Ok(())
            }
            Err(err) => Err(self.lease_error(err)),
        }
    }

    /// Fires when the job must stop: cancelled by a user, taken away from this worker, or the
    /// worker is shutting down. Handlers check it between steps and return
    /// [`JobError::Cancelled`].
    pub fn cancelled(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// Whether [`JobContext::cancelled`] fired.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Tell the handler to stop; the first reason given is the one kept.
    pub(crate) fn stop(&self, reason: StopReason) {
        let _ = self.inner.reason.set(reason);
        self.inner.cancel.cancel();
    }

    /// Why the job was told to stop, if it was.
    pub(crate) fn stop_reason(&self) -> Option<StopReason> {
        self.inner.reason.get().copied()
    }

    /// Exclusive use of the lease (for the final transition).
    pub(crate) async fn lease(&self) -> MutexGuard<'_, Lease> {
        self.inner.lease.lock().await
    }

    /// Record a heartbeat in the database.
    pub(crate) async fn heartbeat(&self) {
        let beat = self.lease().await.heartbeat(&self.inner.pool).await;
        if let Err(err) = beat {
            self.lease_error(err);
        }
    }

    /// Write progress reports as they come, at most one per `progress_interval`, until `stop`.
    pub(crate) async fn write_progress(&self, stop: &CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.inner.progress_reported.notified() => {}
            }
            self.flush_progress().await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.inner.progress_interval) => {}
            }
        }
    }

    /// Write the pending progress report, if any.
    pub(crate) async fn flush_progress(&self) {
        let Some(progress) = self.lock_pending().take() else {
            return;
        };
        let written = self
            .lease()
            .await
            .progress(
                &self.inner.pool,
                progress.percent,
                progress.phase.as_deref(),
                &progress.message,
            )
            .await;
        match written {
            Ok(events) => self.inner.publisher.publish(&events).await,
            Err(err) => {
                self.lease_error(err);
            }
        }
    }

    /// Turn a failed lease write into the handler's error, stopping the job when the lease is
    /// lost; other errors are logged (a later write may succeed).
    fn lease_error(&self, err: DbError) -> JobError {
        if matches!(err, DbError::Stale) {
            self.stop(StopReason::LeaseLost);
        } else {
            tracing::warn!(job = %self.inner.job_id, %err, "job status write failed");
        }
        err.into()
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Option<Progress>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
