//! The crate's error type.

use crate::tree::TreeError;

/// Errors reading or writing an flist. Malformed input always ends here, never in a panic.
#[derive(Debug, thiserror::Error)]
pub enum FlistError {
    /// The bytes are neither gzip (`.flist`) nor SQLite (`.fl`).
    #[error("not an flist: neither gzip nor SQLite data")]
    UnknownFormat,
    /// The gzip stream is truncated or corrupt.
    #[error("gzip: {0}")]
    Gzip(#[source] std::io::Error),
    /// The tar archive inside the gzip stream is corrupt.
    #[error("tar: {0}")]
    Tar(#[source] std::io::Error),
    /// The archive holds no `flistdb.sqlite3`.
    #[error("archive has no flistdb.sqlite3")]
    MissingDatabase,
    /// Decompressed data or the database exceeds the configured limit.
    #[error("flist larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// SQLite failed (corrupt database, missing table, …).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A Cap'n Proto message is malformed.
    #[error("cap'n proto: {0}")]
    Capnp(#[from] capnp::Error),
    /// An `entries` key is not TEXT hex of 16 or 32 characters, or not a known row kind.
    #[error("invalid entries key {key:?}")]
    BadEntryKey {
        /// The key as read (lossy text).
        key: String,
    },
    /// The root directory row is missing.
    #[error("the root directory is missing")]
    MissingRoot,
    /// A sub-directory entry names a directory row that does not exist.
    #[error("sub-directory {name:?} points to missing directory row {key}")]
    DanglingDirectory {
        /// The entry's name.
        name: String,
        /// The missing key.
        key: String,
    },
    /// The directory graph loops (a sub-directory points at an ancestor, or `.fl` parent links
    /// form a cycle).
    #[error("directory cycle at {at}")]
    Cycle {
        /// Key or inode number where the cycle was detected.
        at: String,
    },
    /// Two sub-directory entries point at the same directory row.
    #[error("directory row {key} is referenced twice")]
    SharedDirectory {
        /// The shared key.
        key: String,
    },
    /// An ACL key has no ACI row.
    #[error("missing ACL row {key}")]
    MissingAcl {
        /// The missing key.
        key: String,
    },
    /// A block id or key has the wrong length for the format.
    #[error("{what} is {got} bytes long, expected {expected}")]
    BadHashLength {
        /// `id` or `key`.
        what: &'static str,
        /// Actual length.
        got: usize,
        /// Length required by the format.
        expected: usize,
    },
    /// A stored text is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    Utf8 {
        /// Which text.
        what: &'static str,
    },
    /// A uid or gid is outside 0 … 2^32-1.
    #[error("{what} {value} out of range")]
    BadId {
        /// `uid` or `gid`.
        what: &'static str,
        /// The value.
        value: i64,
    },
    /// A `.fl` column holds the wrong SQLite storage class or value.
    #[error("{table}.{column}: {problem}")]
    BadColumn {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A `.fl` inode row is inconsistent.
    #[error("inode {ino}: {problem}")]
    BadInode {
        /// Inode number.
        ino: i64,
        /// What is wrong.
        problem: String,
    },
    /// A `.fl` inode is not reachable from the root.
    #[error("inode {ino} is not reachable from the root")]
    Orphan {
        /// Inode number.
        ino: i64,
    },
    /// Two entries of one directory have the same name.
    #[error("duplicate entry {path}")]
    DuplicateName {
        /// Path of the second entry.
        path: String,
    },
    /// An entry name is unusable, or the tree cannot be built.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The `backend` metadata value does not parse as rfs v1 requires (flist-formats §A.8).
    #[error("invalid backend metadata: {0}")]
    BadBackend(#[source] serde_json::Error),
    /// A route is outside 0 … 255.
    #[error("invalid route {start}-{end}")]
    BadRoute {
        /// First byte of the range.
        start: i64,
        /// Last byte of the range.
        end: i64,
    },
    /// The tree cannot be written in this format.
    #[error("cannot write: {0}")]
    Unwritable(String),
    /// File-system error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
