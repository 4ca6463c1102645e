//! Migrations, connection settings and listing performance against a real PostgreSQL.

use std::time::Instant;

use hub_db::PgPool;
use hub_db::entries::{self, ListedKind};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_once_and_rerun_as_a_no_op(pool: PgPool) -> TestResult {
    hub_db::migrate(&pool).await?;
    hub_db::migrate(&pool).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name IN \
           ('repositories', 'entries', 'tags', 'tag_entries', 'flists', 'jobs', 'job_events') \
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        tables,
        [
            "entries",
            "flists",
            "job_events",
            "jobs",
            "repositories",
            "tag_entries",
            "tags"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn pool_sessions_run_without_jit() -> TestResult {
    let pool = hub_db::connect(&database_url(), 2).await?;
    let jit: String = sqlx::query_scalar("SHOW jit").fetch_one(&pool).await?;
    assert_eq!(jit, "off");
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_ten_thousand_entry_listing_is_one_fast_query(pool: PgPool) -> TestResult {
    // 9,000 flists, 900 symlinks to them and 100 links to those links, in one repository,
    // next to another repository's entries.
    sqlx::query("INSERT INTO repositories (name) VALUES ('big'), ('other')")
        .execute(&pool)
        .await?;
    sqlx::query(
        "INSERT INTO flists (content_hash, md5, size, format, stats) \
         SELECT 'h' || g, md5(g::text), g, 'flist', '{}' FROM generate_series(1, 9000) g",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO entries (repository, name, kind, flist_id) \
         SELECT r, 'f' || lpad(g::text, 5, '0') || '.flist', 'regular', g \
         FROM generate_series(1, 9000) g, (VALUES ('big'), ('other')) AS repos(r)",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO entries (repository, name, kind, target_repository, target_name) \
         SELECT 'big', 's' || lpad(g::text, 5, '0') || '.flist', 'symlink', 'big', \
                'f' || lpad(g::text, 5, '0') || '.flist' FROM generate_series(1, 900) g \
         UNION ALL \
         SELECT 'big', 't' || lpad(g::text, 5, '0') || '.flist', 'symlink', 'big', \
                's' || lpad(g::text, 5, '0') || '.flist' FROM generate_series(1, 100) g",
    )
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;

    // The gateway's sessions run without JIT (see `hub_db::connect`).
    let mut conn = pool.acquire().await?;
    sqlx::query("SET jit = off").execute(&mut *conn).await?;
    entries::listing(&mut *conn, "big").await?;
    let started = Instant::now();
    let listing = entries::listing(&mut *conn, "big").await?;
    let elapsed = started.elapsed();
    println!("10,000-entry listing: {elapsed:?}");
    assert_eq!(listing.len(), 10_000);
    assert!(
        listing.windows(2).all(|w| w[0].name < w[1].name),
        "sorted by name"
    );
    let chained = listing
        .iter()
        .find(|e| e.name == "t00042.flist")
        .ok_or("missing")?;
    assert_eq!(
        (chained.kind, chained.size),
        (ListedKind::Symlink, Some(42))
    );
    assert!(elapsed.as_secs_f64() < 2.0, "{elapsed:?}");
    Ok(())
}
