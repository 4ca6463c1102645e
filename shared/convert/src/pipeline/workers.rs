//! Encoder threads: hash, deduplicate, compress, encrypt.

use std::collections::hash_map::Entry;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use bytes::Bytes;
use hub_flist::chunk::{encode_with_key, plain_key};
use hub_flist::{BlockRef, Hash};
use tokio::sync::mpsc;

use super::{Encoded, Job, Shared};
use crate::ConvertError;

/// Starts `count` threads taking jobs from `jobs` and handing new blocks to `encoded`.
pub(super) fn spawn(
    count: usize,
    shared: &Arc<Shared>,
    jobs: Receiver<Job>,
    encoded: mpsc::Sender<Encoded>,
) -> Result<Vec<JoinHandle<()>>, ConvertError> {
    // One receiver shared by all workers: jobs are whole blocks (up to 512 KiB, milliseconds
    // of work each), so the lock is never contended for long.
    let jobs = Arc::new(Mutex::new(jobs));
    (0..count)
        .map(|n| {
            let shared = Arc::clone(shared);
            let jobs = Arc::clone(&jobs);
            let encoded = encoded.clone();
            std::thread::Builder::new()
                .name(format!("hub-encode-{n}"))
                .spawn(move || work(&shared, &jobs, &encoded))
                .map_err(|e| ConvertError::Internal(format!("cannot start encoder thread: {e}")))
        })
        .collect()
}

fn work(shared: &Shared, jobs: &Mutex<Receiver<Job>>, encoded: &mpsc::Sender<Encoded>) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(Job { index, data }) = job else {
            return; // the producer side is closed: all work is done
        };
        if let Some(new) = encode(shared, index, &data) {
            // The store stage closes its queue when the conversion is abandoned.
            if encoded.blocking_send(new).is_err() {
                return;
            }
        }
    }
}

/// Encodes one block and records its reference; returns it when it must be stored (the first
/// time this content is seen in the run).
fn encode(shared: &Shared, index: u64, plain: &[u8]) -> Option<Encoded> {
    let key = plain_key(shared.format, plain);
    if let Some(id) = cached(shared, &key) {
        shared.record(index, BlockRef { id, key });
        shared.blocks_deduped.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let chunk = encode_with_key(shared.format, key, plain);
    shared.record(index, chunk.block_ref());
    // Two workers may have encoded the same content at once: only the first stores it.
    let first = match shared
        .cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
    {
        Entry::Occupied(_) => false,
        Entry::Vacant(slot) => {
            slot.insert(chunk.id);
            true
        }
    };
    if first {
        Some(Encoded {
            id: chunk.id,
            data: Bytes::from(chunk.data),
        })
    } else {
        shared.blocks_deduped.fetch_add(1, Ordering::Relaxed);
        None
    }
}

fn cached(shared: &Shared, key: &Hash) -> Option<Hash> {
    shared
        .cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .copied()
}
