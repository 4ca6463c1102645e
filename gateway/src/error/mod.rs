//! The gateway's error type and its JSON rendering.
//!
//! Every error is one [`ErrorKind`] of the [catalogue](catalogue): its status, its stable
//! `code` and its message live there, nowhere else. It is rendered in one of two shapes
//! ([`Shape`]): the job API's `{"status": "error", "message": "<text>", "code": "<code>"}`, or
//! on the original hub's routes its exact answers, without `code` for the kinds of its own
//! catalogue ([`ErrorKind::is_original`]). The cause of an internal failure is logged when the
//! answer is rendered, and the caller sees a generic message.

pub mod catalogue;
pub mod responses;

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_db::DbError;
use hub_db::jobs::{FailureCode, Job, JobState};
use serde::Serialize;

pub use self::catalogue::{ErrorKind, conflict_message, missing_message};
use crate::pyjson::PyJson;

/// How errors are rendered while a request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The original hub's routes: its answers exactly, `code` only on kinds it did not have.
    Original,
    /// The hub's own APIs (jobs, blocks, tokens): every error carries its `code`.
    Coded,
}

tokio::task_local! {
    /// The shape of the request being served ([`Shape::Original`] outside any).
    static SHAPE: Shape;
}

impl Shape {
    /// Serve `request` (a future producing the response) rendering its errors in this shape.
    pub async fn scope<F: std::future::Future>(self, request: F) -> F::Output {
        SHAPE.scope(self, request).await
    }

    fn current() -> Self {
        SHAPE.try_with(|shape| *shape).unwrap_or(Self::Original)
    }
}

/// An error answer of the API: a kind of the catalogue, and what the answer adds to it.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    retry_after: Option<u64>,
    /// Why a failure of this hub happened: logged, never shown.
    cause: Option<String>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// The answer of `kind`.
    pub fn new(kind: ErrorKind) -> Self {
        let retry_after = kind.retry_after();
        Self {
            kind,
            retry_after,
            cause: None,
        }
    }

    /// `500` for a failure that is not the caller's: `cause` is logged when the answer is
    /// rendered, the caller sees a generic message.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Internal).with_cause(cause)
    }

    /// `503`: a dependency (database, queue, store) is unreachable; retrying later may work.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Unavailable).with_cause(cause)
    }

    /// Record why the answer is given (logged with it; never shown to the caller).
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// Ask the client to wait `seconds` before retrying (`Retry-After`).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The kind of answer.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The message clients see.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }

    /// The `Retry-After` seconds, if the client is asked to wait.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// Log the cause of a failure of this hub (once, when the answer is rendered).
    fn log(&self) {
        let Some(cause) = &self.cause else { return };
        if self.status().is_server_error() && self.status() != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %cause, code = self.kind.code(), "internal error");
        } else {
            tracing::warn!(error = %cause, code = self.kind.code(), "request refused");
        }
    }
}

impl From<ErrorKind> for ApiError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.kind)
    }
}

/// An error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    #[schema(schema_with = crate::schemas::fields::error)]
    status: &'static str,
    /// The catalogue's message (the original hub's words on its routes).
    message: &'a str,
    /// Stable machine-readable code (the hub's own routes, and kinds the original did not have).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    code: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let message = self.kind.to_string();
        let body = ErrorBody {
            status: "error",
            message: &message,
            code: (!self.kind.is_original() || Shape::current() == Shape::Coded)
                .then(|| self.kind.code()),
        };
        let mut response = (self.status(), PyJson(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<hub_auth::AuthError> for ApiError {
    fn from(err: hub_auth::AuthError) -> Self {
        if let hub_auth::AuthError::Internal(hub_auth::StoreError::Database(db)) = &err
            && db.is_transient()
        {
            return Self::unavailable(err);
        }
        let kind = ErrorKind::Auth {
            status: err.status(),
            message: err.message(),
        };
        if err.status().is_server_error() {
            Self::new(kind).with_cause(format!("authentication backend failed: {err:?}"))
        } else {
            Self::new(kind)
        }
    }
}

/// A created name that breaks the rules: `400` with the rule's message.
impl From<hub_model::names::NameError> for ApiError {
    fn from(err: hub_model::names::NameError) -> Self {
        Self::new(ErrorKind::InvalidName {
            message: err.message().to_string(),
        })
    }
}

/// An output format other than `flist` or `fl`: `400 invalid_format`.
impl From<hub_model::UnknownFormat> for ApiError {
    fn from(unknown: hub_model::UnknownFormat) -> Self {
        Self::new(ErrorKind::InvalidFormat {
            detail: unknown.to_string(),
        })
    }
}

impl From<DbError> for ApiError {
    /// The usual message of each missing/conflicting row; routes whose catalogue entry differs
    /// (e.g. `source tag not found`) map the error themselves.
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound(missing) => Self::new(ErrorKind::Missing(missing)),
            DbError::Conflict(conflict) => Self::new(ErrorKind::Conflict(conflict)),
            refused @ DbError::QuotaExceeded { .. } => quota_exceeded(&refused),
            err if err.is_transient() => Self::unavailable(err),
            err => Self::internal(err),
        }
    }
}

