//! File helpers for tests of a `dir://` store.

use std::path::Path;
use std::time::{Duration, SystemTime};

/// Sets the modification time of every file directly in `dir` to `age` ago: blocks of a
/// `dir://` store (flat layout) then look as old as long-published ones to the garbage
/// collector's age rule.
pub fn backdate_files(dir: &Path, age: Duration) -> std::io::Result<()> {
    let when = SystemTime::now()
        .checked_sub(age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(when)?;
        }
    }
    Ok(())
}
