//! The worker process: health endpoints of the shared wiring, and the built binary started
//! with a configuration file: converting a job, stopping on SIGTERM, and a process killed
//! (SIGKILL) in the middle of a job whose job another process then finishes exactly once.

mod common;

use std::time::Duration;

use common::process::{ProcessHub, WAIT};
use common::{TestHub, TestResult, source_tree, test_publish};
use hub_db::PgPool;
use hub_jobs::JobState;
use hub_testkit::{http_get, noise, signal, tar_gz};

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn health_endpoints_report_each_dependency(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let (status, _) = http_get(hub.health, "/healthz").await?;
    assert_eq!(status, 200);
    let (status, body) = http_get(hub.health, "/readyz").await?;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(
        body["checks"],
        serde_json::json!({"postgres": "ok", "nats": "ok", "store": "ok"})
    );
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_binary_serves_jobs_and_stops_on_sigterm(pool: PgPool) -> TestResult {
    let hub = ProcessHub::new(pool, Duration::from_secs(30)).await?;
    let mut worker = hub.start_worker().await?;

    // A job submitted the way the gateway does is converted by the process.
    let source = source_tree()?;
    let id = hub.submit("app.flist", &tar_gz(source.path())?).await?;
    let job = hub
        .wait_for(id, WAIT, "the job", |job| job.state.is_terminal())
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    // Unspecified format: `publish.default_format`, `.flist` with the configured backend.
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["format"], "flist");
    let lookup = hub_db::entries::lookup(&hub.pool, "bob", "app.flist").await?;
    let row = lookup.target.ok_or("dangling")?.flist;
    assert!(
        row.metadata["backend"]
            .as_str()
            .unwrap_or_default()
            .contains("bin.test")
    );

    // SIGTERM: a clean exit.
    signal(worker.pid, "TERM").await?;
    let status = tokio::time::timeout(Duration::from_secs(20), worker.child.wait()).await??;
    assert!(status.success(), "{status}");
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_worker_process_killed_mid_job_loses_no_job(pool: PgPool) -> TestResult {
    let hub = ProcessHub::new(pool, Duration::from_secs(3)).await?;
    let mut doomed = hub.start_worker().await?;

    // Large enough that the conversion is still going when the process is frozen.
    let source = tempfile::tempdir()?;
    for i in 0..4u64 {
        std::fs::write(source.path().join(format!("blob{i}")), noise(16 << 20, i))?;
    }
    let id = hub
        .submit("survivor.flist", &tar_gz(source.path())?)
        .await?;
    hub.wait_for(id, WAIT, "the job to run", |job| {
        job.state == JobState::Running
    })
    .await?;
    // Freeze the process first, so the state read next is the one it dies in.
    signal(doomed.pid, "STOP").await?;
    let frozen = hub_db::jobs::get(&hub.pool, id).await?;
    assert_eq!(
        frozen.state,
        JobState::Running,
        "the job ended before the kill"
    );
    signal(doomed.pid, "KILL").await?;
    let status = tokio::time::timeout(Duration::from_secs(20), doomed.child.wait()).await??;
    assert!(!status.success(), "{status}");

    // Another process takes the job over once its heartbeat is stale, and finishes it once.
    let mut rescuer = hub.start_worker().await?;
    let job = hub
        .wait_for(id, WAIT, "the job to finish", |job| job.state.is_terminal())
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert!(job.attempt >= 2, "attempt {}", job.attempt);
    let entries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM entries WHERE repository = 'bob' AND name = $1")
            .bind("survivor.flist")
            .fetch_one(&hub.pool)
            .await?;
    assert_eq!(entries, 1);
    let finished = hub_db::events::list(&hub.pool, id, 0, 1000)
        .await?
        .into_iter()
        .filter(|e| e.state == Some(JobState::Succeeded))
        .count();
    assert_eq!(finished, 1, "finished exactly once");
    let lookup = hub_db::entries::lookup(&hub.pool, "bob", "survivor.flist").await?;
    assert!(lookup.target.is_some(), "the entry resolves to a flist");

    signal(rescuer.pid, "TERM").await?;
    tokio::time::timeout(Duration::from_secs(20), rescuer.child.wait()).await??;
    hub.cleanup().await?;
    Ok(())
}
