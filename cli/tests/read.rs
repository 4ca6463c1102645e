//! Read commands (`ls`, `stats`, `meta`, `cat`) on flists written by zflist and rfs, and the
//! exit codes of bad input and bad usage.

mod common;

use common::{dir_url, hubctl, json, real_tools};
use predicates::prelude::*;

/// Content of one file of `sample-src.tar.gz`.
fn source_file(name: &str) -> Vec<u8> {
    let gz = std::fs::read(real_tools().join("sample-src.tar.gz"))
        .unwrap_or_else(|e| panic!("sample-src.tar.gz: {e}"));
    hub_testkit::tar_gz_member(&gz, name)
        .unwrap_or_else(|e| panic!("sample-src.tar.gz: {e}"))
        .unwrap_or_else(|| panic!("{name} is not in the sample"))
}

#[test]
fn ls_lists_like_ls_l() {
    for flist in ["sample.flist", "sample.fl"] {
        hubctl()
            .args(["flist", "ls"])
            .arg(real_tools().join(flist))
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "drwxr-x---     0     0         4096",
            ))
            .stdout(predicate::str::contains(" abs-link -> /usr/bin/env\n"))
            .stdout(predicate::str::contains(
                "-rw-r--r--     0     0      1359200",
            ))
            // Not recursive: nothing below `dir`.
            .stdout(predicate::str::contains("run.sh").not());
        hubctl()
            .args(["flist", "ls", "-R"])
            .arg(real_tools().join(flist))
            .arg("/dir")
            .assert()
            .success()
            .stdout(predicate::str::contains("-rwxr-xr-x"))
            .stdout(predicate::str::contains(" /dir/nested/run.sh\n"))
            .stdout(predicate::str::contains(
                " /dir/link-to-hello -> ../hello.txt\n",
            ));
    }
}

