//! What every job that publishes a flist does at the end: serialise it off the async
//! threads, precompute what the hub serves about it (statistics, contents dump, metadata),
//! store it and hand it to the runtime to record and publish.

use bytes::Bytes;
use hub_db::flists::NewFlist;
use hub_flist::{Flist, Format};
use hub_jobs::{
    ClaimedJob, FlistFile, JobError, JobOutput, Publication, Stats, contents_dump, stage_flist,
};
use hub_model::{FlistResult, JobResult};
use hub_store::ObjectStore;
use serde_json::{Map, Value, json};

/// A flist file with what the hub precomputes about it, ready to store.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Its format.
    pub format: Format,
    /// Its statistics (`failure` 0).
    pub stats: Stats,
    /// The contents dump as served (hub-api §6.6).
    pub dump: Vec<u8>,
    /// The metadata table (or `.fl` tag table) as a JSON object of raw strings; the gateway
    /// parses the values that hold JSON when it serves them (hub-api §6.9).
    pub metadata: Value,
}

impl Encoded {
    /// The file to store: these bytes and precomputed values, with `source` (what the flist
    /// was built from) and `source_key` (the idempotency key of a conversion that later jobs
    /// may reuse).
    pub fn into_file(self, source: Option<Value>, source_key: Option<String>) -> FlistFile {
        FlistFile {
            bytes: self.bytes,
            format: self.format,
            stats: self.stats.to_json(),
            metadata: self.metadata,
            dump: Some(self.dump),
            source,
            source_key,
        }
    }
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

/// A flist stored, to be recorded and published under the job's target name when the job
/// succeeds (see [`hub_jobs::stage_flist`]).
#[derive(Debug, Clone)]
pub struct StoredFlist {
    /// Its row, written in the transaction that publishes it.
    pub row: NewFlist,
    /// Its statistics.
    pub stats: Stats,
    /// The entry name it is published as (`<name>.flist` / `<name>.fl`).
    pub name: String,
    /// Its format.
    pub format: Format,
}

/// Store `encoded` in the object store (idempotent) and prepare its row, noting `source`
/// (what it was built from) and, for a conversion later jobs may reuse, its `source_key`. The
/// job's owner is recorded as the creator.
pub async fn store(
    objects: &ObjectStore,
    job: &ClaimedJob,
    encoded: Encoded,
    source: Value,
    source_key: Option<String>,
) -> Result<StoredFlist, JobError> {
    let (stats, format) = (encoded.stats, encoded.format);
    let file = encoded.into_file(Some(source), source_key);
    let row = stage_flist(objects, file, &job.job.owner).await?;
    Ok(StoredFlist {
        row,
        stats,
        name: job.job.target_name.clone(),
        format,
    })
}

impl StoredFlist {
    /// What every job result says about this flist; its `flist_id` is `None` until the
    /// runtime writes the row while publishing.
    pub fn flist_result(&self) -> FlistResult {
        FlistResult {
            name: self.name.clone(),
            stats: self.stats,
            format: self.format,
            md5: self.row.md5.clone(),
            size: self.row.size,
            flist_id: None,
        }
    }

    /// The final `info` event of the original upload stream: `{"filename", "flist": Stats}`.
    pub fn upload_info(&self) -> Value {
        json!({"filename": self.name, "flist": self.stats.to_json()})
    }

    /// The job's output: publish this flist as the job's target, with `result` and the
    /// upload-shaped info event.
    pub fn output(&self, job: &ClaimedJob, result: JobResult) -> JobOutput {
        JobOutput::publishing(Publication::staged(job, self.row.clone()), result.to_json())
            .with_info(self.upload_info())
    }
}

#[cfg(test)]
mod tests {
    use hub_flist::Attr;

    use super::*;

    #[tokio::test]
    async fn encoding_writes_the_file_and_describes_it() -> Result<(), Box<dyn std::error::Error>> {
        let mut flist = Flist::new(Format::Fl);
        flist.tree.mkdir_all("etc", &Attr::default_dir())?;
        flist
            .meta
            .values
            .insert("entrypoint".into(), "[\"/bin/sh\"]".into());
        let encoded = encode(flist).await?;
        let decoded = hub_flist::read_bytes(&encoded.bytes)?;
        assert_eq!(decoded.format, Format::Fl);
        assert_eq!(encoded.stats.directory, 1);
        // Raw strings: the served view parses them (hub-api §6.9).
        assert_eq!(encoded.metadata, json!({"entrypoint": "[\"/bin/sh\"]"}));
        assert_eq!(encoded.dump, contents_dump(&decoded.tree)?.1);

        let file = encoded.into_file(None, Some("key".into()));
        assert_eq!(file.format, Format::Fl);
        assert_eq!(file.stats["directory"], 1);
        assert_eq!(file.source_key.as_deref(), Some("key"));
        Ok(())
    }
}
