//! Submitting jobs, for every front door that starts one: the original hub's synchronous
//! routes, `POST /api/jobs`, the website's forms and gRPC.
//!
//! A submission goes through three steps so that uploads can be refused before their bytes are
//! read:
//!
//! 1. [`begin`]: an `Idempotency-Key` already used by the caller designates the earlier job;
//!    otherwise the queue must be below `limits.max_queued_jobs` (`503 hub_busy` with
//!    `Retry-After`, see [`crate::backpressure`]), then a job id is drawn and a concurrent-job
//!    slot taken (`429` when none is left).
//! 2. [`queue`]: the repository quota is checked (`403 quota_exceeded`), the job recorded in
//!    PostgreSQL and queued on JetStream.
//! 3. [`wait`] (synchronous callers only): the job's final state, or the job still running when
//!    `gateway.sync_timeout` passes first.

pub mod docker;
pub mod merge;
pub mod upload;

use hub_auth::Identity;
use hub_db::jobs::{self, Job};
use hub_jobs::{JobEnvelope, Submission};
use hub_model::Format;
use hub_proto::v1::FlistFormat;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::limits::{self, JobSlot};
use crate::state::AppState;

/// Outcome of [`begin`].
#[derive(Debug)]
pub enum Begun {
    /// The caller's `Idempotency-Key` designates this earlier job: answer with it.
    Existing(Box<Job>),
    /// A new job may be submitted under this ticket.
    New(Ticket),
}

/// The right to queue one new job: its id and the caller's concurrent-job slot.
#[derive(Debug)]
pub struct Ticket {
    slot: JobSlot,
    idempotency_key: Option<String>,
}

impl Ticket {
    /// The id the new job gets (also the name of its staged upload).
    pub fn job_id(&self) -> Uuid {
        self.slot.job_id()
    }

    /// Give the ticket back without queuing anything (the request failed).
    pub async fn abandon(self, state: &AppState) {
        self.slot.release(state).await;
    }
}

/// Step 1: find the job an `Idempotency-Key` designates, or take a slot for a new one.
pub async fn begin(
    state: &AppState,
    identity: &Identity,
    idempotency_key: Option<String>,
) -> ApiResult<Begun> {
    if let Some(key) = &idempotency_key
        && let Some(job) =
            jobs::find_by_idempotency_key(&state.pool, &identity.username, key).await?
    {
        return Ok(Begun::Existing(Box::new(job)));
    }
    // Only new jobs meet the back-pressure: a retry naming an earlier job adds nothing.
    crate::backpressure::check_queue_depth(state).await?;
    let slot = limits::acquire_job_slot(state, identity, Uuid::new_v4()).await?;
    Ok(Begun::New(Ticket {
        slot,
        idempotency_key,
    }))
}

/// An envelope for `identity`'s new job publishing `target_name` in its current repository;
/// the caller sets the payload.
pub fn envelope(
    state: &AppState,
    ticket: &Ticket,
    identity: &Identity,
    target_name: String,
    format: Format,
) -> JobEnvelope {
    JobEnvelope {
        job_id: ticket.job_id().to_string(),
        owner: identity.username.clone(),
        repository: identity.user.clone(),
        target_name,
        format: FlistFormat::from(format) as i32,
        repository_max_entries: state.config.limits.repository_max_entries,
        payload: None,
    }
}

/// A job just queued, with the slot it holds (`None` when an idempotent retry found an
/// earlier job, which holds its own).
#[derive(Debug)]
pub struct Queued {
    /// The job.
    pub job: Job,
    /// The caller's slot for it.
    pub slot: Option<JobSlot>,
}

/// Step 2: check the quota, then record and queue `envelope` under `ticket`. The ticket is
/// given back on every error.
pub async fn queue(state: &AppState, ticket: Ticket, envelope: JobEnvelope) -> ApiResult<Queued> {
    if let Err(refused) =
        limits::check_repository_quota(state, &envelope.repository, &envelope.target_name).await
    {
        ticket.abandon(state).await;
        return Err(refused);
    }
    let submission = Submission {
        envelope,
        idempotency_key: ticket.idempotency_key.clone(),
    };
    match state.jobs.submit(submission).await {
        Ok(created) if created.created => {
            let mut slot = ticket.slot;
            slot.queued(state).await;
            Ok(Queued {
                job: created.job,
                slot: Some(slot),
            })
        }
        Ok(created) => {
            // A concurrent request with the same key won the race.
            ticket.abandon(state).await;
            Ok(Queued {
                job: created.job,
                slot: None,
            })
        }
        Err(error) => {
            ticket.abandon(state).await;
            Err(error.into())
        }
    }
}

/// What a submission produced.
#[derive(Debug)]
pub enum Submitted {
    /// A new job, queued.
    Queued(Queued),
    /// The job the caller's `Idempotency-Key` designates (nothing new was queued).
    Existing(Job),
}

impl Submitted {
    /// The job.
    pub fn job(&self) -> &Job {
        match self {
            Self::Queued(queued) => &queued.job,
            Self::Existing(job) => job,
        }
    }
}

/// Steps 1 and 2 for a job whose payload needs no upload: `make` builds the envelope once the
/// ticket's job id is known.
pub async fn submit_job(
    state: &AppState,
    identity: &Identity,
    idempotency_key: Option<String>,
    make: impl FnOnce(&Ticket) -> JobEnvelope,
) -> ApiResult<Submitted> {
    let ticket = match begin(state, identity, idempotency_key).await? {
        Begun::Existing(job) => return Ok(Submitted::Existing(*job)),
        Begun::New(ticket) => ticket,
    };
    let envelope = make(&ticket);
    queue(state, ticket, envelope).await.map(Submitted::Queued)
}

/// How a synchronous wait for a job ended.
#[derive(Debug)]
pub enum Waited {
    /// The job reached a final state (succeeded, failed or cancelled).
    Finished(Job),
    /// `gateway.sync_timeout` passed first: the job keeps running, and its slot.
    StillRunning(Job),
}

/// Step 3: wait for the job of `submitted` to finish, at most `gateway.sync_timeout`. The
/// caller's slot is given back once the job finished.
pub async fn wait(state: &AppState, submitted: Submitted) -> ApiResult<Waited> {
    let (job, slot) = match submitted {
        Submitted::Queued(Queued { job, slot }) => (job, slot),
        Submitted::Existing(job) => (job, None),
    };
    // `wait_for_completion` registers for live events before it reads the job, so a job that
    // finished before this call is still seen.
    let job = state
        .events
        .wait_for_completion(job.id, state.config.gateway.sync_timeout)
        .await?;
    if !job.state.is_terminal() {
        return Ok(Waited::StillRunning(job));
    }
    if let Some(slot) = slot {
        slot.release(state).await;
    }
    Ok(Waited::Finished(job))
}

/// The output format a request names in text (`flist` or `fl`, a form field or a query
/// parameter); `None` when absent or empty.
pub fn asked_format(text: Option<&str>) -> ApiResult<Option<Format>> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) => Ok(Some(text.parse()?)),
        None => Ok(None),
    }
}

/// The output format: the one asked for, else the one a `.fl`/`.flist` name implies, else
/// `publish.default_format`.
pub fn output_format(state: &AppState, asked: Option<Format>, name_hint: Option<&str>) -> Format {
    asked
        .or_else(|| name_hint.and_then(Format::of_suffix))
        .unwrap_or(state.config.publish.default_format)
}
