//! A store that shards blocks over other stores by the first byte of their id
//! (`flist-formats.md` B.6): writes go to every matching store, reads to the first that has
//! the block.

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::try_join_all;

use crate::{BlockStore, Route, SharedStore, StoreError, check_key};

/// One range of id[0] values and the store that holds them.
#[derive(Debug)]
struct Shard {
    start: u8,
    end: u8,
    store: SharedStore,
}

/// Routes ids to stores by ranges of their first byte (inclusive). Ranges may overlap: every
/// matching store gets the writes (replication).
#[derive(Debug)]
pub struct Router {
    shards: Vec<Shard>,
}

impl Router {
    /// Builds a router from `(start, end, store)` ranges.
    pub fn new(routes: Vec<(u8, u8, SharedStore)>) -> Result<Self, StoreError> {
        if routes.is_empty() {
            return Err(StoreError::InvalidUrl {
                url: String::new(),
                reason: "a router needs at least one route".to_owned(),
            });
        }
        let shards = routes
            .into_iter()
            .map(|(start, end, store)| {
                if start > end {
                    return Err(StoreError::InvalidUrl {
                        url: store.url(),
                        reason: format!("range {start:02x}-{end:02x} is empty"),
                    });
                }
                Ok(Shard { start, end, store })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { shards })
    }

    /// The stores whose range covers `id[0]`; an error when there is none.
    fn matching(&self, id: &[u8]) -> Result<Vec<&SharedStore>, StoreError> {
        check_key(id)?;
        let first = id.first().copied().unwrap_or_default();
        let stores: Vec<_> = self
            .shards
            .iter()
            .filter(|shard| (shard.start..=shard.end).contains(&first))
            .map(|shard| &shard.store)
            .collect();
        if stores.is_empty() {
            return Err(StoreError::NoRoute { first });
        }
        Ok(stores)
    }
}

#[async_trait]
impl BlockStore for Router {
    /// Tries the matching stores in turn; a store that fails does not hide a copy in another.
    async fn get(&self, id: &[u8]) -> Result<Option<Bytes>, StoreError> {
        let mut first_error = None;
        for store in self.matching(id)? {
            match store.get(id).await {
                Ok(Some(data)) => return Ok(Some(data)),
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(store = %store.url(), %error, "router: read failed, trying the next store");
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(None), Err)
    }

    /// Writes to every matching store concurrently; fails if any write fails.
    async fn set(&self, id: &[u8], data: Bytes) -> Result<(), StoreError> {
        let stores = self.matching(id)?;
        try_join_all(stores.into_iter().map(|store| store.set(id, data.clone()))).await?;
        Ok(())
    }

    /// True when any matching store has the id.
    async fn exists(&self, id: &[u8]) -> Result<bool, StoreError> {
        let mut first_error = None;
        for store in self.matching(id)? {
            match store.exists(id).await {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(false), Err)
    }

    /// A writer must journal when any member store needs it.
    fn needs_journal(&self) -> bool {
        self.shards.iter().any(|shard| shard.store.needs_journal())
    }

    /// Every store must answer: a route table names them all.
    async fn ping(&self) -> Result<(), StoreError> {
        try_join_all(self.shards.iter().map(|shard| shard.store.ping())).await?;
        Ok(())
    }

    /// One row per range, narrowed to the ranges of nested routers.
    fn routes(&self) -> Vec<Route> {
        self.shards
            .iter()
            .flat_map(|shard| {
                shard.store.routes().into_iter().filter_map(|inner| {
                    let start = shard.start.max(inner.start);
                    let end = shard.end.min(inner.end);
                    (start <= end).then_some(Route {
                        start,
                        end,
                        url: inner.url,
                    })
                })
            })
            .collect()
    }

    /// The spec that would open this router again (passwords stripped).
    fn url(&self) -> String {
        self.routes()
            .iter()
            .map(|route| format!("{:02x}-{:02x}={}", route.start, route.end, route.url))
            .collect::<Vec<_>>()
            .join(",")
    }
}
