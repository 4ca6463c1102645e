//! Shared progress state of one conversion, updated by the download task, the layer
//! application and hub-convert's pipeline.

use std::sync::{Arc, Mutex, PoisonError};

use crate::{ImagePhase, ImageProgress, ImageReport};

/// The latest [`ImageReport`] of a conversion; every update is forwarded to the caller.
pub(crate) struct Tracker {
    progress: Arc<dyn ImageProgress>,
    state: Mutex<ImageReport>,
}

impl Tracker {
    /// A tracker for `layers` layers of `bytes_total` bytes in all.
    pub(crate) fn new(progress: Arc<dyn ImageProgress>, layers: usize, bytes_total: u64) -> Self {
        Tracker {
            progress,
            state: Mutex::new(ImageReport {
                phase: ImagePhase::Resolving,
                layer: 0,
                layers,
                layer_bytes: 0,
                layer_size: 0,
                bytes_done: 0,
                bytes_total,
                blocks_written: 0,
            }),
        }
    }

    fn update(&self, change: impl FnOnce(&mut ImageReport)) {
        let report = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut state);
            state.clone()
        };
        self.progress.report(&report);
    }

    /// Layer `layer` (1-based) of `size` bytes starts.
    pub(crate) fn start_layer(&self, layer: usize, size: u64) {
        self.update(|s| {
            s.phase = ImagePhase::Pulling;
            s.layer = layer;
            s.layer_size = size;
            s.layer_bytes = 0;
        });
    }

    /// `n` more bytes of the current layer arrived.
    pub(crate) fn received(&self, n: u64) {
        self.update(|s| {
            s.layer_bytes += n;
            s.bytes_done += n;
        });
    }

    /// The pipeline wrote `written` distinct blocks so far.
    pub(crate) fn blocks(&self, written: u64) {
        self.update(|s| s.blocks_written = written);
    }

    /// The conversion entered `phase`.
    pub(crate) fn phase(&self, phase: ImagePhase) {
        self.update(|s| s.phase = phase);
    }
}

/// Forwards hub-convert's block counters (and the end of reading) to the tracker.
pub(crate) struct ConvertProgress(pub(crate) Arc<Tracker>);

impl hub_convert::Progress for ConvertProgress {
    fn update(&self, report: &hub_convert::ProgressReport) {
        self.0.blocks(report.blocks_written);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keep(Mutex<Vec<ImageReport>>);

    impl ImageProgress for Keep {
        fn report(&self, report: &ImageReport) {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(report.clone());
        }
    }

    #[test]
    fn reports_accumulate() {
        let keep = Arc::new(Keep(Mutex::new(Vec::new())));
        let tracker = Tracker::new(keep.clone(), 2, 300);
        tracker.start_layer(1, 100);
        tracker.received(60);
        tracker.received(40);
        tracker.start_layer(2, 200);
        tracker.received(10);
        tracker.blocks(3);
        tracker.phase(ImagePhase::Storing);
        let all = keep.0.lock().unwrap_or_else(PoisonError::into_inner);
        let last = all.last().cloned();
        assert_eq!(all.len(), 7);
        assert_eq!(
            last,
            Some(ImageReport {
                phase: ImagePhase::Storing,
                layer: 2,
                layers: 2,
                layer_bytes: 10,
                layer_size: 200,
                bytes_done: 110,
                bytes_total: 300,
                blocks_written: 3,
            })
        );
    }
}
