//! Job submission shared by every route that starts a job: the original hub's synchronous
//! routes (`/api/flist/me/upload`, `/upload-flist`, `/merge/{target}`, `/docker`, the web form
//! `POST /upload`), the new `POST /api/jobs` and the gRPC service.
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
//! 3. [`answer`]: `202` with the job at once (`Prefer: respond-async`), or the original's
//!    synchronous contract: wait for the job's final event, then `200` with the original JSON
//!    shape, the failure's catalogue error, or `504` with the job id when `gateway.sync_timeout`
//!    passes first.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use hub_auth::Identity;
use hub_db::jobs::{self, Job};
use hub_jobs::{JobEnvelope, Submission};
use hub_model::Format;
use hub_proto::v1::FlistFormat;
use uuid::Uuid;

use super::{submit_docker, submit_merge, submit_reply, submit_upload};
use crate::error::{ApiError, ApiResult};
use crate::limits::{self, JobSlot};
use crate::state::AppState;

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Routes of the original hub that submit jobs.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/flist/me/upload",
            // The upload limit is enforced while streaming (`limits.upload_max_bytes`), not by
            // axum's 2 MB default.
            post(submit_upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/flist/me/upload-flist",
            post(submit_upload::upload_flist).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/flist/me/merge",
            post(submit_merge::merge_without_target),
        )
        .route("/api/flist/me/merge/{target}", post(submit_merge::merge))
        .route("/api/flist/me/docker", post(submit_docker::docker))
        .route(
            "/upload",
            post(submit_upload::web_upload).layer(DefaultBodyLimit::disable()),
        )
}

/// How the caller wants to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Wait for the job and answer with its outcome (the original hub's routes).
    Sync,
    /// Answer `202` with the job at once.
    Async,
}

impl Reply {
    /// `Async` when the client sent `Prefer: respond-async`.
    pub fn preferring(respond_async: bool) -> Self {
        if respond_async {
            Self::Async
        } else {
            Self::Sync
        }
    }
}

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

/// Step 3: the answer to a submission of `job`.
pub async fn answer(state: &AppState, queued: Queued, reply: Reply) -> Response {
    let Queued { job, slot } = queued;
    if reply == Reply::Async {
        return submit_reply::accepted(&job);
    }
    // `wait_for_completion` registers for live events before it reads the job, so a job that
    // finished before this call is still seen.
    let waited = state
        .events
        .wait_for_completion(job.id, state.config.gateway.sync_timeout)
        .await;
    let job = match waited {
        Ok(job) => job,
        Err(error) => return ApiError::from(error).into_response_for(job.id),
    };
    if !job.state.is_terminal() {
        return submit_reply::still_running(&job);
    }
    if let Some(slot) = slot {
        slot.release(state).await;
    }
    submit_reply::outcome(state, &job).await
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

/// [`answer`] for any submission outcome, or the error that stopped it.
pub async fn answer_submitted(
    state: &AppState,
    submitted: ApiResult<Submitted>,
    reply: Reply,
) -> Response {
    match submitted {
        Ok(Submitted::Queued(queued)) => answer(state, queued, reply).await,
        Ok(Submitted::Existing(job)) => {
            let queued = Queued { job, slot: None };
            answer(state, queued, reply).await
        }
        Err(error) => axum::response::IntoResponse::into_response(error),
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

/// The `Idempotency-Key` header: a printable ASCII string of at most 255 characters.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_IDEMPOTENCY_KEY
                && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .ok_or_else(|| {
            ApiError::bad_request("invalid Idempotency-Key (1 to 255 printable ASCII characters)")
                .with_code("invalid_idempotency_key")
        })?;
    Ok(Some(key.to_owned()))
}

/// The output format asked for (`format=flist|fl`), else the one a `.fl`/`.flist` name
/// implies, else `publish.default_format`.
pub fn output_format(
    state: &AppState,
    asked: Option<&str>,
    name_hint: Option<&str>,
) -> ApiResult<Format> {
    match asked.map(str::trim).filter(|asked| !asked.is_empty()) {
        Some(asked) => asked.parse().map_err(|unknown: hub_model::UnknownFormat| {
            ApiError::bad_request(unknown.to_string()).with_code("invalid_format")
        }),
        None => Ok(name_hint
            .and_then(Format::of_suffix)
            .unwrap_or(state.config.publish.default_format)),
    }
}

/// Render an error for a request about job `id`, pointing at the job.
trait IntoResponseFor {
    fn into_response_for(self, id: Uuid) -> Response;
}

impl IntoResponseFor for ApiError {
    fn into_response_for(self, id: Uuid) -> Response {
        submit_reply::with_location(axum::response::IntoResponse::into_response(self), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_checked() {
        let mut headers = HeaderMap::new();
        assert!(matches!(idempotency_key(&headers), Ok(None)));
        headers.insert("idempotency-key", "abc-123".parse().expect("header"));
        assert_eq!(
            idempotency_key(&headers).ok().flatten().as_deref(),
            Some("abc-123")
        );
        headers.insert("idempotency-key", "x".repeat(300).parse().expect("header"));
        assert!(idempotency_key(&headers).is_err());
    }
}
