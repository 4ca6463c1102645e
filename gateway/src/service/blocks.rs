//! Blocks of the chunk store, by id: what `GET /api/blocks/…` serves to flist readers (rfs
//! `http(s)://` routes, CDNs, `hubctl`) and what the upload API checks ids against.

use bytes::Bytes;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::state::AppState;

/// A block id from its hex text: 16 bytes (`.flist` chunks, BLAKE2b-16) or 32 bytes (`.fl`
/// blocks, BLAKE2b-32), either case.
pub fn parse_id(text: &str) -> ApiResult<Vec<u8>> {
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

/// A block id from rfs's sharded path `{hex[0:2]}/{hex}`: the prefix must be the id's first
/// byte (rfs never asks otherwise; anything else is a malformed request, not a missing block).
pub fn parse_sharded_id(prefix: &str, text: &str) -> ApiResult<Vec<u8>> {
    let id = parse_id(text)?;
    let matches =
        hex::decode(prefix).is_ok_and(|first| first.first() == id.first()) && prefix.len() == 2;
    if matches {
        Ok(id)
    } else {
        Err(ApiError::new(ErrorKind::InvalidBlockId {
            value: format!("{prefix}/{text}"),
        }))
    }
}

/// The stored (encrypted, compressed) bytes of block `id`; `404 block not found` when the
/// store lacks it.
pub async fn read(state: &AppState, id: &[u8]) -> ApiResult<Bytes> {
    state.store.get(id).await?.ok_or_else(|| {
        ApiError::new(ErrorKind::BlockNotFound {
            id: hex::encode(id),
        })
    })
}

/// Whether block `id` is stored, `404 block not found` otherwise: a revalidation (`304`)
/// must not vouch for a block the hub no longer has. Checked with a read, not
/// [`BlockStore::exists`](hub_store::BlockStore::exists): stores count an `exists` as a
/// writer's confirmation that keeps the block from the garbage collector, which anonymous
/// readers must not be able to do.
pub async fn require(state: &AppState, id: &[u8]) -> ApiResult<()> {
    read(state, id).await.map(drop)
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
    fn sharded_ids_need_their_own_prefix() {
        let id = format!("d1{}", "39".repeat(31));
        assert!(parse_sharded_id("d1", &id).is_ok());
        assert!(parse_sharded_id("D1", &id).is_ok());
        assert!(parse_sharded_id("d2", &id).is_err());
        assert!(parse_sharded_id("d", &id).is_err());
        assert!(parse_sharded_id("d139", &id).is_err());
        assert!(parse_sharded_id("zz", &id).is_err());
    }
}
