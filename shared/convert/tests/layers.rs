//! `TreeBuilder`: image layers applied in order with OCI whiteouts, extra files.

mod common;

use bytes::Bytes;
use common::{opts, write_read_unpack};
use hub_convert::TreeBuilder;
use hub_flist::{Attr, Format, Metadata, NodeKind};
use hub_testkit::{TarBuilder, dir_store, gzip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_with_whiteouts() {
    let (_s, store) = dir_store().await.expect("dir store");
    let lower = TarBuilder::new()
        .file("a", 0o644, b"a")
        .file("b", 0o644, b"shared content")
        .file("d/x", 0o644, b"x")
        .file("d/y", 0o644, b"y")
        .file("o/1", 0o644, b"1")
        .file("o/sub/2", 0o644, b"2")
        .finish()
        .expect("tar");
    let upper = TarBuilder::new()
        .file(".wh.a", 0o644, b"")
        .file("d/.wh.x", 0o644, b"")
        .file("o/new", 0o644, b"new")
        .dir("o/sub", 0o755)
        .file("o/.wh..wh..opq", 0o644, b"")
        .file("c", 0o644, b"c")
        .hardlink("b-link", "b", 0o644)
        // A whiteout never hides an entry of its own layer.
        .file(".wh.c", 0o644, b"")
        .finish()
        .expect("tar");
    let mut builder = TreeBuilder::new(store.clone(), &opts(Format::Fl));
    builder
        .apply_layer(
            gzip(&lower)
                .expect("gzip")
                .as_slice()
                .to_owned()
                .into_reader(),
            true,
        )
        .await
        .expect("lower layer");
    builder
        .apply_layer(std::io::Cursor::new(upper), true)
        .await
        .expect("upper layer");
    builder
        .add_file(
            "/.startup.toml",
            Attr::with_mode(0o644),
            Bytes::from_static(b"[startup]\n"),
        )
        .await
        .expect("add file");
    let root = builder.tree_mut().root();
    builder
        .tree_mut()
        .insert(
            root,
            "added-link".into(),
            Attr::with_mode(0o777),
            NodeKind::Symlink { target: "c".into() },
        )
        .expect("tree edit");
    let conv = builder.finish(Metadata::default()).await.expect("finish");
    let t = &conv.flist.tree;
    let has = |p: &str| t.lookup(p).is_some();
    assert!(!has("a") && !has(".wh.a"));
    assert!(!has("d/x") && has("d/y"));
    assert!(!has("o/1"), "opaque: lower content is gone");
    assert!(has("o/new") && has("o/sub"));
    assert!(
        !has("o/sub/2"),
        "a re-declared directory under an opaque one is emptied"
    );
    assert!(has("c") && has("b-link") && has("added-link"));
    assert!(!has(".wh.c") && !has("o/.wh..wh..opq"));
    assert_eq!(
        conv.flist.meta.routes.len(),
        1,
        ".fl gets the store's routes"
    );
    let out = write_read_unpack(&conv.flist, &store).await;
    assert_eq!(
        std::fs::read(out.path().join("b-link")).expect("read"),
        b"shared content"
    );
    assert_eq!(
        std::fs::read(out.path().join(".startup.toml")).expect("read"),
        b"[startup]\n"
    );

    // Without whiteout processing the markers are ordinary files.
    let mut builder = TreeBuilder::new(store.clone(), &opts(Format::Flist));
    builder
        .apply_layer(
            std::io::Cursor::new(
                TarBuilder::new()
                    .file(".wh.a", 0o644, b"")
                    .finish()
                    .expect("tar"),
            ),
            false,
        )
        .await
        .expect("layer");
    let conv = builder.finish(Metadata::default()).await.expect("finish");
    assert!(conv.flist.tree.lookup(".wh.a").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_layer_poisons_the_builder() {
    let (_s, store) = dir_store().await.expect("dir store");
    let mut builder = TreeBuilder::new(store, &opts(Format::Fl));
    let err = builder
        .apply_layer(std::io::Cursor::new(b"garbage".to_vec()), true)
        .await
        .expect_err("garbage layer");
    assert_eq!(err.code(), "unknown_format");
    let again = builder
        .apply_layer(
            std::io::Cursor::new(
                TarBuilder::new()
                    .file("f", 0o644, b"x")
                    .finish()
                    .expect("tar"),
            ),
            true,
        )
        .await;
    assert!(again.is_err());
    assert!(builder.finish(Metadata::default()).await.is_err());
}

trait IntoReader {
    fn into_reader(self) -> std::io::Cursor<Vec<u8>>;
}

impl IntoReader for Vec<u8> {
    fn into_reader(self) -> std::io::Cursor<Vec<u8>> {
        std::io::Cursor::new(self)
    }
}
