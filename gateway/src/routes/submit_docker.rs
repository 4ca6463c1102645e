//! `POST /api/flist/me/docker` (hub-api §7.12): convert a container image, form field `image`
//! (urlencoded or multipart). New optional fields: `platform` (`linux/arm64`, for
//! multi-architecture images), `username` and `password` for a private registry, and
//! `format`. The use case is [`crate::service::submit::docker`].

use std::collections::HashMap;

use axum::Form;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::answer::{Published, Reply, Success, answer};
use super::jobs::view::JobSummary;
use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Caller, PreferAsync, Query, idempotency_key};
use crate::schemas::{DockerFormSchema, SubmitHeaders};
use crate::service::submit::docker::{self, DockerRequest};
use crate::state::AppState;
use crate::upload::FormatQuery;

/// Longest form value read (image references are at most a few hundred bytes; tokens used as
/// passwords can be a few KiB).
const MAX_FIELD: usize = 16 * 1024;

/// `POST /api/flist/me/docker`: form field `image`, urlencoded or multipart.
#[utoipa::path(
    post,
    path = "/api/flist/me/docker",
    tag = "submit",
    summary = "Container image → flist (fields `image`, `platform`, `username`, `password`, `format`)",
    security(("bearer" = [])),
    params(
        FormatQuery,
        SubmitHeaders,
    ),
    request_body(content(
        (DockerFormSchema = "application/x-www-form-urlencoded"),
        (DockerFormSchema = "multipart/form-data"),
    )),
    responses(
        (
            status = 200,
            description = "Published",
            body = Success<Published>,
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
pub async fn docker(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    Query(query): Query<FormatQuery>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let submitted = async {
        let mut fields = form_fields(&state, &headers, request).await?;
        if let Some(format) = query.format {
            fields.insert("format".into(), format);
        }
        let request = DockerRequest::from_fields(fields)?;
        let key = idempotency_key(&headers)?;
        docker::queue(&state, &identity, request, key).await
    }
    .await;
    answer(&state, submitted, Reply::preferring(respond_async)).await
}

/// The form's fields from a urlencoded or multipart body; a missing or unreadable body is an
/// empty form (the route then answers `missing docker image name`, as the original did).
async fn form_fields(
    state: &AppState,
    headers: &HeaderMap,
    request: Request,
) -> ApiResult<HashMap<String, String>> {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    if !multipart {
        return Ok(
            Form::<HashMap<String, String>>::from_request(request, state)
                .await
                .map(|Form(fields)| fields)
                .unwrap_or_default(),
        );
    }
    let Ok(mut multipart) = Multipart::from_request(request, state).await else {
        return Ok(HashMap::new());
    };
    let mut fields = HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if value.len() + chunk.len() > MAX_FIELD {
                return Err(ApiError::new(ErrorKind::FieldTooLong {
                    field: name,
                    max: None,
                }));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| ErrorKind::FieldNotText {
            field: name.clone(),
        })?;
        fields.insert(name, value);
    }
    Ok(fields)
}

/// A multipart body the parser could not read.
fn malformed(error: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(ErrorKind::MalformedMultipart {
        status: axum::http::StatusCode::BAD_REQUEST,
        detail: error.to_string(),
    })
}
