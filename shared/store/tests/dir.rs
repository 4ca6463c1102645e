//! The directory store: layouts, atomic writes, and the blocks written by rfs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hub_store::{BlockStore, DirStore, LayoutMigration, MAX_VALUE_SIZE, Route, StoreError};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Every file under `root`, relative to it.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// The zflist/rfs sample stores, kept in the repository with hub-flist's test data.
fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../flist/tests/data/real-tools")
        .join(name)
}

#[tokio::test]
async fn writes_blocks_flat_where_released_rfs_reads_them() {
    // rfs 2.0.6 and 2.0.7 (what Zero-OS nodes run) only read `<root>/<hex>`.
    let dir = temp_dir();
    let store = DirStore::open(dir.path()).await.expect("open");
    let id = [0xab, 0xcd, 0x01];
    store
        .set(&id, Bytes::from_static(b"data"))
        .await
        .expect("set");
    assert_eq!(files(dir.path()), vec![PathBuf::from("abcd01")]);
    assert_eq!(
        std::fs::read(dir.path().join("abcd01")).expect("file"),
        b"data"
    );
    assert!(store.exists(&id).await.expect("exists"));
    assert_eq!(
        store.get(&id).await.expect("get").as_deref(),
        Some(&b"data"[..])
    );
    assert_eq!(store.get(&[0xab, 0xcd]).await.expect("get"), None);
    assert!(!store.exists(&[0x00]).await.expect("exists"));
    store.ping().await.expect("ping");
    assert_eq!(
        store.routes(),
        vec![Route {
            start: 0,
            end: 255,
            url: format!("dir://{}", dir.path().display())
        }]
    );
}

#[tokio::test]
async fn reads_blocks_left_in_the_sharded_layout_of_older_hubs() {
    let dir = temp_dir();
    // Written by hand as the hub did before: `<root>/<hex[0:2]>/<hex>`.
    std::fs::create_dir(dir.path().join("ab")).expect("shard");
    std::fs::write(dir.path().join("ab/abcd01"), b"sharded block").expect("seed");
    let store = DirStore::open(dir.path()).await.expect("open");
    let id = [0xab, 0xcd, 0x01];
    assert!(store.exists(&id).await.expect("exists"));
    assert_eq!(
        store.get(&id).await.expect("get").as_deref(),
        Some(&b"sharded block"[..])
    );
    // Already present (sharded): no second copy.
    store
        .set(&id, Bytes::from_static(b"sharded block"))
        .await
        .expect("set");
    assert_eq!(files(dir.path()), vec![PathBuf::from("ab/abcd01")]);
    // A shard directory is not a block, even when a one-byte key names it.
    assert!(!store.exists(&[0xab]).await.expect("exists"));
    assert_eq!(store.get(&[0xab]).await.expect("get"), None);
}

/// Seeds `count` blocks in the sharded layout, returning their ids and contents.
fn seed_sharded(root: &Path, count: u16) -> Vec<([u8; 32], Vec<u8>)> {
    (0..count)
        .map(|n| {
            let data = format!("block {n}").into_bytes();
            let hash = blake2b_simd::Params::new().hash_length(32).hash(&data);
            let id: [u8; 32] = hash.as_bytes().try_into().expect("32 bytes");
            let name = hex::encode(id);
            let shard = root.join(&name[..2]);
            std::fs::create_dir_all(&shard).expect("shard");
            std::fs::write(shard.join(&name), &data).expect("seed");
            (id, data)
        })
        .collect()
}

/// Every block is readable and stored flat, and nothing else is left.
async fn assert_all_flat(root: &Path, blocks: &[([u8; 32], Vec<u8>)]) {
    let mut expected: Vec<PathBuf> = blocks
        .iter()
        .map(|(id, _)| PathBuf::from(hex::encode(id)))
        .collect();
    expected.sort();
    assert_eq!(files(root), expected);
    let dirs = std::fs::read_dir(root)
        .expect("read root")
        .filter(|entry| entry.as_ref().expect("entry").path().is_dir())
        .count();
    assert_eq!(dirs, 0, "shard directories left behind");
    let store = DirStore::open(root).await.expect("open");
    for (id, data) in blocks {
        assert_eq!(
            store.get(id).await.expect("get").as_deref(),
            Some(&data[..])
        );
    }
}

