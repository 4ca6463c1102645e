//! 0-db (`zdb://`) block store in user mode.

mod pool;
mod scan;
mod url;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use redis::Value;

pub use self::pool::ZdbOptions;
use self::pool::{Pool, Reply};
pub use self::url::ZdbUrl;
use crate::{BlockStore, Route, StoreError, StoredBlock, check_key, check_value};

/// 0-db answers this to an overwrite in a write-once namespace. Ids are content hashes, so an
/// existing key already holds the same bytes: the write has nothing left to do.
const WORM_REFUSAL: &str = "Namespace is protected by worm mode";

/// 0-db's answer to `DEL` of a key that is missing or already deleted.
const KEY_NOT_FOUND: &str = "Key not found";

/// A 0-db namespace used as a block store through a connection pool.
#[derive(Debug)]
pub struct ZdbStore {
    /// Shared with the listing task of [`BlockStore::blocks`].
    pool: Arc<Pool>,
}

impl ZdbStore {
    /// A store for `url`; connections are opened on first use.
    pub fn new(url: ZdbUrl, options: ZdbOptions) -> Result<Self, StoreError> {
        Ok(Self {
            pool: Arc::new(Pool::new(url, &options)?),
        })
    }

    /// Parses `url` and builds a store with the given options.
    pub fn from_url(url: &str, options: ZdbOptions) -> Result<Self, StoreError> {
        Self::new(ZdbUrl::parse(url)?, options)
    }

    /// Largest number of connections (and requests in flight) this store uses.
    pub fn pool_size(&self) -> usize {
        self.pool.size()
    }

    fn unexpected(&self, command: &str, reply: Reply) -> StoreError {
        unexpected(&self.pool, command, reply)
    }
}

/// The error for a reply a command should not get.
fn unexpected(pool: &Pool, command: &str, reply: Reply) -> StoreError {
    match reply {
        Reply::ServerError(message) => pool.protocol(message),
        Reply::Value(value) => pool.protocol(format!("unexpected reply to {command}: {value:?}")),
    }
}

#[async_trait]
impl BlockStore for ZdbStore {
    async fn get(&self, id: &[u8]) -> Result<Option<Bytes>, StoreError> {
        check_key(id)?;
        match self.pool.run(redis::cmd("GET").arg(id)).await? {
            Reply::Value(Value::Nil) => Ok(None),
            Reply::Value(Value::BulkString(data)) if data.is_empty() => {
                Err(StoreError::EmptyValue {
                    url: self.url(),
                    key: hex::encode(id),
                })
            }
            Reply::Value(Value::BulkString(data)) => Ok(Some(Bytes::from(data))),
            other => Err(self.unexpected("GET", other)),
        }
    }

    async fn set(&self, id: &[u8], data: Bytes) -> Result<(), StoreError> {
        check_key(id)?;
        check_value(|| self.url(), id, &data)?;
        match self
            .pool
            .run(redis::cmd("SET").arg(id).arg(data.as_ref()))
            .await?
        {
            // The key when written, nil when the stored value was already identical.
            Reply::Value(Value::BulkString(key)) if key == id => Ok(()),
            Reply::Value(Value::Nil) => Ok(()),
            Reply::ServerError(message) if message == WORM_REFUSAL => Ok(()),
            other => Err(self.unexpected("SET", other)),
        }
    }

    async fn exists(&self, id: &[u8]) -> Result<bool, StoreError> {
        check_key(id)?;
        match self.pool.run(redis::cmd("EXISTS").arg(id)).await? {
            Reply::Value(Value::Int(1)) => Ok(true),
            Reply::Value(Value::Int(0)) => Ok(false),
            other => Err(self.unexpected("EXISTS", other)),
        }
    }

    /// `SCAN` pages in write order, one request in flight, streamed through a bounded
    /// channel; the last block of each page carries the page's cursor.
    fn blocks(&self) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        scan::list(Arc::clone(&self.pool), None)
    }

    fn blocks_after(&self, cursor: &[u8]) -> BoxStream<'static, Result<StoredBlock, StoreError>> {
        scan::list(Arc::clone(&self.pool), Some(cursor.to_vec()))
    }

    /// `EXISTS` and an identical `SET` leave no trace in 0-db, and a key's timestamp cannot
    /// be refreshed: confirmations must be recorded outside.
    fn needs_journal(&self) -> bool {
        true
    }

    async fn delete_locked(&self, id: &[u8]) -> Result<bool, StoreError> {
        check_key(id)?;
        match self.pool.run(redis::cmd("DEL").arg(id)).await? {
            Reply::Value(Value::Okay) => Ok(true),
            // Gone already (another collection, or a retried request that did delete it).
            Reply::ServerError(message) if message == KEY_NOT_FOUND => Ok(false),
            other => Err(self.unexpected("DEL", other)),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self.pool.run(&redis::cmd("PING")).await? {
            Reply::Value(Value::SimpleString(pong)) if pong == "PONG" => Ok(()),
            other => Err(self.unexpected("PING", other)),
        }
    }

    fn routes(&self) -> Vec<Route> {
        vec![Route {
            start: u8::MIN,
            end: u8::MAX,
            url: self.url(),
        }]
    }

    fn url(&self) -> String {
        self.pool.display_url().to_owned()
    }
}
