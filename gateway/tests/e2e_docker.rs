//! Docker conversions end to end through the gateway with the REAL docker worker, against the
//! local test registries (`./hub test` starts them and exports `HUB_TEST_REGISTRY`,
//! `HUB_TEST_AUTH_REGISTRY`, `HUB_TEST_AUTH_REGISTRY_USER`/`_PASS`). Skipped when the variables
//! are unset; a loud failure when set but unreachable.

mod common;
mod e2e_support;
mod jobs_support;

use common::TestHub;
use e2e_support::download_and_unpack;
use hub_testkit::registry::{Pusher, unique_repo, whiteout_image};
use hub_worker::PublishSettings;
use hub_worker_docker::{DockerHandler, DockerSettings};
use jobs_support::{Form, json, post_form};
use oci_client::secrets::RegistryAuth;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The credentials key shared by the test gateway and its docker worker.
const KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// A test service from the environment: `None` (the test skips) when unset.
fn service(var: &str) -> Option<String> {
    hub_testkit::optional_service(var).expect("a test service")
}

/// Push the two-layer test image as `repo:1` (a file, then a whiteout of another and a new
/// file).
async fn push_image(registry: &str, repo: &str, auth: RegistryAuth) {
    let image =
        whiteout_image(serde_json::json!({"Entrypoint": ["/app/run"], "Env": ["MODE=test"]}))
            .expect("image");
    Pusher::with_auth(registry, auth)
        .push(repo, "1", &image)
        .await
        .expect("push");
}

