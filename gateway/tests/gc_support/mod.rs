//! Flists, conversions and publishing for the garbage-collection tests (`gc`, `gc_zdb`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hub_flist::{Attr, BlockRef, Flist, Format, Hash, NodeKind};
use hub_jobs::FlistFile;
use hub_store::{ObjectStore, SharedStore};
use sqlx::PgPool;

/// Longer than the default grace window: what "old" means in these tests.
pub const LONG_AGO: Duration = Duration::from_secs(3 * 24 * 3600);

/// A 32-byte block id made of `byte`, as `.fl` ids are.
pub fn block(byte: u8) -> [u8; 32] {
    [byte; 32]
}

/// A `.fl` flist with one file per block of `blocks`.
pub fn fl_bytes(blocks: &[[u8; 32]]) -> Bytes {
    let mut flist = Flist::new(Format::Fl);
    let root = flist.tree.root();
    for (index, id) in blocks.iter().enumerate() {
        let blocks: Arc<[BlockRef]> = Arc::from(vec![BlockRef {
            id: Hash::new(id).expect("id"),
            key: Hash::new(&[0x55; 32]).expect("key"),
        }]);
        flist
            .tree
            .insert(
                root,
                format!("file{index}"),
                Attr::with_mode(0o644),
                NodeKind::File { size: 5, blocks },
            )
            .expect("insert");
    }
    Bytes::from(hub_flist::write_bytes(&flist).expect("write flist"))
}

/// A conversion's first half: the store stage calls `set` for every block, even one the
/// store already has (which `set` then only confirms).
pub async fn store_blocks(store: &SharedStore, blocks: &[[u8; 32]]) {
    for id in blocks {
        store
            .set(id, Bytes::from_static(b"chunk"))
            .await
            .expect("set block");
    }
}

/// A whole conversion: the blocks, then the flist file and its row (no entry yet).
pub async fn convert(pool: &PgPool, store: &SharedStore, blocks: &[[u8; 32]]) -> i64 {
    store_blocks(store, blocks).await;
    store_row(pool, store, blocks).await
}

/// A conversion's second half: the flist file and its row, no block written.
pub async fn store_row(pool: &PgPool, store: &SharedStore, blocks: &[[u8; 32]]) -> i64 {
    let file = FlistFile {
        bytes: fl_bytes(blocks),
        format: Format::Fl,
        stats: serde_json::json!({"regular": blocks.len()}),
        metadata: serde_json::json!({}),
        dump: None,
        source: None,
        source_key: None,
    };
    let objects = ObjectStore::new(store.clone());
    hub_jobs::store_flist(pool, &objects, file, "alice")
        .await
        .expect("store flist")
        .id
}

pub async fn publish(pool: &PgPool, name: &str, flist_id: i64) {
    let mut conn = pool.acquire().await.expect("connection");
    hub_db::entries::publish_flist(
        &mut conn,
        "alice",
        name,
        flist_id,
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("publish");
}

/// Makes every flist row older than the grace window.
pub async fn age_rows(pool: &PgPool) {
    sqlx::query("UPDATE flists SET created_at = now() - interval '3 days'")
        .execute(pool)
        .await
        .expect("age rows");
}

/// Reads flist `id` back whole from `store` and parses it.
pub async fn assert_flist_readable(pool: &PgPool, store: &SharedStore, id: i64) {
    let row = hub_db::flists::get(pool, id).await.expect("row");
    let bytes = ObjectStore::new(store.clone())
        .get(&row.content_hash.parse().expect("hash"))
        .await
        .expect("read flist")
        .expect("flist file present");
    assert!(hub_flist::read_bytes(&bytes).is_ok());
}
