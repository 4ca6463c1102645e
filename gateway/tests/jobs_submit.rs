//! The original hub's job-submitting routes (hub-api §7.9–7.12, web `POST /upload`) against the
//! real services, with in-process workers running a scripted handler: exact reply bodies, the
//! catalogue errors of failed jobs, `Prefer: respond-async`, `Idempotency-Key`, the sync timeout
//! and the upload limit.

mod common;
mod jobs_support;

use std::time::Duration;

use hub_db::entries;
use hub_proto::v1::job_envelope::Payload;
use jobs_support::{DUMP, Form, Workers, error_body, json, location, post_form, seed_flist};
use sqlx::PgPool;

const STATS: &str = "{\"regular\": 2, \"symlink\": 1, \"directory\": 3, \"special\": 0, \
                     \"failure\": 0, \"fullsize\": 1234}";

fn upload_success(name: &str, job: &str) -> String {
    format!(
        "{{\"status\": \"success\", \"payload\": {{\"name\": \"{name}\", \"files\": \
         {{\"success\": true, \"error\": null, \"response\": {STATS}, \"status\": 0}}, \
         \"job\": \"{job}\"}}}}\n"
    )
}

fn job_of(location: &str) -> String {
    location
        .strip_prefix("/api/jobs/")
        .expect("a job location")
        .to_owned()
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn upload_replies_with_the_original_shape_once_the_job_is_done(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    let archive: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let form = Form::new()
        .text("metadata-description", "my app")
        .text("metadata-readme", "ignored: protected")
        .text("metadata-backend", "ignored: protected")
        .file("file", "build.tar.gz", &archive);
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("X-Original-Name", "/home/me/build/my-app-1.0.tar.gz")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let job = job_of(&location(&response));
    assert_eq!(
        response.text().await.expect("body"),
        upload_success("my-app-1.0.flist", &job)
    );

    let seen = workers.seen_job(&job).expect("the worker ran the job");
    assert_eq!(seen.envelope.owner, "Administrator");
    assert_eq!(seen.envelope.repository, "Administrator");
    assert_eq!(seen.envelope.target_name, "my-app-1.0.flist");
    let Some(Payload::Convert(convert)) = seen.envelope.payload else {
        panic!("not a convert job: {:?}", seen.envelope.payload);
    };
    assert_eq!(convert.original_name, "build.tar.gz");
    assert_eq!(
        convert.metadata.into_iter().collect::<Vec<_>>(),
        vec![("description".to_owned(), "my app".to_owned())]
    );
    use sha2::Digest as _;
    let (size, digest) = seen.upload.expect("a staged upload");
    assert_eq!(size, archive.len());
    assert_eq!(digest, <[u8; 32]>::from(sha2::Sha256::digest(&archive)));
    assert!(
        entries::get(&hub.state.pool, "Administrator", "my-app-1.0.flist")
            .await
            .expect("entry")
            .is_some(),
        "the flist is published"
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn every_archive_type_and_the_fl_format_are_accepted(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    for (file, expected) in [
        ("a.tgz", "a.flist"),
        ("b.tar", "b.flist"),
        ("c.tar.zst", "c.flist"),
        ("d.tar.xz", "d.flist"),
        ("e.tar.bz2", "e.flist"),
    ] {
        let form = Form::new().file("file", file, b"content");
        let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(json(response).await["payload"]["name"], expected);
    }
    let form = Form::new().file("file", "f.tar.gz", b"content");
    let response = post_form(&hub, "/api/flist/me/upload?format=fl", form, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["payload"]["name"], "f.fl");
    let form = Form::new()
        .text("format", "fl")
        .file("file", "g.tar.gz", b"content");
    let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
    assert_eq!(json(response).await["payload"]["name"], "g.fl");
    let form = Form::new().file("file", "h.tar.gz", b"content");
    let response = post_form(&hub, "/api/flist/me/upload?format=zip", form, &[]).await;
    assert_eq!(response.status(), 400);
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn upload_request_errors(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let not_multipart = hub
        .http
        .post(hub.url("/api/flist/me/upload"))
        .body("x")
        .send()
        .await
        .expect("request");
    assert_eq!(not_multipart.status(), 400);
    assert_eq!(
        not_multipart.text().await.expect("body"),
        error_body("no file found")
    );
    for (form, message) in [
        (Form::new().text("other", "x"), "no file found"),
        (Form::new().file("file", "", b"x"), "no file selected"),
        (
            Form::new().file("file", "a.zip", b"x"),
            "this file is not allowed",
        ),
        (
            Form::new().file("file", "a.TAR.GZ", b"x"),
            "this file is not allowed",
        ),
    ] {
        let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
        assert_eq!(response.status(), 400, "{message}");
        assert_eq!(response.text().await.expect("body"), error_body(message));
    }
    let form = Form::new().file("file", "a.tar.gz", b"x");
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("X-Original-Name", "/x/.tar.gz")],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.expect("body"),
        error_body("invalid flist name")
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn failed_conversions_map_to_catalogue_errors_and_publish_nothing(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    for (name, status, message, code) in [
        (
            "fail-invalid_archive.tar.gz",
            400,
            "invalid archive: scripted invalid_archive",
            "invalid_archive",
        ),
        (
            "fail-store_error.tar.gz",
            500,
            "flist creation failed: scripted store_error",
            "store_error",
        ),
    ] {
        let form = Form::new().file("file", name, b"garbage");
        let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
        assert_eq!(response.status(), status, "{name}");
        let job = job_of(&location(&response));
        let body = json(response).await;
        assert_eq!(body["status"], "error");
        assert_eq!(body["message"], message);
        assert_eq!(body["code"], code);
        let api: serde_json::Value = hub
            .get(&format!("/api/jobs/{job}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(api["status"], "failed");
        assert_eq!(api["error"]["code"], code);
    }
    let published = entries::get(
        &hub.state.pool,
        "Administrator",
        "fail-invalid_archive.flist",
    )
    .await
    .expect("lookup");
    assert!(published.is_none());
    workers.stop().await;
    hub.stop().await;
}

async fn submit_async(hub: &common::TestHub, key: &str) -> reqwest::Response {
    let form = Form::new().file("file", "slow-300.tar.gz", b"content");
    post_form(
        hub,
        "/api/flist/me/upload",
        form,
        &[("Prefer", "respond-async"), ("Idempotency-Key", key)],
    )
    .await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn respond_async_and_idempotency_keys(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    let first = submit_async(&hub, "build-42").await;
    assert_eq!(first.status(), 202);
    let location = location(&first);
    let body = json(first).await;
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/jobs/{id}"));
    assert_eq!(body["kind"], "convert");
    assert_eq!(body["links"]["self"], location);
    assert_eq!(body["links"]["events"], format!("/api/jobs/{id}/events"));
    assert_eq!(body["links"]["listen"], format!("/listen/{id}"));

    let again = submit_async(&hub, "build-42").await;
    assert_eq!(again.status(), 202);
    assert_eq!(json(again).await["id"], id.as_str(), "same key, same job");
    let other = submit_async(&hub, "build-43").await;
    assert_ne!(json(other).await["id"], id.as_str());

    // Long poll until the job finishes; each answer comes at a state change.
    let mut status = String::new();
    for _ in 0..10 {
        let job = json(hub.get(&format!("/api/jobs/{id}?wait=10s")).await).await;
        status = job["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" {
            assert_eq!(job["links"]["flist"], "/Administrator/slow-300.flist");
            assert!(
                job["duration"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("PT"))
            );
            break;
        }
    }
    assert_eq!(status, "succeeded");
    // The retried request's upload was never staged: the worker saw two jobs, not three.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(workers.seen().len(), 2);
    // A synchronous retry with the key answers with the finished job.
    let form = Form::new().file("file", "slow-300.tar.gz", b"content");
    let sync = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Idempotency-Key", "build-42")],
    )
    .await;
    assert_eq!(sync.status(), 200);
    assert_eq!(json(sync).await["payload"]["job"], id.as_str());
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn sync_timeout_answers_504_with_the_job(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.gateway.sync_timeout = Duration::from_millis(700);
    })
    .await;
    let workers = Workers::start(&hub).await;
    let form = Form::new().file("file", "slow-2500.tar.gz", b"content");
    let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
    assert_eq!(response.status(), 504);
    let job = job_of(&location(&response));
    let body = json(response).await;
    assert_eq!(body["code"], "job_pending");
    assert_eq!(body["job"], job.as_str());
    assert!(body["message"].as_str().is_some_and(|m| m.contains(&job)));
    let finished = json(hub.get(&format!("/api/jobs/{job}?wait=20s")).await).await;
    assert!(["running", "succeeded"].contains(&finished["status"].as_str().unwrap_or_default()));
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn uploads_over_the_limit_are_refused_with_413(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.upload_max_bytes = 4096;
    })
    .await;
    let workers = Workers::start(&hub).await;
    // Announced by Content-Length: refused before anything is read.
    let form = Form::new().file("file", "big.tar.gz", &vec![1u8; 5 << 20]);
    let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
    assert_eq!(response.status(), 413);
    assert_eq!(json(response).await["code"], "payload_too_large");
    // Over the limit but within the multipart framing allowance, or streamed without a
    // length: refused while streaming.
    let form = Form::new().file("file", "big.tar.gz", &[1u8; 8192]);
    let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
    assert_eq!(response.status(), 413);
    let body = Form::new().file("file", "big.tar.gz", &[1u8; 8192]).body();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1000).map(|chunk| Ok(chunk.to_vec())).collect();
    let response = hub
        .http
        .post(hub.url("/api/flist/me/upload"))
        .header("Content-Type", Form::content_type())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    // An upload within the limit still works (the refused ones released their job slots).
    let form = Form::new().file("file", "small.tar.gz", &[1u8; 4000]);
    let response = post_form(&hub, "/api/flist/me/upload", form, &[]).await;
    assert_eq!(response.status(), 200);
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn upload_flist_verifies_then_replies_with_the_contents_dump(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    let form = Form::new().file("file", "homemade.flist", b"flist bytes");
    let response = post_form(&hub, "/api/flist/me/upload-flist", form, &[]).await;
    assert_eq!(response.status(), 200);
    let job = job_of(&location(&response));
    assert_eq!(
        response.text().await.expect("body"),
        format!(
            "{{\"status\": \"success\", \"payload\": {{\"name\": \"homemade.flist\", \"files\": \
             {{\"success\": true, \"error\": null, \"response\": {}, \"status\": 0}}, \
             \"job\": \"{job}\"}}}}\n",
            DUMP.trim_end()
        )
    );
    let seen = workers.seen_job(&job).expect("seen");
    assert!(matches!(seen.envelope.payload, Some(Payload::Verify(_))));
    assert_eq!(seen.upload.map(|(size, _)| size), Some(11));

    for (file, status, message) in [
        (
            "fail-missing_chunks.flist",
            422,
            "unauthorized upload, contents is not fully present on backend",
        ),
        ("fail-invalid_flist.flist", 400, "invalid flist"),
        ("x.tar.gz", 400, "this file is not allowed"),
    ] {
        let form = Form::new().file("file", file, b"bytes");
        let response = post_form(&hub, "/api/flist/me/upload-flist", form, &[]).await;
        assert_eq!(response.status(), status, "{file}");
        assert_eq!(json(response).await["message"], message);
    }
    let form = Form::new().file("file", "rfs.fl", b"bytes");
    let response = post_form(&hub, "/api/flist/me/upload-flist", form, &[]).await;
    assert_eq!(json(response).await["payload"]["name"], "rfs.fl");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn merge_validates_in_the_original_order(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    seed_flist(&hub, "tf", "base.flist").await;
    seed_flist(&hub, "tf", "tools.flist").await;
    let merge = |path: &str, body: &'static str| {
        hub.http
            .post(hub.url(path))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for (path, body, status, message) in [
        ("/api/flist/me/merge/x", "{}", 400, "malformed json request"),
        (
            "/api/flist/me/merge/x",
            "not json",
            400,
            "malformed json request",
        ),
        (
            "/api/flist/me/merge/x",
            "[1, 2]",
            400,
            "malformed json request",
        ),
        ("/api/flist/me/merge/x", "[]", 400, "no source found"),
        (
            "/api/flist/me/merge/x",
            "[\"tf\"]",
            400,
            "malformed source filename",
        ),
        (
            "/api/flist/me/merge/x",
            "[\"tf/../x\"]",
            400,
            "malformed source filename",
        ),
        (
            "/api/flist/me/merge/x",
            "[\"tf/base\", \"tf/nope\"]",
            404,
            "tf/nope.flist does not exists",
        ),
        (
            "/api/flist/me/merge",
            "[\"tf/base\"]",
            400,
            "missing build (target) name",
        ),
        (
            "/api/flist/me/merge/a%2Fb",
            "[\"tf/base\"]",
            400,
            "build name not allowed",
        ),
        // Sources are checked before the target.
        (
            "/api/flist/me/merge",
            "[\"tf/nope\"]",
            404,
            "tf/nope.flist does not exists",
        ),
    ] {
        let response = merge(path, body).await.expect("request");
        assert_eq!(response.status(), status, "{path} {body}");
        assert_eq!(response.text().await.expect("body"), error_body(message));
    }

    let response = merge(
        "/api/flist/me/merge/merged",
        "[\"tf/base\", \"tf/tools.flist\"]",
    )
    .await
    .expect("request");
    assert_eq!(response.status(), 200);
    let job = job_of(&location(&response));
    assert_eq!(
        response.text().await.expect("body"),
        format!(
            "{{\"status\": \"success\", \"payload\": {{\"name\": \"merged.flist\", \"job\": \"{job}\"}}}}\n"
        )
    );
    let seen = workers.seen_job(&job).expect("seen");
    let Some(Payload::Merge(merge_job)) = seen.envelope.payload else {
        panic!("not a merge job");
    };
    let sources: Vec<_> = merge_job
        .sources
        .iter()
        .map(|s| format!("{}/{}", s.repository, s.name))
        .collect();
    assert_eq!(sources, ["tf/base.flist", "tf/tools.flist"]);

    let failed = merge("/api/flist/me/merge/fail-internal", "[\"tf/base\"]")
        .await
        .expect("request");
    assert_eq!(failed.status(), 500);
    assert_eq!(
        json(failed).await["message"],
        "merge failed: scripted internal"
    );
    let fl = merge("/api/flist/me/merge/merged?format=fl", "[\"tf/base\"]")
        .await
        .expect("request");
    assert_eq!(json(fl).await["payload"]["name"], "merged.fl");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn docker_names_forms_errors_and_sealed_credentials(pool: PgPool) {
    let key = "11".repeat(32);
    let hub_key = key.clone();
    let hub = jobs_support::start(pool, move |config| {
        config.gateway.credentials_key = Some(hub_key);
    })
    .await;
    let workers = Workers::start(&hub).await;
    let urlencoded = |body: &'static str| {
        hub.http
            .post(hub.url("/api/flist/me/docker"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    for body in ["", "image=", "image=%20%20", "other=1"] {
        let response = urlencoded(body).await.expect("request");
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.text().await.expect("body"),
            error_body("missing docker image name")
        );
    }
    let bare = hub
        .http
        .post(hub.url("/api/flist/me/docker"))
        .send()
        .await
        .expect("request");
    assert_eq!(bare.status(), 400);

    let response = urlencoded("image=ubuntu%3A20.04").await.expect("request");
    assert_eq!(response.status(), 200);
    let job = job_of(&location(&response));
    assert_eq!(
        response.text().await.expect("body"),
        upload_success("ubuntu-20.04.flist", &job)
    );
    let form = Form::new().text("image", "registry:5000/img");
    let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
    assert_eq!(
        json(response).await["payload"]["name"],
        "registry-5000-img-latest.flist"
    );

    for (image, status, message) in [
        ("fail-image_not_found.x", 404, "docker image not found"),
        ("fail-pull_failed.x", 502, "could not pull this image"),
        ("fail-internal.x", 500, "unexpected docker convert error"),
    ] {
        let form = Form::new().text("image", image);
        let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
        assert_eq!(response.status(), status, "{image}");
        assert_eq!(json(response).await["message"], message);
    }

    let form = Form::new()
        .text("image", "private/app:1")
        .text("platform", "linux/arm64")
        .text("username", "robot")
        .text("password", "s3cret-token");
    let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
    assert_eq!(response.status(), 200);
    let job = job_of(&location(&response));
    let seen = workers.seen_job(&job).expect("seen");
    let Some(Payload::Docker(docker)) = seen.envelope.payload else {
        panic!("not a docker job");
    };
    assert_eq!(docker.image, "private/app:1");
    assert_eq!(docker.platform, "linux/arm64");
    assert!(
        !docker
            .sealed_credentials
            .windows(12)
            .any(|w| w == b"s3cret-token"),
        "credentials are sealed"
    );
    let key = hub_model::credentials::CredentialsKey::from_hex(&key).expect("key");
    let opened =
        hub_model::credentials::open_credentials(&key, &docker.sealed_credentials).expect("open");
    assert_eq!(
        opened,
        hub_model::credentials::Credentials::new("robot", "s3cret-token")
    );
    // Nothing of the password reached the job row either.
    let payload = hub_db::jobs::payload(&hub.state.pool, job.parse().expect("uuid"))
        .await
        .expect("payload");
    assert!(!payload.windows(12).any(|w| w == b"s3cret-token"));

    let half = Form::new().text("image", "a").text("username", "robot");
    let response = post_form(&hub, "/api/flist/me/docker", half, &[]).await;
    assert_eq!(response.status(), 400);
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn docker_credentials_need_a_configured_key(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let form = Form::new()
        .text("image", "private/app:1")
        .text("username", "robot")
        .text("password", "pw");
    let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["code"], "credentials_unsupported");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn web_upload_answers_at_once_with_the_job_id(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;
    let form = Form::new()
        .text("metadata-description", "ignored on the web route")
        .file("file", "site.tar.gz", b"content");
    let response = post_form(
        &hub,
        "/upload",
        form,
        &[("X-Original-Name", "/x/other.tar.gz")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    let body: serde_json::Value = serde_json::from_str(&text).expect("json");
    let id = body["jobid"].as_str().expect("jobid").to_owned();
    assert_eq!(
        text,
        format!("{{\"status\": \"success\", \"jobid\": \"{id}\"}}\n")
    );
    let job = hub_db::jobs::get(&hub.state.pool, id.parse().expect("uuid"))
        .await
        .expect("job");
    assert_eq!(job.target_name, "site.flist", "X-Original-Name is ignored");
    let response = post_form(&hub, "/upload", Form::new().text("x", "y"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.expect("body"),
        "{\"status\": \"error\", \"message\": \"no file found\"}\n"
    );
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn submission_routes_require_authentication(pool: PgPool) {
    let hub = jobs_support::start(pool, jobs_support::with_auth).await;
    let workers = Workers::start(&hub).await;
    for path in [
        "/api/flist/me/upload",
        "/api/flist/me/upload-flist",
        "/api/flist/me/merge/x",
        "/api/flist/me/docker",
        "/api/jobs",
    ] {
        let response = hub.http.post(hub.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 401, "{path}");
        // The original's routes answer as it did; the job API adds the code.
        let expected = match path {
            "/api/jobs" => {
                jobs_support::coded_error_body("no authorization provided", "unauthorized")
            }
            _ => error_body("no authorization provided"),
        };
        assert_eq!(response.text().await.expect("body"), expected, "{path}");
    }
    let form = Form::new().file("file", "mine.tar.gz", b"content");
    let bearer = format!("Bearer {}", jobs_support::token("alice.3bot"));
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Authorization", bearer.as_str())],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        entries::get(&hub.state.pool, "alice.3bot", "mine.flist")
            .await
            .expect("entry")
            .is_some()
    );
    workers.stop().await;
    hub.stop().await;
}

/// Resident memory of this process, from `/proc/self/status`.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn large_uploads_stream_into_staging_without_being_buffered(pool: PgPool) {
    use sha2::Digest as _;
    const SIZE: usize = 256 << 20;
    const CHUNK: usize = 256 << 10;
    let hub = jobs_support::start(pool, |_| {}).await;
    let workers = Workers::start(&hub).await;

    // The body is generated while it is sent: neither side may hold it whole.
    let boundary_head = Form::new().file("file", "big.tar.gz", b"").body();
    let split = boundary_head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("part headers")
        + 4;
    let (head, tail) = boundary_head.split_at(split);
    let digest = std::sync::Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
    let hashing = std::sync::Arc::clone(&digest);
    let base: Vec<u8> = (0..CHUNK).map(|j| (j * 7 % 251) as u8).collect();
    let chunks = (0..SIZE / CHUNK).map(move |i| {
        // Each chunk differs, so a mix-up of chunks changes the digest.
        let mut chunk = base.clone();
        chunk[..8].copy_from_slice(&(i as u64).to_le_bytes());
        hashing.lock().expect("hasher").update(&chunk);
        Ok::<_, std::io::Error>(chunk)
    });
    let body = futures::stream::iter(
        std::iter::once(Ok(head.to_vec()))
            .chain(chunks)
            .chain(std::iter::once(Ok(tail.to_vec()))),
    );

    let baseline = resident_bytes();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampling = {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let response = hub
        .http
        .post(hub.url("/api/flist/me/upload"))
        .header("Content-Type", Form::content_type())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("upload");
    sampling.abort();
    assert_eq!(response.status(), 200);
    let job = job_of(&location(&response));
    let (size, seen) = workers
        .seen_job(&job)
        .and_then(|seen| seen.upload)
        .expect("staged upload");
    assert_eq!(size, SIZE);
    let expected: [u8; 32] = digest.lock().expect("hasher").clone().finalize().into();
    assert_eq!(seen, expected, "the staged bytes are the uploaded bytes");
    let growth = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(baseline);
    println!(
        "resident memory grew by {} MiB for a 256 MiB upload",
        growth >> 20
    );
    assert!(growth < 96 << 20, "grew by {growth} bytes");
    workers.stop().await;
    hub.stop().await;
}

/// An upload of `name` whose body stops right after the `file` part's headers: the client is
/// still sending, nothing of the file has arrived.
fn stalled_upload(hub: &common::TestHub, name: &str) -> reqwest::RequestBuilder {
    let body = Form::new().file("file", name, &[5u8; 4096]).body();
    let file_starts = body
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("part headers")
        + 4;
    let head = futures::stream::iter([Ok::<_, std::io::Error>(body[..file_starts].to_vec())]);
    hub.http
        .post(hub.url("/api/flist/me/upload"))
        .header("Content-Type", Form::content_type())
        .header("Prefer", "respond-async")
        .body(reqwest::Body::wrap_stream(futures::StreamExt::chain(
            head,
            futures::stream::pending(),
        )))
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn beyond_max_queued_jobs_a_submission_gets_503_hub_busy_before_its_upload_is_read(
    pool: PgPool,
) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.max_queued_jobs = 2;
        config.limits.busy_retry_after = Duration::from_secs(7);
    })
    .await;
    // No worker runs: the workers have fallen behind, every job stays queued.
    let mut queued = Vec::new();
    for name in ["one.tar.gz", "two.tar.gz"] {
        let form = Form::new().file("file", name, b"content");
        let response = post_form(
            &hub,
            "/api/flist/me/upload",
            form,
            &[("Prefer", "respond-async")],
        )
        .await;
        assert_eq!(response.status(), 202, "below the limit");
        queued.push(json(response).await["id"].as_str().expect("id").to_owned());
    }
    tokio::time::sleep(hub_gateway::backpressure::DEPTH_CACHE_TTL).await;
    let before = hub.state.staging.usage().await.expect("staging usage");
    assert_eq!(before.objects, 2);

    // Answered although the file never arrives: refused before its bytes are read.
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        stalled_upload(&hub, "three.tar.gz").send(),
    )
    .await
    .expect("answered without the upload's body")
    .expect("request");
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("7")
    );
    let body = json(response).await;
    assert_eq!(body["code"], "hub_busy");
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("busy")),
        "{body}"
    );
    // Jobs without an upload meet the same limit.
    seed_flist(&hub, "tf", "base.flist").await;
    seed_flist(&hub, "tf", "tools.flist").await;
    let response = hub
        .http
        .post(hub.url("/api/flist/me/merge/merged"))
        .header("Prefer", "respond-async")
        .json(&["tf/base.flist", "tf/tools.flist"])
        .send()
        .await
        .expect("merge");
    assert_eq!(response.status(), 503);
    assert_eq!(hub.state.staging.usage().await.expect("usage"), before);

    // Once a job leaves the queue, submissions are accepted again.
    let first = queued[0].parse().expect("uuid");
    hub_db::jobs::cancel(&hub.state.pool, first, "test")
        .await
        .expect("cancel");
    tokio::time::sleep(hub_gateway::backpressure::DEPTH_CACHE_TTL).await;
    let form = Form::new().file("file", "four.tar.gz", b"content");
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Prefer", "respond-async")],
    )
    .await;
    assert_eq!(response.status(), 202);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_client_that_disconnects_mid_upload_leaves_nothing_in_staging_after_orphan_after(
    pool: PgPool,
) {
    use tokio::io::AsyncWriteExt;

    let orphan_after = Duration::from_secs(1);
    let hub = jobs_support::start(pool, |config| {
        config.jobs.staging_orphan_after = orphan_after;
        config.gateway.body_idle_timeout = Duration::from_millis(500);
    })
    .await;
    // As `hub-gateway serve` does.
    let sweeper = tokio_util::sync::CancellationToken::new();
    tokio::spawn(hub.state.staging.clone().sweep_periodically(
        hub.state.pool.clone(),
        Duration::from_millis(200),
        orphan_after,
        sweeper.clone(),
    ));
    let stored = || async {
        hub.state
            .staging
            .usage()
            .await
            .map(|usage| usage.stored_bytes)
    };

    // Half of a 2 MiB upload, then the client is gone.
    let body = Form::new()
        .file("file", "half.tar.gz", &vec![3u8; 2 << 20])
        .body();
    let mut client = tokio::net::TcpStream::connect(hub.addr).await.expect("tcp");
    let head = format!(
        "POST /api/flist/me/upload HTTP/1.1\r\nHost: hub\r\nPrefer: respond-async\r\n\
         Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
        Form::content_type(),
        body.len()
    );
    client.write_all(head.as_bytes()).await.expect("head");
    client
        .write_all(&body[..body.len() / 2])
        .await
        .expect("half the body");
    client.flush().await.expect("flush");
    hub_testkit::wait_until(Duration::from_secs(10), "half staged", || async {
        Ok::<_, hub_jobs::JobsError>((stored().await? >= 512 * 1024).then_some(()))
    })
    .await
    .expect("the upload streams into staging");
    drop(client);

    let gone = tokio::time::Instant::now();
    hub_testkit::wait_until(
        orphan_after + Duration::from_secs(4),
        "partial upload removed",
        || async { Ok::<_, hub_jobs::JobsError>((stored().await? == 0).then_some(())) },
    )
    .await
    .expect("nothing left in staging");
    assert!(gone.elapsed() >= orphan_after - Duration::from_millis(300));
    sweeper.cancel();
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn beyond_max_staged_bytes_an_upload_gets_503_hub_busy_before_it_is_read(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.max_staged_bytes = 1 << 20;
    })
    .await;
    // No worker: the first upload stays staged, filling staging beyond the limit.
    let form = Form::new().file("file", "big.tar.gz", &vec![4u8; 2 << 20]);
    let response = post_form(
        &hub,
        "/api/flist/me/upload",
        form,
        &[("Prefer", "respond-async")],
    )
    .await;
    assert_eq!(response.status(), 202);
    tokio::time::sleep(hub_gateway::backpressure::DEPTH_CACHE_TTL).await;
    let before = hub.state.staging.usage().await.expect("usage");
    assert!(before.stored_bytes >= 2 << 20, "{before:?}");

    let response = tokio::time::timeout(
        Duration::from_secs(10),
        stalled_upload(&hub, "more.tar.gz").send(),
    )
    .await
    .expect("answered without the upload's body")
    .expect("request");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(response).await["code"], "hub_busy");
    assert_eq!(hub.state.staging.usage().await.expect("usage"), before);
    hub.stop().await;
}
