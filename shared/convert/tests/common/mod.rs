//! Helpers shared by the integration tests: conversion options and runs, unpacking, the
//! compressions an archive may come in, and modification times of unpacked trees. Stores,
//! archives, test data and tree snapshots come from hub-testkit.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use hub_convert::{Conversion, ConvertError, ConvertOptions, NoProgress, UnpackOptions};
use hub_flist::{Flist, Format};
use hub_store::SharedStore;

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
        ("gzip", |d: &[u8]| hub_testkit::gzip(d).expect("gzip")),
        ("zstd", zstd),
        ("xz", xz),
        ("bzip2", bzip2),
    ]
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
