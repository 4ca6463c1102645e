//! One-shot move of a `dir://` store from the sharded layout `<root>/<hex[0:2]>/<hex>` (what
//! the hub wrote before) to the flat `<root>/<hex>` that released rfs (2.0.6, 2.0.7) reads.
//!
//! Every block moves with one `rename` inside the same file system, so at each instant it is
//! whole under one of its two names and readers (which try both) never miss it. A run stopped
//! at any point leaves a store that a later run finishes; a run over a flat store does nothing.

use std::fs;
use std::io;
use std::path::Path;

use super::{is_hex_name, with_path};
use crate::StoreError;

/// What [`super::DirStore::migrate_layout`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LayoutMigration {
    /// Blocks renamed from `<hex[0:2]>/<hex>` to `<hex>`.
    pub moved: u64,
    /// Sharded blocks already present flat (same content, as ids are content hashes): the
    /// sharded copy was removed.
    pub duplicates: u64,
    /// Shard directories removed once empty.
    pub shard_dirs_removed: u64,
    /// Entries of shard directories that are not blocks of that shard (temp files of
    /// interrupted writers, foreign files, sub-directories) and were left where they are,
    /// keeping their shard directory.
    pub left_in_place: u64,
}

/// Migrates the store rooted at `root` (blocking file-system work).
pub(super) fn run(root: &Path) -> Result<LayoutMigration, StoreError> {
    let mut report = LayoutMigration::default();
    for shard in shard_names(root)? {
        migrate_shard(root, &shard, &mut report)?;
    }
    Ok(report)
}

/// Names of the shard directories (`00` … `ff`, at most 256). Collected before any block moves
/// because moving adds entries to `root`, and `readdir` promises nothing about a directory
/// that changes while it is listed.
fn shard_names(root: &Path) -> Result<Vec<String>, StoreError> {
    let mut shards = Vec::new();
    for entry in fs::read_dir(root).map_err(|error| with_path(error, root))? {
        let entry = entry.map_err(|error| with_path(error, root))?;
        let is_dir = entry
            .file_type()
            .map_err(|error| with_path(error, &entry.path()))?
            .is_dir();
        if let Some(name) = entry.file_name().to_str()
            && is_dir
            && name.len() == 2
            && is_hex_name(name)
        {
            shards.push(name.to_owned());
        }
    }
    shards.sort();
    Ok(shards)
}

/// Counts of one pass over a shard directory.
#[derive(Default)]
struct Pass {
    moved: u64,
    duplicates: u64,
    left: u64,
}

/// Moves every block of one shard, then removes the directory if it is empty.
fn migrate_shard(root: &Path, shard: &str, report: &mut LayoutMigration) -> Result<(), StoreError> {
    let dir = root.join(shard);
    // Passes repeat until one moves nothing: entries removed while a directory is listed may
    // make `readdir` skip others, and a writer of the old layout may still be adding blocks.
    let left = loop {
        let pass = migrate_pass(root, &dir, shard)?;
        report.moved += pass.moved;
        report.duplicates += pass.duplicates;
        if pass.moved == 0 && pass.duplicates == 0 {
            break pass.left;
        }
    };
    report.left_in_place += left;
    match fs::remove_dir(&dir) {
        Ok(()) => report.shard_dirs_removed += 1,
        // Kept for the entries left in place, or removed by a concurrent run.
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::NotFound
            ) => {}
        Err(error) => return Err(with_path(error, &dir).into()),
    }
    Ok(())
}

fn migrate_pass(root: &Path, dir: &Path, shard: &str) -> Result<Pass, StoreError> {
    let mut pass = Pass::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // Removed by a concurrent run.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(pass),
        Err(error) => return Err(with_path(error, dir).into()),
    };
    for entry in entries {
        let entry = entry.map_err(|error| with_path(error, dir))?;
        let sharded = entry.path();
        let is_file = entry
            .file_type()
            .map_err(|error| with_path(error, &sharded))?
            .is_file();
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().filter(|name| {
            is_file && name.len() >= 2 && name.starts_with(shard) && is_hex_name(name)
        }) else {
            pass.left += 1;
            continue;
        };
        let flat = root.join(name);
        let flat_exists = match fs::symlink_metadata(&flat) {
            Ok(meta) if meta.is_file() => true,
            // A directory under the flat name: a one-byte id named like its own shard.
            Ok(_) => {
                pass.left += 1;
                continue;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => return Err(with_path(error, &flat).into()),
        };
        let result = if flat_exists {
            // Ids are content hashes: the flat copy holds the same bytes, keep it.
            fs::remove_file(&sharded)
        } else {
            fs::rename(&sharded, &flat)
        };
        match result {
            Ok(()) if flat_exists => pass.duplicates += 1,
            Ok(()) => pass.moved += 1,
            // Moved by a concurrent run meanwhile.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(with_path(error, &sharded).into()),
        }
    }
    Ok(pass)
}
