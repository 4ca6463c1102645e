//! `hub-gateway gc` against PostgreSQL and a `dir://` chunk store: it frees exactly the blocks
//! of deleted flists and keeps every block a conversion writes or reuses while it runs.

mod gc_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use gc_support::{
    LONG_AGO, age_rows, assert_flist_readable, block, convert, publish, store_blocks, store_row,
};
use hub_gateway::gc::{self, GcConfig, GcReport};
use hub_store::{DirStore, ObjectStore, SharedStore};
use sqlx::PgPool;

/// Makes every block and flist row older than the grace window, as if published days ago.
async fn age_everything(pool: &PgPool, root: &Path) {
    let old = SystemTime::now() - LONG_AGO;
    for entry in std::fs::read_dir(root).expect("read store") {
        let path = entry.expect("entry").path();
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open block");
        file.set_modified(old).expect("age block");
    }
    age_rows(pool).await;
}

/// File names (hex ids) in the store.
fn stored(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .expect("read store")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

async fn collect(pool: &PgPool, store: &SharedStore, dry_run: bool) -> GcReport {
    gc::run(pool, store, &GcConfig::default(), dry_run)
        .await
        .expect("gc")
}

async fn open_store() -> (tempfile::TempDir, SharedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: SharedStore = Arc::new(DirStore::open(dir.path()).await.expect("open store"));
    (dir, store)
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_frees_exactly_the_blocks_of_deleted_flists(pool: PgPool) {
    let (dir, store) = open_store().await;
    let kept = convert(&pool, &store, &[block(1), block(2), block(9)]).await;
    publish(&pool, "kept.fl", kept).await;
    let before_deleted = stored(dir.path());
    let deleted = convert(&pool, &store, &[block(3), block(9)]).await;
    publish(&pool, "deleted.fl", deleted).await;
    // The deleted flist's own blocks: block 3 and its file (manifest + one part); block 9 is
    // shared with the kept flist.
    let freed: BTreeSet<String> = stored(dir.path())
        .difference(&before_deleted)
        .cloned()
        .collect();
    assert_eq!(freed.len(), 3, "{freed:?}");
    age_everything(&pool, dir.path()).await;
    hub_db::entries::remove(&pool, "alice", "deleted.fl")
        .await
        .expect("remove entry");

    let dry = collect(&pool, &store, true).await;
    assert_eq!(dry.freed_blocks, 3, "{dry:?}");
    assert_eq!(
        dry.freed_bytes,
        freed
            .iter()
            .map(|name| std::fs::metadata(dir.path().join(name))
                .expect("block")
                .len())
            .sum::<u64>()
    );
    assert_eq!(
        stored(dir.path()).len(),
        before_deleted.len() + 3,
        "a dry run deletes nothing"
    );
    assert_eq!(dry.flist_rows_deleted, 1, "{dry:?}");
    assert!(hub_db::flists::get(&pool, deleted).await.is_ok());

    let report = collect(&pool, &store, false).await;
    assert_eq!(
        (report.freed_blocks, report.freed_bytes),
        (dry.freed_blocks, dry.freed_bytes)
    );
    assert_eq!(stored(dir.path()), before_deleted);
    assert_eq!(report.flist_rows_deleted, 1, "{report:?}");
    assert!(matches!(
        hub_db::flists::get(&pool, deleted).await,
        Err(hub_db::DbError::NotFound(_))
    ));
    // The kept flist still reads back whole.
    let row = hub_db::flists::get(&pool, kept).await.expect("row");
    let objects = ObjectStore::new(store.clone());
    let bytes = objects
        .get(&row.content_hash.parse().expect("hash"))
        .await
        .expect("read flist")
        .expect("flist present");
    assert!(hub_flist::read_bytes(&bytes).is_ok());
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_keeps_every_block_of_a_conversion_running_during_the_collection(pool: PgPool) {
    let (dir, store) = open_store().await;
    // An old flist, deleted: its blocks are garbage, until a conversion reuses one.
    let old = convert(&pool, &store, &[block(3), block(4)]).await;
    publish(&pool, "old.fl", old).await;
    age_everything(&pool, dir.path()).await;
    hub_db::entries::remove(&pool, "alice", "old.fl")
        .await
        .expect("remove entry");

    // A conversion in flight: it stored a new block and block 4, which the store already had
    // (so it only confirmed it); it has no flist row yet.
    let blocks = [block(4), block(5)];
    store_blocks(&store, &blocks).await;
    let report = collect(&pool, &store, false).await;
    assert!(report.freed_blocks >= 1, "block 3 is garbage: {report:?}");
    assert!(!dir.path().join(hex::encode(block(3))).exists());

    // The conversion stores its flist row, and another collection runs before it publishes:
    // the young row and its file stay.
    let new = store_row(&pool, &store, &blocks).await;
    let again = collect(&pool, &store, false).await;
    assert_eq!(again.flist_rows_deleted, 0, "{again:?}");
    // The conversion publishes: every block it relies on is there.
    publish(&pool, "new.fl", new).await;
    assert_flist_readable(&pool, &store, new).await;
    for id in &blocks {
        assert_eq!(
            store.get(id).await.expect("get").as_deref(),
            Some(&b"chunk"[..]),
            "block {} of the conversion was deleted",
            hex::encode(id)
        );
    }
}

/// Benchmark for `docs/performance.md` (run by hand, see there): a `dir://` store of
/// `GC_BENCH_BLOCKS` blocks (default 1 million) under `GC_BENCH_DIR` (default the temp dir),
/// half referenced by one published `.fl`, half old garbage.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
#[ignore = "benchmark: minutes and a million files"]
async fn gc_bench_mark_and_sweep_rates(pool: PgPool) {
    let total: u32 = std::env::var("GC_BENCH_BLOCKS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(1_000_000);
    let parent = std::env::var("GC_BENCH_DIR").unwrap_or_else(|_| "/tmp".to_owned());
    let dir = tempfile::tempdir_in(parent).expect("bench dir");
    let store: SharedStore = Arc::new(DirStore::open(dir.path()).await.expect("open store"));
    let id = |n: u32| -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id[4] = 0xb1;
        id
    };
    let root = dir.path().to_path_buf();
    let clock = std::time::Instant::now();
    tokio::task::spawn_blocking(move || {
        let old = SystemTime::now() - LONG_AGO;
        for n in 0..total {
            let path = root.join(hex::encode(id(n)));
            std::fs::write(&path, b"chunk").expect("write block");
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open");
            file.set_modified(old).expect("age");
        }
    })
    .await
    .expect("seed");
    eprintln!("seeded {total} blocks in {:?}", clock.elapsed());
    let referenced: Vec<[u8; 32]> = (0..total / 2).map(id).collect();
    let flist = store_row(&pool, &store, &referenced).await;
    publish(&pool, "bench.fl", flist).await;

    let dry = collect(&pool, &store, true).await;
    eprintln!("dry run: {dry:?}");
    let report = collect(&pool, &store, false).await;
    eprintln!("collection: {report:?}");
    assert_eq!(report.freed_blocks, u64::from(total - total / 2));
    let per_million = |ms: u64, count: u64| ms as f64 / (count.max(1) as f64 / 1e6) / 1000.0;
    eprintln!(
        "mark: {:.1} s per million block references; sweep (list + check): {:.1} s per million \
         blocks; sweep with deletes: {:.1} s per million blocks listed",
        per_million(report.mark_ms, report.blocks_marked),
        per_million(dry.sweep_ms, dry.blocks_scanned),
        per_million(report.sweep_ms, report.blocks_scanned),
    );
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_refuses_a_store_it_cannot_list_before_deleting_any_flist_row(pool: PgPool) {
    let (dir, store) = open_store().await;
    let old = convert(&pool, &store, &[block(3)]).await;
    age_everything(&pool, dir.path()).await;
    // A router cannot be collected yet (docs/gc.md).
    let router = hub_store::open(&format!("00-ff=dir://{}", dir.path().display()))
        .await
        .expect("open router");
    let error = gc::run(&pool, &router, &GcConfig::default(), false)
        .await
        .expect_err("router refused");
    assert!(error.to_string().contains("does not support"), "{error}");
    assert!(hub_db::flists::get(&pool, old).await.is_ok(), "row kept");
}
