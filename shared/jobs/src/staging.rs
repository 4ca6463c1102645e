//! Uploads staged in a JetStream object-store bucket between the gateway and a worker.
//!
//! The gateway streams an upload in with [`Staging::put`] and queues a job naming it; the worker
//! reads it back with [`Staging::open`]; whoever ends the job deletes it. What nobody deleted
//! (a client or gateway gone mid-upload, a gateway killed before recording the job, a delete
//! that failed) is removed by [`Staging::sweep_abandoned`], which the janitor runs; the bucket's
//! `max_age` is only the last resort.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::Context;
use async_nats::jetstream::object_store::{DeleteErrorKind, GetErrorKind, ObjectStore};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType, Stream};
use futures::TryStreamExt;
use tokio::io::AsyncRead;
use uuid::Uuid;

use hub_db::PgPool;
use hub_db::jobs::{self, JobState};
use hub_proto::v1::JobEnvelope;

use crate::envelope::staged_object;
use crate::{JobsError, Names};

/// The staging bucket. Cheap to clone.
#[derive(Clone)]
pub struct Staging {
    bucket: ObjectStore,
    /// The bucket's backing stream, for what the object-store API does not offer: its size
    /// and the chunks of uploads that never completed.
    stream: Stream,
    /// The bucket's name (subjects `$O.<name>.C.<nuid>` hold an object's chunks).
    name: String,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What the staging bucket holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StagingUsage {
    /// Complete uploads.
    pub objects: u64,
    /// Their size in bytes.
    pub object_bytes: u64,
    /// Bytes the bucket's stream stores: the complete uploads, uploads in progress or
    /// abandoned mid-way, and metadata.
    pub stored_bytes: u64,
}

/// What one [`Staging::sweep_abandoned`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StagingSweep {
    /// Complete uploads whose job has finished.
    pub finished: usize,
    /// Complete uploads with no job row, older than the grace period.
    pub unrecorded: usize,
    /// Uploads that never completed (chunks without an object), idle longer than the grace
    /// period.
    pub incomplete: usize,
}

impl StagingSweep {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A staged upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedObject {
    /// Name in the bucket.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `SHA-256=<url-safe base64>` of the content, as the object store computes it.
    pub digest: Option<String>,
}

impl Staging {
    /// Open the bucket `<prefix>_uploads`, creating it, or updating its time-to-live to `ttl`.
    pub async fn open_bucket(
        js: &Context,
        names: &Names,
        ttl: Duration,
    ) -> Result<Self, JobsError> {
        let bucket = names.uploads_bucket();
        // The backing stream is declared by hand (same layout as `create_object_store`) so that
        // a changed `ttl` updates an existing bucket instead of failing.
        let stream_name = format!("OBJ_{bucket}");
        let config = stream::Config {
            name: stream_name.clone(),
            description: Some("hub uploads waiting for their job".into()),
            subjects: vec![format!("$O.{bucket}.C.>"), format!("$O.{bucket}.M.>")],
            max_age: ttl,
            storage: StorageType::File,
            discard: DiscardPolicy::New,
            allow_rollup: true,
            allow_direct: true,
            ..Default::default()
        };
        js.create_or_update_stream(config)
            .await
            .map_err(|err| JobsError::nats("create the uploads bucket", err))?;
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|err| JobsError::nats("open the uploads bucket", err))?;
        let store = js
            .get_object_store(&bucket)
            .await
            .map_err(|err| JobsError::nats("open the uploads bucket", err))?;
        Ok(Self {
            bucket: store,
            stream,
            name: bucket,
        })
    }

    /// Stage `reader`'s content as `name`, streaming it in chunks (the upload is never held in
    /// memory as a whole). Replaces an object of the same name.
    pub async fn put(
        &self,
        name: &str,
        reader: &mut (impl AsyncRead + Unpin),
    ) -> Result<StagedObject, JobsError> {
        let info = self
            .bucket
            .put(name, reader)
            .await
            .map_err(|err| JobsError::nats("stage an upload", err))?;
        Ok(StagedObject {
            name: info.name,
            size: info.size as u64,
            digest: info.digest,
        })
    }

    /// Read the staged upload `name`, streaming.
    pub async fn open(&self, name: &str) -> Result<impl AsyncRead + Send + Unpin, JobsError> {
        match self.bucket.get(name).await {
            Ok(object) => Ok(object),
            Err(err) if err.kind() == GetErrorKind::NotFound => {
                Err(JobsError::StagedObjectMissing(name.to_owned()))
            }
            Err(err) => Err(JobsError::nats("read a staged upload", err)),
        }
    }

    /// Delete the staged upload `name`; deleting a missing one succeeds.
    pub async fn delete(&self, name: &str) -> Result<(), JobsError> {
        match self.bucket.delete(name).await {
            Err(err) if err.kind() != DeleteErrorKind::NotFound => {
                Err(JobsError::nats("delete a staged upload", err))
            }
            _ => Ok(()),
        }
    }

    /// Count what the bucket holds.
    pub async fn usage(&self) -> Result<StagingUsage, JobsError> {
        let objects = self.objects().await?;
        Ok(StagingUsage {
            objects: objects.len() as u64,
            object_bytes: objects.iter().map(|object| object.size as u64).sum(),
            stored_bytes: self.stored_bytes().await?,
        })
    }

