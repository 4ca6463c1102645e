//! Docker jobs end to end against the real PostgreSQL, NATS JetStream and test registries:
//! submit, convert, publish, reuse by source key, and the failures the gateway maps.

use std::io::Write;
use std::time::Duration;

use hub_config::PublishConfig;
use hub_db::PgPool;
use hub_jobs::{JobClient, JobEnvelope, JobState, JobsConfig, Queue, Staging, Submission, Worker};
use hub_oci::{Credentials, CredentialsKey, seal_credentials};
use hub_proto::v1::DockerJob;
use hub_proto::v1::job_envelope::Payload;
use hub_testkit::NatsTest;
use hub_worker::PublishSettings;
use hub_worker_docker::{DockerHandler, DockerSettings};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const KEY: [u8; 32] = [7; 32];

/// A service from the environment: `None` (skip) when unset, a loud failure when unreachable.
fn service(var: &str) -> Option<String> {
    let value = std::env::var(var).ok().filter(|v| !v.is_empty())?;
    assert!(
        std::net::TcpStream::connect(&value).is_ok(),
        "{var}={value} is set but nothing answers there"
    );
    Some(value)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex_encode(&Sha256::digest(bytes)))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Pushes a two-layer image (a file, then a whiteout and a new file) as `repo:tag`.
async fn push_image(registry: &str, repo: &str, auth: RegistryAuth) -> Result<(), BoxError> {
    let layer = |entries: &[(&str, &[u8])]| -> Result<Vec<u8>, BoxError> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, path, *data)?;
        }
        let raw = tar.into_inner()?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw)?;
        Ok(gz.finish()?)
    };
    let layers = [
        layer(&[("etc/motd", b"hello\n"), ("old", b"old")])?,
        layer(&[(".wh.old", b""), ("app/run", b"#!/bin/sh\necho hi\n")])?,
    ];
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/app/run"], "Cmd": ["--verbose"], "Env": ["MODE=test"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:00", "sha256:01"]},
    }))?;
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    for blob in layers.iter().chain([&config]) {
        let digest = sha256(blob);
        let r = Reference::with_digest(registry.into(), repo.into(), digest.clone());
        client.auth(&r, &auth, RegistryOperation::Push).await?;
        client.push_blob(&r, blob.clone(), &digest).await?;
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(l), "size": l.len()
        })).collect::<Vec<_>>(),
    }))?;
    let tag = Reference::with_tag(registry.into(), repo.into(), "1".into());
    client.auth(&tag, &auth, RegistryOperation::Push).await?;
    client
        .push_manifest_raw(
            &tag,
            manifest,
            http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
        )
        .await?;
    Ok(())
}

struct Hub {
    nats: NatsTest,
    pool: PgPool,
    client: JobClient,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), hub_jobs::JobsError>>,
    store_dir: tempfile::TempDir,
}

impl Hub {
    async fn start(pool: PgPool, insecure: Vec<String>) -> Result<Self, BoxError> {
        hub_testkit::init_logging();
        let config = JobsConfig {
            progress_interval: Duration::from_millis(100),
            retry_backoff: Duration::from_millis(100),
            fetch_expiry: Duration::from_secs(1),
            ..JobsConfig::default()
        };
        let nats = NatsTest::connect().await?;
        let queue = Queue::new(nats.client().clone(), nats.prefix(), &config).await?;
        let staging =
            Staging::open_bucket(queue.jetstream(), queue.names(), config.staging_ttl).await?;
        let client = JobClient::new(pool.clone(), queue.clone(), Some(staging.clone()));
        let store_dir = tempfile::tempdir()?;
        let store = hub_store::open(&format!("dir://{}", store_dir.path().display())).await?;
        let settings = DockerSettings {
            insecure_registries: insecure,
            credentials_key: Some(hex_encode(&KEY)),
            ..DockerSettings::default()
        };
        let publish = PublishSettings::new(&PublishConfig::default())?;
        let handler = DockerHandler::new(store, settings, publish)?;
        let worker = Worker::new(queue, pool.clone(), staging, handler).await?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(worker.run(shutdown.clone()));
        Ok(Hub {
            nats,
            pool,
            client,
            shutdown,
            task,
            store_dir,
        })
    }

    async fn submit(&self, name: &str, docker: DockerJob) -> Result<Uuid, BoxError> {
        let id = Uuid::new_v4();
        let envelope = JobEnvelope {
            job_id: id.to_string(),
            owner: "alice".into(),
            repository: "alice".into(),
            target_name: name.into(),
            payload: Some(Payload::Docker(docker)),
            ..JobEnvelope::default()
        };
        self.client
            .submit(Submission {
                envelope,
                idempotency_key: None,
            })
            .await?;
        Ok(id)
    }

    async fn finished(&self, id: Uuid) -> Result<hub_jobs::Job, BoxError> {
        hub_testkit::wait_until(Duration::from_secs(60), &format!("job {id}"), || async {
            let job = hub_db::jobs::get(&self.pool, id).await?;
            let done = matches!(job.state, JobState::Succeeded | JobState::Failed);
            Ok::<_, hub_db::DbError>(done.then_some(job))
        })
        .await
    }

    async fn messages(&self, id: Uuid) -> Result<Vec<String>, BoxError> {
        let events = hub_db::events::list(&self.pool, id, 0, 1000).await?;
        Ok(events.into_iter().filter_map(|e| e.message).collect())
    }

    async fn stop(self) -> TestResult {
        self.shutdown.cancel();
        self.task.await??;
        self.nats.cleanup().await?;
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
    let Some(registry) = service("HUB_TEST_REGISTRY") else {
        return Ok(());
    };
    let repo = format!("hubtest/worker-{:08x}", rand_u32());
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
    let entry = hub_db::entries::lookup(&hub.pool, "alice", "app-1.flist").await?;
    let flist = entry.target.ok_or("not published")?.flist;
    // The row keeps the raw text of each value; the API parses it when serving (hub-api 6.9).
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
    let again = hub_db::entries::lookup(&hub.pool, "alice", "app-again.flist").await?;
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
        service("HUB_TEST_REGISTRY"),
        service("HUB_TEST_AUTH_REGISTRY"),
    ) else {
        return Ok(());
    };
    let user = std::env::var("HUB_TEST_AUTH_REGISTRY_USER")?;
    let pass = std::env::var("HUB_TEST_AUTH_REGISTRY_PASS")?;
    let repo = format!("hubtest/private-{:08x}", rand_u32());
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
            docker_job(&format!("{registry}/hubtest/none-{:08x}:1", rand_u32())),
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

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}
