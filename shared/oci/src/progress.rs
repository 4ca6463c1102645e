//! Progress of an image conversion, reported to the caller (the worker turns it into the
//! original hub's messages).

/// What an image conversion is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagePhase {
    /// Reading the manifest (and index) and the configuration.
    Resolving,
    /// Pulling layers (or the engine's export) and applying them to the tree; blocks are
    /// cut and stored at the same time.
    Pulling,
    /// Engine mode: creating the temporary container whose filesystem is exported.
    Creating,
    /// Every layer is applied; waiting for the last blocks to be stored.
    Storing,
    /// Engine mode: removing the temporary container (and the image when configured).
    CleaningUp,
    /// The tree is complete.
    Done,
}

/// A snapshot of an image conversion's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    /// Current phase.
    pub phase: ImagePhase,
    /// Layer being applied (1-based; 0 before the first).
    pub layer: usize,
    /// Number of layers (1 for an engine export).
    pub layers: usize,
    /// Bytes of the current layer received.
    pub layer_bytes: u64,
    /// Size of the current layer (0 when unknown, as for an engine export).
    pub layer_size: u64,
    /// Bytes received over all layers.
    pub bytes_done: u64,
    /// Sum of the layer sizes (0 when unknown).
    pub bytes_total: u64,
    /// Distinct blocks written to the store so far.
    pub blocks_written: u64,
}

/// Receives progress reports, from async tasks and blocking threads alike, often:
/// implementations must be cheap and throttle on their own.
pub trait ImageProgress: Send + Sync {
    /// A new snapshot.
    fn report(&self, report: &ImageReport);
}

/// An [`ImageProgress`] that ignores every report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImageProgress;

impl ImageProgress for NoImageProgress {
    fn report(&self, _report: &ImageReport) {}
}
