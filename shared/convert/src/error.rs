//! The crate's error type.

use hub_flist::FlistError;
use hub_flist::chunk::ChunkError;
use hub_model::FailureCode;
use hub_store::StoreError;

/// Everything that can go wrong while converting, merging, verifying or unpacking.
///
/// A rejected archive never yields a partial flist: the conversion functions return this error
/// instead of a [`Conversion`](crate::Conversion), so the caller has nothing to publish. Blocks
/// that were already stored stay in the store; they are content-addressed, so they are simply
/// unreferenced (and re-used by the next conversion of the same content).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The input is not a tar archive in one of the supported compressions
    /// (none, gzip, zstd, xz, bzip2), judged by its magic bytes.
    #[error("unknown archive format: not a tar, .tar.gz, .tar.zst, .tar.xz or .tar.bz2")]
    UnknownFormat,
    /// The archive is corrupt, truncated or uses a feature that cannot be represented.
    #[error("invalid archive{}: {detail}", at(entry))]
    InvalidArchive {
        /// Path of the entry being read, when known.
        entry: Option<String>,
        /// What is wrong.
        detail: String,
    },
    /// An entry would be written outside the root, or through a symbolic link.
    #[error("unsafe path {entry:?}: {reason}")]
    UnsafePath {
        /// The entry's path as found in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// A configured limit was exceeded (see [`Limits`](crate::Limits)).
    #[error("limit exceeded: {limit} is {value}, the maximum is {max}")]
    LimitExceeded {
        /// Name of the limit, as in [`Limits`](crate::Limits) (e.g. `max_entries`).
        limit: &'static str,
        /// The value reached when the conversion stopped.
        value: u64,
        /// The configured maximum.
        max: u64,
    },
    /// A device file was found while [`Limits::allow_devices`](crate::Limits) is off.
    #[error("device file {entry:?} is not allowed")]
    DeviceNotAllowed {
        /// The entry's path.
        entry: String,
    },
    /// The request itself is unusable (e.g. nothing to merge).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Reading the input stream failed (not a format problem: the source itself failed).
    #[error("reading the input failed: {0}")]
    Input(#[source] std::io::Error),
    /// The block store failed; [`ConvertError::is_transient`] tells whether a retry can help.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing an flist failed.
    #[error(transparent)]
    Flist(#[from] FlistError),
    /// A block referenced by the flist is not in the store.
    #[error("block {id} of {path} is missing from the store")]
    MissingBlock {
        /// Hex id of the block.
        id: String,
        /// Path of a file that references it.
        path: String,
    },
    /// A block fetched from the store does not decode with its reference.
    #[error("block {id} is corrupt: {source}")]
    CorruptBlock {
        /// Hex id of the block.
        id: String,
        /// Why decoding failed.
        #[source]
        source: ChunkError,
    },
    /// A local file-system operation failed (directory sources, unpacking).
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An internal task stopped unexpectedly (a panic in a worker, or a cancelled task).
    #[error("internal error: {0}")]
    Internal(String),
}

fn at(entry: &Option<String>) -> String {
    match entry {
        Some(entry) => format!(" at {entry:?}"),
        None => String::new(),
    }
}

impl ConvertError {
    /// Whether retrying the same operation later can succeed: store outages and broken input
    /// connections are transient, bad input is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(error) => error.is_transient(),
            Self::Input(error) => matches!(
                error.kind(),
                std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }

    /// The stable failure code of a job that ends with this error.
    pub fn code(&self) -> FailureCode {
        match self {
            Self::UnknownFormat => FailureCode::UnknownFormat,
            Self::InvalidArchive { .. } => FailureCode::InvalidArchive,
            Self::UnsafePath { .. } => FailureCode::UnsafePath,
            Self::LimitExceeded { .. } => FailureCode::LimitExceeded,
            Self::DeviceNotAllowed { .. } => FailureCode::DeviceNotAllowed,
            Self::InvalidInput(_) => FailureCode::InvalidInput,
            Self::Input(_) => FailureCode::InputFailed,
            Self::Store(error) if error.is_transient() => FailureCode::StoreUnavailable,
            Self::Store(_) => FailureCode::StoreError,
            Self::Flist(_) => FailureCode::InvalidFlist,
            Self::MissingBlock { .. } => FailureCode::MissingBlock,
            Self::CorruptBlock { .. } => FailureCode::CorruptBlock,
            Self::Io { .. } => FailureCode::IoError,
            Self::Internal(_) => FailureCode::Internal,
        }
    }

    /// An [`Io`](Self::Io) error for `path`.
    pub(crate) fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_string(),
            source,
        }
    }

    /// An [`InvalidArchive`](Self::InvalidArchive) error.
    pub(crate) fn invalid(entry: Option<&str>, detail: impl Into<String>) -> Self {
        Self::InvalidArchive {
            entry: entry.map(str::to_owned),
            detail: detail.into(),
        }
    }

    /// An [`UnsafePath`](Self::UnsafePath) error.
    pub(crate) fn unsafe_path(entry: &str, reason: impl Into<String>) -> Self {
        Self::UnsafePath {
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<tokio::task::JoinError> for ConvertError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_transience() {
        let down = ConvertError::Store(StoreError::Unavailable {
            url: "zdb://h".into(),
            reason: "refused".into(),
        });
        assert!(down.is_transient());
        assert_eq!(down.code(), FailureCode::StoreUnavailable);
        let bad = ConvertError::invalid(Some("a/b"), "truncated");
        assert!(!bad.is_transient());
        assert_eq!(bad.code(), FailureCode::InvalidArchive);
        assert_eq!(bad.to_string(), "invalid archive at \"a/b\": truncated");
        let reset = ConvertError::Input(std::io::ErrorKind::ConnectionReset.into());
        assert!(reset.is_transient());
        assert_eq!(
            ConvertError::LimitExceeded {
                limit: "max_entries",
                value: 11,
                max: 10
            }
            .code(),
            FailureCode::LimitExceeded
        );
    }
}
