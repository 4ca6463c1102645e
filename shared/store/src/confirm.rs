//! Confirming blocks a job relies on without writing them.
//!
//! A merge, or a conversion that reuses an earlier flist, publishes references to blocks it
//! never writes. Asking the store for them with [`BlockStore::exists`] is what tells the garbage
//! collector they are wanted again (a `dir://` store refreshes their age; a store that cannot
//! do that records the question in a journal), and it catches blocks already collected before
//! anything that needs them is published.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt, stream};

use crate::{ObjectId, ObjectStore, SharedStore, StoreError};

/// Asks `store` for every distinct id of `ids`, `concurrency` requests at a time, and returns
/// the ids it does not hold (in no particular order).
pub async fn missing_blocks<'a>(
    store: &SharedStore,
    ids: impl IntoIterator<Item = &'a [u8]>,
    concurrency: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let distinct: HashSet<&[u8]> = ids.into_iter().collect();
    // Owned ids: the futures are awaited inside spawned tasks and must be `Send`.
    let owned: Vec<Vec<u8>> = distinct.into_iter().map(<[u8]>::to_vec).collect();
    stream::iter(owned)
        .map(|id| async move {
            let present = store.exists(&id).await?;
            Ok::<_, StoreError>((!present).then_some(id))
        })
        .buffer_unordered(concurrency.max(1))
        .try_filter_map(|missing| async move { Ok(missing) })
        .try_collect()
        .await
}

impl ObjectStore {
    /// Confirms every block holding object `id` (manifest and parts): `true` when all are
    /// stored, `false` when the object or any part is gone.
    pub async fn confirm(&self, id: &ObjectId, concurrency: usize) -> Result<bool, StoreError> {
        let Some(keys) = self.keys(id).await? else {
            return Ok(false);
        };
        let missing =
            missing_blocks(self.store(), keys.iter().map(Vec::as_slice), concurrency).await?;
        Ok(missing.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[tokio::test]
    async fn reports_each_missing_block_once() -> Result<(), StoreError> {
        let dir = tempfile::tempdir()?;
        let store = crate::open(&format!("dir://{}", dir.path().display())).await?;
        store
            .set(b"present-block-id", Bytes::from_static(b"x"))
            .await?;
        let ids: [&[u8]; 4] = [
            b"present-block-id",
            b"missing-block-id",
            b"missing-block-id",
            b"present-block-id",
        ];
        let missing = missing_blocks(&store, ids, 2).await?;
        assert_eq!(missing, vec![b"missing-block-id".to_vec()]);
        Ok(())
    }

    #[tokio::test]
    async fn an_object_with_a_lost_part_is_not_confirmed() -> Result<(), StoreError> {
        let dir = tempfile::tempdir()?;
        let store = crate::open(&format!("dir://{}", dir.path().display())).await?;
        let objects = ObjectStore::new(store.clone());
        let id = objects.put(Bytes::from(vec![7u8; 3 * 1024 * 1024])).await?;
        assert!(objects.confirm(&id, 4).await?);
        let keys = objects.keys(&id).await?.unwrap_or_default();
        let part = keys.last().cloned().unwrap_or_default();
        assert!(
            store
                .delete_if_older(
                    &part,
                    std::time::SystemTime::now() + std::time::Duration::from_secs(60)
                )
                .await?
                .is_some()
        );
        assert!(!objects.confirm(&id, 4).await?);
        Ok(())
    }
}
