//! Reading, following and cancelling jobs.
//!
//! A caller sees a job it submitted, or one publishing into any repository it may act as
//! (organisation members see their organisation's jobs). Anyone else is told `job id not
//! found`, the same answer as for a job that does not exist, so ids of other users' jobs
//! cannot be probed. The same rule allows cancelling.

pub mod cache;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hub_auth::Identity;
use hub_db::events::EventKind;
use hub_db::jobs::{self, Job, JobCursor, JobFilter, JobKind, JobPage, JobState};
use uuid::Uuid;

pub use self::cache::JobCache;
use hub_db::Missing;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::state::AppState;

/// Page size of a job listing without a limit, and the largest one allowed.
pub const DEFAULT_PAGE: u32 = 20;
/// The largest page of a job listing.
pub const MAX_PAGE: u32 = 100;

/// The job `id` if `identity` may see it, else `404 job id not found`. Served from
/// [`JobCache`] when it can.
pub async fn visible_job(state: &AppState, identity: &Identity, id: &str) -> ApiResult<Job> {
    let id = parse_id(id)?;
    let job = state
        .job_cache
        .get_or_load(id, || jobs::get(&state.pool, id))
        .await?;
    if may_see(identity, &job) {
        Ok(Job::clone(&job))
    } else {
        Err(not_found())
    }
}

/// Whether `identity` submitted `job` or may act as the repository it publishes into.
pub fn may_see(identity: &Identity, job: &Job) -> bool {
    job.owner == identity.username || identity.accounts.contains(&job.repository)
}

/// A job id from a path: anything but a UUID is an unknown job.
pub fn parse_id(id: &str) -> ApiResult<Uuid> {
    Uuid::try_parse(id).map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::new(ErrorKind::Missing(Missing::Job))
}

/// Wait until `job` changes state (or `wait` passes, capped by `gateway.max_long_poll`), then
/// read it again.
pub async fn long_poll(state: &AppState, job: Job, wait: Duration) -> ApiResult<Job> {
    let wait = wait.min(state.config.gateway.max_long_poll);
    if job.state.is_terminal() || wait.is_zero() {
        return Ok(job);
    }
    let mut events = state.events.follow(job.id, job.last_event_seq);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(event))) if event.kind == EventKind::State => break,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return Err(error.into()),
            // The stream ended (the job finished) or the wait is over.
            Ok(None) | Err(_) => break,
        }
    }
    Ok(jobs::get(&state.pool, job.id).await?)
}

/// `/api/jobs/<id>`: where a job is followed (the `Location` of every answer about it).
pub fn job_path(id: Uuid) -> String {
    format!("/api/jobs/{id}")
}

/// Which jobs a listing shows.
#[derive(Debug, Default)]
pub struct JobQuery {
    /// Only jobs in these states (all when empty).
    pub states: Vec<JobState>,
    /// Only jobs of these kinds (all when empty).
    pub kinds: Vec<JobKind>,
    /// A repository the caller may act as, instead of the caller's own jobs.
    pub repository: Option<String>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
    /// Page size; [`DEFAULT_PAGE`] when absent, at most [`MAX_PAGE`].
    pub limit: Option<u32>,
}

/// One page of a job listing, and the page size it was read with.
#[derive(Debug)]
pub struct Listed {
    /// The jobs and the cursor of the next page.
    pub page: JobPage,
    /// The page size used.
    pub limit: u32,
}

/// The caller's jobs, or those of a repository it may act as, newest first.
pub async fn list(state: &AppState, identity: &Identity, query: JobQuery) -> ApiResult<Listed> {
    let mut filter = JobFilter {
        states: query.states,
        kinds: query.kinds,
        ..JobFilter::default()
    };
    match query.repository {
        Some(repository) if identity.accounts.contains(&repository) => {
            filter.repository = Some(repository);
        }
        Some(repository) => {
            return Err(ErrorKind::NotYourRepository { repository }.into());
        }
        None => filter.owner = Some(identity.username.clone()),
    }
    let cursor = query
        .cursor
        .as_deref()
        .filter(|cursor| !cursor.is_empty())
        .map(str::parse::<JobCursor>)
        .transpose()
        .map_err(|_| ErrorKind::InvalidCursor)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let page = jobs::list(&state.pool, &filter, cursor, limit).await?;
    Ok(Listed { page, limit })
}

/// Cancel the job `id` for `identity`; `409 job already finished` when it ended.
pub async fn cancel(state: &AppState, identity: &Identity, id: &str) -> ApiResult<Job> {
    let job = visible_job(state, identity, id).await?;
    let reason = format!("cancelled by {}", identity.username);
    let cancelled = state.jobs.cancel(job.id, &reason).await?;
    // This replica shows the cancellation at once, before its event comes back.
    state.job_cache.remember(Arc::new(cancelled.job.clone()));
    Ok(cancelled.job)
}
