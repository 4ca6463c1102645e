//! The async end of the pipeline: bounded concurrent `set` calls.
//!
//! The stage only runs while one of its methods is awaited (no detached task), so a dropped
//! conversion leaves nothing running behind it.

use std::future::Future;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use hub_store::{SharedStore, StoreError};
use tokio::sync::mpsc;

use super::{Encoded, Shared};
use crate::ConvertError;

pub(super) struct StoreStage {
    store: SharedStore,
    /// `None` once closed: every worker is gone, or the pipeline was aborted.
    rx: Option<mpsc::Receiver<Encoded>>,
    inflight: FuturesUnordered<BoxFuture<'static, Result<u64, StoreError>>>,
    limit: usize,
}

impl StoreStage {
    pub(super) fn new(
        store: SharedStore,
        queue: usize,
        limit: usize,
    ) -> (StoreStage, mpsc::Sender<Encoded>) {
        let (tx, rx) = mpsc::channel(queue);
        let stage = StoreStage {
            store,
            rx: Some(rx),
            inflight: FuturesUnordered::new(),
            limit,
        };
        (stage, tx)
    }

    /// Stores blocks while `fut` runs; returns its output as soon as it completes (writes
    /// still in flight continue at the next call).
    pub(super) async fn drive<F: Future + Unpin>(
        &mut self,
        mut fut: F,
        shared: &Shared,
    ) -> Result<F::Output, ConvertError> {
        loop {
            let StoreStage {
                store,
                rx,
                inflight,
                limit,
            } = self;
            let can_take = rx.is_some() && inflight.len() < *limit;
            tokio::select! {
                biased;
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    account(done?, shared);
                }
                block = recv(rx), if can_take => match block {
                    Some(block) => inflight.push(write(store, block)),
                    None => *rx = None,
                },
                out = &mut fut => return Ok(out),
            }
        }
    }

    /// Stores everything until every sender is gone and every write finished.
    pub(super) async fn drain(&mut self, shared: &Shared) -> Result<(), ConvertError> {
        loop {
            let StoreStage {
                store,
                rx,
                inflight,
                limit,
            } = self;
            if rx.is_none() && inflight.is_empty() {
                return Ok(());
            }
            let can_take = rx.is_some() && inflight.len() < *limit;
            tokio::select! {
                biased;
                Some(done) = inflight.next(), if !inflight.is_empty() => {
                    account(done?, shared);
                }
                block = recv(rx), if can_take => match block {
                    Some(block) => inflight.push(write(store, block)),
                    None => *rx = None,
                },
            }
        }
    }

    /// Drops the queue and pending writes: blocked workers see a closed channel and exit.
    pub(super) fn close(&mut self) {
        self.rx = None;
        self.inflight = FuturesUnordered::new();
    }
}

async fn recv(rx: &mut Option<mpsc::Receiver<Encoded>>) -> Option<Encoded> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}

fn write(store: &SharedStore, block: Encoded) -> BoxFuture<'static, Result<u64, StoreError>> {
    let store = SharedStore::clone(store);
    Box::pin(async move {
        let len = block.data.len() as u64;
        store.set(block.id.as_bytes(), block.data).await?;
        Ok(len)
    })
}

fn account(bytes: u64, shared: &Shared) {
    shared.blocks_written.fetch_add(1, Ordering::Relaxed);
    shared.stored_bytes.fetch_add(bytes, Ordering::Relaxed);
}
