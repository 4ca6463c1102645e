//! Following job events: replay from PostgreSQL, then live over NATS, without gaps or
//! duplicates, for any number of listeners.

mod common;

use std::time::Duration;

use common::{Hub, TestResult};
use futures::{StreamExt, TryStreamExt};
use hub_db::PgPool;
use hub_db::events::NewEvent;
use hub_db::jobs::{self as db_jobs, Claim, Lease};
use hub_jobs::{EventPublisher, JobEvent, JobState, JobsError};
use uuid::Uuid;

/// Claim job `id` as a worker would, publishing the event.
async fn claim(
    hub: &Hub,
    publisher: &EventPublisher,
    id: Uuid,
) -> Result<Lease, Box<dyn std::error::Error + Send + Sync>> {
    match db_jobs::claim(&hub.pool, id, Duration::from_secs(30)).await? {
        Claim::Claimed(claimed) => {
            publisher.publish(&claimed.events).await;
            Ok(claimed.lease)
        }
        other => Err(format!("not claimed: {other:?}").into()),
    }
}

async fn progress(
    hub: &Hub,
    publisher: &EventPublisher,
    lease: &mut Lease,
    percent: i16,
) -> Result<Vec<JobEvent>, hub_db::DbError> {
    let events = lease.progress(&hub.pool, percent, None, "working").await?;
    publisher.publish(&events).await;
    Ok(events)
}

async fn succeed(
    hub: &Hub,
    publisher: &EventPublisher,
    lease: &mut Lease,
) -> Result<(), hub_db::DbError> {
    let mut tx = hub.pool.begin().await?;
    let (_, events) = lease
        .succeed(
            &mut tx,
            &serde_json::json!({}),
            NewEvent::info(None, serde_json::json!({"done": true})),
        )
        .await?;
    tx.commit().await?;
    publisher.publish(&events).await;
    Ok(())
}

