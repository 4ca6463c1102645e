//! Block stores behind one async trait: a local directory (`dir://`), 0-db (`zdb://`) and a
//! router that shards by the first byte of the block id, plus content-addressed objects for
//! whole flist files.
//!
//! Stores are opened from the URL syntax of rfs (`flist-formats.md` B.6):
//!
//! ```no_run
//! # async fn demo() -> Result<(), hub_store::StoreError> {
//! let store = hub_store::open("00-7f=dir:///srv/a, 80-ff=zdb://hub:9900/blocks").await?;
//! store.set(&[0x81; 32], bytes::Bytes::from_static(b"block")).await?;
//! assert!(store.exists(&[0x81; 32]).await?);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod confirm;
mod dir;
mod error;
mod http;
mod journal;
mod object;
mod router;
mod spec;
mod zdb;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::stream::BoxStream;

pub use confirm::missing_blocks;
pub use dir::{DirStore, LayoutMigration};
pub use error::StoreError;
pub use http::{HTTP_CONCURRENCY, HttpStore};
pub use journal::{BlockJournal, Journaled};
pub use object::{ObjectId, ObjectStore};
pub use router::Router;
pub use spec::parse_routes;
pub use zdb::{ZdbOptions, ZdbStore, ZdbUrl};

/// Largest value a store accepts: 0-db refuses anything above 8 MiB and closes the connection.
pub const MAX_VALUE_SIZE: usize = 8 * 1024 * 1024;

/// Longest key 0-db accepts in user mode.
pub const MAX_KEY_SIZE: usize = 255;

/// A key-value store for encrypted flist blocks, keyed by their raw id bytes.
#[async_trait::async_trait]
pub trait BlockStore: Send + Sync + std::fmt::Debug + 'static {
    /// The value stored under `id`, `None` when absent. An empty stored value is an error
    /// ([`StoreError::EmptyValue`]): flist readers treat empty blocks as invalid.
    async fn get(&self, id: &[u8]) -> Result<Option<Bytes>, StoreError>;

    /// Stores `data` under `id`. Idempotent: storing the same content again succeeds.
    /// Values above [`MAX_VALUE_SIZE`] are refused with [`StoreError::TooLarge`] before anything
    /// is sent, and empty values with [`StoreError::EmptyValue`].
    async fn set(&self, id: &[u8], data: Bytes) -> Result<(), StoreError>;

    /// Whether a value is stored under `id`.
    async fn exists(&self, id: &[u8]) -> Result<bool, StoreError>;

    /// Every stored block with its size and last write (or existence confirmation), for the
    /// garbage collector. The stream holds a bounded buffer, never the whole listing. Stores
    /// that cannot list answer one [`StoreError::Unsupported`].
    fn blocks(&self) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        let error = StoreError::Unsupported {
            url: self.url(),
            operation: "listing blocks",
        };
        Box::pin(futures::stream::once(async move { Err(error) }))
    }

    /// Continues a listing after `cursor`, a [`StoredBlock::cursor`] an earlier listing of
    /// this store gave: the blocks listed after it then, and any written since. Stores that
    /// cannot resume a listing answer one [`StoreError::Unsupported`].
    fn blocks_after(&self, cursor: &[u8]) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        let _ = cursor;
        let error = StoreError::Unsupported {
            url: self.url(),
            operation: "resuming a listing",
        };
        Box::pin(futures::stream::once(async move { Err(error) }))
    }

    /// Whether a writer must record in a [`BlockJournal`] every block it is about to write or
    /// confirm, before it touches the store ([`Journaled`]): true for stores that cannot
    /// record a confirmation themselves (0-db: `EXISTS` and an identical `SET` leave no
    /// trace), so the garbage collector could otherwise delete a block a writer relies on.
    fn needs_journal(&self) -> bool {
        false
    }

    /// Deletes the block stored under `id` whatever its age; `false` when it was not there.
    ///
    /// Only for the garbage collector of a store that [needs a journal](Self::needs_journal),
    /// while it holds the journal's deletion lock on `id` (`docs/gc.md`): the store itself
    /// cannot tell whether a writer relies on the block.
    async fn delete_locked(&self, id: &[u8]) -> Result<bool, StoreError> {
        let _ = id;
        Err(StoreError::Unsupported {
            url: self.url(),
            operation: "deleting blocks",
        })
    }

    /// Deletes the block stored under `id` unless it was written or confirmed by
    /// [`BlockStore::exists`] or [`BlockStore::set`] at or after `cutoff`, checked atomically
    /// with respect to those calls: a writer that was told the block exists keeps it. Returns
    /// the bytes freed, `None` when nothing was deleted (absent or too young).
    async fn delete_if_older(
        &self,
        id: &[u8],
        cutoff: SystemTime,
    ) -> Result<Option<u64>, StoreError> {
        let _ = (id, cutoff);
        Err(StoreError::Unsupported {
            url: self.url(),
            operation: "deleting blocks",
        })
    }

    /// Readiness probe: succeeds when the store can serve requests now.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Rows for a `.fl` route table, with passwords stripped from the URLs.
    fn routes(&self) -> Vec<Route>;

    /// URL for logs and messages, password stripped.
    fn url(&self) -> String;
}

