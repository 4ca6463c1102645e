//! The life of one queue message in a worker: claim, run, finish, acknowledge.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::message::{AckKind, Acker};
use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use hub_db::events::NewEvent;
use hub_db::jobs::{self, Claim, Claimed, FailureCode, JobFailure, JobState};
use hub_db::{DbError, EntryQuota, entries, flists};
use hub_proto::v1::JobEnvelope;

use super::context::{JobContext, StopReason};
use super::outage::Health;
use super::{ClaimedJob, JobError, JobHandler, JobOutput, PublishedFlist, Runtime};
use crate::JobsError;
use crate::crash::{CrashPoint, crash_point};
use crate::envelope::{decode_envelope, envelope_job_id, envelope_kind};

/// Margin added to a busy job's remaining heartbeat time before it is offered again.
const BUSY_MARGIN: Duration = Duration::from_millis(200);

/// Process one delivered job message; `_slot` is the concurrency slot it holds until done.
pub(super) async fn process<H: JobHandler>(
    runtime: Arc<Runtime<H>>,
    message: async_nats::jetstream::Message,
    _slot: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    let (message, acker) = message.split();
    let decoded = decode_envelope(&message.payload).and_then(|envelope| {
        let kind = envelope_kind(&envelope)?;
        if kind != H::KIND {
            return Err(JobsError::InvalidEnvelope(format!(
                "a {kind} job on the {} queue",
                H::KIND
            )));
        }
        Ok((envelope_job_id(&envelope)?, envelope))
    });
    let (id, envelope) = match decoded {
        Ok(decoded) => decoded,
        Err(err) => {
            reject_undecodable(&runtime, &message, &err.to_string()).await;
            settle(&acker, AckKind::Term).await;
            return;
        }
    };
    // Claiming would spend an attempt that the outage makes fail at once: offer the job again
    // later (to a worker that can reach the dependency, or to this one once it is back).
    if let Health::Down(reason) = runtime.dependencies.check().await {
        tracing::debug!(job = %id, %reason, "not claiming while a dependency is down");
        settle(
            &acker,
            AckKind::Nak(Some(runtime.config.outage_probe_interval)),
        )
        .await;
        return;
    }
    let claim = jobs::claim(&runtime.pool, id, runtime.config.stale_after()).await;
    match claim {
        Ok(Claim::Claimed(claimed)) => run(&runtime, *claimed, envelope, &acker, &shutdown).await,
        Ok(Claim::Finished(state)) => {
            tracing::debug!(job = %id, %state, "message for a finished job");
            settle(&acker, AckKind::Ack).await;
        }
        Ok(Claim::Missing) => {
            tracing::warn!(job = %id, "message for an unknown job");
            settle(&acker, AckKind::Term).await;
        }
        Ok(Claim::Busy { retry_in }) => {
            tracing::debug!(job = %id, ?retry_in, "job held by a live worker");
            settle(&acker, AckKind::Nak(Some(retry_in + BUSY_MARGIN))).await;
        }
        Ok(Claim::Exhausted(job, events)) => {
            tracing::warn!(job = %id, "job has no attempts left");
            runtime.publisher.publish(&events).await;
            runtime.delete_staged(&envelope, job.state).await;
            settle(&acker, AckKind::Term).await;
        }
        Err(err) => {
            tracing::warn!(job = %id, %err, "cannot claim the job");
            settle(&acker, AckKind::Nak(Some(runtime.config.retry_backoff))).await;
        }
    }
}

