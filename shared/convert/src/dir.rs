//! Reading a directory tree from disk (the producer side of [`convert_dir`](crate::convert_dir)).

use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use hub_flist::v2::mode::split_dev;
use hub_flist::{Attr, NodeId, NodeKind};

use crate::pipeline::Submitter;
use crate::state::{BuildState, NewFile, ReadFailure, Readme, Reporter};
use crate::{ConvertError, Phase};

/// Adds everything under `root` to the tree's root, depth first. Symbolic links are stored,
/// never followed.
pub(crate) fn walk(
    state: &mut BuildState,
    submitter: &mut Submitter,
    root: &Path,
    reporter: &mut Reporter,
) -> Result<(), ConvertError> {
    let meta = fs::symlink_metadata(root).map_err(|e| ConvertError::io(root.display(), e))?;
    if !meta.is_dir() {
        return Err(ConvertError::io(
            root.display(),
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    let tree_root = state.tree.root();
    state.tree.node_mut(tree_root).attr = attributes(&meta);
    let mut stack: Vec<(PathBuf, NodeId, String)> =
        vec![(root.to_owned(), tree_root, String::new())];
    while let Some((dir_path, dir, rel)) = stack.pop() {
        let entries =
            fs::read_dir(&dir_path).map_err(|e| ConvertError::io(dir_path.display(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ConvertError::io(dir_path.display(), e))?;
            state.count_entry()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_path = format!("{rel}/{name}");
            state.check_path(&rel_path)?;
            let path = entry.path();
            // `DirEntry::metadata` does not follow symbolic links.
            let meta = entry
                .metadata()
                .map_err(|e| ConvertError::io(path.display(), e))?;
            let attr = attributes(&meta);
            let kind = meta.file_type();
            let insert = |state: &mut BuildState, kind: NodeKind| {
                state
                    .tree
                    .insert(dir, name.clone(), attr.clone(), kind)
                    .map_err(|e| ConvertError::invalid(Some(&rel_path), e.to_string()))
            };
            if kind.is_dir() {
                let id = insert(state, NodeKind::dir())?;
                stack.push((path, id, rel_path));
            } else if kind.is_file() {
                let file = NewFile {
                    dir,
                    name: &name,
                    attr,
                    expected: Some(meta.len()),
                    // Only a root `.README*` is imported.
                    readme: rel.is_empty() && Readme::wants(&[name.as_str()]),
                };
                add_file(state, submitter, file, &path)?;
            } else if kind.is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|e| ConvertError::io(path.display(), e))?;
                let target = target.to_string_lossy().into_owned();
                insert(state, NodeKind::Symlink { target })?;
            } else if kind.is_char_device() || kind.is_block_device() {
                if !state.limits.allow_devices {
                    return Err(ConvertError::DeviceNotAllowed { entry: rel_path });
                }
                let (major, minor) = split_dev(meta.rdev());
                let node = if kind.is_char_device() {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                };
                insert(state, node)?;
            } else if kind.is_fifo() {
                insert(state, NodeKind::Fifo)?;
            } else if kind.is_socket() {
                insert(state, NodeKind::Socket)?;
            }
        }
        let totals = state.totals;
        reporter.tick(
            Phase::Reading,
            totals.content_bytes,
            totals.entries,
            submitter.shared(),
            false,
        );
    }
    state.totals.compressed = state.totals.content_bytes;
    state.totals.expanded = state.totals.content_bytes;
    Ok(())
}

/// Reads a regular file into the tree.
fn add_file(
    state: &mut BuildState,
    submitter: &mut Submitter,
    file: NewFile<'_>,
    path: &Path,
) -> Result<(), ConvertError> {
    if let Some(size) = file.expected {
        state.declare(size)?;
    }
    let name = file.name.to_owned();
    let mut reader = fs::File::open(path).map_err(|e| ConvertError::io(path.display(), e))?;
    state
        .add_file(submitter, file, &mut reader)
        .map_err(|failure| match failure {
            ReadFailure::Io(e) => ConvertError::io(path.display(), e),
            ReadFailure::Truncated { expected, got } => ConvertError::io(
                path.display(),
                std::io::Error::other(format!(
                    "file changed while being read ({got} bytes instead of {expected})"
                )),
            ),
            ReadFailure::Invalid(detail) => ConvertError::invalid(Some(&name), detail),
            ReadFailure::Stopped => ConvertError::Internal("conversion stopped".into()),
        })?;
    Ok(())
}

fn attributes(meta: &Metadata) -> Attr {
    Attr {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        uname: None,
        gname: None,
        mtime: meta.mtime(),
        ctime: meta.ctime(),
        acl_key: None,
    }
}
