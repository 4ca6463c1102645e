//! Service plumbing shared by every hub binary: logging and tracing (optionally exported over
//! OTLP), the `/healthz` and `/readyz` endpoints, and graceful shutdown on SIGTERM/SIGINT.

mod health;
mod logging;
mod shutdown;

pub use health::{Probe, Readiness, health_router, serve_health};
pub use logging::{TelemetryError, TelemetryGuard, init};
pub use shutdown::shutdown_token;
