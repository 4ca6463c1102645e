//! Garbage-collection support of the directory store: listing blocks with their age, and
//! deleting a block only when no writer refreshed it.
//!
//! Every `exists` or `set` that finds a block refreshes its mtime ([`touch`]), so the mtime
//! is "last written or confirmed". A delete renames the block to a private tombstone first
//! (atomic), then reads the tombstone's mtime: a confirmation that happened before the rename
//! shows there and the block is put back; one that comes after the rename finds no block and
//! the writer stores it again. Either way a writer told "the block exists" keeps it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::{TEMP_COUNTER, is_hex_name, paths, with_path};
use crate::{StoreError, StoredBlock};

/// Listed blocks buffered between the directory walk and the collector.
pub(super) const LIST_BUFFER: usize = 4096;

/// Refreshes the mtime of the block file at `path`: `true` when it is a block file.
///
/// A store mounted read-only cannot be touched (nor collected): the block still counts as
/// present, so readers of such a store keep working.
pub(super) fn touch(path: &Path) -> Result<bool, StoreError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(with_path(error, path).into()),
    };
    let meta = file.metadata().map_err(|error| with_path(error, path))?;
    // A one-byte id's flat name is also the name of its shard directory.
    if !meta.is_file() {
        return Ok(false);
    }
    if let Err(error) = file.set_modified(SystemTime::now()) {
        tracing::debug!(path = %path.display(), %error, "cannot refresh a block's mtime");
    }
    // The refresh went to the open file: if a collection renamed it away since we opened
    // it, it may already have judged its age. Only a block still under its name counts.
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == meta.dev() && now.ino() == meta.ino()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(with_path(error, path).into()),
    }
}

/// Walks `root` (flat blocks, then blocks left in 2-hex-digit shard directories) on a blocking
/// thread, sending each block into `sender`; stops early when the receiver is gone.
pub(super) fn list(root: &Path, sender: &mpsc::Sender<Result<StoredBlock, StoreError>>) {
    if let Err(error) = list_dir(root, root, sender) {
        let _ = sender.blocking_send(Err(error));
    }
}

fn list_dir(
    root: &Path,
    dir: &Path,
    sender: &mpsc::Sender<Result<StoredBlock, StoreError>>,
) -> Result<(), StoreError> {
    let entries = fs::read_dir(dir).map_err(|error| with_path(error, dir))?;
    for entry in entries {
        let entry = entry.map_err(|error| with_path(error, dir))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        // A tombstone left by a collection that crashed between its rename and its decision:
        // put the block back (a later run may delete it again, with its age checked).
        let name = match tombstone_target(name) {
            Some(target) => {
                restore(&entry.path(), &dir.join(target))?;
                target
            }
            None => name,
        };
        // Temp files start with a dot; anything else not hex is not ours.
        if name.is_empty() || !is_hex_name(name) {
            continue;
        }
        let path = dir.join(name);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            // Deleted since the directory was read.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(with_path(error, &path).into()),
        };
        if meta.is_dir() {
            if dir == root && name.len() == 2 {
                list_dir(root, &path, sender)?;
            }
            continue;
        }
        let Ok(id) = hex::decode(name) else { continue };
        let block = StoredBlock {
            id,
            size: meta.len(),
            modified: meta.modified().map_err(|error| with_path(error, &path))?,
            // Directory order is neither sorted nor stable: a listing restarts from the top.
            cursor: None,
        };
        if sender.blocking_send(Ok(block)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Deletes the block `id` (either layout) if neither copy was written or confirmed at or
/// after `cutoff`; the bytes freed, `None` when nothing was deleted.
pub(super) fn delete_if_older(
    root: &Path,
    id: &[u8],
    cutoff: SystemTime,
) -> Result<Option<u64>, StoreError> {
    let (flat, sharded) = paths(root, id);
    let mut freed = None;
    for path in [flat, sharded] {
        if let Some(size) = delete_one(&path, cutoff)? {
            freed = Some(freed.unwrap_or(0) + size);
        }
    }
    Ok(freed)
}

fn delete_one(path: &Path, cutoff: SystemTime) -> Result<Option<u64>, StoreError> {
    let tombstone = tombstone_for(path);
    match fs::rename(path, &tombstone) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(with_path(error, path).into()),
    }
    let meta = match fs::metadata(&tombstone) {
        Ok(meta) => meta,
        // Another collection's listing restored it meanwhile: keep it.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(with_path(error, &tombstone).into()),
    };
    let modified = meta
        .modified()
        .map_err(|error| with_path(error, &tombstone))?;
    if !meta.is_file() || modified >= cutoff {
        restore(&tombstone, path)?;
        return Ok(None);
    }
    match fs::remove_file(&tombstone) {
        Ok(()) => Ok(Some(meta.len())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(with_path(error, &tombstone).into()),
    }
}

/// Puts a tombstone back under its name. `hard_link` never replaces: when a writer stored
/// the block again meanwhile, its copy (same content) stays and the tombstone goes.
fn restore(tombstone: &Path, path: &Path) -> Result<(), StoreError> {
    match fs::hard_link(tombstone, path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        // Restored (or deleted) by another collection meanwhile.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(with_path(error, path).into()),
    }
    match fs::remove_file(tombstone) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(with_path(error, tombstone).into()),
    }
}

/// The block name a tombstone `.<hex>.gc-<pid>-<n>` stands for.
fn tombstone_target(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let (target, _) = rest.split_once(".gc-")?;
    Some(target)
}

/// A name in the block's directory that no reader, writer or listing uses.
fn tombstone_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.gc-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}
