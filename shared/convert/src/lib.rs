//! The work of the hub's workers, as library code: archive → flist, directory → flist, merge,
//! verify and unpack.
//!
//! * [`convert_archive`]: a tar stream (bare, gzip, zstd, xz or bzip2, detected from its magic
//!   bytes) from any [`AsyncRead`](tokio::io::AsyncRead), converted without extracting it.
//! * [`convert_dir`]: a directory on disk.
//! * [`TreeBuilder`]: several sources in order (image layers with OCI whiteouts, extra
//!   files such as `/.startup.toml`).
//! * [`merge`]: N flists into one (first wins, or overlay), across formats.
//! * [`verify`]: are all blocks of an flist in a store (and, deep, intact)?
//! * [`unpack`]: restore an flist's tree to disk.
//! * [`bench`](mod@bench): the reproducible benchmark behind `hubctl bench`.
//!
//! File contents flow through a bounded pipeline (one reading thread, a pool of encoder
//! threads, bounded concurrent store writes): memory stays flat whatever the input size, and
//! no hashing, compression or encryption runs on the async runtime's threads.
//!
//! A conversion that fails returns an error and no flist, so nothing is published. Blocks it
//! already stored remain in the store: they are content-addressed, so they are merely
//! unreferenced and are re-used by any later conversion of the same content.

#![warn(missing_docs)]

pub mod bench;
mod builder;
mod cpu;
mod decompress;
mod dir;
mod error;
mod layer;
mod merge;
mod options;
mod paths;
mod pipeline;
mod rechunk;
mod state;
mod unpack;
mod verify;

pub use builder::{TreeBuilder, convert_archive, convert_dir};
pub use decompress::Compression;
pub use error::ConvertError;
pub use merge::{MergeMode, merge};
pub use options::{
    Conversion, ConversionStats, ConvertOptions, Limits, NoProgress, Phase, Progress,
    ProgressReport,
};
pub use unpack::{UnpackOptions, UnpackStats, unpack};
pub use verify::{VerifyOptions, VerifyReport, verify};