#[tokio::test]
async fn migrate_layout_moves_sharded_blocks_flat_and_a_second_run_is_a_no_op() {
    let dir = temp_dir();
    let blocks = seed_sharded(dir.path(), 300);
    let shards = std::fs::read_dir(dir.path()).expect("read").count();
    let store = DirStore::open(dir.path()).await.expect("open");

    let first = store.migrate_layout().await.expect("migrate");
    assert_eq!(first.moved, 300);
    assert_eq!(first.duplicates, 0);
    assert_eq!(first.shard_dirs_removed, shards as u64);
    assert_eq!(first.left_in_place, 0);
    assert_all_flat(dir.path(), &blocks).await;

    let second = store.migrate_layout().await.expect("migrate again");
    assert_eq!(second, LayoutMigration::default());
    assert_all_flat(dir.path(), &blocks).await;
}

#[tokio::test]
async fn interrupted_migration_completes_on_a_rerun() {
    let dir = temp_dir();
    let root = dir.path();
    let blocks = seed_sharded(root, 200);
    // A migration that stopped halfway: half the blocks already renamed flat (some shard
    // directories emptied but not yet removed), and one block both flat and sharded, as a
    // writer using the flat layout may have stored it again meanwhile.
    for (id, _) in blocks.iter().step_by(2) {
        let name = hex::encode(id);
        std::fs::rename(root.join(&name[..2]).join(&name), root.join(&name)).expect("move");
    }
    let (twice, data) = blocks.get(1).expect("second block");
    std::fs::write(root.join(hex::encode(twice)), data).expect("flat copy");

    let store = DirStore::open(root).await.expect("open");
    for (id, data) in &blocks {
        assert_eq!(
            store.get(id).await.expect("get mid-migration").as_deref(),
            Some(&data[..])
        );
    }
    let report = store.migrate_layout().await.expect("resume");
    assert_eq!(report.moved + report.duplicates, 100);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.left_in_place, 0);
    assert_all_flat(root, &blocks).await;
}

#[tokio::test]
async fn migrate_layout_leaves_foreign_files_and_their_shard_directory() {
    let dir = temp_dir();
    let root = dir.path();
    let blocks = seed_sharded(root, 1);
    let name = hex::encode(blocks[0].0);
    // A temp file of a writer of the old layout, and a file that is no block of this shard.
    let shard = root.join(&name[..2]);
    std::fs::write(shard.join(format!(".{name}.tmp-1-0")), b"partial").expect("temp");
    std::fs::write(shard.join("README"), b"not a block").expect("foreign");
    // Directories that are not shards are not touched.
    std::fs::create_dir(root.join("lost+found")).expect("other dir");

    let store = DirStore::open(root).await.expect("open");
    let report = store.migrate_layout().await.expect("migrate");
    assert_eq!(report.moved, 1);
    assert_eq!(report.left_in_place, 2);
    assert_eq!(report.shard_dirs_removed, 0);
    assert!(root.join(&name).is_file());
    assert!(shard.join("README").is_file());
    assert!(root.join("lost+found").is_dir());
}

#[tokio::test]
async fn reads_the_flat_layout_of_rfs_2_0_6() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("0102ff"), b"flat block").expect("seed");
    let store = DirStore::open(dir.path()).await.expect("open");
    let id = [0x01, 0x02, 0xff];
    assert!(store.exists(&id).await.expect("exists"));
    assert_eq!(
        store.get(&id).await.expect("get").as_deref(),
        Some(&b"flat block"[..])
    );
    // Already present (flat): no second copy.
    store
        .set(&id, Bytes::from_static(b"flat block"))
        .await
        .expect("set");
    assert_eq!(files(dir.path()), vec![PathBuf::from("0102ff")]);
}

