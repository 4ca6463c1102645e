//! Confirming the blocks of a flist that a job publishes without writing them.

use hub_flist::Flist;
use hub_jobs::JobError;
use hub_store::SharedStore;

/// Blocks asked for at once.
const CONCURRENCY: usize = 16;

/// Asks the store for every block `flist` references. Asking is what keeps them through a
/// garbage collection running meanwhile (docs/gc.md: a `dir://` store refreshes their age, a
/// journaled store records the question); a block already gone fails the job, since the
/// published flist could not be read. `what` names the flist in the message.
pub async fn confirm_blocks(
    store: &SharedStore,
    flist: &Flist,
    what: &str,
) -> Result<(), JobError> {
    let ids: Vec<&[u8]> = flist.block_ids().collect();
    let missing = hub_store::missing_blocks(store, ids, CONCURRENCY).await?;
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(JobError::internal(format!(
            "{what} references {} blocks missing from the store (e.g. {})",
            missing.len(),
            hex::encode(first)
        ))),
    }
}
