//! Helpers shared by the integration tests: stores, archive building, compression, and
//! snapshots of directory trees for byte-for-byte comparison.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use hub_convert::{Conversion, ConvertError, ConvertOptions, NoProgress, UnpackOptions};
use hub_flist::{Flist, Format};
use hub_store::SharedStore;

/// A `dir://` store in a fresh temporary directory (kept alive by the returned guard).
pub async fn dir_store() -> (tempfile::TempDir, SharedStore) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = hub_store::open(&format!("dir://{}", tmp.path().display()))
        .await
        .expect("open dir store");
    (tmp, store)
}

/// Small pipelines, so that tests exercise back-pressure.
pub fn opts(format: Format) -> ConvertOptions {
    ConvertOptions {
        workers: 2,
        blocks_in_flight: 4,
        store_concurrency: 4,
        ..ConvertOptions::new(format)
    }
}

/// Converts archive bytes.
pub async fn convert(
    bytes: Vec<u8>,
    store: &SharedStore,
    opts: &ConvertOptions,
) -> Result<Conversion, ConvertError> {
    hub_convert::convert_archive(
        std::io::Cursor::new(bytes),
        SharedStore::clone(store),
        opts,
        Arc::new(NoProgress),
    )
    .await
}

/// Writes, re-reads (through the format's bytes) and unpacks an flist into a new temp dir.
pub async fn write_read_unpack(flist: &Flist, store: &SharedStore) -> tempfile::TempDir {
    let bytes = hub_flist::write_bytes(flist).expect("write flist");
    let back = hub_flist::read_bytes(&bytes).expect("read flist back");
    assert_eq!(back.format, flist.format);
    let out = tempfile::tempdir().expect("tempdir");
    let root = nix::unistd::geteuid().is_root();
    hub_convert::unpack(
        &back,
        SharedStore::clone(store),
        out.path(),
        &UnpackOptions {
            restore_ownership: root,
            ..UnpackOptions::default()
        },
    )
    .await
    .expect("unpack");
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(data).expect("xz");
    e.finish().expect("xz")
}

pub fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).expect("bzip2");
    e.finish().expect("bzip2")
}

/// A compressor of whole buffers.
pub type Compressor = fn(&[u8]) -> Vec<u8>;

/// The five supported compressions, by name.
pub fn compressions() -> Vec<(&'static str, Compressor)> {
    vec![
        ("tar", |d: &[u8]| d.to_vec()),
        ("gzip", gzip),
        ("zstd", zstd),
        ("xz", xz),
        ("bzip2", bzip2),
    ]
}

/// An in-memory tar with GNU headers.
pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

/// A copy holding the entries appended so far.
impl Clone for Tar {
    fn clone(&self) -> Tar {
        let mut builder = tar::Builder::new(self.builder.get_ref().clone());
        builder.mode(tar::HeaderMode::Complete);
        Tar { builder }
    }
}

impl Default for Tar {
    fn default() -> Self {
        Tar::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Complete);
        Tar { builder }
    }

    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h
    }

    pub fn file(mut self, path: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_size(data.len() as u64);
        self.builder
            .append_data(&mut h, path, data)
            .expect("append file");
        self
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, mode);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .expect("append dir");
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777);
        self.builder
            .append_link(&mut h, path, target)
            .expect("append symlink");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644);
        self.builder
            .append_link(&mut h, path, target)
            .expect("append hard link");
        self
    }

    pub fn device(mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(kind, 0o660);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .expect("append device");
        self
    }

    pub fn fifo(mut self, path: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Fifo, 0o640);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .expect("append fifo");
        self
    }

    /// Appends a raw header block (and data) without any path processing by the builder.
    pub fn raw(mut self, header: &tar::Header, data: &[u8]) -> Self {
        self.builder.append(header, data).expect("append raw");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("finish tar")
    }
}

/// A header for a raw entry whose name is written verbatim (bypassing the builder's
/// path checks, which refuse `..` and absolute paths).
pub fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().expect("gnu header");
        let bytes = name.as_bytes();
        gnu.name[..bytes.len()].copy_from_slice(bytes);
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snap {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
    Fifo { mode: u32 },
    Device { mode: u32, rdev: u64, char: bool },
}

/// Everything below `root` by relative path (ownership and times checked separately).
pub fn snapshot(root: &Path) -> BTreeMap<String, Snap> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let mode = meta.mode() & 0o7777;
            let ft = meta.file_type();
            let snap = if ft.is_dir() {
                stack.push(path.clone());
                Snap::Dir { mode }
            } else if ft.is_file() {
                Snap::File {
                    mode,
                    data: std::fs::read(&path).expect("read"),
                }
            } else if ft.is_symlink() {
                Snap::Symlink {
                    target: std::fs::read_link(&path)
                        .expect("readlink")
                        .to_string_lossy()
                        .into_owned(),
                }
            } else if ft.is_fifo() {
                Snap::Fifo { mode }
            } else {
                Snap::Device {
                    mode,
                    rdev: meta.rdev(),
                    char: ft.is_char_device(),
                }
            };
            out.insert(rel, snap);
        }
    }
    out
}

/// Modification times of every non-symlink entry below `root`.
pub fn mtimes(root: &Path) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let rel = path.strip_prefix(root).expect("prefix");
            out.insert(rel.to_string_lossy().into_owned(), meta.mtime());
        }
    }
    out
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for real blocks.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
