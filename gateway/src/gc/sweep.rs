//! Sweep: list the store, delete what is neither marked nor younger than the grace window.

use std::time::{Instant, SystemTime};

use futures::{Stream, StreamExt, TryStreamExt};
use hub_store::{SharedStore, StoreError, StoredBlock};

use super::{Bloom, GcConfig, GcError, GcReport};

/// What to do with one listed block.
enum Verdict {
    Referenced,
    Young,
    Garbage(StoredBlock),
}

/// Decides and deletes, in listing order; `listing` is the store's [`BlockStore::blocks`].
///
/// [`BlockStore::blocks`]: hub_store::BlockStore::blocks
pub(super) async fn run(
    store: &SharedStore,
    listing: impl Stream<Item = Result<StoredBlock, StoreError>> + Unpin,
    config: &GcConfig,
    cutoff: SystemTime,
    marked: &Bloom,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let clock = Instant::now();
    let every = config.progress_every.max(1);
    let mut candidates = listing.map_ok(|block| {
        if marked.contains(&block.id) {
            Verdict::Referenced
        } else if block.modified >= cutoff {
            Verdict::Young
        } else {
            Verdict::Garbage(block)
        }
    });
    // Batches of a few rounds of concurrent deletions, so memory stays bounded.
    let batch = config.concurrency.max(1) * 4;
    let mut deletions = Vec::with_capacity(batch);
    while let Some(verdict) = candidates.try_next().await? {
        report.blocks_scanned += 1;
        match verdict {
            Verdict::Referenced => report.kept_referenced += 1,
            Verdict::Young => report.kept_young += 1,
            Verdict::Garbage(block) if report.dry_run => {
                report.freed_blocks += 1;
                report.freed_bytes += block.size;
            }
            Verdict::Garbage(block) => {
                deletions.push(block.id);
                if deletions.len() >= batch {
                    delete(store, config, cutoff, &mut deletions, report).await?;
                }
            }
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
    delete(store, config, cutoff, &mut deletions, report).await?;
    report.sweep_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(())
}

/// Deletes a batch concurrently; a block refreshed since it was listed stays (the store
/// re-checks its age atomically) and is counted young.
async fn delete(
    store: &SharedStore,
    config: &GcConfig,
    cutoff: SystemTime,
    ids: &mut Vec<Vec<u8>>,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let batch = std::mem::take(ids);
    let results: Vec<Option<u64>> = futures::stream::iter(batch)
        .map(|id| async move { store.delete_if_older(&id, cutoff).await })
        .buffer_unordered(config.concurrency.max(1))
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
