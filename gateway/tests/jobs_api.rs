//! The job API (`/api/jobs…`) and the original progress stream `/listen/{jobid}`: access rules,
//! listing with filters and cursors, cancellation, Server-Sent Events with resume, long polls,
//! and the exact frames of `/listen`.

mod common;
mod jobs_support;

use std::time::Duration;

use common::TestHub;
use futures::StreamExt;
use jobs_support::{Form, Workers, json, post_form, token};
use sqlx::PgPool;

/// Submit an upload as `user` (acting as `active_user` when given) and return the job id.
async fn submit_as(
    hub: &TestHub,
    user: &str,
    active_user: Option<&str>,
    file: &str,
    prefer_async: bool,
) -> String {
    let bearer = format!("Bearer {}", token(user));
    let cookie = active_user.map(|account| format!("active-user={account}"));
    let mut headers = vec![("Authorization", bearer.as_str())];
    if let Some(cookie) = &cookie {
        headers.push(("Cookie", cookie.as_str()));
    }
    if prefer_async {
        headers.push(("Prefer", "respond-async"));
    }
    let form = Form::new().file("file", file, b"content");
    // Failed jobs answer an error status, with the job's location all the same.
    let response = post_form(hub, "/api/flist/me/upload", form, &headers).await;
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("/api/jobs/"))
        .expect("location")
        .to_owned()
}

