//! Helpers for tests against the real PostgreSQL, NATS and Redis.
//!
//! Services are never mocked. Each test isolates itself: PostgreSQL through
//! `#[sqlx::test(migrator = "hub_db::MIGRATOR")]` (a fresh database per test), NATS through a
//! unique subject/stream prefix ([`NatsTest`]) whose streams are deleted when the test ends.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hub_testkit::TestkitError> {
//! let nats = hub_testkit::NatsTest::connect().await?;
//! // … create `<prefix>_jobs` etc. with `nats.prefix()` …
//! nats.cleanup().await?;
//! # Ok(()) }
//! ```

mod env;
mod files;
mod nats;
mod postgres;
mod wait;

pub use env::{database_url, database_url_for, nats_url, redis_url};
pub use files::backdate_files;
pub use nats::{NatsTest, test_nats_prefix};
pub use postgres::wait_for_lock_waiter;
pub use wait::wait_until;

/// Error of a test helper.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// NATS could not be reached or refused a request.
    #[error("NATS ({url}): {message}")]
    Nats {
        /// Server URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// A condition did not hold in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
}

/// Log to the test's captured output, filtered by `RUST_LOG` (default `info`). Call it first in
/// a test; later calls do nothing.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Fails when another test of the binary installed it already, which is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
