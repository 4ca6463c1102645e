//! Liveness (`/healthz`) and readiness (`/readyz`) endpoints.
//!
//! `/healthz` answers 200 as long as the process serves requests. `/readyz` runs every probe
//! (PostgreSQL, NATS, chunk store, …) concurrently and answers 200 only when all pass, 503
//! otherwise, with a JSON body naming each probe's result so operators see what is down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use futures::future::{BoxFuture, join_all};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

/// How long one probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

type ProbeFn = dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync;

/// One dependency check.
#[derive(Clone)]
pub struct Probe {
    name: &'static str,
    check: Arc<ProbeFn>,
}

impl Probe {
    /// A probe named `name` that succeeds when `check` resolves to `Ok`.
    pub fn new<F>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        Self {
            name,
            check: Arc::new(check),
        }
    }

    async fn run(&self) -> Result<(), String> {
        match tokio::time::timeout(PROBE_TIMEOUT, (self.check)()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        }
    }
}

/// The set of probes that decide readiness.
#[derive(Clone, Default)]
pub struct Readiness {
    probes: Vec<Probe>,
}

impl Readiness {
    /// Readiness with no probes (always ready).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a probe.
    pub fn with(mut self, probe: Probe) -> Self {
        self.probes.push(probe);
        self
    }

    /// Run every probe; `true` when all pass, and a JSON object `{name: "ok" | error}`.
    pub async fn report(&self) -> (bool, Value) {
        let results = join_all(self.probes.iter().map(Probe::run)).await;
        let mut checks = Map::new();
        let mut ready = true;
        for (probe, result) in self.probes.iter().zip(results) {
            let value = match result {
                Ok(()) => Value::from("ok"),
                Err(error) => {
                    ready = false;
                    Value::from(error)
                }
            };
            checks.insert(probe.name.to_owned(), value);
        }
        (ready, Value::Object(checks))
    }
}

/// A router serving `/healthz` and `/readyz`; the gateway merges it into its own router.
pub fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ready, checks) = readiness.report().await;
    let (status, word) = if ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    (status, Json(json!({"status": word, "checks": checks})))
}

/// Serve the health endpoints on `addr` until `shutdown` fires (workers use this; they have no
/// other HTTP surface).
pub async fn serve_health(
    addr: SocketAddr,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "health endpoints listening");
    axum::serve(listener, health_router(readiness))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_json(router: Router, path: &str) -> (StatusCode, Value) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn ready_only_when_every_probe_passes() {
        let readiness = Readiness::new()
            .with(Probe::new("db", || Box::pin(async { Ok(()) })))
            .with(Probe::new("store", || {
                Box::pin(async { Err("connection refused".to_owned()) })
            }));
        let (status, body) = get_json(health_router(readiness), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["db"], "ok");
        assert_eq!(body["checks"]["store"], "connection refused");

        let readiness = Readiness::new().with(Probe::new("db", || Box::pin(async { Ok(()) })));
        let (status, body) = get_json(health_router(readiness), "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
    }

    #[tokio::test]
    async fn healthz_is_always_ok() {
        let readiness =
            Readiness::new().with(Probe::new("db", || Box::pin(async { Err("down".into()) })));
        let (status, _) = get_json(health_router(readiness), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_probe_times_out() {
        let readiness = Readiness::new().with(Probe::new("slow", || {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
        }));
        let (ready, checks) = readiness.report().await;
        assert!(!ready);
        assert!(
            checks["slow"]
                .as_str()
                .unwrap_or_default()
                .contains("no answer")
        );
    }
}
