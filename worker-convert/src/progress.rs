//! Conversion progress as the original hub's upload stream reported it (hub-api §9):
//! `Building: processing item <n> …` with an integer percent, then `Image ready !` at 100.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hub_convert::{Phase, Progress, ProgressReport};
use hub_jobs::JobContext;

/// Phase names recorded with the job's progress.
pub mod phases {
    // Writing and recording the flist, and the end: named alike by every worker.
    pub use hub_worker::progress::{DONE, PUBLISHING};

    /// Reading the archive and storing its blocks.
    pub const BUILDING: &str = "building";
    /// The archive is read; the last blocks are being stored.
    pub const STORING: &str = "storing";
    /// Checking a homemade flist's chunks.
    pub const VERIFYING: &str = "verifying";
}

/// Percent reached when the archive is fully read (the rest is storing and publishing).
const READ_DONE: u64 = 95;

/// Minimum time between two reports with the same percent (the item count still moves).
const SAME_PERCENT_INTERVAL: Duration = Duration::from_millis(500);

/// Forwards hub-convert's reports to the job. The percent is the share of the compressed input
/// read (hub-convert reads an archive in one pass, so the number of items is only known at the
/// end); without a known input size it stays at 0 until the archive is read.
pub struct BuildProgress {
    ctx: JobContext,
    input_size: Option<u64>,
    last: Mutex<Option<(u8, Instant)>>,
}

impl BuildProgress {
    /// Reports for `ctx`; `input_size` is the compressed archive's size, if known.
    pub fn new(ctx: JobContext, input_size: Option<u64>) -> Self {
        Self {
            ctx,
            input_size: input_size.filter(|size| *size > 0),
            last: Mutex::new(None),
        }
    }
}

/// The job's percent for `report`: the share of the `input_size` compressed bytes read, up to
/// [`READ_DONE`], then fixed steps while the last blocks are stored.
fn build_percent(report: &ProgressReport, input_size: Option<u64>) -> u8 {
    match report.phase {
        Phase::Reading => input_size.map_or(0, |total| {
            let read = report.bytes_in.min(total);
            // `read ≤ total`, so the quotient is at most READ_DONE and fits a u8.
            u8::try_from(u128::from(read) * u128::from(READ_DONE) / u128::from(total)).unwrap_or(0)
        }),
        Phase::Storing => 97,
        Phase::Done => 99,
    }
}

impl Progress for BuildProgress {
    fn update(&self, report: &ProgressReport) {
        let percent = build_percent(report, self.input_size);
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            // Called for every few blocks: forward only a new percent (the original sent a
            // message only when the integer changed), or a fresh item count now and then.
            if let Some((sent, at)) = *last
                && sent == percent
                && now.duration_since(at) < SAME_PERCENT_INTERVAL
                && report.phase == Phase::Reading
            {
                return;
            }
            *last = Some((percent, now));
        }
        let (phase, message) = match report.phase {
            Phase::Reading => (
                phases::BUILDING,
                format!("Building: processing item {}", report.entries),
            ),
            Phase::Storing => (
                phases::STORING,
                format!(
                    "Building: processing item {0} of {0}, storing the last blocks",
                    report.entries
                ),
            ),
            Phase::Done => (
                phases::STORING,
                format!("Building: processing item {0} of {0}", report.entries),
            ),
        };
        self.ctx.progress(percent, phase, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(phase: Phase, bytes_in: u64) -> ProgressReport {
        ProgressReport {
            phase,
            bytes_in,
            bytes_total: None,
            entries: 3,
            blocks_written: 0,
            blocks_deduped: 0,
        }
    }

    #[test]
    fn percent_follows_the_compressed_bytes_read() {
        assert_eq!(build_percent(&report(Phase::Reading, 0), Some(1000)), 0);
        assert_eq!(build_percent(&report(Phase::Reading, 500), Some(1000)), 47);
        assert_eq!(build_percent(&report(Phase::Reading, 1000), Some(1000)), 95);
        // Over-reads (trailing padding) and huge sizes stay in range.
        assert_eq!(build_percent(&report(Phase::Reading, 5000), Some(1000)), 95);
        assert_eq!(
            build_percent(&report(Phase::Reading, u64::MAX / 2), Some(u64::MAX)),
            47
        );
        assert_eq!(build_percent(&report(Phase::Reading, 500), None), 0);
        assert_eq!(build_percent(&report(Phase::Storing, 1000), Some(1000)), 97);
        assert_eq!(build_percent(&report(Phase::Done, 1000), None), 99);
    }
}
