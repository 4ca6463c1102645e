//! Chunk upload API for homemade flists (`/api/blocks/…`), replacing the original's RESP gateway
//! (0-hub-gw): a client asks which of its chunks the hub lacks, uploads those, then publishes
//! its flist with `POST /api/flist/me/upload-flist`.
//!
//! Both routes require authentication. A chunk is accepted only under its own id, BLAKE2b-N of
//! the uploaded (encrypted) bytes with N the id's length: 16 bytes for `.flist` chunks, 32 for
//! `.fl` blocks (flist-formats.md). Nobody can therefore overwrite a chunk with other content.
//!
//! The same ids are readable anonymously, the way rfs reads an `http(s)://` route
//! (flist-formats B.6): `GET {base}/{hex[0:2]}/{hex}`, then `GET {base}/{hex}` on 404, with
//! `{base}` = `<hub>/api/blocks` (`publish.block_url`). Under `/api/` because `api` is already
//! a reserved repository name (hub-api §3.4): a top-level `/blocks/…` would shadow the
//! downloads of a repository named `blocks`, which hub-model lets anyone create. The answer is
//! the stored (encrypted, compressed) bytes with identity encoding; a block never changes under
//! its id, so it is cacheable for good and its ETag is the id.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures::{StreamExt, TryStreamExt};
use hub_store::MAX_VALUE_SIZE;
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Body, Caller, Path};
use crate::routes::downloads::{RangeRequest, Ranged, etag_matches};
use crate::schemas::Binary;
use crate::service::blocks::{self, parse_id};
use crate::state::AppState;

/// `Cache-Control` of a block: content-addressed, so it never changes (RFC 8246 `immutable`).
pub const BLOCK_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Most ids in one `POST /api/blocks/missing` (a 1 GiB upload has ~2,000 chunks).
pub const MAX_IDS: usize = 10_000;

/// `EXISTS` calls in flight for one request (the store's pool bounds the rest).
const EXISTS_CONCURRENCY: usize = 32;

/// Chunks larger than this are hashed on a blocking thread rather than the request's.
const INLINE_HASH_MAX: usize = 64 * 1024;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/blocks/missing",
            // 10,000 ids of 64 hex characters plus JSON punctuation.
            post(missing).layer(DefaultBodyLimit::max(MAX_IDS * 70 + 1024)),
        )
        .route(
            "/api/blocks/{id}",
            // One byte over the cap is read so that an oversized chunk gets a clear 413.
            put(upload)
                .layer(DefaultBodyLimit::max(MAX_VALUE_SIZE + 1))
                .get(flat_block),
        )
        .route("/api/blocks/{prefix}/{id}", get(sharded_block))
}

/// `GET`/`HEAD /api/blocks/{hex}`: rfs's fallback path.
#[utoipa::path(
    get,
    path = "/api/blocks/{id}",
    tag = "blocks",
    summary = "A stored block, anonymously, at the path rfs falls back to",
    params(("id" = String, Path, description = "BLAKE2b-16 or BLAKE2b-32 of the stored bytes, hex")),
    responses(
        (status = 200, description = "The stored (compressed, encrypted) bytes; `Cache-Control: public, max-age=31536000, immutable`, `ETag` = the id", body = Binary, content_type = "application/octet-stream"),
        (status = 206, description = "The requested range (`Content-Range`)", body = Binary, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`If-None-Match` names the id)"),
        (status = 400, response = responses::BadRequest),
        (status = 404, response = responses::NotFound),
        (status = 416, description = "Range not satisfiable (`Content-Range: bytes */<size>`)"),
    ),
)]
pub(crate) async fn flat_block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let served = match parse_id(&id) {
        Ok(id) => serve_block(&state, &id, &method, &headers).await,
        Err(err) => Err(err),
    };
    uncached_errors(served)
}

