//! Re-encoding blocks of one format into the other (cross-format merge).
//!
//! Both formats cut files into 512 KiB blocks, so every source block maps to exactly one
//! target block: fetch, decode, encode, store. Each distinct block is translated once.

use std::collections::HashMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use hub_flist::chunk::{decode, encode};
use hub_flist::{BlockRef, Format, NodeId, NodeKind, Tree};
use hub_store::SharedStore;

use crate::ConvertError;

/// Blocks translated at once: bounds memory to about this many × 1.5 MiB.
const CONCURRENCY: usize = 16;

/// The format a block reference belongs to, from its hash length.
pub(crate) fn format_of(block: &BlockRef) -> Format {
    if block.id.len() == Format::Fl.hash_len() {
        Format::Fl
    } else {
        Format::Flist
    }
}

/// Rewrites every block of `tree` that is not in `format` (fetching, re-encoding and storing
/// it in `store`). Trees already in `format` are returned untouched.
pub(crate) async fn to_format(
    tree: Tree,
    format: Format,
    store: &SharedStore,
) -> Result<Tree, ConvertError> {
    // Distinct foreign blocks, each with a file that uses it (for error messages).
    let (tree, foreign) = tokio::task::spawn_blocking(move || {
        let mut foreign: HashMap<BlockRef, NodeId> = HashMap::new();
        for id in tree.walk() {
            if let NodeKind::File { blocks, .. } = &tree.node(id).kind {
                for b in blocks.iter().filter(|b| format_of(b) != format) {
                    foreign.entry(*b).or_insert(id);
                }
            }
        }
        (tree, foreign)
    })
    .await?;
    if foreign.is_empty() {
        return Ok(tree);
    }
    let tree = Arc::new(tree);
    let translated: HashMap<BlockRef, BlockRef> = stream::iter(foreign)
        .map(|(block, user)| {
            let tree = Arc::clone(&tree);
            let store = SharedStore::clone(store);
            async move {
                let data = store.get(block.id.as_bytes()).await?.ok_or_else(|| {
                    ConvertError::MissingBlock {
                        id: block.id.to_hex(),
                        path: tree.path(user),
                    }
                })?;
                let chunk = tokio::task::spawn_blocking(move || {
                    let plain = decode(format_of(&block), &block, &data).map_err(|source| {
                        ConvertError::CorruptBlock {
                            id: block.id.to_hex(),
                            source,
                        }
                    })?;
                    Ok::<_, ConvertError>(encode(format, &plain))
                })
                .await??;
                let new = chunk.block_ref();
                store.set(new.id.as_bytes(), chunk.data.into()).await?;
                Ok::<_, ConvertError>((block, new))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut tree = Arc::try_unwrap(tree)
        .map_err(|_| ConvertError::Internal("tree still shared after re-encoding".into()))?;
    tokio::task::spawn_blocking(move || {
        let files: Vec<NodeId> = tree.walk().collect();
        for id in files {
            if let NodeKind::File { blocks, .. } = &mut tree.node_mut(id).kind {
                let mapped: Arc<[BlockRef]> = blocks
                    .iter()
                    .map(|b| translated.get(b).copied().unwrap_or(*b))
                    .collect();
                *blocks = mapped;
            }
        }
        tree
    })
    .await
    .map_err(ConvertError::from)
}
