//! Helpers shared by the CLI integration tests: the binary, sample data, trees on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `hubctl` binary built for these tests, with a clean environment for its variables.
pub fn hubctl() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("hubctl");
    cmd.env_remove("HUBCTL_STORE");
    cmd
}

/// Flists written by zflist and rfs from `sample-src.tar.gz`, with their blocks.
pub fn real_tools() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/flist/tests/data/real-tools")
}

/// `dir://` URL of a directory.
pub fn dir_url(path: &Path) -> String {
    format!("dir://{}", path.display())
}

/// Deterministic bytes that neither compress nor repeat (xorshift), so every 512 KiB block of
/// a file differs.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Size of the multi-block file of [`make_tree`]: three blocks, the last one partial.
pub const BIG_SIZE: usize = 2 * 524_288 + 12_345;

/// Writes a small tree covering every entry kind the formats share: nested directories with
/// unusual modes, an empty file, a multi-block file, a duplicate, relative and absolute
/// symlinks, an executable.
pub fn make_tree(root: &Path) {
    let write = |rel: &str, data: &[u8], mode: u32| {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{rel}: {e}"));
        }
        fs::write(&path, data).unwrap_or_else(|e| panic!("{rel}: {e}"));
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
    };
    write("hello.txt", b"hello world\n", 0o644);
    write("empty", b"", 0o600);
    write("big.bin", &noise(BIG_SIZE, 7), 0o644);
    write("sub/copy-of-hello.txt", b"hello world\n", 0o644);
    write("sub/deeper/run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    fs::create_dir_all(root.join("empty-dir")).unwrap_or_else(|e| panic!("{e}"));
    symlink("../hello.txt", root.join("sub/link")).unwrap_or_else(|e| panic!("{e}"));
    symlink("/usr/bin/env", root.join("abs-link")).unwrap_or_else(|e| panic!("{e}"));
    fs::set_permissions(root.join("sub"), fs::Permissions::from_mode(0o750))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Packs a directory into a `.tar.gz` with relative `./` paths, as `tar czf x -C dir .` does.
pub fn make_tar_gz(dir: &Path, out: &Path) {
    let file = fs::File::create(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .unwrap_or_else(|e| panic!("tar: {e}"));
    let gz = builder.into_inner().unwrap_or_else(|e| panic!("tar: {e}"));
    gz.finish().unwrap_or_else(|e| panic!("gzip: {e}"));
}

/// What a tree on disk holds, for comparisons: relative path → description.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Dir { mode: u32 },
    File { mode: u32, content: Vec<u8> },
    Link { target: PathBuf },
}

/// Reads a tree on disk (not following symlinks).
pub fn snapshot(root: &Path) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or_else(|e| panic!("{e}"))
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
            let mode = meta.permissions().mode() & 0o7777;
            let item = if meta.file_type().is_symlink() {
                Item::Link {
                    target: fs::read_link(&path).unwrap_or_else(|e| panic!("{rel}: {e}")),
                }
            } else if meta.is_dir() {
                stack.push(path.clone());
                Item::Dir { mode }
            } else {
                Item::File {
                    mode,
                    content: fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}")),
                }
            };
            out.insert(rel, item);
        }
    }
    out
}

/// Parses a command's stdout as one JSON document.
pub fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(output)))
}
