//! The error type of every store.

/// 0-db error sentences that describe a passing condition: retrying later can succeed.
const TRANSIENT_ZDB_ERRORS: &[&str] = &[
    "Cannot write data right now",
    "Cannot write index right now",
    "Namespace is temporarily locked (read-only)",
    "Namespace is temporarily frozen (read-write disabled)",
];

/// Errors of block stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store spec or URL cannot be used.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The offending spec entry (password removed where it could be parsed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store cannot be reached right now: connection refused or reset, timeout.
    #[error("store {url} is unavailable: {reason}")]
    Unavailable {
        /// Store URL, password stripped.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The store answered something unexpected; for 0-db, `message` is its full error text.
    #[error("store {url} answered unexpectedly: {message}")]
    Protocol {
        /// Store URL, password stripped.
        url: String,
        /// The full reply text (0-db error sentences are matched on the full text).
        message: String,
    },
    /// The value is larger than a store accepts ([`crate::MAX_VALUE_SIZE`]).
    #[error("value of {size} bytes is larger than the {limit}-byte limit")]
    TooLarge {
        /// Size of the refused value.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No route of a router covers the first byte of the id.
    #[error("no store route covers ids starting with byte {first:#04x}")]
    NoRoute {
        /// First byte of the id.
        first: u8,
    },
    /// The key is empty or too long.
    #[error("invalid key of {len} bytes: {reason}")]
    InvalidKey {
        /// Length of the key.
        len: usize,
        /// Which limit it breaks.
        reason: &'static str,
    },
    /// An empty value was stored or found; flist readers treat empty blocks as invalid.
    #[error("empty value for key {key} in store {url}: empty blocks are invalid")]
    EmptyValue {
        /// Store URL, password stripped.
        url: String,
        /// Hex of the key.
        key: String,
    },
    /// A content-addressed object does not match its manifest or its hash.
    #[error("object {id} is corrupt: {reason}")]
    CorruptObject {
        /// Hex object id.
        id: String,
        /// What does not match.
        reason: String,
    },
    /// The store cannot do this operation (e.g. listing or deleting for garbage collection).
    #[error("store {url} does not support {operation}")]
    Unsupported {
        /// Store URL, password stripped.
        url: String,
        /// The refused operation.
        operation: &'static str,
    },
    /// The block journal could not record a block a writer is about to write or confirm
    /// ([`crate::Journaled`]); nothing was sent to the store. Transient when the journal's
    /// database is unreachable or overloaded: workers then pause as for a store outage.
    #[error("block journal: {reason}")]
    Journal {
        /// What failed.
        reason: String,
        /// Whether retrying later can succeed.
        transient: bool,
    },
    /// Local file-system error (directory stores).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether retrying the same operation later (with back-off) can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Journal { transient, .. } => *transient,
            Self::Protocol { message, .. } => TRANSIENT_ZDB_ERRORS.contains(&message.as_str()),
            Self::Io(error) => matches!(
                error.kind(),
                std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
            ),
            Self::InvalidUrl { .. }
            | Self::TooLarge { .. }
            | Self::NoRoute { .. }
            | Self::InvalidKey { .. }
            | Self::EmptyValue { .. }
            | Self::CorruptObject { .. }
            | Self::Unsupported { .. }
            | Self::Task(_) => false,
        }
    }
}

/// `InvalidUrl` for `url`, its password removed.
pub(crate) fn invalid(url: &str, reason: &str) -> StoreError {
    StoreError::InvalidUrl {
        // A URL that failed to parse must not leak its password into a message or a log.
        url: without_password(url),
        reason: reason.to_owned(),
    }
}

/// `scheme://user:password@…` without `:password` (the user stays).
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        let unavailable = StoreError::Unavailable {
            url: "zdb://h:9900".into(),
            reason: "connection refused".into(),
        };
        assert!(unavailable.is_transient());
        let busy = StoreError::Protocol {
            url: "zdb://h:9900".into(),
            message: "Cannot write data right now".into(),
        };
        assert!(busy.is_transient());
        let denied = StoreError::Protocol {
            url: "zdb://h:9900".into(),
            message: "Access denied".into(),
        };
        assert!(!denied.is_transient());
        assert!(!StoreError::NoRoute { first: 1 }.is_transient());
        assert!(StoreError::Io(std::io::ErrorKind::TimedOut.into()).is_transient());
        assert!(!StoreError::Io(std::io::ErrorKind::PermissionDenied.into()).is_transient());
    }
}
