//! Limits that must hold under concurrency and failures (issue "multi-tenant hardening"): the
//! concurrent-job limit under parallel uploads and gateway crashes, the repository quota on
//! every route that adds an entry, malformed bodies, a PostgreSQL outage, and crosslinks into
//! one's own repository.

mod common;
mod jobs_support;

use std::time::Duration;

use futures::future::join_all;
use hub_db::jobs::JobState;
use jobs_support::{Form, Workers, json, post_form, seed_flist};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::TestHub;

/// `POST /api/flist/me/upload` of `name` with `Prefer: respond-async` over a raw socket, the
/// body sent in two halves `pause` apart (so that many uploads are in flight at once). Returns
/// the status code and the body.
async fn upload_in_two_halves(hub: &TestHub, name: &str, pause: Duration) -> (u16, String) {
    let body = Form::new().file("file", name, &[7u8; 64 * 1024]).body();
    let head = format!(
        "POST /api/flist/me/upload HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\n\
         Content-Length: {}\r\nPrefer: respond-async\r\nConnection: close\r\n\r\n",
        hub.addr,
        Form::content_type(),
        body.len()
    );
    let mut socket = TcpStream::connect(hub.addr).await.expect("connect");
    let (first, second) = body.split_at(body.len() / 2);
    socket.write_all(head.as_bytes()).await.expect("head");
    socket.write_all(first).await.expect("first half");
    tokio::time::sleep(pause).await;
    socket.write_all(second).await.expect("second half");
    read_response(&mut socket).await
}

async fn read_response(socket: &mut TcpStream) -> (u16, String) {
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.expect("response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn jobs_in(pool: &PgPool, states: &[JobState]) -> i64 {
    let states: Vec<&str> = states.iter().map(|state| state.as_str()).collect();
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = ANY($1)")
        .bind(states)
        .fetch_one(pool)
        .await
        .expect("count jobs")
}

async fn redis(hub: &TestHub) -> redis::aio::MultiplexedConnection {
    redis::Client::open(hub.config.common.redis_url.as_str())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

fn slots_key(hub: &TestHub) -> String {
    format!(
        "{}:limits:jobs:Administrator",
        hub.config.common.nats_prefix
    )
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn parallel_uploads_never_exceed_the_concurrent_job_limit(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 3;
    })
    .await;
    let workers = Workers::start(&hub).await;
    let uploads = (0..12).map(|i| {
        let name = format!("hang-{i}.tar.gz");
        let hub = &hub;
        async move { upload_in_two_halves(hub, &name, Duration::from_millis(700)).await }
    });
    let answers = join_all(uploads).await;
    let accepted = answers.iter().filter(|(status, _)| *status == 202).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .collect();
    assert_eq!(accepted, 3, "answers: {answers:?}");
    assert_eq!(refused.len(), 9, "answers: {answers:?}");
    assert!(
        refused
            .iter()
            .all(|(_, text)| text.contains("too_many_jobs")
                && text.to_ascii_lowercase().contains("retry-after"))
    );
    let active = jobs_in(&hub.state.pool, &[JobState::Queued, JobState::Running]).await;
    assert_eq!(active, 3, "jobs queued or running at once");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_concurrent_job_limit_holds_across_gateway_replicas(pool: PgPool) {
    let hub = jobs_support::start(pool.clone(), |config| {
        config.limits.concurrent_jobs = 3;
    })
    .await;
    let prefix = hub.config.common.nats_prefix.clone();
    let replica = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 3;
        config.common.nats_prefix = prefix;
    })
    .await;
    let workers = Workers::start(&hub).await;
    let uploads = (0..12).map(|i| {
        let name = format!("hang-{i}.tar.gz");
        let gateway = if i % 2 == 0 { &hub } else { &replica };
        async move { upload_in_two_halves(gateway, &name, Duration::from_millis(700)).await }
    });
    let answers = join_all(uploads).await;
    let accepted = answers.iter().filter(|(status, _)| *status == 202).count();
    assert_eq!(accepted, 3, "answers: {answers:?}");
    let active = jobs_in(&hub.state.pool, &[JobState::Queued, JobState::Running]).await;
    assert_eq!(active, 3, "jobs queued or running at once");
    workers.stop().await;
    replica.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_slot_left_by_a_crashed_gateway_comes_back_after_its_lease(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 1;
        config.limits.job_slot_lease = Duration::from_secs(2);
    })
    .await;
    let workers = Workers::start(&hub).await;
    // A gateway that took the slot for an upload and died: the slot is there, nothing renews
    // or releases it, and no job row exists.
    let identity = hub_auth::Identity {
        user: "Administrator".into(),
        username: "Administrator".into(),
        accounts: vec!["Administrator".into()],
        method: hub_auth::AuthMethod::Disabled,
    };
    let orphan = hub_gateway::limits::acquire_job_slot(&hub.state, &identity, uuid::Uuid::new_v4())
        .await
        .expect("slot");
    drop(orphan);
    let upload = || {
        post_form(
            &hub,
            "/api/flist/me/upload",
            Form::new().file("file", "app.tar.gz", b"content"),
            &[("Prefer", "respond-async")],
        )
    };
    assert_eq!(
        upload().await.status(),
        429,
        "the dead gateway's slot still counts"
    );
    let started = std::time::Instant::now();
    let accepted = loop {
        let status = upload().await.status();
        if status == 202 || started.elapsed() > Duration::from_secs(10) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(accepted, 202, "the slot came back");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "came back after {:?}, lease 2 s",
        started.elapsed()
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_slow_upload_keeps_its_slot_beyond_the_lease(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 1;
        config.limits.job_slot_lease = Duration::from_millis(600);
    })
    .await;
    let workers = Workers::start(&hub).await;
    // The slow upload takes 2 s, over three leases: its renewal must keep the slot.
    let slow = upload_in_two_halves(&hub, "hang-slow.tar.gz", Duration::from_secs(2));
    let others = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        upload_in_two_halves(&hub, "hang-other.tar.gz", Duration::ZERO).await
    };
    let ((slow, _), (other, _)) = tokio::join!(slow, others);
    assert_eq!(slow, 202);
    assert_eq!(other, 429, "the slow upload's slot was renewed");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_async_jobs_slot_is_freed_when_it_finishes(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 2;
    })
    .await;
    let workers = Workers::start(&hub).await;
    let accepted = post_form(
        &hub,
        "/api/flist/me/upload",
        Form::new().file("file", "slow-300.tar.gz", b"content"),
        &[("Prefer", "respond-async")],
    )
    .await;
    assert_eq!(accepted.status(), 202);
    let mut redis = redis(&hub).await;
    let key = slots_key(&hub);
    let held: i64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("zcard");
    assert_eq!(held, 1, "the queued job holds a slot");
    // No later submission reclaims it: the job's final event frees it.
    let freed = hub_testkit::wait_until(Duration::from_secs(10), "slot freed", || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move {
            let held: i64 = redis::cmd("ZCARD")
                .arg(&key)
                .query_async(&mut redis)
                .await?;
            Ok::<_, redis::RedisError>((held == 0).then_some(()))
        }
    })
    .await;
    assert!(freed.is_ok(), "the finished job's slot is still held");
    workers.stop().await;
    hub.stop().await;
}

