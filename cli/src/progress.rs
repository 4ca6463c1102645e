//! Progress bars for long operations, drawn on stderr only when it is a terminal so that
//! scripts and logs stay clean.

use std::io::IsTerminal;
use std::time::Duration;

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

/// A bar counting items (files, blocks, entries) up to `total`; hidden when stderr is not a
/// terminal.
pub fn items(total: u64, message: &'static str) -> ProgressBar {
    styled(
        total,
        message,
        "{msg:>10} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
    )
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