#[tokio::test]
async fn reads_blocks_written_by_rfs_and_zflist() {
    // rfs 2.0.6 wrote `.fl` blocks flat, named by BLAKE2b-256 of their bytes.
    let fl_store = testdata("fl-store");
    let store = hub_store::open(&format!("dir://{}", fl_store.display()))
        .await
        .expect("open fl-store");
    let names = files(&fl_store);
    assert_eq!(names.len(), 6, "{names:?}");
    for name in names {
        let id = hex::decode(name.to_string_lossy().as_bytes()).expect("hex name");
        let data = store.get(&id).await.expect("get").expect("present");
        let digest = blake2b_simd::Params::new().hash_length(32).hash(&data);
        assert_eq!(digest.as_bytes(), &id[..]);
    }
    // zflist's chunks sit in the two-level layout, keyed by 16-byte ids.
    let flist_store = testdata("flist-store");
    let store = DirStore::open(&flist_store)
        .await
        .expect("open flist-store");
    let names = files(&flist_store);
    assert_eq!(names.len(), 6, "{names:?}");
    for name in names {
        let file = name.file_name().expect("file name").to_string_lossy();
        let id = hex::decode(file.as_bytes()).expect("hex name");
        assert_eq!(id.len(), 16);
        let data = store.get(&id).await.expect("get").expect("present");
        assert_eq!(data, std::fs::read(flist_store.join(&name)).expect("file"));
    }
}

#[tokio::test]
async fn zflist_chunks_migrated_flat_still_read() {
    // zflist stored its chunks sharded; a copy of that store migrated to the flat layout must
    // serve the same bytes under the same ids.
    let source = testdata("flist-store");
    let dir = temp_dir();
    let mut expected = Vec::new();
    for name in files(&source) {
        let target = dir.path().join(&name);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("shard");
        std::fs::copy(source.join(&name), &target).expect("copy");
        let file = name.file_name().expect("file name").to_string_lossy();
        expected.push((file.into_owned(), std::fs::read(&target).expect("read")));
    }
    let store = DirStore::open(dir.path()).await.expect("open");
    let report = store.migrate_layout().await.expect("migrate");
    assert_eq!(report.moved, 6);
    let mut flat: Vec<PathBuf> = expected.iter().map(|(n, _)| PathBuf::from(n)).collect();
    flat.sort();
    assert_eq!(files(dir.path()), flat);
    for (name, data) in expected {
        let id = hex::decode(name.as_bytes()).expect("hex name");
        assert_eq!(
            store.get(&id).await.expect("get").as_deref(),
            Some(&data[..])
        );
    }
}

#[tokio::test]
async fn concurrent_writers_of_the_same_id_leave_one_whole_file() {
    let dir = temp_dir();
    let store = Arc::new(DirStore::open(dir.path()).await.expect("open"));
    let block = Bytes::from(vec![0x5a; 512 * 1024]);
    let id = [0x42; 32];
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        let block = block.clone();
        writers.spawn(async move { store.set(&id, block).await });
    }
    while let Some(result) = writers.join_next().await {
        result.expect("task").expect("set");
    }
    assert_eq!(store.get(&id).await.expect("get"), Some(block));
    let all = files(dir.path());
    assert_eq!(all, vec![PathBuf::from(hex::encode(id))]);
}

#[tokio::test]
async fn many_writes_leave_no_temp_files() {
    let dir = temp_dir();
    let store = DirStore::open(dir.path()).await.expect("open");
    for n in 0..200u16 {
        let id = [(n % 256) as u8, (n / 256) as u8, 7];
        store
            .set(&id, Bytes::from(n.to_le_bytes().to_vec()))
            .await
            .expect("set");
    }
    let all = files(dir.path());
    assert_eq!(all.len(), 200);
    assert!(
        all.iter()
            .all(|path| !path.to_string_lossy().contains(".tmp")),
        "temp files left: {all:?}"
    );
}

#[tokio::test]
async fn invalid_values_and_files() {
    let dir = temp_dir();
    let store = DirStore::open(dir.path()).await.expect("open");
    assert!(matches!(
        store.set(&[1], Bytes::new()).await,
        Err(StoreError::EmptyValue { .. })
    ));
    assert!(matches!(
        store
            .set(&[1], Bytes::from(vec![0; MAX_VALUE_SIZE + 1]))
            .await,
        Err(StoreError::TooLarge { .. })
    ));
    assert!(matches!(
        store.get(&[]).await,
        Err(StoreError::InvalidKey { .. })
    ));
    std::fs::create_dir(dir.path().join("09")).expect("shard");
    std::fs::write(dir.path().join("09/0909"), b"").expect("empty block");
    assert!(matches!(
        store.get(&[9, 9]).await,
        Err(StoreError::EmptyValue { .. })
    ));
    // The refused writes left nothing beside the seeded empty block.
    assert_eq!(files(dir.path()), vec![PathBuf::from("09/0909")]);
}

