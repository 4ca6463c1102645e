//! Archive → flist → bytes → flist → unpack, compared byte for byte with the source tree,
//! for both formats and all five compressions; the real-tools sample; directories; and one
//! end-to-end run against the 0-db double.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use common::{compressions, convert, mtimes, opts, write_read_unpack};
use hub_convert::{NoProgress, convert_dir};
use hub_flist::chunk::CHUNK_SIZE;
use hub_flist::{Format, NodeKind};
use hub_store::SharedStore;
use hub_testkit::{Entry, TarBuilder, dir_store, gzip, noise, snapshot, zdb_store};

/// A source tree with the interesting file sizes, modes and links.
fn make_source(root: &Path) {
    let write = |rel: &str, data: &[u8], mode: u32| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, data).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    write("empty", b"", 0o644);
    write("hello.txt", b"hello world\n", 0o644);
    write("exact-block.bin", &noise(CHUNK_SIZE, 1), 0o600);
    write("block-plus-one.bin", &noise(CHUNK_SIZE + 1, 2), 0o644);
    write(
        "sub/deeper/big.bin",
        &noise(3 * CHUNK_SIZE / 2 + 17, 3),
        0o755,
    );
    write(
        "sub/dup-of-big.bin",
        &noise(3 * CHUNK_SIZE / 2 + 17, 3),
        0o644,
    );
    write("sub/setuid", b"#!/bin/sh\n", 0o4755);
    std::os::unix::fs::symlink("../hello.txt", root.join("sub/rel-link")).expect("symlink");
    std::os::unix::fs::symlink("/usr/bin/env", root.join("abs-link")).expect("symlink");
    std::fs::create_dir_all(root.join("empty-dir")).expect("mkdir");
    std::fs::set_permissions(root.join("sub"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    nix::unistd::mkfifo(
        &root.join("pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .expect("mkfifo");
}

fn tar_of(root: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", root).expect("tar the source");
    b.into_inner().expect("finish tar")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_round_trip_in_both_formats_and_all_compressions() {
    let src = tempfile::tempdir().expect("tempdir");
    make_source(src.path());
    let expected = snapshot(src.path()).expect("snapshot");
    let tar = tar_of(src.path());
    for format in [Format::Flist, Format::Fl] {
        for (name, compress) in compressions() {
            let (_s, store) = dir_store().await.expect("dir store");
            let conv = convert(compress(&tar), &store, &opts(format))
                .await
                .unwrap_or_else(|e| panic!("{format} {name}: {e}"));
            assert_eq!(conv.flist.format, format);
            // 2 distinct 512 KiB blocks of `big` are shared with its duplicate.
            assert!(
                conv.stats.blocks_deduped >= 2,
                "{format} {name}: {:?}",
                conv.stats
            );
            let out = write_read_unpack(&conv.flist, &store).await;
            assert_eq!(
                snapshot(out.path()).expect("snapshot"),
                expected,
                "{format} {name}"
            );
            let mut want_times = mtimes(src.path());
            let mut got_times = mtimes(out.path());
            // Symlink times are not carried by every path; compare the rest.
            for key in ["sub/rel-link", "abs-link"] {
                want_times.remove(key);
                got_times.remove(key);
            }
            assert_eq!(got_times, want_times, "{format} {name} mtimes");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_round_trip() {
    let src = tempfile::tempdir().expect("tempdir");
    make_source(src.path());
    std::fs::write(src.path().join(".README.md"), "# markdown").expect("write");
    std::fs::write(src.path().join(".README"), "plain readme").expect("write");
    for format in [Format::Flist, Format::Fl] {
        let (_s, store) = dir_store().await.expect("dir store");
        let conv = convert_dir(
            src.path(),
            SharedStore::clone(&store),
            &opts(format),
            Arc::new(NoProgress),
        )
        .await
        .expect("convert dir");
        assert_eq!(
            conv.flist.meta.get_json("readme"),
            Some(serde_json::json!({"readme": "plain readme"}))
        );
        let out = write_read_unpack(&conv.flist, &store).await;
        assert_eq!(
            snapshot(out.path()).expect("snapshot"),
            snapshot(src.path()).expect("snapshot"),
            "{format}"
        );
    }
}

/// The real-tools sample: same tree as zflist and rfs produced, and the same ids for content
/// whose encoding is encoder-independent (the D.1/D.2 `hello world` vectors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_tools_sample() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let archive = std::fs::read(data.join("sample-src.tar.gz")).expect("sample");
    for (format, reference) in [(Format::Flist, "sample.flist"), (Format::Fl, "sample.fl")] {
        let (_s, store) = dir_store().await.expect("dir store");
        let conv = convert(archive.clone(), &store, &opts(format))
            .await
            .expect("convert sample");
        let theirs = hub_flist::read_file(&data.join(reference)).expect("reference flist");
        assert_eq!(
            conv.flist.tree.dump(),
            theirs.tree.dump(),
            "{format} paths and sizes"
        );
        for path in ["hello.txt", "dir/copy-of-hello.txt"] {
            let blocks = |t: &hub_flist::Tree| match t.lookup(path).map(|id| &t.node(id).kind) {
                Some(NodeKind::File { blocks, .. }) => blocks.to_vec(),
                other => panic!("{path}: {other:?}"),
            };
            assert_eq!(
                blocks(&conv.flist.tree),
                blocks(&theirs.tree),
                "{format} {path}"
            );
        }
        let modes = |t: &hub_flist::Tree| {
            t.walk()
                .map(|id| (t.path(id), t.node(id).attr.mode))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            modes(&conv.flist.tree),
            modes(&theirs.tree),
            "{format} modes"
        );
        let out = write_read_unpack(&conv.flist, &store).await;
        let src = tempfile::tempdir().expect("tempdir");
        tar::Archive::new(flate2::read::GzDecoder::new(archive.as_slice()))
            .unpack(src.path())
            .expect("reference extraction");
        assert_eq!(
            snapshot(out.path()).expect("snapshot"),
            snapshot(src.path()).expect("snapshot"),
            "{format}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_zero_db() {
    let (zdb, store) = zdb_store("blocks").await.expect("0-db double");
    let src = tempfile::tempdir().expect("tempdir");
    make_source(src.path());
    let conv = convert(
        gzip(&tar_of(src.path())).expect("gzip"),
        &store,
        &opts(Format::Fl),
    )
    .await
    .expect("convert through zdb");
    assert_eq!(
        zdb.key_count("blocks"),
        Some(conv.stats.blocks_written as usize)
    );
    assert_eq!(conv.flist.meta.routes.len(), 1);
    assert!(conv.flist.meta.routes[0].url.starts_with("zdb://"));
    let report = hub_convert::verify(
        &conv.flist,
        SharedStore::clone(&store),
        &hub_convert::VerifyOptions::default(),
    )
    .await
    .expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(zdb.stats().count("GET"), 0, "verify must not GET");
    let out = write_read_unpack(&conv.flist, &store).await;
    assert_eq!(
        snapshot(out.path()).expect("snapshot"),
        snapshot(src.path()).expect("snapshot")
    );
    zdb.shutdown().await;
}

#[test]
fn snapshot_sees_kinds() {
    let src = tempfile::tempdir().expect("tempdir");
    make_source(src.path());
    let snap = snapshot(src.path()).expect("snapshot");
    assert!(matches!(
        snap.get("pipe"),
        Some(Entry::Fifo { mode: 0o640 })
    ));
    assert!(matches!(snap.get("sub"), Some(Entry::Dir { mode: 0o750 })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpack_needs_an_empty_target() {
    let (_s, store) = dir_store().await.expect("dir store");
    let bytes = TarBuilder::new()
        .file("f", 0o644, b"x")
        .finish()
        .expect("tar");
    let conv = convert(bytes, &store, &opts(Format::Fl))
        .await
        .expect("convert");
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::write(out.path().join("existing"), b"keep me").expect("write");
    let err = hub_convert::unpack(
        &conv.flist,
        store,
        out.path(),
        &hub_convert::UnpackOptions::default(),
    )
    .await
    .expect_err("non-empty target");
    assert_eq!(err.code(), "io_error", "{err}");
    assert_eq!(
        std::fs::read(out.path().join("existing")).expect("read"),
        b"keep me"
    );
}

/// Records every progress report.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<hub_convert::ProgressReport>>);

impl hub_convert::Progress for Recorder {
    fn update(&self, report: &hub_convert::ProgressReport) {
        if let Ok(mut reports) = self.0.lock() {
            reports.push(report.clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_reported_up_to_done() {
    let (_s, store) = dir_store().await.expect("dir store");
    let mut tar = TarBuilder::new();
    for i in 0..3000 {
        tar = tar.file(&format!("d/f{i}"), 0o644, format!("file {i}").as_bytes());
    }
    let recorder = Arc::new(Recorder::default());
    let conv = hub_convert::convert_archive(
        std::io::Cursor::new(tar.finish().expect("tar")),
        store,
        &opts(Format::Fl),
        recorder.clone(),
    )
    .await
    .expect("convert");
    let reports = recorder.0.lock().expect("lock").clone();
    assert!(reports.len() >= 3, "{reports:?}");
    let last = reports.last().expect("a final report");
    assert_eq!(last.phase, hub_convert::Phase::Done);
    assert_eq!(last.entries, 3000);
    assert_eq!(last.blocks_written, conv.stats.blocks_written);
    assert!(reports.windows(2).all(|w| w[0].entries <= w[1].entries));
    assert!(
        reports
            .iter()
            .any(|r| r.phase == hub_convert::Phase::Reading)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_with_sockets_and_devices() {
    let src = tempfile::tempdir().expect("tempdir");
    let _socket = std::os::unix::net::UnixListener::bind(src.path().join("sock")).expect("bind");
    let root = nix::unistd::geteuid().is_root();
    if root {
        nix::sys::stat::mknod(
            &src.path().join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            hub_flist::v2::mode::makedev(1, 3),
        )
        .expect("mknod");
    }
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert_dir(
        src.path(),
        SharedStore::clone(&store),
        &opts(Format::Fl),
        Arc::new(NoProgress),
    )
    .await
    .expect("convert dir");
    let tree = &conv.flist.tree;
    let kind = |p: &str| tree.lookup(p).map(|id| tree.node(id).kind.clone());
    assert_eq!(kind("sock"), Some(NodeKind::Socket));
    if root {
        assert_eq!(
            kind("null"),
            Some(NodeKind::CharDevice { major: 1, minor: 3 })
        );
        let mut strict = opts(Format::Fl);
        strict.limits.allow_devices = false;
        let err = convert_dir(src.path(), store, &strict, Arc::new(NoProgress))
            .await
            .expect_err("devices refused");
        assert!(
            matches!(&err, hub_convert::ConvertError::DeviceNotAllowed { entry } if entry == "/null"),
            "{err}"
        );
    }
}
