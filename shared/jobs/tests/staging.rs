//! Abandoned staged uploads are removed by the janitor within `staging_orphan_after`, and
//! nothing a queued job or a live upload needs is ever removed (real NATS and PostgreSQL).

mod common;

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Hub, TestResult, fast_config};
use futures::StreamExt;
use hub_db::PgPool;
use hub_jobs::{Janitor, JobsConfig, JobsError, Staging};
use hub_testkit::wait_until;
use tokio::io::AsyncReadExt;
use tokio_util::io::StreamReader;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Grace period of the tests; the janitor sweeps every 200 ms.
const ORPHAN_AFTER: Duration = Duration::from_secs(1);

/// How long after `ORPHAN_AFTER` an abandoned upload may still be there: a sweep period, plus
/// margin for a loaded test machine.
const SWEEP_SLACK: Duration = Duration::from_secs(3);

const CHUNK: usize = 64 * 1024;

fn staging_config() -> JobsConfig {
    JobsConfig {
        janitor_interval: Duration::from_millis(200),
        staging_orphan_after: ORPHAN_AFTER,
        ..fast_config()
    }
}

/// Run a janitor on its own task until the returned token is cancelled.
fn spawn_janitor(hub: &Hub) -> CancellationToken {
    let janitor = Janitor::new(
        hub.pool.clone(),
        hub.queue.clone(),
        Some(hub.staging.clone()),
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(janitor.run(shutdown.clone()));
    shutdown
}

/// Wait until the staging stream holds no chunk any more (a sweep purged the partial upload).
async fn wait_for_chunks_purged(hub: &Hub) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    wait_until(
        ORPHAN_AFTER + SWEEP_SLACK,
        "partial upload purged",
        || async {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                (chunk_subjects(hub).await? == 0).then_some(()),
            )
        },
    )
    .await
}

/// Chunk subjects in the bucket's stream: one per upload, complete or not.
async fn chunk_subjects(hub: &Hub) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let bucket = hub.queue.names().uploads_bucket();
    let stream = hub
        .queue
        .jetstream()
        .get_stream(format!("OBJ_{bucket}"))
        .await?;
    let subjects = stream
        .info_with_subjects(format!("$O.{bucket}.C.>"))
        .await?;
    Ok(subjects.count().await)
}

async fn is_staged(staging: &Staging, name: &str) -> Result<bool, JobsError> {
    match staging.open(name).await {
        Ok(_) => Ok(true),
        Err(JobsError::StagedObjectMissing(_)) => Ok(false),
        Err(err) => Err(err),
    }
}

/// A body of `chunks` chunks of 64 KiB, then the connection drops (the client is gone).
fn cut_off_body(chunks: usize) -> impl tokio::io::AsyncRead + Unpin {
    let parts = (0..chunks)
        .map(|_| Ok(Bytes::from(vec![7u8; CHUNK])))
        .chain(std::iter::once(Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client disconnected",
        ))));
    StreamReader::new(futures::stream::iter(parts))
}

