//! The contents dump of hub-api §6.6, and flist bytes by content hash.
//!
//! Dumps are computed when a flist is written and stored in its row; requests serve those bytes
//! (cached per content, since a row never changes). A row written without one (imported by an
//! older tool) gets it computed once from the file, off the async threads, and cached.

use bytes::Bytes;
use hub_db::entries::Target;
use hub_store::ObjectId;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

use super::body::JsonBody;
use super::cache::FetchError;

/// The bytes of `target`'s flist file (through the in-memory LRU).
pub async fn flist_bytes(state: &AppState, target: &Target) -> ApiResult<Bytes> {
    let id: ObjectId = target.flist.content_hash.parse().map_err(|_| {
        ApiError::internal(format!(
            "flist {} has a malformed content hash",
            target.flist.id
        ))
    })?;
    state
        .compat
        .flists
        .get(&state.objects, id)
        .await
        .map_err(|err| match err {
            FetchError::Store(store) => ApiError::from(store),
            missing @ FetchError::Missing(_) => ApiError::internal(missing),
        })
}

/// The served contents dump of `target`'s flist.
pub async fn contents_dump(state: &AppState, target: &Target) -> ApiResult<JsonBody> {
    let key = &target.flist.content_hash;
    state
        .compat
        .dumps
        .get_or_build(key, (), || async {
            let body = match hub_db::flists::dump(&state.pool, target.flist.id).await? {
                Some(stored) => Bytes::from(stored),
                None => {
                    let file = flist_bytes(state, target).await?;
                    tokio::task::spawn_blocking(move || compute_dump(&file))
                        .await
                        .map_err(ApiError::internal)??
                }
            };
            Ok(JsonBody::compress(body).await)
        })
        .await
}

/// Read the flist and serialise its dump as the workers store it (CPU work: blocking context).
pub fn compute_dump(file: &[u8]) -> ApiResult<Bytes> {
    let flist = hub_flist::read_bytes(file)
        .map_err(|err| ApiError::internal(format!("stored flist cannot be read: {err}")))?;
    hub_jobs::contents_dump(&flist.tree)
        .map(|(_, body)| Bytes::from(body))
        .map_err(ApiError::internal)
}
