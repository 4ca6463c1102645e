//! Daemonless pulls: the OCI distribution API spoken directly (oci-client).

mod blob;
mod errors;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageIndex, OciImageManifest,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;

use crate::config::{ImageConfigFile, MAX_CONFIG_SIZE};
use crate::platform::{self, Platform};
use crate::tracker::Tracker;
use crate::{Credentials, ImageRef, OciError, RunConfig};
pub(crate) use blob::{Download, sha256_digest};
use errors::{Fetching, RequestContext};

/// Largest manifest or index accepted (real ones are a few KiB).
const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// Manifest media types asked for; the registry answers with one of them.
const MANIFEST_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// How registries are reached.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) spoken to over plain HTTP, e.g. a local `127.0.0.1:5056`.
    pub insecure: Vec<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of a response.
    pub read_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// A layer of a resolved image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:…` of the (compressed) blob.
    pub digest: String,
    /// Blob size in bytes.
    pub size: u64,
    /// Media type (compression is detected from the bytes anyway).
    pub media_type: String,
}

/// An image resolved to one platform-specific manifest and its configuration.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference.
    pub image: ImageRef,
    /// Digest of the platform-specific manifest: what identifies the content.
    pub manifest_digest: String,
    /// Digest of the index the manifest was chosen from, if any.
    pub index_digest: Option<String>,
    /// The platform of the manifest.
    pub platform: Platform,
    /// Layers, lowest first.
    pub layers: Vec<LayerInfo>,
    /// Digest of the configuration blob (the image id).
    pub config_digest: String,
    /// How a container of the image runs.
    pub run: RunConfig,
    descriptors: Vec<OciDescriptor>,
}

impl ResolvedImage {
    /// Sum of the layer sizes.
    pub fn total_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// A client for one image, with the credentials of one job (tokens are cached per client,
/// so credentials never leak between jobs).
pub struct Registry {
    client: Arc<Client>,
    auth: RegistryAuth,
    with_credentials: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("with_credentials", &self.with_credentials)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client using `credentials` (anonymous when `None`).
    pub fn new(credentials: Option<&Credentials>, options: &RegistryOptions) -> Self {
        let protocol = if options.insecure.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(options.insecure.clone())
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            // Platforms are chosen here, with an error listing what the index offers.
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let auth = match credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Registry {
            client: Arc::new(Client::new(config)),
            auth,
            with_credentials: credentials.is_some(),
        }
    }