/// The real docker worker on `hub`'s queue and store.
async fn docker_worker(
    hub: &TestHub,
    insecure: Vec<String>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<Result<(), hub_jobs::JobsError>> {
    let settings = DockerSettings {
        insecure_registries: insecure,
        credentials_key: Some(KEY.into()),
        ..DockerSettings::default()
    };
    let publish = PublishSettings::new(&hub.config.publish).expect("publish target");
    let handler = DockerHandler::new(hub.state.store.clone(), settings, publish).expect("handler");
    hub.spawn_worker(handler, shutdown).await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn images_convert_through_the_gateway(pool: PgPool) {
    let Some(registry) = service("HUB_TEST_REGISTRY") else {
        return;
    };
    let repo = unique_repo("app");
    push_image(&registry, &repo, RegistryAuth::Anonymous).await;
    let hub = jobs_support::start(pool, |config| {
        config.gateway.credentials_key = Some(KEY.into());
    })
    .await;
    let shutdown = CancellationToken::new();
    let worker = docker_worker(&hub, vec![registry.clone()], &shutdown).await;

    let image = format!("{registry}/{repo}:1");
    let form = Form::new().text("image", &image);
    let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    let name = format!("{}.flist", image.replace([':', '/'], "-"));
    assert_eq!(body["payload"]["name"], name.as_str());
    assert_eq!(body["payload"]["files"]["success"], true);
    assert!(body["payload"]["files"]["response"]["regular"].as_u64() >= Some(2));

    // The published flist holds the merged layers (the whiteout removed `old`).
    let out = download_and_unpack(&hub, "Administrator", &name).await;
    assert_eq!(
        std::fs::read(out.path().join("etc/motd")).expect("motd"),
        b"hello\n"
    );
    assert!(out.path().join("app/run").exists());
    assert!(!out.path().join("old").exists());

    // The original's docker result frame on /listen.
    let job = body["payload"]["job"].as_str().expect("job");
    let frames = hub
        .get(&format!("/listen/{job}"))
        .await
        .text()
        .await
        .expect("frames");
    let last = frames
        .split("\n\n")
        .filter(|frame| frame.starts_with("data: "))
        .last()
        .expect("a frame");
    assert!(
        last.starts_with(&format!(
            "data: {{\"status\": \"info\", \"info\": {{\"status\": \"success\", \"file\": \"{name}\""
        )),
        "{last}"
    );
    assert!(frames.contains("Pulling docker image"), "{frames}");

    let missing = Form::new().text("image", &format!("{registry}/{}:1", unique_repo("none")));
    let response = post_form(&hub, "/api/flist/me/docker", missing, &[]).await;
    assert_eq!(response.status(), 404);
    assert_eq!(json(response).await["message"], "docker image not found");
    shutdown.cancel();
    let _ = worker.await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn private_images_with_sealed_credentials(pool: PgPool) {
    let (Some(registry), Some(private)) = (
        service("HUB_TEST_REGISTRY"),
        service("HUB_TEST_AUTH_REGISTRY"),
    ) else {
        return;
    };
    let user = std::env::var("HUB_TEST_AUTH_REGISTRY_USER").expect("user");
    let pass = std::env::var("HUB_TEST_AUTH_REGISTRY_PASS").expect("password");
    let repo = unique_repo("private");
    push_image(
        &private,
        &repo,
        RegistryAuth::Basic(user.clone(), pass.clone()),
    )
    .await;
    let hub = jobs_support::start(pool, |config| {
        config.gateway.credentials_key = Some(KEY.into());
    })
    .await;
    let shutdown = CancellationToken::new();
    let worker = docker_worker(&hub, vec![registry, private.clone()], &shutdown).await;
    let image = format!("{private}/{repo}:1");
    let submit = |password: &str| {
        Form::new()
            .text("image", &image)
            .text("username", &user)
            .text("password", password)
    };
    let wrong = post_form(
        &hub,
        "/api/flist/me/docker",
        submit("not-the-password"),
        &[],
    )
    .await;
    assert_eq!(wrong.status(), 502);
    assert_eq!(json(wrong).await["message"], "could not pull this image");
    let right = post_form(&hub, "/api/flist/me/docker", submit(&pass), &[]).await;
    assert_eq!(right.status(), 200);
    shutdown.cancel();
    let _ = worker.await;
    hub.stop().await;
}

/// The job a synchronous answer names in its `Location: /api/jobs/<id>`.
fn job_of(response: &reqwest::Response) -> uuid::Uuid {
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("a Location header");
    let id = location.rsplit('/').next().expect("a job id");
    uuid::Uuid::parse_str(id).expect("a job id")
}

/// Messages of every event of `job`, in order.
async fn event_messages(pool: &PgPool, job: uuid::Uuid) -> Vec<String> {
    hub_db::events::list(pool, job, 0, 1000)
        .await
        .expect("events")
        .into_iter()
        .filter_map(|event| event.message)
        .collect()
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_unreachable_registry_answers_502_after_retries_that_say_why(pool: PgPool) {
    // A port nothing listens on: every attempt's connection is refused (a transient error).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let registry = closed.local_addr().expect("address").to_string();
    drop(closed);
    let hub = jobs_support::start(pool, |config| {
        config.gateway.credentials_key = Some(KEY.into());
    })
    .await;
    let shutdown = CancellationToken::new();
    let worker = docker_worker(&hub, vec![registry.clone()], &shutdown).await;

    let image = format!("{registry}/nowhere/app:1");
    let form = Form::new().text("image", &image);
    let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
    assert_eq!(response.status(), 502);
    let job = job_of(&response);
    let body = json(response).await;
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["message"], "could not pull this image", "{body}");
    assert_eq!(body["code"], "pull_failed", "{body}");

    let row = hub_db::jobs::get(&hub.state.pool, job).await.expect("job");
    assert_eq!(row.attempt, 3, "every attempt was used");
    let error = row.error.expect("an error");
    assert_eq!(error.code, "pull_failed");
    assert!(error.message.contains(&registry), "{}", error.message);

    // Each retry says which attempt it is and why the previous one failed, instead of
    // repeating the first attempt's line.
    let messages = event_messages(&hub.state.pool, job).await;
    for attempt in [2, 3] {
        let prefix = format!("retrying {attempt}/3: ");
        let retry = messages
            .iter()
            .find(|message| message.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {messages:#?}"));
        assert!(
            retry.contains(&format!("could not reach {registry}")),
            "{retry}"
        );
    }
    let pulls = messages
        .iter()
        .filter(|message| message.starts_with("Pulling docker image"))
        .count();
    assert_eq!(pulls, 1, "{messages:#?}");
    shutdown.cancel();
    let _ = worker.await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn refused_registry_credentials_answer_502_at_once(pool: PgPool) {
    let (Some(registry), Some(private)) = (
        service("HUB_TEST_REGISTRY"),
        service("HUB_TEST_AUTH_REGISTRY"),
    ) else {
        return;
    };
    let user = std::env::var("HUB_TEST_AUTH_REGISTRY_USER").expect("user");
    let pass = std::env::var("HUB_TEST_AUTH_REGISTRY_PASS").expect("password");
    let repo = unique_repo("refused");
    push_image(&private, &repo, RegistryAuth::Basic(user.clone(), pass)).await;
    let hub = jobs_support::start(pool, |config| {
        config.gateway.credentials_key = Some(KEY.into());
    })
    .await;
    let shutdown = CancellationToken::new();
    let worker = docker_worker(&hub, vec![registry, private.clone()], &shutdown).await;
    let form = Form::new()
        .text("image", &format!("{private}/{repo}:1"))
        .text("username", &user)
        .text("password", "not-the-password");
    let response = post_form(&hub, "/api/flist/me/docker", form, &[]).await;
    assert_eq!(response.status(), 502);
    let job = job_of(&response);
    let body = json(response).await;
    assert_eq!(body["message"], "could not pull this image", "{body}");
    assert_eq!(body["code"], "pull_failed", "{body}");
    // Refused credentials are final: no second attempt.
    let row = hub_db::jobs::get(&hub.state.pool, job).await.expect("job");
    assert_eq!(row.attempt, 1);
    let messages = event_messages(&hub.state.pool, job).await;
    assert!(
        !messages
            .iter()
            .any(|message| message.starts_with("retrying")),
        "{messages:#?}"
    );
    shutdown.cancel();
    let _ = worker.await;
    hub.stop().await;
}
