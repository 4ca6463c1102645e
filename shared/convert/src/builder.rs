//! [`TreeBuilder`]: builds one flist from tar streams (image layers), directories and
//! individual files, storing file contents as it goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use hub_flist::{Attr, Flist, Format, Metadata, Route, Tree};
use hub_store::SharedStore;
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use crate::pipeline::{Pipeline, Submitter};
use crate::state::{BuildState, NewFile, ReadFailure, Readme, Reporter};
use crate::{
    Conversion, ConversionStats, ConvertError, ConvertOptions, NoProgress, Phase, Progress, dir,
    layer, paths,
};

/// Incremental builder of one flist.
///
/// Sources are applied in order, later entries replacing earlier ones as extraction would:
/// tar streams ([`TreeBuilder::apply_layer`], with OCI whiteouts for image layers), single
/// files ([`TreeBuilder::add_file`]) and direct tree edits ([`TreeBuilder::tree_mut`]). File
/// contents are cut, encoded and stored while the sources are read; [`TreeBuilder::finish`]
/// waits for the last blocks and returns the flist.
///
/// Any error poisons the builder: later calls fail, and nothing must be published. Blocks
/// stored before the error stay in the store, unreferenced (they are content-addressed, so a
/// later conversion of the same content simply finds them).
pub struct TreeBuilder {
    store: SharedStore,
    opts: ConvertOptions,
    progress: Arc<dyn Progress>,
    state: BuildState,
    pipeline: Option<Pipeline>,
    reporter: Option<Reporter>,
    input_size: Option<u64>,
    /// Set while an operation runs and left set if it fails or is cancelled.
    poisoned: bool,
}

impl std::fmt::Debug for TreeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeBuilder")
            .field("store", &self.store.url())
            .field("opts", &self.opts)
            .field("entries", &self.state.totals.entries)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl TreeBuilder {
    /// A builder writing blocks to `store`, with an empty `root:root 0755` root. Nothing runs
    /// until the first source is applied.
    pub fn new(store: SharedStore, opts: &ConvertOptions) -> Self {
        TreeBuilder {
            store,
            opts: opts.clone(),
            progress: Arc::new(NoProgress),
            state: BuildState::new(opts.limits.clone()),
            pipeline: None,
            reporter: None,
            input_size: None,
            poisoned: false,
        }
    }

    /// Sends progress reports to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Announces the total input size, reported as
    /// [`ProgressReport::bytes_total`](crate::ProgressReport) (compressed bytes for archives).
    pub fn with_input_size(mut self, total: u64) -> Self {
        self.input_size = Some(total);
        self
    }

    /// Applies a tar stream (bare or gzip, zstd, xz, bzip2 compressed, detected from its
    /// bytes). With `whiteouts`, OCI whiteout entries (`.wh.<name>`, `.wh..wh..opq`) remove
    /// entries of earlier layers instead of being added.
    pub async fn apply_layer<R>(&mut self, layer: R, whiteouts: bool) -> Result<(), ConvertError>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let input = SyncIoBridge::new(layer);
        self.produce(move |state, submitter, reporter| {
            layer::apply(state, submitter, input, whiteouts, reporter)
        })
        .await
    }

    /// Adds (or replaces) a regular file, creating missing parent directories (`0755`).
    /// `path` is relative to the root; a leading `/` is allowed.
    pub async fn add_file(
        &mut self,
        path: &str,
        attr: Attr,
        content: Bytes,
    ) -> Result<(), ConvertError> {
        let path = path.trim_start_matches('/').to_owned();
        self.produce(move |state, submitter, _| {
            state.check_path(&path)?;
            let comps = paths::components(&state.tree, &path)?;
            let (name, dirs) = comps
                .split_last()
                .ok_or_else(|| ConvertError::invalid(Some(&path), "the root is not a file"))?;
            let dir = paths::ensure_dir(&mut state.tree, dirs, &path, &mut |_| {})?;
            state.declare(content.len() as u64)?;
            let readme = Readme::wants(&comps);
            let size = Some(content.len() as u64);
            state
                .add_file(
                    submitter,
                    NewFile {
                        dir,
                        name,
                        attr,
                        expected: size,
                        readme,
                    },
                    &mut content.as_ref(),
                )
                .map_err(|f| match f {
                    ReadFailure::Invalid(detail) => ConvertError::invalid(Some(&path), detail),
                    other => ConvertError::Internal(format!("adding {path}: {other:?}")),
                })?;
            Ok(())
        })
        .await
    }

    /// The tree so far, e.g. to add a symlink or adjust attributes. File nodes added here
    /// keep the blocks they are given.
    pub fn tree_mut(&mut self) -> &mut Tree {
        &mut self.state.tree
    }

    /// Reads a directory tree from disk into the root (see [`convert_dir`]).
    async fn apply_dir(&mut self, path: PathBuf) -> Result<(), ConvertError> {
        self.produce(move |state, submitter, reporter| dir::walk(state, submitter, &path, reporter))
            .await
    }

    /// Waits until every block is stored and returns the flist with `meta` as its settings.
    /// For `.fl`, routes are taken from the store when `meta` has none.
    pub async fn finish(self, meta: Metadata) -> Result<Conversion, ConvertError> {
        self.finish_inner(meta, false).await
    }

    async fn finish_inner(
        mut self,
        mut meta: Metadata,
        import_readme: bool,
    ) -> Result<Conversion, ConvertError> {
        self.check()?;
        self.report(Phase::Storing);
        let (results, written, deduped, stored) = match self.pipeline.take() {
            Some(pipeline) => {
                let shared = Arc::clone(pipeline.shared());
                let results = pipeline.finish().await?;
                (
                    results,
                    shared.blocks_written.load(Ordering::Relaxed),
                    shared.blocks_deduped.load(Ordering::Relaxed),
                    shared.stored_bytes.load(Ordering::Relaxed),
                )
            }
            None => (Vec::new(), 0, 0, 0),
        };
        // Filling in block lists walks every file node: keep it off the async threads.
        let mut state = self.state;
        let state = tokio::task::spawn_blocking(move || {
            state.complete(&results).map(|()| (state, results.len()))
        })
        .await??;
        let (state, blocks) = state;
        if import_readme
            && !meta.values.contains_key("readme")
            && let Some(text) = state.readme.text(&state.tree)
        {
            meta.set_json("readme", &serde_json::json!({ "readme": text }));
        }
        if self.opts.format == Format::Fl && meta.routes.is_empty() {
            meta.routes = store_routes(&self.store);
        }
        let totals = state.totals;
        let stats = ConversionStats {
            entries: totals.entries,
            input_bytes: totals.compressed,
            content_bytes: totals.content_bytes,
            blocks: blocks as u64,
            blocks_written: written,
            blocks_deduped: deduped,
            stored_bytes: stored,
        };
        self.progress.update(&crate::ProgressReport {
            phase: Phase::Done,
            bytes_in: totals.compressed,
            bytes_total: self.input_size,
            entries: totals.entries,
            blocks_written: written,
            blocks_deduped: deduped,
        });
        Ok(Conversion {
            flist: Flist {
                format: self.opts.format,
                tree: state.tree,
                meta,
            },
            stats,
        })
    }

    fn check(&self) -> Result<(), ConvertError> {
        if self.poisoned {
            return Err(ConvertError::Internal(
                "the builder failed earlier and cannot be used any more".into(),
            ));
        }
        Ok(())
    }

    fn report(&mut self, phase: Phase) {
        if let (Some(reporter), Some(pipeline)) = (self.reporter.as_mut(), self.pipeline.as_ref()) {
            let totals = self.state.totals;
            let shared = pipeline.shared();
            reporter.tick(phase, totals.compressed, totals.entries, shared, true);
        }
    }

    /// Runs `work` on the blocking pool with the build state, the block submitter and the
    /// progress reporter, while the pipeline stores what it produces.
    async fn produce<F>(&mut self, work: F) -> Result<(), ConvertError>
    where
        F: FnOnce(&mut BuildState, &mut Submitter, &mut Reporter) -> Result<(), ConvertError>
            + Send
            + 'static,
    {
        self.check()?;
        self.poisoned = true;
        if self.pipeline.is_none() {
            self.pipeline = Some(Pipeline::start(
                self.opts.format,
                Arc::clone(&self.store),
                self.opts.worker_count(),
                self.opts.blocks_in_flight,
                self.opts.store_concurrency,
            )?);
        }
        let Some(pipeline) = self.pipeline.as_mut() else {
            return Err(ConvertError::Internal("pipeline missing".into()));
        };
        let mut submitter = pipeline.take_submitter()?;
        let mut state =
            std::mem::replace(&mut self.state, BuildState::new(self.opts.limits.clone()));
        let mut reporter = self
            .reporter
            .take()
            .unwrap_or_else(|| Reporter::new(Arc::clone(&self.progress), self.input_size));
        let (state, submitter, reporter) = pipeline
            .run(move || {
                work(&mut state, &mut submitter, &mut reporter)?;
                Ok((state, submitter, reporter))
            })
            .await?;
        pipeline.put_submitter(submitter);
        self.state = state;
        self.reporter = Some(reporter);
        self.poisoned = false;
        Ok(())
    }
}