/// Run a claimed job to its end and settle its message.
async fn run<H: JobHandler>(
    runtime: &Runtime<H>,
    claimed: Claimed,
    envelope: JobEnvelope,
    acker: &Acker,
    shutdown: &CancellationToken,
) {
    let Claimed {
        job, lease, events, ..
    } = claimed;
    tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempt, "job started");
    runtime.publisher.publish(&events).await;
    let context = JobContext::new(
        lease,
        runtime.pool.clone(),
        runtime.staging.clone(),
        runtime.publisher.clone(),
        runtime.config.progress_interval,
    );
    let _watch = runtime.cancels.register(&context);
    let job = ClaimedJob { job, envelope };

    // The handler runs alongside the heartbeat, the progress writer and the shutdown timer; they
    // stop at `done`, between writes (never in the middle of one).
    let done = CancellationToken::new();
    let work = async {
        let outcome = AssertUnwindSafe(runtime.handler.run(&job, &context))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(JobError::internal(panic_message(&*panic))));
        done.cancel();
        outcome
    };
    let background = async {
        tokio::join!(
            heartbeat(&context, acker, runtime.config.heartbeat_interval(), &done),
            context.write_progress(&done),
            shutdown_timer(&context, shutdown, runtime.config.shutdown_grace, &done),
        )
    };
    let (outcome, _) = tokio::join!(work, background);
    context.flush_progress().await;
    finish(runtime, &context, &job, outcome, acker).await;
}

/// Keep the message and the job alive: an in-progress ack (JetStream restarts `ack_wait`) and
/// a database heartbeat (for the janitor and for workers offered the job again).
async fn heartbeat(
    context: &JobContext,
    acker: &Acker,
    interval: Duration,
    done: &CancellationToken,
) {
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = acker.ack_with(AckKind::Progress).await {
            tracing::warn!(job = %context.job_id(), %err, "in-progress ack failed");
        }
        context.heartbeat().await;
    }
}

/// On shutdown, give the job `grace` to finish, then tell it to stop.
async fn shutdown_timer(
    context: &JobContext,
    shutdown: &CancellationToken,
    grace: Duration,
    done: &CancellationToken,
) {
    tokio::select! {
        () = done.cancelled() => return,
        () = shutdown.cancelled() => {}
    }
    tokio::select! {
        () = done.cancelled() => {}
        () = tokio::time::sleep(grace) => context.stop(StopReason::Shutdown),
    }
}

/// Record how the job ended and settle its message.
async fn finish<H: JobHandler>(
    runtime: &Runtime<H>,
    context: &JobContext,
    job: &ClaimedJob,
    outcome: Result<JobOutput, JobError>,
    acker: &Acker,
) {
    let id = job.job.id;
    let error = match (outcome, context.stop_reason()) {
        (Ok(output), _) => return succeed(runtime, context, job, output, acker).await,
        (Err(_), Some(StopReason::Shutdown)) => {
            let reason = "queued again: its worker is shutting down";
            if let Err(err) = release(runtime, context, reason, None, acker).await {
                // Redelivered after `ack_wait`, and taken over once the heartbeat is stale.
                tracing::warn!(job = %id, %err, "cannot hand the job back");
            }
            return;
        }
        (Err(_), Some(StopReason::Cancelled | StopReason::LeaseLost)) => {
            return stopped(runtime, job, acker).await;
        }
        (Err(JobError::Cancelled), None) => {
            JobError::internal("the handler stopped as cancelled, but the job was not cancelled")
        }
        // A transient error while a dependency is down is the outage's, not the job's.
        (Err(error @ JobError::Transient { .. }), None) => {
            match runtime.dependencies.check().await {
                Health::Up => error,
                Health::Down(reason) => return hand_back(runtime, context, &reason, acker).await,
                // Recorded like an input error: failed at once with its code, no retry.
                Health::GaveUp(reason) => JobError::invalid_as(
                    FailureCode::DependencyUnavailable,
                    format!(
                        "a dependency stayed unavailable for more than {:?} ({reason}): {error}",
                        runtime.dependencies.outage_max()
                    ),
                ),
            }
        }
        (Err(error), None) => error,
    };
    fail(runtime, context, job, error, acker).await;
}

