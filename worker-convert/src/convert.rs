//! The convert job (hub-api §7.9, §11.1): a staged archive becomes a published flist.

use std::collections::HashMap;
use std::sync::Arc;

use hub_convert::Conversion;
use hub_flist::Flist;
use hub_jobs::{ClaimedJob, JobContext, JobError, JobHandler, JobKind, JobOutput, Queue};
use hub_model::{ConvertResult, FailureCode, JobResult};
use hub_proto::v1::ConvertJob;
use hub_proto::v1::job_envelope::Payload;
use hub_store::{ObjectStore, SharedStore};
use hub_worker::{PublishSettings, READY, convert_failure, output, requested_format};
use serde_json::json;

use crate::config::ConvertSettings;
use crate::progress::{BuildProgress, phases};
use crate::upload::{Fed, PIPE_CAPACITY, feed, staged_size};

/// Metadata keys an upload cannot set: the hub writes them itself (hub-api §7.9).
pub const PROTECTED_METADATA: &[&str] = hub_flist::STRUCTURED_KEYS;

/// Runs [`JobKind::Convert`] jobs.
#[derive(Debug, Clone)]
pub struct ConvertHandler {
    store: SharedStore,
    objects: ObjectStore,
    publish: PublishSettings,
    settings: ConvertSettings,
    /// The queue, to look up upload sizes for progress percentages.
    uploads: Option<Queue>,
}

impl ConvertHandler {
    /// A handler storing blocks and flists in `store` and publishing with `publish`.
    pub fn new(store: SharedStore, publish: PublishSettings, settings: ConvertSettings) -> Self {
        Self {
            objects: ObjectStore::new(SharedStore::clone(&store)),
            store,
            publish,
            settings,
            uploads: None,
        }
    }

    /// Look up the size of each staged upload in `queue`'s bucket, so progress is a percentage
    /// of the archive read.
    pub fn with_upload_sizes(mut self, queue: Queue) -> Self {
        self.uploads = Some(queue);
        self
    }

    /// Convert the staged upload of `request` into a flist (not yet published).
    async fn build(
        &self,
        request: &ConvertJob,
        job: &ClaimedJob,
        ctx: &JobContext,
    ) -> Result<Conversion, JobError> {
        let name = request.staged_object.as_str();
        if name.is_empty() {
            return Err(JobError::invalid_as(
                FailureCode::UploadMissing,
                "the job names no uploaded file",
            ));
        }
        let format = requested_format(&job.envelope).unwrap_or(self.publish.default_format);
        ctx.progress(0, phases::BUILDING, "Building: reading the archive");
        let size = match &self.uploads {
            Some(queue) => staged_size(queue, name).await,
            None => None,
        };
        let upload = ctx.staging().open(name).await?;
        let (pipe, converter_end) = tokio::io::duplex(PIPE_CAPACITY);
        let progress = Arc::new(BuildProgress::new(ctx.clone(), size));
        let options = self.settings.options(format);
        let conversion = hub_convert::convert_archive(
            converter_end,
            SharedStore::clone(&self.store),
            &options,
            progress,
        );
        let both = async { tokio::join!(feed(upload, pipe), conversion) };
        // Dropping the conversion stops its threads; the blocks it stored stay, unreferenced.
        let (fed, converted) = tokio::select! {
            both = both => both,
            () = ctx.cancelled().cancelled() => return Err(JobError::Cancelled),
        };
        match fed {
            Fed::Done(bytes) => tracing::debug!(job = %job.job.id, bytes, "upload read"),
            Fed::ReadFailed(err) => {
                return Err(JobError::transient(format!(
                    "reading the uploaded file failed: {err}"
                )));
            }
        }
        converted.map_err(convert_failure)
    }
}

impl JobHandler for ConvertHandler {
    const KIND: JobKind = JobKind::Convert;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let Some(Payload::Convert(request)) = &job.envelope.payload else {
            return Err(JobError::internal("not a convert job"));
        };
        let Conversion { mut flist, stats } = self.build(request, job, ctx).await?;
        ctx.progress(99, phases::PUBLISHING, "Building: writing the flist");
        set_user_metadata(&mut flist, &request.metadata);
        self.publish.apply(&mut flist, &self.store.routes());
        let encoded = output::encode(flist).await?;
        let source = json!({
            "kind": "upload",
            "file": request.original_name,
            "input_bytes": stats.input_bytes,
        });
        let stored = output::store(&self.objects, job, encoded, source, None).await?;
        ctx.progress(100, phases::DONE, READY);
        let result = JobResult::Convert(ConvertResult {
            flist: stored.flist_result(),
            blocks_written: stats.blocks_written,
            blocks_deduped: stats.blocks_deduped,
        });
        Ok(stored.output(job, result))
    }
}

/// The upload's `metadata-<key>` fields as raw strings (hub-api §11.1 step 5), except the keys
/// the hub sets itself, which are ignored silently as the original did.
fn set_user_metadata(flist: &mut Flist, fields: &HashMap<String, String>) {
    for (key, value) in fields {
        if key.is_empty() || PROTECTED_METADATA.contains(&key.as_str()) {
            continue;
        }
        flist.meta.values.insert(key.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_flist::Format;

    #[test]
    fn protected_metadata_keys_are_ignored() {
        let mut flist = Flist::new(Format::Flist);
        flist
            .meta
            .values
            .insert("readme".into(), "{\"readme\": \"kept\"}".into());
        let fields = HashMap::from([
            ("readme".to_owned(), "evil".to_owned()),
            ("backend".to_owned(), "{\"host\": \"evil\"}".to_owned()),
            ("entrypoint".to_owned(), "[]".to_owned()),
            ("environ".to_owned(), "{}".to_owned()),
            ("port".to_owned(), "{}".to_owned()),
            ("volume".to_owned(), "{}".to_owned()),
            (String::new(), "nameless".to_owned()),
            ("author".to_owned(), "Alice <a@example.org>".to_owned()),
        ]);
        set_user_metadata(&mut flist, &fields);
        let keys: Vec<&str> = flist.meta.values.keys().map(String::as_str).collect();
        assert_eq!(keys, ["author", "readme"]);
        assert_eq!(flist.meta.values["readme"], "{\"readme\": \"kept\"}");
        assert_eq!(flist.meta.values["author"], "Alice <a@example.org>");
    }
}
