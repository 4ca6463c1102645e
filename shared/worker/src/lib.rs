//! `hub-worker`: the process wiring and the publishing steps shared by the worker binaries
//! (`hub-worker-convert`, `hub-worker-merge`, `hub-worker-docker`), so that each of them holds
//! only its job handlers and its own settings table.
//!
//! * Wiring: [`start`] (command line, configuration, logging), [`WorkerConfig`] (the shared
//!   `hub.toml` keys plus the worker's tables), [`Connections`] (PostgreSQL, NATS, staging,
//!   the chunk store, with their readiness probes) and [`Service`] (job workers, janitor,
//!   `/healthz` and `/readyz`, graceful shutdown).
//! * Publishing: [`PublishSettings`] points a built flist at the hub's public store, and
//!   [`output`] serialises it off the async threads, precomputes what the hub serves about it
//!   and stores it.
//! * What handlers share about a job: [`requested_format`], [`convert_failure`] and the
//!   [`progress`] words.

mod config;
mod confirm;
mod connect;
mod envelope;
mod error;
mod failure;
mod launch;
pub mod output;
pub mod progress;
mod publish;
mod service;

pub use config::WorkerConfig;
pub use confirm::confirm_blocks;
pub use connect::Connections;
pub use envelope::requested_format;
pub use error::ServiceError;
pub use failure::convert_failure;
pub use launch::{WorkerArgs, start};
pub use progress::READY;
pub use publish::PublishSettings;
pub use service::Service;
