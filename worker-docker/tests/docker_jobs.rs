//! Docker jobs end to end against the real PostgreSQL, NATS JetStream and test registries:
//! submit, convert, publish, reuse by source key, and the failures the gateway maps.

use std::time::Duration;

use hub_config::PublishConfig;
use hub_db::PgPool;
use hub_jobs::{JobEnvelope, JobState, JobsConfig};
use hub_oci::{Credentials, CredentialsKey, seal_credentials};
use hub_proto::v1::DockerJob;
use hub_proto::v1::job_envelope::Payload;
use hub_testkit::registry::{Pusher, unique_repo, whiteout_image};
use hub_testkit::{Stack, dir_store, optional_service};
use hub_worker::PublishSettings;
use hub_worker_docker::{DockerHandler, DockerSettings};
use oci_client::secrets::RegistryAuth;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const KEY: [u8; 32] = [7; 32];

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Pushes the two-layer test image (a file, then a whiteout and a new file) as `repo:1`.
async fn push_image(registry: &str, repo: &str, auth: RegistryAuth) -> Result<(), BoxError> {
    let image = whiteout_image(serde_json::json!({
        "Entrypoint": ["/app/run"], "Cmd": ["--verbose"], "Env": ["MODE=test"],
    }))?;
    Pusher::with_auth(registry, auth)
        .push(repo, "1", &image)
        .await?;
    Ok(())
}

struct Hub {
    stack: Stack,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), hub_jobs::JobsError>>,
    store_dir: tempfile::TempDir,
}

impl Hub {
    async fn start(pool: PgPool, insecure: Vec<String>) -> Result<Self, BoxError> {
        let config = JobsConfig {
            progress_interval: Duration::from_millis(100),
            retry_backoff: Duration::from_millis(100),
            fetch_expiry: Duration::from_secs(1),
            ..JobsConfig::default()
        };
        let stack = Stack::start(pool, &config).await?;
        let (store_dir, store) = dir_store().await?;
        let settings = DockerSettings {
            insecure_registries: insecure,
            credentials_key: Some(hex_encode(&KEY)),
            ..DockerSettings::default()
        };
        let publish = PublishSettings::new(&PublishConfig::default())?;
        let handler = DockerHandler::new(store, settings, publish)?;
        let (task, shutdown) = stack.spawn_worker(handler).await?;
        Ok(Hub {
            stack,
            shutdown,
            task,
            store_dir,
        })
    }

    async fn submit(&self, name: &str, docker: DockerJob) -> Result<Uuid, BoxError> {
        let id = Uuid::new_v4();
        Ok(self
            .stack
            .submit_envelope(JobEnvelope {
                job_id: id.to_string(),
                owner: "alice".into(),
                repository: "alice".into(),
                target_name: name.into(),
                payload: Some(Payload::Docker(docker)),
                ..JobEnvelope::default()
            })
            .await?)
    }

    async fn finished(&self, id: Uuid) -> Result<hub_jobs::Job, BoxError> {
        self.stack.finished(id, Duration::from_secs(60)).await
    }

    async fn messages(&self, id: Uuid) -> Result<Vec<String>, BoxError> {
        let events = hub_db::events::list(&self.stack.pool, id, 0, 1000).await?;
        Ok(events.into_iter().filter_map(|e| e.message).collect())
    }

    async fn stop(self) -> TestResult {
        self.shutdown.cancel();
        self.task.await??;
        self.stack.cleanup().await?;
        Ok(())
    }
}

fn docker_job(image: &str) -> DockerJob {
    DockerJob {
        image: image.into(),
        ..DockerJob::default()
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn converts_publishes_and_reuses(pool: PgPool) -> TestResult {
    let Some(registry) = optional_service("HUB_TEST_REGISTRY")? else {
        return Ok(());
    };
    let repo = unique_repo("worker");
    push_image(&registry, &repo, RegistryAuth::Anonymous).await?;
    let hub = Hub::start(pool, vec![registry.clone()]).await?;
    let image = format!("{registry}/{repo}:1");

    let first = hub.submit("app-1.flist", docker_job(&image)).await?;
    let job = hub.finished(first).await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["reused"], false);
    assert_eq!(result["files"]["response"]["regular"], 3, "{result}");
    // Progress writes are throttled (later reports replace pending ones): only the end is
    // certain, plus at least one of the original's intermediate messages.
    let messages = hub.messages(first).await?;
    assert!(
        messages.contains(&"Image ready !".to_owned()),
        "{messages:?}"
    );
    let familiar = [
        format!("Pulling docker image: {image}"),
        "Downloading layers".into(),
        "Extracting layer".into(),
        "Preparing filesystem flist".into(),
        "Writing flist".into(),
    ];
    assert!(
        messages
            .iter()
            .any(|m| familiar.iter().any(|f| m.starts_with(f.as_str()))),
        "{messages:?}"
    );
    let entry = hub_db::entries::lookup(&hub.stack.pool, "alice", "app-1.flist").await?;
    let flist = entry.target.ok_or("not published")?.flist;
    // The row keeps the raw text of each value; the API parses it when serving (hub-api §6.9).
    let value = |key: &str| -> Result<serde_json::Value, BoxError> {
        let raw = flist.metadata[key].as_str().ok_or("not a raw string")?;
        Ok(serde_json::from_str(raw)?)
    };
    assert_eq!(
        value("entrypoint")?,
        serde_json::json!(["/app/run", "--verbose"])
    );
    assert_eq!(value("backend")?["port"], 9900);
    assert!(
        flist
            .source_key
            .as_deref()
            .is_some_and(|k| k.starts_with("oci:sha256:"))
    );

    // Same digest again under another name: published at once, nothing pulled.
    let second = hub.submit("app-again.flist", docker_job(&image)).await?;
    let job = hub.finished(second).await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["reused"], true);
    let messages = hub.messages(second).await?;
    assert!(
        !messages.iter().any(|m| m.starts_with("Extracting layer")),
        "no layer pulled: {messages:?}"
    );
    let again = hub_db::entries::lookup(&hub.stack.pool, "alice", "app-again.flist").await?;
    assert_eq!(again.target.ok_or("not published")?.flist.id, flist.id);
    reuse_confirms_blocks_or_converts_again(&hub, &image, &flist).await?;
    hub.stop().await
}

