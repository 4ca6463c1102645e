//! Uploads staged in a JetStream object-store bucket between the gateway and a worker.
//!
//! The gateway streams an upload in with [`Staging::put`] and queues a job naming it; the worker
//! reads it back with [`Staging::open`]; whoever ends the job deletes it. The bucket's `max_age`
//! removes uploads nobody deleted (a crash, a job purged before it ran).

use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::object_store::{DeleteErrorKind, GetErrorKind, ObjectStore};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use tokio::io::AsyncRead;

use hub_proto::v1::JobEnvelope;

use crate::envelope::staged_object;
use crate::{JobsError, Names};

/// The staging bucket. Cheap to clone.
#[derive(Clone)]
pub struct Staging {
    bucket: ObjectStore,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging").finish_non_exhaustive()
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
        let config = stream::Config {
            name: format!("OBJ_{bucket}"),
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
        let bucket = js
            .get_object_store(&bucket)
            .await
            .map_err(|err| JobsError::nats("open the uploads bucket", err))?;
        Ok(Self { bucket })
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