/// The store's routes as `.fl` route rows.
pub(crate) fn store_routes(store: &SharedStore) -> Vec<Route> {
    store
        .routes()
        .into_iter()
        .map(|r| Route {
            start: r.start,
            end: r.end,
            url: r.url,
        })
        .collect()
}

/// Converts a tar archive (bare, or gzip, zstd, xz, bzip2 compressed: detected from its magic
/// bytes, not a file name) read from any stream, without extracting it to disk.
///
/// File contents are cut into 512 KiB blocks, encoded and stored in `store` with bounded
/// parallelism, so memory stays flat whatever the archive size. A root `.README` or
/// `.README.md` becomes the `readme` metadata (`.README` wins). Hostile archives are refused
/// (see [`Limits`](crate::Limits) and [`ConvertError`]); on any error no flist is returned.
pub async fn convert_archive<R>(
    input: R,
    store: SharedStore,
    opts: &ConvertOptions,
    progress: Arc<dyn Progress>,
) -> Result<Conversion, ConvertError>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let mut builder = TreeBuilder::new(store, opts).with_progress(progress);
    builder.apply_layer(input, false).await?;
    builder.finish_inner(Metadata::default(), true).await
}

/// Converts a directory tree on disk. Symbolic links are stored, never followed; hard links
/// become independent files (their blocks deduplicate); devices follow
/// [`Limits::allow_devices`](crate::Limits). Owner names are not looked up (decimal ids are
/// written). A root `.README`/`.README.md` is imported as for archives.
pub async fn convert_dir(
    path: &Path,
    store: SharedStore,
    opts: &ConvertOptions,
    progress: Arc<dyn Progress>,
) -> Result<Conversion, ConvertError> {
    let mut builder = TreeBuilder::new(store, opts).with_progress(progress);
    builder.apply_dir(path.to_owned()).await?;
    builder.finish_inner(Metadata::default(), true).await
}
