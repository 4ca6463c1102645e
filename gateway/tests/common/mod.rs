//! Test harness: the real gateway app on a loopback port, against the real PostgreSQL (a fresh
//! database per test, from `#[sqlx::test]`), NATS (a unique prefix per test) and Redis, with a
//! directory chunk store in a temporary folder.

#![allow(dead_code)] // each test binary uses a different subset

pub mod raw;

use std::net::SocketAddr;

use hub_gateway::{AppState, GatewayConfig};
use hub_jobs::{JobHandler, JobsError};
use hub_testkit::NatsTest;
use sqlx::PgPool;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running gateway for one test.
pub struct TestHub {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// Address the gateway listens on.
    pub addr: SocketAddr,
    /// The app's state (database pool, store, job client, …) for seeding and inspection.
    pub state: AppState,
    /// The configuration the gateway runs with.
    pub config: GatewayConfig,
    /// HTTP client for requests to the hub.
    pub http: reqwest::Client,
    /// The chunk store's directory.
    pub store_dir: TempDir,
    /// Cancelling it shuts the server down gracefully, as `SIGTERM` does the binary.
    pub shutdown: CancellationToken,
    nats: Option<NatsTest>,
    server: JoinHandle<()>,
}

impl TestHub {
    /// Start a gateway with authentication disabled (every caller is `Administrator`).
    pub async fn start(pool: PgPool) -> Self {
        Self::start_with(pool, |_| {}).await
    }

    /// Start a gateway after `adjust` changed its configuration.
    pub async fn start_with(pool: PgPool, adjust: impl FnOnce(&mut GatewayConfig)) -> Self {
        hub_testkit::init_logging();
        let nats = NatsTest::connect().await.expect("NATS for tests");
        let store_dir = TempDir::new().expect("temp dir");
        let mut config = GatewayConfig::default();
        config.common.nats_url = nats.url().to_owned();
        config.common.nats_prefix = nats.prefix().to_owned();
        config.common.redis_url = hub_testkit::redis_url();
        config.common.store = format!("dir://{}", store_dir.path().display());
        config.auth.authentication = false;
        adjust(&mut config);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        if config.public_url == GatewayConfig::default().public_url {
            config.public_url = format!("http://{addr}");
        }
        let state = AppState::connect_with_pool(config.clone(), pool)
            .await
            .expect("gateway state");
        let app = hub_gateway::app(state.clone());
        // Served as the binary serves it (connection timeouts, per-address cap, peer address).
        let served = config.clone();
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let server = tokio::spawn(async move {
            hub_gateway::server::serve(listener, app, &served, signal).await;
        });
        Self {
            base: format!("http://{addr}"),
            addr,
            state,
            config,
            http: reqwest::Client::new(),
            store_dir,
            shutdown,
            nats: Some(nats),
            server,
        }
    }

    /// A worker running `handler` on this hub's queue, on a task of its own (see
    /// [`hub_testkit::spawn_worker`]: cancelling `shutdown` stops it, aborting the task is a
    /// crash).
    pub async fn spawn_worker<H: JobHandler>(
        &self,
        handler: H,
        shutdown: &CancellationToken,
    ) -> JoinHandle<Result<(), JobsError>> {
        hub_testkit::spawn_worker(
            self.state.jobs.queue(),
            &self.state.pool,
            &self.state.staging,
            handler,
            shutdown,
        )
        .await
        .expect("worker")
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, with no header of its own.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    /// `GET path`, which must answer 200: the body (a flist file, say).
    pub async fn download(&self, path: &str) -> bytes::Bytes {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.bytes().await.expect("body")
    }

    /// Stop the server and delete the test's NATS streams and buckets.
    pub async fn stop(mut self) {
        self.server.abort();
        if let Some(nats) = self.nats.take() {
            nats.cleanup().await.expect("NATS cleanup");
        }
    }
}