/// GET `path` as the hub's caller; the status and the JSON body.
async fn get(hub: &TestHub, path: &str) -> (u16, serde_json::Value) {
    let response = hub.get(path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn held_entries(pool: &PgPool, repository: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM entries WHERE repository = $1) \
              + (SELECT count(*) FROM tag_entries WHERE repository = $1)",
    )
    .bind(repository)
    .fetch_one(pool)
    .await
    .expect("count entries")
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn every_route_that_adds_an_entry_keeps_the_quota_under_parallel_requests(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.repository_max_entries = 6;
    })
    .await;
    seed_flist(&hub, "Administrator", "base.flist").await;
    seed_flist(&hub, "other", "app.flist").await;
    hub_db::tags::put_entry(
        &hub.state.pool,
        "other",
        "v1",
        "app.flist",
        "other",
        "app.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("tag");
    let mut paths = Vec::new();
    for i in 0..8 {
        paths.push(format!("/api/flist/me/base.flist/link/l{i}.flist"));
        paths.push(format!(
            "/api/flist/me/c{i}.flist/crosslink/other/app.flist"
        ));
        paths.push(format!("/api/flist/me/promote/other/app.flist/p{i}.flist"));
        paths.push(format!("/api/flist/me/t{i}/x{i}.flist/tag/other/app.flist"));
        paths.push(format!("/api/flist/me/ct{i}/crosstag/other/v1"));
    }
    let answers = join_all(paths.iter().map(|path| get(&hub, path))).await;
    for (status, body) in &answers {
        assert!(
            *status == 200 || (*status == 403 && body["code"] == "quota_exceeded"),
            "{status} {body}"
        );
    }
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(ok, 5, "five entries fit beside base.flist");
    assert_eq!(held_entries(&hub.state.pool, "Administrator").await, 6);
    // At the limit, replacing and renaming (which add nothing) still work.
    let (replaced, _) = get(&hub, "/api/flist/me/promote/other/app.flist/base.flist").await;
    assert_eq!(replaced, 200);
    let (status, body) = get(&hub, "/api/flist/me/base.flist/rename/renamed.flist").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(held_entries(&hub.state.pool, "Administrator").await, 6);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn parallel_jobs_cannot_publish_beyond_the_quota(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.repository_max_entries = 3;
        config.limits.concurrent_jobs = 0;
    })
    .await;
    seed_flist(&hub, "Administrator", "base.flist").await;
    // Six uploads pass the early check (one entry held) and wait in the queue…
    let uploads = (0..6).map(|i| {
        post_form(
            &hub,
            "/api/flist/me/upload",
            Form::new().file("file", &format!("app-{i}.tar.gz"), b"content"),
            &[("Prefer", "respond-async")],
        )
    });
    let accepted = join_all(uploads).await;
    assert!(accepted.iter().all(|response| response.status() == 202));
    // …then publish concurrently: exactly two fit.
    let workers = Workers::start(&hub).await;
    let settled = hub_testkit::wait_until(Duration::from_secs(20), "jobs settled", || async {
        let active = jobs_in(&hub.state.pool, &[JobState::Queued, JobState::Running]).await;
        Ok::<_, std::convert::Infallible>((active == 0).then_some(()))
    })
    .await;
    assert!(settled.is_ok());
    assert_eq!(held_entries(&hub.state.pool, "Administrator").await, 3);
    assert_eq!(jobs_in(&hub.state.pool, &[JobState::Succeeded]).await, 2);
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT error->>'code' FROM jobs WHERE state = 'failed' ORDER BY created_at",
    )
    .fetch_all(&hub.state.pool)
    .await
    .expect("failures");
    assert_eq!(codes, vec!["quota_exceeded"; 4]);
    // The original's synchronous route answers such a failure with the quota's 403.
    let refused = post_form(
        &hub,
        "/api/flist/me/upload",
        Form::new().file("file", "late.tar.gz", b"content"),
        &[],
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json(refused).await["code"], "quota_exceeded");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_truncated_multipart_body_is_a_client_error(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let mut body = Form::new()
        .file("file", "app.tar.gz", &[1u8; 300_000])
        .body();
    // Cut inside the file part: the closing boundary never comes.
    body.truncate(200_000);
    let response = hub
        .http
        .post(hub.url("/api/flist/me/upload"))
        .header("Content-Type", Form::content_type())
        .header("Prefer", "respond-async")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("retry-after").is_none());
    let body = json(response).await;
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("multipart"), "{body}");
    assert_eq!(
        jobs_in(&hub.state.pool, &JobState::ALL).await,
        0,
        "no job for a bad body"
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_database_outage_answers_503_with_retry_after(pool: PgPool) {
    let hub = jobs_support::start(pool.clone(), jobs_support::with_auth).await;
    seed_flist(&hub, "alice", "app.flist").await;
    let bearer = format!("bearer {}", jobs_support::token("alice"));
    let request = |path: &str| {
        hub.http
            .get(hub.url(path))
            .header("Authorization", &bearer)
            .send()
    };
    let ok = request("/api/flist/alice/app.flist/light")
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    // The database goes away under the running gateway.
    hub.state.pool.close().await;
    for path in [
        "/api/flist/me",
        "/api/flist/alice/app.flist/light",
        "/api/flist/alice",
        "/api/repositories",
        "/api/flist/me/app.flist/link/l.flist",
        "/api/jobs/7f0c3a52-3e0e-4f4e-9a9e-0b6d1c9e8f00",
    ] {
        let response = request(path).await.expect("request");
        assert_eq!(response.status(), 503, "{path}");
        assert!(response.headers().contains_key("retry-after"), "{path}");
    }
    let upload = hub
        .http
        .post(hub.url("/api/flist/me/upload"))
        .header("Authorization", &bearer)
        .header("Content-Type", Form::content_type())
        .body(Form::new().file("file", "app.tar.gz", b"content").body())
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 503);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_crosslink_into_ones_own_repository_reads_back_as_repo_slash_name(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    seed_flist(&hub, "Administrator", "app.flist").await;
    let (status, _) = get(
        &hub,
        "/api/flist/me/mine.flist/crosslink/Administrator/app.flist",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = get(&hub, "/api/flist/me/app.flist/link/local.flist").await;
    assert_eq!(status, 200);
    let (_, listing) = get(&hub, "/api/flist/Administrator").await;
    let target = |name: &str| {
        listing
            .as_array()
            .and_then(|entries| entries.iter().find(|entry| entry["name"] == name))
            .map(|entry| entry["target"].clone())
    };
    assert_eq!(
        target("mine.flist"),
        Some(serde_json::json!("Administrator/app.flist"))
    );
    assert_eq!(target("local.flist"), Some(serde_json::json!("app.flist")));
    let (_, light) = get(&hub, "/api/flist/Administrator/mine.flist/light").await;
    // `/light` gives the raw link text (hub-api §6.7), which for a crosslink is `../repo/name`.
    assert_eq!(light["target"], "../Administrator/app.flist", "{light}");
    hub.stop().await;
}
