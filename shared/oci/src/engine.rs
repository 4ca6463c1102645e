//! Docker Engine mode (bollard): for operators who already run a daemon. The image is pulled
//! by the daemon, a container is created (never started) and its filesystem exported as one
//! tar stream into the same conversion pipeline.
//!
//! Images are only removed when configured, only when this worker pulled them, and never
//! while another conversion uses them (hub-api D18): an in-process lease count covers this
//! worker, and removal without `force` lets the daemon refuse while any container (another
//! worker's) still uses the image.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{ContainerCreateBody, ImageInspect};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use futures::{StreamExt, TryStreamExt};
use hub_convert::{Conversion, TreeBuilder};
use hub_store::SharedStore;
use rand::Rng as _;
use tokio_util::io::StreamReader;

use crate::convert::finish;
use crate::platform::{self, Platform};
use crate::tracker::{ConvertProgress, Tracker};
use crate::{Credentials, ImageOptions, ImagePhase, ImageProgress, ImageRef, OciError, RunConfig};

/// Command given to the temporary container when the image has none: the daemon refuses to
/// create a container without one (podman answers 500), and it is never run anyway.
const PLACEHOLDER_CMD: &str = "/bin/sh";

/// How the engine is reached and what is cleaned up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Daemon address (`unix:///var/run/docker.sock`, `tcp://…`); `None` reads `DOCKER_HOST`
    /// or uses the platform default.
    pub docker_host: Option<String>,
    /// Remove images this worker pulled once no conversion uses them.
    pub remove_images: bool,
    /// Timeout of one API request (pulls of big images take long).
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            docker_host: None,
            remove_images: false,
            timeout: Duration::from_secs(600),
        }
    }
}

/// Images in use by this process: image id → (conversions using it, pulled by one of them).
type Leases = Arc<Mutex<HashMap<String, (usize, bool)>>>;

/// A connection to a Docker Engine API (Docker or `podman system service`).
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    remove_images: bool,
    leases: Leases,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("remove_images", &self.remove_images)
            .finish_non_exhaustive()
    }
}

/// An image pulled into the engine, held until [`Engine::release`].
#[derive(Debug)]
pub struct EngineImage {
    /// The reference.
    pub image: ImageRef,
    /// The engine's image id (`sha256:` of the configuration).
    pub id: String,
    /// The image's platform.
    pub platform: Platform,
    /// How a container of the image runs.
    pub run: RunConfig,
    released: bool,
}

impl EngineImage {
    /// The idempotency key of converting this image with `options`.
    pub fn source_key(&self, options: &ImageOptions) -> String {
        options.source_key("engine", &self.id, &self.platform)
    }
}

impl Engine {
    /// Connects to the engine and negotiates the API version (podman speaks 1.41).
    pub async fn connect(options: &EngineOptions) -> Result<Self, OciError> {
        let timeout = options.timeout.as_secs();
        let docker = match options.docker_host.as_deref() {
            Some(host) if host.starts_with("unix://") => {
                Docker::connect_with_unix(host, timeout, bollard::API_DEFAULT_VERSION)
            }
            Some(host) => Docker::connect_with_http(host, timeout, bollard::API_DEFAULT_VERSION),
            None => Docker::connect_with_defaults().map(|d| d.with_timeout(options.timeout)),
        }
        .map_err(|e| engine_unreachable(&e))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| engine_unreachable(&e))?;
        Ok(Engine {
            docker,
            remove_images: options.remove_images,
            leases: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Readiness probe.
    pub async fn ping(&self) -> Result<(), OciError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| engine_unreachable(&e))
    }

    /// Pulls `image` for `platform` (with per-job credentials) and inspects it. The image is
    /// leased until [`Engine::release`].
    pub async fn pull(
        &self,
        image: &ImageRef,
        platform: &Platform,
        credentials: Option<&Credentials>,
    ) -> Result<EngineImage, OciError> {
        let name = image.normalized();
        let present_before = self.docker.inspect_image(&name).await.is_ok();
        let options = CreateImageOptionsBuilder::default()
            .from_image(&name)
            .platform(&platform.to_string())
            .build();
        let creds = credentials.map(|c| DockerCredentials {
            username: Some(c.username.clone()),
            password: Some(c.password.clone()),
            serveraddress: Some(image.registry().to_owned()),
            ..DockerCredentials::default()
        });
        let mut pull = self.docker.create_image(Some(options), None, creds);
        while let Some(step) = pull.next().await {
            if let Err(e) = step {
                return Err(pull_error(image, credentials.is_some(), &e));
            }
        }
        let inspect = self
            .docker
            .inspect_image(&name)
            .await
            .map_err(|e| pull_error(image, credentials.is_some(), &e))?;
        let id = inspect
            .id
            .clone()
            .ok_or_else(|| OciError::Engine(format!("{name} has no image id")))?;
        let found = platform::check_single(
            image.given(),
            platform,
            inspect.os.as_deref(),
            inspect.architecture.as_deref(),
            inspect.variant.as_deref(),
        )?;
        self.lease(&id, !present_before);
        Ok(EngineImage {
            image: image.clone(),
            id,
            platform: found,
            run: run_config(&inspect),
            released: false,
        })
    }

