//! The merge job (hub-api §7.11, §11.3; flist-formats Part C).

use hub_jobs::{ClaimedJob, JobContext, JobError, JobHandler, JobKind, JobOutput};
use hub_model::{JobResult, MergeMode, MergeResult};
use hub_proto::v1::job_envelope::Payload;
use hub_store::{ObjectStore, SharedStore};
use hub_worker::progress::{DONE, PUBLISHING};
use hub_worker::{
    PublishSettings, READY, confirm_blocks, convert_failure, output, requested_format,
};
use serde_json::json;

use crate::config::MergeSettings;
use crate::sources;

/// Phase of the job while sources are looked up and read.
pub const READING: &str = "reading";
/// Phase of the job while trees are merged.
pub const MERGING: &str = "merging";

/// Runs [`JobKind::Merge`] jobs.
#[derive(Debug, Clone)]
pub struct MergeHandler {
    store: SharedStore,
    objects: ObjectStore,
    publish: PublishSettings,
    settings: MergeSettings,
}

impl MergeHandler {
    /// A handler reading sources from and storing results in `store`, publishing with
    /// `publish`.
    pub fn new(store: SharedStore, publish: PublishSettings, settings: MergeSettings) -> Self {
        Self {
            objects: ObjectStore::new(SharedStore::clone(&store)),
            store,
            publish,
            settings,
        }
    }
}

impl JobHandler for MergeHandler {
    const KIND: JobKind = JobKind::Merge;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let Some(Payload::Merge(request)) = &job.envelope.payload else {
            return Err(JobError::internal("not a merge job"));
        };
        let count = request.sources.len();
        if count == 0 {
            return Err(JobError::invalid("no source found"));
        }
        if count > self.settings.max_sources {
            return Err(JobError::invalid(format!(
                "too many sources: {count} (at most {})",
                self.settings.max_sources
            )));
        }
        // Resolve every source before reading any, so a missing one fails fast.
        let mut targets = Vec::with_capacity(count);
        for source in &request.sources {
            targets.push(sources::resolve(ctx.pool(), source).await?);
        }
        let mut inputs = Vec::with_capacity(count);
        for (index, (source, target)) in request.sources.iter().zip(&targets).enumerate() {
            if ctx.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            let percent = u8::try_from(index * 50 / count).unwrap_or(50);
            let message = format!(
                "Reading source {} of {count}: {}",
                index + 1,
                sources::label(source)
            );
            ctx.progress(percent, READING, message);
            inputs.push(sources::read(&self.objects, target, self.settings.max_flist_bytes).await?);
        }
        let format = requested_format(&job.envelope)
            .or_else(|| inputs.first().map(|first| first.format))
            .unwrap_or(self.publish.default_format);
        // Union is the original hub's merge; an unknown value from a newer gateway too.
        let mode = hub_proto::v1::MergeMode::try_from(request.mode)
            .map_or(MergeMode::Union, MergeMode::from);
        ctx.progress(50, MERGING, format!("Merging {count} flists"));
        let merging =
            hub_convert::merge(inputs, mode.into(), format, SharedStore::clone(&self.store));
        let mut merged = tokio::select! {
            merged = merging => merged.map_err(convert_failure)?,
            () = ctx.cancelled().cancelled() => return Err(JobError::Cancelled),
        };
        // The merged flist references its sources' blocks without writing them: confirm them
        // so that a collection deleting a source meanwhile keeps them, or fail before publishing
        // a flist that cannot be read.
        confirm_blocks(&self.store, &merged, "the merged flist").await?;
        self.publish.apply(&mut merged, &self.store.routes());
        ctx.progress(90, PUBLISHING, "Writing the flist");
        let encoded = output::encode(merged).await?;
        let labels: Vec<String> = request.sources.iter().map(sources::label).collect();
        let source = json!({"kind": "merge", "sources": labels, "mode": mode});
        let stored = output::store(&self.objects, job, encoded, source, None).await?;
        ctx.progress(100, DONE, READY);
        let result = JobResult::Merge(MergeResult {
            flist: stored.flist_result(),
            sources: labels,
            mode,
        });
        Ok(stored.output(job, result))
    }
}
