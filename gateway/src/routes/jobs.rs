//! The job API (`/api/jobs…`) and the original progress stream `/listen/{jobid}` (hub-api
//! section 9).
//!
//! Access rules:
//! * `/api/jobs…` require authentication. A caller sees a job it submitted, or one publishing
//!   into any repository it may act as (organisation members see their organisation's jobs).
//!   Anyone else gets `404 job id not found`, the same answer as for a job that does not exist,
//!   so ids of other users' jobs cannot be probed. The same rule allows `DELETE`.
//! * `/listen/{jobid}` stays anonymous, like the original's: job ids are random UUIDv4s (122
//!   random bits) handed only to the submitter, and the stream shows progress messages only.

mod cache;
mod events;
pub mod legacy;
mod listen;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, http::HeaderMap};
use futures::StreamExt;
use hub_auth::Identity;
use hub_db::events::EventKind;
use hub_db::jobs::{self, Job, JobCursor, JobFilter};
use serde::Deserialize;
use uuid::Uuid;

pub use self::cache::JobCache;
use self::view::{JobPageView, JobView};
use super::submit::{self, Reply};
use super::submit_docker::{self, DockerRequest};
use super::submit_merge;
use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::state::AppState;

/// Page size of `GET /api/jobs` without `limit`, and the largest one allowed.
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", get(list).post(create))
        .route("/api/jobs/{id}", get(show).delete(cancel))
        .route("/api/jobs/{id}/events", get(events::stream))
        .route("/listen/{jobid}", get(listen::listen))
}

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
    ApiError::not_found("job id not found")
}

/// `?wait=` of `GET /api/jobs/{id}`.
#[derive(Debug, Deserialize)]
struct ShowQuery {
    /// Long poll: answer when the job changes state or finishes, at the latest after this long
    /// (`30s`, `2m`; capped by `gateway.max_long_poll`).
    wait: Option<String>,
}

/// `GET /api/jobs/{id}`.
async fn show(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> ApiResult<Response> {
    let job = visible_job(&state, &identity, &id).await?;
    let job = match query.wait.as_deref() {
        Some(wait) => {
            let wait = humantime::parse_duration(wait.trim()).map_err(|_| {
                ApiError::bad_request(format!("invalid wait `{wait}` (e.g. 30s)"))
                    .with_code("invalid_wait")
            })?;
            long_poll(&state, job, wait.min(state.config.gateway.max_long_poll)).await?
        }
        None => job,
    };
    Ok(Json(JobView::of(&job)).into_response())
}

/// Wait until `job` changes state (or `wait` passes), then read it again.
async fn long_poll(state: &AppState, job: Job, wait: Duration) -> ApiResult<Job> {
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

/// `GET /api/jobs` query.
#[derive(Debug, Deserialize)]
struct ListQuery {
    /// Comma-separated states.
    state: Option<String>,
    /// Comma-separated kinds.
    kind: Option<String>,
    /// Page size (1–100, default 20).
    limit: Option<u32>,
    /// `next` of the previous page.
    cursor: Option<String>,
    /// List this repository's jobs instead of the caller's (it must be one of the caller's
    /// accounts).
    repository: Option<String>,
}

/// `GET /api/jobs`: the caller's jobs, or a repository's it may act as, newest first.
async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let mut filter = JobFilter {
        states: parse_list(query.state.as_deref(), "state")?,
        kinds: parse_list(query.kind.as_deref(), "kind")?,
        ..JobFilter::default()
    };
    match query.repository {
        Some(repository) if identity.accounts.contains(&repository) => {
            filter.repository = Some(repository);
        }
        Some(repository) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("you may not act as `{repository}`"),
            )
            .with_code("forbidden"));
        }
        None => filter.owner = Some(identity.username.clone()),
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(str::parse::<JobCursor>)
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid cursor").with_code("invalid_cursor"))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let page = jobs::list(&state.pool, &filter, cursor, limit).await?;
    Ok(Json(JobPageView {
        results: page.jobs.iter().map(JobView::of).collect(),
        limit,
        next: page.next.map(|cursor| cursor.to_string()),
    })
    .into_response())
}

fn parse_list<T: std::str::FromStr>(text: Option<&str>, what: &str) -> ApiResult<Vec<T>> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid {what} `{item}`"))
                    .with_code("invalid_filter")
            })
        })
        .collect()
}

/// `DELETE /api/jobs/{id}`: cancel; `409` when the job already finished.
async fn cancel(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = visible_job(&state, &identity, &id).await?;
    let reason = format!("cancelled by {}", identity.username);
    let cancelled = state.jobs.cancel(job.id, &reason).await?;
    // This replica shows the cancellation at once, before its event comes back.
    state.job_cache.remember(Arc::new(cancelled.job.clone()));
    Ok(Json(JobView::of(&cancelled.job)).into_response())
}

/// Body of `POST /api/jobs`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum NewJob {
    /// Convert a container image.
    Docker {
        image: String,
        #[serde(default)]
        platform: String,
        username: Option<String>,
        password: Option<String>,
        format: Option<String>,
    },
    /// Merge flists.
    Merge {
        sources: Vec<String>,
        target: String,
        mode: Option<String>,
        format: Option<String>,
    },
}

/// `POST /api/jobs`: submit a docker conversion or a merge as JSON; always asynchronous
/// (`202` with the job and its `Location`). Uploads go through the multipart routes with
/// `Prefer: respond-async`.
async fn create(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let submitted = async {
        let request: NewJob = serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request(format!("malformed json request: {error}"))
                .with_code("invalid_request")
        })?;
        let key = submit::idempotency_key(&headers)?;
        match request {
            NewJob::Docker {
                image,
                platform,
                username,
                password,
                format,
            } => {
                let mut fields = std::collections::HashMap::from([
                    ("image".to_owned(), image),
                    ("platform".to_owned(), platform),
                ]);
                fields.extend(username.map(|u| ("username".to_owned(), u)));
                fields.extend(password.map(|p| ("password".to_owned(), p)));
                fields.extend(format.map(|f| ("format".to_owned(), f)));
                let request = DockerRequest::from_fields(fields)?;
                submit_docker::queue_docker(&state, &identity, request, key).await
            }
            NewJob::Merge {
                sources,
                target,
                mode,
                format,
            } => {
                let request =
                    submit_merge::validate(&state, sources, &target, mode.as_deref()).await?;
                submit_merge::queue_merge(&state, &identity, request, format.as_deref(), key).await
            }
        }
    }
    .await;
    submit::answer_submitted(&state, submitted, Reply::Async).await
}
