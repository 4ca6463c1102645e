//! Checking that the blocks of an flist are in a store (hub-api §11.2).

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt, stream};
use hub_flist::chunk::decode;
use hub_flist::{BlockRef, Flist, Hash, NodeKind, Tree};
use hub_store::SharedStore;
use serde::{Deserialize, Serialize};

use crate::ConvertError;
use crate::rechunk::format_of;

/// How to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyOptions {
    /// Also fetch, decrypt and re-hash every block (slow: reads all content). Without it only
    /// presence is checked, with `EXISTS` (never a `GET`).
    pub deep: bool,
    /// Checks in flight at once; use at least the store's connection pool size.
    pub concurrency: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            deep: false,
            concurrency: 64,
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Regular files with at least one block.
    pub files: u64,
    /// Distinct blocks checked.
    pub blocks_checked: u64,
    /// Distinct blocks absent from the store.
    pub blocks_missing: u64,
    /// Distinct blocks present but not decoding to their reference (deep mode only).
    pub corrupt_blocks: u64,
    /// Files with at least one missing block, as absolute paths in walk order.
    pub missing_files: Vec<String>,
    /// Files with at least one corrupt block (deep mode only).
    pub corrupt_files: Vec<String>,
    /// Files with at least one missing or corrupt block: the hub's `failure` count (a file
    /// counts once however many of its blocks fail).
    pub failure: u64,
}

impl VerifyReport {
    /// True when every block is present (and intact, in deep mode).
    pub fn is_ok(&self) -> bool {
        self.failure == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Present,
    Missing,
    Corrupt,
}

/// Checks every block of `flist` against `store`, in parallel over the store's connection
/// pool. Each distinct block is checked once.
pub async fn verify(
    flist: &Flist,
    store: SharedStore,
    opts: &VerifyOptions,
) -> Result<VerifyReport, ConvertError> {
    let tree = &flist.tree;
    // One reference per distinct id.
    let (distinct, files) = crate::cpu::run(|| distinct_blocks(tree));
    let deep = opts.deep;
    // Only failures are kept: memory stays proportional to what is wrong.
    let (checked, missing, corrupt) = stream::iter(distinct.into_values())
        .map(|block| {
            let store = SharedStore::clone(&store);
            async move { check(store, block, deep).await.map(|o| (block.id, o)) }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .try_fold(
            (0u64, HashSet::new(), HashSet::new()),
            |(checked, mut missing, mut corrupt), (id, outcome)| async move {
                match outcome {
                    Outcome::Present => {}
                    Outcome::Missing => {
                        missing.insert(id);
                    }
                    Outcome::Corrupt => {
                        corrupt.insert(id);
                    }
                }
                Ok((checked + 1, missing, corrupt))
            },
        )
        .await?;
    let mut report = VerifyReport {
        files,
        blocks_checked: checked,
        ..VerifyReport::default()
    };
    report.blocks_missing = missing.len() as u64;
    report.corrupt_blocks = corrupt.len() as u64;
    if missing.is_empty() && corrupt.is_empty() {
        return Ok(report);
    }
    crate::cpu::run(|| failing_files(tree, &missing, &corrupt, &mut report));
    Ok(report)
}

/// Distinct blocks by id, and the number of files that have blocks.
fn distinct_blocks(tree: &Tree) -> (HashMap<Hash, BlockRef>, u64) {
    let mut distinct: HashMap<Hash, BlockRef> = HashMap::new();
    let mut files = 0u64;
    for id in tree.walk() {
        if let NodeKind::File { blocks, .. } = &tree.node(id).kind
            && !blocks.is_empty()
        {
            files += 1;
            for b in blocks.iter() {
                distinct.entry(b.id).or_insert(*b);
            }
        }
    }
    (distinct, files)
}

/// Lists the files that reference missing or corrupt blocks.
fn failing_files(
    tree: &Tree,
    missing: &HashSet<Hash>,
    corrupt: &HashSet<Hash>,
    report: &mut VerifyReport,
) {
    for id in tree.walk() {
        let NodeKind::File { blocks, .. } = &tree.node(id).kind else {
            continue;
        };
        let is_missing = blocks.iter().any(|b| missing.contains(&b.id));
        let is_corrupt = blocks.iter().any(|b| corrupt.contains(&b.id));
        if is_missing {
            report.missing_files.push(tree.path(id));
        }
        if is_corrupt {
            report.corrupt_files.push(tree.path(id));
        }
        if is_missing || is_corrupt {
            report.failure += 1;
        }
    }
}

async fn check(store: SharedStore, block: BlockRef, deep: bool) -> Result<Outcome, ConvertError> {
    if !deep {
        return Ok(if store.exists(block.id.as_bytes()).await? {
            Outcome::Present
        } else {
            Outcome::Missing
        });
    }
    let Some(data) = store.get(block.id.as_bytes()).await? else {
        return Ok(Outcome::Missing);
    };
    // Decryption and hashing are CPU work: keep them off the async threads.
    let intact =
        tokio::task::spawn_blocking(move || decode(format_of(&block), &block, &data).is_ok())
            .await?;
    Ok(if intact {
        Outcome::Present
    } else {
        Outcome::Corrupt
    })
}
