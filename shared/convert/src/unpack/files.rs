//! File contents: blocks fetched and decoded in parallel (bounded, in file order), written
//! sequentially on a blocking thread.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use futures::{StreamExt, stream};
use hub_flist::chunk::decode;
use hub_flist::{BlockRef, NodeKind};
use hub_store::SharedStore;
use tokio::sync::mpsc;

use super::{Item, UnpackStats};
use crate::ConvertError;
use crate::rechunk::format_of;

/// Message from the fetchers to the writer thread.
enum ToWriter {
    /// Start file `index` of `items`.
    Open(usize),
    /// Next bytes of the open file.
    Data(Bytes),
}

/// Fetches and decodes every block in file order (bounded, in parallel) and writes the files
/// on a blocking thread.
pub(super) async fn write(
    items: &[Item],
    store: SharedStore,
    concurrency: usize,
    stats: &mut UnpackStats,
) -> Result<(), ConvertError> {
    let files: Vec<(usize, PathBuf, u64, Vec<BlockRef>)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match &item.kind {
            NodeKind::File { size, blocks } => Some((i, item.path.clone(), *size, blocks.to_vec())),
            _ => None,
        })
        .collect();
    let paths: Vec<(PathBuf, u64)> = files.iter().map(|(_, p, s, _)| (p.clone(), *s)).collect();
    let (tx, mut rx) = mpsc::channel::<ToWriter>(concurrency);
    let writer = tokio::task::spawn_blocking(move || {
        let mut current: Option<(fs::File, usize, u64)> = None;
        let close = |cur: Option<(fs::File, usize, u64)>| -> Result<(), ConvertError> {
            if let Some((_, i, written)) = cur
                && let Some((path, size)) = paths.get(i)
                && written != *size
            {
                return Err(ConvertError::io(
                    path.display(),
                    std::io::Error::other(format!("blocks hold {written} bytes, expected {size}")),
                ));
            }
            Ok(())
        };
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                ToWriter::Open(i) => {
                    close(current.take())?;
                    let Some((path, _)) = paths.get(i) else {
                        continue;
                    };
                    let file = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .map_err(|e| ConvertError::io(path.display(), e))?;
                    current = Some((file, i, 0));
                }
                ToWriter::Data(bytes) => {
                    if let Some((file, i, written)) = current.as_mut() {
                        file.write_all(&bytes).map_err(|e| {
                            let path = paths.get(*i).map(|(p, _)| p.display().to_string());
                            ConvertError::io(path.unwrap_or_default(), e)
                        })?;
                        *written += bytes.len() as u64;
                    }
                }
            }
        }
        close(current.take())
    });

    let mut fetched = stream::iter(files.iter().enumerate().flat_map(|(n, (_, _, _, blocks))| {
        // An empty file still needs its Open message: one `None` step.
        let steps: Vec<Option<BlockRef>> = if blocks.is_empty() {
            vec![None]
        } else {
            blocks.iter().copied().map(Some).collect()
        };
        steps
            .into_iter()
            .enumerate()
            .map(move |(k, b)| (n, k == 0, b))
    }))
    .map(|(n, first, block)| {
        let store = SharedStore::clone(&store);
        let path = files
            .get(n)
            .map(|f| f.1.display().to_string())
            .unwrap_or_default();
        async move {
            let data = match block {
                Some(block) => Some(fetch(&store, block, path).await?),
                None => None,
            };
            Ok::<_, ConvertError>((n, first, data))
        }
    })
    .buffered(concurrency);
    let mut result = Ok(());
    while let Some(step) = fetched.next().await {
        let (n, first, data) = match step {
            Ok(step) => step,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if first {
            stats.files += 1;
            if tx.send(ToWriter::Open(n)).await.is_err() {
                break;
            }
        }
        if let Some(data) = data {
            stats.blocks += 1;
            stats.bytes += data.len() as u64;
            if tx.send(ToWriter::Data(data)).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await?;
    result.and(written)
}

async fn fetch(store: &SharedStore, block: BlockRef, path: String) -> Result<Bytes, ConvertError> {
    let data = store
        .get(block.id.as_bytes())
        .await?
        .ok_or_else(|| ConvertError::MissingBlock {
            id: block.id.to_hex(),
            path,
        })?;
    tokio::task::spawn_blocking(move || {
        decode(format_of(&block), &block, &data)
            .map(Bytes::from)
            .map_err(|source| ConvertError::CorruptBlock {
                id: block.id.to_hex(),
                source,
            })
    })
    .await?
}