#[tokio::test]
async fn relative_and_unusable_roots() {
    assert!(matches!(
        DirStore::open("relative/root").await,
        Err(StoreError::InvalidUrl { .. })
    ));
    let dir = temp_dir();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("file");
    assert!(matches!(
        DirStore::open(&file).await,
        Err(StoreError::Io(_))
    ));
}

/// Sets the mtime of the block file `name` under `root` to `age` ago.
fn age(root: &Path, name: &str, age: std::time::Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(root.join(name))
        .expect("open block");
    file.set_modified(std::time::SystemTime::now() - age)
        .expect("set mtime");
}

#[tokio::test]
async fn gc_lists_flat_and_sharded_blocks_but_not_temp_files() {
    use futures::TryStreamExt;
    let dir = temp_dir();
    std::fs::create_dir(dir.path().join("ab")).expect("shard");
    std::fs::write(dir.path().join("ab/abcd01"), b"sharded").expect("seed");
    std::fs::write(dir.path().join(".abcd02.tmp-1-1"), b"temp").expect("seed");
    let store = DirStore::open(dir.path()).await.expect("open");
    store
        .set(&[0x01, 0x02], Bytes::from_static(b"flat"))
        .await
        .expect("set");
    let mut listed: Vec<(Vec<u8>, u64)> = store
        .blocks()
        .map_ok(|block| (block.id, block.size))
        .try_collect()
        .await
        .expect("list");
    listed.sort();
    assert_eq!(
        listed,
        vec![(vec![0x01, 0x02], 4), (vec![0xab, 0xcd, 0x01], 7)]
    );
}

#[tokio::test]
async fn gc_delete_keeps_a_block_confirmed_after_it_was_listed() {
    let hour = std::time::Duration::from_secs(3600);
    let dir = temp_dir();
    let store = DirStore::open(dir.path()).await.expect("open");
    for id in [[1u8; 32], [2u8; 32]] {
        store
            .set(&id, Bytes::from_static(b"block"))
            .await
            .expect("set");
        age(dir.path(), &hex::encode(id), 48 * hour);
    }
    let cutoff = std::time::SystemTime::now() - 24 * hour;
    // Both were listed as old; then a writer is told block 1 exists and skips uploading it.
    assert!(store.exists(&[1; 32]).await.expect("exists"));
    assert_eq!(
        store
            .delete_if_older(&[1; 32], cutoff)
            .await
            .expect("delete"),
        None
    );
    assert_eq!(
        store.get(&[1; 32]).await.expect("get").as_deref(),
        Some(&b"block"[..])
    );
    assert_eq!(
        store
            .delete_if_older(&[2; 32], cutoff)
            .await
            .expect("delete"),
        Some(5)
    );
    assert!(!store.exists(&[2; 32]).await.expect("exists"));
    // Nothing but the kept block is left: no tombstone.
    assert_eq!(
        files(dir.path()),
        vec![PathBuf::from(hex::encode([1u8; 32]))]
    );
}

#[tokio::test]
async fn gc_listing_restores_a_block_a_crashed_collection_left_as_a_tombstone() {
    use futures::TryStreamExt;
    let dir = temp_dir();
    // A collection renamed the block, then died before deciding (the name `delete_if_older`
    // uses), in the flat layout and in a shard directory.
    std::fs::write(dir.path().join(".abcd01.gc-4242-7"), b"kept").expect("seed");
    std::fs::create_dir(dir.path().join("ef")).expect("shard");
    std::fs::write(dir.path().join("ef/.ef02.gc-4242-8"), b"shard").expect("seed");
    let store = DirStore::open(dir.path()).await.expect("open");
    let mut listed: Vec<Vec<u8>> = store
        .blocks()
        .map_ok(|block| block.id)
        .try_collect()
        .await
        .expect("list");
    listed.sort();
    assert_eq!(listed, vec![vec![0xab, 0xcd, 0x01], vec![0xef, 0x02]]);
    assert_eq!(
        files(dir.path()),
        vec![PathBuf::from("abcd01"), PathBuf::from("ef/ef02")]
    );
    assert_eq!(
        store
            .get(&[0xab, 0xcd, 0x01])
            .await
            .expect("get")
            .as_deref(),
        Some(&b"kept"[..])
    );
}
