//! Content-addressed objects over dir and zdb stores.

use std::sync::Arc;

use bytes::Bytes;
use hub_store::{ObjectId, ObjectStore, SharedStore, StoreError};
use hub_zdb_double::{DoubleConfig, ZdbDouble};

const MIB: usize = 1024 * 1024;

/// Deterministic bytes that differ from part to part.
fn content(len: usize, seed: u8) -> Bytes {
    let mut state = u32::from(seed) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

async fn round_trips(store: SharedStore) {
    let objects = ObjectStore::new(store);
    for (len, seed) in [(0, 1), (1, 2), (4 * MIB, 3), (9 * MIB, 4)] {
        let data = content(len, seed);
        let id = objects.put(data.clone()).await.expect("put");
        assert_eq!(id, ObjectId::of(&data));
        assert!(objects.exists(&id).await.expect("exists"));
        let back = objects.get(&id).await.expect("get").expect("present");
        assert_eq!(back.len(), len);
        assert!(back == data, "content of {len} bytes differs");
        // Idempotent.
        assert_eq!(objects.put(data).await.expect("put again"), id);
    }
    let missing = ObjectId::of(b"never stored");
    assert!(!objects.exists(&missing).await.expect("exists"));
    assert_eq!(objects.get(&missing).await.expect("get"), None);
}

#[tokio::test]
async fn round_trip_over_a_dir_store() {
    let dir = tempfile::tempdir().expect("dir");
    let store = hub_store::open(&format!("dir://{}", dir.path().display()))
        .await
        .expect("open");
    round_trips(store).await;
}

#[tokio::test]
async fn round_trip_over_zdb() {
    let zdb = ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("double");
    let store = hub_store::open(&zdb.url("default")).await.expect("open");
    round_trips(store).await;
    // 0 B: manifest only; 1 B: 1 part; 4 MiB: 1 part; 9 MiB: 3 parts.
    assert_eq!(zdb.key_count("default"), Some(4 + 1 + 1 + 3));
}

#[tokio::test]
async fn tampered_parts_are_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let store: SharedStore = Arc::new(hub_store::DirStore::open(dir.path()).await.expect("open"));
    let objects = ObjectStore::new(Arc::clone(&store));
    let data = content(5 * MIB, 9);
    let id = objects.put(data.clone()).await.expect("put");

    // Overwrite the second part with other bytes of the same length.
    let second = blake2b_simd::Params::new()
        .hash_length(32)
        .hash(&data[4 * MIB..]);
    let name = hex::encode(second.as_bytes());
    let path = dir.path().join(&name);
    std::fs::write(&path, vec![0u8; MIB]).expect("tamper");
    assert!(matches!(
        objects.get(&id).await,
        Err(StoreError::CorruptObject { .. })
    ));

    // A missing part is corruption too, not "absent".
    std::fs::remove_file(&path).expect("remove");
    assert!(matches!(
        objects.get(&id).await,
        Err(StoreError::CorruptObject { .. })
    ));
}

#[tokio::test]
async fn manifest_keys_do_not_collide_with_block_ids() {
    let dir = tempfile::tempdir().expect("dir");
    let store = hub_store::open(&format!("dir://{}", dir.path().display()))
        .await
        .expect("open");
    let objects = ObjectStore::new(Arc::clone(&store));
    let data = content(100, 5);
    let id = objects.put(data).await.expect("put");
    // The manifest lives under a 36-byte key: never the length of a .flist (16) or .fl (32)
    // block id.
    let manifest_key = [&b"obj:"[..], id.as_bytes()].concat();
    assert!(store.exists(&manifest_key).await.expect("exists"));
    assert_eq!(manifest_key.len(), 36);
}
