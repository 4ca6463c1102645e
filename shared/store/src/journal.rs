//! The block journal: where writers record, before touching a store that cannot record it
//! itself, every block they are about to write or rely on, so the garbage collector never
//! deletes a block a writer was just told exists (`docs/gc.md`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::{BlockStore, Route, SharedStore, StoreError, StoredBlock};

/// Records that blocks are about to be written or confirmed (implemented over PostgreSQL by
/// `hub-db`). A recording must be durable before it returns, and must wait while the garbage
/// collector holds its deletion lock on one of the ids.
#[async_trait]
pub trait BlockJournal: Send + Sync + std::fmt::Debug + 'static {
    /// Records `ids` as touched now. Failures are [`StoreError::Journal`].
    async fn touch(&self, ids: &[&[u8]]) -> Result<(), StoreError>;
}

/// A store whose `set` and `exists` first record the block in a [`BlockJournal`], then call
/// the inner store. Reads and listings go straight to the inner store.
#[derive(Debug)]
pub struct Journaled {
    inner: SharedStore,
    journal: Arc<dyn BlockJournal>,
}

impl Journaled {
    /// Wraps `inner`.
    pub fn new(inner: SharedStore, journal: Arc<dyn BlockJournal>) -> Self {
        Self { inner, journal }
    }

    /// `store` wrapped when it [needs a journal](BlockStore::needs_journal), else itself.
    pub fn wrap_if_needed(store: SharedStore, journal: Arc<dyn BlockJournal>) -> SharedStore {
        if store.needs_journal() {
            Arc::new(Self::new(store, journal))
        } else {
            store
        }
    }
}

#[async_trait]
impl BlockStore for Journaled {
    async fn get(&self, id: &[u8]) -> Result<Option<Bytes>, StoreError> {
        self.inner.get(id).await
    }

    async fn set(&self, id: &[u8], data: Bytes) -> Result<(), StoreError> {
        // Before the store: a `SET` of a byte-identical value only confirms the block.
        self.journal.touch(&[id]).await?;
        self.inner.set(id, data).await
    }

    async fn exists(&self, id: &[u8]) -> Result<bool, StoreError> {
        // Before the store: once recorded, a collection either sees the record and keeps the
        // block, or has deleted it already and `exists` answers false.
        self.journal.touch(&[id]).await?;
        self.inner.exists(id).await
    }

    fn blocks(&self) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        self.inner.blocks()
    }

    fn blocks_after(&self, cursor: &[u8]) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        self.inner.blocks_after(cursor)
    }

    fn needs_journal(&self) -> bool {
        self.inner.needs_journal()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    fn routes(&self) -> Vec<Route> {
        self.inner.routes()
    }

    fn url(&self) -> String {
        self.inner.url()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{DirStore, ZdbOptions, ZdbStore};

    /// Records touches, or fails every one.
    #[derive(Debug, Default)]
    struct Recorder {
        touched: Mutex<Vec<Vec<u8>>>,
        down: bool,
    }

    #[async_trait]
    impl BlockJournal for Recorder {
        async fn touch(&self, ids: &[&[u8]]) -> Result<(), StoreError> {
            if self.down {
                return Err(StoreError::Journal {
                    reason: "database down".into(),
                    transient: true,
                });
            }
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            touched.extend(ids.iter().map(|id| id.to_vec()));
            Ok(())
        }
    }

    async fn dir() -> (tempfile::TempDir, SharedStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DirStore::open(dir.path()).await.expect("open");
        (dir, Arc::new(store))
    }

    #[tokio::test]
    async fn sets_and_confirmations_are_journaled_reads_are_not() {
        let (_dir, inner) = dir().await;
        let journal = Arc::new(Recorder::default());
        let store = Journaled::new(inner, journal.clone());
        store
            .set(b"a", Bytes::from_static(b"x"))
            .await
            .expect("set");
        assert!(store.exists(b"a").await.expect("exists"));
        assert!(!store.exists(b"b").await.expect("exists"));
        assert!(store.get(b"a").await.expect("get").is_some());
        let touched = journal.touched.lock().expect("lock").clone();
        assert_eq!(touched, vec![b"a".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    }

    #[tokio::test]
    async fn a_journal_failure_is_transient_and_sends_nothing_to_the_store() {
        let (_dir, inner) = dir().await;
        let journal = Arc::new(Recorder {
            down: true,
            ..Recorder::default()
        });
        let store = Journaled::new(inner.clone(), journal);
        let error = store
            .set(b"a", Bytes::from_static(b"x"))
            .await
            .expect_err("journal down");
        assert!(error.is_transient(), "{error}");
        assert!(
            !inner.exists(b"a").await.expect("exists"),
            "nothing written"
        );
    }

    #[tokio::test]
    async fn only_stores_that_need_it_are_wrapped() {
        let journal: Arc<dyn BlockJournal> = Arc::new(Recorder::default());
        let (_dir, dir) = dir().await;
        let zdb: SharedStore = Arc::new(
            ZdbStore::from_url("zdb://127.0.0.1:1/ns", ZdbOptions::default()).expect("zdb"),
        );
        assert!(!dir.needs_journal());
        assert!(zdb.needs_journal());
        let same = Journaled::wrap_if_needed(dir.clone(), journal.clone());
        assert!(Arc::ptr_eq(&same, &dir), "a dir store is used as it is");
        let router: SharedStore = Arc::new(
            crate::Router::new(vec![(0x00, 0x7f, dir.clone()), (0x80, 0xff, zdb.clone())])
                .expect("router"),
        );
        assert!(router.needs_journal(), "a router with a 0-db member");
        let wrapped = Journaled::wrap_if_needed(router, journal);
        assert!(wrapped.needs_journal());
        assert!(!Arc::ptr_eq(&wrapped, &zdb));
    }
}
