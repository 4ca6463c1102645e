//! `pack` then `unpack` round trips for both formats, from directories and `.tar.gz`, and the
//! real-tools flists unpacked from their stores.

mod common;

use std::fs;
use std::path::Path;

use common::{BIG_SIZE, dir_url, hubctl, json, make_tree, pack, real_tools, tempdir};
use hub_testkit::{noise, snapshot, tar_gz};
use predicates::prelude::*;

fn unpack(flist: &Path, store: &Path, out: &Path) {
    hubctl()
        .args(["flist", "unpack", "--store"])
        .arg(dir_url(store))
        .arg(flist)
        .arg(out)
        .assert()
        .success();
}

#[test]
fn directory_and_tar_gz_round_trip_in_both_formats() {
    let work = tempdir();
    let src = work.path().join("src");
    make_tree(&src);
    let tgz = work.path().join("src.tar.gz");
    let archive = tar_gz(&src).unwrap_or_else(|e| panic!("tar: {e}"));
    fs::write(&tgz, archive).unwrap_or_else(|e| panic!("{}: {e}", tgz.display()));
    let expected = snapshot(&src).unwrap_or_else(|e| panic!("snapshot: {e}"));
    assert_eq!(expected.len(), 10, "the test tree itself");
    for ext in ["flist", "fl"] {
        for (kind, source) in [("dir", &src), ("tgz", &tgz)] {
            let name = format!("{kind}-{ext}");
            let store = work.path().join(format!("store-{name}"));
            let flist = work.path().join(format!("{name}.{ext}"));
            let out = work.path().join(format!("out-{name}"));
            pack(&store, source, &flist);
            let mode = std::fs::metadata(&flist)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(mode, 0o644, "{name}: a new flist is readable by others");
            unpack(&flist, &store, &out);
            assert!(
                snapshot(&out).is_ok_and(|tree| tree == expected),
                "{name}: unpacked tree differs"
            );
        }
    }
}

/// A bare tar of `dir`, as `tar cf - -C dir .` writes it.
fn tar_bytes(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .unwrap_or_else(|e| panic!("tar: {e}"));
    builder.into_inner().unwrap_or_else(|e| panic!("tar: {e}"))
}

#[test]
fn archives_are_recognised_by_content_not_name() {
    use std::io::Write;

    let work = tempdir();
    let src = work.path().join("src");
    make_tree(&src);
    let expected = snapshot(&src).unwrap_or_else(|e| panic!("snapshot: {e}"));
    let tar = tar_bytes(&src);
    let xz = {
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(&tar).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    };
    let bz2 = {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(&tar).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    };
    let zst = zstd::encode_all(tar.as_slice(), 3).unwrap_or_else(|e| panic!("{e}"));
    let store = work.path().join("store");
    for (kind, bytes) in [("tar", &tar), ("xz", &xz), ("bz2", &bz2), ("zst", &zst)] {
        // A name that says nothing: the compression is detected from the magic bytes.
        let archive = work.path().join(format!("{kind}.data"));
        fs::write(&archive, bytes).unwrap_or_else(|e| panic!("{e}"));
        let flist = work.path().join(format!("{kind}.fl"));
        let out = work.path().join(format!("out-{kind}"));
        pack(&store, &archive, &flist);
        unpack(&flist, &store, &out);
        assert!(
            snapshot(&out).is_ok_and(|tree| tree == expected),
            "{kind}: unpacked tree differs"
        );
    }
}