/// Record that the job did not succeed because of `error`: retried later when it is transient,
/// failed otherwise.
async fn fail<H: JobHandler>(
    runtime: &Runtime<H>,
    context: &JobContext,
    job: &ClaimedJob,
    error: JobError,
    acker: &Acker,
) {
    let id = job.job.id;
    let attempt = context.attempt();
    let mut lease = context.lease().await;
    let (written, ack) = match &error {
        JobError::Transient { code, message } => {
            let delay = runtime.config.retry_delay(attempt);
            let failure = JobFailure::new(code.clone(), message.clone());
            let written = lease.retry(&runtime.pool, &failure, delay).await;
            let ack = match &written {
                Ok((job, _)) if job.state == JobState::Queued => AckKind::Nak(Some(delay)),
                _ => AckKind::Term,
            };
            (written, ack)
        }
        error => {
            let failure = JobFailure::new(error.code().clone(), error.to_string());
            (lease.fail(&runtime.pool, &failure).await, AckKind::Term)
        }
    };
    drop(lease);
    match written {
        Ok((row, events)) => {
            tracing::info!(job = %id, state = %row.state, %error, "job did not succeed");
            runtime.publisher.publish(&events).await;
            runtime.delete_staged(&job.envelope, row.state).await;
            settle(acker, ack).await;
        }
        Err(DbError::Stale) => stopped(runtime, job, acker).await,
        Err(err) => {
            // The outcome is not recorded: offer the job again; it runs anew once its heartbeat
            // is stale.
            tracing::warn!(job = %id, %err, %error, "cannot record the job's failure");
            settle(
                acker,
                AckKind::Nak(Some(runtime.config.retry_delay(attempt))),
            )
            .await;
        }
    }
}

/// Publish the result and mark the job succeeded, in one transaction: a staged flist's row,
/// the entry naming it and the job's success are committed together or not at all, so a
/// worker dying at any point leaves no row that no entry references.
async fn succeed<H: JobHandler>(
    runtime: &Runtime<H>,
    context: &JobContext,
    job: &ClaimedJob,
    output: JobOutput,
    acker: &Acker,
) {
    let id = job.job.id;
    let mut lease = context.lease().await;
    let quota = EntryQuota::at_most(job.envelope.repository_max_entries);
    let JobOutput {
        mut result,
        info,
        publish,
    } = output;
    let committed = async {
        let mut tx = runtime.pool.begin().await?;
        crash_point(CrashPoint::TransactionBegan);
        // Published first: a refusal (the repository's quota) must leave the lease untouched
        // for the failure that follows (and rolls the flist row back with the rest).
        if let Some(publication) = &publish {
            let flist_id = match &publication.flist {
                PublishedFlist::Existing(flist_id) => *flist_id,
                PublishedFlist::Staged(new) => {
                    let row = flists::insert_or_get(&mut *tx, new).await?;
                    crash_point(CrashPoint::FlistRowInserted);
                    hub_model::result::set_flist_id(&mut result, row.id);
                    row.id
                }
            };
            entries::publish_flist(
                &mut tx,
                &publication.repository,
                &publication.name,
                flist_id,
                quota,
            )
            .await?;
        }
        let info = NewEvent::info(None, info);
        let (row, events) = lease.succeed(&mut tx, &result, info).await?;
        crash_point(CrashPoint::BeforeCommit);
        tx.commit().await?;
        crash_point(CrashPoint::AfterCommit);
        Ok::<_, DbError>((row, events))
    }
    .await;
    drop(lease);
    match committed {
        Err(refused @ DbError::QuotaExceeded { .. }) => {
            let error = JobError::invalid_as(FailureCode::QuotaExceeded, refused.to_string());
            fail(runtime, context, job, error, acker).await;
        }
        Ok((row, events)) => {
            tracing::info!(job = %id, "job succeeded");
            runtime.publisher.publish(&events).await;
            runtime.delete_staged(&job.envelope, row.state).await;
            settle(acker, AckKind::Ack).await;
        }
        // Cancelled or taken over while finishing: nothing was published.
        Err(DbError::Stale) => stopped(runtime, job, acker).await,
        Err(err) => {
            tracing::warn!(job = %id, %err, "cannot record the job's success");
            let delay = runtime.config.retry_delay(context.attempt());
            settle(acker, AckKind::Nak(Some(delay))).await;
        }
    }
}

