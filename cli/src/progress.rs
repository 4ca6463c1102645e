//! Progress bars for long operations, drawn on stderr only when it is a terminal so that
//! scripts and logs stay clean.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use hub_convert::{Phase, Progress, ProgressReport};
use indicatif::{ProgressBar, ProgressStyle};

/// Whether progress should be drawn at all.
fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar counting bytes up to `total`; hidden when stderr is not a terminal.
pub fn bytes(total: u64, message: &'static str) -> ProgressBar {
    styled(
        total,
        message,
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
}

/// A spinner with a message and the elapsed time, for work that reports no progress.
pub fn spinner(message: String) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A spinner for work of unknown length, showing a running byte count.
pub fn spinner_bytes(message: &'static str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec} {elapsed}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn styled(total: u64, message: &'static str, template: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_message(message);
    // The templates are constants; a bad one would only lose the styling, not the bar.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Shows the progress reports of a hub-convert conversion on a bar (or a spinner when the
/// input size is unknown).
#[derive(Debug)]
pub struct ConversionBar {
    bar: ProgressBar,
    /// Last phase shown, so the message is only rebuilt when it changes (reports are frequent).
    phase: Mutex<Option<Phase>>,
}

impl ConversionBar {
    /// A bar over `total` input bytes, or a spinner when `total` is unknown.
    pub fn new(total: Option<u64>) -> Self {
        let bar = match total {
            Some(total) => bytes(total, "packing"),
            None => spinner_bytes("packing"),
        };
        ConversionBar {
            bar,
            phase: Mutex::new(None),
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for ConversionBar {
    fn update(&self, report: &ProgressReport) {
        self.bar.set_position(report.bytes_in);
        if let Ok(mut shown) = self.phase.lock()
            && *shown != Some(report.phase)
        {
            *shown = Some(report.phase);
            self.bar.set_message(match report.phase {
                Phase::Reading => "reading",
                Phase::Storing => "storing",
                Phase::Done => "done",
            });
        }
    }
}
