//! `hub-gateway gc` over a `zdb://` store (the 0-db double) and PostgreSQL: writers go
//! through the block journal, the collector deletes under the journal's lock, and a run
//! interrupted mid-sweep is resumed from its checkpoint.

mod gc_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt, TryStreamExt};
use gc_support::{
    LONG_AGO, age_rows, assert_flist_readable, block, convert, publish, store_blocks, store_row,
};
use hub_gateway::gc::{self, Fault, GcConfig, GcError, GcReport, Hooks};
use hub_store::SharedStore;
use hub_zdb_double::ZdbDouble;
use sqlx::PgPool;

const NAMESPACE: &str = "blocks";

/// A double, the raw store the collector uses, and the journaled store writers use.
struct Fixture {
    zdb: ZdbDouble,
    raw: SharedStore,
    writer: SharedStore,
}

async fn fixture(pool: &PgPool) -> Fixture {
    let (zdb, raw) = hub_testkit::zdb_store(NAMESPACE)
        .await
        .expect("0-db double");
    let writer = hub_db::block_journal::journaled(raw.clone(), pool.clone());
    assert!(raw.needs_journal(), "a zdb store needs the journal");
    Fixture { zdb, raw, writer }
}

impl Fixture {
    /// Hex keys in the namespace, read from the double directly.
    fn stored(&self) -> BTreeSet<String> {
        self.zdb.keys(NAMESPACE).iter().map(hex::encode).collect()
    }

    fn size(&self, hex_key: &str) -> u64 {
        let key = hex::decode(hex_key).expect("hex");
        self.zdb.value(NAMESPACE, &key).expect("value").len() as u64
    }

    /// Everything written so far was written (and journaled) days ago.
    async fn age_everything(&self, pool: &PgPool) {
        self.zdb.age(NAMESPACE, LONG_AGO);
        sqlx::query("UPDATE block_journal SET touched_at = touched_at - interval '3 days'")
            .execute(pool)
            .await
            .expect("age journal");
        age_rows(pool).await;
    }

    async fn collect(&self, pool: &PgPool, dry_run: bool) -> GcReport {
        gc::run(pool, &self.raw, &GcConfig::default(), dry_run)
            .await
            .expect("gc")
    }
}

async fn gc_runs(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM gc_runs")
        .fetch_one(pool)
        .await
        .expect("count runs")
}

/// Test 1 (and the dry-run half of test 5): mirrors the `dir://` test.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_frees_exactly_the_blocks_of_deleted_flists_from_zdb(pool: PgPool) {
    let fx = fixture(&pool).await;
    let kept = convert(&pool, &fx.writer, &[block(1), block(2), block(9)]).await;
    publish(&pool, "kept.fl", kept).await;
    let before_deleted = fx.stored();
    let deleted = convert(&pool, &fx.writer, &[block(3), block(9)]).await;
    publish(&pool, "deleted.fl", deleted).await;
    // Block 3 and the deleted flist's file (manifest + one part); block 9 is shared.
    let freed: BTreeSet<String> = fx.stored().difference(&before_deleted).cloned().collect();
    assert_eq!(freed.len(), 3, "{freed:?}");
    let freed_bytes: u64 = freed.iter().map(|key| fx.size(key)).sum();
    fx.age_everything(&pool).await;
    hub_db::entries::remove(&pool, "alice", "deleted.fl")
        .await
        .expect("remove entry");

    let report = fx.collect(&pool, false).await;
    assert_eq!(
        (report.freed_blocks, report.freed_bytes),
        (3, freed_bytes),
        "{report:?}"
    );
    assert_eq!(fx.stored(), before_deleted);
    assert_eq!(report.flist_rows_deleted, 1, "{report:?}");
    assert!(matches!(
        hub_db::flists::get(&pool, deleted).await,
        Err(hub_db::DbError::NotFound(_))
    ));
    assert_flist_readable(&pool, &fx.raw, kept).await;
    // A second run finds nothing more.
    let again = fx.collect(&pool, false).await;
    assert_eq!(again.freed_blocks, 0, "{again:?}");
}

