//! Tar features: long names, links, special files, sparse files, duplicates, missing parents,
//! owner names and the readme import.

mod common;

use common::{convert, opts, write_read_unpack};
use hub_flist::chunk::CHUNK_SIZE;
use hub_flist::{Format, NodeKind, Tree};
use hub_testkit::{TarBuilder, dir_store, noise};

fn kind<'t>(tree: &'t Tree, path: &str) -> &'t NodeKind {
    let id = tree
        .lookup(path)
        .unwrap_or_else(|| panic!("{path} missing from the tree"));
    &tree.node(id).kind
}

fn file_blocks(tree: &Tree, path: &str) -> Vec<hub_flist::BlockRef> {
    match kind(tree, path) {
        NodeKind::File { blocks, .. } => blocks.to_vec(),
        other => panic!("{path} is {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_pax_and_gnu() {
    let long_dir = "d".repeat(120);
    let gnu_path = format!("{long_dir}/{}", "g".repeat(150));
    let pax_path = format!("{long_dir}/{}", "p".repeat(150));
    let pax_target = format!("/{}", "t".repeat(200));
    let mut tar = TarBuilder::new().file(&gnu_path, 0o644, b"gnu long name");
    // PAX: the real names are in an extended header before a ustar entry with short names.
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_pax_extensions([("path", pax_path.as_bytes())])
        .expect("pax");
    let mut h = tar::Header::new_ustar();
    h.set_path("short-name").expect("path");
    h.set_size(8);
    h.set_mode(0o600);
    h.set_cksum();
    builder.append(&h, &b"pax body"[..]).expect("append");
    builder
        .append_pax_extensions([("linkpath", pax_target.as_bytes()), ("path", b"pax-link")])
        .expect("pax");
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_path("x").expect("path");
    h.set_link_name("y").expect("link");
    h.set_size(0);
    h.set_mode(0o777);
    h.set_cksum();
    builder.append(&h, std::io::empty()).expect("append");
    let pax_part = builder.into_inner().expect("pax tar");
    // Splice the PAX entries between the builder's entries (drop its end-of-archive blocks).
    let mut bytes = std::mem::take(&mut tar).finish().expect("tar");
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&pax_part);
    for format in [Format::Flist, Format::Fl] {
        let (_s, store) = dir_store().await.expect("dir store");
        let conv = convert(bytes.clone(), &store, &opts(format))
            .await
            .expect("convert");
        let tree = &conv.flist.tree;
        assert!(matches!(
            kind(tree, &gnu_path),
            NodeKind::File { size: 13, .. }
        ));
        assert!(matches!(
            kind(tree, &pax_path),
            NodeKind::File { size: 8, .. }
        ));
        assert_eq!(
            kind(tree, "pax-link"),
            &NodeKind::Symlink {
                target: pax_target.clone()
            }
        );
        let out = write_read_unpack(&conv.flist, &store).await;
        assert_eq!(
            std::fs::read(out.path().join(&pax_path)).expect("read"),
            b"pax body"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_copy_the_target_as_it_was() {
    let big = noise(CHUNK_SIZE + 10, 7);
    let bytes = TarBuilder::new()
        .file("a/original", 0o640, &big)
        .hardlink("b/link", "a/original", 0o644)
        .hardlink("./second", "./a/original", 0o644)
        // The target is replaced after the link: the link keeps the old content.
        .file("a/original", 0o644, b"replacement")
        .file("small", 0o600, b"small")
        .hardlink("small-link", "small", 0o644)
        .finish()
        .expect("tar");
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert(bytes, &store, &opts(Format::Fl))
        .await
        .expect("convert");
    let tree = &conv.flist.tree;
    assert_eq!(file_blocks(tree, "b/link"), file_blocks(tree, "second"));
    assert_eq!(file_blocks(tree, "b/link").len(), 2);
    assert_ne!(file_blocks(tree, "a/original"), file_blocks(tree, "b/link"));
    let link = tree.lookup("b/link").map(|id| tree.node(id).attr.mode);
    assert_eq!(
        link,
        Some(0o640),
        "a hard link shares its target's attributes"
    );
    // Content encoded once: 2 blocks of `big`, `replacement`, `small`.
    assert_eq!(conv.stats.blocks_written, 4);
    let out = write_read_unpack(&conv.flist, &store).await;
    assert_eq!(std::fs::read(out.path().join("b/link")).expect("read"), big);
    assert_eq!(
        std::fs::read(out.path().join("a/original")).expect("read"),
        b"replacement"
    );
    assert_eq!(
        std::fs::read(out.path().join("small-link")).expect("read"),
        b"small"
    );

    let dangling = TarBuilder::new()
        .hardlink("x", "nowhere", 0o644)
        .finish()
        .expect("tar");
    let err = convert(dangling, &store, &opts(Format::Fl))
        .await
        .expect_err("dangling");
    assert_eq!(err.code(), "invalid_archive", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_devices_and_fifos() {
    let bytes = TarBuilder::new()
        .symlink("rel", "../up/there")
        .symlink("abs", "/bin/busybox")
        .device("dev/null", tar::EntryType::Char, 1, 3)
        .device("dev/sda1", tar::EntryType::Block, 8, 1)
        .device("dev/big", tar::EntryType::Char, 259, 300)
        .fifo("run/pipe")
        .finish()
        .expect("tar");
    for format in [Format::Flist, Format::Fl] {
        let (_s, store) = dir_store().await.expect("dir store");
        let conv = convert(bytes.clone(), &store, &opts(format))
            .await
            .expect("convert");
        let back = hub_flist::read_bytes(&hub_flist::write_bytes(&conv.flist).expect("write"))
            .expect("read back");
        let tree = &back.tree;
        assert_eq!(
            kind(tree, "rel"),
            &NodeKind::Symlink {
                target: "../up/there".into()
            }
        );
        assert_eq!(
            kind(tree, "abs"),
            &NodeKind::Symlink {
                target: "/bin/busybox".into()
            }
        );
        assert_eq!(
            kind(tree, "dev/null"),
            &NodeKind::CharDevice { major: 1, minor: 3 }
        );
        assert_eq!(
            kind(tree, "dev/sda1"),
            &NodeKind::BlockDevice { major: 8, minor: 1 }
        );
        assert_eq!(
            kind(tree, "dev/big"),
            &NodeKind::CharDevice {
                major: 259,
                minor: 300
            }
        );
        assert_eq!(kind(tree, "run/pipe"), &NodeKind::Fifo);
        let mode = |p: &str| tree.lookup(p).map(|id| tree.node(id).attr.mode);
        assert_eq!(mode("run/pipe"), Some(0o640));
        assert_eq!(mode("dev/null"), Some(0o660));
        if nix::unistd::geteuid().is_root() {
            let out = write_read_unpack(&back, &store).await;
            let meta = std::fs::symlink_metadata(out.path().join("dev/null")).expect("stat");
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            assert!(meta.file_type().is_char_device());
            assert_eq!(meta.rdev(), 0x103);
        }
    }
}

fn octal(value: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    let text = format!("{value:011o}");
    out[..11].copy_from_slice(text.as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gnu_sparse_file() {
    // Logical file: 512 bytes of 'A', a hole up to 1 MiB + 4 KiB, then 512 bytes of 'B'.
    let hole_end: u64 = (1 << 20) + 4096;
    let real_size = hole_end + 512;
    let mut h = tar::Header::new_gnu();
    h.set_path("sparse.img").expect("path");
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_size(1024); // stored bytes
    {
        let gnu = h.as_gnu_mut().expect("gnu");
        gnu.sparse[0].offset = octal(0);
        gnu.sparse[0].numbytes = octal(512);
        gnu.sparse[1].offset = octal(hole_end);
        gnu.sparse[1].numbytes = octal(512);
        gnu.realsize = octal(real_size);
    }
    h.set_cksum();
    let mut data = vec![b'A'; 512];
    data.extend_from_slice(&[b'B'; 512]);
    let bytes = TarBuilder::new().raw(&h, &data).finish().expect("tar");
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert(bytes, &store, &opts(Format::Fl))
        .await
        .expect("convert");
    assert!(matches!(
        kind(&conv.flist.tree, "sparse.img"),
        NodeKind::File { size, blocks } if *size == real_size && blocks.len() == 3
    ));
    let out = write_read_unpack(&conv.flist, &store).await;
    let content = std::fs::read(out.path().join("sparse.img")).expect("read");
    let mut expected = vec![0u8; real_size as usize];
    expected[..512].fill(b'A');
    expected[hole_end as usize..].fill(b'B');
    assert!(content == expected, "sparse content differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_later_entry_wins() {
    let bytes = TarBuilder::new()
        .file("f", 0o644, b"first")
        .file("f", 0o600, b"second")
        .dir("d", 0o755)
        .file("d/child", 0o644, b"child")
        .dir("d", 0o700) // a directory over a directory keeps its children
        .dir("was-dir", 0o755)
        .file("was-dir/inner", 0o644, b"x")
        .file("was-dir", 0o644, b"now a file")
        .file("was-file", 0o644, b"a file")
        .dir("was-file", 0o711)
        .file("was-file/new", 0o644, b"new")
        .finish()
        .expect("tar");
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert(bytes, &store, &opts(Format::Flist))
        .await
        .expect("convert");
    let tree = &conv.flist.tree;
    let mode = |p: &str| tree.lookup(p).map(|id| tree.node(id).attr.mode);
    assert!(matches!(kind(tree, "f"), NodeKind::File { size: 6, .. }));
    assert_eq!(mode("f"), Some(0o600));
    assert_eq!(mode("d"), Some(0o700));
    assert!(tree.lookup("d/child").is_some());
    assert!(matches!(
        kind(tree, "was-dir"),
        NodeKind::File { size: 10, .. }
    ));
    assert!(tree.lookup("was-dir/inner").is_none());
    assert_eq!(mode("was-file"), Some(0o711));
    assert!(tree.lookup("was-file/new").is_some());
    let out = write_read_unpack(&conv.flist, &store).await;
    assert_eq!(
        std::fs::read(out.path().join("f")).expect("read"),
        b"second"
    );
    assert_eq!(
        std::fs::read(out.path().join("was-dir")).expect("read"),
        b"now a file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parents_are_created_0755() {
    let bytes = TarBuilder::new()
        .file("a/b/c/file", 0o600, b"deep")
        .finish()
        .expect("tar");
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert(bytes, &store, &opts(Format::Fl))
        .await
        .expect("convert");
    let tree = &conv.flist.tree;
    for dir in ["a", "a/b", "a/b/c"] {
        let node = tree.node(tree.lookup(dir).expect("parent created"));
        assert!(node.kind.is_dir(), "{dir}");
        assert_eq!(node.attr.mode, 0o755, "{dir}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_names_and_readme() {
    let mut h = tar::Header::new_gnu();
    h.set_path("owned").expect("path");
    h.set_size(2);
    h.set_mode(0o644);
    h.set_uid(1000);
    h.set_gid(33);
    h.set_username("alice").expect("uname");
    h.set_groupname("www-data").expect("gname");
    h.set_cksum();
    let bytes = TarBuilder::new()
        .raw(&h, b"hi")
        .file("numeric", 0o644, b"n")
        .file("./.README.md", 0o644, b"# markdown readme")
        .file("sub/.README", 0o644, b"not at the root")
        .finish()
        .expect("tar");
    let (_s, store) = dir_store().await.expect("dir store");
    let conv = convert(bytes, &store, &opts(Format::Flist))
        .await
        .expect("convert");
    let tree = &conv.flist.tree;
    let attr = |p: &str| tree.node(tree.lookup(p).expect("entry")).attr.clone();
    let owned = attr("owned");
    assert_eq!((owned.uid, owned.gid), (1000, 33));
    assert_eq!(owned.uname.as_deref(), Some("alice"));
    assert_eq!(owned.gname.as_deref(), Some("www-data"));
    // Tar's builder writes no names here: the writer falls back to decimal ids.
    assert_eq!(
        conv.flist.meta.get_json("readme"),
        Some(serde_json::json!({"readme": "# markdown readme"}))
    );
    assert!(
        tree.lookup(".README.md").is_some(),
        "the readme stays in the tree"
    );

    // `.README` wins over `.README.md`; a replaced readme is not imported.
    let bytes = TarBuilder::new()
        .file(".README", 0o644, b"plain")
        .file(".README.md", 0o644, b"md")
        .finish()
        .expect("tar");
    let conv = convert(bytes, &store, &opts(Format::Fl))
        .await
        .expect("convert");
    assert_eq!(
        conv.flist.meta.get_json("readme"),
        Some(serde_json::json!({"readme": "plain"}))
    );
    let bytes = TarBuilder::new()
        .file(".README", 0o644, b"plain")
        .dir(".README", 0o755)
        .finish()
        .expect("tar");
    let conv = convert(bytes, &store, &opts(Format::Fl))
        .await
        .expect("convert");
    assert_eq!(conv.flist.meta.get_json("readme"), None);
}
