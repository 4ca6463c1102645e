//! Helpers for tests against the real PostgreSQL, NATS and Redis, and the test data they use.
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
//!
//! Always there: service URLs and optional services ([`optional_service`]) from the environment, NATS
//! prefixes, waiting, test data ([`noise`]), archives ([`TarBuilder`], [`tar_gz`]), tree
//! snapshots ([`snapshot`]) and service processes ([`ServiceProcess`]). Behind features, so that
//! a crate's tests pull in only what they use:
//!
//! * `jobs`: the job platform of one test (`Stack`) and in-process workers (`spawn_worker`), on
//!   hub-jobs;
//! * `store`: a `dir://` store in a temporary directory and a 0-db double (`dir_store`,
//!   `zdb_store`); with `convert`, flists unpacked from a store (`unpack_to_tempdir`);
//! * `registry`: container images pushed to the test registries (the `registry` module).

mod archive;
mod data;
mod env;
mod files;
mod nats;
mod postgres;
mod process;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "jobs")]
mod stack;
#[cfg(feature = "store")]
mod store;
mod tree;
mod wait;
#[cfg(feature = "jobs")]
mod worker;

pub use archive::{Attrs, MTIME, TarBuilder, gzip, raw_header, tar_gz, tar_gz_member};
pub use data::noise;
pub use env::{database_url, database_url_for, nats_url, optional_service, redis_url};
pub use files::backdate_files;
pub use nats::{NatsTest, test_nats_prefix};
pub use postgres::wait_for_lock_waiter;
pub use process::{ServiceProcess, free_port, http_get, service_config, signal};
#[cfg(feature = "jobs")]
pub use stack::{Stack, fast_jobs, published};
#[cfg(feature = "convert")]
pub use store::unpack_to_tempdir;
#[cfg(feature = "store")]
pub use store::{dir_store, zdb_store};
pub use tree::{Entry, snapshot};
pub use wait::wait_until;
#[cfg(feature = "jobs")]
pub use worker::spawn_worker;

/// The error of helpers that fail for many reasons: any error, as `?` in a test wants it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// A test service is named in the environment, but nothing answers there.
    #[error("{var}={value} is set but nothing answers there")]
    Unreachable {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
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
