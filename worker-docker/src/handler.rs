//! The docker job: resolve the image, reuse an earlier conversion of the same content or
//! convert it, store the flist and hand the publication to the runtime.

use std::future::Future;
use std::sync::Arc;

use hub_db::flists;
use hub_flist::{Flist, Metadata};
use hub_jobs::{ClaimedJob, JobContext, JobError, JobHandler, JobKind, JobOutput};
use hub_model::FailureCode;
use hub_oci::{
    Credentials, CredentialsKey, Engine, ImageOptions, ImageRef, OciError, Platform, Registry,
    RegistryOptions, ResolvedImage, convert_resolved, open_credentials,
};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{DockerJob, ImageEngine};
use hub_store::{ObjectId, ObjectStore, SharedStore};
use hub_worker::{PublishSettings, READY, confirm_blocks, output, requested_format};

use crate::config::{DockerSettings, EngineMode};
use crate::progress::{JobProgress, phase};
use crate::result::{converted, reused};

/// Blocks asked for at once when confirming an earlier conversion.
const CONFIRM_CONCURRENCY: usize = 16;

/// Converts container images (JobKind::Docker).
pub struct DockerHandler {
    store: SharedStore,
    objects: ObjectStore,
    settings: DockerSettings,
    publish: PublishSettings,
    key: Option<CredentialsKey>,
    default_platform: Platform,
    registry: RegistryOptions,
    /// Connected at start in engine mode, else on the first job that asks for it.
    engine: tokio::sync::OnceCell<Engine>,
}

impl std::fmt::Debug for DockerHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerHandler")
            .field("engine", &self.settings.engine)
            .finish_non_exhaustive()
    }
}

impl DockerHandler {
    /// A handler storing blocks and flists in `store` and publishing with `publish`.
    pub fn new(
        store: SharedStore,
        settings: DockerSettings,
        publish: PublishSettings,
    ) -> Result<Self, hub_config::ConfigError> {
        let key = settings.key()?;
        let default_platform = settings.platform()?;
        Ok(Self {
            objects: ObjectStore::new(Arc::clone(&store)),
            store,
            registry: settings.registry_options(),
            settings,
            publish,
            key,
            default_platform,
            engine: tokio::sync::OnceCell::new(),
        })
    }

    /// Uses `engine` for engine-mode jobs (connected by the caller, e.g. for readiness).
    pub fn with_engine(self, engine: Engine) -> Self {
        let _ = self.engine.set(engine);
        self
    }

    async fn engine(&self) -> Result<&Engine, OciError> {
        self.engine
            .get_or_try_init(|| async { Engine::connect(&self.settings.engine_options()).await })
            .await
    }

    fn credentials(&self, job: &DockerJob) -> Result<Option<Credentials>, JobError> {
        if job.sealed_credentials.is_empty() {
            return Ok(None);
        }
        let key = self.key.as_ref().ok_or_else(|| {
            JobError::invalid_as(
                FailureCode::InvalidCredentials,
                "this hub cannot use registry credentials (docker.credentials_key is not set)",
            )
        })?;
        open_credentials(key, &job.sealed_credentials)
            .map(Some)
            .map_err(|e| JobError::invalid_as(FailureCode::InvalidCredentials, e.to_string()))
    }

    fn uses_engine(&self, docker: &DockerJob) -> bool {
        // Proto3 cannot tell "registry" from "unset": a job asking for the registry gets the
        // configured default, one asking for the engine gets the engine.
        docker.engine == ImageEngine::DockerEngine as i32
            || self.settings.engine == EngineMode::DockerEngine
    }

