//! `POST /api/flist/me/merge/{target}` (hub-api §7.11): merge flists into `<target>.flist`;
//! the body is a JSON array of `repo/name` sources. The use case is
//! [`crate::service::submit::merge`].

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hub_model::MergeMode;
use serde::Deserialize;

use super::answer::{Merged, Reply, Success, answer};
use super::jobs::view::JobSummary;
use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Body, Caller, Path, PreferAsync, Query, idempotency_key};
use crate::schemas::SubmitHeaders;
use crate::service::submit::{asked_format, merge};
use crate::state::AppState;

/// `?format=` and `?mode=` of the merge route.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MergeQuery {
    /// Output format: `flist` (default) or `fl`.
    #[param(value_type = Option<hub_model::Format>)]
    pub format: Option<String>,
    /// `union` (the original's: the first source wins per path) or `overlay` (later sources
    /// win, whiteouts delete).
    #[param(value_type = Option<MergeMode>)]
    pub mode: Option<String>,
}

/// `POST /api/flist/me/merge/{target}`.
#[utoipa::path(
    post,
    path = "/api/flist/me/merge/{target}",
    tag = "submit",
    summary = "Merge flists (`repo/name` list) into `target`",
    security(("bearer" = [])),
    params(
        MergeQuery,
        SubmitHeaders,
    ),
    request_body = Vec<String>,
    responses(
        (
            status = 200,
            description = "Published",
            body = Success<Merged>,
            headers(("Location" = String, description = "The job: `/api/jobs/<id>`")),
        ),
        (
            status = 202,
            description = "Accepted (`Prefer: respond-async`): follow the job",
            body = JobSummary,
            headers(("Location" = String, description = "The job: `/api/jobs/<id>`")),
        ),
        responses::Submission,
    ),
)]
pub async fn merge_into(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    Path(target): Path<String>,
    Query(query): Query<MergeQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let submitted = async {
        let sources = parse_sources(&body)?;
        let mode = MergeMode::from_request(query.mode.as_deref().map(str::trim));
        let request = merge::validate(&state, sources, &target, mode).await?;
        let key = idempotency_key(&headers)?;
        let format = asked_format(query.format.as_deref())?;
        merge::queue(&state, &identity, request, format, key).await
    }
    .await;
    answer(&state, submitted, Reply::preferring(respond_async)).await
}

/// `POST /api/flist/me/merge` (no target): the sources are still validated first, as the
/// original did, then `missing build (target) name`.
#[utoipa::path(
    post,
    path = "/api/flist/me/merge",
    tag = "submit",
    summary = "Merge without a target: validates the sources, then `missing build (target) name`",
    security(("bearer" = [])),
    request_body = Vec<String>,
    responses(
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
pub async fn merge_without_target(
    State(state): State<AppState>,
    Caller(_identity): Caller,
    Body(body): Body,
) -> Response {
    let result = async {
        let sources = parse_sources(&body)?;
        merge::validate(&state, sources, "", Ok(MergeMode::Union)).await
    }
    .await;
    match result {
        Ok(_) => ApiError::new(ErrorKind::MissingTarget).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The body: a JSON array of strings, whatever the `Content-Type` (hub-api §7.11: the
/// original parsed the body as JSON without looking at the header).
pub fn parse_sources(body: &[u8]) -> ApiResult<Vec<String>> {
    let malformed = || ApiError::new(ErrorKind::MalformedJson { detail: None });
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    let serde_json::Value::Array(items) = value else {
        return Err(malformed());
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(source) => Ok(source),
            _ => Err(malformed()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(result: ApiResult<T>) -> String {
        result.map_or_else(|error| error.message().to_owned(), |ok| format!("{ok:?}"))
    }

    #[test]
    fn the_body_must_be_an_array_of_strings() {
        assert_eq!(message(parse_sources(b"{}")), "malformed json request");
        assert_eq!(
            message(parse_sources(b"not json")),
            "malformed json request"
        );
        assert_eq!(message(parse_sources(b"[1]")), "malformed json request");
        assert_eq!(
            parse_sources(b"[\"a/b\", \"c/d.flist\"]").ok(),
            Some(vec!["a/b".to_owned(), "c/d.flist".to_owned()])
        );
    }
}
