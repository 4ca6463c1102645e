//! The verify job (hub-api §7.10, §11.2): a homemade flist is published unchanged once every
//! chunk it references is known to be in the hub's store.

use bytes::Bytes;
use hub_convert::{VerifyOptions, VerifyReport};
use hub_flist::{Flist, ReadOptions};
use hub_jobs::{ClaimedJob, JobContext, JobError, JobHandler, JobKind, JobOutput};
use hub_model::{FailureCode, JobResult, MISSING_CHUNKS_MESSAGE, VerifyResult};
use hub_proto::v1::job_envelope::Payload;
use hub_store::{ObjectStore, SharedStore};
use hub_worker::{READY, convert_failure, output, requested_format};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::config::VerifySettings;
use crate::progress::phases;

/// Files named in a failure message, at most.
const NAMED_FILES: usize = 5;

/// Runs [`JobKind::Verify`] jobs.
#[derive(Debug, Clone)]
pub struct VerifyHandler {
    store: SharedStore,
    objects: ObjectStore,
    settings: VerifySettings,
}

impl VerifyHandler {
    /// A handler checking chunks in `store` (with `EXISTS`, never `GET`) and storing accepted
    /// flists there.
    pub fn new(store: SharedStore, settings: VerifySettings) -> Self {
        Self {
            objects: ObjectStore::new(SharedStore::clone(&store)),
            store,
            settings,
        }
    }

    /// The staged upload `name`, whole (it is published byte for byte), refused above
    /// `max_flist_bytes` before more is read.
    async fn read_upload(&self, ctx: &JobContext, name: &str) -> Result<Bytes, JobError> {
        let max = self.settings.max_flist_bytes;
        let upload = ctx.staging().open(name).await?;
        let mut bytes = Vec::new();
        upload
            .take(max.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| {
                JobError::transient(format!("reading the uploaded file failed: {err}"))
            })?;
        if bytes.len() as u64 > max {
            return Err(JobError::invalid_as(
                FailureCode::InvalidFlist,
                format!("invalid flist: larger than {max} bytes"),
            ));
        }
        Ok(Bytes::from(bytes))
    }

    /// Decode `bytes` on a blocking thread (SQLite, decompression).
    async fn decode(&self, bytes: Bytes) -> Result<Flist, JobError> {
        let options = ReadOptions {
            max_size: self.settings.max_expanded_bytes,
        };
        tokio::task::spawn_blocking(move || hub_flist::read_bytes_with(&bytes, &options))
            .await
            .map_err(|err| JobError::internal(format!("background task failed: {err}")))?
            .map_err(|err| {
                JobError::invalid_as(FailureCode::InvalidFlist, format!("invalid flist: {err}"))
            })
    }
}

impl JobHandler for VerifyHandler {
    const KIND: JobKind = JobKind::Verify;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let Some(Payload::Verify(request)) = &job.envelope.payload else {
            return Err(JobError::internal("not a verify job"));
        };
        let name = request.staged_object.as_str();
        if name.is_empty() {
            return Err(JobError::invalid_as(
                FailureCode::UploadMissing,
                "the job names no uploaded file",
            ));
        }
        ctx.progress(0, phases::VERIFYING, "Reading the flist");
        let bytes = self.read_upload(ctx, name).await?;
        let flist = self.decode(bytes.clone()).await?;
        // The entry's extension tells readers (zos) which format to expect.
        if let Some(expected) = requested_format(&job.envelope)
            && expected != flist.format
        {
            return Err(JobError::invalid_as(
                FailureCode::InvalidFlist,
                format!(
                    "invalid flist: the file is a .{} but is published as a .{}",
                    flist.format.extension(),
                    expected.extension()
                ),
            ));
        }
        ctx.progress(10, phases::VERIFYING, "Checking the chunks on the backend");
        let options = VerifyOptions {
            deep: false,
            concurrency: self.settings.concurrency,
        };
        // Whatever backend the flist declares, its chunks must be in this hub's store.
        let checked = hub_convert::verify(&flist, SharedStore::clone(&self.store), &options);
        let report = tokio::select! {
            report = checked => report.map_err(convert_failure)?,
            () = ctx.cancelled().cancelled() => return Err(JobError::Cancelled),
        };
        if !report.is_ok() {
            return Err(JobError::invalid_as(
                FailureCode::MissingChunks,
                missing_message(&report),
            ));
        }
        ctx.progress(95, phases::PUBLISHING, "Storing the flist");
        let encoded = output::describe(flist, bytes).await?;
        let source = json!({"kind": "upload-flist", "checked_blocks": report.blocks_checked});
        let stored = output::store(&self.objects, job, encoded, source, None).await?;
        ctx.progress(100, phases::DONE, READY);
        let result = JobResult::Verify(VerifyResult {
            flist: stored.flist_result(),
            blocks_checked: report.blocks_checked,
        });
        Ok(stored.output(job, result))
    }
}

/// The catalogue message followed by the failure count (the `failure` of hub-api §7.10) and the
/// first files concerned.
fn missing_message(report: &VerifyReport) -> String {
    let mut files: Vec<&str> = report
        .missing_files
        .iter()
        .chain(&report.corrupt_files)
        .map(String::as_str)
        .collect();
    files.sort_unstable();
    files.dedup();
    let named = files
        .iter()
        .take(NAMED_FILES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if files.len() > NAMED_FILES {
        ", …"
    } else {
        ""
    };
    format!(
        "{MISSING_CHUNKS_MESSAGE} (failure: {}; {} of {} blocks missing; {named}{more})",
        report.failure, report.blocks_missing, report.blocks_checked
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_message_counts_and_names_files() {
        let report = VerifyReport {
            files: 10,
            blocks_checked: 12,
            blocks_missing: 3,
            missing_files: (1..=7).rev().map(|i| format!("/f{i}")).collect(),
            failure: 7,
            ..VerifyReport::default()
        };
        assert_eq!(
            missing_message(&report),
            "unauthorized upload, contents is not fully present on backend \
             (failure: 7; 3 of 12 blocks missing; /f1, /f2, /f3, /f4, /f5, …)"
        );
    }
}
