//! `hubctl store migrate-layout`: older hubs' sharded `dir://` stores become flat, the layout
//! released rfs reads.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{dir_url, hubctl, json, real_tools};

/// Files under `root`, relative to it, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(
                    path.strip_prefix(root)
                        .unwrap_or_else(|e| panic!("{e}"))
                        .into(),
                );
            }
        }
    }
    found.sort();
    found
}

/// Copies zflist's sharded chunk store of the sample flist.
fn sharded_copy(to: &Path) {
    let source = real_tools().join("flist-store");
    for name in files(&source) {
        let target = to.join(&name);
        fs::create_dir_all(target.parent().unwrap_or(to)).unwrap_or_else(|e| panic!("{e}"));
        fs::copy(source.join(&name), &target).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn migrate(store: &Path) -> serde_json::Value {
    let out = hubctl()
        .args(["store", "migrate-layout", "--json"])
        .arg(dir_url(store))
        .assert()
        .success();
    json(&out.get_output().stdout)
}

#[test]
fn migrate_layout_moves_a_sharded_store_flat_and_it_still_verifies() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = work.path().join("store");
    sharded_copy(&store);
    let sharded = files(&store);
    assert_eq!(sharded.len(), 6);

    let first = migrate(&store);
    assert_eq!(first["moved"], 6, "{first}");
    assert_eq!(first["duplicates"], 0, "{first}");
    assert_eq!(first["shard_dirs_removed"], 6, "{first}");
    assert_eq!(first["left_in_place"], 0, "{first}");
    let flat: Vec<PathBuf> = sharded
        .iter()
        .map(|name| name.file_name().unwrap_or_default().into())
        .collect();
    let mut flat_sorted = flat.clone();
    flat_sorted.sort();
    assert_eq!(files(&store), flat_sorted);

    // Every chunk of zflist's flist is still there and intact.
    hubctl()
        .args(["flist", "verify", "--deep", "--store"])
        .arg(dir_url(&store))
        .arg(real_tools().join("sample.flist"))
        .assert()
        .success();

    let second = migrate(&store);
    for field in ["moved", "duplicates", "shard_dirs_removed", "left_in_place"] {
        assert_eq!(second[field], 0, "{second}");
    }
}

#[test]
fn migrate_layout_refuses_a_missing_directory() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = work.path().join("no-such-store");
    hubctl()
        .args(["store", "migrate-layout"])
        .arg(&missing)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("is not a directory"));
    assert!(!missing.exists());
}