    /// Exports the filesystem of a never-started container of `image` and converts it.
    /// The container is removed whatever happens.
    pub async fn convert(
        &self,
        image: &EngineImage,
        store: SharedStore,
        options: &ImageOptions,
        progress: Arc<dyn ImageProgress>,
    ) -> Result<Conversion, OciError> {
        let tracker = Arc::new(Tracker::new(progress, 1, 0));
        tracker.phase(ImagePhase::Creating);
        let container = ContainerGuard {
            docker: self.docker.clone(),
            id: Some(self.create_container(image).await?),
        };
        let converted = match container.id.as_deref() {
            Some(id) => {
                self.export_into(id, &image.run, store, options, &tracker)
                    .await
            }
            None => Err(OciError::Internal("container id missing".into())),
        };
        tracker.phase(ImagePhase::CleaningUp);
        container.remove().await;
        converted
    }

    async fn create_container(&self, image: &EngineImage) -> Result<String, OciError> {
        let suffix: u64 = rand::rng().random();
        let name = format!("hub-export-{suffix:016x}");
        let cmd = image
            .run
            .argv()
            .is_empty()
            .then(|| vec![PLACEHOLDER_CMD.to_owned()]);
        let body = ContainerCreateBody {
            image: Some(image.id.clone()),
            cmd,
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| OciError::Engine(format!("creating a container of {}: {e}", image.id)))?;
        Ok(created.id)
    }

    async fn export_into(
        &self,
        container: &str,
        run: &RunConfig,
        store: SharedStore,
        options: &ImageOptions,
        tracker: &Arc<Tracker>,
    ) -> Result<Conversion, OciError> {
        tracker.start_layer(1, 0);
        let counter = Arc::clone(tracker);
        let export = self
            .docker
            .export_container(container)
            .inspect_ok(move |chunk| counter.received(chunk.len() as u64))
            .map_err(std::io::Error::other);
        let mut builder = TreeBuilder::new(store, &options.convert)
            .with_progress(Arc::new(ConvertProgress(Arc::clone(tracker))));
        // An export is the merged filesystem: `.wh.` names in it are ordinary files.
        builder
            .apply_layer(StreamReader::new(Box::pin(export)), false)
            .await?;
        finish(builder, run, options, tracker).await
    }

    /// Ends the lease on `image`; the last conversion using an image this worker pulled
    /// removes it when configured to. Removal is not forced: the daemon refuses while any
    /// container (another worker's conversion) uses the image, and that refusal is fine.
    pub async fn release(&self, mut image: EngineImage) {
        image.released = true;
        let remove = {
            let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
            match leases.get_mut(&image.id) {
                Some((count, _)) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => leases.remove(&image.id).is_some_and(|(_, pulled)| pulled),
                None => false,
            }
        };
        if !(remove && self.remove_images) {
            return;
        }
        let options = RemoveImageOptionsBuilder::default().force(false).build();
        match self
            .docker
            .remove_image(&image.image.normalized(), Some(options), None)
            .await
        {
            Ok(_) => tracing::debug!(image = %image.image, "image removed"),
            Err(e) => tracing::info!(image = %image.image, error = %e, "image kept"),
        }
    }

    fn lease(&self, id: &str, pulled: bool) {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = leases.entry(id.to_owned()).or_insert((0, false));
        entry.0 += 1;
        entry.1 |= pulled;
    }

    /// Number of conversions of this process using image `id` (for tests and metrics).
    pub fn leases_of(&self, id: &str) -> usize {
        let leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        leases.get(id).map_or(0, |(count, _)| *count)
    }
}

impl Drop for EngineImage {
    fn drop(&mut self) {
        if !self.released {
            tracing::warn!(image = %self.image, "engine image dropped without release: lease leaked");
        }
    }
}

/// The temporary container: removed explicitly once exported, or from `Drop` when the
/// conversion is abandoned (cancelled job), so no container outlives its conversion.
struct ContainerGuard {
    docker: Docker,
    id: Option<String>,
}

