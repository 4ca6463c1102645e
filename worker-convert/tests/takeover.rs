//! Taking over a killed worker's job: worker processes killed (SIGKILL) one after the other in
//! the middle of the same job; each time another process restarts the job within `ack_wait`
//! plus a few seconds, and the job is published exactly once in the end.

mod common;

use std::time::{Duration, Instant};

use common::TestResult;
use common::process::{ProcessHub, WAIT};
use hub_db::PgPool;
use hub_jobs::JobState;
use hub_testkit::{noise, signal, tar_gz};

/// Short, so the test is quick; long enough that a loaded machine keeps heartbeats in time.
const ACK_WAIT: Duration = Duration::from_secs(3);
/// What the issue allows on top of `ack_wait` for a killed worker's job to start again.
const TAKEOVER_SLACK: Duration = Duration::from_secs(5);
const KILLS: i32 = 3;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_job_restarts_within_ack_wait_after_each_of_three_worker_kills(
    pool: PgPool,
) -> TestResult {
    let jobs = hub_jobs::JobsConfig {
        ack_wait: ACK_WAIT,
        // Every kill spends an attempt; the run after the last kill must still have one.
        max_attempts: KILLS + 2,
        max_deliver: 12,
        ..hub_jobs::JobsConfig::default()
    };
    let hub = ProcessHub::with_jobs(pool, jobs).await?;
    let mut running = hub.start_worker().await?;

    // Large enough that each attempt is still converting while the next process starts.
    let source = tempfile::tempdir()?;
    for i in 0..8u64 {
        std::fs::write(source.path().join(format!("blob{i}")), noise(16 << 20, i))?;
    }
    let id = hub.submit("phoenix.flist", &tar_gz(source.path())?).await?;
    hub.wait_for(id, WAIT, "the job to run", |job| {
        job.state == JobState::Running
    })
    .await?;

    let mut takeovers = Vec::new();
    for kill in 1..=KILLS {
        // The process that will take over is up before the kill, so only the takeover itself
        // is measured.
        let spare = hub.start_worker().await?;
        // Frozen first: from here on it sends no heartbeat, and the state read is the one it
        // dies in.
        signal(running.pid, "STOP").await?;
        let frozen_at = Instant::now();
        let frozen = hub_db::jobs::get(&hub.pool, id).await?;
        assert_eq!(
            (frozen.state, frozen.attempt),
            (JobState::Running, kill),
            "the job must still run its attempt {kill} when its process is killed"
        );
        signal(running.pid, "KILL").await?;
        let status = tokio::time::timeout(Duration::from_secs(20), running.child.wait()).await??;
        assert!(!status.success(), "{status}");

        let restarted = hub
            .wait_for(id, WAIT, "the job to restart", |job| job.attempt > kill)
            .await?;
        assert_eq!(restarted.attempt, kill + 1, "restarted once per kill");
        // Seen by polling every 20 ms: at most that much later than the restart itself.
        takeovers.push(frozen_at.elapsed());
        running = spare;
    }
    println!("takeover after each kill (ack_wait {ACK_WAIT:?}): {takeovers:?}");
    for (kill, takeover) in takeovers.iter().enumerate() {
        assert!(
            *takeover <= ACK_WAIT + TAKEOVER_SLACK,
            "kill {}: restarted after {takeover:?}, more than ack_wait {ACK_WAIT:?} + \
             {TAKEOVER_SLACK:?} (all: {takeovers:?})",
            kill + 1
        );
    }

    // The last process finishes the job, which is published once.
    let job = hub
        .wait_for(id, WAIT, "the job to finish", |job| job.state.is_terminal())
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.attempt, KILLS + 1);
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM entries WHERE repository = 'bob' AND name = $1")
            .bind("phoenix.flist")
            .fetch_one(&hub.pool)
            .await?;
    assert_eq!(entries, 1);
    let finished = hub_db::events::list(&hub.pool, id, 0, 10_000)
        .await?
        .into_iter()
        .filter(|e| e.state == Some(JobState::Succeeded))
        .count();
    assert_eq!(finished, 1, "finished exactly once");

    signal(running.pid, "TERM").await?;
    tokio::time::timeout(Duration::from_secs(20), running.child.wait()).await??;
    hub.cleanup().await?;
    Ok(())
}
