//! Serialising a built flist, precomputing what the hub serves about it, and storing it for
//! publication.

use bytes::Bytes;
use hub_db::PgPool;
use hub_db::flists::{Flist as FlistRow, FlistFormat};
use hub_flist::{Flist, Format};
use hub_jobs::{ClaimedJob, FlistFile, JobError, JobOutput, Publication, store_flist};
use hub_store::ObjectStore;
use serde_json::{Map, Value, json};

use super::dump::{Stats, contents_dump};

/// A flist file with what the hub precomputes about it, ready to store.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Its format.
    pub format: Format,
    /// Its statistics (`failure` 0).
    pub stats: Stats,
    /// The contents dump as served (hub-api 6.6).
    pub dump: Vec<u8>,
    /// The metadata table (or `.fl` tag table) as a JSON object of raw strings.
    pub metadata: Value,
}

/// Serialise `flist` and compute its dump, on a blocking thread (SQLite, compression and a
/// walk of the whole tree are CPU work).
pub async fn encode(flist: Flist) -> Result<Encoded, JobError> {
    blocking(move || {
        let bytes = hub_flist::write_bytes(&flist)
            .map_err(|err| JobError::internal(format!("cannot write the flist: {err}")))?;
        describe_blocking(&flist, Bytes::from(bytes))
    })
    .await
}

/// Describe existing flist `bytes` (a homemade flist stored unchanged), `flist` being what
/// they decode to; on a blocking thread.
pub async fn describe(flist: Flist, bytes: Bytes) -> Result<Encoded, JobError> {
    blocking(move || describe_blocking(&flist, bytes)).await
}

fn describe_blocking(flist: &Flist, bytes: Bytes) -> Result<Encoded, JobError> {
    let (stats, dump) = contents_dump(&flist.tree)
        .map_err(|err| JobError::internal(format!("cannot serialise the contents: {err}")))?;
    let metadata = flist
        .meta
        .values
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect::<Map<_, _>>();
    Ok(Encoded {
        bytes,
        format: flist.format,
        stats,
        dump,
        metadata: Value::Object(metadata),
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| JobError::internal(format!("background task failed: {err}")))?
}

/// A flist stored and recorded, to be published under the job's target name.
#[derive(Debug, Clone)]
pub struct StoredFlist {
    /// Its row.
    pub row: FlistRow,
    /// Its statistics.
    pub stats: Stats,
    /// The entry name it is published as (`<name>.flist` / `<name>.fl`).
    pub name: String,
    /// Its format.
    pub format: Format,
}

/// Store `encoded` in the object store and record its row (both idempotent), noting `source`
/// (what it was built from). The job's owner is recorded as the creator.
pub async fn store(
    pool: &PgPool,
    objects: &ObjectStore,
    job: &ClaimedJob,
    encoded: Encoded,
    source: Value,
) -> Result<StoredFlist, JobError> {
    let Encoded {
        bytes,
        format,
        stats,
        dump,
        metadata,
    } = encoded;
    let file = FlistFile {
        bytes,
        format: db_format(format),
        stats: stats.to_json(),
        metadata,
        dump: Some(dump),
        source: Some(source),
        source_key: None,
    };
    let row = store_flist(pool, objects, file, &job.job.owner).await?;
    Ok(StoredFlist {
        row,
        stats,
        name: job.job.target_name.clone(),
        format,
    })
}

impl StoredFlist {
    /// The job result: `{"name", "stats", "format", "md5", "size", "flist_id"}` followed by
    /// `extra`'s members.
    pub fn result(&self, extra: Map<String, Value>) -> Value {
        let mut result = Map::new();
        result.insert("name".into(), Value::from(self.name.clone()));
        result.insert("stats".into(), self.stats.to_json());
        result.insert("format".into(), Value::from(self.format.extension()));
        result.insert("md5".into(), Value::from(self.row.md5.clone()));
        result.insert("size".into(), Value::from(self.row.size));
        result.insert("flist_id".into(), Value::from(self.row.id));
        result.extend(extra);
        Value::Object(result)
    }

    /// The final `info` event of the original upload stream: `{"filename", "flist": Stats}`.
    pub fn upload_info(&self) -> Value {
        json!({"filename": self.name, "flist": self.stats.to_json()})
    }

    /// The job's output: publish this flist as the job's target, with `result` and the
    /// upload-shaped info event.
    pub fn output(&self, job: &ClaimedJob, result: Value) -> JobOutput {
        JobOutput::publishing(Publication::for_job(job, &self.row), result)
            .with_info(self.upload_info())
    }
}

/// hub-db's spelling of a format.
pub fn db_format(format: Format) -> FlistFormat {
    match format {
        Format::Flist => FlistFormat::Flist,
        Format::Fl => FlistFormat::Fl,
    }
}
