//! The HTTP answers to a submission: `202` with the job (`Prefer: respond-async`, the job
//! API), or the original's synchronous contract: wait for the job's final event, then `200`
//! with the original hub's success body, the catalogue error the failure maps to, or `504`
//! with the job id when `gateway.sync_timeout` passes first.
//!
//! Every answer about a job carries `Location: /api/jobs/<id>`, so a client can always find the
//! job again, and failures carry the job's stable error `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_db::jobs::{Job, JobKind, JobState};
use hub_model::ResultSummary;
use serde::Serialize;
use uuid::Uuid;

use super::jobs::legacy::{Files, Stats};
use super::jobs::view::JobSummary;
use crate::error::{ApiError, ApiResult, ErrorKind, job_failed};
use crate::pyjson::{self, PyJson};
use crate::service::jobs::job_path;
use crate::service::submit::{self, Submitted, Waited};
use crate::state::AppState;

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

/// The answer to a submission, or to the error that stopped it.
pub async fn answer(state: &AppState, submitted: ApiResult<Submitted>, reply: Reply) -> Response {
    let submitted = match submitted {
        Ok(submitted) => submitted,
        Err(error) => return error.into_response(),
    };
    let id = submitted.job().id;
    if reply == Reply::Async {
        return accepted(submitted.job());
    }
    match submit::wait(state, submitted).await {
        Ok(Waited::Finished(job)) => outcome(state, &job).await,
        Ok(Waited::StillRunning(job)) => still_running(&job),
        Err(error) => with_location(error.into_response(), id),
    }
}

/// `Location: /api/jobs/<id>` added to `response`.
pub fn with_location(mut response: Response, id: Uuid) -> Response {
    if let Ok(location) = HeaderValue::from_str(&job_path(id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `202 Accepted` with the job's summary.
pub fn accepted(job: &Job) -> Response {
    with_location(
        (StatusCode::ACCEPTED, axum::Json(JobSummary::of(job))).into_response(),
        job.id,
    )
}

/// `504`: the catalogue's error body, plus the job that still runs.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StillRunning<'a> {
    #[schema(schema_with = crate::schemas::fields::error)]
    status: &'static str,
    /// The catalogue's message, naming where to follow the job.
    message: String,
    /// `job_pending`.
    code: &'static str,
    /// The job.
    job: Uuid,
    /// Its state.
    #[schema(value_type = hub_model::JobState)]
    state: &'a str,
}

/// `504`: the synchronous wait ended before the job did; the job keeps running.
fn still_running(job: &Job) -> Response {
    let pending = ErrorKind::JobPending {
        state: job.state.to_string(),
        path: job_path(job.id),
    };
    // The catalogue's error body, plus the job and its state.
    let body = StillRunning {
        status: "error",
        message: pending.to_string(),
        code: pending.code(),
        job: job.id,
        state: job.state.as_str(),
    };
    with_location((pending.status(), PyJson(body)).into_response(), job.id)
}

/// The answer of a synchronous route for the finished `job`.
async fn outcome(state: &AppState, job: &Job) -> Response {
    let response = match job.state {
        JobState::Succeeded => success(state, job).await,
        _ => job_failed(job).into_response(),
    };
    with_location(response, job.id)
}

/// The original hub's success body of a synchronous submission.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SyncReply<P>)]
pub(crate) struct Success<P> {
    #[schema(schema_with = crate::schemas::fields::success)]
    status: &'static str,
    /// What was published.
    payload: P,
}

/// A flist built by an upload or a docker conversion, or checked by upload-flist.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Published<'a> {
    /// Entry name.
    name: &'a str,
    /// zflist's result: the statistics (upload, docker) or the contents dump (upload-flist).
    files: Files<Stats>,
    /// The job.
    job: Uuid,
}

/// A flist built by a merge.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Merged<'a> {
    /// Entry name.
    name: &'a str,
    /// The job.
    job: Uuid,
}

async fn success(state: &AppState, job: &Job) -> Response {
    let result = job
        .result
        .as_ref()
        .map(|result| ResultSummary::of(job.kind, result))
        .unwrap_or_default();
    let stats = result.stats;
    match job.kind {
        JobKind::Convert | JobKind::Docker => PyJson(Success {
            status: "success",
            payload: Published {
                name: &job.target_name,
                files: Files::success(stats),
                job: job.id,
            },
        })
        .into_response(),
        JobKind::Merge => PyJson(Success {
            status: "success",
            payload: Merged {
                name: &job.target_name,
                job: job.id,
            },
        })
        .into_response(),
        JobKind::Verify => verified(state, job, result.flist_id, stats).await,
    }
}

/// upload-flist's success: `files.response` is the published flist's contents dump (hub-api
/// §7.10), embedded as stored rather than re-serialised (it can be large).
async fn verified(state: &AppState, job: &Job, flist_id: Option<i64>, stats: Stats) -> Response {
    let dump = match published_dump(state, job, flist_id).await {
        Ok(dump) => dump,
        Err(error) => return error.into_response(),
    };
    let Some(dump) = dump else {
        // No stored dump: the statistics are the best this hub has.
        return PyJson(Success {
            status: "success",
            payload: Published {
                name: &job.target_name,
                files: Files::success(stats),
                job: job.id,
            },
        })
        .into_response();
    };
    let (Ok(name), Ok(id)) = (
        pyjson::to_vec(&job.target_name),
        pyjson::to_vec(&job.id.to_string()),
    ) else {
        return ApiError::internal("cannot serialise a job name").into_response();
    };
    let mut body = Vec::with_capacity(dump.len() + 256);
    body.extend_from_slice(b"{\"status\": \"success\", \"payload\": {\"name\": ");
    body.extend_from_slice(name.trim_ascii_end());
    body.extend_from_slice(b", \"files\": {\"success\": true, \"error\": null, \"response\": ");
    body.extend_from_slice(dump.trim_ascii_end());
    body.extend_from_slice(b", \"status\": 0}, \"job\": ");
    body.extend_from_slice(id.trim_ascii_end());
    body.extend_from_slice(b"}}\n");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The stored contents dump of the flist `job` published: the row its result names, else the
/// one its entry holds now.
async fn published_dump(
    state: &AppState,
    job: &Job,
    flist_id: Option<i64>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let flist_id = match flist_id {
        Some(id) => Some(id),
        None => match hub_db::entries::lookup(&state.pool, &job.repository, &job.target_name).await
        {
            Ok(lookup) => lookup.target.map(|target| target.flist.id),
            Err(hub_db::DbError::NotFound(_)) => None,
            Err(error) => return Err(error.into()),
        },
    };
    let Some(flist_id) = flist_id else {
        return Ok(None);
    };
    match hub_db::flists::dump(&state.pool, flist_id).await {
        Ok(dump) => Ok(dump),
        Err(hub_db::DbError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
