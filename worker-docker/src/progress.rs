//! Progress of a docker job in the original hub's words (hub-api §9), so `/listen` keeps
//! showing familiar messages, with a machine-readable phase next to each.

use std::sync::{Mutex, PoisonError};

use hub_jobs::JobContext;
use hub_oci::{ImagePhase, ImageProgress, ImageReport};

/// Phase names recorded with each progress report.
pub mod phase {
    /// Reading the manifest, index and configuration.
    pub const RESOLVING: &str = "resolving";
    /// Pulling layers (or exporting the container) and applying them.
    pub const PULLING: &str = "pulling";
    /// Applying layers (engine: creating the container).
    pub const APPLYING: &str = "applying";
    /// Waiting for the last blocks to be stored.
    pub const STORING: &str = "storing";
    /// Serialising and recording the flist.
    pub const WRITING: &str = "writing";
    /// Finished.
    pub const DONE: &str = "done";
}

/// A size as the original printed it: below 2048 bytes `"%.1f KB"` of bytes/1024, otherwise
/// `"%.0f MB"` of bytes/1048576.
pub fn human_size(bytes: u64) -> String {
    if bytes < 2048 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.0} MB", bytes as f64 / 1_048_576.0)
    }
}

/// Layers of at least this size show their own byte counts.
const BIG_LAYER: u64 = 5 << 20;

/// `(percent, phase, message)` for a conversion report, or `None` when nothing new is worth
/// saying.
pub fn describe(report: &ImageReport, engine: bool) -> Option<(u8, &'static str, String)> {
    match report.phase {
        ImagePhase::Resolving | ImagePhase::Done => None,
        ImagePhase::Creating => Some((
            52,
            phase::APPLYING,
            "Initializing temporary container".into(),
        )),
        ImagePhase::Pulling if engine => Some((
            54,
            phase::PULLING,
            "Extracting container root filesystem".into(),
        )),
        ImagePhase::Pulling => {
            let done = report.bytes_done.min(report.bytes_total);
            let percent = 10 + (40 * done).checked_div(report.bytes_total).unwrap_or(0);
            let percent = u8::try_from(percent).unwrap_or(50);
            let message = if report.layer_bytes == 0 {
                format!(
                    "Downloading layers [{} / {}]",
                    human_size(report.bytes_done),
                    human_size(report.bytes_total)
                )
            } else if report.layer_size >= BIG_LAYER {
                format!(
                    "Extracting layer {} / {} [{:.0} MB / {:.0} MB]",
                    report.layer,
                    report.layers,
                    report.layer_bytes as f64 / 1_048_576.0,
                    report.layer_size as f64 / 1_048_576.0
                )
            } else {
                format!("Extracting layer {} / {}", report.layer, report.layers)
            };
            Some((percent, phase::PULLING, message))
        }
        ImagePhase::Storing => Some((56, phase::STORING, "Preparing filesystem flist".into())),
        ImagePhase::CleaningUp => Some((97, phase::STORING, "Cleaning up container".into())),
    }
}

/// Forwards conversion reports to the job, only when the message changes (reports come per
/// received chunk; the job context throttles database writes on its own).
pub struct JobProgress {
    ctx: JobContext,
    engine: bool,
    last: Mutex<Option<(u8, String)>>,
}

impl JobProgress {
    /// Progress of `ctx`'s job; `engine` selects the engine-mode messages.
    pub fn new(ctx: JobContext, engine: bool) -> Self {
        JobProgress {
            ctx,
            engine,
            last: Mutex::new(None),
        }
    }
}

impl ImageProgress for JobProgress {
    fn report(&self, report: &ImageReport) {
        let Some((percent, phase, message)) = describe(report, self.engine) else {
            return;
        };
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.as_ref() == Some(&(percent, message.clone())) {
            return;
        }
        *last = Some((percent, message.clone()));
        drop(last);
        self.ctx.progress(percent, phase, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(phase: ImagePhase, layer_bytes: u64, layer_size: u64, done: u64) -> ImageReport {
        ImageReport {
            phase,
            layer: 2,
            layers: 3,
            layer_bytes,
            layer_size,
            bytes_done: done,
            bytes_total: 100 << 20,
            blocks_written: 0,
        }
    }

    #[test]
    fn sizes_as_the_original_printed_them() {
        assert_eq!(human_size(0), "0.0 KB");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(2048), "0 MB");
        assert_eq!(human_size(100 << 20), "100 MB");
    }

    #[test]
    fn messages_of_spec_9() {
        let start = describe(&report(ImagePhase::Pulling, 0, 1000, 0), false);
        assert_eq!(
            start,
            Some((10, "pulling", "Downloading layers [0.0 KB / 100 MB]".into()))
        );
        let small = describe(&report(ImagePhase::Pulling, 10, 1000, 50 << 20), false);
        assert_eq!(
            small,
            Some((30, "pulling", "Extracting layer 2 / 3".into()))
        );
        let big = describe(
            &report(ImagePhase::Pulling, 3 << 20, 8 << 20, 100 << 20),
            false,
        );
        assert_eq!(
            big,
            Some((50, "pulling", "Extracting layer 2 / 3 [3 MB / 8 MB]".into()))
        );
        assert_eq!(
            describe(&report(ImagePhase::Pulling, 1, 0, 1), true).map(|d| d.2),
            Some("Extracting container root filesystem".into())
        );
        assert_eq!(
            describe(&report(ImagePhase::Creating, 0, 0, 0), true).map(|d| d.0),
            Some(52)
        );
        assert!(describe(&report(ImagePhase::Done, 0, 0, 0), false).is_none());
    }
}
