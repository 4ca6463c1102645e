//! Per-step measurements: wall time, CPU time of every thread, peak resident memory.

use std::time::Instant;

use hub_flist::Format;
use nix::sys::resource::{UsageWho, getrusage};

use super::Measurement;

/// Start-of-step readings.
pub(super) struct Probe {
    started: Instant,
    self_cpu: f64,
    pub(super) child_cpu: f64,
}

impl Probe {
    pub(super) fn start() -> Probe {
        // Best effort: resets the peak RSS counter (Linux ≥ 4.0); without it the peak is the
        // process-wide maximum so far.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Probe {
            started: Instant::now(),
            self_cpu: cpu_seconds(UsageWho::RUSAGE_SELF),
            child_cpu: cpu_seconds(UsageWho::RUSAGE_CHILDREN),
        }
    }

    pub(super) fn finish(&self, step: &str, format: Option<Format>, input: u64) -> Measurement {
        Measurement {
            step: step.to_owned(),
            format: format.map(|f| f.extension().to_owned()),
            input,
            seconds: self.started.elapsed().as_secs_f64(),
            cpu_seconds: cpu_seconds(UsageWho::RUSAGE_SELF) - self.self_cpu,
            peak_rss_bytes: peak_rss(),
            ..Measurement::default()
        }
    }

    pub(super) fn conversion(
        &self,
        step: &str,
        format: Format,
        stats: &crate::ConversionStats,
    ) -> Measurement {
        let mut m = self.finish(step, Some(format), stats.content_bytes);
        m.mb_per_s = Some(stats.content_bytes as f64 / 1e6 / m.seconds.max(1e-9));
        m.blocks_written = stats.blocks_written;
        m.blocks_deduped = stats.blocks_deduped;
        m.dedup_ratio = (stats.blocks_written > 0).then(|| {
            (stats.blocks_written + stats.blocks_deduped) as f64 / stats.blocks_written as f64
        });
        m
    }
}

pub(super) fn cpu_seconds(who: UsageWho) -> f64 {
    getrusage(who).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    })
}

/// Peak resident set size: `VmHWM` of `/proc/self/status`, else `getrusage`'s maximum.
fn peak_rss() -> u64 {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
    from_proc.map(|kb| kb * 1024).unwrap_or_else(|| {
        getrusage(UsageWho::RUSAGE_SELF)
            .map(|u| u64::try_from(u.max_rss()).unwrap_or(0) * 1024)
            .unwrap_or(0)
    })
}
