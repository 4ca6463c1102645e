//! Publishing exactly once: a worker process that dies (abort, like `kill -9`) at any step of
//! publishing its flist leaves no flist row that no entry references, and the job is published
//! once, by the worker that takes it over (or by the dead one, when it died after commit).

mod common;

use std::time::Duration;

use common::TestResult;
use common::process::{ProcessHub, WAIT};
use hub_db::PgPool;
use hub_jobs::JobState;
use hub_jobs::crash::CrashPoint;
use hub_testkit::{noise, signal, tar_gz};

/// Short, so that each takeover is quick.
const ACK_WAIT: Duration = Duration::from_secs(2);

/// Flist rows no entry references.
async fn orphan_flists(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT f.id FROM flists f \
         WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.flist_id = f.id) ORDER BY f.id",
    )
    .fetch_all(pool)
    .await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_worker_killed_at_each_step_of_publishing_leaves_no_orphan_and_publishes_once(
    pool: PgPool,
) -> TestResult {
    let hub = ProcessHub::new(pool, ACK_WAIT).await?;
    for (seed, point) in (0u64..).zip(CrashPoint::ALL) {
        let target = format!("{}.flist", point.name());
        let mut dying = hub.start_worker_crashing_at(point).await?;
        let source = tempfile::tempdir()?;
        std::fs::write(source.path().join("blob"), noise(1 << 20, seed))?;
        let id = hub.submit(&target, &tar_gz(source.path())?).await?;
        let status = tokio::time::timeout(Duration::from_secs(60), dying.child.wait()).await??;
        assert!(!status.success(), "{}: {status}", point.name());

        // Another process takes the job over (or finds it finished) and settles it.
        let mut survivor = hub.start_worker().await?;
        let job = hub
            .wait_for(id, WAIT, "the job to finish", |job| job.state.is_terminal())
            .await?;
        assert_eq!(
            job.state,
            JobState::Succeeded,
            "{}: {:?}",
            point.name(),
            job.error
        );
        // Dead before its commit, the first attempt published nothing: the second did it all.
        let expected_attempt = if point == CrashPoint::AfterCommit {
            1
        } else {
            2
        };
        assert_eq!(job.attempt, expected_attempt, "{}", point.name());

        let published: Vec<Option<i64>> = sqlx::query_scalar(
            "SELECT flist_id FROM entries WHERE repository = 'bob' AND name = $1",
        )
        .bind(&target)
        .fetch_all(&hub.pool)
        .await?;
        let result_id = job
            .result
            .as_ref()
            .and_then(|result| result.get("flist_id"))
            .and_then(serde_json::Value::as_i64);
        assert_eq!(
            published,
            vec![result_id],
            "{}: one entry, the result's flist",
            point.name()
        );
        assert_eq!(
            orphan_flists(&hub.pool).await?,
            Vec::<i64>::new(),
            "{}: flist rows no entry references",
            point.name()
        );
        let succeeded = hub_db::events::list(&hub.pool, id, 0, 10_000)
            .await?
            .into_iter()
            .filter(|e| e.state == Some(JobState::Succeeded))
            .count();
        assert_eq!(succeeded, 1, "{}: succeeded exactly once", point.name());

        signal(survivor.pid, "TERM").await?;
        tokio::time::timeout(Duration::from_secs(20), survivor.child.wait()).await??;
    }
    hub.cleanup().await?;
    Ok(())
}
