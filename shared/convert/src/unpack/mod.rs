//! Restoring an flist's tree to disk.
//!
//! Order: directories (owner-writable while filling them), file contents (blocks fetched
//! and decoded in parallel, written in order), then symbolic links and special files, then
//! ownership, modes and times from the leaves up. The target must be empty and every entry
//! is created exclusively, so nothing can be written outside it: tree names are single
//! components, and links are only created once all files are written.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hub_flist::v2::mode::makedev;
use hub_flist::{Attr, Flist, NodeKind};
use hub_store::SharedStore;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use serde::{Deserialize, Serialize};

use crate::ConvertError;

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

mod files;

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

    files::write(&items, store, opts.concurrency.max(1), &mut stats).await?;

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
