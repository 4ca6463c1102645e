//! The hub's stateless gateway: the original hub's HTTP API, the job API, downloads, and the
//! gRPC service. Any number of replicas may run behind a load balancer: all state lives in
//! PostgreSQL, NATS JetStream, Redis and the chunk store.

pub mod auth_limit;
pub mod backpressure;
pub mod compat;
pub mod config;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod gc;
pub mod grpc;
pub mod layers;
pub mod limits;
pub mod openapi;
pub mod pyjson;
pub mod routes;
pub mod schemas;
pub mod server;
pub mod service;
pub mod session_key;
pub mod startup;
pub mod state;
pub mod upload;
pub mod web;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hub_jobs::probes;
use hub_telemetry::{Readiness, health_router};

pub use config::GatewayConfig;
pub use startup::StartupError;
pub use state::AppState;

/// The complete HTTP application: every route module, the health endpoints and the
/// cross-cutting layers ([`layers::wrap`]: method case, trailing slashes, `INFO`, CORS, request
/// spans, JSON errors), behind [`forwarded::screen`] (forwarded headers from trusted proxies only). Serve it
/// with [`server::serve`], which gives it the peer address.
pub fn app(state: AppState) -> Router {
    // The configuration was validated at load; an invalid list here trusts nobody.
    let trusted = Arc::new(state.config.gateway.proxies().unwrap_or_default());
    layers::wrap(router(state)).layer(middleware::from_fn_with_state(trusted, forwarded::screen))
}

/// Every route of the gateway (each module's and the health endpoints), without the
/// cross-cutting layers [`app`] puts around them. The OpenAPI drift test reads the paths this
/// router registers.
pub fn router(state: AppState) -> Router {
    let readiness = readiness(&state);
    Router::new()
        .merge(routes::public::router())
        .merge(routes::me::router())
        .merge(routes::downloads::router())
        .merge(routes::jobs::router())
        .merge(routes::submit::router())
        .merge(routes::blocks::router())
        .merge(routes::tokens::router())
        .merge(openapi::router())
        .merge(web::router::router())
        .route("/{repo}/{file}", get(repo_file))
        // `api` is no repository: these paths would otherwise reach the website's pages.
        .route("/api", any(layers::not_found))
        .route("/api/tags/{tag}", any(layers::not_found))
        .method_not_allowed_fallback(layers::method_not_allowed)
        .with_state(state)
        .merge(health_router(readiness))
}

/// `GET /{repo}/{file}`: the website's preview page for `<name>.md`, a download otherwise.
async fn repo_file(
    State(state): State<AppState>,
    Path((repo, file)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let readable =
        |name: &str| compat::names::readable(name, error::ErrorKind::SOURCE_NOT_FOUND).is_ok();
    match file.strip_suffix(".md") {
        Some(name) if readable(&repo) && readable(&file) => {
            web::pages::preview(&state, &headers, &repo, name).await
        }
        _ => routes::downloads::file(State(state), Path((repo, file)), method, headers)
            .await
            .into_response(),
    }
}

/// `/readyz` probes: the gateway is ready when PostgreSQL, NATS and the chunk store answer.
pub fn readiness(state: &AppState) -> Readiness {
    Readiness::new()
        .with(probes::postgres(state.pool.clone()))
        .with(probes::nats(state.jobs.queue().client().clone()))
        .with(probes::store(state.store.clone()))
}
