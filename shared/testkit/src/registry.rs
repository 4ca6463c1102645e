//! Container images for the test registries: layers built with [`crate::TarBuilder`],
//! assembled into OCI or Docker v2 manifests (or a multi-platform index) and pushed with
//! oci-client, so that no image tool is needed.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};

use crate::BoxError;

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a Docker v2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The registry digest of `bytes`: `sha256:<hex>`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A repository name of its own under `hubtest/`, so that tests run side by side and re-runs
/// on the same registry never meet each other's images.
pub fn unique_repo(name: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("hubtest/{name}-{}", id.get(..8).unwrap_or(&id))
}

/// One layer blob, its media type and the digest of its uncompressed tar (its `diff_id`).
pub struct Layer {
    /// The blob as pushed.
    pub blob: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
}

impl Layer {
    /// `tar` gzip-compressed, as most images carry their layers.
    pub fn gzip(tar: &[u8]) -> std::io::Result<Self> {
        Ok(Self {
            blob: crate::gzip(tar)?,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            diff_id: digest(tar),
        })
    }

    /// `tar` zstd-compressed.
    pub fn zstd(tar: &[u8]) -> std::io::Result<Self> {
        Ok(Self {
            blob: zstd::encode_all(tar, 3)?,
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            diff_id: digest(tar),
        })
    }

    /// `tar` as it is.
    pub fn plain(tar: &[u8]) -> Self {
        Self {
            blob: tar.to_vec(),
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            diff_id: digest(tar),
        }
    }

    /// The same blob announced as a Docker v2 (gzip) layer.
    #[must_use]
    pub fn docker(mut self) -> Self {
        self.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
        self
    }
}

/// An image to push: its layers, run settings, platform and manifest flavour.
pub struct TestImage {
    /// Layers, lowest first.
    pub layers: Vec<Layer>,
    /// The `config` object of the image configuration (`Cmd`, `Entrypoint`, `Env`, …).
    pub config: serde_json::Value,
    /// The platform's architecture (`amd64`).
    pub architecture: String,
    /// The platform's variant (`v8` of `arm64/v8`), if any.
    pub variant: Option<String>,
    /// A Docker v2 manifest instead of an OCI one.
    pub docker: bool,
}

impl TestImage {
    /// An `amd64` OCI image of `layers` that runs `/bin/sh`.
    pub fn new(layers: Vec<Layer>) -> Self {
        Self {
            layers,
            config: serde_json::json!({"Cmd": ["/bin/sh"]}),
            architecture: "amd64".into(),
            variant: None,
            docker: false,
        }
    }

    /// The image configuration blob.
    pub fn config_blob(&self) -> Result<Vec<u8>, serde_json::Error> {
        let diff_ids: Vec<&str> = self.layers.iter().map(|l| l.diff_id.as_str()).collect();
        let mut config = serde_json::json!({
            "architecture": self.architecture,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        if let Some(variant) = &self.variant {
            config["variant"] = serde_json::json!(variant);
        }
        serde_json::to_vec(&config)
    }

    /// The manifest's media type.
    pub fn media_type(&self) -> &'static str {
        if self.docker {
            DOCKER_MANIFEST
        } else {
            OCI_MANIFEST
        }
    }

    /// The manifest (pushing stores exactly these bytes, so their digest is the image's).
    pub fn manifest(&self) -> Result<Vec<u8>, serde_json::Error> {
        let config = self.config_blob()?;
        let config_type = if self.docker {
            DOCKER_CONFIG
        } else {
            OCI_CONFIG
        };
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({"mediaType": l.media_type, "digest": digest(&l.blob), "size": l.blob.len()})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": self.media_type(),
            "config": {"mediaType": config_type, "digest": digest(&config), "size": config.len()},
            "layers": layers,
        }))
    }
}

/// Pushes test images to a registry over plain HTTP.
pub struct Pusher {
    client: Client,
    registry: String,
    auth: RegistryAuth,
}

impl Pusher {
    /// A pusher to the open registry at `registry` (`host:port`).
    pub fn new(registry: &str) -> Self {
        Self::with_auth(registry, RegistryAuth::Anonymous)
    }

    /// A pusher that logs in with `auth`.
    pub fn with_auth(registry: &str, auth: RegistryAuth) -> Self {
        Self {
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::Http,
                ..ClientConfig::default()
            }),
            registry: registry.to_owned(),
            auth,
        }
    }

    async fn blob(&self, repo: &str, data: &[u8]) -> Result<String, BoxError> {
        let digest = digest(data);
        let reference = Reference::with_digest(self.registry.clone(), repo.into(), digest.clone());
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await?;
        self.client
            .push_blob(&reference, data.to_vec(), &digest)
            .await?;
        Ok(digest)
    }

    async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<String, BoxError> {
        let digest = digest(&body);
        let target = if reference.starts_with("sha256:") {
            Reference::with_digest(self.registry.clone(), repo.into(), reference.into())
        } else {
            Reference::with_tag(self.registry.clone(), repo.into(), reference.into())
        };
        self.client
            .auth(&target, &self.auth, RegistryOperation::Push)
            .await?;
        self.client
            .push_manifest_raw(&target, body, http::HeaderValue::from_str(media_type)?)
            .await?;
        Ok(digest)
    }

    async fn blobs(&self, repo: &str, image: &TestImage) -> Result<(), BoxError> {
        for layer in &image.layers {
            self.blob(repo, &layer.blob).await?;
        }
        self.blob(repo, &image.config_blob()?).await?;
        Ok(())
    }

    /// Push `image` as `repo:tag`; the manifest's digest.
    pub async fn push(&self, repo: &str, tag: &str, image: &TestImage) -> Result<String, BoxError> {
        self.blobs(repo, image).await?;
        self.manifest(repo, tag, image.manifest()?, image.media_type())
            .await
    }

    /// Push every image by digest and an index over them as `repo:tag`; the index's digest and
    /// the images' manifest digests.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        images: &[&TestImage],
    ) -> Result<(String, Vec<String>), BoxError> {
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for image in images {
            let manifest = image.manifest()?;
            let digest = digest(&manifest);
            self.blobs(repo, image).await?;
            self.manifest(repo, &digest, manifest.clone(), OCI_MANIFEST)
                .await?;
            let mut platform =
                serde_json::json!({"architecture": image.architecture, "os": "linux"});
            if let Some(variant) = &image.variant {
                platform["variant"] = serde_json::json!(variant);
            }
            entries.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(), "platform": platform,
            }));
            digests.push(digest);
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
        }))?;
        let index_digest = self.manifest(repo, tag, index, OCI_INDEX).await?;
        Ok((index_digest, digests))
    }
}

/// The image the docker-job tests convert, with run settings `config`: a lower layer holding
/// `etc/motd` (`hello\n`) and `old`, and an upper layer that whites `old` out and adds
/// `app/run`. Its flist holds `etc/motd` and `app/run`, not `old`.
pub fn whiteout_image(config: serde_json::Value) -> std::io::Result<TestImage> {
    let lower = crate::TarBuilder::new()
        .file("etc/motd", 0o644, b"hello\n")
        .file("old", 0o644, b"old")
        .finish()?;
    let upper = crate::TarBuilder::new()
        .whiteout("old")
        .file("app/run", 0o644, b"#!/bin/sh\necho hi\n")
        .finish()?;
    let mut image = TestImage::new(vec![Layer::gzip(&lower)?, Layer::gzip(&upper)?]);
    image.config = config;
    Ok(image)
}
