//! Storing a built flist so a handler can publish it.

use bytes::Bytes;
use md5::{Digest, Md5};

use hub_db::PgPool;
use hub_db::flists::{self, Flist, NewFlist};
use hub_model::Format;
use hub_store::ObjectStore;

use crate::JobsError;
use crate::crash::{CrashPoint, crash_point};
use crate::worker::{ClaimedJob, Publication, PublishedFlist};

/// A flist file built (or received) by a job, with what the hub precomputes about it.
#[derive(Debug, Clone)]
pub struct FlistFile {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Its format.
    pub format: Format,
    /// `{regular, symlink, directory, special, failure, fullsize}` (hub-api §6).
    pub stats: serde_json::Value,
    /// The flist's metadata table as a JSON object.
    pub metadata: serde_json::Value,
    /// The contents dump of hub-api §6.6, serialised as served.
    pub dump: Option<Vec<u8>>,
    /// What it was built from.
    pub source: Option<serde_json::Value>,
    /// Idempotency key of the conversion (source digest + options + format version).
    pub source_key: Option<String>,
}

/// Store `file`'s bytes as an immutable, content-addressed object and return the values of its
/// row, without writing the row. A handler returns them with [`Publication::staged`]; the
/// runtime writes the row in the transaction that publishes the entry and marks the job
/// succeeded, so a row is only ever written together with an entry referencing it. A worker
/// dying before that commit leaves at most an object no row names: garbage the collector
/// removes by age. Storing is idempotent, so a redelivered job doing it again changes nothing.
pub async fn stage_flist(
    objects: &ObjectStore,
    file: FlistFile,
    creator: &str,
) -> Result<NewFlist, JobsError> {
    let bytes = file.bytes.clone();
    // Hashing a multi-megabyte file is CPU work: keep it off the async threads.
    let md5 = tokio::task::spawn_blocking(move || hex::encode(Md5::digest(&bytes))).await?;
    // A slice length always fits: no allocation exceeds isize::MAX bytes.
    let size = i64::try_from(file.bytes.len()).unwrap_or(i64::MAX);
    let id = objects.put(file.bytes).await?;
    crash_point(CrashPoint::FlistStored);
    Ok(NewFlist {
        content_hash: id.to_hex(),
        md5,
        size,
        format: file.format,
        stats: file.stats,
        metadata: file.metadata,
        dump: file.dump,
        source: file.source,
        source_key: file.source_key,
        creator: Some(creator.to_owned()),
    })
}

/// [`stage_flist`], then record its row at once (idempotent: equal bytes share one row).
///
/// Not for job handlers: a process dying between this and the publication of an entry leaves
/// a row nothing references. For seeding and tools that publish the row themselves.
pub async fn store_flist(
    pool: &PgPool,
    objects: &ObjectStore,
    file: FlistFile,
    creator: &str,
) -> Result<Flist, JobsError> {
    let new = stage_flist(objects, file, creator).await?;
    Ok(flists::insert_or_get(pool, &new).await?)
}

impl Publication {
    /// Publish the existing row `flist` as the job's target (`repository/target_name` of the
    /// job), e.g. an earlier conversion of the same source.
    pub fn for_job(job: &ClaimedJob, flist: &Flist) -> Self {
        Self {
            repository: job.job.repository.clone(),
            name: job.job.target_name.clone(),
            flist: PublishedFlist::Existing(flist.id),
        }
    }

    /// Publish `flist`, stored by [`stage_flist`], as the job's target; its row is written in
    /// the publishing transaction.
    pub fn staged(job: &ClaimedJob, flist: NewFlist) -> Self {
        Self {
            repository: job.job.repository.clone(),
            name: job.job.target_name.clone(),
            flist: PublishedFlist::Staged(Box::new(flist)),
        }
    }
}