async fn get_as(hub: &TestHub, user: &str, path: &str) -> reqwest::Response {
    hub.http
        .get(hub.url(path))
        .header("Authorization", format!("Bearer {}", token(user)))
        .send()
        .await
        .expect("request")
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn jobs_are_visible_to_their_owner_and_the_repository_members_only(pool: PgPool) {
    let hub = jobs_support::start(pool, jobs_support::with_auth).await;
    let workers = Workers::start(&hub).await;
    let store = hub.state.auth.store();
    store
        .add_member("acme", "alice.3bot")
        .await
        .expect("member");
    store.add_member("acme", "bob.3bot").await.expect("member");
    let own = submit_as(&hub, "alice.3bot", None, "own.tar.gz", false).await;
    let org = submit_as(&hub, "alice.3bot", Some("acme"), "org.tar.gz", false).await;

    let job = json(get_as(&hub, "alice.3bot", &format!("/api/jobs/{own}")).await).await;
    assert_eq!(job["id"], own.as_str());
    assert_eq!(job["kind"], "convert");
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["progress"], 100);
    assert_eq!(job["owner"], "alice.3bot");
    assert_eq!(job["repository"], "alice.3bot");
    assert_eq!(job["name"], "own.flist");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["result"]["stats"]["regular"], 2);
    assert!(job["error"].is_null());
    for field in ["created_at", "started_at", "finished_at", "duration"] {
        assert!(job[field].is_string(), "{field}: {job}");
    }

    // bob is a member of acme: he sees acme's job, not alice's own.
    assert_eq!(
        get_as(&hub, "bob.3bot", &format!("/api/jobs/{org}"))
            .await
            .status(),
        200
    );
    let hidden = get_as(&hub, "bob.3bot", &format!("/api/jobs/{own}")).await;
    assert_eq!(hidden.status(), 404);
    assert_eq!(
        hidden.text().await.expect("body"),
        jobs_support::coded_error_body("job id not found", "job_not_found")
    );
    for path in [
        "/api/jobs/not-a-uuid",
        "/api/jobs/9b2f6c0e-0000-4000-8000-000000000000",
    ] {
        assert_eq!(
            get_as(&hub, "alice.3bot", path).await.status(),
            404,
            "{path}"
        );
    }
    let anonymous = hub.get(&format!("/api/jobs/{own}")).await;
    assert_eq!(anonymous.status(), 401);
    // Events follow the same rule.
    let events = get_as(&hub, "carol.3bot", &format!("/api/jobs/{org}/events")).await;
    assert_eq!(events.status(), 404);
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listing_filters_and_pages_with_a_cursor(pool: PgPool) {
    let hub = jobs_support::start(pool, jobs_support::with_auth).await;
    let workers = Workers::start(&hub).await;
    hub.state
        .auth
        .store()
        .add_member("acme", "bob.3bot")
        .await
        .expect("member");
    hub.state
        .auth
        .store()
        .add_member("acme", "alice.3bot")
        .await
        .expect("member");
    let mut ids = Vec::new();
    for name in ["a.tar.gz", "b.tar.gz", "fail-invalid_archive.tar.gz"] {
        ids.push(submit_as(&hub, "alice.3bot", None, name, false).await);
    }
    let org = submit_as(&hub, "alice.3bot", Some("acme"), "c.tar.gz", false).await;
    let mine = json(get_as(&hub, "alice.3bot", "/api/jobs").await).await;
    let listed: Vec<&str> = mine["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|job| job["id"].as_str())
        .collect();
    assert_eq!(
        listed,
        [org.as_str(), &ids[2], &ids[1], &ids[0]],
        "newest first"
    );
    assert!(mine["next"].is_null());

    let failed = json(get_as(&hub, "alice.3bot", "/api/jobs?state=failed").await).await;
    assert_eq!(failed["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(failed["results"][0]["error"]["code"], "invalid_archive");
    let both = json(
        get_as(
            &hub,
            "alice.3bot",
            "/api/jobs?state=failed,succeeded&kind=convert",
        )
        .await,
    )
    .await;
    assert_eq!(both["results"].as_array().map(Vec::len), Some(4));
    let none = json(get_as(&hub, "alice.3bot", "/api/jobs?kind=docker").await).await;
    assert_eq!(none["results"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        get_as(&hub, "alice.3bot", "/api/jobs?state=bogus")
            .await
            .status(),
        400
    );
    assert_eq!(
        get_as(&hub, "alice.3bot", "/api/jobs?cursor=bogus")
            .await
            .status(),
        400
    );

    // Pages of two.
    let mut seen = Vec::new();
    let mut path = "/api/jobs?limit=2".to_owned();
    loop {
        let page = json(get_as(&hub, "alice.3bot", &path).await).await;
        for job in page["results"].as_array().expect("results") {
            seen.push(job["id"].as_str().expect("id").to_owned());
        }
        match page["next"].as_str() {
            Some(cursor) => path = format!("/api/jobs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);

    // A member lists the organisation's jobs; others may not.
    let acme = json(get_as(&hub, "bob.3bot", "/api/jobs?repository=acme").await).await;
    assert_eq!(acme["results"][0]["id"], org.as_str());
    assert_eq!(acme["results"].as_array().map(Vec::len), Some(1));
    let bob_own = json(get_as(&hub, "bob.3bot", "/api/jobs").await).await;
    assert_eq!(bob_own["results"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        get_as(&hub, "carol.3bot", "/api/jobs?repository=acme")
            .await
            .status(),
        403
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn cancel_a_running_job_once(pool: PgPool) {
    let hub = jobs_support::start(pool, jobs_support::with_auth).await;
    let workers = Workers::start(&hub).await;
    let id = submit_as(&hub, "alice.3bot", None, "hang.tar.gz", true).await;
    let delete = |user: &str| {
        hub.http
            .delete(hub.url(&format!("/api/jobs/{id}")))
            .header("Authorization", format!("Bearer {}", token(user)))
            .send()
    };
    assert_eq!(delete("bob.3bot").await.expect("request").status(), 404);
    let cancelled = delete("alice.3bot").await.expect("request");
    assert_eq!(cancelled.status(), 200);
    let body = json(cancelled).await;
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["error"]["code"], "cancelled");
    assert_eq!(body["error"]["message"], "cancelled by alice.3bot");
    let again = delete("alice.3bot").await.expect("request");
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.text().await.expect("body"),
        jobs_support::coded_error_body("job already finished", "conflict")
    );
    workers.stop().await;
    hub.stop().await;
}

/// Read a whole SSE body (the stream ends after the job's final event).
async fn read_stream(response: reqwest::Response) -> String {
    let mut body = String::new();
    let mut chunks = response.bytes_stream();
    let reading = async {
        while let Some(chunk) = chunks.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the stream ends with the job");
    body
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn events_replay_follow_and_resume(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    let form = Form::new().file("file", "slow-800.tar.gz", b"content");
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Prefer", "respond-async")],
    )
    .await;
    let id = json(response).await["id"].as_str().expect("id").to_owned();
    // Several listeners at once, while the job runs.
    let listen = |path: String| {
        let request = hub.http.get(hub.url(&path));
        async move { request.send().await.expect("events") }
    };
    let (first, second) = tokio::join!(
        listen(format!("/api/jobs/{id}/events")),
        listen(format!("/api/jobs/{id}/events"))
    );
    assert_eq!(
        first.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let (first, second) = tokio::join!(read_stream(first), read_stream(second));
    assert_eq!(first, second);
    let messages: Vec<&str> = first
        .split("\n\n")
        .filter(|m| !m.is_empty() && !m.starts_with(':'))
        .collect();
    // queued, running, update, info, succeeded.
    assert_eq!(messages.len(), 5, "{first}");
    for (index, message) in messages.iter().enumerate() {
        let seq = index + 1;
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.first().copied(), Some(format!("id: {seq}").as_str()));
        let data = lines
            .iter()
            .find_map(|line| line.strip_prefix("data: "))
            .expect("data line");
        let event: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(event["seq"], seq);
        assert_eq!(event["job_id"], id.as_str());
        let kind = event["kind"].as_str().expect("kind");
        assert!(lines.contains(&format!("event: {kind}").as_str()));
    }
    assert!(messages[4].contains("\"state\":\"succeeded\""));
    // Resume after event 3 with Last-Event-ID, or ?after=.
    let resumed = hub
        .http
        .get(hub.url(&format!("/api/jobs/{id}/events")))
        .header("Last-Event-ID", "3")
        .send()
        .await
        .expect("events");
    let resumed = read_stream(resumed).await;
    assert!(resumed.starts_with("id: 4\n"), "{resumed}");
    let after = read_stream(listen(format!("/api/jobs/{id}/events?after=4")).await).await;
    assert!(after.starts_with("id: 5\n"), "{after}");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listen_sends_the_original_frames_to_every_listener(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    let unknown = hub
        .get("/listen/0b6f6c0e-1111-4000-8000-000000000000")
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.text().await.expect("body"),
        "{\"message\": \"job id not found\", \"status\": \"error\"}\n"
    );
    let garbage = hub.get("/listen/garbage").await;
    assert_eq!(garbage.status(), 404);

    let response = post_form(
        &hub,
        "/upload",
        Form::new().file("file", "slow-500.tar.gz", b"content"),
        &[],
    )
    .await;
    let id = json(response).await["jobid"]
        .as_str()
        .expect("jobid")
        .to_owned();
    let stats = "{\"regular\": 2, \"symlink\": 1, \"directory\": 3, \"special\": 0, \
                 \"failure\": 0, \"fullsize\": 1234}";
    let expected = format!(
        "data: {{\"status\": \"update\", \"message\": \"Building: processing item 1 of 2\", \
         \"progress\": 50}}\n\n\
         data: {{\"status\": \"info\", \"info\": {{\"filename\": \"slow-500.flist\", \"flist\": {stats}}}}}\n\n"
    );
    let live = hub.get(&format!("/listen/{id}")).await;
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    assert_eq!(read_stream(live).await, expected);
    // After the end: replayed from the start, any number of times.
    for _ in 0..2 {
        let replay = hub.get(&format!("/listen/{id}")).await;
        assert_eq!(read_stream(replay).await, expected);
    }

    // A failed job ends with an error frame.
    let response = post_form(
        &hub,
        "/upload",
        Form::new().file("file", "fail-invalid_archive.tar.gz", b"x"),
        &[],
    )
    .await;
    let id = json(response).await["jobid"]
        .as_str()
        .expect("jobid")
        .to_owned();
    let failed = hub.get(&format!("/listen/{id}")).await;
    let frames = read_stream(failed).await;
    assert!(
        frames.ends_with(
            "data: {\"status\": \"error\", \"message\": \"scripted invalid_archive\"}\n\n"
        ),
        "{frames}"
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn long_poll_answers_at_the_next_state_change(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.gateway.max_long_poll = Duration::from_secs(3);
    })
    .await;
    // No worker yet: the job stays queued, so the poll runs to its bound.
    let form = Form::new().file("file", "a.tar.gz", b"content");
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Prefer", "respond-async")],
    )
    .await;
    let id = json(response).await["id"].as_str().expect("id").to_owned();
    let started = std::time::Instant::now();
    let polled = json(hub.get(&format!("/api/jobs/{id}?wait=1h")).await).await;
    let waited = started.elapsed();
    assert_eq!(polled["status"], "queued");
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(6),
        "capped by max_long_poll: {waited:?}"
    );
    // A worker arrives: the poll answers at the change, well before its bound.
    let poll = hub
        .http
        .get(hub.url(&format!("/api/jobs/{id}?wait=3s")))
        .send();
    let workers = Workers::start(&hub).await;
    let started = std::time::Instant::now();
    let polled = json(poll.await.expect("poll")).await;
    assert_ne!(polled["status"], "queued");
    assert!(started.elapsed() < Duration::from_millis(2900));
    assert_eq!(
        hub.get(&format!("/api/jobs/{id}?wait=soon")).await.status(),
        400
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn post_jobs_submits_docker_and_merge_as_json(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    jobs_support::seed_flist(&hub, "tf", "base.flist").await;
    let post = |body: serde_json::Value| hub.http.post(hub.url("/api/jobs")).json(&body).send();
    let docker =
        post(serde_json::json!({"kind": "docker", "image": "alpine:3.20", "format": "fl"}))
            .await
            .expect("request");
    assert_eq!(docker.status(), 202);
    let docker = json(docker).await;
    assert_eq!(docker["kind"], "docker");
    let merge = post(serde_json::json!({"kind": "merge", "sources": ["tf/base"], "target": "m", "mode": "overlay"}))
        .await
        .expect("request");
    assert_eq!(merge.status(), 202);
    let merge = json(merge).await;
    for (job, name) in [(&docker, "alpine-3.20.fl"), (&merge, "m.flist")] {
        let id = job["id"].as_str().expect("id");
        let done = json(hub.get(&format!("/api/jobs/{id}?wait=10s")).await).await;
        assert_eq!(done["name"], name);
    }
    let bad = post(serde_json::json!({"kind": "merge", "sources": [], "target": "m"}))
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["message"], "no source found");
    let unknown = post(serde_json::json!({"kind": "convert"}))
        .await
        .expect("request");
    assert_eq!(unknown.status(), 400);
    workers.stop().await;
    hub.stop().await;
}
