//! Shared set-up of the job API tests: a gateway with fast job timings, and in-process workers
//! running a scripted handler that behaves according to the job's target name, so one handler
//! serves every route's success and failure cases. The end-to-end tests (`e2e_*.rs`) use the
//! real workers instead.
//!
//! Target names: `fail-<code>…` fails at once with `<code>`; `slow-<ms>…` sleeps that long then
//! succeeds; `hang…` runs until cancelled; anything else succeeds, publishing a small flist.

#![allow(dead_code)] // each test binary uses a different subset

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hub_gateway::GatewayConfig;
use hub_jobs::{
    ClaimedJob, FlistFile, JobContext, JobEnvelope, JobError, JobHandler, JobKind, JobOutput,
    JobsConfig, JobsError, Publication,
};
use hub_model::Format;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::common::TestHub;

/// Timings short enough for retries and long polls to happen within a test, with room for
/// four jobs at a time and frequent progress.
pub fn fast_jobs() -> JobsConfig {
    JobsConfig {
        concurrency: 4,
        progress_interval: Duration::from_millis(50),
        ..hub_testkit::fast_jobs()
    }
}

/// A gateway with fast job timings, after `adjust`.
pub async fn start(pool: PgPool, adjust: impl FnOnce(&mut GatewayConfig)) -> TestHub {
    TestHub::start_with(pool, |config| {
        config.jobs = fast_jobs();
        config.gateway.sync_timeout = Duration::from_secs(30);
        adjust(config);
    })
    .await
}

/// What the scripted handler saw of one job.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The job's envelope.
    pub envelope: JobEnvelope,
    /// Size and SHA-256 of its staged upload, if it had one.
    pub upload: Option<(usize, [u8; 32])>,
}

/// Job kinds as types, so one handler type serves every queue.
pub trait Kind: Send + Sync + 'static {
    /// The queue.
    const KIND: JobKind;
}

/// `convert` jobs.
pub struct Convert;
/// `verify` jobs.
pub struct Verify;
/// `merge` jobs.
pub struct Merge;
/// `docker` jobs.
pub struct Docker;

impl Kind for Convert {
    const KIND: JobKind = JobKind::Convert;
}
impl Kind for Verify {
    const KIND: JobKind = JobKind::Verify;
}
impl Kind for Merge {
    const KIND: JobKind = JobKind::Merge;
}
impl Kind for Docker {
    const KIND: JobKind = JobKind::Docker;
}

/// The scripted handler for kind `K`.
pub struct Scripted<K> {
    hub_objects: hub_store::ObjectStore,
    seen: Arc<Mutex<Vec<Seen>>>,
    kind: PhantomData<K>,
}

/// The statistics every scripted success reports.
pub fn stats() -> serde_json::Value {
    json!({"regular": 2, "symlink": 1, "directory": 3, "special": 0, "failure": 0, "fullsize": 1234})
}

/// The contents dump a scripted verify job stores, as the gateway serves it.
pub const DUMP: &str = "{\"content\": [{\"size\": 4096, \"path\": \"/etc\"}], \"regular\": 0, \
                        \"symlink\": 0, \"directory\": 1, \"special\": 0, \"failure\": 0, \
                        \"fullsize\": 0}\n";

impl<K: Kind> JobHandler for Scripted<K> {
    const KIND: JobKind = K::KIND;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let name = job.job.target_name.clone();
        let upload = match hub_jobs::staged_object(&job.envelope) {
            Some(object) => {
                let mut reader = ctx.staging().open(object).await?;
                let mut hasher = Sha256::new();
                let mut size = 0;
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let read = reader
                        .read(&mut buffer)
                        .await
                        .map_err(|e| JobError::transient(e.to_string()))?;
                    if read == 0 {
                        break;
                    }
                    size += read;
                    hasher.update(buffer.get(..read).unwrap_or_default());
                }
                Some((size, hasher.finalize().into()))
            }
            None => None,
        };
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                envelope: job.envelope.clone(),
                upload,
            });
        ctx.progress(50, "building", "Building: processing item 1 of 2");
        if let Some(code) = name.strip_prefix("fail-") {
            // `fail-<code>.flist`, or `fail-<code>.x-latest.flist` for an image `fail-<code>.x`.
            let code = code.split('.').next().unwrap_or_default().to_owned();
            return Err(JobError::invalid_as(
                hub_model::FailureCode::parse(&code),
                format!("scripted {code}"),
            ));
        }
        if let Some(ms) = name.strip_prefix("slow-") {
            let ms: u64 = ms
                .split('.')
                .next()
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(1000);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                () = ctx.cancelled().cancelled() => return Err(JobError::Cancelled),
            }
        }
        if name.starts_with("hang") {
            ctx.cancelled().cancelled().await;
            return Err(JobError::Cancelled);
        }
        let file = FlistFile {
            bytes: Bytes::from(format!("scripted flist {name}")),
            format: Format::Flist,
            stats: stats(),
            metadata: json!({}),
            dump: Some(DUMP.as_bytes().to_vec()),
            source: None,
            source_key: None,
        };
        let row = hub_jobs::store_flist(ctx.pool(), &self.hub_objects, file, &job.job.owner)
            .await
            .map_err(JobError::from)?;
        let result = json!({"stats": stats(), "flist_id": row.id});
        Ok(
            JobOutput::publishing(Publication::for_job(job, &row), result)
                .with_info(json!({"stats": stats()})),
        )
    }
}

/// Workers of every kind running the scripted handler, and what they saw.
pub struct Workers {
    seen: Arc<Mutex<Vec<Seen>>>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Result<(), JobsError>>>,
}