/// A block as listed by [`BlockStore::blocks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// Raw id bytes.
    pub id: Vec<u8>,
    /// Stored size in bytes.
    pub size: u64,
    /// Last write or existence confirmation (0-db: last write only).
    pub modified: SystemTime,
    /// Set on the blocks after which the listing can be resumed (0-db: the last block of
    /// each `SCAN` page): pass it to [`BlockStore::blocks_after`].
    pub cursor: Option<Vec<u8>>,
}

/// A store shared between tasks.
pub type SharedStore = Arc<dyn BlockStore>;

/// One row of a `.fl` route table: block ids whose first byte is in `start..=end` live at `url`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// First id byte covered (inclusive).
    pub start: u8,
    /// Last id byte covered (inclusive).
    pub end: u8,
    /// Store URL without password.
    pub url: String,
}

/// Opens a store from a spec.
///
/// A spec is one URL, or several `[<start hex>-<end hex>=]<url>` entries separated by commas
/// or whitespace (the rfs CLI syntax). URLs:
///
/// * `dir:///absolute/path` or `dir://relative/path` (relative to the current directory);
/// * `zdb://[user[:password]@]host[:port][/namespace][?pool=N]` (port 9900, namespace
///   `default`, 16 pooled connections unless given);
/// * `http(s)://host[:port][/base]`: read-only, resolved as rfs does ([`HttpStore`]).
///
/// A single URL without a range opens that store directly; anything else opens a [`Router`].
/// Opening does no network I/O: use [`BlockStore::ping`] to check reachability.
pub async fn open(spec: &str) -> Result<SharedStore, StoreError> {
    let entries = spec::parse_spec(spec)?;
    if let [entry] = entries.as_slice()
        && entry.range.is_none()
    {
        return open_url(&entry.url).await;
    }
    let mut routes = Vec::with_capacity(entries.len());
    for entry in &entries {
        let (start, end) = entry.range.unwrap_or((u8::MIN, u8::MAX));
        routes.push((start, end, open_url(&entry.url).await?));
    }
    Ok(Arc::new(Router::new(routes)?))
}

async fn open_url(url: &spec::StoreUrl) -> Result<SharedStore, StoreError> {
    Ok(match url {
        spec::StoreUrl::Dir(root) => Arc::new(DirStore::open(root.clone()).await?),
        spec::StoreUrl::Zdb(url) => Arc::new(ZdbStore::new(url.clone(), ZdbOptions::default())?),
        spec::StoreUrl::Http(base) => Arc::new(HttpStore::new(base)?),
    })
}

/// Checks a key against the limits every store shares.
pub(crate) fn check_key(id: &[u8]) -> Result<(), StoreError> {
    if id.is_empty() {
        return Err(StoreError::InvalidKey {
            len: 0,
            reason: "keys cannot be empty",
        });
    }
    if id.len() > MAX_KEY_SIZE {
        return Err(StoreError::InvalidKey {
            len: id.len(),
            reason: "keys are at most 255 bytes",
        });
    }
    Ok(())
}

/// Checks a value against the limits every store shares.
pub(crate) fn check_value(
    url: impl FnOnce() -> String,
    id: &[u8],
    data: &[u8],
) -> Result<(), StoreError> {
    if data.len() > MAX_VALUE_SIZE {
        return Err(StoreError::TooLarge {
            size: data.len(),
            limit: MAX_VALUE_SIZE,
        });
    }
    if data.is_empty() {
        return Err(StoreError::EmptyValue {
            url: url(),
            key: hex::encode(id),
        });
    }
    Ok(())
}
