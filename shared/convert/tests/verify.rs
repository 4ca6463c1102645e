//! Verification: presence with EXISTS, exact missing counts and files, deep corruption check.

mod common;

use std::path::{Path, PathBuf};

use common::{convert, opts};
use hub_convert::{VerifyOptions, verify};
use hub_flist::chunk::CHUNK_SIZE;
use hub_flist::{BlockRef, Format, NodeKind, Tree};
use hub_store::SharedStore;
use hub_testkit::{TarBuilder, dir_store, noise};

fn blocks(tree: &Tree, path: &str) -> Vec<BlockRef> {
    match tree.lookup(path).map(|id| &tree.node(id).kind) {
        Some(NodeKind::File { blocks, .. }) => blocks.to_vec(),
        other => panic!("{path}: {other:?}"),
    }
}

/// Where the dir store keeps a block (flat, as released rfs reads it).
fn block_path(root: &Path, block: &BlockRef) -> PathBuf {
    root.join(block.id.to_hex())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_corrupt_blocks() {
    for format in [Format::Flist, Format::Fl] {
        let (dir, store) = dir_store().await.expect("dir store");
        let bytes = TarBuilder::new()
            .file("two-blocks", 0o644, &noise(CHUNK_SIZE + 100, 1))
            .file("one-block", 0o644, b"one block of text")
            .file("copy-of-one", 0o644, b"one block of text")
            .file("intact", 0o644, &noise(5000, 2))
            .file("empty", 0o644, b"")
            .finish()
            .expect("tar");
        let conv = convert(bytes, &store, &opts(format))
            .await
            .expect("convert");
        let flist = conv.flist;
        let shallow = VerifyOptions::default();
        let report = verify(&flist, SharedStore::clone(&store), &shallow)
            .await
            .expect("verify");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.blocks_checked, 4);
        assert_eq!(report.files, 4);

        // Delete the second block of `two-blocks` and the block shared by two files.
        let second = blocks(&flist.tree, "two-blocks")[1];
        let shared = blocks(&flist.tree, "one-block")[0];
        for b in [second, shared] {
            std::fs::remove_file(block_path(dir.path(), &b)).expect("delete block");
        }
        let report = verify(&flist, SharedStore::clone(&store), &shallow)
            .await
            .expect("verify");
        assert_eq!(report.blocks_checked, 4);
        assert_eq!(report.blocks_missing, 2);
        assert_eq!(
            report.missing_files,
            ["/copy-of-one", "/one-block", "/two-blocks"]
        );
        assert_eq!(report.failure, 3, "a file counts once");
        assert!(!report.is_ok());

        // Corrupt `intact`'s block in place: presence checks pass, deep checks do not.
        let victim = blocks(&flist.tree, "intact")[0];
        let path = block_path(dir.path(), &victim);
        let mut data = std::fs::read(&path).expect("read block");
        data[10] ^= 0xff;
        std::fs::write(&path, &data).expect("corrupt block");
        let deep = VerifyOptions {
            deep: true,
            concurrency: 4,
        };
        let report = verify(&flist, SharedStore::clone(&store), &deep)
            .await
            .expect("deep verify");
        assert_eq!(report.corrupt_blocks, 1);
        assert_eq!(report.corrupt_files, ["/intact"]);
        assert_eq!(report.blocks_missing, 2);
        assert_eq!(report.failure, 4);
        let report = verify(&flist, SharedStore::clone(&store), &shallow)
            .await
            .expect("verify");
        assert_eq!(
            report.corrupt_blocks, 0,
            "presence checks never read blocks"
        );
    }
}
