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
