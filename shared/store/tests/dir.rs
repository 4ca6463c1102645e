//! The directory store: layouts, atomic writes, and the blocks written by rfs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hub_store::{BlockStore, DirStore, MAX_VALUE_SIZE, Route, StoreError};

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
async fn writes_the_two_level_layout() {
    let dir = temp_dir();
    let store = DirStore::open(dir.path()).await.expect("open");
    let id = [0xab, 0xcd, 0x01];
    store
        .set(&id, Bytes::from_static(b"data"))
        .await
        .expect("set");
    assert_eq!(files(dir.path()), vec![PathBuf::from("ab/abcd01")]);
    assert_eq!(
        std::fs::read(dir.path().join("ab/abcd01")).expect("file"),
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
    assert_eq!(all, vec![PathBuf::from(format!("42/{}", hex::encode(id)))]);
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
