//! The crate's error type.

use hub_db::DbError;

/// Error of the job platform.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// A NATS or JetStream request failed.
    #[error("NATS {context}: {source}")]
    Nats {
        /// What was being done.
        context: &'static str,
        /// The client's error.
        #[source]
        source: async_nats::Error,
    },
    /// A database query failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A job envelope is malformed (bad id, no payload).
    #[error("invalid job envelope: {0}")]
    InvalidEnvelope(String),
    /// A staged upload does not exist (expired, or already deleted).
    #[error("staged upload `{0}` not found")]
    StagedObjectMissing(String),
    /// The content store failed.
    #[error("store: {0}")]
    Store(#[from] hub_store::StoreError),
    /// A background task (hashing, a store write) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The configuration cannot work.
    #[error("invalid jobs configuration: {0}")]
    Config(String),
}

impl JobsError {
    /// Wrap a NATS client error with what was being done.
    pub(crate) fn nats(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Nats {
            context,
            source: Box::new(source),
        }
    }

    /// Whether retrying later may succeed (NATS, the database or the store unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Nats { .. } => true,
            Self::Db(err) => err.is_transient(),
            Self::Store(err) => err.is_transient(),
            Self::InvalidEnvelope(_)
            | Self::StagedObjectMissing(_)
            | Self::Task(_)
            | Self::Config(_) => false,
        }
    }
}