#[test]
fn ls_json_shape() {
    let out = hubctl()
        .args(["flist", "ls", "--json", "-R"])
        .arg(real_tools().join("sample.fl"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    assert_eq!(doc["path"], "/");
    let entries = doc["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("entries is not an array: {doc}"));
    assert_eq!(entries.len(), 10);
    let find = |path: &str| {
        entries
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("{path} not listed"))
    };
    let big = find("/mixed-1.3m.bin");
    assert_eq!(big["type"], "file");
    assert_eq!(big["name"], "mixed-1.3m.bin");
    assert_eq!(big["size"], 1_359_200);
    assert_eq!(big["blocks"], 3);
    assert_eq!(big["mode"], "0644");
    assert_eq!(big["permissions"], "-rw-r--r--");
    assert_eq!(
        (big["uid"].as_u64(), big["gid"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(big["mtime"].is_i64());
    let link = find("/dir/link-to-hello");
    assert_eq!(link["type"], "symlink");
    assert_eq!(link["target"], "../hello.txt");
    let dir = find("/dir");
    assert_eq!(
        (dir["type"].as_str(), dir["mode"].as_str()),
        (Some("directory"), Some("0750"))
    );

    // A single file is listed on its own.
    let out = hubctl()
        .args(["flist", "ls", "--json"])
        .arg(real_tools().join("sample.flist"))
        .arg("dir/nested/run.sh")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    assert_eq!(doc["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["entries"][0]["permissions"], "-rwxr-xr-x");
}

#[test]
fn stats_json_shape_and_text() {
    for (flist, format, routes) in [("sample.flist", "flist", 0), ("sample.fl", "fl", 1)] {
        let out = hubctl()
            .args(["flist", "stats", "--json"])
            .arg(real_tools().join(flist))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let doc = json(&out);
        assert_eq!(doc["format"], format);
        assert_eq!(doc["entries"]["regular"], 6);
        assert_eq!(doc["entries"]["directory"], 2);
        assert_eq!(doc["entries"]["symlink"], 2);
        assert_eq!(doc["entries"]["special"], 0);
        assert_eq!(doc["entries"]["total"], 10);
        // 0 + 12 + 512 KiB + 1359200 + 12 + 19 bytes.
        assert_eq!(doc["size"], 1_883_531);
        // hello.txt and its copy share their block.
        assert_eq!(
            (doc["blocks"].as_u64(), doc["distinct_blocks"].as_u64()),
            (Some(7), Some(6))
        );
        assert_eq!(doc["routes"], routes);
        assert!(doc["metadata_keys"].is_array());
        hubctl()
            .args(["flist", "stats"])
            .arg(real_tools().join(flist))
            .assert()
            .success()
            .stdout(predicate::str::contains("blocks:          7 (6 distinct)"));
    }
}

#[test]
fn meta_shows_routes() {
    let out = hubctl()
        .args(["flist", "meta", "--json"])
        .arg(real_tools().join("sample.fl"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json(&out);
    assert_eq!(doc["format"], "fl");
    assert_eq!(doc["routes"][0]["start"], 0);
    assert_eq!(doc["routes"][0]["end"], 255);
    assert!(
        doc["routes"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("dir://"))
    );
    assert!(doc["metadata"].is_object());
    hubctl()
        .args(["flist", "meta"])
        .arg(real_tools().join("sample.fl"))
        .assert()
        .success()
        .stdout(predicate::str::contains("routes:\n  00-ff dir://"));
}

#[test]
fn cat_streams_a_multi_block_file() {
    let expected = source_file("mixed-1.3m.bin");
    for (flist, store) in [("sample.flist", "flist-store"), ("sample.fl", "fl-store")] {
        for read_ahead in ["1", "8"] {
            hubctl()
                .args(["flist", "cat", "--read-ahead", read_ahead, "--store"])
                .arg(dir_url(&real_tools().join(store)))
                .arg(real_tools().join(flist))
                .arg("/mixed-1.3m.bin")
                .assert()
                .success()
                .stdout(predicate::eq(expected.clone()));
        }
    }
}

#[test]
fn cat_of_a_missing_block_fails_with_its_id() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    hubctl()
        .args(["flist", "cat", "--store"])
        .arg(dir_url(empty.path()))
        .arg(real_tools().join("sample.flist"))
        .arg("hello.txt")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "(a5147f6e7cac3a7076f942cb5e00d896) is missing",
        ));
    hubctl()
        .args(["flist", "cat", "--store"])
        .arg(dir_url(empty.path()))
        .arg(real_tools().join("sample.flist"))
        .arg("dir")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("dir is a directory"));
}

#[test]
fn corrupt_flists_fail_with_the_typed_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let garbage = dir.path().join("garbage.flist");
    std::fs::write(&garbage, b"definitely not an flist").unwrap_or_else(|e| panic!("{e}"));
    // A valid gzip header followed by truncated data.
    let good = std::fs::read(real_tools().join("sample.flist")).unwrap_or_else(|e| panic!("{e}"));
    let truncated = dir.path().join("truncated.flist");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    // A SQLite header over garbage pages.
    let mut fake_db = b"SQLite format 3\0".to_vec();
    fake_db.extend(hub_testkit::noise(8192, 3));
    let bad_fl = dir.path().join("bad.fl");
    std::fs::write(&bad_fl, &fake_db).unwrap_or_else(|e| panic!("{e}"));
    for (file, message) in [
        (&garbage, "not an flist: neither gzip nor SQLite data"),
        (&truncated, "is not a valid flist: gzip"),
        (&bad_fl, "is not a valid flist: sqlite"),
    ] {
        for command in ["ls", "stats", "meta"] {
            hubctl()
                .args(["flist", command])
                .arg(file)
                .assert()
                .code(1)
                .stdout(predicate::str::is_empty())
                .stderr(predicate::str::contains(message))
                .stderr(predicate::str::contains("panicked").not());
        }
    }
    // Larger than any flist can be: refused before it is read (the file is sparse).
    let huge = dir.path().join("huge.fl");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(3 << 30))
        .unwrap_or_else(|e| panic!("{e}"));
    hubctl()
        .args(["flist", "stats"])
        .arg(&huge)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("more than an flist can be"));
    hubctl()
        .args(["flist", "ls"])
        .arg(dir.path().join("nope.flist"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read"))
        .stderr(predicate::str::contains("nope.flist"));
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["flist"][..],
        &["flist", "ls"],
        &["flist", "frobnicate"],
        &["flist", "cat", "x.fl"],
        &["flist", "cat", "--read-ahead", "0", "x.fl", "a"],
        &["--no-such-flag"],
    ] {
        hubctl()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("Usage").or(predicate::str::contains("--help")));
    }
    hubctl().arg("--help").assert().success();
}