impl Workers {
    /// Start one worker per kind against `hub`'s queue.
    pub async fn start(hub: &TestHub) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        tasks.push(spawn::<Convert>(hub, &seen, &shutdown).await);
        tasks.push(spawn::<Verify>(hub, &seen, &shutdown).await);
        tasks.push(spawn::<Merge>(hub, &seen, &shutdown).await);
        tasks.push(spawn::<Docker>(hub, &seen, &shutdown).await);
        Self {
            seen,
            shutdown,
            tasks,
        }
    }

    /// Everything the handlers saw so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the handler saw of job `id`.
    pub fn seen_job(&self, id: &str) -> Option<Seen> {
        self.seen()
            .into_iter()
            .find(|seen| seen.envelope.job_id == id)
    }

    /// Stop the workers.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            // Reported, not failed: a worker's error shows up as the test's own failure.
            if let Ok(Err(error)) = task.await {
                eprintln!("worker failed: {error}");
            }
        }
    }
}

async fn spawn<K: Kind>(
    hub: &TestHub,
    seen: &Arc<Mutex<Vec<Seen>>>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<Result<(), JobsError>> {
    let handler = Scripted::<K> {
        hub_objects: hub.state.objects.clone(),
        seen: Arc::clone(seen),
        kind: PhantomData,
    };
    hub.spawn_worker(handler, shutdown).await
}

/// The JSON error body of the API.
pub fn error_body(message: &str) -> String {
    format!("{{\"status\": \"error\", \"message\": \"{message}\"}}\n")
}

/// The error body of the hub's own APIs (jobs, blocks, tokens): the message and its code.
pub fn coded_error_body(message: &str, code: &str) -> String {
    format!("{{\"status\": \"error\", \"message\": \"{message}\", \"code\": \"{code}\"}}\n")
}

/// Parse a response body as JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    response.json().await.expect("JSON body")
}

/// A hub token (the original's Ed25519 format) for `user`, under seed [`SEED`].
pub fn token(user: &str) -> String {
    hub_auth::mint_hub_token(&SEED, user, chrono::Utc::now().timestamp())
}

/// `threebot_seed` of the authenticated test hubs.
pub const SEED: [u8; 32] = [9u8; 32];

/// Turn authentication on with hub tokens under [`SEED`].
pub fn with_auth(config: &mut GatewayConfig) {
    config.auth.authentication = true;
    config.auth.threebot_seed = Some(hub_auth::config::Key32::new(SEED));
}

/// `iss` of the external identity provider of [`with_external_issuer`].
pub const EXTERNAL_ISSUER: &str = "https://id.example";
/// `aud` the external identity provider's tokens carry.
pub const EXTERNAL_AUDIENCE: &str = "hub.example";

/// A key fixture of hub-auth's tests (`es384-private.pem`, `es384-public.pem`, …).
fn auth_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/auth/tests/fixtures")
        .join(name)
}

/// [`with_auth`], plus an external JWT issuer ([`EXTERNAL_ISSUER`], ES384) whose tokens
/// [`external_jwt`] signs.
pub fn with_external_issuer(config: &mut GatewayConfig) {
    use hub_auth::config::{JwtAlgorithm, JwtIssuerConfig, KeySource};
    with_auth(config);
    config.auth.jwt_issuers.push(JwtIssuerConfig {
        issuer: EXTERNAL_ISSUER.into(),
        audiences: vec![EXTERNAL_AUDIENCE.into()],
        algorithms: vec![JwtAlgorithm::ES384],
        keys: vec![KeySource::PemFile(auth_fixture("es384-public.pem"))],
    });
}

/// A JWT of the external issuer of [`with_external_issuer`] for `username` with `scope`,
/// valid for an hour.
pub fn external_jwt(username: &str, scope: &[&str]) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "username": username, "scope": scope, "iss": EXTERNAL_ISSUER,
        "aud": EXTERNAL_AUDIENCE, "iat": now, "exp": now + 3600,
    });
    let pem = std::fs::read(auth_fixture("es384-private.pem")).expect("key fixture");
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).expect("EC private key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384),
        &claims,
        &key,
    )
    .expect("signing works")
}

/// A `multipart/form-data` body built by hand, so tests control every byte (empty file names,
/// missing parts).
#[derive(Default)]
pub struct Form {
    parts: Vec<u8>,
}

/// The boundary of [`Form`] bodies.
const BOUNDARY: &str = "hub-test-boundary-7f3a";

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a text field.
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.parts.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
        self
    }

    /// Add a file part.
    pub fn file(mut self, name: &str, filename: &str, content: &[u8]) -> Self {
        self.parts.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        self.parts.extend_from_slice(content);
        self.parts.extend_from_slice(b"\r\n");
        self
    }

    /// The `Content-Type` header value.
    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    /// The body.
    pub fn body(mut self) -> Vec<u8> {
        self.parts
            .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.parts
    }
}

/// `POST path` with a multipart `form`, plus `headers`.
pub async fn post_form(
    hub: &TestHub,
    path: &str,
    form: Form,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = hub
        .http
        .post(hub.url(path))
        .header("Content-Type", Form::content_type())
        .body(form.body());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// Store a small flist and publish it as `repository/name` (as a worker would).
pub async fn seed_flist(hub: &TestHub, repository: &str, name: &str) {
    let file = FlistFile {
        bytes: Bytes::from(format!("seeded {repository}/{name}")),
        format: Format::Flist,
        stats: stats(),
        metadata: json!({}),
        dump: None,
        source: None,
        source_key: None,
    };
    let row = hub_jobs::store_flist(&hub.state.pool, &hub.state.objects, file, repository)
        .await
        .expect("store flist");
    let mut conn = hub.state.pool.acquire().await.expect("connection");
    hub_db::entries::publish_flist(
        &mut conn,
        repository,
        name,
        row.id,
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("publish");
}

/// The `Location` header of a response.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
