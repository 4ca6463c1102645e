//! Reader and writer of the `.flist` (0-flist) and `.fl` (rfs) formats, chunk codec, tree model.
//!
//! Everything here is synchronous and CPU-bound (SQLite, compression, hashing): async callers
//! run it in `spawn_blocking`. No network I/O happens in this crate.
//!
//! * [`Tree`]: one in-memory model for both formats.
//! * [`read_bytes`] / [`write_bytes`]: whole files as byte images, format chosen by
//!   [`Flist::format`] or detected from the bytes.
//! * [`chunk`]: the content pipeline (cut, hash, compress, encrypt, address) of both formats.
//! * [`v1`] and [`v2`]: format details (keys, Cap'n Proto records, inode modes).

pub mod chunk;
mod error;
mod format;
mod hash;
mod meta;
mod sqlite;
pub mod tree;
pub mod v1;
pub mod v2;

use std::io::Write;
use std::path::Path;

pub use error::FlistError;
pub use format::Format;
pub use hash::{BlockRef, Hash, HashError};
pub use meta::{BACKEND_KEY, Backend, Metadata, Route, STRUCTURED_KEYS};
pub use tree::{Attr, DumpEntry, Node, NodeId, NodeKind, Stats, Subtree, Tree, TreeError};

/// Default cap on the decompressed size of a `.flist` (2 GiB).
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

/// A whole flist: format, tree and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flist {
    /// The file format.
    pub format: Format,
    /// The directory tree.
    pub tree: Tree,
    /// `metadata` (`.flist`) or `tag` and `route` (`.fl`) tables.
    pub meta: Metadata,
}

impl Flist {
    /// An empty flist of the given format with a `root:root 0755` root.
    pub fn new(format: Format) -> Self {
        Flist {
            format,
            tree: Tree::new(Attr::default_dir()),
            meta: Metadata::default(),
        }
    }

    /// The store id of every chunk of every file, in tree order, repetitions included: what
    /// a store must hold for the flist to be served (and what the garbage collector keeps).
    pub fn block_ids(&self) -> impl Iterator<Item = &[u8]> {
        self.tree
            .walk()
            .filter_map(|node| match &self.tree.node(node).kind {
                NodeKind::File { blocks, .. } => Some(blocks.iter()),
                _ => None,
            })
            .flatten()
            .map(|block| block.id.as_bytes())
    }
}

/// Limits applied while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Maximum size of the decompressed `.flist` tar (and so of its database), or of a `.fl`
    /// file, in bytes.
    pub max_size: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

/// Reads an flist from its bytes, detecting the format (see [`read_bytes_with`]).
pub fn read_bytes(bytes: &[u8]) -> Result<Flist, FlistError> {
    read_bytes_with(bytes, &ReadOptions::default())
}

/// Reads an flist from its bytes with explicit limits.
///
/// `.flist`: one gzip member (decompressed size capped by `max_size`), a tar holding
/// `./flistdb.sqlite3` or `flistdb.sqlite3` (with or without end-of-archive blocks), the
/// database opened in memory. `.fl`: the database itself. Malformed input gives an error,
/// never a panic.
pub fn read_bytes_with(bytes: &[u8], options: &ReadOptions) -> Result<Flist, FlistError> {
    let format = Format::detect(bytes).ok_or(FlistError::UnknownFormat)?;
    let (tree, meta) = match format {
        Format::Flist => v1::read(bytes, options.max_size)?,
        Format::Fl => {
            if bytes.len() as u64 > options.max_size {
                return Err(FlistError::TooLarge {
                    limit: options.max_size,
                });
            }
            v2::read(bytes)?
        }
    };
    Ok(Flist { format, tree, meta })
}

/// Reads an flist file (format detected from its content, not its name).
///
/// Files larger than [`DEFAULT_MAX_SIZE`] are refused before being read.
pub fn read_file(path: &Path) -> Result<Flist, FlistError> {
    let len = std::fs::metadata(path)?.len();
    if len > DEFAULT_MAX_SIZE {
        return Err(FlistError::TooLarge {
            limit: DEFAULT_MAX_SIZE,
        });
    }
    read_bytes(&std::fs::read(path)?)
}

/// Serialises an flist in its format.
///
/// `.flist` follows the writer checklist of flist-formats §A.11, `.fl` that of B.9. Block ids and
/// keys must have the format's length (16 or 32 bytes).
pub fn write_bytes(flist: &Flist) -> Result<Vec<u8>, FlistError> {
    match flist.format {
        Format::Flist => v1::write(&flist.tree, &flist.meta),
        Format::Fl => v2::write(&flist.tree, &flist.meta),
    }
}

/// Writes an flist file atomically: a temporary file in the same directory, synced, then
/// renamed over `path`. On error nothing is left behind.
pub fn write_file(flist: &Flist, path: &Path) -> Result<(), FlistError> {
    let bytes = write_bytes(flist)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".flist-tmp-")
        .tempfile_in(dir)?;
    tmp.write_all(&bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| FlistError::Io(e.error))?;
    Ok(())
}