    async fn convert(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let Some(Payload::Docker(docker)) = &job.envelope.payload else {
            return Err(JobError::invalid_as(
                FailureCode::InvalidPayload,
                "not a docker job",
            ));
        };
        // A retry says which attempt it is and why the last one failed, instead of repeating
        // the first attempt's lines.
        let retry_note = job.retry_note();
        if retry_note.is_none() {
            ctx.progress(0, phase::RESOLVING, "Initializing docker converter");
        }
        let image = ImageRef::parse(&docker.image).map_err(job_error)?;
        let platform = if docker.platform.trim().is_empty() {
            self.default_platform.clone()
        } else {
            Platform::parse_or_default(&docker.platform).map_err(job_error)?
        };
        let credentials = self.credentials(docker)?;
        let format = requested_format(&job.envelope).unwrap_or(self.publish.default_format);
        let options = ImageOptions {
            convert: self.settings.convert_options(format),
            startup_toml: self.settings.startup_toml,
            // The public backend or routes are set when publishing, as for every worker.
            metadata: Metadata::default(),
        };
        ctx.progress(
            10,
            phase::RESOLVING,
            retry_note.unwrap_or_else(|| format!("Pulling docker image: {}", image.display_name())),
        );
        tracing::info!(job = %job.job.id, image = %image, %platform, ?format, "docker conversion");
        if self.uses_engine(docker) {
            self.via_engine(job, ctx, &image, &platform, credentials.as_ref(), &options)
                .await
        } else {
            self.via_registry(job, ctx, &image, &platform, credentials.as_ref(), &options)
                .await
        }
    }

    async fn via_registry(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
        image: &ImageRef,
        platform: &Platform,
        credentials: Option<&Credentials>,
        options: &ImageOptions,
    ) -> Result<JobOutput, JobError> {
        let registry = Registry::new(credentials, &self.registry);
        let resolved = cancellable(ctx, registry.resolve(image, platform)).await?;
        let key = resolved.source_key(options);
        if let Some(output) = self.reuse(job, ctx, &key).await? {
            return Ok(output);
        }
        let progress = Arc::new(JobProgress::new(ctx.clone(), false));
        let conversion = cancellable(
            ctx,
            convert_resolved(
                &registry,
                &resolved,
                Arc::clone(&self.store),
                options,
                progress,
            ),
        )
        .await?;
        self.publish(job, ctx, conversion.flist, source(&resolved), key)
            .await
    }

    async fn via_engine(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
        image: &ImageRef,
        platform: &Platform,
        credentials: Option<&Credentials>,
        options: &ImageOptions,
    ) -> Result<JobOutput, JobError> {
        let engine = self.engine().await.map_err(job_error)?;
        let pulled = cancellable(ctx, engine.pull(image, platform, credentials)).await?;
        let key = pulled.source_key(options);
        let source = serde_json::json!({
            "image": image.given(), "reference": image.normalized(), "engine": "docker_engine",
            "image_id": pulled.id, "platform": pulled.platform.to_string(),
        });
        let built = match self.reuse(job, ctx, &key).await {
            Ok(Some(output)) => Ok(Built::Reused(output)),
            Ok(None) => {
                let progress = Arc::new(JobProgress::new(ctx.clone(), true));
                let store = Arc::clone(&self.store);
                cancellable(ctx, engine.convert(&pulled, store, options, progress))
                    .await
                    .map(Built::Converted)
            }
            Err(e) => Err(e),
        };
        if self.settings.remove_images {
            ctx.progress(99, phase::STORING, "Cleaning up docker image");
        }
        // Released whatever happened, so that the image can be cleaned up.
        engine.release(pulled).await;
        match built? {
            Built::Reused(output) => Ok(output),
            Built::Converted(conversion) => {
                self.publish(job, ctx, conversion.flist, source, key).await
            }
        }
    }

    /// An flist built earlier from the same content with the same options, published under
    /// this job's name without pulling any layer.
    async fn reuse(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
        key: &str,
    ) -> Result<Option<JobOutput>, JobError> {
        let Some(existing) = flists::by_source_key(ctx.pool(), key).await? else {
            return Ok(None);
        };
        if !self.confirm_reusable(&existing).await? {
            tracing::warn!(
                job = %job.job.id, flist = existing.id, key,
                "an earlier conversion lost blocks in the store: converting again"
            );
            return Ok(None);
        }
        tracing::info!(job = %job.job.id, flist = existing.id, key, "reusing an earlier conversion");
        ctx.progress(100, phase::DONE, READY);
        Ok(Some(reused(job, &existing, key)))
    }

