//! The block pipeline: plain blocks in, stored blocks and their references out.
//!
//! ```text
//! producer thread ──(bounded)──▶ encode workers (N threads) ──(bounded)──▶ store stage (async)
//!   cuts files        jobs        hash, dedup, compress,        encoded     bounded concurrent
//!   into blocks                   encrypt, hash                 blocks      `set` calls
//! ```
//!
//! Every channel is bounded, so memory stays flat whatever the input size. Hashing,
//! compression and encryption run on dedicated threads, never on the async runtime. Each block
//! gets a sequence number when submitted; its [`BlockRef`] is recorded under that number, so
//! the tree can be completed once everything is stored ([`Pipeline::finish`]).

mod store_stage;
mod workers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use bytes::Bytes;
use hub_flist::{BlockRef, Format, Hash};
use hub_store::SharedStore;

use crate::ConvertError;
use store_stage::StoreStage;

/// A plain block waiting to be encoded.
struct Job {
    index: u64,
    data: Bytes,
}

/// An encoded block waiting to be stored.
struct Encoded {
    id: Hash,
    data: Bytes,
}

/// State shared by the producer, the workers and the store stage.
pub(crate) struct Shared {
    format: Format,
    /// Plain key → id of every block encoded in this run: equal content is encoded and stored
    /// once.
    cache: Mutex<HashMap<Hash, Hash>>,
    /// Block references by sequence number.
    results: Mutex<Vec<Option<BlockRef>>>,
    /// Set when the conversion failed or was abandoned: producers stop at the next block.
    stopped: AtomicBool,
    pub(crate) blocks_written: AtomicU64,
    pub(crate) blocks_deduped: AtomicU64,
    pub(crate) stored_bytes: AtomicU64,
}

impl Shared {
    fn record(&self, index: u64, block: BlockRef) {
        let mut results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(i) = usize::try_from(index) else {
            return;
        };
        if results.len() <= i {
            results.resize(i + 1, None);
        }
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(block);
        }
    }

    /// Asks every producer to stop.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// The producer's handle: submits plain blocks in order. Owned by one thread at a time.
pub(crate) struct Submitter {
    jobs: SyncSender<Job>,
    next: u64,
    shared: Arc<Shared>,
}

/// The pipeline stopped (an error elsewhere, or the conversion was abandoned).
#[derive(Debug)]
pub(crate) struct Stopped;

impl Submitter {
    /// Queues a block (at most [`hub_flist::chunk::CHUNK_SIZE`] bytes) and returns its sequence
    /// number. Blocks while the pipeline is full: that back-pressure is what bounds memory.
    pub(crate) fn submit(&mut self, data: Bytes) -> Result<u64, Stopped> {
        if self.shared.is_stopped() {
            return Err(Stopped);
        }
        let index = self.next;
        self.jobs.send(Job { index, data }).map_err(|_| Stopped)?;
        self.next += 1;
        Ok(index)
    }

    /// Number of blocks submitted so far (the next sequence number).
    pub(crate) fn submitted(&self) -> u64 {
        self.next
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// A running pipeline. Dropping it stops the workers.
pub(crate) struct Pipeline {
    submitter: Option<Submitter>,
    workers: Vec<JoinHandle<()>>,
    stage: StoreStage,
    shared: Arc<Shared>,
}

impl Pipeline {
    /// Starts `workers` encoder threads and a store stage with `store_concurrency` writes in
    /// flight; `in_flight` bounds each queue.
    pub(crate) fn start(
        format: Format,
        store: SharedStore,
        workers: usize,
        in_flight: usize,
        store_concurrency: usize,
    ) -> Result<Pipeline, ConvertError> {
        let in_flight = in_flight.max(1);
        let shared = Arc::new(Shared {
            format,
            cache: Mutex::new(HashMap::new()),
            results: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            blocks_written: AtomicU64::new(0),
            blocks_deduped: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
        });
        let (jobs_tx, jobs_rx) = sync_channel(in_flight);
        let (stage, encoded_tx) = StoreStage::new(store, in_flight, store_concurrency.max(1));
        let threads = workers::spawn(workers.max(1), &shared, jobs_rx, encoded_tx)?;
        Ok(Pipeline {
            submitter: Some(Submitter {
                jobs: jobs_tx,
                next: 0,
                shared: Arc::clone(&shared),
            }),
            workers: threads,
            stage,
            shared,
        })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes the submitter for a producer run; give it back with [`Pipeline::put_submitter`].
    pub(crate) fn take_submitter(&mut self) -> Result<Submitter, ConvertError> {
        self.submitter
            .take()
            .ok_or_else(|| ConvertError::Internal("the block pipeline is already closed".into()))
    }

    pub(crate) fn put_submitter(&mut self, submitter: Submitter) {
        self.submitter = Some(submitter);
    }

    /// Runs a producer on the blocking pool while storing what the workers encode. On any
    /// error the pipeline is stopped and the producer awaited, so nothing keeps running.
    pub(crate) async fn run<T, F>(&mut self, producer: F) -> Result<T, ConvertError>
    where
        F: FnOnce() -> Result<T, ConvertError> + Send + 'static,
        T: Send + 'static,
    {
        // Stops the producer if this future is dropped (the job was cancelled).
        let mut guard = StopOnDrop {
            shared: Arc::clone(&self.shared),
            armed: true,
        };
        let mut handle = tokio::task::spawn_blocking(producer);
        let outcome = self.stage.drive(&mut handle, &self.shared).await;
        let result = match outcome {
            Ok(joined) => joined.map_err(ConvertError::from).and_then(|r| r),
            Err(error) => {
                self.abort();
                // The workers are unblocked by `abort`, so the producer ends promptly.
                let _ = handle.await;
                Err(error)
            }
        };
        if result.is_err() {
            self.abort();
        }
        guard.armed = false;
        result
    }

    /// Stops everything: producers see [`Stopped`], workers find the store stage closed.
    fn abort(&mut self) {
        self.shared.stop();
        self.stage.close();
    }

    /// Closes the pipeline: waits until every submitted block is encoded and stored, then
    /// returns the block references by sequence number.
    pub(crate) async fn finish(mut self) -> Result<Vec<BlockRef>, ConvertError> {
        let submitted = self.submitter.take().map_or(0, |s| s.next);
        // Dropping the submitter closed the job queue: workers drain it, then exit, which
        // closes the store stage's input.
        let drained = self.stage.drain(&self.shared).await;
        if let Err(error) = drained {
            self.abort();
            return Err(error);
        }
        let workers = std::mem::take(&mut self.workers);
        let panicked = tokio::task::spawn_blocking(move || {
            workers
                .into_iter()
                .map(JoinHandle::join)
                .filter(Result::is_err)
                .count()
        })
        .await?;
        if panicked > 0 {
            return Err(ConvertError::Internal(format!(
                "{panicked} encoder thread(s) panicked"
            )));
        }
        let results = std::mem::take(
            &mut *self
                .shared
                .results
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let expected = usize::try_from(submitted)
            .map_err(|_| ConvertError::Internal("too many blocks".into()))?;
        if results.len() != expected {
            return Err(ConvertError::Internal(format!(
                "{} of {expected} blocks were encoded",
                results.len()
            )));
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.ok_or_else(|| ConvertError::Internal(format!("block {i} was lost"))))
            .collect()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Unblocks workers waiting on the store stage; they exit on their own.
        self.shared.stop();
    }
}

/// Marks the pipeline stopped when dropped while armed (disarmed on the normal path).
struct StopOnDrop {
    shared: Arc<Shared>,
    armed: bool,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.shared.stop();
        }
    }
}
