//! `verify` exit codes and reports, and `merge` in both modes and across formats.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{dir_url, hubctl, json, make_tree, pack, tempdir};
use hub_flist::NodeKind;
use hub_testkit::{Entry, snapshot};
use predicates::prelude::*;

/// Where the directory store keeps a block.
fn block_file(store: &Path, flist: &Path, path: &str, index: usize) -> PathBuf {
    let flist = hub_flist::read_file(flist).unwrap_or_else(|e| panic!("{e}"));
    let node = flist
        .tree
        .lookup(path)
        .unwrap_or_else(|| panic!("{path} not in the flist"));
    let NodeKind::File { blocks, .. } = &flist.tree.node(node).kind else {
        panic!("{path} is not a file");
    };
    let hex = blocks
        .get(index)
        .unwrap_or_else(|| panic!("{path} has no block {index}"))
        .id
        .to_hex();
    // Flat, as released rfs reads a dir:// store.
    store.join(hex)
}

#[test]
fn verify_reports_missing_and_corrupt_blocks() {
    let work = tempdir();
    let src = work.path().join("src");
    make_tree(&src);
    for ext in ["flist", "fl"] {
        let store = work.path().join(format!("store-{ext}"));
        let flist = work.path().join(format!("t.{ext}"));
        pack(&store, &src, &flist);
        let verify = |deep: bool, json_out: bool| {
            let mut cmd = hubctl();
            cmd.args(["flist", "verify", "--store"])
                .arg(dir_url(&store))
                .arg(&flist);
            if deep {
                cmd.arg("--deep");
            }
            if json_out {
                cmd.arg("--json");
            }
            cmd.assert()
        };
        verify(false, false)
            .success()
            .stdout(predicate::str::starts_with(
                "ok: all 5 blocks of 4 files are present",
            ));
        let ok = json(&verify(true, true).success().get_output().stdout.clone());
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["deep"], true);
        assert_eq!(ok["blocks_checked"], 5);
        assert_eq!(ok["missing_files"], serde_json::json!([]));

        // Corrupt the last block of big.bin: only a deep check notices.
        let corrupt = block_file(&store, &flist, "big.bin", 2);
        fs::write(&corrupt, b"not the block that was stored here")
            .unwrap_or_else(|e| panic!("{e}"));
        verify(false, false).success();
        let report = json(&verify(true, true).code(1).get_output().stdout.clone());
        assert_eq!(report["ok"], false);
        assert_eq!(report["blocks_corrupt"], 1);
        assert_eq!(report["corrupt_files"], serde_json::json!(["/big.bin"]));

        // Remove the block both hello files share.
        fs::remove_file(block_file(&store, &flist, "hello.txt", 0))
            .unwrap_or_else(|e| panic!("{e}"));
        verify(false, false)
            .code(1)
            .stdout(predicate::str::contains("FAILED: 1 of 5 blocks missing"))
            .stdout(predicate::str::contains("missing blocks: /hello.txt\n"))
            .stdout(predicate::str::contains(
                "missing blocks: /sub/copy-of-hello.txt\n",
            ));
        let report = json(&verify(false, true).code(1).get_output().stdout.clone());
        assert_eq!(report["blocks_missing"], 1);
        assert_eq!(report["failed_files"], 2);
        assert_eq!(
            report["missing_files"],
            serde_json::json!(["/sub/copy-of-hello.txt", "/hello.txt"])
        );
    }
}

/// `ls -R --json` of an flist: path → (type, size).
fn listing(flist: &Path) -> Vec<(String, String, u64)> {
    let doc = json(
        &hubctl()
            .args(["flist", "ls", "-R", "--json"])
            .arg(flist)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    let mut out: Vec<_> = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {doc}"))
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap_or_default().to_owned(),
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["size"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn merge_union_overlay_and_across_formats() {
    let work = tempdir();
    let store = work.path().join("store");
    let a = work.path().join("a");
    let b = work.path().join("b");
    for (root, shared, own) in [(&a, "from a", "only-a"), (&b, "from b, longer", "only-b")] {
        fs::create_dir_all(root.join("etc")).unwrap_or_else(|e| panic!("{e}"));
        fs::write(root.join("etc/shared.conf"), shared).unwrap_or_else(|e| panic!("{e}"));
        fs::write(root.join(own), own).unwrap_or_else(|e| panic!("{e}"));
    }
    // In b, `x` is a directory; in a, a file.
    fs::write(a.join("x"), "file x").unwrap_or_else(|e| panic!("{e}"));
    fs::create_dir_all(b.join("x/inner")).unwrap_or_else(|e| panic!("{e}"));
    let a_fl = work.path().join("a.fl");
    let b_fl = work.path().join("b.fl");
    let b_flist = work.path().join("b.flist");
    pack(&store, &a, &a_fl);
    pack(&store, &b, &b_fl);
    pack(&store, &b, &b_flist);

    let union = work.path().join("union.fl");
    hubctl()
        .args(["flist", "merge", "--store"])
        .arg(dir_url(&store))
        .args([&union, &a_fl, &b_fl])
        .assert()
        .success();
    let entry = |path: &str, kind: &str, size: u64| (path.to_owned(), kind.to_owned(), size);
    assert_eq!(
        listing(&union),
        vec![
            entry("/etc", "directory", 4096),
            entry("/etc/shared.conf", "file", 6),
            entry("/only-a", "file", 6),
            entry("/only-b", "file", 6),
            entry("/x", "file", 6),
        ]
    );

    let overlay = work.path().join("overlay.fl");
    hubctl()
        .args(["flist", "merge", "--mode", "overlay", "--store"])
        .arg(dir_url(&store))
        .args([&overlay, &a_fl, &b_fl])
        .assert()
        .success();
    let listed = listing(&overlay);
    assert!(
        listed.contains(&entry("/etc/shared.conf", "file", 14)),
        "{listed:?}"
    );
    assert!(
        listed.contains(&entry("/x/inner", "directory", 4096)),
        "{listed:?}"
    );

    // A .fl and a .flist into a .flist: the .fl's blocks are re-encoded into the store.
    let mixed = work.path().join("mixed.flist");
    hubctl()
        .args(["flist", "merge", "--store"])
        .arg(dir_url(&store))
        .args([&mixed, &a_fl, &b_flist])
        .assert()
        .success();
    let out = work.path().join("mixed-out");
    hubctl()
        .args(["flist", "unpack", "--store"])
        .arg(dir_url(&store))
        .arg(&mixed)
        .arg(&out)
        .assert()
        .success();
    let tree = snapshot(&out).unwrap_or_else(|e| panic!("snapshot: {e}"));
    let content = |p: &str| match tree.get(p) {
        Some(Entry::File { data, .. }) => data.clone(),
        other => panic!("{p}: {other:?}"),
    };
    assert_eq!(content("etc/shared.conf"), b"from a");
    assert_eq!(content("only-b"), b"only-b");
    hubctl()
        .args(["flist", "verify", "--deep", "--store"])
        .arg(dir_url(&store))
        .arg(&mixed)
        .assert()
        .success();

    // No inputs is a usage error; an unreadable input a failure.
    hubctl().args(["flist", "merge", "out.fl"]).assert().code(2);
    hubctl()
        .args(["flist", "merge", "--store"])
        .arg(dir_url(&store))
        .arg(work.path().join("never.fl"))
        .arg(work.path().join("missing.fl"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.fl"));
}
