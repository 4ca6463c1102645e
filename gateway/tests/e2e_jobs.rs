//! End to end on the real services with the REAL workers in-process: an archive upload becomes
//! a listed flist that downloads and unpacks to the source tree; merge and homemade-flist
//! verification; the `/listen` stream of a real conversion; a worker killed mid-job; the chunk
//! store going away mid-job (0-db double stopped and restarted on the same port); 50
//! concurrent submissions.

mod common;
mod e2e_support;
mod jobs_support;

use std::time::{Duration, Instant};

use common::TestHub;
use e2e_support::{RealWorkers, Stalling, convert_handler, download_and_unpack, write_tree};
use hub_testkit::{snapshot, tar_gz};
use hub_zdb_double::{DoubleConfig, ZdbDouble};
use jobs_support::{Form, json, post_form};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Upload `archive` as `<name>.tar.gz` and return the reply.
async fn upload(
    hub: &TestHub,
    name: &str,
    archive: &[u8],
    prefer_async: bool,
) -> reqwest::Response {
    let form = Form::new().file("file", &format!("{name}.tar.gz"), archive);
    let headers: &[(&str, &str)] = if prefer_async {
        &[("Prefer", "respond-async")]
    } else {
        &[]
    };
    post_form(hub, "/api/flist/me/upload", form, headers).await
}