#[test]
fn real_tools_flists_unpack_to_their_source() {
    let work = tempdir();
    let src = work.path().join("src");
    let gz =
        std::fs::read(real_tools().join("sample-src.tar.gz")).unwrap_or_else(|e| panic!("{e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    archive.set_preserve_permissions(true);
    archive.unpack(&src).unwrap_or_else(|e| panic!("{e}"));
    let expected = snapshot(&src).unwrap_or_else(|e| panic!("snapshot: {e}"));
    for (flist, store) in [("sample.flist", "flist-store"), ("sample.fl", "fl-store")] {
        let out = work.path().join(flist);
        unpack(&real_tools().join(flist), &real_tools().join(store), &out);
        assert!(
            snapshot(&out).is_ok_and(|tree| tree == expected),
            "{flist}: unpacked tree differs"
        );
    }
}

#[test]
fn cat_of_a_packed_multi_block_file() {
    let work = tempdir();
    let src = work.path().join("src");
    make_tree(&src);
    let store = work.path().join("store");
    for ext in ["flist", "fl"] {
        let flist = work.path().join(format!("t.{ext}"));
        pack(&store, &src, &flist);
        hubctl()
            .args(["flist", "cat", "--store"])
            .arg(dir_url(&store))
            .arg(&flist)
            .arg("big.bin")
            .assert()
            .success()
            .stdout(predicate::function(|out: &[u8]| {
                out.len() == BIG_SIZE && out == noise(BIG_SIZE, 7).as_slice()
            }));
    }
    // A .fl records the store in its routes, so --store is optional.
    hubctl()
        .args(["flist", "cat"])
        .arg(work.path().join("t.fl"))
        .arg("/sub/copy-of-hello.txt")
        .assert()
        .success()
        .stdout("hello world\n");
}

#[test]
fn pack_settings_and_json_report() {
    let work = tempdir();
    let src = work.path().join("src");
    make_tree(&src);
    let store = work.path().join("store");
    let readme = work.path().join("README.md");
    std::fs::write(&readme, "# Hello\n").unwrap_or_else(|e| panic!("{e}"));

    let fl = work.path().join("t.fl");
    let out = hubctl()
        .args([
            "flist",
            "pack",
            "--json",
            "--meta",
            "author=me",
            "--meta",
            "version=1",
        ])
        .args([
            "--route",
            "00-7f=zdb://user:secret@a:9900/ns,80-ff=zdb://b:9900/ns",
        ])
        .arg("--readme")
        .arg(&readme)
        .arg("--store")
        .arg(dir_url(&store))
        .arg(&src)
        .arg(&fl)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    assert_eq!(report["format"], "fl");
    assert_eq!(report["entries"], 10);
    assert_eq!(report["content_bytes"], BIG_SIZE + 12 + 12 + 18);
    // Three blocks of big.bin, one shared by both hellos, one for run.sh.
    assert_eq!(report["blocks"], 6);
    assert_eq!(report["blocks_written"], 5);
    assert_eq!(report["blocks_deduped"], 1);

    let meta = json(
        &hubctl()
            .args(["flist", "meta", "--json"])
            .arg(&fl)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    assert_eq!(meta["metadata"]["author"], "me");
    assert_eq!(meta["metadata"]["version"], 1);
    assert_eq!(meta["metadata"]["readme"]["readme"], "# Hello\n");
    assert_eq!(meta["routes"][0]["url"], "zdb://user@a:9900/ns");
    assert_eq!(meta["routes"][1]["start"], 128);

    let flist = work.path().join("t.flist");
    hubctl()
        .args([
            "flist",
            "pack",
            "--backend",
            "hub.grid.tf:9900/public",
            "--store",
        ])
        .arg(dir_url(&store))
        .arg(&src)
        .arg(&flist)
        .assert()
        .success();
    hubctl()
        .args(["flist", "meta", "--json"])
        .arg(&flist)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            r#""backend": {
      "host": "hub.grid.tf",
      "namespace": "public",
      "port": 9900
    }"#,
        ));
}

#[test]
fn pack_refuses_bad_requests() {
    let work = tempdir();
    let src = work.path().join("src");
    make_tree(&src);
    let store = dir_url(&work.path().join("store"));
    let not_archive = work.path().join("notes.txt");
    std::fs::write(&not_archive, "just some text, not a tar archive at all")
        .unwrap_or_else(|e| panic!("{e}"));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                src.display().to_string(),
                work.path().join("out.bin").display().to_string(),
            ],
            "cannot tell the format",
        ),
        (
            vec![
                not_archive.display().to_string(),
                work.path().join("x.fl").display().to_string(),
            ],
            "unknown archive format",
        ),
        (
            vec![
                "--backend".into(),
                "h:1".into(),
                src.display().to_string(),
                work.path().join("x.fl").display().to_string(),
            ],
            "--backend sets .flist metadata",
        ),
        (
            vec![
                work.path().join("missing").display().to_string(),
                work.path().join("x.fl").display().to_string(),
            ],
            "missing",
        ),
    ];
    for (args, message) in cases {
        hubctl()
            .args(["flist", "pack", "--store", &store])
            .args(&args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message));
    }
    assert!(
        !work.path().join("x.fl").exists(),
        "no flist written on failure"
    );
    hubctl()
        .args(["flist", "pack", "--format", "zip", "--store", &store])
        .arg(&src)
        .arg(work.path().join("x.fl"))
        .assert()
        .code(2);
}

#[test]
fn unpack_needs_an_empty_target() {
    let work = tempdir();
    let target = work.path().join("busy");
    std::fs::create_dir_all(&target).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(target.join("x"), "x").unwrap_or_else(|e| panic!("{e}"));
    hubctl()
        .args(["flist", "unpack", "--store"])
        .arg(dir_url(&real_tools().join("fl-store")))
        .arg(real_tools().join("sample.fl"))
        .arg(&target)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("must be empty"));
}