    fn context<'a>(&self, image: &'a ImageRef, fetching: Fetching) -> RequestContext<'a> {
        RequestContext {
            image: image.given(),
            registry: image.registry(),
            with_credentials: self.with_credentials,
            fetching,
        }
    }

    /// Resolves `image` for `platform`: its manifest (chosen from the index when there is
    /// one), its layers and its configuration. Every document fetched is checked against its
    /// digest.
    pub async fn resolve(
        &self,
        image: &ImageRef,
        platform: &Platform,
    ) -> Result<ResolvedImage, OciError> {
        let (body, digest) = self.manifest(image, image.oci()).await?;
        let (manifest, manifest_digest, index_digest, chosen) = match parse_manifest(&body)? {
            Document::Image(manifest) => (*manifest, digest, None, None),
            Document::Index(index) => {
                let (entry, chosen) = platform::choose(image.given(), &index.manifests, platform)?;
                let entry_ref = image.with_digest(&entry.digest);
                let (body, entry_digest) = self.manifest(image, &entry_ref).await?;
                if entry_digest != entry.digest {
                    return Err(OciError::DigestMismatch {
                        digest: entry.digest.clone(),
                        detail: format!("the manifest hashes to {entry_digest}"),
                    });
                }
                match parse_manifest(&body)? {
                    Document::Image(manifest) => {
                        (*manifest, entry_digest, Some(digest), Some(chosen))
                    }
                    Document::Index(_) => {
                        return Err(OciError::Unsupported(
                            "an index entry is another index".into(),
                        ));
                    }
                }
            }
        };
        let layers = layer_infos(&manifest)?;
        let config_bytes = self.config_blob(image, &manifest.config).await?;
        let config = ImageConfigFile::parse(&config_bytes)?;
        let platform = match chosen {
            Some(chosen) => chosen,
            None => platform::check_single(
                image.given(),
                platform,
                config.os.as_deref(),
                config.architecture.as_deref(),
                config.variant.as_deref(),
            )?,
        };
        if let Some(rootfs) = &config.rootfs
            && !rootfs.diff_ids.is_empty()
            && rootfs.diff_ids.len() != layers.len()
        {
            return Err(OciError::InvalidConfig(format!(
                "{} layers in the manifest but {} in the configuration",
                layers.len(),
                rootfs.diff_ids.len()
            )));
        }
        Ok(ResolvedImage {
            image: image.clone(),
            manifest_digest,
            index_digest,
            platform,
            layers,
            config_digest: manifest.config.digest.clone(),
            run: config.run_config(),
            descriptors: manifest.layers,
        })
    }

    /// A manifest's bytes and their verified digest.
    async fn manifest(
        &self,
        image: &ImageRef,
        reference: &Reference,
    ) -> Result<(bytes::Bytes, String), OciError> {
        let ctx = self.context(image, Fetching::Manifest);
        let (body, _) = self
            .client
            .pull_manifest_raw(reference, &self.auth, MANIFEST_TYPES)
            .await
            .map_err(|e| ctx.error(e))?;
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(OciError::Unsupported(format!(
                "manifest of {} bytes",
                body.len()
            )));
        }
        let digest = sha256_digest(&body);
        if let Some(pinned) = reference.digest()
            && pinned != digest
        {
            return Err(OciError::DigestMismatch {
                digest: pinned.to_owned(),
                detail: format!("the manifest hashes to {digest}"),
            });
        }
        Ok((body, digest))
    }

    /// The configuration blob, size-capped and digest-checked.
    async fn config_blob(
        &self,
        image: &ImageRef,
        descriptor: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        let size = u64::try_from(descriptor.size).unwrap_or(u64::MAX);
        if size > MAX_CONFIG_SIZE {
            return Err(OciError::InvalidConfig(format!(
                "configuration blob of {size} bytes"
            )));
        }
        let hex = blob::sha256_hex(&descriptor.digest)?;
        let ctx = self.context(image, Fetching::Blob);
        let mut stream = self
            .client
            .pull_blob_stream(image.oci(), descriptor)
            .await
            .map_err(|e| ctx.error(e))?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Read at most one byte more than announced: enough to notice a lie, bounded memory.
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) if (bytes.len() + chunk.len()) as u64 <= size + 1 => {
                    bytes.extend_from_slice(&chunk);
                }
                Ok(_) => break,
                // oci-client's own digest check; ours below says the same, more clearly.
                Err(_) if bytes.len() as u64 == size => break,
                Err(e) => {
                    return Err(OciError::Unreachable {
                        registry: image.registry().to_owned(),
                        detail: format!("reading the configuration: {e}"),
                    });
                }
            }
        }
        let actual = sha256_digest(&bytes);
        if actual.strip_prefix("sha256:") != Some(hex) || bytes.len() as u64 != size {
            return Err(OciError::DigestMismatch {
                digest: descriptor.digest.clone(),
                detail: format!("the configuration hashes to {actual}"),
            });
        }
        Ok(bytes)
    }

    /// Starts streaming layer `index` (0-based) of `resolved`: a reader of its bytes and the
    /// task whose result tells whether the blob was complete and intact.
    pub(crate) fn layer(
        &self,
        resolved: &ResolvedImage,
        index: usize,
        tracker: Arc<Tracker>,
    ) -> Result<(impl tokio::io::AsyncRead + Send + Unpin + 'static, Download), OciError> {
        let descriptor = resolved
            .descriptors
            .get(index)
            .cloned()
            .ok_or_else(|| OciError::Internal(format!("no layer {index}")))?;
        let request = blob::BlobRequest {
            client: Arc::clone(&self.client),
            reference: resolved.image.oci().clone(),
            descriptor,
            image: resolved.image.given().to_owned(),
            registry: resolved.image.registry().to_owned(),
            with_credentials: self.with_credentials,
        };
        Ok(blob::spawn(request, tracker))
    }
}

