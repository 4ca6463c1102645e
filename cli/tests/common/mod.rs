//! Helpers shared by the CLI integration tests: the binary, sample data, trees on disk. Test
//! data, archives and tree snapshots come from hub-testkit.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use hub_testkit::noise;
use tempfile::TempDir;

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

/// A new temporary directory.
pub fn tempdir() -> TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// `hubctl flist pack` of `source` into `out`, blocks into the directory store `store`.
pub fn pack(store: &Path, source: &Path, out: &Path) {
    hubctl()
        .args(["flist", "pack", "--store"])
        .arg(dir_url(store))
        .arg(source)
        .arg(out)
        .assert()
        .success();
}

/// `dir://` URL of a directory.
pub fn dir_url(path: &Path) -> String {
    format!("dir://{}", path.display())
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

/// Parses a command's stdout as one JSON document.
pub fn json(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(output)))
}