    /// Whether every block of `existing` (its file and the chunks it references) is still
    /// stored. Asking confirms them, so a garbage collection running meanwhile keeps them
    /// (docs/gc.md); a conversion that reuses the row publishes them without writing any.
    async fn confirm_reusable(&self, existing: &flists::Flist) -> Result<bool, JobError> {
        let Ok(id) = existing.content_hash.parse::<ObjectId>() else {
            return Ok(false);
        };
        if !self.objects.confirm(&id, CONFIRM_CONCURRENCY).await? {
            return Ok(false);
        }
        let Some(bytes) = self.objects.get(&id).await? else {
            return Ok(false);
        };
        let parsed = tokio::task::spawn_blocking(move || hub_flist::read_bytes(&bytes))
            .await
            .map_err(|err| JobError::internal(format!("background task failed: {err}")))?;
        let Ok(flist) = parsed else {
            return Ok(false);
        };
        let what = format!("flist {}", existing.id);
        match confirm_blocks(&self.store, &flist, &what).await {
            Ok(()) => Ok(true),
            Err(JobError::Internal(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn publish(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
        mut flist: Flist,
        source: serde_json::Value,
        key: String,
    ) -> Result<JobOutput, JobError> {
        ctx.progress(95, phase::WRITING, "Writing flist");
        self.publish.apply(&mut flist, &self.store.routes());
        let encoded = output::encode(flist).await?;
        let stored = output::store(&self.objects, job, encoded, source, Some(key.clone())).await?;
        ctx.progress(100, phase::DONE, READY);
        Ok(converted(job, stored.row, &key))
    }
}

impl JobHandler for DockerHandler {
    const KIND: JobKind = JobKind::Docker;

    fn run(
        &self,
        job: &ClaimedJob,
        ctx: &JobContext,
    ) -> impl Future<Output = Result<JobOutput, JobError>> + Send {
        self.convert(job, ctx)
    }
}

/// What an engine-mode job produced before the image is released.
enum Built {
    Reused(JobOutput),
    Converted(hub_convert::Conversion),
}

/// What the flist was built from, recorded with its row.
fn source(resolved: &ResolvedImage) -> serde_json::Value {
    serde_json::json!({
        "image": resolved.image.given(), "reference": resolved.image.normalized(),
        "engine": "registry", "manifest_digest": resolved.manifest_digest,
        "index_digest": resolved.index_digest, "config_digest": resolved.config_digest,
        "platform": resolved.platform.to_string(),
    })
}

/// The runtime's decision for an image error: retry what may pass later, fail the rest with
/// the code the gateway maps (`image_not_found`, `pull_failed`, hub-convert's codes). Retried
/// pulls keep `pull_failed`, so a pull that never reaches the registry ends as `502 could not
/// pull this image` once the attempts run out.
pub fn job_error(error: OciError) -> JobError {
    if error.is_transient() && error.code() == FailureCode::PullFailed {
        JobError::transient_as(FailureCode::PullFailed, error.to_string())
    } else if error.is_transient() {
        // A store outage while converting: the generic retry, `attempts_exhausted` at the end.
        JobError::transient(error.to_string())
    } else if error.is_internal() {
        JobError::internal(error.to_string())
    } else {
        JobError::invalid_as(error.code(), error.to_string())
    }
}

/// Runs `work` until it finishes or the job is told to stop.
async fn cancellable<T>(
    ctx: &JobContext,
    work: impl Future<Output = Result<T, OciError>>,
) -> Result<T, JobError> {
    tokio::select! {
        result = work => result.map_err(job_error),
        () = ctx.cancelled().cancelled() => Err(JobError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_errors_map_to_the_runtime_decision() {
        let missing = job_error(OciError::NotFound {
            image: "x".into(),
            detail: "manifest unknown".into(),
        });
        assert_eq!(missing.code(), "image_not_found");
        let down = job_error(OciError::Unreachable {
            registry: "r".into(),
            detail: "refused".into(),
        });
        assert!(matches!(down, JobError::Transient { .. }));
        assert_eq!(down.code(), "pull_failed");
        let bad = job_error(OciError::DigestMismatch {
            digest: "d".into(),
            detail: "x".into(),
        });
        assert_eq!(bad.code(), "pull_failed");
        let convert = job_error(OciError::Convert(hub_convert::ConvertError::UnknownFormat));
        assert_eq!(convert.code(), "unknown_format");
        assert!(matches!(
            job_error(OciError::Internal("x".into())),
            JobError::Internal(_)
        ));
    }
}
