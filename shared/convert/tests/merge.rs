//! Merging: first-wins union (flist-formats §C.2), overlay with whiteouts, cross-format
//! re-encoding, and the timing of a 100k + 100k entry merge.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{convert, opts, write_read_unpack};
use hub_convert::{MergeMode, merge};
use hub_flist::{Attr, BlockRef, Flist, Format, Hash, NodeKind, Tree};
use hub_store::SharedStore;
use hub_testkit::{TarBuilder, dir_store, noise, snapshot};

fn kind<'t>(tree: &'t Tree, path: &str) -> Option<&'t NodeKind> {
    tree.lookup(path).map(|id| &tree.node(id).kind)
}

async fn flist(tar: TarBuilder, store: &SharedStore, format: Format, note: &str) -> Flist {
    let mut conv = convert(tar.finish().expect("tar"), store, &opts(format))
        .await
        .expect("convert input");
    conv.flist.meta.values.insert("note".into(), note.into());
    conv.flist
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_wins_union() {
    let (_s, store) = dir_store().await.expect("dir store");
    let f1 = TarBuilder::new()
        .file("x", 0o644, b"x is a file in F1")
        .dir("y", 0o750)
        .file("y/q", 0o644, b"q")
        .file("d/a", 0o644, b"a from F1")
        .symlink("s", "d/a")
        .fifo("p");
    let f2 = TarBuilder::new()
        .file("x/inner", 0o644, b"dropped: x is a file in F1")
        .file("y", 0o600, b"dropped: y is a directory in F1")
        .file("d/a", 0o600, b"a from F2 (dropped)")
        .file("d/b", 0o644, b"b from F2")
        .dir("d", 0o700)
        .symlink("s2", "/abs")
        .device("c", tar::EntryType::Char, 1, 5)
        .file(".wh.x", 0o644, b"just a file here");
    for format in [Format::Flist, Format::Fl] {
        let a = flist(f1.clone(), &store, format, "first").await;
        let b = flist(f2.clone(), &store, format, "second").await;
        let merged = merge(
            vec![a, b],
            MergeMode::FirstWins,
            format,
            SharedStore::clone(&store),
        )
        .await
        .expect("merge");
        let t = &merged.tree;
        assert!(matches!(
            kind(t, "x"),
            Some(NodeKind::File { size: 17, .. })
        ));
        assert!(kind(t, "x/inner").is_none());
        assert!(matches!(kind(t, "y"), Some(NodeKind::Dir { .. })));
        assert!(kind(t, "y/q").is_some());
        assert!(kind(t, "d/b").is_some());
        assert_eq!(
            t.lookup("d").map(|id| t.node(id).attr.mode),
            Some(0o755),
            "directories keep the earliest attributes"
        );
        assert!(matches!(kind(t, "s"), Some(NodeKind::Symlink { .. })));
        assert!(matches!(kind(t, "s2"), Some(NodeKind::Symlink { .. })));
        assert_eq!(kind(t, "p"), Some(&NodeKind::Fifo));
        assert_eq!(
            kind(t, "c"),
            Some(&NodeKind::CharDevice { major: 1, minor: 5 })
        );
        assert!(kind(t, ".wh.x").is_some(), "no whiteout processing in C.2");
        assert_eq!(
            merged.meta.values.get("note").map(String::as_str),
            Some("first")
        );
        let out = write_read_unpack(&merged, &store).await;
        assert_eq!(
            std::fs::read(out.path().join("d/a")).expect("read"),
            b"a from F1"
        );
        assert_eq!(
            std::fs::read(out.path().join("d/b")).expect("read"),
            b"b from F2"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay_with_whiteouts_and_opaque_dirs() {
    let (_s, store) = dir_store().await.expect("dir store");
    let lower = TarBuilder::new()
        .file("keep", 0o644, b"old")
        .file("gone", 0o644, b"deleted by a whiteout")
        .file("o/old", 0o644, b"hidden by the opaque marker")
        .file("o/sub/x", 0o644, b"hidden too")
        .file("f-to-dir", 0o644, b"becomes a directory");
    let upper = TarBuilder::new()
        .file(".wh.gone", 0o644, b"")
        .file("o/.wh..wh..opq", 0o644, b"")
        .file("o/new", 0o644, b"new")
        .file("keep", 0o600, b"new content")
        .file("f-to-dir/inside", 0o644, b"inside");
    let a = flist(lower, &store, Format::Fl, "lower").await;
    let b = flist(upper, &store, Format::Fl, "upper").await;
    let merged = merge(
        vec![a, b],
        MergeMode::Overlay,
        Format::Fl,
        SharedStore::clone(&store),
    )
    .await
    .expect("overlay merge");
    let t = &merged.tree;
    assert!(kind(t, "gone").is_none());
    assert!(kind(t, ".wh.gone").is_none());
    assert!(kind(t, "o/old").is_none());
    assert!(kind(t, "o/sub").is_none());
    assert!(kind(t, "o/.wh..wh..opq").is_none());
    assert!(kind(t, "o/new").is_some());
    assert!(kind(t, "f-to-dir/inside").is_some());
    let out = write_read_unpack(&merged, &store).await;
    assert_eq!(
        std::fs::read(out.path().join("keep")).expect("read"),
        b"new content"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_format_merge_re_encodes_blocks() {
    let (_s, store) = dir_store().await.expect("dir store");
    let big = noise(700_000, 9);
    let one = TarBuilder::new()
        .file("big.bin", 0o644, &big)
        .file("hello", 0o644, b"hello world\n");
    let two = TarBuilder::new()
        .file("other/data", 0o640, &noise(100_000, 4))
        .file("other/copy-of-big", 0o644, &big);
    for target in [Format::Fl, Format::Flist] {
        let a = flist(one.clone(), &store, Format::Flist, "a").await;
        let b = flist(two.clone(), &store, Format::Fl, "b").await;
        let reference = merge(
            vec![a.clone(), b.clone()],
            MergeMode::FirstWins,
            a.format,
            SharedStore::clone(&store),
        );
        let merged = merge(
            vec![a, b],
            MergeMode::FirstWins,
            target,
            SharedStore::clone(&store),
        )
        .await
        .expect("cross-format merge");
        assert_eq!(merged.format, target);
        for id in merged.tree.walk() {
            if let NodeKind::File { blocks, .. } = &merged.tree.node(id).kind {
                assert!(blocks.iter().all(|b| b.id.len() == target.hash_len()));
            }
        }
        let report = hub_convert::verify(
            &merged,
            SharedStore::clone(&store),
            &hub_convert::VerifyOptions {
                deep: true,
                concurrency: 8,
            },
        )
        .await
        .expect("verify");
        assert!(report.is_ok(), "{report:?}");
        let out = write_read_unpack(&merged, &store).await;
        let reference = reference.await.expect("same-format merge");
        let ref_out = write_read_unpack(&reference, &store).await;
        assert_eq!(
            snapshot(out.path()).expect("snapshot"),
            snapshot(ref_out.path()).expect("snapshot"),
            "{target}"
        );
        assert_eq!(
            std::fs::read(out.path().join("other/copy-of-big")).expect("read"),
            big
        );
    }
}

/// A synthetic flist of `dirs × per_dir` files (blocks are fake: a same-format merge never
/// reads them).
fn synthetic(format: Format, dirs: usize, per_dir: usize, salt: u8) -> Flist {
    let mut flist = Flist::new(format);
    let tree = &mut flist.tree;
    let len = format.hash_len();
    for d in 0..dirs {
        let dir = tree
            .mkdir_all(&format!("dir{d:04}"), &Attr::default_dir())
            .expect("mkdir");
        for f in 0..per_dir {
            let mut id = vec![salt; len];
            id[..8].copy_from_slice(&((d * per_dir + f) as u64).to_le_bytes());
            let block = BlockRef {
                id: Hash::new(&id).expect("hash"),
                key: Hash::new(&id).expect("hash"),
            };
            tree.insert(
                dir,
                format!("file-{salt}-{f:05}"),
                Attr::with_mode(0o644),
                NodeKind::File {
                    size: 1000,
                    blocks: Arc::from(vec![block]),
                },
            )
            .expect("insert");
        }
    }
    flist
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_of_two_100k_entry_flists_timing() {
    let (_s, store) = dir_store().await.expect("dir store");
    for format in [Format::Flist, Format::Fl] {
        // 100 directories × 999 files + 100 directories = 100,000 entries each.
        let a = hub_flist::write_bytes(&synthetic(format, 100, 999, 1)).expect("write a");
        let b = hub_flist::write_bytes(&synthetic(format, 100, 999, 2)).expect("write b");
        let started = Instant::now();
        let inputs = vec![
            hub_flist::read_bytes(&a).expect("read a"),
            hub_flist::read_bytes(&b).expect("read b"),
        ];
        let read = started.elapsed();
        let merged = merge(
            inputs,
            MergeMode::FirstWins,
            format,
            SharedStore::clone(&store),
        )
        .await
        .expect("merge");
        let merged_at = started.elapsed();
        let bytes = hub_flist::write_bytes(&merged).expect("write merged");
        let total = started.elapsed();
        println!(
            "merge {format} 100k+100k entries: read {read:?}, merge {:?}, write {:?}, total {total:?} ({} bytes)",
            merged_at - read,
            total - merged_at,
            bytes.len()
        );
        assert_eq!(merged.tree.len(), 1 + 100 + 2 * 100 * 999);
    }
}
