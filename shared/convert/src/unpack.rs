//! Restoring an flist's tree to disk.
//!
//! Order: directories (owner-writable while filling them), file contents (blocks fetched
//! and decoded in parallel, written in order), then symbolic links and special files, then
//! ownership, modes and times from the leaves up. The target must be empty and every entry
//! is created exclusively, so nothing can be written outside it: tree names are single
//! components, and links are only created once all files are written.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{StreamExt, stream};
use hub_flist::chunk::decode;
use hub_flist::v2::mode::makedev;
use hub_flist::{Attr, BlockRef, Flist, NodeKind};
use hub_store::SharedStore;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::ConvertError;
use crate::rechunk::format_of;

/// How to unpack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnpackOptions {
    /// Restore owners and groups (requires root). Device nodes are created only as root in
    /// any case.
    pub restore_ownership: bool,
    /// Blocks fetched and decoded at once.
    pub concurrency: usize,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            restore_ownership: false,
            concurrency: 16,
        }
    }
}

/// What was restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UnpackStats {
    /// Directories created (the target itself excluded).
    pub dirs: u64,
    /// Regular files written.
    pub files: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Devices and FIFOs created.
    pub specials: u64,
    /// Devices and sockets skipped (devices need root; sockets cannot be restored).
    pub skipped: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Blocks fetched.
    pub blocks: u64,
}

/// One entry to restore, with owned data (the flist stays borrowed by the caller).
struct Item {
    path: PathBuf,
    attr: Attr,
    kind: NodeKind,
}

/// Restores `flist` into `out_dir` (created if missing; it must be empty), fetching blocks
/// from `store`.
pub async fn unpack(
    flist: &Flist,
    store: SharedStore,
    out_dir: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, ConvertError> {
    let tree = &flist.tree;
    let items: Vec<Item> = crate::cpu::run(|| {
        tree.walk()
            .map(|id| {
                let node = tree.node(id);
                let rel = tree.path(id);
                Item {
                    path: out_dir.join(rel.trim_start_matches('/')),
                    attr: node.attr.clone(),
                    kind: node.kind.clone(),
                }
            })
            .collect()
    });
    let root_attr = tree.node(tree.root()).attr.clone();
    let out = out_dir.to_owned();
    let (items, mut stats) = tokio::task::spawn_blocking(move || {
        prepare(&out)?;
        let mut stats = UnpackStats::default();
        for item in items.iter().filter(|i| i.kind.is_dir()) {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&item.path)
                .map_err(|e| ConvertError::io(item.path.display(), e))?;
            stats.dirs += 1;
        }
        Ok::<_, ConvertError>((items, stats))
    })
    .await??;

    write_files(&items, store, opts.concurrency.max(1), &mut stats).await?;

    let out = out_dir.to_owned();
    let ownership = opts.restore_ownership;
    tokio::task::spawn_blocking(move || {
        let root = nix::unistd::geteuid().is_root();
        for item in &items {
            links_and_specials(item, root, &mut stats)?;
        }
        // Leaves first, so that setting a directory's mode and time comes after its
        // children were created.
        for item in items.iter().rev() {
            if !(matches!(item.kind, NodeKind::Socket)
                || (!root
                    && matches!(
                        item.kind,
                        NodeKind::CharDevice { .. } | NodeKind::BlockDevice { .. }
                    )))
            {
                finish_attributes(&item.path, &item.attr, &item.kind, ownership)?;
            }
        }
        finish_attributes(&out, &root_attr, &NodeKind::dir(), ownership)?;
        Ok::<_, ConvertError>(stats)
    })
    .await?
}

/// Creates `out` or checks that it is an empty directory.
fn prepare(out: &Path) -> Result<(), ConvertError> {
    fs::create_dir_all(out).map_err(|e| ConvertError::io(out.display(), e))?;
    let mut entries = fs::read_dir(out).map_err(|e| ConvertError::io(out.display(), e))?;
    if entries.next().is_some() {
        return Err(ConvertError::io(
            out.display(),
            std::io::Error::new(
                std::io::ErrorKind::DirectoryNotEmpty,
                "the target directory must be empty",
            ),
        ));
    }
    Ok(())
}

/// Message from the fetchers to the writer thread.
enum ToWriter {
    /// Start file `index` of `items`.
    Open(usize),
    /// Next bytes of the open file.
    Data(Bytes),
}

/// Fetches and decodes every block in file order (bounded, in parallel) and writes the files
/// on a blocking thread.
async fn write_files(
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

fn links_and_specials(
    item: &Item,
    root: bool,
    stats: &mut UnpackStats,
) -> Result<(), ConvertError> {
    let path = &item.path;
    let err = |e: std::io::Error| ConvertError::io(path.display(), e);
    let perm = Mode::from_bits_truncate(item.attr.mode & 0o777);
    match &item.kind {
        NodeKind::Symlink { target } => {
            std::os::unix::fs::symlink(target, path).map_err(err)?;
            stats.symlinks += 1;
        }
        NodeKind::Fifo => {
            nix::unistd::mkfifo(path, perm).map_err(|e| err(e.into()))?;
            stats.specials += 1;
        }
        NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
            if !root {
                stats.skipped += 1;
                return Ok(());
            }
            let kind = if matches!(item.kind, NodeKind::CharDevice { .. }) {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            mknod(path, kind, perm, makedev(*major, *minor)).map_err(|e| err(e.into()))?;
            stats.specials += 1;
        }
        NodeKind::Socket => stats.skipped += 1,
        NodeKind::Dir { .. } | NodeKind::File { .. } => {}
    }
    Ok(())
}

fn finish_attributes(
    path: &Path,
    attr: &Attr,
    kind: &NodeKind,
    ownership: bool,
) -> Result<(), ConvertError> {
    let err = |e: std::io::Error| ConvertError::io(path.display(), e);
    let symlink = matches!(kind, NodeKind::Symlink { .. });
    if ownership {
        std::os::unix::fs::lchown(path, Some(attr.uid), Some(attr.gid)).map_err(err)?;
    }
    // Symbolic links have no mode of their own on Linux. Set after chown, which clears
    // set-id bits.
    if !symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(attr.mode & 0o7777)).map_err(err)?;
    }
    let mtime = TimeSpec::new(attr.mtime, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &mtime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| err(e.into()))?;
    Ok(())
}
