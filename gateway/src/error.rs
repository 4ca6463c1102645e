//! The gateway's error type and its JSON rendering.
//!
//! Every error under `/api/` is `{"status": "error", "message": "<text>"}` with the status code
//! of the spec's error catalogue (hub-api section 14); the message strings are the original
//! hub's, because clients print and match them. New routes may add a stable machine-readable
//! `code`. Internal failures are logged with their cause and answered with a generic message.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_db::{Conflict, DbError, Missing};
use serde::Serialize;

use crate::pyjson::PyJson;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
    retry_after: Option<u64>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `status` and the exact `message` clients see.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409 with `message`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500 for a failure that is not the caller's: the cause is logged, the caller sees a
    /// generic message.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// 503: a dependency (database, queue, store) is unreachable; retrying later may work.
    pub fn unavailable(cause: impl fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service temporarily unavailable",
        )
        .with_retry_after(5)
    }

    /// Attach a stable machine-readable code (new routes).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Ask the client to wait `seconds` before retrying (`Retry-After`).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message clients see.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` seconds, if the client is asked to wait.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: "error",
            message: &self.message,
            code: self.code,
        };
        let mut response = (self.status, PyJson(body)).into_response();
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
        if err.status().is_server_error() {
            tracing::error!(error = ?err, "authentication backend failed");
        }
        Self::new(err.status(), err.message())
    }
}

/// A created name that breaks the rules: `400` with the catalogue message.
impl From<hub_model::names::NameError> for ApiError {
    fn from(err: hub_model::names::NameError) -> Self {
        Self::bad_request(err.message())
    }
}

impl From<DbError> for ApiError {
    /// The usual message of each missing/conflicting row; routes whose catalogue entry differs
    /// (e.g. `source tag not found`) map the error themselves.
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound(missing) => Self::not_found(missing_message(missing)),
            DbError::Conflict(conflict) => Self::conflict(conflict_message(conflict)),
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

/// `403 quota_exceeded`: a write would add an entry beyond the repository's quota (not `507`,
/// which is WebDAV's "the server is out of space": here the caller's allowance is spent).
pub fn quota_exceeded(refused: impl fmt::Display) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, refused.to_string())
        .with_code(hub_model::FailureCode::QuotaExceeded.static_str())
}

/// The catalogue message for a missing row.
pub fn missing_message(missing: Missing) -> &'static str {
    match missing {
        Missing::Repository => "user not found",
        Missing::SourceRepository => "source repository not found",
        Missing::Entry | Missing::Flist => "source not found",
        Missing::Tag => "tag not found",
        Missing::TagEntry => "target not found on this tag",
        Missing::Job => "job id not found",
    }
}

/// The catalogue message for a refused write.
pub fn conflict_message(conflict: Conflict) -> &'static str {
    match conflict {
        Conflict::DestinationIsFlist => "link destination is already a file",
        Conflict::FlistNameTaken => "there is a .flist file with the same name existing already",
        Conflict::JobFinished => "job already finished",
        Conflict::DestinationExists => "destination already exists (add ?force=true to replace it)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_the_original_error_shape() {
        let response = ApiError::not_found("user not found").into_response();
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
        let response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded")
            .with_code("rate_limited")
            .with_retry_after(7)
            .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["code"], "rate_limited");
    }
}
