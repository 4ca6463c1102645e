//! The worker runtime against the real NATS JetStream and PostgreSQL.

mod common;

use std::time::Duration;

use common::{Hub, Step, TestHandler, TestResult};
use hub_db::PgPool;
use hub_db::events::{self, EventKind};
use hub_db::jobs::{self as db_jobs, FailureCode};
use hub_jobs::{Janitor, JobState};

const WAIT: Duration = Duration::from_secs(20);

/// The queue's consumer has nothing left: every message was acknowledged or terminated.
async fn assert_queue_drained(hub: &Hub) -> TestResult {
    let mut consumer = hub.queue.consumer(hub_jobs::JobKind::Convert).await?;
    let info = consumer.info().await?;
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0), "{info:?}");
    Ok(())
}

async fn entries_named(pool: &PgPool, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM entries WHERE repository = 'alice' AND name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_job_runs_publishes_and_records_its_events(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let staged = hub
        .staging
        .put("upload-1", &mut &b"archive bytes"[..])
        .await?;
    let id = hub.submit("app.flist", Some(&staged.name)).await?;

    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    assert_eq!((job.attempt, job.progress), (1, 100));
    assert!(job.result.is_some() && job.error.is_none());
    assert_eq!(entries_named(&hub.pool, "app.flist").await?, 1);
    let entry = hub_db::entries::lookup(&hub.pool, "alice", "app.flist").await?;
    assert!(entry.target.is_some(), "the entry resolves to the flist");

    // queued, running, throttled progress (20 reports in a burst → far fewer writes, the last
    // one kept), the result and the final state.
    let log = events::list(&hub.pool, id, 0, 1000).await?;
    let updates: Vec<_> = log.iter().filter(|e| e.kind == EventKind::Update).collect();
    assert!(
        !updates.is_empty() && updates.len() <= 3,
        "{} updates",
        updates.len()
    );
    assert_eq!(updates.last().and_then(|e| e.progress), Some(100));
    let infos: Vec<_> = log.iter().filter(|e| e.kind == EventKind::Info).collect();
    assert_eq!(infos.len(), 2, "the handler's own event, then the result");
    assert_eq!(infos[0].message.as_deref(), Some("flist built"));
    assert!(
        infos[0].seq > updates.last().map_or(0, |e| e.seq),
        "pending progress is written first"
    );
    assert_eq!(infos[1].data["filename"], "app.flist");
    assert!(log.last().is_some_and(|e| e.is_terminal()));
    assert!(log.windows(2).all(|w| w[1].seq == w[0].seq + 1));

    // The upload is gone once the job is over (deleted just after the final state is
    // committed, so the test waits for it rather than racing it).
    hub_testkit::wait_until(WAIT, "the staged upload to be deleted", || async {
        let gone = matches!(
            hub.staging.open(&staged.name).await,
            Err(hub_jobs::JobsError::StagedObjectMissing(_))
        );
        Ok::<_, std::convert::Infallible>(gone.then_some(()))
    })
    .await?;
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    assert_eq!(handler.runs(), 1);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_late_duplicate_message_changes_nothing(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("once.flist", None).await?;
    let done = hub.wait_state(id, JobState::Succeeded, WAIT).await?;

    // The same job queued again (a worker died between commit and ack, a janitor re-publish
    // racing the original): acknowledged without running.
    let payload = db_jobs::payload(&hub.pool, id).await?;
    hub.queue
        .resubmit(hub_jobs::JobKind::Convert, id, "late", payload.into())
        .await?;
    hub_testkit::wait_until(WAIT, "the duplicate to be consumed", || async {
        let mut consumer = hub.queue.consumer(hub_jobs::JobKind::Convert).await?;
        let info = consumer.info().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            (info.delivered.stream_sequence >= 2 && info.num_ack_pending == 0).then_some(()),
        )
    })
    .await?;
    assert_eq!(handler.runs(), 1);
    let job = hub.job(id).await?;
    assert_eq!(
        (job.revision, job.last_event_seq),
        (done.revision, done.last_event_seq)
    );
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_transient_error_is_retried(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Transient, Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("retry.flist", None).await?;

    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    assert_eq!(job.attempt, 2);
    assert_eq!(handler.runs(), 2);
    let states: Vec<_> = events::list(&hub.pool, id, 0, 1000)
        .await?
        .into_iter()
        .filter_map(|e| e.state)
        .collect();
    use JobState::{Queued, Running, Succeeded};
    assert_eq!(states, [Queued, Running, Queued, Running, Succeeded]);
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn transient_errors_end_after_the_last_attempt(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Transient]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("never.flist", None).await?;

    let job = hub.wait_state(id, JobState::Failed, WAIT).await?;
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, FailureCode::AttemptsExhausted);
    assert!(
        error.message.contains("store unreachable"),
        "{}",
        error.message
    );
    assert_eq!((job.attempt, handler.runs()), (3, 3));
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn invalid_input_fails_at_once_with_its_code(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Invalid]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("bad.flist", None).await?;

    let job = hub.wait_state(id, JobState::Failed, WAIT).await?;
    let error = job.error.ok_or("no error")?;
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("invalid_archive", "invalid archive")
    );
    let log = events::list(&hub.pool, id, 0, 100).await?;
    let message = log
        .iter()
        .find(|e| e.kind == EventKind::Error)
        .ok_or("no error event")?;
    assert_eq!(message.message.as_deref(), Some("invalid archive"));
    // Terminated, not retried.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((job.attempt, handler.runs()), (1, 1));
    assert_eq!(entries_named(&hub.pool, "bad.flist").await?, 0);
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_panicking_handler_fails_the_job(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Panic]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("panic.flist", None).await?;
    let job = hub.wait_state(id, JobState::Failed, WAIT).await?;
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, FailureCode::Internal);
    assert!(
        error.message.contains("scripted panic"),
        "{}",
        error.message
    );
    shutdown.cancel();
    task.await??;
    assert_eq!(handler.runs(), 1);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_queued_job_cancelled_never_runs(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let staged = hub.staging.put("upload-c", &mut &b"x"[..]).await?;
    let id = hub.submit("cancelled.flist", Some(&staged.name)).await?;
    let cancelled = hub.client.cancel(id, "cancelled by alice").await?;
    assert_eq!(cancelled.job.state, JobState::Cancelled);
    assert!(
        hub.staging.open(&staged.name).await.is_err(),
        "upload deleted"
    );

    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    hub_testkit::wait_until(WAIT, "the message to be consumed", || async {
        let mut consumer = hub.queue.consumer(hub_jobs::JobKind::Convert).await?;
        let info = consumer.info().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            (info.delivered.stream_sequence >= 1 && info.num_ack_pending == 0).then_some(()),
        )
    })
    .await?;
    assert_eq!(handler.runs(), 0);
    assert_eq!(hub.job(id).await?.state, JobState::Cancelled);
    assert!(matches!(
        hub.client.cancel(id, "again").await,
        Err(hub_jobs::JobsError::Db(hub_db::DbError::Conflict(_)))
    ));
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_running_job_cancelled_stops_and_publishes_nothing(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::WaitForCancel]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("stop.flist", None).await?;
    hub.wait_state(id, JobState::Running, WAIT).await?;

    let started = tokio::time::Instant::now();
    hub.client.cancel(id, "cancelled by alice").await?;
    // The handler stops at once (cancel subject), well before any heartbeat would notice.
    hub_testkit::wait_until(WAIT, "the message to be acknowledged", || async {
        let mut consumer = hub.queue.consumer(hub_jobs::JobKind::Convert).await?;
        let info = consumer.info().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((info.num_ack_pending == 0).then_some(()))
    })
    .await?;
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    let job = hub.job(id).await?;
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(entries_named(&hub.pool, "stop.flist").await?, 0);
    let log = events::list(&hub.pool, id, 0, 100).await?;
    assert!(
        log.last()
            .is_some_and(|e| e.state == Some(JobState::Cancelled))
    );
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    assert_eq!(handler.runs(), 1);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn heartbeats_keep_a_long_job_from_being_redelivered(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let ack_wait = hub.queue.config().ack_wait;
    let long = u64::try_from((ack_wait * 3).as_millis())?;
    let handler = TestHandler::new(&[Step::Slow(long)]);
    // Two workers: a redelivery would go to the idle one.
    let (first, stop_first) = hub.spawn_worker(handler.clone()).await?;
    let (second, stop_second) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("long.flist", None).await?;

    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    assert_eq!((job.attempt, handler.runs()), (1, 1));
    let mut consumer = hub.queue.consumer(hub_jobs::JobKind::Convert).await?;
    assert_eq!(consumer.info().await?.num_redelivered, 0);
    stop_first.cancel();
    stop_second.cancel();
    first.await??;
    second.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_killed_worker_loses_no_job(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    // The first run hangs; the worker running it is then killed (its task dropped, no ack).
    let handler = TestHandler::new(&[Step::Hang, Step::Succeed]);
    let (doomed, _) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("survivor.flist", None).await?;
    hub.wait_state(id, JobState::Running, WAIT).await?;
    doomed.abort();
    assert!(doomed.await.is_err_and(|err| err.is_cancelled()));

    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    assert_eq!((job.attempt, handler.runs()), (2, 2));
    assert_eq!(entries_named(&hub.pool, "survivor.flist").await?, 1);
    let succeeded = events::list(&hub.pool, id, 0, 1000)
        .await?
        .into_iter()
        .filter(|e| e.state == Some(JobState::Succeeded))
        .count();
    assert_eq!(succeeded, 1, "finished exactly once");
    assert_queue_drained(&hub).await?;
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn shutdown_hands_a_running_job_back(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::WaitForCancel, Step::Succeed]);
    let (stopping, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("handover.flist", None).await?;
    hub.wait_state(id, JobState::Running, WAIT).await?;
    shutdown.cancel();
    stopping.await??;
    let job = hub.job(id).await?;
    assert_eq!(
        (job.state, job.attempt),
        (JobState::Queued, 0),
        "released, attempt refunded"
    );

    let started = tokio::time::Instant::now();
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    // Handed back with an immediate nak: no `ack_wait` to sit out.
    assert!(
        started.elapsed() < hub.queue.config().ack_wait,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(job.attempt, 1);
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_janitor_requeues_a_job_with_a_stale_heartbeat(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let id = hub.submit("lost.flist", None).await?;
    // A worker claimed the job, then vanished with its message (JetStream gave up on it).
    let claim = db_jobs::claim(&hub.pool, id, hub.queue.config().stale_after()).await?;
    assert!(matches!(claim, db_jobs::Claim::Claimed(_)));
    hub.queue
        .jetstream()
        .get_stream(hub.queue.names().stream())
        .await?
        .purge()
        .await?;
    sqlx::query("UPDATE jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1")
        .bind(id)
        .execute(&hub.pool)
        .await?;

    let janitor = Janitor::new(
        hub.pool.clone(),
        hub.queue.clone(),
        Some(hub.staging.clone()),
    );
    let report = janitor.sweep().await?;
    assert!(report.leader);
    assert_eq!(report.requeued, 1);
    assert_eq!(hub.job(id).await?.state, JobState::Queued);

    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    assert_eq!((job.attempt, handler.runs()), (2, 1));
    assert_eq!(janitor.sweep().await?.requeued, 0);
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn jobs_start_quickly_on_an_idle_worker(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let mut latencies = Vec::new();
    for n in 0..20 {
        let id = hub.submit(&format!("fast-{n}.flist"), None).await?;
        let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
        let started = job.started_at.ok_or("never started")?;
        latencies.push((started - job.created_at).to_std()?);
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    println!(
        "submit-to-running latency: p50 {p50:?}, max {:?}",
        latencies.last()
    );
    assert!(p50 < Duration::from_millis(100), "p50 {p50:?}");
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

/// The delay in "attempt N failed, retrying in D s", as announced.
fn announced_delay(message: &str) -> Option<Duration> {
    let (_, rest) = message.split_once("retrying in ")?;
    let (seconds, _) = rest.split_once(" s")?;
    Duration::try_from_secs_f64(seconds.parse().ok()?).ok()
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn each_transient_retry_starts_after_the_announced_delay(pool: PgPool) -> TestResult {
    // Whole seconds and `ack_wait` below the later delays: JetStream's redelivery back-off
    // (if any) would stretch the second and third retries by one and three `ack_wait`s.
    let config = hub_jobs::JobsConfig {
        ack_wait: Duration::from_secs(2),
        max_attempts: 4,
        retry_backoff: Duration::from_secs(1),
        max_retry_backoff: Duration::from_secs(4),
        ..common::fast_config()
    };
    let hub = common::Hub::with_config(pool, config).await?;
    let handler = TestHandler::new(&[
        Step::Transient,
        Step::Transient,
        Step::Transient,
        Step::Succeed,
    ]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    let id = hub.submit("patient.flist", None).await?;
    let job = hub
        .wait_state(id, JobState::Succeeded, Duration::from_secs(40))
        .await?;
    assert_eq!(job.attempt, 4);

    let log = events::list(&hub.pool, id, 0, 1000).await?;
    let mut measured = Vec::new();
    for (n, retry) in log.iter().enumerate() {
        let Some(announced) = retry.message.as_deref().and_then(announced_delay) else {
            continue;
        };
        let restart = log[n..]
            .iter()
            .find(|e| e.state == Some(JobState::Running))
            .ok_or("no restart after a retry")?;
        measured.push((announced, (restart.at - retry.at).to_std()?));
    }
    println!("announced vs real retry delays: {measured:?}");
    let announced: Vec<u64> = measured.iter().map(|(a, _)| a.as_secs()).collect();
    assert_eq!(announced, [1, 2, 4]);
    for (announced, real) in measured {
        // Never early; late only by a pull round trip and a database write.
        assert!(
            real >= announced && real <= announced + Duration::from_millis(700),
            "announced {announced:?}, took {real:?}"
        );
    }
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_job_whose_message_ran_out_of_deliveries_is_requeued_by_the_janitor(
    pool: PgPool,
) -> TestResult {
    use futures::StreamExt;
    let config = hub_jobs::JobsConfig {
        max_deliver: 3,
        max_attempts: 2,
        ..common::fast_config()
    };
    let hub = common::Hub::with_config(pool, config).await?;
    let names = hub.queue.names();
    let mut gave_up = hub
        .nats
        .client()
        .subscribe(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}",
            names.stream(),
            names.consumer(hub_jobs::JobKind::Convert)
        ))
        .await?;
    let id = hub.submit("persistent.flist", None).await?;
    // A holder whose database heartbeats go through but whose in-progress acks do not: every
    // delivery of the job's message finds it held by a live worker, until JetStream gives up.
    let holder = hold_with_heartbeats(&hub, id).await?;
    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    tokio::time::timeout(WAIT, gave_up.next())
        .await?
        .ok_or("no max-deliveries advisory")?;
    assert_eq!(handler.runs(), 0, "never run while held");

    // The holder dies. No message is left to redeliver: the janitor re-queues the job once its
    // heartbeat is `janitor_stale_after` old, and the worker runs it.
    holder.abort();
    let janitor = Janitor::new(hub.pool.clone(), hub.queue.clone(), None);
    let requeued = hub_testkit::wait_until(WAIT, "the janitor to re-queue the job", || async {
        let report = janitor.sweep().await?;
        Ok::<_, hub_jobs::JobsError>((report.requeued > 0).then_some(report.requeued))
    })
    .await?;
    assert_eq!(requeued, 1);
    let job = hub.wait_state(id, JobState::Succeeded, WAIT).await?;
    assert_eq!((job.attempt, handler.runs()), (2, 1));
    assert_eq!(entries_named(&hub.pool, "persistent.flist").await?, 1);
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}

/// Claim job `id` as a live holder that heartbeats in the database every 200 ms but never
/// acknowledges its message; abort the task to let the holder die.
async fn hold_with_heartbeats(
    hub: &Hub,
    id: uuid::Uuid,
) -> Result<tokio::task::JoinHandle<()>, Box<dyn std::error::Error + Send + Sync>> {
    let claim = db_jobs::claim(&hub.pool, id, hub.queue.config().stale_after()).await?;
    let db_jobs::Claim::Claimed(claimed) = claim else {
        return Err(format!("not claimed: {claim:?}").into());
    };
    let (pool, lease) = (hub.pool.clone(), claimed.lease);
    Ok(tokio::spawn(async move {
        loop {
            let _ = lease.heartbeat(&pool).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_busy_job_is_taken_over_as_soon_as_its_holder_turns_stale(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let stale_after = hub.queue.config().stale_after();
    let id = hub.submit("held.flist", None).await?;
    // A live holder (database heartbeats, no in-progress acks): the job's message keeps coming
    // back and is turned away, several times.
    let holder = hold_with_heartbeats(&hub, id).await?;
    let handler = TestHandler::new(&[Step::Succeed]);
    let (task, shutdown) = hub.spawn_worker(handler.clone()).await?;
    tokio::time::sleep(hub.queue.config().ack_wait * 3).await;
    assert_eq!(handler.runs(), 0, "never run while held");
    assert_eq!(hub.job(id).await?.attempt, 1);

    // The holder dies: the message, told to come back when the holder would be stale, does.
    holder.abort();
    let died = tokio::time::Instant::now();
    let job = hub
        .wait_state(id, JobState::Succeeded, Duration::from_secs(60))
        .await?;
    let started = died.elapsed();
    println!("taken over {started:?} after the holder died (stale after {stale_after:?})");
    assert_eq!((job.attempt, handler.runs()), (2, 1));
    assert!(
        started <= stale_after + Duration::from_secs(1),
        "taken over {started:?} after the holder died, stale after {stale_after:?}"
    );
    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}
