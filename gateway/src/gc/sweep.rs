//! Sweep: list the store, delete what is neither marked nor younger than the grace window,
//! and save checkpoints a crashed run is resumed from.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use hub_db::gc_runs::{self, Progress};
use hub_store::{SharedStore, StoreError, StoredBlock};

use super::{Bloom, Fault, GcConfig, GcError, GcReport, Hooks};

/// What to do with one listed block.
enum Verdict {
    Referenced,
    Young,
    Garbage,
}

/// The settings of one sweep.
pub(super) struct Sweep<'a> {
    pub db: &'a hub_db::PgPool,
    pub store: &'a SharedStore,
    pub config: &'a GcConfig,
    pub cutoff: SystemTime,
    pub marked: &'a Bloom,
    /// Delete under the block journal's lock (`zdb://`) rather than with the store's own
    /// age check (`dir://`).
    pub journaled: bool,
    pub hooks: &'a Hooks,
}

/// The counters a checkpoint saves.
pub(super) fn progress(report: &GcReport) -> Progress {
    Progress {
        blocks_scanned: report.blocks_scanned,
        freed_blocks: report.freed_blocks,
        freed_bytes: report.freed_bytes,
    }
}

impl Sweep<'_> {
    /// Decides and deletes, in listing order; `listing` is the store's
    /// [`BlockStore::blocks`] (or `blocks_after` the resumed run's cursor).
    ///
    /// [`BlockStore::blocks`]: hub_store::BlockStore::blocks
    pub async fn run(
        &self,
        mut listing: impl Stream<Item = Result<StoredBlock, StoreError>> + Unpin,
        report: &mut GcReport,
    ) -> Result<(), GcError> {
        let clock = Instant::now();
        let every = self.config.progress_every.max(1);
        let checkpoint_every = self.config.checkpoint_every.max(1);
        let mut since_checkpoint = 0u64;
        // Batches of a few rounds of concurrent deletions, so memory stays bounded.
        let batch = self.config.concurrency.max(1) * 4;
        let mut deletions = Vec::with_capacity(batch);
        while let Some(mut block) = listing.try_next().await? {
            report.blocks_scanned += 1;
            since_checkpoint += 1;
            let cursor = block.cursor.take();
            match self.verdict(&block) {
                Verdict::Referenced => report.kept_referenced += 1,
                Verdict::Young => report.kept_young += 1,
                Verdict::Garbage if report.dry_run => {
                    report.freed_blocks += 1;
                    report.freed_bytes += block.size;
                }
                Verdict::Garbage => {
                    deletions.push(block);
                    if deletions.len() >= batch {
                        self.delete(&mut deletions, report).await?;
                    }
                }
            }
            // Every block up to the cursor must be dealt with before the cursor is saved.
            if let (Some(cursor), Some(run)) = (cursor, report.run_id)
                && since_checkpoint >= checkpoint_every
            {
                self.delete(&mut deletions, report).await?;
                gc_runs::checkpoint(self.db, run, &cursor, progress(report)).await?;
                since_checkpoint = 0;
            }
            if report.blocks_scanned.is_multiple_of(every) {
                tracing::info!(
                    scanned = report.blocks_scanned,
                    freed = report.freed_blocks,
                    freed_bytes = report.freed_bytes,
                    "gc: sweeping"
                );
            }
        }
        self.delete(&mut deletions, report).await?;
        report.sweep_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(())
    }

    fn verdict(&self, block: &StoredBlock) -> Verdict {
        if self.marked.contains(&block.id) {
            Verdict::Referenced
        } else if block.modified >= self.cutoff {
            Verdict::Young
        } else {
            Verdict::Garbage
        }
    }

    /// Deletes a batch; a block written or confirmed since it was listed stays and is
    /// counted young.
    async fn delete(
        &self,
        batch: &mut Vec<StoredBlock>,
        report: &mut GcReport,
    ) -> Result<(), GcError> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(batch);
        if self.journaled {
            self.delete_locked(batch, report).await?;
        } else {
            self.delete_if_older(batch, report).await?;
        }
        let limit = match self.hooks.fault {
            Fault::None => None,
            Fault::FailAfter(limit) | Fault::AbortAfter(limit) => Some(limit),
        };
        if limit.is_some_and(|limit| report.freed_blocks >= limit) {
            if matches!(self.hooks.fault, Fault::AbortAfter(_)) {
                tracing::error!(
                    freed = report.freed_blocks,
                    "gc: HUB_GC_CRASH_AFTER reached, aborting"
                );
                std::process::abort();
            }
            return Err(GcError::Interrupted(report.freed_blocks));
        }
        Ok(())
    }

    /// `dir://`: the store re-checks each block's age atomically.
    async fn delete_if_older(
        &self,
        batch: Vec<StoredBlock>,
        report: &mut GcReport,
    ) -> Result<(), GcError> {
        let store = self.store;
        let cutoff = self.cutoff;
        let results: Vec<Option<u64>> = futures::stream::iter(batch)
            .map(|block| async move { store.delete_if_older(&block.id, cutoff).await })
            .buffer_unordered(self.config.concurrency.max(1))
            .try_collect()
            .await?;
        for freed in results {
            match freed {
                Some(bytes) => {
                    report.freed_blocks += 1;
                    report.freed_bytes += bytes;
                }
                None => report.kept_young += 1,
            }
        }
        Ok(())
    }

    /// `zdb://`: in one transaction, lock the batch's journal rows, keep the blocks touched
    /// within the grace window, delete the others, then commit. A writer's touch either
    /// committed before the lock (seen here: kept) or waits for the commit, after which its
    /// `EXISTS` finds the block gone and it writes it again (`docs/gc.md`). A crash rolls the
    /// transaction back, releasing the writers; nothing they rely on is lost.
    async fn delete_locked(
        &self,
        batch: Vec<StoredBlock>,
        report: &mut GcReport,
    ) -> Result<(), GcError> {
        let cutoff = DateTime::<Utc>::from(self.cutoff);
        let ids: Vec<Vec<u8>> = batch.iter().map(|block| block.id.clone()).collect();
        if let Some(hook) = &self.hooks.before_lock {
            hook(ids.clone()).await;
        }
        let mut tx = self.db.begin().await.map_err(hub_db::DbError::from)?;
        let rows = hub_db::block_journal::lock_for_deletion(&mut tx, &ids).await?;
        if let Some(hook) = &self.hooks.after_lock {
            hook(ids.clone()).await;
        }
        let touched: HashSet<Vec<u8>> = rows
            .into_iter()
            .filter(|row| row.touched_at.is_some_and(|at| at >= cutoff))
            .map(|row| row.key)
            .collect();
        let (young, garbage): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|block| touched.contains(&block.id));
        report.kept_young += young.len() as u64;
        let store = self.store;
        let results: Vec<Option<u64>> = futures::stream::iter(garbage)
            .map(|block| async move {
                let deleted = store.delete_locked(&block.id).await?;
                Ok::<_, StoreError>(deleted.then_some(block.size))
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .try_collect()
            .await?;
        // Only now may waiting writers go on: every `DEL` above has been answered.
        tx.commit().await.map_err(hub_db::DbError::from)?;
        for bytes in results.into_iter().flatten() {
            report.freed_blocks += 1;
            report.freed_bytes += bytes;
        }
        Ok(())
    }
}