    /// Bytes the bucket's stream stores (one request; cheaper than [`Staging::usage`]).
    pub async fn stored_bytes(&self) -> Result<u64, JobsError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|err| JobsError::nats("read the uploads bucket's size", err))?;
        Ok(info.state.bytes)
    }

    /// Remove what no queued or running job will read: uploads of finished jobs; after
    /// `orphan_after`, complete uploads without a job row and the chunks of uploads that never
    /// completed. Safe while uploads and jobs run, and when several processes sweep at once
    /// (deleting twice is harmless).
    ///
    /// A staged object is named by its job's id. An upload in progress has chunks but no
    /// object yet, and its last chunk is at most one idle pause old; a complete upload whose
    /// job is not recorded yet is younger than the time from staging to recording. Both stay
    /// as long as `orphan_after` exceeds those.
    pub async fn sweep_abandoned(
        &self,
        pool: &PgPool,
        orphan_after: Duration,
    ) -> Result<StagingSweep, JobsError> {
        let mut sweep = StagingSweep::default();
        // Chunk subjects first, objects second: an upload completing in between is then among
        // the objects (kept), or completed after the listing with a last chunk too recent to
        // go.
        let chunk_subjects: Vec<String> = self
            .stream
            .info_with_subjects(format!("$O.{}.C.>", self.name))
            .await
            .map_err(|err| JobsError::nats("list the staged chunks", err))?
            .map_ok(|(subject, _count)| subject)
            .try_collect()
            .await
            .map_err(|err| JobsError::nats("list the staged chunks", err))?;
        let objects = self.objects().await?;
        let ids: Vec<Uuid> = objects
            .iter()
            .filter_map(|object| object.name.parse().ok())
            .collect();
        let states: HashMap<Uuid, JobState> =
            jobs::states_among(pool, &ids).await?.into_iter().collect();

        let mut kept = HashSet::new();
        for object in &objects {
            let state = object
                .name
                .parse::<Uuid>()
                .ok()
                .and_then(|id| states.get(&id));
            let remove = match state {
                Some(state) if !state.is_terminal() => None,
                Some(_) => Some(&mut sweep.finished),
                None if is_older(object.modified, orphan_after) => Some(&mut sweep.unrecorded),
                None => None,
            };
            match remove {
                Some(count) => {
                    self.delete(&object.name).await?;
                    *count += 1;
                }
                None => {
                    kept.insert(object.nuid.as_str());
                }
            }
        }

        for subject in &chunk_subjects {
            let nuid = subject.rsplit('.').next().unwrap_or_default();
            if kept.contains(nuid) {
                continue;
            }
            // One request per candidate only: the chunks of objects just deleted are gone
            // (nothing found), those of an upload in progress are recent.
            let Ok(last) = self.stream.get_last_raw_message_by_subject(subject).await else {
                continue;
            };
            if is_older(Some(last.time), orphan_after) {
                self.stream
                    .purge()
                    .filter(subject)
                    .await
                    .map_err(|err| JobsError::nats("purge an abandoned upload", err))?;
                sweep.incomplete += 1;
            }
        }
        Ok(sweep)
    }

    /// [`Staging::sweep_abandoned`] every `every` until `shutdown`. For processes that do not
    /// run the [`crate::Janitor`] (the gateway): uploads arrive there, and are abandoned there
    /// even while no worker runs. Failures are logged; the next round tries again.
    pub async fn sweep_periodically(
        self,
        pool: PgPool,
        every: Duration,
        orphan_after: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            match self.sweep_abandoned(&pool, orphan_after).await {
                Ok(sweep) if !sweep.is_empty() => tracing::info!(?sweep, "staging sweep"),
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "cannot sweep the staging bucket"),
            }
        }
    }

    /// The complete uploads (not those deleted, not those in progress).
    async fn objects(
        &self,
    ) -> Result<Vec<async_nats::jetstream::object_store::ObjectInfo>, JobsError> {
        self.bucket
            .list()
            .await
            .map_err(|err| JobsError::nats("list the staged uploads", err))?
            .try_collect()
            .await
            .map_err(|err| JobsError::nats("list the staged uploads", err))
    }

    /// Delete the upload the job of `envelope` reads, if it has one, once the job is over. A
    /// failure is only logged: the bucket's time-to-live removes the upload later.
    pub(crate) async fn discard_upload_of(&self, envelope: &JobEnvelope) {
        if let Some(name) = staged_object(envelope)
            && let Err(err) = self.delete(name).await
        {
            tracing::warn!(object = name, %err, "cannot delete a staged upload");
        }
    }
}

/// Whether `time` (a NATS timestamp) is more than `age` ago; an unknown time counts as old
/// (an object without a modification time was not written by this hub's gateway).
fn is_older(time: Option<async_nats::datetime::DateTime>, age: Duration) -> bool {
    let Some(time) = time else { return true };
    let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return false;
    };
    let now = i128::try_from(now.as_nanos()).unwrap_or(i128::MAX);
    let age = i128::try_from(age.as_nanos()).unwrap_or(i128::MAX);
    time.unix_timestamp_nanos() < now.saturating_sub(age)
}
