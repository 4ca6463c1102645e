//! PostgreSQL schema and queries of the hub.
//!
//! One module per resource: [`repositories`], [`entries`], [`tags`], [`flists`], [`jobs`],
//! [`events`], and the authentication layer's tables in [`auth`]. Queries are checked at run
//! time (`sqlx::query_as` with [`sqlx::FromRow`]), so building needs no database. Functions
//! take an executor (`&PgPool`, or `&mut PgConnection` for the ones that must run inside a
//! caller's transaction) and return [`DbError`].

/// `format!` for SQL text assembled from constants of this crate (column lists, guards), never
/// from input: values are always bound as parameters.
macro_rules! sql {
    ($($arg:tt)*) => {
        sqlx::AssertSqlSafe(format!($($arg)*))
    };
}

pub mod auth;
pub mod block_journal;
pub mod entries;
mod error;
pub mod events;
pub mod flists;
pub mod gc_runs;
pub mod jobs;
pub mod quota;
pub mod repositories;
pub mod tags;

use std::str::FromStr;
use std::time::Duration;

pub use error::{Conflict, DbError, Missing};
pub use quota::EntryQuota;
pub use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The schema migrations in `shared/db/migrations`, embedded at build time.
///
/// Integration tests use it with `#[sqlx::test(migrator = "hub_db::MIGRATOR")]`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Open a connection pool of at most `max_connections` connections to `url`.
///
/// JIT compilation is switched off for the pool's sessions: every query of the hub is a short
/// indexed lookup, for which the JIT's compile time (tens of milliseconds) costs more than it saves.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Succeeds when the database answers a trivial query (readiness probes).
pub async fn ping(pool: &PgPool) -> Result<(), DbError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Apply the pending migrations (the `migrate` command and `./hub up` call this).
///
/// Safe to run concurrently from several processes: sqlx serialises migrators with an advisory
/// lock.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
