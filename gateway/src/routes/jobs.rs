//! The job API (`/api/jobs…`) and the original progress stream `/listen/{jobid}` (hub-api
//! hub-api §9).
//!
//! Access rules:
//! * `/api/jobs…` require authentication. A caller sees a job it submitted, or one publishing
//!   into any repository it may act as (organisation members see their organisation's jobs).
//!   Anyone else gets `404 job id not found`, the same answer as for a job that does not exist,
//!   so ids of other users' jobs cannot be probed. The same rule allows `DELETE`.
//! * `/listen/{jobid}` stays anonymous, like the original's: job ids are random UUIDv4s (122
//!   random bits) handed only to the submitter, and the stream shows progress messages only.

pub(crate) mod events;
pub mod legacy;
pub(crate) mod listen;
pub mod view;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, http::HeaderMap};

use hub_model::MergeMode;
use serde::Deserialize;

use self::view::{JobPageView, JobSummary, JobView};
use super::answer::{Reply, answer};
use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Body, Caller, Path, Query, idempotency_key};
use crate::service::jobs::{self, JobQuery, Listed};
use crate::service::submit::{self, docker::DockerRequest};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", get(list).post(create))
        .route("/api/jobs/{id}", get(show).delete(cancel))
        .route("/api/jobs/{id}/events", get(events::stream))
        .route("/listen/{jobid}", get(listen::listen))
}

/// `?wait=` of `GET /api/jobs/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ShowQuery {
    /// Long poll: answer when the job changes state or finishes, at the latest after this long
    /// (`30s`, `2m`; capped by `gateway.max_long_poll`).
    wait: Option<String>,
}

/// `GET /api/jobs/{id}`.
#[utoipa::path(
    get,
    path = "/api/jobs/{id}",
    tag = "jobs",
    summary = "One job; `?wait=30s` long-polls until its next state change",
    security(("bearer" = [])),
    params(ShowQuery),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 429, response = responses::TooManyRequests),
    ),
)]
async fn show(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> ApiResult<Response> {
    let job = jobs::visible_job(&state, &identity, &id).await?;
    let job = match query.wait.as_deref() {
        Some(wait) => {
            let wait =
                humantime::parse_duration(wait.trim()).map_err(|_| ErrorKind::InvalidWait {
                    value: wait.to_owned(),
                })?;
            jobs::long_poll(&state, job, wait).await?
        }
        None => job,
    };
    Ok(Json(JobView::of(&job)).into_response())
}

/// `GET /api/jobs` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Comma-separated states.
    #[param(example = "queued,running")]
    state: Option<String>,
    /// Comma-separated kinds.
    #[param(example = "docker,merge")]
    kind: Option<String>,
    /// Page size (1–100, default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next` of the previous page.
    cursor: Option<String>,
    /// List this repository's jobs instead of the caller's (it must be one of the caller's
    /// accounts).
    repository: Option<String>,
}

/// `GET /api/jobs`: the caller's jobs, or a repository's it may act as, newest first.
#[utoipa::path(
    get,
    path = "/api/jobs",
    tag = "jobs",
    summary = "The caller's jobs (or a repository's), newest first",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPageView),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 429, response = responses::TooManyRequests),
    ),
)]
async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let query = JobQuery {
        states: parse_list(query.state.as_deref(), "state")?,
        kinds: parse_list(query.kind.as_deref(), "kind")?,
        repository: query.repository,
        cursor: query.cursor,
        limit: query.limit,
    };
    let Listed { page, limit } = jobs::list(&state, &identity, query).await?;
    Ok(Json(JobPageView {
        results: page.jobs.iter().map(JobView::of).collect(),
        limit,
        next: page.next.map(|cursor| cursor.to_string()),
    })
    .into_response())
}

fn parse_list<T: std::str::FromStr>(text: Option<&str>, what: &'static str) -> ApiResult<Vec<T>> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse().map_err(|_| {
                ApiError::new(ErrorKind::InvalidFilter {
                    what,
                    value: item.to_owned(),
                })
            })
        })
        .collect()
}

/// `DELETE /api/jobs/{id}`: cancel; `409` when the job already finished.
#[utoipa::path(
    delete,
    path = "/api/jobs/{id}",
    tag = "jobs",
    summary = "Cancel a job",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled job", body = JobView),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    ),
)]
async fn cancel(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let cancelled = jobs::cancel(&state, &identity, &id).await?;
    Ok(Json(JobView::of(&cancelled)).into_response())
}

/// Body of `POST /api/jobs`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum NewJob {
    /// Convert a container image.
    Docker {
        /// Image reference, e.g. `alpine:3.20`.
        image: String,
        /// Platform of a multi-architecture image, e.g. `linux/arm64`.
        #[serde(default)]
        platform: String,
        /// Registry user (with `password`).
        username: Option<String>,
        /// Registry password or token (with `username`).
        password: Option<String>,
        /// Output format (default: the hub's).
        #[schema(value_type = Option<hub_model::Format>)]
        format: Option<String>,
    },
    /// Merge flists.
    Merge {
        /// The flists, as `repo/name`, in order.
        sources: Vec<String>,
        /// Name of the merged flist.
        target: String,
        /// How the sources are combined (default `union`).
        #[schema(value_type = Option<MergeMode>)]
        mode: Option<String>,
        /// Output format (default: the hub's).
        #[schema(value_type = Option<hub_model::Format>)]
        format: Option<String>,
    },
}

/// `POST /api/jobs`: submit a docker conversion or a merge as JSON; always asynchronous
/// (`202` with the job and its `Location`). Uploads go through the multipart routes with
/// `Prefer: respond-async`.
#[utoipa::path(
    post,
    path = "/api/jobs",
    tag = "jobs",
    summary = "Submit a docker conversion or a merge as JSON (always asynchronous)",
    security(("bearer" = [])),
    params(
        (
            "Idempotency-Key" = Option<String>,
            Header,
            nullable = false,
            description = "A key the caller already used answers with that earlier job instead \
                           of queuing a new one",
        ),
    ),
    request_body = NewJob,
    responses(
        (
            status = 202,
            description = "Accepted: follow the job at `Location`",
            body = JobSummary,
            headers(("Location" = String, description = "The job: `/api/jobs/<id>`")),
        ),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 404, response = responses::NotFound),
        (status = 429, response = responses::TooManyRequests),
    ),
)]
async fn create(
    State(state): State<AppState>,
    Caller(identity): Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let submitted = async {
        let request: NewJob =
            serde_json::from_slice(&body).map_err(|error| ErrorKind::InvalidJobRequest {
                detail: error.to_string(),
            })?;
        let key = idempotency_key(&headers)?;
        match request {
            NewJob::Docker {
                image,
                platform,
                username,
                password,
                format,
            } => {
                let format = submit::asked_format(format.as_deref())?;
                let request = DockerRequest::new(image, platform, username, password, format)?;
                submit::docker::queue(&state, &identity, request, key).await
            }
            NewJob::Merge {
                sources,
                target,
                mode,
                format,
            } => {
                let mode = MergeMode::from_request(mode.as_deref().map(str::trim));
                let request = submit::merge::validate(&state, sources, &target, mode).await?;
                let format = submit::asked_format(format.as_deref())?;
                submit::merge::queue(&state, &identity, request, format, key).await
            }
        }
    }
    .await;
    answer(&state, submitted, Reply::Async).await
}
