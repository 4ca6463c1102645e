//! Settings, progress reporting and results of a conversion.

use hub_flist::{Flist, Format};
use serde::{Deserialize, Serialize};

/// Guards against hostile or accidental huge input. Every limit is checked while streaming,
/// before the offending data is buffered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest compressed input, in bytes.
    pub max_compressed_bytes: u64,
    /// Largest expanded input (decompressed tar stream, and also the sum of the sizes that
    /// entries declare, which catches sparse files claiming terabytes of holes).
    pub max_expanded_bytes: u64,
    /// Largest ratio expanded / compressed, checked once more than
    /// [`Limits::RATIO_FLOOR`] bytes are expanded; stops gzip bombs early.
    pub max_ratio: u64,
    /// Largest number of archive entries (headers of files, directories, links, …).
    pub max_entries: u64,
    /// Longest entry path, in bytes.
    pub max_path_len: usize,
    /// Whether character and block devices are accepted.
    pub allow_devices: bool,
}

impl Limits {
    /// Expanded bytes below which the ratio is not checked: small archives of very
    /// compressible text legitimately have high ratios.
    pub const RATIO_FLOOR: u64 = 16 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_compressed_bytes: 10 << 30,
            max_expanded_bytes: 50 << 30,
            max_ratio: 200,
            max_entries: 1_000_000,
            max_path_len: 4096,
            allow_devices: true,
        }
    }
}

/// How a conversion runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertOptions {
    /// Output format.
    #[serde(with = "format_name")]
    pub format: Format,
    /// Input limits.
    pub limits: Limits,
    /// Threads hashing, compressing and encrypting blocks (0: one per core).
    pub workers: usize,
    /// Blocks buffered between reading and storing; bounds memory to about
    /// `blocks_in_flight × 512 KiB × 2`.
    pub blocks_in_flight: usize,
    /// Store writes in flight at once (a 0-db pool serves one request per connection).
    pub store_concurrency: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            format: Format::Flist,
            limits: Limits::default(),
            workers: 0,
            blocks_in_flight: 32,
            store_concurrency: 16,
        }
    }
}

impl ConvertOptions {
    /// Default options for `format`.
    pub fn new(format: Format) -> Self {
        ConvertOptions {
            format,
            ..ConvertOptions::default()
        }
    }

    /// Worker threads to start: `workers`, or the number of cores when 0.
    pub(crate) fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, usize::from)
        }
    }
}

/// Serde helper: formats by extension (`"flist"`, `"fl"`).
mod format_name {
    use hub_flist::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(format: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(format.extension())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        // A leading dot is tolerated: `.fl` is how people write an extension.
        let name = String::deserialize(d)?;
        name.trim_start_matches('.')
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a conversion is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading entries and cutting file contents into blocks.
    Reading,
    /// Input consumed; waiting for the last blocks to be encoded and stored.
    Storing,
    /// Everything is stored; the flist is ready.
    Done,
}

/// A snapshot of a conversion's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressReport {
    /// Current phase.
    pub phase: Phase,
    /// Input bytes consumed so far (compressed bytes for archives, file bytes for
    /// directories).
    pub bytes_in: u64,
    /// Total input bytes when the caller announced it
    /// ([`TreeBuilder::with_input_size`](crate::TreeBuilder::with_input_size)); inputs are
    /// read in one pass, so it is not known otherwise.
    pub bytes_total: Option<u64>,
    /// Entries processed.
    pub entries: u64,
    /// Distinct blocks written to the store.
    pub blocks_written: u64,
    /// Blocks whose content was already written earlier in this conversion.
    pub blocks_deduped: u64,
}

/// Receives progress reports. Called from worker threads, often: implementations must be
/// cheap and do their own throttling (e.g. publish at most once a second).
pub trait Progress: Send + Sync {
    /// A new snapshot.
    fn update(&self, report: &ProgressReport);
}

/// A [`Progress`] that ignores every report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _report: &ProgressReport) {}
}

/// Counters of a finished conversion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConversionStats {
    /// Entries processed (archive members, or directory entries).
    pub entries: u64,
    /// Input bytes read (compressed archive bytes, or file bytes for directories).
    pub input_bytes: u64,
    /// Bytes of file content cut into blocks (hard-linked content counted once).
    pub content_bytes: u64,
    /// Blocks cut from file contents.
    pub blocks: u64,
    /// Distinct blocks written to the store.
    pub blocks_written: u64,
    /// Blocks that repeated content already written in this conversion (not stored again).
    pub blocks_deduped: u64,
    /// Encoded bytes written to the store.
    pub stored_bytes: u64,
}

/// The result of a conversion: the flist (not yet serialised) and its statistics.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The flist; serialise it with [`hub_flist::write_bytes`] or [`hub_flist::write_file`].
    pub flist: Flist,
    /// What the conversion did.
    pub stats: ConversionStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_deserialize_with_defaults() -> Result<(), serde_json::Error> {
        let o: ConvertOptions =
            serde_json::from_str(r#"{"format": "fl", "limits": {"max_entries": 10}}"#)?;
        assert_eq!(o.format, Format::Fl);
        assert_eq!(o.limits.max_entries, 10);
        assert_eq!(o.limits.max_ratio, Limits::default().max_ratio);
        assert_eq!(o.blocks_in_flight, 32);
        assert!(serde_json::from_str::<ConvertOptions>(r#"{"format": "zip"}"#).is_err());
        Ok(())
    }
}