/// Test 5: a dry run over zdb reports what it would free and deletes nothing.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_dry_run_over_zdb_reports_count_and_bytes_and_deletes_nothing(pool: PgPool) {
    let fx = fixture(&pool).await;
    let kept = convert(&pool, &fx.writer, &[block(1)]).await;
    publish(&pool, "kept.fl", kept).await;
    let before_deleted = fx.stored();
    let deleted = convert(&pool, &fx.writer, &[block(3), block(4)]).await;
    publish(&pool, "deleted.fl", deleted).await;
    let garbage: BTreeSet<String> = fx.stored().difference(&before_deleted).cloned().collect();
    let garbage_bytes: u64 = garbage.iter().map(|key| fx.size(key)).sum();
    fx.age_everything(&pool).await;
    hub_db::entries::remove(&pool, "alice", "deleted.fl")
        .await
        .expect("remove entry");
    let journal_before: i64 = sqlx::query_scalar("SELECT count(*) FROM block_journal")
        .fetch_one(&pool)
        .await
        .expect("journal");

    let all = fx.stored();
    let dry = fx.collect(&pool, true).await;
    assert_eq!(
        (dry.freed_blocks, dry.freed_bytes),
        (garbage.len() as u64, garbage_bytes),
        "{dry:?}"
    );
    assert_eq!(dry.flist_rows_deleted, 1, "{dry:?}");
    assert_eq!(fx.stored(), all, "a dry run deletes nothing");
    assert!(hub_db::flists::get(&pool, deleted).await.is_ok());
    assert_eq!(gc_runs(&pool).await, 0, "a dry run records no run");
    let journal_after: i64 = sqlx::query_scalar("SELECT count(*) FROM block_journal")
        .fetch_one(&pool)
        .await
        .expect("journal");
    assert_eq!(journal_after, journal_before, "a dry run prunes nothing");

    // The real run frees exactly what the dry run announced.
    let report = fx.collect(&pool, false).await;
    assert_eq!(
        (report.freed_blocks, report.freed_bytes),
        (dry.freed_blocks, dry.freed_bytes)
    );
    assert_eq!(fx.stored(), before_deleted);
}

