//! `POST /api/flist/me/upload` (an archive becomes a flist, hub-api §7.9) and
//! `POST /api/flist/me/upload-flist` (a homemade flist is checked and published, §7.10).
//! Reading the request is [`crate::upload`]'s; the use case [`crate::service::submit::upload`].

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::answer::{Published, Reply, Success, answer};
use super::jobs::view::JobSummary;
use crate::error::responses;
use crate::extract::{Caller, PreferAsync, Query};
use crate::schemas::{SubmitHeaders, UploadFormSchema};
use crate::service::submit::upload::UploadRoute;
use crate::state::AppState;
use crate::upload::{FormatQuery, receive};

/// `POST /api/flist/me/upload`.
#[utoipa::path(
    post,
    path = "/api/flist/me/upload",
    tag = "submit",
    summary = "Archive (.tar.gz, .tgz, .tar, .tar.zst, .tar.xz, .tar.bz2) → flist; synchronous unless `Prefer: respond-async`",
    security(("bearer" = [])),
    params(
        FormatQuery,
        SubmitHeaders,
    ),
    request_body(content = UploadFormSchema, content_type = "multipart/form-data"),
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
pub async fn upload(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    Query(query): Query<FormatQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let route = UploadRoute::Archive { api: true };
    let received = receive(&state, &identity, route, query, &headers, multipart).await;
    answer(&state, received, Reply::preferring(respond_async)).await
}

/// `POST /api/flist/me/upload-flist`.
#[utoipa::path(
    post,
    path = "/api/flist/me/upload-flist",
    tag = "submit",
    summary = "Publish a homemade flist once its chunks are all in the store",
    security(("bearer" = [])),
    params(SubmitHeaders),
    request_body(content = UploadFormSchema, content_type = "multipart/form-data"),
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
pub async fn upload_flist(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let query = FormatQuery::default();
    let route = UploadRoute::Flist;
    let received = receive(&state, &identity, route, query, &headers, multipart).await;
    answer(&state, received, Reply::preferring(respond_async)).await
}
