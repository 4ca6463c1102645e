//! Job state machine, event log, pagination and janitor sweeps against a real PostgreSQL.

use std::time::Duration;

use hub_db::events::{self, EventKind, NewEvent};
use hub_db::jobs::{
    self, Claim, Claimed, FailureCode, JobCursor, JobFailure, JobFilter, JobKind, JobState, NewJob,
};
use hub_db::{Conflict, DbError, Missing, PgPool};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const STALE: Duration = Duration::from_secs(30);

fn new_job(owner: &str, kind: JobKind) -> NewJob {
    NewJob {
        id: Uuid::new_v4(),
        kind,
        owner: owner.to_owned(),
        repository: owner.to_owned(),
        target_name: "app.flist".into(),
        payload: vec![1, 2, 3],
        max_attempts: 3,
        idempotency_key: None,
    }
}

async fn claimed(pool: &PgPool, id: Uuid) -> Result<Claimed, Box<dyn std::error::Error>> {
    match jobs::claim(pool, id, STALE).await? {
        Claim::Claimed(claimed) => Ok(*claimed),
        other => Err(format!("expected a claim, got {other:?}").into()),
    }
}

/// Make the job's heartbeat look `age` old.
async fn age_heartbeat(pool: &PgPool, id: Uuid, age: Duration) -> Result<(), DbError> {
    sqlx::query("UPDATE jobs SET heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1")
        .bind(id)
        .bind(age.as_secs_f64())
        .execute(pool)
        .await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn idempotency_key_returns_the_same_job(pool: PgPool) -> TestResult {
    let mut first = new_job("alice", JobKind::Convert);
    first.idempotency_key = Some("key-1".into());
    let created = jobs::create(&pool, &first).await?;
    assert!(created.created);
    assert_eq!(created.job.state, JobState::Queued);
    assert_eq!(created.events.len(), 1);

    let retried = NewJob {
        id: Uuid::new_v4(),
        ..first.clone()
    };
    let again = jobs::create(&pool, &retried).await?;
    assert!(!again.created);
    assert_eq!(again.job.id, first.id);
    let found = jobs::find_by_idempotency_key(&pool, "alice", "key-1").await?;
    assert_eq!(found.map(|job| job.id), Some(first.id));

    // The key is per owner.
    let other_owner = NewJob {
        id: Uuid::new_v4(),
        owner: "bob".into(),
        ..first.clone()
    };
    assert!(jobs::create(&pool, &other_owner).await?.created);
    assert!(matches!(
        jobs::get(&pool, Uuid::new_v4()).await,
        Err(DbError::NotFound(Missing::Job))
    ));
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_run_records_an_ordered_event_log(pool: PgPool) -> TestResult {
    let new = new_job("alice", JobKind::Convert);
    jobs::create(&pool, &new).await?;
    let mut run = claimed(&pool, new.id).await?;
    assert_eq!((run.job.state, run.job.attempt), (JobState::Running, 1));
    assert_eq!(run.payload, [1, 2, 3]);

    run.lease
        .progress(
            &pool,
            40,
            Some("build"),
            "Building: processing item 4 of 10",
        )
        .await?;
    run.lease.heartbeat(&pool).await?;
    run.lease
        .event(
            &pool,
            NewEvent::info(Some("note".into()), serde_json::json!({"k": 1})),
        )
        .await?;
    let mut tx = pool.begin().await?;
    let (job, final_events) = run
        .lease
        .succeed(
            &mut tx,
            &serde_json::json!({"size": 5}),
            NewEvent::info(None, serde_json::json!({"done": true})),
        )
        .await?;
    tx.commit().await?;
    assert_eq!((job.state, job.progress), (JobState::Succeeded, 100));
    assert!(job.finished_at.is_some());
    assert!(final_events.last().is_some_and(|e| e.is_terminal()));

    let log = events::list(&pool, new.id, 0, 100).await?;
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    let kinds: Vec<EventKind> = log.iter().map(|e| e.kind).collect();
    use EventKind::{Info, State, Update};
    assert_eq!(kinds, [State, State, Update, Info, Info, State]);
    assert_eq!(log[2].progress, Some(40));
    assert_eq!(log[2].phase.as_deref(), Some("build"));
    assert_eq!(job.last_event_seq, 6);
    assert_eq!(
        events::list(&pool, new.id, 4, 100).await?.len(),
        2,
        "replay after a seq"
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_stale_lease_is_refused(pool: PgPool) -> TestResult {
    let new = new_job("alice", JobKind::Merge);
    jobs::create(&pool, &new).await?;
    let mut first = claimed(&pool, new.id).await?;

    // A live holder keeps others out...
    assert!(matches!(
        jobs::claim(&pool, new.id, STALE).await?,
        Claim::Busy { retry_in } if retry_in <= STALE
    ));
    // ...until its heartbeat goes stale: then a second worker takes over.
    age_heartbeat(&pool, new.id, STALE * 2).await?;
    let mut second = claimed(&pool, new.id).await?;
    assert_eq!(second.job.attempt, 2);

    // The first worker's writes are all refused now, and change nothing.
    let revision = jobs::get(&pool, new.id).await?.revision;
    assert!(matches!(
        first.lease.heartbeat(&pool).await,
        Err(DbError::Stale)
    ));
    assert!(matches!(
        first.lease.progress(&pool, 99, None, "late").await,
        Err(DbError::Stale)
    ));
    let mut tx = pool.begin().await?;
    let late = first
        .lease
        .succeed(
            &mut tx,
            &serde_json::json!({}),
            NewEvent::info(None, serde_json::json!({})),
        )
        .await;
    assert!(matches!(late, Err(DbError::Stale)));
    tx.rollback().await?;
    let job = jobs::get(&pool, new.id).await?;
    assert_eq!(
        (job.revision, job.state, job.progress),
        (revision, JobState::Running, 0)
    );

    second.lease.progress(&pool, 10, None, "fine").await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn terminal_states_are_final(pool: PgPool) -> TestResult {
    let new = new_job("alice", JobKind::Verify);
    jobs::create(&pool, &new).await?;
    let mut run = claimed(&pool, new.id).await?;
    let failure = JobFailure::new(FailureCode::InvalidFlist, "invalid flist");
    let (job, _) = run.lease.fail(&pool, &failure).await?;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.error, Some(failure.clone()));

    assert!(matches!(
        jobs::cancel(&pool, new.id, "too late").await,
        Err(DbError::Conflict(Conflict::JobFinished))
    ));
    assert_eq!(
        jobs::claim(&pool, new.id, STALE).await?,
        Claim::Finished(JobState::Failed)
    );
    assert!(matches!(
        run.lease.progress(&pool, 1, None, "x").await,
        Err(DbError::Stale)
    ));
    let mut tx = pool.begin().await?;
    assert!(matches!(
        run.lease
            .succeed(
                &mut tx,
                &serde_json::json!({}),
                NewEvent::info(None, serde_json::json!({}))
            )
            .await,
        Err(DbError::Stale)
    ));
    tx.rollback().await?;
    assert_eq!(jobs::get(&pool, new.id).await?.state, JobState::Failed);

    let log = events::list(&pool, new.id, 0, 100).await?;
    let error = log
        .iter()
        .find(|e| e.kind == EventKind::Error)
        .ok_or("no error event")?;
    assert_eq!(error.data["code"], "invalid_flist");
    assert!(log.last().is_some_and(|e| e.is_terminal()));
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn cancel_stops_queued_and_running_jobs(pool: PgPool) -> TestResult {
    let queued = new_job("alice", JobKind::Docker);
    jobs::create(&pool, &queued).await?;
    let cancelled = jobs::cancel(&pool, queued.id, "cancelled by alice").await?;
    assert_eq!(
        (cancelled.previous, cancelled.job.state),
        (JobState::Queued, JobState::Cancelled)
    );
    assert_eq!(cancelled.events.len(), 2);
    assert_eq!(
        jobs::claim(&pool, queued.id, STALE).await?,
        Claim::Finished(JobState::Cancelled)
    );

    let running = new_job("alice", JobKind::Docker);
    jobs::create(&pool, &running).await?;
    let run = claimed(&pool, running.id).await?;
    let cancelled = jobs::cancel(&pool, running.id, "stop").await?;
    assert_eq!(cancelled.previous, JobState::Running);
    assert_eq!(
        cancelled.job.error.map(|e| e.code),
        Some(FailureCode::Cancelled)
    );
    assert!(matches!(
        run.lease.heartbeat(&pool).await,
        Err(DbError::Stale)
    ));
    assert!(matches!(
        jobs::cancel(&pool, Uuid::new_v4(), "x").await,
        Err(DbError::NotFound(Missing::Job))
    ));
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn retries_until_the_attempts_run_out(pool: PgPool) -> TestResult {
    let new = new_job("alice", JobKind::Convert);
    jobs::create(&pool, &new).await?;
    let transient = JobFailure::new(FailureCode::Transient, "store unreachable");
    for attempt in 1..=2 {
        let mut run = claimed(&pool, new.id).await?;
        assert_eq!(run.lease.attempt(), attempt);
        let (job, _) = run
            .lease
            .retry(&pool, &transient, Duration::from_secs(2))
            .await?;
        assert_eq!((job.state, job.attempt), (JobState::Queued, attempt));
        assert_eq!(job.error.as_ref(), Some(&transient));
    }
    let mut last = claimed(&pool, new.id).await?;
    let (job, _) = last
        .lease
        .retry(&pool, &transient, Duration::from_secs(2))
        .await?;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, FailureCode::AttemptsExhausted);
    assert!(
        error.message.contains("store unreachable"),
        "{}",
        error.message
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_retryable_failure_with_its_own_code_keeps_it_after_the_last_attempt(
    pool: PgPool,
) -> TestResult {
    let new = new_job("alice", JobKind::Docker);
    jobs::create(&pool, &new).await?;
    let unreachable = JobFailure::new(
        FailureCode::PullFailed,
        "could not reach r: connection refused",
    );
    for _ in 1..=2 {
        let mut run = claimed(&pool, new.id).await?;
        let (job, _) = run
            .lease
            .retry(&pool, &unreachable, Duration::from_millis(10))
            .await?;
        assert_eq!(job.state, JobState::Queued);
        assert_eq!(job.error.as_ref(), Some(&unreachable));
    }
    let mut last = claimed(&pool, new.id).await?;
    let (job, events) = last
        .lease
        .retry(&pool, &unreachable, Duration::from_millis(10))
        .await?;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, FailureCode::PullFailed);
    assert_eq!(
        error.message,
        "gave up after 3 attempts: could not reach r: connection refused"
    );
    let codes: Vec<_> = events.iter().filter_map(|e| e.data.get("code")).collect();
    assert_eq!(codes, [&serde_json::json!("pull_failed")]);
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn release_hands_the_job_back_without_using_an_attempt(pool: PgPool) -> TestResult {
    let new = new_job("alice", JobKind::Convert);
    jobs::create(&pool, &new).await?;
    let mut run = claimed(&pool, new.id).await?;
    let (job, _) = run.lease.release(&pool, "worker stopping").await?;
    assert_eq!((job.state, job.attempt), (JobState::Queued, 0));
    assert_eq!(claimed(&pool, new.id).await?.job.attempt, 1);
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn keyset_pagination_walks_every_job_once(pool: PgPool) -> TestResult {
    let mut ids = Vec::new();
    for n in 0..25 {
        let kind = if n % 5 == 0 {
            JobKind::Merge
        } else {
            JobKind::Convert
        };
        let new = new_job(if n < 23 { "alice" } else { "bob" }, kind);
        jobs::create(&pool, &new).await?;
        ids.push(new.id);
    }
    // Several jobs share a timestamp: created in one statement, tie broken by id.
    sqlx::query("UPDATE jobs SET created_at = date_trunc('second', now()) WHERE owner = 'alice'")
        .execute(&pool)
        .await?;

    let filter = JobFilter {
        owner: Some("alice".into()),
        ..JobFilter::default()
    };
    let mut seen = Vec::new();
    let mut cursor: Option<JobCursor> = None;
    loop {
        let page = jobs::list(&pool, &filter, cursor, 10).await?;
        assert!(page.jobs.len() <= 10);
        seen.extend(page.jobs.iter().map(|job| (job.created_at, job.id)));
        // The cursor survives its string form, as it travels through the API.
        match page.next {
            Some(next) => cursor = Some(next.to_string().parse()?),
            None => break,
        }
    }
    assert_eq!(seen.len(), 23);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, no duplicates");
    sorted.dedup();
    assert_eq!(sorted.len(), 23);

    let merges = JobFilter {
        kinds: vec![JobKind::Merge],
        states: vec![JobState::Queued],
        ..JobFilter::default()
    };
    assert_eq!(jobs::list(&pool, &merges, None, 100).await?.jobs.len(), 5);
    let none = JobFilter {
        states: vec![JobState::Running],
        ..JobFilter::default()
    };
    assert!(jobs::list(&pool, &none, None, 100).await?.jobs.is_empty());
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn janitor_sweeps(pool: PgPool) -> TestResult {
    // A running job whose worker vanished goes back to the queue.
    let lost = new_job("alice", JobKind::Convert);
    jobs::create(&pool, &lost).await?;
    let mut zombie = claimed(&pool, lost.id).await?;
    assert!(
        jobs::requeue_stale(&pool, STALE, 10).await?.is_empty(),
        "fresh heartbeat"
    );
    age_heartbeat(&pool, lost.id, STALE * 2).await?;
    let requeued = jobs::requeue_stale(&pool, STALE, 10).await?;
    assert_eq!(requeued.len(), 1);
    assert_eq!(
        (requeued[0].job.state, requeued[0].payload.as_slice()),
        (JobState::Queued, &[1u8, 2, 3][..])
    );
    assert!(matches!(
        zombie.lease.progress(&pool, 5, None, "x").await,
        Err(DbError::Stale)
    ));

    // One that used its last attempt fails instead.
    let mut last = new_job("alice", JobKind::Convert);
    last.max_attempts = 1;
    jobs::create(&pool, &last).await?;
    claimed(&pool, last.id).await?;
    age_heartbeat(&pool, last.id, STALE * 2).await?;
    assert!(jobs::requeue_stale(&pool, STALE, 10).await?.is_empty());
    let failed = jobs::fail_exhausted(&pool, STALE, 10).await?;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].0.error.as_ref().map(|e| &e.code),
        Some(&FailureCode::AttemptsExhausted)
    );

    // A queued job nobody picked up is returned once per period.
    sqlx::query("UPDATE jobs SET updated_at = now() - interval '1 hour' WHERE id = $1")
        .bind(lost.id)
        .execute(&pool)
        .await?;
    let forgotten = jobs::stale_queued(&pool, Duration::from_secs(600), 10).await?;
    assert_eq!(
        forgotten.iter().map(|r| r.job.id).collect::<Vec<_>>(),
        [lost.id]
    );
    assert!(
        jobs::stale_queued(&pool, Duration::from_secs(600), 10)
            .await?
            .is_empty()
    );

    // Retention deletes old finished jobs with their events, and nothing else.
    sqlx::query("UPDATE jobs SET finished_at = now() - interval '10 days' WHERE id = $1")
        .bind(last.id)
        .execute(&pool)
        .await?;
    assert_eq!(
        jobs::purge_finished(&pool, Duration::from_secs(7 * 86400)).await?,
        1
    );
    assert!(matches!(
        jobs::get(&pool, last.id).await,
        Err(DbError::NotFound(Missing::Job))
    ));
    assert!(events::list(&pool, last.id, 0, 10).await?.is_empty());
    assert_eq!(jobs::claim(&pool, last.id, STALE).await?, Claim::Missing);
    assert_eq!(jobs::get(&pool, lost.id).await?.state, JobState::Queued);
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_exhausted_job_fails_when_claimed_again(pool: PgPool) -> TestResult {
    let mut new = new_job("alice", JobKind::Convert);
    new.max_attempts = 1;
    jobs::create(&pool, &new).await?;
    claimed(&pool, new.id).await?;
    age_heartbeat(&pool, new.id, STALE * 2).await?;
    // The worker died during its only attempt; the redelivered message finds no attempt left.
    match jobs::claim(&pool, new.id, STALE).await? {
        Claim::Exhausted(job, events) => {
            assert_eq!(job.state, JobState::Failed);
            assert!(events.last().is_some_and(|e| e.is_terminal()));
        }
        other => return Err(format!("expected exhaustion, got {other:?}").into()),
    }
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn abort_fails_an_unfinished_job_once(pool: PgPool) -> TestResult {
    let new = new_job("alice", JobKind::Convert);
    jobs::create(&pool, &new).await?;
    let failure = JobFailure::new(FailureCode::QueueUnavailable, "could not be queued");
    let (job, events) = jobs::abort(&pool, new.id, &failure).await?;
    assert_eq!(
        (job.state, job.error),
        (JobState::Failed, Some(failure.clone()))
    );
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(matches!(
        jobs::abort(&pool, new.id, &failure).await,
        Err(DbError::Conflict(Conflict::JobFinished))
    ));
    assert!(matches!(
        jobs::abort(&pool, Uuid::new_v4(), &failure).await,
        Err(DbError::NotFound(Missing::Job))
    ));
    Ok(())
}