/// Test 2, deterministic: a writer confirms an old garbage block (`EXISTS`, through the
/// journaled store) after the collector listed it and before its deletion batch locks it.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_keeps_a_zdb_block_confirmed_after_it_was_listed(pool: PgPool) {
    let fx = fixture(&pool).await;
    let old = convert(&pool, &fx.writer, &[block(3), block(4)]).await;
    publish(&pool, "old.fl", old).await;
    fx.age_everything(&pool).await;
    hub_db::entries::remove(&pool, "alice", "old.fl")
        .await
        .expect("remove entry");

    let writer = fx.writer.clone();
    let confirmed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::clone(&confirmed);
    let hooks = Hooks {
        before_lock: Some(Arc::new(move |ids: Vec<Vec<u8>>| {
            let writer = writer.clone();
            let seen = Arc::clone(&seen);
            async move {
                // The batch holds block 4: the collector listed it as old and unmarked.
                if ids.iter().any(|id| id.as_slice() == block(4)) {
                    assert!(writer.exists(&block(4)).await.expect("exists"));
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            .boxed()
        })),
        ..Hooks::default()
    };
    let report = gc::run_with_hooks(&pool, &fx.raw, &GcConfig::default(), false, &hooks)
        .await
        .expect("gc");
    assert!(
        confirmed.load(std::sync::atomic::Ordering::SeqCst),
        "block 4 was a deletion candidate"
    );
    assert_eq!(report.kept_young, 1, "{report:?}");
    assert!(
        fx.zdb.value(NAMESPACE, &block(4)).is_some(),
        "confirmed block kept"
    );
    assert!(
        fx.zdb.value(NAMESPACE, &block(3)).is_none(),
        "garbage freed"
    );
}

/// Test 2, the writer blocked by the lock: it confirms a candidate while the collector holds
/// the batch's journal rows; its touch waits, then `EXISTS` finds the block gone and the
/// writer stores it again.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_writer_confirming_during_the_deletion_lock_stores_the_block_again(pool: PgPool) {
    let fx = fixture(&pool).await;
    let old = convert(&pool, &fx.writer, &[block(3), block(4)]).await;
    publish(&pool, "old.fl", old).await;
    fx.age_everything(&pool).await;
    hub_db::entries::remove(&pool, "alice", "old.fl")
        .await
        .expect("remove entry");

    let writer = fx.writer.clone();
    let waiter = pool.clone();
    let task = Arc::new(std::sync::Mutex::new(None));
    let handle = Arc::clone(&task);
    let hooks = Hooks {
        after_lock: Some(Arc::new(move |ids: Vec<Vec<u8>>| {
            let writer = writer.clone();
            let waiter = waiter.clone();
            let handle = Arc::clone(&handle);
            async move {
                if !ids.iter().any(|id| id.as_slice() == block(4)) {
                    return;
                }
                // A conversion reusing block 4: confirm, store if missing.
                let spawned = tokio::spawn(async move {
                    let existed = writer.exists(&block(4)).await.expect("exists");
                    if !existed {
                        writer
                            .set(&block(4), Bytes::from_static(b"chunk"))
                            .await
                            .expect("set");
                    }
                    existed
                });
                hub_testkit::wait_for_lock_waiter(&waiter, Duration::from_secs(10))
                    .await
                    .expect("the writer never waited for the deletion lock");
                *handle.lock().expect("lock") = Some(spawned);
            }
            .boxed()
        })),
        ..Hooks::default()
    };
    gc::run_with_hooks(&pool, &fx.raw, &GcConfig::default(), false, &hooks)
        .await
        .expect("gc");
    let spawned = task.lock().expect("lock").take().expect("writer started");
    let existed = spawned.await.expect("writer");
    assert!(!existed, "the writer ran EXISTS after the DEL");
    assert_eq!(
        fx.zdb.value(NAMESPACE, &block(4)).as_deref(),
        Some(&b"chunk"[..]),
        "the writer stored the block again"
    );
    assert!(fx.zdb.value(NAMESPACE, &block(3)).is_none());
}

/// Test 2, a conversion running during the collection (mirrors the `dir://` test): it
/// confirms an old block with a byte-identical `SET`, which 0-db does not record.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_keeps_every_zdb_block_of_a_conversion_running_during_the_collection(pool: PgPool) {
    let fx = fixture(&pool).await;
    let old = convert(&pool, &fx.writer, &[block(3), block(4)]).await;
    publish(&pool, "old.fl", old).await;
    fx.age_everything(&pool).await;
    hub_db::entries::remove(&pool, "alice", "old.fl")
        .await
        .expect("remove entry");

    // A conversion in flight: a new block, and block 4, which 0-db already holds (its `SET`
    // answers nil and leaves the key's old timestamp); no flist row yet.
    let blocks = [block(4), block(5)];
    store_blocks(&fx.writer, &blocks).await;
    let report = fx.collect(&pool, false).await;
    assert!(report.freed_blocks >= 1, "block 3 is garbage: {report:?}");
    assert!(report.journal_marked >= 2, "{report:?}");
    assert!(fx.zdb.value(NAMESPACE, &block(3)).is_none());

    let new = store_row(&pool, &fx.writer, &blocks).await;
    let again = fx.collect(&pool, false).await;
    assert_eq!(again.flist_rows_deleted, 0, "{again:?}");
    publish(&pool, "new.fl", new).await;
    assert_flist_readable(&pool, &fx.raw, new).await;
    for id in &blocks {
        assert_eq!(
            fx.raw.get(id).await.expect("get").as_deref(),
            Some(&b"chunk"[..]),
            "block {} of the conversion was deleted",
            hex::encode(id)
        );
    }
}

