//! The answers to a submission: `202` with the job, the original hub's success bodies, the
//! catalogue errors a failed job maps to (hub-api 7.9–7.12, 14), and `504` when a synchronous
//! route stops waiting.
//!
//! Every answer about a job carries `Location: /api/jobs/<id>`, so a client can always find the
//! job again, and failures carry the job's stable error `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_db::jobs::{FailureCode, Job, JobKind, JobState};
use hub_model::ResultSummary;
use serde::Serialize;
use uuid::Uuid;

use super::jobs::legacy::{Files, Stats};
use super::jobs::view::{JobSummary, job_path};
use crate::error::ApiError;
use crate::pyjson::{self, PyJson};
use crate::state::AppState;

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

#[derive(Serialize)]
struct StillRunning<'a> {
    status: &'static str,
    message: String,
    code: &'static str,
    job: Uuid,
    state: &'a str,
}

/// `504`: the synchronous wait ended before the job did; the job keeps running.
pub fn still_running(job: &Job) -> Response {
    let body = StillRunning {
        status: "error",
        message: format!(
            "the job is still {}; follow it at {}",
            job.state,
            job_path(job.id)
        ),
        code: "job_pending",
        job: job.id,
        state: job.state.as_str(),
    };
    with_location(
        (StatusCode::GATEWAY_TIMEOUT, PyJson(body)).into_response(),
        job.id,
    )
}

/// The answer of a synchronous route for the finished `job`.
pub async fn outcome(state: &AppState, job: &Job) -> Response {
    let response = match job.state {
        JobState::Succeeded => success(state, job).await,
        _ => failure(job).into_response(),
    };
    with_location(response, job.id)
}

#[derive(Serialize)]
struct Success<P> {
    status: &'static str,
    payload: P,
}

#[derive(Serialize)]
struct Published<'a> {
    name: &'a str,
    files: Files<Stats>,
    job: Uuid,
}

#[derive(Serialize)]
struct Merged<'a> {
    name: &'a str,
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

/// upload-flist's success: `files.response` is the published flist's contents dump (spec
/// 7.10), embedded as stored rather than re-serialised (it can be large).
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

/// The catalogue error a failed or cancelled `job` answers with: hub-model's
/// [`FailureCode::sync_answer`] decides status, message and code.
pub fn failure(job: &Job) -> ApiError {
    let (code, detail) = job
        .error
        .as_ref()
        .map_or((&FailureCode::Internal, "unknown error"), |failure| {
            (&failure.code, failure.message.as_str())
        });
    // A job cancelled while a failure was being recorded is still cancelled.
    let code = if job.state == JobState::Cancelled {
        &FailureCode::Cancelled
    } else {
        code
    };
    let answer = code.sync_answer(job.kind);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error = ApiError::new(status, answer.message.render(detail)).with_code(answer.code);
    match answer.retry_after {
        Some(seconds) => error.with_retry_after(seconds),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use hub_db::jobs::JobFailure;

    fn failed(kind: JobKind, code: &str, message: &str) -> Job {
        let code = FailureCode::parse(code);
        let now = Utc::now();
        Job {
            id: Uuid::new_v4(),
            kind,
            owner: "alice".into(),
            repository: "alice".into(),
            target_name: "app.flist".into(),
            state: JobState::Failed,
            progress: 10,
            phase: None,
            message: Some(message.into()),
            attempt: 1,
            max_attempts: 3,
            result: None,
            error: Some(JobFailure::new(code, message)),
            idempotency_key: None,
            created_at: now,
            started_at: Some(now),
            finished_at: Some(now),
            heartbeat_at: None,
            updated_at: now,
            revision: 3,
            last_event_seq: 4,
        }
    }

    fn mapped(kind: JobKind, code: &str, message: &str) -> (u16, String) {
        let error = failure(&failed(kind, code, message));
        (error.status().as_u16(), error.message().to_owned())
    }

    #[test]
    fn failures_map_to_the_catalogue() {
        assert_eq!(
            mapped(JobKind::Convert, "invalid_archive", "truncated gzip stream"),
            (400, "invalid archive: truncated gzip stream".into())
        );
        assert_eq!(
            mapped(JobKind::Convert, "store_error", "disk full"),
            (500, "flist creation failed: disk full".into())
        );
        assert_eq!(
            mapped(JobKind::Verify, "missing_chunks", "3 files"),
            (
                422,
                "unauthorized upload, contents is not fully present on backend".into()
            )
        );
        assert_eq!(
            mapped(JobKind::Verify, "invalid_flist", "not sqlite"),
            (400, "invalid flist".into())
        );
        assert_eq!(
            mapped(
                JobKind::Merge,
                "source_not_found",
                "tf/x.flist does not exists"
            ),
            (404, "tf/x.flist does not exists".into())
        );
        assert_eq!(
            mapped(JobKind::Merge, "internal", "boom"),
            (500, "merge failed: boom".into())
        );
        assert_eq!(
            mapped(JobKind::Docker, "image_not_found", "no tag"),
            (404, "docker image not found".into())
        );
        assert_eq!(
            mapped(JobKind::Docker, "pull_failed", "401"),
            (502, "could not pull this image".into())
        );
        assert_eq!(
            mapped(JobKind::Docker, "attempts_exhausted", "gave up"),
            (500, "unexpected docker convert error".into())
        );
        assert_eq!(
            mapped(JobKind::Docker, "unsafe_path", "../x"),
            (500, "../x".into())
        );
        assert_eq!(
            mapped(
                JobKind::Convert,
                "quota_exceeded",
                "repository quota exceeded"
            ),
            (403, "repository quota exceeded".into())
        );
        assert_eq!(
            mapped(
                JobKind::Convert,
                "dependency_unavailable",
                "store down for 1h"
            ),
            (
                503,
                "service temporarily unavailable: store down for 1h".into()
            )
        );
    }

    #[test]
    fn cancelled_jobs_conflict() {
        let mut job = failed(JobKind::Convert, "cancelled", "cancelled by alice");
        job.state = JobState::Cancelled;
        let error = failure(&job);
        assert_eq!(error.status(), StatusCode::CONFLICT);
        // Cancelled wins over the failure a worker was recording.
        let mut job = failed(JobKind::Convert, "store_error", "disk full");
        job.state = JobState::Cancelled;
        assert_eq!(failure(&job).message(), "job cancelled: disk full");
    }
}