impl ContainerGuard {
    async fn remove(mut self) {
        if let Some(id) = self.id.take() {
            remove_container(&self.docker, &id).await;
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let docker = self.docker.clone();
            runtime.spawn(async move { remove_container(&docker, &id).await });
        }
    }
}

async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    if let Err(e) = docker.remove_container(id, Some(options)).await {
        tracing::warn!(container = %id, error = %e, "could not remove the temporary container");
    }
}

/// The run settings from an engine inspection.
fn run_config(inspect: &ImageInspect) -> RunConfig {
    let Some(config) = &inspect.config else {
        return RunConfig::default();
    };
    RunConfig {
        entrypoint: config.entrypoint.clone().unwrap_or_default(),
        cmd: config.cmd.clone().unwrap_or_default(),
        env: config.env.clone().unwrap_or_default(),
        working_dir: config.working_dir.clone().unwrap_or_default(),
        exposed_ports: config.exposed_ports.clone().unwrap_or_default(),
        volumes: config.volumes.clone().unwrap_or_default(),
    }
}

fn engine_unreachable(error: &bollard::errors::Error) -> OciError {
    OciError::Unreachable {
        registry: "docker engine".into(),
        detail: error.to_string(),
    }
}

/// Classifies a failed engine pull. The daemon reports registry failures as text (in the
/// pull stream or a 404/500), so this reads the message.
fn pull_error(
    image: &ImageRef,
    with_credentials: bool,
    error: &bollard::errors::Error,
) -> OciError {
    use bollard::errors::Error as E;
    let message = match error {
        E::DockerStreamError { error } => error.clone(),
        E::DockerResponseServerError { message, .. } => message.clone(),
        E::RequestTimeoutError | E::IOError { .. } | E::HyperResponseError { .. } => {
            return engine_unreachable(error);
        }
        other => other.to_string(),
    };
    let lower = message.to_ascii_lowercase();
    let status = match error {
        E::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    };
    if lower.contains("unauthorized") || lower.contains("authentication required") {
        if with_credentials {
            return OciError::BadCredentials {
                registry: image.registry().to_owned(),
                image: image.given().to_owned(),
            };
        }
        return OciError::NotFound {
            image: image.given().to_owned(),
            detail: message,
        };
    }
    if status == Some(404)
        || lower.contains("manifest unknown")
        || lower.contains("not found")
        || lower.contains("does not exist")
    {
        return OciError::NotFound {
            image: image.given().to_owned(),
            detail: message,
        };
    }
    if lower.contains("no image found in manifest list") || lower.contains("no matching manifest") {
        return OciError::NoMatchingPlatform {
            image: image.given().to_owned(),
            wanted: "the requested platform".into(),
            available: vec![message],
        };
    }
    if lower.contains("connection refused")
        || lower.contains("timeout")
        || lower.contains("i/o timeout")
        || lower.contains("no such host")
    {
        return OciError::Unreachable {
            registry: image.registry().to_owned(),
            detail: message,
        };
    }
    OciError::Engine(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageRef {
        ImageRef::parse("127.0.0.1:5056/x:1").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn pull_errors_are_classified_by_message() {
        let stream = |text: &str| bollard::errors::Error::DockerStreamError {
            error: text.to_owned(),
        };
        let code = |with: bool, text: &str| pull_error(&image(), with, &stream(text)).code();
        assert_eq!(
            code(true, "unauthorized: authentication required"),
            "pull_failed"
        );
        assert_eq!(
            code(false, "unauthorized: authentication required"),
            "image_not_found"
        );
        assert_eq!(
            code(false, "reading manifest nope: manifest unknown"),
            "image_not_found"
        );
        let refused = pull_error(&image(), false, &stream("dial tcp: connection refused"));
        assert!(refused.is_transient());
        assert_eq!(code(false, "something else"), "pull_failed");
    }

    #[test]
    fn run_config_from_inspection() {
        let inspect: ImageInspect = serde_json::from_value(serde_json::json!({
            "Id": "sha256:1",
            "Config": {"Cmd": ["sh"], "Env": ["A=1"], "ExposedPorts": {"80/tcp": {}},
                       "Volumes": {"/v": {}}, "WorkingDir": "/w"}
        }))
        .unwrap_or_default();
        let run = run_config(&inspect);
        assert_eq!(run.cmd, ["sh"]);
        assert_eq!(run.exposed_ports, ["80/tcp"]);
        assert_eq!(run.volumes, ["/v"]);
        assert_eq!(run.working_dir, "/w");
    }
}