/// 600 old blocks in write order, every other one referenced by a published flist: the
/// store's keys now, and the keys an uninterrupted collection leaves.
async fn seed_half_referenced(fx: &Fixture, pool: &PgPool) -> (BTreeSet<String>, BTreeSet<String>) {
    let id = |n: u16| -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..2].copy_from_slice(&n.to_be_bytes());
        id[2] = 0xb1;
        id
    };
    let all: Vec<[u8; 32]> = (0..600).map(id).collect();
    store_blocks(&fx.writer, &all).await;
    let referenced: Vec<[u8; 32]> = all.iter().step_by(2).copied().collect();
    let flist = store_row(pool, &fx.writer, &referenced).await;
    publish(pool, "half.fl", flist).await;
    fx.age_everything(pool).await;
    let garbage: BTreeSet<String> = all.iter().skip(1).step_by(2).map(hex::encode).collect();
    let before = fx.stored();
    let expected = before.difference(&garbage).cloned().collect();
    (before, expected)
}

/// Test 4: a run stopped mid-sweep is resumed from its checkpoint by the next one, which
/// lists fewer blocks and leaves the same store as an uninterrupted run.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_resumes_an_interrupted_zdb_sweep_from_its_checkpoint(pool: PgPool) {
    let fx = fixture(&pool).await;
    let (before, expected) = seed_half_referenced(&fx, &pool).await;

    let config = GcConfig {
        concurrency: 2,
        checkpoint_every: 64,
        ..GcConfig::default()
    };
    let crash = Hooks {
        fault: Fault::FailAfter(100),
        ..Hooks::default()
    };
    let error = gc::run_with_hooks(&pool, &fx.raw, &config, false, &crash)
        .await
        .expect_err("interrupted");
    assert!(matches!(error, GcError::Interrupted(_)), "{error}");
    let (first, cursor): (i64, Option<Vec<u8>>) =
        sqlx::query_as("SELECT id, cursor FROM gc_runs WHERE finished_at IS NULL")
            .fetch_one(&pool)
            .await
            .expect("unfinished run");
    assert!(cursor.is_some(), "a checkpoint was saved");
    let left = fx.stored();
    assert!(
        left.len() < before.len() && left.len() > expected.len(),
        "partly swept: {} of {} blocks left",
        left.len(),
        before.len()
    );

    let report = gc::run(&pool, &fx.raw, &config, false)
        .await
        .expect("resumed gc");
    assert_eq!(report.resumed_from, Some(first), "{report:?}");
    assert!(
        report.blocks_scanned < left.len() as u64,
        "the resumed run skips what the first one listed: {report:?}"
    );
    assert_eq!(fx.stored(), expected, "same result as an uninterrupted run");
    let finished: String = sqlx::query_scalar("SELECT phase FROM gc_runs WHERE id = $1")
        .bind(first)
        .fetch_one(&pool)
        .await
        .expect("first run");
    assert_eq!(finished, "resumed");

    // The next run starts over (nothing to resume) and finds nothing more.
    let again = gc::run(&pool, &fx.raw, &config, false).await.expect("gc");
    assert_eq!(
        (again.resumed_from, again.freed_blocks),
        (None, 0),
        "{again:?}"
    );
    assert_eq!(again.blocks_scanned, expected.len() as u64);
}