/// Poll `GET /api/jobs/{id}` (long polls) until `done` holds, for at most `within`.
async fn poll_until(
    hub: &TestHub,
    id: &str,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let job = json(hub.get(&format!("/api/jobs/{id}?wait=2s")).await).await;
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never got there: {job}");
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_uploaded_archive_is_listed_downloads_and_unpacks_identically(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = RealWorkers::start(&hub).await;
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 1);
    let archive = tar_gz(source.path()).expect("archive");

    let response = upload(&hub, "app", &archive, false).await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert_eq!(body["status"], "success");
    assert_eq!(body["payload"]["name"], "app.flist");
    let stats = &body["payload"]["files"]["response"];
    assert_eq!(stats["regular"], 4, "{body}");
    assert_eq!(stats["symlink"], 1);
    assert_eq!(
        stats["fullsize"],
        1_300_000 + "host-1\n".len() as u64 + "[server]\nport = 8080\n".len() as u64
    );

    let listing = json(hub.get("/api/flist/Administrator").await).await;
    assert!(
        listing
            .as_array()
            .expect("entries")
            .iter()
            .any(|entry| entry["name"] == "app.flist" && entry["type"] == "regular"),
        "{listing}"
    );
    let unpacked = download_and_unpack(&hub, "Administrator", "app.flist").await;
    assert_eq!(
        snapshot(unpacked.path()).expect("snapshot"),
        snapshot(source.path()).expect("snapshot")
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listen_streams_a_real_conversion_in_the_original_frames(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = RealWorkers::start(&hub).await;
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 2);
    let form = Form::new().file(
        "file",
        "site.tar.gz",
        &tar_gz(source.path()).expect("archive"),
    );
    let id = json(post_form(&hub, "/upload", form, &[]).await).await["jobid"]
        .as_str()
        .expect("jobid")
        .to_owned();
    let body = hub
        .get(&format!("/listen/{id}"))
        .await
        .text()
        .await
        .expect("stream");
    let frames: Vec<serde_json::Value> = body
        .split("\n\n")
        .filter(|frame| !frame.is_empty() && !frame.starts_with(':'))
        .map(|frame| {
            let data = frame.strip_prefix("data: ").expect("only data lines");
            assert!(!data.contains('\n'), "one line per frame");
            serde_json::from_str(data).expect("json")
        })
        .collect();
    let (last, updates) = frames.split_last().expect("frames");
    assert!(!updates.is_empty());
    for update in updates {
        assert_eq!(update["status"], "update", "{update}");
        assert!(update["message"].is_string());
        assert!(update["progress"].as_u64().is_some_and(|p| p <= 100));
    }
    assert_eq!(last["status"], "info");
    assert_eq!(last["info"]["filename"], "site.flist");
    assert_eq!(last["info"]["flist"]["regular"], 4);
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn merge_and_homemade_flists_end_to_end(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = RealWorkers::start(&hub).await;
    let first = tempfile::tempdir().expect("tempdir");
    write_tree(first.path(), 1);
    std::fs::write(first.path().join("only-in-first"), b"first").expect("write");
    let second = tempfile::tempdir().expect("tempdir");
    write_tree(second.path(), 2);
    std::fs::write(second.path().join("only-in-second"), b"second").expect("write");
    for (name, dir) in [("first", &first), ("second", &second)] {
        let response = upload(&hub, name, &tar_gz(dir.path()).expect("archive"), false).await;
        assert_eq!(response.status(), 200, "{name}");
    }

    let merged = hub
        .http
        .post(hub.url("/api/flist/me/merge/both"))
        .body("[\"Administrator/first\", \"Administrator/second.flist\"]")
        .send()
        .await
        .expect("merge");
    assert_eq!(merged.status(), 200);
    assert_eq!(json(merged).await["payload"]["name"], "both.flist");
    let unpacked = download_and_unpack(&hub, "Administrator", "both.flist").await;
    let tree = snapshot(unpacked.path()).expect("snapshot");
    // Union, the first source winning on conflicts (hub-api §11.3).
    let mut expected = snapshot(second.path()).expect("snapshot");
    expected.extend(snapshot(first.path()).expect("snapshot"));
    assert_eq!(tree, expected);

    // The published flist's bytes, uploaded back as a homemade flist: every chunk is there.
    let bytes = hub.download("/Administrator/first.flist").await;
    let form = Form::new().file("file", "homemade.flist", &bytes);
    let response = post_form(&hub, "/api/flist/me/upload-flist", form, &[]).await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    let dump = &body["payload"]["files"]["response"];
    assert_eq!(dump["failure"], 0);
    assert!(
        dump["content"]
            .as_array()
            .expect("content")
            .iter()
            .any(|entry| entry["path"] == "/usr/bin/tool" && entry["size"] == 1_300_000),
        "{dump}"
    );
    let served = hub.download("/Administrator/homemade.flist").await;
    assert_eq!(served, bytes, "a homemade flist is published unchanged");

    let form = Form::new().file(
        "file",
        "broken.flist",
        &e2e_support::flist_with_missing_chunk(),
    );
    let response = post_form(&hub, "/api/flist/me/upload-flist", form, &[]).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json(response).await["message"],
        "unauthorized upload, contents is not fully present on backend"
    );
    let form = Form::new().file("file", "garbage.flist", b"not a flist at all");
    let response = post_form(&hub, "/api/flist/me/upload-flist", form, &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["message"], "invalid flist");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_worker_killed_mid_job_leaves_the_job_to_another_exactly_once(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 3);
    // The first worker stalls in the middle of the job and is killed there.
    let doomed = CancellationToken::new();
    let stalling = Stalling {
        inner: convert_handler(&hub),
        stall: Duration::from_secs(60),
    };
    let first = hub.spawn_worker(stalling, &doomed).await;
    let response = upload(
        &hub,
        "resilient",
        &tar_gz(source.path()).expect("archive"),
        true,
    )
    .await;
    let id = json(response).await["id"].as_str().expect("id").to_owned();
    poll_until(&hub, &id, Duration::from_secs(20), |job| {
        job["status"] == "running"
    })
    .await;
    first.abort();
    let _ = first.await;

    let shutdown = CancellationToken::new();
    let second = hub.spawn_worker(convert_handler(&hub), &shutdown).await;
    let job = poll_until(&hub, &id, Duration::from_secs(60), |job| {
        job["status"] != "running" && job["status"] != "queued"
    })
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempt"], 2);

    // Exactly once: one result message, one final state, one published entry.
    let events = hub
        .get(&format!("/api/jobs/{id}/events"))
        .await
        .text()
        .await
        .expect("stream");
    assert_eq!(events.matches("event: info\n").count(), 1, "{events}");
    assert_eq!(
        events.matches("\"state\":\"succeeded\"").count(),
        1,
        "{events}"
    );
    let unpacked = download_and_unpack(&hub, "Administrator", "resilient.flist").await;
    assert_eq!(
        snapshot(unpacked.path()).expect("snapshot"),
        snapshot(source.path()).expect("snapshot")
    );
    shutdown.cancel();
    let _ = second.await;
    hub.stop().await;
}

/// A hub whose chunk store is a 0-db double, with `attempts` attempts per job.
async fn hub_on_zdb(pool: PgPool, double: &ZdbDouble, attempts: i32) -> TestHub {
    let url = double.url("default");
    jobs_support::start(pool, move |config| {
        config.common.store = url;
        config.jobs.max_attempts = attempts;
        config.jobs.max_deliver = i64::from(attempts) + 5;
        config.jobs.retry_backoff = Duration::from_millis(300);
        config.jobs.max_retry_backoff = Duration::from_millis(800);
    })
    .await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_store_outage_is_retried_until_the_store_returns(pool: PgPool) {
    let double = ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("0-db double");
    let hub = hub_on_zdb(pool, &double, 20).await;
    let workers = RealWorkers::start(&hub).await;
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 4);
    double.stop().await;
    let response = upload(
        &hub,
        "patient",
        &tar_gz(source.path()).expect("archive"),
        true,
    )
    .await;
    let id = json(response).await["id"].as_str().expect("id").to_owned();
    // The job fails transiently and waits for its next attempt.
    let retrying = poll_until(&hub, &id, Duration::from_secs(60), |job| {
        job["attempt"].as_i64().is_some_and(|attempt| attempt >= 2)
    })
    .await;
    assert_eq!(retrying["error"]["code"], "transient", "{retrying}");
    double.restart().await.expect("restart on the same port");
    let job = poll_until(&hub, &id, Duration::from_secs(60), |job| {
        job["status"] == "succeeded" || job["status"] == "failed"
    })
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let unpacked = download_and_unpack(&hub, "Administrator", "patient.flist").await;
    assert_eq!(
        snapshot(unpacked.path()).expect("snapshot"),
        snapshot(source.path()).expect("snapshot")
    );
    workers.stop().await;
    hub.stop().await;
    double.shutdown().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_store_that_never_returns_fails_the_job_clearly(pool: PgPool) {
    let double = ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("0-db double");
    let hub = hub_on_zdb(pool, &double, 2).await;
    let workers = RealWorkers::start(&hub).await;
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 5);
    double.stop().await;
    let response = upload(
        &hub,
        "doomed",
        &tar_gz(source.path()).expect("archive"),
        false,
    )
    .await;
    assert_eq!(response.status(), 500);
    let body = json(response).await;
    assert_eq!(body["code"], "attempts_exhausted", "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.starts_with("flist creation failed: gave up after 2 attempts"),
        "{message}"
    );
    let published = hub_db::entries::get(&hub.state.pool, "Administrator", "doomed.flist")
        .await
        .expect("lookup");
    assert!(published.is_none());
    workers.stop().await;
    hub.stop().await;
    double.shutdown().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn fifty_concurrent_submissions_all_finish(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.concurrent_jobs = 0;
        config.limits.requests_per_minute = 0;
    })
    .await;
    let workers = RealWorkers::start(&hub).await;
    let source = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(source.path().join("etc")).expect("mkdir");
    let archives: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            std::fs::write(source.path().join("etc/version"), format!("{i}\n")).expect("write");
            tar_gz(source.path()).expect("archive")
        })
        .collect();
    let started = Instant::now();
    let names: Vec<String> = (0..archives.len()).map(|i| format!("many-{i}")).collect();
    let replies = futures::future::join_all(
        names
            .iter()
            .zip(&archives)
            .map(|(name, archive)| upload(&hub, name, archive, false)),
    )
    .await;
    let elapsed = started.elapsed();
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.status(), 200, "submission {i}");
        assert_eq!(
            json(reply).await["payload"]["name"],
            format!("many-{i}.flist")
        );
    }
    println!("50 concurrent synchronous uploads finished in {elapsed:?}");
    let listing = json(hub.get("/api/flist/Administrator").await).await;
    assert_eq!(listing.as_array().map(Vec::len), Some(50));
    let page = json(hub.get("/api/jobs?state=succeeded&limit=100").await).await;
    assert_eq!(page["results"].as_array().map(Vec::len), Some(50));
    workers.stop().await;
    hub.stop().await;
}
