//! Helpers shared by the commands' human and JSON output.

use std::io::{self, Write};

use anyhow::Context;
use hub_flist::NodeKind;
use serde::Serialize;

/// Writes `value` as one pretty JSON document followed by a newline on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).context("writing JSON to stdout")?;
    writeln!(out).context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// Whether the error comes from writing to a closed pipe (the reader went away).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
}

/// Stable lowercase name of an entry's type, used in JSON output.
pub fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Dir { .. } => "directory",
        NodeKind::File { .. } => "file",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::CharDevice { .. } => "char_device",
        NodeKind::BlockDevice { .. } => "block_device",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
    }
}

/// `ls -l` mode string: type letter then `rwx` triplets with setuid, setgid and sticky bits.
pub fn mode_string(kind: &NodeKind, mode: u32) -> String {
    let kind_char = match kind {
        NodeKind::Dir { .. } => 'd',
        NodeKind::File { .. } => '-',
        NodeKind::Symlink { .. } => 'l',
        NodeKind::CharDevice { .. } => 'c',
        NodeKind::BlockDevice { .. } => 'b',
        NodeKind::Fifo => 'p',
        NodeKind::Socket => 's',
    };
    let bit = |mask: u32, c: char| if mode & mask != 0 { c } else { '-' };
    // The execute slot shows the special bit too: lower case when executable, upper when not.
    let exec = |x: u32, special: u32, set: char| match (mode & x != 0, mode & special != 0) {
        (true, true) => set,
        (false, true) => set.to_ascii_uppercase(),
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        kind_char,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't'),
    ]
    .iter()
    .collect()
}

/// Modification time as `YYYY-MM-DD HH:MM` in UTC; the raw number when out of range.
pub fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings() {
        let file = NodeKind::File {
            size: 0,
            blocks: Vec::new().into(),
        };
        assert_eq!(mode_string(&NodeKind::dir(), 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(&file, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(&file, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(&file, 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string(&NodeKind::dir(), 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(&NodeKind::dir(), 0o1776), "drwxrwxrwT");
        let link = NodeKind::Symlink { target: "x".into() };
        assert_eq!(mode_string(&link, 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(&NodeKind::Fifo, 0o600), "prw-------");
        let dev = NodeKind::CharDevice { major: 1, minor: 3 };
        assert_eq!(mode_string(&dev, 0o666), "crw-rw-rw-");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(format_time(i64::MAX), i64::MAX.to_string());
    }
}