/// `GET`/`HEAD /api/blocks/{hex[0:2]}/{hex}`: the path rfs asks first.
#[utoipa::path(
    get,
    path = "/api/blocks/{prefix}/{id}",
    tag = "blocks",
    summary = "A stored block, anonymously, at the path an rfs `http(s)://` route asks first",
    params(
        ("prefix" = String, Path, description = "The id's first byte, two hex characters"),
        ("id" = String, Path, description = "BLAKE2b-16 or BLAKE2b-32 of the stored bytes, hex"),
    ),
    responses(
        (status = 200, description = "The stored (compressed, encrypted) bytes; `Cache-Control: public, max-age=31536000, immutable`, `ETag` = the id", body = Binary, content_type = "application/octet-stream"),
        (status = 206, description = "The requested range (`Content-Range`)", body = Binary, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`If-None-Match` names the id)"),
        (status = 400, response = responses::BadRequest),
        (status = 404, response = responses::NotFound),
        (status = 416, description = "Range not satisfiable (`Content-Range: bytes */<size>`)"),
    ),
)]
pub(crate) async fn sharded_block(
    State(state): State<AppState>,
    Path((prefix, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let served = match blocks::parse_sharded_id(&prefix, &id) {
        Ok(id) => serve_block(&state, &id, &method, &headers).await,
        Err(err) => Err(err),
    };
    uncached_errors(served)
}

/// The answer, with `Cache-Control: no-store` on errors: a block missing now may be uploaded
/// in a moment (`PUT /api/blocks/{id}` before its flist is published), and a cache in front
/// must not keep the `404` the way it keeps blocks.
fn uncached_errors(served: ApiResult<Response>) -> Response {
    match served {
        Ok(response) => response,
        Err(err) => {
            let mut response = err.into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
    }
}

/// The block's bytes with immutable caching headers, `ETag` = the id, `If-None-Match` (`304`)
/// and a single `Range`. No `Content-Encoding`: the bytes are already compressed and
/// encrypted, and readers hash exactly what they receive.
async fn serve_block(
    state: &AppState,
    id: &[u8],
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{}\"", hex::encode(id));
    let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, BLOCK_CACHE_CONTROL)
        .header(header::ACCEPT_RANGES, "bytes");
    if header_text(header::IF_NONE_MATCH).is_some_and(|tags| etag_matches(tags, &etag)) {
        blocks::require(state, id).await?;
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(axum::body::Body::empty())
            .map_err(ApiError::internal);
    }
    let bytes = blocks::read(state, id).await?;
    let size = bytes.len() as u64;
    // The only validator is the ETag: `If-Range` with anything else asks for the whole block.
    let range_applies = header_text(header::IF_RANGE).is_none_or(|validator| validator == etag);
    let range = match header_text(header::RANGE).filter(|_| range_applies) {
        Some(text) => RangeRequest::parse(text, size),
        None => RangeRequest::Full,
    };
    let (response, span) = match range.answer(response, size).map_err(ApiError::internal)? {
        Ranged::Send(response, span) => (response, span),
        Ranged::Unsatisfiable(unsatisfiable) => return Ok(unsatisfiable),
    };
    let body = if method == Method::HEAD {
        axum::body::Body::empty()
    } else {
        let slice = span
            .slice(&bytes)
            .ok_or_else(|| ApiError::internal("range outside the block"))?;
        axum::body::Body::from(slice)
    };
    response.body(body).map_err(ApiError::internal)
}

/// `POST /api/blocks/missing`: body = JSON array of hex ids; answer = the ids the store lacks,
/// in request order.
#[utoipa::path(
    post,
    path = "/api/blocks/missing",
    tag = "blocks",
    summary = "Which of these block ids the store lacks",
    security(("bearer" = [])),
    request_body(content = Vec<String>, description = "Hex block ids (at most 10,000)"),
    responses(
        (status = 200, description = "The ids the store lacks, in request order", body = Vec<String>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 413, response = responses::PayloadTooLarge),
    ),
)]
async fn missing(
    State(state): State<AppState>,
    Caller(_identity): Caller,
    Body(body): Body,
) -> ApiResult<Json<Vec<String>>> {
    let ids: Vec<String> = serde_json::from_slice(&body).map_err(|_| ErrorKind::MalformedJson {
        detail: Some("expected an array of hex block ids".to_owned()),
    })?;
    if ids.len() > MAX_IDS {
        return Err(ErrorKind::TooManyBlockIds { max: MAX_IDS }.into());
    }
    let parsed = ids
        .iter()
        .map(|id| parse_id(id))
        .collect::<ApiResult<Vec<_>>>()?;
    let store = &state.store;
    let present: Vec<bool> = futures::stream::iter(parsed)
        .map(|id| async move { store.exists(&id).await })
        // `buffered` keeps request order while running calls concurrently.
        .buffered(EXISTS_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Json(
        ids.into_iter()
            .zip(present)
            .filter(|(_, present)| !present)
            .map(|(id, _)| id)
            .collect(),
    ))
}

/// A stored chunk.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = BlockStored)]
struct Stored {
    /// Its id, lower-case hex.
    id: String,
    /// Its size in bytes.
    size: usize,
}

/// `PUT /api/blocks/{id}`: body = the encrypted chunk, stored when `id` = BLAKE2b-N(body).
#[utoipa::path(
    put,
    path = "/api/blocks/{id}",
    tag = "blocks",
    summary = "Store an encrypted chunk under its BLAKE2b-16/32 id",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "BLAKE2b-16 (32 hex characters) or BLAKE2b-32 (64) of the body")),
    request_body(content = Binary, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored", body = Stored),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 413, response = responses::PayloadTooLarge),
        (status = 503, response = responses::Unavailable),
    ),
)]
async fn upload(
    State(state): State<AppState>,
    Caller(_identity): Caller,
    Path(id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    let id_bytes = parse_id(&id)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(ErrorKind::UnreadableRequest {
                status: StatusCode::BAD_REQUEST,
                detail: rejection.body_text(),
            })
        }
    })?;
    if body.len() > MAX_VALUE_SIZE {
        return Err(too_large());
    }
    if body.is_empty() {
        return Err(ErrorKind::EmptyBlock.into());
    }
    let size = body.len();
    let hash_len = id_bytes.len();
    let digest = if size <= INLINE_HASH_MAX {
        blake2b(&body, hash_len)
    } else {
        let data = body.clone();
        tokio::task::spawn_blocking(move || blake2b(&data, hash_len))
            .await
            .map_err(ApiError::internal)?
    };
    if digest != id_bytes {
        return Err(ErrorKind::BlockIdMismatch {
            hash_len,
            digest: hex::encode(&digest),
        }
        .into());
    }
    state.store.set(&id_bytes, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(Stored {
            id: id.to_ascii_lowercase(),
            size,
        }),
    )
        .into_response())
}

fn blake2b(data: &[u8], len: usize) -> Vec<u8> {
    blake2b_simd::Params::new()
        .hash_length(len)
        .hash(data)
        .as_bytes()
        .to_vec()
}

fn too_large() -> ApiError {
    ApiError::new(ErrorKind::BlockTooLarge {
        max: MAX_VALUE_SIZE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake2b_uses_the_length_parameter() {
        // BLAKE2b-16 is not a truncation of BLAKE2b-32 (flist-formats.md).
        let short = blake2b(b"chunk", 16);
        let long = blake2b(b"chunk", 32);
        assert_eq!(short.len(), 16);
        assert_ne!(&long[..16], short.as_slice());
    }
}