/// A reused conversion publishes blocks it never writes: reusing must confirm them (so a
/// garbage collection running meanwhile keeps them), and a row whose blocks were collected
/// must not be reused.
async fn reuse_confirms_blocks_or_converts_again(
    hub: &Hub,
    image: &str,
    row: &hub_db::flists::Flist,
) -> TestResult {
    let store = hub_store::open(&format!("dir://{}", hub.store_dir.path().display())).await?;
    let objects = hub_store::ObjectStore::new(store);
    let bytes = objects
        .get(&row.content_hash.parse()?)
        .await?
        .ok_or("flist file not stored")?;
    let flist = hub_flist::read_bytes(&bytes)?;
    let chunks: Vec<Vec<u8>> = flist.block_ids().map(<[u8]>::to_vec).collect();
    assert!(!chunks.is_empty());
    let block_file = |id: &[u8]| hub.store_dir.path().join(hex_encode(id));

    // Every block two days old, as after a long time published.
    hub_testkit::backdate_files(hub.store_dir.path(), Duration::from_secs(2 * 24 * 3600))?;
    let started = std::time::SystemTime::now() - Duration::from_secs(1);
    let job = hub
        .finished(hub.submit("app-3.flist", docker_job(image)).await?)
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.result.ok_or("no result")?["reused"], true);
    for id in &chunks {
        let modified = std::fs::metadata(block_file(id))?.modified()?;
        assert!(
            modified >= started,
            "chunk {} not confirmed",
            hex_encode(id)
        );
    }

    // A chunk lost (collected) since: the earlier conversion is not reused.
    std::fs::remove_file(block_file(&chunks[0]))?;
    let job = hub
        .finished(hub.submit("app-4.flist", docker_job(image)).await?)
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.result.ok_or("no result")?["reused"], false);
    assert!(
        block_file(&chunks[0]).is_file(),
        "the conversion stored it again"
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn failures_carry_the_codes_the_gateway_maps(pool: PgPool) -> TestResult {
    let (Some(registry), Some(auth_registry)) = (
        optional_service("HUB_TEST_REGISTRY")?,
        optional_service("HUB_TEST_AUTH_REGISTRY")?,
    ) else {
        return Ok(());
    };
    let user = std::env::var("HUB_TEST_AUTH_REGISTRY_USER")?;
    let pass = std::env::var("HUB_TEST_AUTH_REGISTRY_PASS")?;
    let repo = unique_repo("private");
    push_image(
        &auth_registry,
        &repo,
        RegistryAuth::Basic(user.clone(), pass.clone()),
    )
    .await?;
    let hub = Hub::start(pool, vec![registry.clone(), auth_registry.clone()]).await?;
    let key = CredentialsKey::from_bytes(KEY);
    let private = format!("{auth_registry}/{repo}:1");

    let missing = hub
        .submit(
            "missing.flist",
            docker_job(&format!("{registry}/{}:1", unique_repo("none"))),
        )
        .await?;
    let wrong = hub
        .submit(
            "wrong.flist",
            DockerJob {
                sealed_credentials: seal_credentials(&key, &Credentials::new(&user, "nope")),
                ..docker_job(&private)
            },
        )
        .await?;
    let right = hub
        .submit(
            "right.flist",
            DockerJob {
                sealed_credentials: seal_credentials(&key, &Credentials::new(&user, &pass)),
                ..docker_job(&private)
            },
        )
        .await?;

    let job = hub.finished(missing).await?;
    let error = job.error.ok_or("no error")?;
    assert_eq!(
        (job.state, error.code.as_str()),
        (JobState::Failed, "image_not_found")
    );
    assert_eq!(job.attempt, 1, "not retried");

    let job = hub.finished(wrong).await?;
    let error = job.error.ok_or("no error")?;
    assert_eq!(
        (job.state, error.code.as_str()),
        (JobState::Failed, "pull_failed")
    );
    assert!(
        error.message.contains("refused the credentials"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("nope"));
    assert_eq!(job.attempt, 1, "not retried");

    let job = hub.finished(right).await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    hub.stop().await
}
