//! Traversals of a tree: depth-first walk, statistics and the hub's contents dump.

use serde::Serialize;

use super::{NodeId, NodeKind, Tree};

/// Depth-first pre-order iterator over every node except the root, in
/// [`Tree::children`] order. Created by [`Tree::walk`].
pub struct Walk<'a> {
    tree: &'a Tree,
    stack: Vec<NodeId>,
}

impl Iterator for Walk<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let id = self.stack.pop()?;
        self.push_children(id);
        Some(id)
    }
}

impl Walk<'_> {
    fn push_children(&mut self, dir: NodeId) {
        let start = self.stack.len();
        self.stack.extend(self.tree.children(dir));
        // Reverse so that the first child is popped first.
        self.stack[start..].reverse();
    }
}

/// Entry counts of a tree, as in the hub's contents dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Regular files.
    pub regular: u64,
    /// Symbolic links.
    pub symlink: u64,
    /// Directories, root excluded.
    pub directory: u64,
    /// Devices, FIFOs and sockets.
    pub special: u64,
    /// Sum of regular file sizes.
    pub fullsize: u64,
    /// Number of block references over all regular files.
    pub blocks: u64,
}

/// One element of the hub's contents dump (`GET /api/flist/<repo>/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DumpEntry {
    /// Stored size of the entry.
    pub size: u64,
    /// Absolute path with a leading `/`.
    pub path: String,
}

impl Tree {
    /// Every node except the root, depth-first pre-order, children in [`Tree::children`] order.
    pub fn walk(&self) -> Walk<'_> {
        let mut walk = Walk {
            tree: self,
            stack: Vec::new(),
        };
        walk.push_children(self.root());
        walk
    }

    /// Counts entries by kind.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for id in self.walk() {
            match &self.node(id).kind {
                NodeKind::Dir { .. } => s.directory += 1,
                NodeKind::File { size, blocks } => {
                    s.regular += 1;
                    s.fullsize += size;
                    s.blocks += blocks.len() as u64;
                }
                NodeKind::Symlink { .. } => s.symlink += 1,
                _ => s.special += 1,
            }
        }
        s
    }

    /// The contents dump: `{path, size}` of every entry except the root, in walk order.
    pub fn dump(&self) -> Vec<DumpEntry> {
        let mut out = Vec::with_capacity(self.len().saturating_sub(1));
        // Keep the path of each directory on a stack to avoid rebuilding it per entry.
        let mut prefixes: Vec<(NodeId, String)> = vec![(self.root(), String::new())];
        for id in self.walk() {
            let node = self.node(id);
            while let Some((top, _)) = prefixes.last() {
                if Some(*top) == node.parent() {
                    break;
                }
                prefixes.pop();
            }
            let parent_path = prefixes.last().map(|(_, p)| p.as_str()).unwrap_or("");
            let path = format!("{parent_path}/{}", node.name);
            if node.kind.is_dir() {
                prefixes.push((id, path.clone()));
            }
            out.push(DumpEntry {
                size: node.kind.size(),
                path,
            });
        }
        out
    }
}
