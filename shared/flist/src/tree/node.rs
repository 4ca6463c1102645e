//! Nodes of the tree model: attributes and kinds.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::BlockRef;

/// Index of a node in a [`Tree`](super::Tree). Only meaningful for the tree that returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(super) u32);

impl NodeId {
    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
}

/// Ownership, permissions and times of an entry, common to both formats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attr {
    /// Permission bits only (`st_mode & 0o7777`); the file type is the node's kind.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Owner name (`.flist` ACIs carry one; `.fl` does not). Writers use the decimal uid if absent.
    pub uname: Option<String>,
    /// Group name, as `uname`.
    pub gname: Option<String>,
    /// Modification time, seconds since the epoch (`.flist` stores it as u32).
    pub mtime: i64,
    /// Status-change time, seconds since the epoch (`.flist` stores it as u32).
    pub ctime: i64,
    /// `.flist` ACL key read from an existing file. Writers reuse it so that copied entries keep
    /// their (possibly legacy) keys (flist-formats §A.3.2); `None` makes them compute the current
    /// form.
    pub acl_key: Option<String>,
}

impl Attr {
    /// Root-owned attributes with the given permission bits and zero times.
    pub fn with_mode(mode: u32) -> Self {
        Attr {
            mode: mode & 0o7777,
            ..Attr::default()
        }
    }

    /// `root:root 0755`, the usual attributes of a directory created implicitly.
    pub fn default_dir() -> Self {
        Self::with_mode(0o755)
    }
}

/// Children of a directory, by name in byte-wise order.
///
/// Only the [`Tree`](super::Tree) changes it, so that parent links and the map stay consistent;
/// a `Dir` kind passed to [`Tree::insert`](super::Tree::insert) starts empty.
#[derive(Debug, Clone, Default)]
pub struct Children(pub(super) BTreeMap<String, NodeId>);

/// Children compare by names only: node ids are private to each tree, so two trees with the
/// same content compare equal kind for kind.
impl PartialEq for Children {
    fn eq(&self, other: &Children) -> bool {
        self.0.keys().eq(other.0.keys())
    }
}

impl Eq for Children {}

impl Children {
    /// Child of that name.
    pub fn get(&self, name: &str) -> Option<NodeId> {
        self.0.get(name).copied()
    }

    /// Names and ids in byte-wise name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, NodeId)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Dir {
        /// Entries by name.
        children: Children,
        /// Directory size as stored (4096 when built from a tar).
        size: u64,
    },
    /// A regular file. Hard links are several `File` nodes sharing one block list (the formats
    /// store no link identity).
    File {
        /// Length in bytes.
        size: u64,
        /// Chunks in file order; `ceil(size / 512 KiB)` of them.
        blocks: Arc<[BlockRef]>,
    },
    /// A symbolic link; the target is stored as is (relative or absolute, never resolved).
    Symlink {
        /// Link text.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// Size of a directory when nothing better is known, as in zflist and rfs.
pub const DIR_SIZE: u64 = 4096;

impl NodeKind {
    /// An empty directory of the usual size (4096).
    pub fn dir() -> Self {
        NodeKind::Dir {
            children: Children::default(),
            size: DIR_SIZE,
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self, NodeKind::Dir { .. })
    }

    /// Size as both formats store it: file length, directory size, symlink target length,
    /// 0 for special files.
    pub fn size(&self) -> u64 {
        match self {
            NodeKind::Dir { size, .. } | NodeKind::File { size, .. } => *size,
            NodeKind::Symlink { target } => target.len() as u64,
            _ => 0,
        }
    }

    /// The same kind without children: directories compare by size only.
    pub(super) fn shallow_eq(&self, other: &NodeKind) -> bool {
        match (self, other) {
            (NodeKind::Dir { size: a, .. }, NodeKind::Dir { size: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Entry name (a single path component; empty for the root). Renaming through
    /// [`Tree::node_mut`](super::Tree::node_mut) is not supported: remove and insert instead.
    pub name: String,
    /// Ownership, permissions, times.
    pub attr: Attr,
    /// Type and type-specific data.
    pub kind: NodeKind,
    pub(super) parent: Option<NodeId>,
}

impl Node {
    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<NodeId> {
        self.parent
    }

    /// Children if this is a directory.
    pub fn children(&self) -> Option<&Children> {
        match &self.kind {
            NodeKind::Dir { children, .. } => Some(children),
            _ => None,
        }
    }
}