impl From<hub_jobs::JobsError> for ApiError {
    fn from(err: hub_jobs::JobsError) -> Self {
        match err {
            hub_jobs::JobsError::Db(db) => db.into(),
            err if err.is_transient() => Self::unavailable(err),
            err => Self::internal(err),
        }
    }
}

impl From<hub_store::StoreError> for ApiError {
    fn from(err: hub_store::StoreError) -> Self {
        if err.is_transient() {
            Self::unavailable(err)
        } else {
            Self::internal(err)
        }
    }
}

/// `403 quota_exceeded`: a write would add an entry beyond the repository's quota.
pub fn quota_exceeded(refused: impl fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::QuotaExceeded {
        detail: refused.to_string(),
    })
}

/// The catalogue error a failed or cancelled `job` answers with.
pub fn job_failed(job: &Job) -> ApiError {
    let (code, detail) = job
        .error
        .as_ref()
        .map_or((&FailureCode::Internal, "unknown error"), |failure| {
            (&failure.code, failure.message.as_str())
        });
    // A job cancelled while a failure was being recorded is still cancelled.
    let code = if job.state == JobState::Cancelled {
        FailureCode::Cancelled
    } else {
        code.clone()
    };
    ApiError::new(ErrorKind::JobFailed {
        code,
        kind: job.kind,
        detail: detail.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_the_original_error_shape() {
        let response =
            ApiError::new(ErrorKind::Missing(hub_db::Missing::Repository)).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(
            &body[..],
            b"{\"status\": \"error\", \"message\": \"user not found\"}\n"
        );
    }

    #[tokio::test]
    async fn retry_after_and_code() {
        let response = ApiError::new(ErrorKind::RateLimited)
            .with_retry_after(7)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["code"], "rate_limited");
        assert_eq!(json["message"], "rate limit exceeded");
    }

    #[tokio::test]
    async fn internal_causes_are_not_shown() {
        let response = ApiError::internal("disk on fire at /secret/path").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(
            &body[..],
            b"{\"status\": \"error\", \"message\": \"internal error\"}\n"
        );
    }

    #[tokio::test]
    async fn the_job_api_shape_always_has_the_code() {
        let missing = || ApiError::new(ErrorKind::Missing(hub_db::Missing::Job)).into_response();
        let body = |response: Response| async {
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("json")
        };
        let original = body(missing()).await;
        assert_eq!(original["message"], "job id not found");
        assert!(original.get("code").is_none());
        let coded = body(Shape::Coded.scope(async { missing() }).await).await;
        assert_eq!(coded["message"], "job id not found");
        assert_eq!(coded["code"], "job_not_found");
    }

    #[test]
    fn unavailable_asks_to_retry() {
        let error = ApiError::unavailable("connection refused");
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.retry_after(), Some(5));
    }
}

#[cfg(test)]
mod job_failed_tests {
    use super::*;
    use chrono::Utc;
    use hub_db::jobs::{JobFailure, JobKind};
    use uuid::Uuid;

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
        let error = job_failed(&failed(kind, code, message));
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
        let error = job_failed(&job);
        assert_eq!(error.status(), StatusCode::CONFLICT);
        // Cancelled wins over the failure a worker was recording.
        let mut job = failed(JobKind::Convert, "store_error", "disk full");
        job.state = JobState::Cancelled;
        assert_eq!(job_failed(&job).message(), "job cancelled: disk full");
    }
}