fn seqs(events: &[JobEvent]) -> Vec<i64> {
    events.iter().map(|event| event.seq).collect()
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn followers_replay_then_follow_live(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let bus = hub.bus().await?;
    let publisher = EventPublisher::new(hub.nats.client().clone(), hub.queue.names().clone());
    let id = hub.submit("app.flist", None).await?;
    let mut lease = claim(&hub, &publisher, id).await?;
    progress(&hub, &publisher, &mut lease, 10).await?;

    // Three listeners: from the start, resuming after seq 2, and one that joins later.
    let from_start = tokio::spawn(bus.follow(id, 0).try_collect::<Vec<_>>());
    let resumed = tokio::spawn(bus.follow(id, 2).try_collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(100)).await;
    progress(&hub, &publisher, &mut lease, 50).await?;
    let late = tokio::spawn(bus.follow(id, 0).try_collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(100)).await;
    progress(&hub, &publisher, &mut lease, 90).await?;
    succeed(&hub, &publisher, &mut lease).await?;

    let all: Vec<i64> = (1..=7).collect();
    assert_eq!(seqs(&from_start.await??), all);
    assert_eq!(seqs(&resumed.await??), all[2..]);
    let late = late.await??;
    assert_eq!(seqs(&late), all);
    assert!(late.last().is_some_and(JobEvent::is_terminal));

    // A resume position past the log's end is clamped to it (when the stream starts).
    let other = hub.submit("other.flist", None).await?;
    let beyond = tokio::spawn(bus.follow(other, 99).try_collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut other_lease = claim(&hub, &publisher, other).await?;
    succeed(&hub, &publisher, &mut other_lease).await?;
    assert_eq!(seqs(&beyond.await??), [2, 3, 4]);

    // Reconnecting after the final event ends at once; the listener registry empties.
    assert!(bus.follow(id, 7).next().await.is_none());
    assert_eq!(bus.jobs_listened(), 0);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_lost_live_event_is_recovered_from_the_database(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let bus = hub.bus().await?;
    let publisher = EventPublisher::new(hub.nats.client().clone(), hub.queue.names().clone());
    let id = hub.submit("app.flist", None).await?;
    let mut lease = claim(&hub, &publisher, id).await?;
    let mut follower = bus.follow(id, 0);
    assert_eq!(follower.try_next().await?.map(|e| e.seq), Some(1));
    assert_eq!(follower.try_next().await?.map(|e| e.seq), Some(2));

    // Seq 3 is recorded but its live message is lost; seq 4 arrives live and reveals the gap.
    lease.progress(&hub.pool, 30, None, "unannounced").await?;
    progress(&hub, &publisher, &mut lease, 40).await?;
    let started = tokio::time::Instant::now();
    assert_eq!(follower.try_next().await?.map(|e| e.seq), Some(3));
    assert_eq!(follower.try_next().await?.map(|e| e.seq), Some(4));
    assert!(
        started.elapsed() < hub.queue.config().event_poll_interval,
        "filled from the gap, not by polling"
    );

    // With no live messages at all, polling still delivers, up to the end.
    let mut tx = hub.pool.begin().await?;
    lease
        .succeed(
            &mut tx,
            &serde_json::json!({}),
            NewEvent::info(None, serde_json::json!({})),
        )
        .await?;
    tx.commit().await?;
    let rest: Vec<_> = follower.try_collect().await?;
    assert_eq!(seqs(&rest), [5, 6]);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_thousand_listeners_each_get_every_event_once(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let bus = hub.bus().await?;
    let publisher = EventPublisher::new(hub.nats.client().clone(), hub.queue.names().clone());
    let id = hub.submit("popular.flist", None).await?;
    let listeners: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(bus.follow(id, 0).try_collect::<Vec<_>>()))
        .collect();
    let mut lease = claim(&hub, &publisher, id).await?;
    for percent in [20, 40, 60, 80] {
        progress(&hub, &publisher, &mut lease, percent).await?;
    }
    succeed(&hub, &publisher, &mut lease).await?;
    let expected: Vec<i64> = (1..=8).collect();
    for listener in listeners {
        assert_eq!(seqs(&listener.await??), expected);
    }
    assert_eq!(bus.jobs_listened(), 0);
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn waiting_for_completion(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let bus = hub.bus().await?;
    let publisher = EventPublisher::new(hub.nats.client().clone(), hub.queue.names().clone());
    let id = hub.submit("sync.flist", None).await?;

    let pending = bus
        .wait_for_completion(id, Duration::from_millis(300))
        .await?;
    assert_eq!(
        pending.state,
        JobState::Queued,
        "times out with the job as it is"
    );

    let mut lease = claim(&hub, &publisher, id).await?;
    let waiter = {
        let bus = hub.bus().await?;
        tokio::spawn(async move { bus.wait_for_completion(id, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    succeed(&hub, &publisher, &mut lease).await?;
    let done = waiter.await??;
    assert_eq!(done.state, JobState::Succeeded);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "woken by the live event"
    );
    assert_eq!(
        bus.wait_for_completion(id, Duration::ZERO).await?.state,
        JobState::Succeeded
    );

    let unknown = bus.follow(Uuid::new_v4(), 0).collect::<Vec<_>>().await;
    assert!(matches!(
        unknown.as_slice(),
        [Err(JobsError::Db(hub_db::DbError::NotFound(_)))]
    ));
    hub.cleanup().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn observers_see_every_live_event_in_order(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let bus = hub.bus().await?;
    let publisher = EventPublisher::new(hub.nats.client().clone(), hub.queue.names().clone());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Uuid, i64)>::new()));
    let recorder = std::sync::Arc::clone(&seen);
    bus.observe(std::sync::Arc::new(move |event: &JobEvent| {
        if let Ok(mut seen) = recorder.lock() {
            seen.push((event.job_id, event.seq));
        }
    }));
    // Nobody follows these jobs: observers get their events all the same.
    let first = hub.submit("first.flist", None).await?;
    let second = hub.submit("second.flist", None).await?;
    for id in [first, second] {
        let mut lease = claim(&hub, &publisher, id).await?;
        progress(&hub, &publisher, &mut lease, 50).await?;
        succeed(&hub, &publisher, &mut lease).await?;
    }
    let of = |id: Uuid| -> Vec<i64> {
        seen.lock()
            .map(|seen| {
                seen.iter()
                    .filter(|(job, seq)| *job == id && *seq >= 2)
                    .map(|(_, seq)| *seq)
                    .collect()
            })
            .unwrap_or_default()
    };
    hub_testkit::wait_until(Duration::from_secs(10), "every event observed", || async {
        Ok::<_, JobsError>((of(first).len() == 4 && of(second).len() == 4).then_some(()))
    })
    .await?;
    // Claim, progress, then the final state and its info event: each once, in order.
    assert_eq!(of(first), [2, 3, 4, 5]);
    assert_eq!(of(second), [2, 3, 4, 5]);
    hub.cleanup().await?;
    Ok(())
}
