//! Directory trees on disk, read into a form that compares: what an unpacked flist must hold is
//! what the tree it was made from holds.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// One entry of a [`snapshot`]. Modes are the permission bits with set-id and sticky bits;
/// owners and times are left to the tests that care about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
    },
    /// A regular file and its content.
    File {
        /// Permission bits.
        mode: u32,
        /// Content.
        data: Vec<u8>,
    },
    /// A symbolic link (its own permissions mean nothing, and tools disagree on them).
    Symlink {
        /// Where it points, as written.
        target: String,
    },
    /// A named pipe.
    Fifo {
        /// Permission bits.
        mode: u32,
    },
    /// A character or block device, or a socket.
    Device {
        /// Permission bits.
        mode: u32,
        /// Device number.
        rdev: u64,
        /// A character device (not a block device).
        char: bool,
    },
}

/// Every entry below `root` (not `root` itself) by its path relative to `root`, symbolic links
/// not followed.
pub fn snapshot(root: &Path) -> io::Result<BTreeMap<String, Entry>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let relative = path
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path)?;
            let mode = meta.mode() & 0o7777;
            let kind = meta.file_type();
            let entry = if kind.is_dir() {
                stack.push(path);
                Entry::Dir { mode }
            } else if kind.is_file() {
                Entry::File {
                    mode,
                    data: std::fs::read(&path)?,
                }
            } else if kind.is_symlink() {
                Entry::Symlink {
                    target: std::fs::read_link(&path)?.to_string_lossy().into_owned(),
                }
            } else if kind.is_fifo() {
                Entry::Fifo { mode }
            } else {
                Entry::Device {
                    mode,
                    rdev: meta.rdev(),
                    char: kind.is_char_device(),
                }
            };
            out.insert(relative, entry);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn every_kind_is_read_with_its_mode() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b"))?;
        std::fs::write(root.join("a/b/file"), b"content")?;
        std::fs::set_permissions(
            root.join("a/b/file"),
            std::fs::Permissions::from_mode(0o4750),
        )?;
        std::fs::set_permissions(root.join("a"), std::fs::Permissions::from_mode(0o700))?;
        std::os::unix::fs::symlink("../missing", root.join("a/link"))?;
        mkfifo(&root.join("pipe"))?;
        let snap = snapshot(root)?;
        assert_eq!(snap.get("a"), Some(&Entry::Dir { mode: 0o700 }));
        assert_eq!(
            snap.get("a/b/file"),
            Some(&Entry::File {
                mode: 0o4750,
                data: b"content".to_vec()
            })
        );
        assert_eq!(
            snap.get("a/link"),
            Some(&Entry::Symlink {
                target: "../missing".into()
            })
        );
        assert!(matches!(snap.get("pipe"), Some(Entry::Fifo { .. })));
        assert_eq!(snap.len(), 5, "{snap:?}");
        // Another tree with other content compares unequal.
        std::fs::write(root.join("a/b/file"), b"changed")?;
        assert_ne!(snapshot(root)?, snap);
        Ok(())
    }

    /// `mkfifo` through the command, which every test machine has.
    fn mkfifo(path: &Path) -> io::Result<()> {
        let status = std::process::Command::new("mkfifo").arg(path).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "mkfifo {}: {status}",
                path.display()
            )))
        }
    }
}
