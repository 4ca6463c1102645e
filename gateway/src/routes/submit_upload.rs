//! `POST /api/flist/me/upload` (an archive becomes a flist, hub-api §7.9) and
//! `POST /api/flist/me/upload-flist` (a homemade flist is checked and published, §7.10).
//! Reading the request is [`crate::upload`]'s; the use case [`crate::service::submit::upload`].

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::answer::{Reply, answer};
use crate::extract::{Caller, PreferAsync, Query};
use crate::service::submit::upload::UploadRoute;
use crate::state::AppState;
use crate::upload::{FormatQuery, receive};

/// `POST /api/flist/me/upload`.
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
