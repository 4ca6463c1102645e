//! Image → flist: layers applied in order onto hub-convert's in-memory tree, then the image
//! configuration's `/.startup.toml` and metadata.

use std::sync::Arc;

use bytes::Bytes;
use hub_convert::{Conversion, ConvertError, ConvertOptions, TreeBuilder};
use hub_flist::{Attr, Metadata};
use hub_store::SharedStore;

use crate::registry::{Registry, ResolvedImage};
use crate::startup::{STARTUP_PATH, startup_toml};
use crate::tracker::{ConvertProgress, Tracker};
use crate::{ImagePhase, ImageProgress, OciError, Platform, RunConfig};

/// Version of the image conversion, part of every source key: bump it when the flist built
/// from the same image changes, so earlier results are not reused.
pub const CONVERSION_VERSION: u32 = 1;

/// How an image is turned into an flist.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// Format, limits and parallelism of the conversion.
    pub convert: ConvertOptions,
    /// Write `/.startup.toml` (flist-formats A.9) into the tree.
    pub startup_toml: bool,
    /// Metadata to start from (e.g. `backend`, `.fl` routes); the image's `entrypoint`,
    /// `environ`, `port` and `volume` are added to it.
    pub metadata: Metadata,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            convert: ConvertOptions::default(),
            startup_toml: true,
            metadata: Metadata::default(),
        }
    }
}

impl ImageOptions {
    /// The idempotency key of converting the content identified by `digest` (a manifest
    /// digest, or an engine's image id) for `platform` with these options: same key, same
    /// flist.
    pub fn source_key(&self, origin: &str, digest: &str, platform: &Platform) -> String {
        format!(
            "{origin}:{digest}:{platform}:{format}:v{CONVERSION_VERSION}:startup={startup}",
            format = self.convert.format.extension(),
            startup = u8::from(self.startup_toml),
        )
    }
}

impl ResolvedImage {
    /// The idempotency key of converting this manifest with `options`.
    pub fn source_key(&self, options: &ImageOptions) -> String {
        options.source_key("oci", &self.manifest_digest, &self.platform)
    }
}

/// Pulls the layers of `resolved` and converts them, storing file contents in `store` as
/// they stream. Every blob is verified; on any error nothing is returned (and so nothing can
/// be published).
pub async fn convert_resolved(
    registry: &Registry,
    resolved: &ResolvedImage,
    store: SharedStore,
    options: &ImageOptions,
    progress: Arc<dyn ImageProgress>,
) -> Result<Conversion, OciError> {
    let total = resolved.total_bytes();
    let tracker = Arc::new(Tracker::new(progress, resolved.layers.len(), total));
    let mut builder = TreeBuilder::new(store, &options.convert)
        .with_progress(Arc::new(ConvertProgress(Arc::clone(&tracker))))
        .with_input_size(total);
    for (index, layer) in resolved.layers.iter().enumerate() {
        tracker.start_layer(index + 1, layer.size);
        tracing::debug!(layer = index + 1, digest = %layer.digest, size = layer.size, "applying layer");
        let (reader, download) = registry.layer(resolved, index, Arc::clone(&tracker))?;
        match builder.apply_layer(reader, true).await {
            Ok(()) => download.await??,
            Err(error) => return Err(explain_layer_failure(error, download).await),
        }
    }
    finish(builder, &resolved.run, options, &tracker).await
}

/// A layer failed to apply. When the bytes looked corrupt (or the reader failed), the
/// download's own result is the better explanation: a digest mismatch or a network failure.
/// Other failures (limits, unsafe paths, the store) stand, and the download is abandoned.
async fn explain_layer_failure(
    error: ConvertError,
    download: crate::registry::Download,
) -> OciError {
    let corrupt_or_cut = matches!(
        error,
        ConvertError::InvalidArchive { .. } | ConvertError::UnknownFormat | ConvertError::Input(_)
    );
    if corrupt_or_cut {
        // The download reads the blob to its end (bounded by its announced size) to decide.
        match download.await {
            Ok(Err(pull)) => return pull,
            Ok(Ok(())) => {}
            Err(join) => return join.into(),
        }
    }
    error.into()
}

/// Adds `/.startup.toml` and the image metadata, then waits for the last blocks.
pub(crate) async fn finish(
    mut builder: TreeBuilder,
    run: &RunConfig,
    options: &ImageOptions,
    tracker: &Tracker,
) -> Result<Conversion, OciError> {
    tracker.phase(ImagePhase::Storing);
    if options.startup_toml {
        match startup_toml(run) {
            Some(text) => {
                builder
                    .add_file(STARTUP_PATH, Attr::with_mode(0o644), Bytes::from(text))
                    .await?;
            }
            None => tracing::info!("the image names no command: no /.startup.toml"),
        }
    }
    let mut meta = options.metadata.clone();
    run.apply_metadata(&mut meta);
    let conversion = builder.finish(meta).await?;
    tracker.phase(ImagePhase::Done);
    Ok(conversion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_flist::Format;

    #[test]
    fn source_keys_change_with_what_changes_the_output() {
        let platform = Platform::default();
        let flist = ImageOptions::default();
        let key = flist.source_key("oci", "sha256:ab", &platform);
        assert_eq!(key, "oci:sha256:ab:linux/amd64:flist:v1:startup=1");
        let fl = ImageOptions {
            convert: ConvertOptions::new(Format::Fl),
            ..ImageOptions::default()
        };
        assert_ne!(fl.source_key("oci", "sha256:ab", &platform), key);
        let bare = ImageOptions {
            startup_toml: false,
            ..ImageOptions::default()
        };
        assert_ne!(bare.source_key("oci", "sha256:ab", &platform), key);
        let arm: Platform = "linux/arm64".parse().unwrap_or_default();
        assert_ne!(flist.source_key("oci", "sha256:ab", &arm), key);
    }
}
