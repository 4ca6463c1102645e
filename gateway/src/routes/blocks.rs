//! Chunk upload API for homemade flists (`/api/blocks/…`), replacing the original's RESP gateway
//! (0-hub-gw): a client asks which of its chunks the hub lacks, uploads those, then publishes
//! its flist with `POST /api/flist/me/upload-flist`.
//!
//! Both routes require authentication. A chunk is accepted only under its own id, BLAKE2b-N of
//! the uploaded (encrypted) bytes with N the id's length: 16 bytes for `.flist` chunks, 32 for
//! `.fl` blocks (flist-formats.md). Nobody can therefore overwrite a chunk with other content.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use futures::{StreamExt, TryStreamExt};
use hub_store::MAX_VALUE_SIZE;
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Body, Caller, Path};
use crate::schemas::Binary;
use crate::state::AppState;

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
            put(upload).layer(DefaultBodyLimit::max(MAX_VALUE_SIZE + 1)),
        )
}

/// A block id from its hex text: 16 or 32 bytes.
fn parse_id(text: &str) -> Result<Vec<u8>, ApiError> {
    let invalid = || {
        ApiError::new(ErrorKind::InvalidBlockId {
            value: text.to_owned(),
        })
    };
    let id = hex::decode(text).map_err(|_| invalid())?;
    if matches!(id.len(), 16 | 32) {
        Ok(id)
    } else {
        Err(invalid())
    }
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
    fn ids_are_16_or_32_bytes_of_hex() {
        assert_eq!(parse_id(&"ab".repeat(16)).map(|id| id.len()).ok(), Some(16));
        assert_eq!(parse_id(&"AB".repeat(32)).map(|id| id.len()).ok(), Some(32));
        assert!(parse_id("abc").is_err());
        assert!(parse_id(&"ab".repeat(20)).is_err());
        assert!(parse_id(&"zz".repeat(16)).is_err());
    }

    #[test]
    fn blake2b_uses_the_length_parameter() {
        // BLAKE2b-16 is not a truncation of BLAKE2b-32 (flist-formats.md).
        let short = blake2b(b"chunk", 16);
        let long = blake2b(b"chunk", 32);
        assert_eq!(short.len(), 16);
        assert_ne!(&long[..16], short.as_slice());
    }
}