/// Test 4 with a real crash: the `hub-gateway gc` binary aborts itself mid-sweep
/// (`HUB_GC_CRASH_AFTER`), and the next run of the binary resumes from the checkpoint.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn gc_binary_aborted_mid_sweep_is_resumed_by_the_next_run(pool: PgPool) {
    let fx = fixture(&pool).await;
    let (before, expected) = seed_half_referenced(&fx, &pool).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("database name");
    // This test's database on the server of DATABASE_URL (no query part in tests).
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = server.rsplit_once('/').expect("database URL with a path");
    let url = format!("{server}/{database}");
    // The aborting run may leave a core file: in a directory of its own.
    let cwd = tempfile::tempdir().expect("temp dir");
    let gc = |crash_after: Option<u64>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub-gateway"));
        command
            .arg("gc")
            .current_dir(cwd.path())
            .env_remove("HUB_CONFIG")
            .env("HUB_DATABASE_URL", &url)
            .env("HUB_STORE", fx.zdb.url(NAMESPACE))
            .env("HUB_GC__CONCURRENCY", "2")
            .env("HUB_GC__CHECKPOINT_EVERY", "64");
        match crash_after {
            Some(count) => command.env("HUB_GC_CRASH_AFTER", count.to_string()),
            None => command.env_remove("HUB_GC_CRASH_AFTER"),
        };
        command.output()
    };
    let crashed = gc(Some(100)).await.expect("run hub-gateway gc");
    assert!(!crashed.status.success(), "the first run aborts");
    assert!(crashed.stdout.is_empty(), "no summary from a crashed run");
    let (first, cursor): (i64, Option<Vec<u8>>) =
        sqlx::query_as("SELECT id, cursor FROM gc_runs WHERE finished_at IS NULL")
            .fetch_one(&pool)
            .await
            .expect("unfinished run");
    assert!(cursor.is_some(), "a checkpoint was saved");
    let left = fx.stored();
    assert!(left.len() < before.len() && left.len() > expected.len());

    let resumed = gc(None).await.expect("run hub-gateway gc");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout).expect("JSON summary");
    assert_eq!(report["resumed_from"], serde_json::json!(first), "{report}");
    assert!(
        report["blocks_scanned"].as_u64().expect("count") < left.len() as u64,
        "{report}"
    );
    assert_eq!(fx.stored(), expected, "same result as an uninterrupted run");
}

/// Benchmark for `docs/performance.md` (run by hand, see there): `GC_BENCH_BLOCKS` blocks
/// (default 1 million) in a namespace of the **0-db double** (not a real 0-db), half
/// referenced by one published `.fl`, half old garbage.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
#[ignore = "benchmark: minutes and a million keys"]
async fn gc_bench_zdb_mark_and_sweep_rates(pool: PgPool) {
    let total: u32 = std::env::var("GC_BENCH_BLOCKS")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(1_000_000);
    let fx = fixture(&pool).await;
    let id = |n: u32| -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id[4] = 0xb1;
        id
    };
    let clock = std::time::Instant::now();
    let raw = fx.raw.clone();
    futures::stream::iter(0..total)
        .map(|n| {
            let raw = raw.clone();
            async move { raw.set(&id(n), Bytes::from_static(b"chunk")).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("seed");
    eprintln!("seeded {total} blocks in {:?}", clock.elapsed());
    let referenced: Vec<[u8; 32]> = (0..total / 2).map(id).collect();
    let flist = store_row(&pool, &fx.writer, &referenced).await;
    publish(&pool, "bench.fl", flist).await;
    fx.age_everything(&pool).await;

    let config = GcConfig::default();
    let dry = gc::run(&pool, &fx.raw, &config, true)
        .await
        .expect("dry run");
    eprintln!("dry run: {dry:?}");
    let report = gc::run(&pool, &fx.raw, &config, false).await.expect("gc");
    eprintln!("collection: {report:?}");
    assert_eq!(report.freed_blocks, u64::from(total - total / 2));
    assert_eq!(
        fx.zdb.key_count(NAMESPACE),
        Some(usize::try_from(report.kept_referenced).expect("count"))
    );
    let per_million = |ms: u64, count: u64| ms as f64 / (count.max(1) as f64 / 1e6) / 1000.0;
    eprintln!(
        "mark: {:.1} s per million block references; sweep (SCAN + check): {:.1} s per million \
         blocks; sweep with journaled DELs: {:.1} s per million blocks listed, {:.0} deletions/s",
        per_million(report.mark_ms, report.blocks_marked),
        per_million(dry.sweep_ms, dry.blocks_scanned),
        per_million(report.sweep_ms, report.blocks_scanned),
        report.freed_blocks as f64 / (report.sweep_ms.max(1) as f64 / 1000.0),
    );
}