/// A manifest or an index.
enum Document {
    Image(Box<OciImageManifest>),
    Index(OciImageIndex),
}

/// Just enough of a manifest to tell its kind.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
}

fn parse_manifest(body: &[u8]) -> Result<Document, OciError> {
    let bad = |e: serde_json::Error| OciError::Unsupported(format!("unreadable manifest: {e}"));
    let probe: Probe = serde_json::from_slice(body).map_err(bad)?;
    if probe.schema_version != Some(2) {
        return Err(OciError::Unsupported(format!(
            "manifest schema version {:?} (Docker schema 1 images must be re-pushed)",
            probe.schema_version
        )));
    }
    let is_index = match probe.media_type.as_deref() {
        Some(OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE) => true,
        Some(OCI_IMAGE_MEDIA_TYPE | IMAGE_MANIFEST_MEDIA_TYPE) => false,
        Some(other) => return Err(OciError::Unsupported(format!("manifest type {other}"))),
        // Podman pushes OCI documents without `mediaType`: tell them apart by their fields.
        None => probe.manifests.is_some(),
    };
    if is_index {
        serde_json::from_slice(body)
            .map(Document::Index)
            .map_err(bad)
    } else {
        serde_json::from_slice(body)
            .map(|m| Document::Image(Box::new(m)))
            .map_err(bad)
    }
}

/// The layers of a manifest; anything that is not a (compressed) tar layer is refused.
fn layer_infos(manifest: &OciImageManifest) -> Result<Vec<LayerInfo>, OciError> {
    if manifest.layers.is_empty() {
        return Err(OciError::Unsupported("the image has no layers".into()));
    }
    manifest
        .layers
        .iter()
        .map(|layer| {
            let t = layer.media_type.as_str();
            let tar_layer = t.contains(".tar") || t.ends_with(".diff.tar") || t.ends_with("tar");
            if !tar_layer || t.contains("encrypted") {
                return Err(OciError::Unsupported(format!(
                    "layer media type {t} (not a container filesystem layer)"
                )));
            }
            blob::sha256_hex(&layer.digest)?;
            let size = u64::try_from(layer.size).map_err(|_| {
                OciError::Unsupported(format!("layer {} has a negative size", layer.digest))
            })?;
            Ok(LayerInfo {
                digest: layer.digest.clone(),
                size,
                media_type: t.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_told_apart() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(parse_manifest(index), Ok(Document::Index(_))));
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:0","size":1},"layers":[]}"#;
        assert!(matches!(parse_manifest(image), Ok(Document::Image(_))));
        let v1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert!(matches!(parse_manifest(v1), Err(OciError::Unsupported(_))));
        let odd = br#"{"schemaVersion":2,"mediaType":"application/x-helm"}"#;
        assert!(matches!(parse_manifest(odd), Err(OciError::Unsupported(_))));
        assert!(parse_manifest(b"not json").is_err());
    }

    #[test]
    fn only_filesystem_layers_are_accepted() {
        let mk = |media: &str| -> Result<Vec<LayerInfo>, OciError> {
            let manifest: OciImageManifest = serde_json::from_value(serde_json::json!({
                "schemaVersion": 2,
                "config": {"mediaType": "c", "digest": format!("sha256:{}", "0".repeat(64)), "size": 2},
                "layers": [{"mediaType": media, "digest": format!("sha256:{}", "1".repeat(64)), "size": 5}],
            }))
            .map_err(|e| OciError::Internal(e.to_string()))?;
            layer_infos(&manifest)
        };
        for ok in [
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ] {
            assert!(mk(ok).is_ok(), "{ok}");
        }
        for bad in [
            "application/vnd.wasm.content.layer.v1+wasm",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        ] {
            assert!(mk(bad).is_err(), "{bad}");
        }
    }
}
