//! The block journal against PostgreSQL and the 0-db double: a writer's touch waits for the
//! collector's deletion lock, so its `EXISTS` runs after the `DEL` and it stores the block
//! again; touches keep the newest time; the collector sees touches that committed first.

use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use hub_db::block_journal::{self, Touched};
use hub_testkit::zdb_store;
use sqlx::PgPool;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_writer_blocked_by_the_deletion_lock_finds_the_block_gone_and_stores_it_again(
    pool: PgPool,
) {
    let (zdb, raw) = zdb_store("blocks").await.expect("0-db double");
    let key = [7u8; 32];
    raw.set(&key, Bytes::from_static(b"chunk"))
        .await
        .expect("set");
    let writer = block_journal::journaled(raw.clone(), pool.clone());

    // The collector: lock the (never touched) key's row, then delete the block.
    let mut tx = pool.begin().await.expect("begin");
    let rows = block_journal::lock_for_deletion(&mut tx, &[key.to_vec()])
        .await
        .expect("lock");
    assert_eq!(
        rows,
        vec![Touched {
            key: key.to_vec(),
            touched_at: None
        }]
    );
    // A conversion reusing the block: confirm, store if missing.
    let conversion = tokio::spawn(async move {
        let existed = writer.exists(&key).await.expect("exists");
        if !existed {
            writer
                .set(&key, Bytes::from_static(b"chunk"))
                .await
                .expect("set");
        }
        existed
    });
    hub_testkit::wait_for_lock_waiter(&pool, Duration::from_secs(10))
        .await
        .expect("the writer never waited for the deletion lock");
    assert!(!conversion.is_finished(), "the touch waits for the lock");
    assert!(raw.delete_locked(&key).await.expect("DEL"), "deleted");
    tx.commit().await.expect("commit");

    let existed = conversion.await.expect("conversion");
    assert!(!existed, "EXISTS ran after the DEL");
    assert_eq!(
        zdb.value("blocks", &key).as_deref(),
        Some(&b"chunk"[..]),
        "the writer stored the block again"
    );
    // And its touch is recorded, so the next collection keeps the block.
    let mut tx = pool.begin().await.expect("begin");
    let rows = block_journal::lock_for_deletion(&mut tx, &[key.to_vec()])
        .await
        .expect("lock");
    let touched = rows
        .first()
        .and_then(|row| row.touched_at)
        .expect("touched");
    assert!(Utc::now() - touched < TimeDelta::minutes(1));
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn touches_keep_the_newest_time_and_prune_removes_only_older_rows(pool: PgPool) {
    let now = Utc::now();
    let old = now - TimeDelta::days(3);
    let (a, b): (&[u8], &[u8]) = (b"a", b"b");
    block_journal::touch(&pool, &[a, b, a], now)
        .await
        .expect("touch");
    block_journal::touch(&pool, &[a], old)
        .await
        .expect("older touch");
    block_journal::touch(&pool, &[b], old)
        .await
        .expect("older touch");
    sqlx::query("UPDATE block_journal SET touched_at = $1 WHERE key = 'b'")
        .bind(old)
        .execute(&pool)
        .await
        .expect("age b");
    let since = now - TimeDelta::hours(1);
    let recent: Vec<Vec<u8>> =
        futures::TryStreamExt::try_collect(block_journal::touched_since(&pool, since))
            .await
            .expect("touched since");
    assert_eq!(recent, vec![b"a".to_vec()], "the later touch of a wins");
    assert_eq!(block_journal::prune(&pool, since).await.expect("prune"), 1);
    let mut tx = pool.begin().await.expect("begin");
    let rows = block_journal::lock_for_deletion(&mut tx, &[b"a".to_vec(), b"b".to_vec()])
        .await
        .expect("lock");
    assert_eq!(rows.len(), 2);
    assert!(rows[0].touched_at.is_some_and(|at| at >= since), "{rows:?}");
    assert_eq!(
        rows[1].touched_at, None,
        "b was pruned, its row re-inserted"
    );
}
