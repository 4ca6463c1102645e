//! Mark: every block of every live flist, and the blocks holding the flist files themselves.

use std::time::{Instant, SystemTime};

use futures::TryStreamExt;

use hub_store::{ObjectId, ObjectStore, SharedStore};

use super::{Bloom, GcError, GcReport};

/// Adds to `marked` the keys of every flist kept by the rows of `db` (referenced by an entry
/// or created at or after `cutoff`).
pub(super) async fn run(
    db: &hub_db::PgPool,
    store: &SharedStore,
    cutoff: SystemTime,
    marked: &mut Bloom,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let clock = Instant::now();
    let since = chrono::DateTime::<chrono::Utc>::from(cutoff);
    let live = hub_db::flists::live_for_gc(db, since).await?;
    let objects = ObjectStore::new(store.clone());
    for (id, hash) in live {
        let object: ObjectId = hash.parse().map_err(|_| GcError::BadHash {
            id,
            hash: hash.clone(),
        })?;
        let Some(keys) = objects.keys(&object).await? else {
            // Nothing of it can be read back: there is nothing to protect.
            tracing::warn!(flist = id, %hash, "gc: live flist has no file in the store");
            report.flists_missing += 1;
            continue;
        };
        for key in &keys {
            marked.insert(key);
        }
        let Some(bytes) = objects.get(&object).await? else {
            report.flists_missing += 1;
            continue;
        };
        let blocks = tokio::task::spawn_blocking(move || {
            hub_flist::read_bytes(&bytes)
                .map(|flist| flist.block_ids().map(<[u8]>::to_vec).collect::<Vec<_>>())
        })
        .await?
        .map_err(|source| GcError::Flist {
            hash: hash.clone(),
            source,
        })?;
        report.blocks_marked += (keys.len() + blocks.len()) as u64;
        for block in &blocks {
            marked.insert(block);
        }
        report.flists_marked += 1;
    }
    report.mark_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        flists = report.flists_marked,
        blocks = report.blocks_marked,
        ms = report.mark_ms,
        "gc: mark done"
    );
    Ok(())
}

/// Adds to `marked` every block-journal key touched at or after `cutoff`: blocks writers
/// wrote or confirmed within the grace window (in-flight jobs, recent chunk uploads), which
/// no flist may reference yet.
pub(super) async fn journal(
    db: &hub_db::PgPool,
    cutoff: SystemTime,
    marked: &mut Bloom,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let mut keys = std::pin::pin!(hub_db::block_journal::touched_since(db, cutoff.into()));
    while let Some(key) = keys.try_next().await? {
        marked.insert(&key);
        report.journal_marked += 1;
    }
    tracing::info!(keys = report.journal_marked, "gc: journal marked");
    Ok(())
}