/// Hand the job back without spending its attempt: redelivered after `delay` (at once when
/// `None`). `Err` when the database refused the write; the message is then left unsettled.
async fn release<H: JobHandler>(
    runtime: &Runtime<H>,
    context: &JobContext,
    reason: &str,
    delay: Option<Duration>,
    acker: &Acker,
) -> Result<(), DbError> {
    let released = context.lease().await.release(&runtime.pool, reason).await;
    match released {
        Ok((_, events)) => {
            tracing::info!(job = %context.job_id(), reason, "job handed back");
            runtime.publisher.publish(&events).await;
            settle(acker, AckKind::Nak(delay)).await;
            Ok(())
        }
        // Not ours anymore; whoever has it owns its message too.
        Err(DbError::Stale) => {
            settle(acker, AckKind::Ack).await;
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// The job failed because a dependency is down (`reason`): hand it back without spending its
/// attempt. When the database is the one down, the hand-back itself waits for it (keeping the
/// message with in-progress acks) for at most `outage_max`, so that the job is not taken over
/// as a stale one, which would spend an attempt.
async fn hand_back<H: JobHandler>(
    runtime: &Runtime<H>,
    context: &JobContext,
    reason: &str,
    acker: &Acker,
) {
    let message = format!("queued again: waiting for an unavailable dependency ({reason})");
    let interval = runtime.config.outage_probe_interval;
    let started = Instant::now();
    loop {
        let Err(err) = release(runtime, context, &message, Some(interval), acker).await else {
            return;
        };
        if started.elapsed() > runtime.dependencies.outage_max() {
            // Redelivered after `ack_wait`, and taken over once the heartbeat is stale.
            tracing::warn!(job = %context.job_id(), %err, "cannot hand the job back; giving up");
            return;
        }
        tracing::debug!(job = %context.job_id(), %err, "cannot hand the job back yet");
        if let Err(err) = acker.ack_with(AckKind::Progress).await {
            tracing::debug!(job = %context.job_id(), %err, "in-progress ack failed");
        }
        tokio::time::sleep(interval).await;
    }
}

/// The job was cancelled or taken away: it is someone else's to record; drop the message
/// (a re-queued job has a message of its own) and, if cancelled, its upload.
async fn stopped<H: JobHandler>(runtime: &Runtime<H>, job: &ClaimedJob, acker: &Acker) {
    let state = jobs::get(&runtime.pool, job.job.id)
        .await
        .map(|job| job.state);
    tracing::info!(job = %job.job.id, ?state, "job stopped");
    if let Ok(state) = state {
        runtime.delete_staged(&job.envelope, state).await;
    }
    settle(acker, AckKind::Ack).await;
}

/// A message that is not a job envelope of this worker's kind: fail its job if the message id
/// names one.
async fn reject_undecodable<H: JobHandler>(
    runtime: &Runtime<H>,
    message: &async_nats::Message,
    reason: &str,
) {
    tracing::error!(subject = %message.subject, reason, "undecodable job message");
    let id = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get(async_nats::header::NATS_MESSAGE_ID))
        .and_then(|value| value.as_str().split(':').next().map(str::to_owned))
        .and_then(|id| Uuid::try_parse(&id).ok());
    if let Some(id) = id {
        let failure = JobFailure::new(FailureCode::InvalidPayload, reason);
        match jobs::abort(&runtime.pool, id, &failure).await {
            Ok((_, events)) => runtime.publisher.publish(&events).await,
            Err(err) => tracing::warn!(job = %id, %err, "cannot fail the undecodable job"),
        }
    }
}

/// Acknowledge (positively, negatively or terminally) and wait for the server to confirm, so a
/// lost acknowledgement shows in the logs.
async fn settle(acker: &Acker, kind: AckKind) {
    let result = match kind {
        // The server does not confirm naks; they only schedule a redelivery.
        AckKind::Nak(_) => acker.ack_with(kind).await,
        kind => acker.double_ack_with(kind).await,
    };
    if let Err(err) = result {
        tracing::warn!(%err, "job message acknowledgement failed");
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("the job handler panicked: {detail}")
}

impl<H: JobHandler> Runtime<H> {
    /// Delete the job's staged upload once the job is over (kept for retries otherwise).
    async fn delete_staged(&self, envelope: &JobEnvelope, state: JobState) {
        if !state.is_terminal() {
            return;
        }
        self.staging.discard_upload_of(envelope).await;
    }
}