/// A live upload: `chunks` chunks of 64 KiB, one every `pause`.
fn trickling_body(chunks: usize, pause: Duration) -> impl tokio::io::AsyncRead + Unpin {
    let parts = futures::stream::iter(0..chunks).then(move |_| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, io::Error>(Bytes::from(vec![9u8; CHUNK]))
    });
    StreamReader::new(Box::pin(parts))
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_upload_cut_off_mid_way_is_purged_from_staging_within_orphan_after(
    pool: PgPool,
) -> TestResult {
    let hub = Hub::with_config(pool, staging_config()).await?;
    let name = Uuid::new_v4().to_string();
    // The gateway's `stage` sees this error and deletes `name`, but the object was never
    // completed: its chunks stay under a subject no object names.
    let put = hub.staging.put(&name, &mut cut_off_body(5)).await;
    assert!(put.is_err(), "the cut-off upload must fail");
    hub.staging.delete(&name).await?;
    assert_eq!(
        chunk_subjects(&hub).await?,
        1,
        "the partial upload's chunks"
    );

    let started = Instant::now();
    let shutdown = spawn_janitor(&hub);
    wait_for_chunks_purged(&hub).await?;
    shutdown.cancel();
    assert!(
        started.elapsed() >= ORPHAN_AFTER - Duration::from_millis(300),
        "purged before its grace period: {:?}",
        started.elapsed()
    );
    // What is left is the gateway's delete marker (metadata), not the upload.
    assert!(hub.staging.usage().await?.stored_bytes < 4096);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_staged_upload_whose_job_was_never_recorded_is_removed_after_orphan_after(
    pool: PgPool,
) -> TestResult {
    let hub = Hub::with_config(pool, staging_config()).await?;
    // A gateway killed between staging and recording the job leaves exactly this.
    let name = Uuid::new_v4().to_string();
    hub.staging
        .put(&name, &mut &vec![1u8; 3 * CHUNK][..])
        .await?;

    let started = Instant::now();
    let shutdown = spawn_janitor(&hub);
    tokio::time::sleep(ORPHAN_AFTER / 2).await;
    assert!(
        is_staged(&hub.staging, &name).await?,
        "removed within its grace period (the job may be recorded any moment)"
    );
    wait_until(
        ORPHAN_AFTER + SWEEP_SLACK,
        "unrecorded upload removed",
        || async { Ok::<_, JobsError>((!is_staged(&hub.staging, &name).await?).then_some(())) },
    )
    .await?;
    shutdown.cancel();
    assert!(started.elapsed() >= ORPHAN_AFTER - Duration::from_millis(300));
    assert_eq!(chunk_subjects(&hub).await?, 0, "its chunks went with it");
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_queued_jobs_input_and_a_live_upload_stay_and_a_finished_jobs_input_goes(
    pool: PgPool,
) -> TestResult {
    let hub = Hub::with_config(pool, staging_config()).await?;
    // A queued job (no worker runs) with its staged input, staged long before the grace
    // period ends.
    let job = Uuid::new_v4();
    let input = job.to_string();
    hub.staging
        .put(&input, &mut &vec![2u8; 2 * CHUNK][..])
        .await?;
    hub.submit_with_id(job, "queued", Some(&input)).await?;

    let shutdown = spawn_janitor(&hub);
    // A live upload pausing 300 ms between chunks for 4 × ORPHAN_AFTER: longer in total than
    // the grace period, each pause shorter.
    let live = Uuid::new_v4().to_string();
    let chunks = 13;
    let staged = hub
        .staging
        .put(
            &live,
            &mut trickling_body(chunks, Duration::from_millis(300)),
        )
        .await?;
    assert_eq!(staged.size, (chunks * CHUNK) as u64);
    let mut read_back = Vec::new();
    hub.staging
        .open(&live)
        .await?
        .read_to_end(&mut read_back)
        .await?;
    assert_eq!(read_back.len(), chunks * CHUNK, "the live upload is whole");
    assert!(
        is_staged(&hub.staging, &input).await?,
        "a queued job's input was removed"
    );

    // The job ends, but the delete of its input is lost (e.g. it timed out).
    hub_db::jobs::cancel(&hub.pool, job, "test").await?;
    wait_until(SWEEP_SLACK, "finished job's input removed", || async {
        Ok::<_, JobsError>((!is_staged(&hub.staging, &input).await?).then_some(()))
    })
    .await?;
    shutdown.cancel();
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_gateways_sweeper_purges_a_cut_off_upload_while_no_janitor_runs(
    pool: PgPool,
) -> TestResult {
    let hub = Hub::with_config(pool, staging_config()).await?;
    let name = Uuid::new_v4().to_string();
    assert!(hub.staging.put(&name, &mut cut_off_body(3)).await.is_err());
    assert_eq!(chunk_subjects(&hub).await?, 1);

    let shutdown = CancellationToken::new();
    tokio::spawn(hub.staging.clone().sweep_periodically(
        hub.pool.clone(),
        Duration::from_millis(200),
        ORPHAN_AFTER,
        shutdown.clone(),
    ));
    wait_for_chunks_purged(&hub).await?;
    shutdown.cancel();
    hub.cleanup().await?;
    Ok(())
}
