//! In-memory tree model shared by both formats.
//!
//! An arena of [`Node`]s addressed by [`NodeId`]. Directories keep their children in a map by
//! name, so names stay unique and iteration is deterministic. Removed nodes leave dead slots
//! (ids are never reused, so a stale id can never alias a newer node).

mod node;
mod walk;

pub use node::{Attr, Children, DIR_SIZE, Node, NodeId, NodeKind};
pub use walk::{DumpEntry, Stats, Walk};

/// Errors of tree edits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A name must be one non-empty path component other than `.` and `..`, without NUL.
    #[error("invalid entry name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The parent of a new entry is not a directory (or was removed).
    #[error("{path} is not a directory")]
    NotADirectory {
        /// Path of the offending node.
        path: String,
    },
    /// The tree would exceed the number of nodes a [`NodeId`] can address.
    #[error("too many nodes")]
    Full,
}

/// A directory tree: root directory plus entries.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Option<Node>>,
    live: usize,
}

impl Tree {
    /// A tree holding only a root directory with these attributes.
    pub fn new(root: Attr) -> Tree {
        Tree {
            nodes: vec![Some(Node {
                name: String::new(),
                attr: root,
                kind: NodeKind::dir(),
                parent: None,
            })],
            live: 1,
        }
    }

    /// The root directory.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The node, or `None` if `id` was removed or belongs to another tree.
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index()).and_then(Option::as_ref)
    }

    /// The node.
    ///
    /// # Panics
    ///
    /// If `id` was removed or comes from another tree (a programming error); see [`Tree::get`].
    pub fn node(&self, id: NodeId) -> &Node {
        match self.get(id) {
            Some(node) => node,
            None => panic!("stale NodeId {id:?}"),
        }
    }

    /// Mutable access to attributes and file data.
    ///
    /// Do not rename the node or turn a directory into another kind here (its subtree would be
    /// detached): use [`Tree::insert`] and [`Tree::remove`] to restructure.
    ///
    /// # Panics
    ///
    /// As [`Tree::node`].
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        match self.nodes.get_mut(id.index()).and_then(Option::as_mut) {
            Some(node) => node,
            None => panic!("stale NodeId {id:?}"),
        }
    }

    /// Resolves a `/`-separated path relative to the root: `"a/b"`, `"/a/b/"`; `""` or `"/"`
    /// is the root. Empty components are ignored.
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        path.split('/')
            .filter(|c| !c.is_empty())
            .try_fold(self.root(), |dir, name| self.child(dir, name))
    }

    /// The entry `name` of directory `dir`.
    pub fn child(&self, dir: NodeId, name: &str) -> Option<NodeId> {
        self.get(dir)?.children()?.get(name)
    }

    /// Children of `dir` in `.flist` order (flist-formats §A.4.4): sub-directories by name
    /// byte-wise, then the other entries by name byte-wise. Empty for a non-directory.
    pub fn children(&self, dir: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let map = self.get(dir).and_then(Node::children);
        let is_dir = move |id: &NodeId| self.get(*id).is_some_and(|n| n.kind.is_dir());
        let dirs = map
            .into_iter()
            .flat_map(Children::iter)
            .map(|(_, id)| id)
            .filter(is_dir);
        let others = map
            .into_iter()
            .flat_map(Children::iter)
            .map(|(_, id)| id)
            .filter(move |id| !is_dir(id));
        dirs.chain(others)
    }

    /// Adds `name` to directory `dir` and returns its id.
    ///
    /// An existing entry of that name is replaced (tar semantics: the later entry wins, and a
    /// replaced directory's subtree is dropped), except that a directory written over a
    /// directory keeps its children and only takes the new attributes and size, as extracting
    /// a tar (or applying an image layer) does. A `Dir` kind is inserted without children.
    pub fn insert(
        &mut self,
        dir: NodeId,
        name: String,
        attr: Attr,
        kind: NodeKind,
    ) -> Result<NodeId, TreeError> {
        validate_name(&name)?;
        if self.get(dir).and_then(Node::children).is_none() {
            return Err(TreeError::NotADirectory {
                path: self.describe(dir),
            });
        }
        if let Some(existing) = self.child(dir, &name) {
            if let NodeKind::Dir { size, .. } = &kind
                && let Some(old) = self
                    .nodes
                    .get_mut(existing.index())
                    .and_then(Option::as_mut)
                && let NodeKind::Dir { size: old_size, .. } = &mut old.kind
            {
                *old_size = *size;
                old.attr = attr;
                return Ok(existing);
            }
            self.remove(dir, &name);
        }
        let kind = match kind {
            NodeKind::Dir { size, .. } => NodeKind::Dir {
                children: Children::default(),
                size,
            },
            other => other,
        };
        let id = NodeId(u32::try_from(self.nodes.len()).map_err(|_| TreeError::Full)?);
        self.nodes.push(Some(Node {
            name: name.clone(),
            attr,
            kind,
            parent: Some(dir),
        }));
        self.live += 1;
        self.link_child(dir, name, id);
        Ok(id)
    }

    /// Creates the directories of `path` that do not exist yet, with `attr`, and returns the
    /// last one. Existing directories are left unchanged.
    pub fn mkdir_all(&mut self, path: &str, attr: &Attr) -> Result<NodeId, TreeError> {
        let mut dir = self.root();
        for name in path.split('/').filter(|c| !c.is_empty()) {
            dir = match self.child(dir, name) {
                Some(id) if self.node(id).kind.is_dir() => id,
                Some(id) => {
                    return Err(TreeError::NotADirectory {
                        path: self.path(id),
                    });
                }
                None => self.insert(dir, name.to_owned(), attr.clone(), NodeKind::dir())?,
            };
        }
        Ok(dir)
    }

    /// Removes entry `name` of `dir` with its whole subtree. Returns the removed (now invalid) id.
    pub fn remove(&mut self, dir: NodeId, name: &str) -> Option<NodeId> {
        let removed = match self.nodes.get_mut(dir.index()).and_then(Option::as_mut) {
            Some(Node {
                kind: NodeKind::Dir { children, .. },
                ..
            }) => children.0.remove(name)?,
            _ => return None,
        };
        let mut stack = vec![removed];
        while let Some(id) = stack.pop() {
            if let Some(node) = self.nodes.get_mut(id.index()).and_then(Option::take) {
                self.live -= 1;
                if let NodeKind::Dir { children, .. } = node.kind {
                    stack.extend(children.0.into_values());
                }
            }
        }
        Some(removed)
    }

    /// Takes node `id` (not the root) and everything below it out of the tree, without
    /// copying names or data. `None` if `id` is the root or not in the tree.
    pub fn detach(&mut self, id: NodeId) -> Option<Subtree> {
        let parent = self.get(id)?.parent?;
        let mut top = self.nodes.get_mut(id.index()).and_then(Option::take)?;
        top.parent = None;
        // The map key is the same string as the node's name: keep it for the new parent.
        let key = match self.nodes.get_mut(parent.index()).and_then(Option::as_mut) {
            Some(Node {
                kind: NodeKind::Dir { children, .. },
                ..
            }) => children.0.remove_entry(top.name.as_str()).map(|(k, _)| k),
            _ => None,
        };
        let mut nodes = vec![top];
        // Nodes are renumbered in the order they are reached: a node's new id is its index
        // in `nodes`, and child maps are rewritten to the new ids as they are reached.
        let mut next = 0;
        while next < nodes.len() {
            let here = NodeId(u32::try_from(next).unwrap_or(u32::MAX));
            let mut taken = Vec::new();
            if let Some(NodeKind::Dir { children, .. }) = nodes.get(next).map(|n| &n.kind) {
                for old in children.0.values() {
                    taken.push(self.nodes.get_mut(old.index()).and_then(Option::take));
                }
            }
            let mut new_id = nodes.len();
            let mut found = taken.iter().map(Option::is_some);
            if let Some(NodeKind::Dir { children, .. }) = nodes.get_mut(next).map(|n| &mut n.kind) {
                children.0.retain(|_, slot| {
                    // A consistent tree has every child; a missing one is dropped, not dangled.
                    if found.next() != Some(true) {
                        return false;
                    }
                    *slot = NodeId(u32::try_from(new_id).unwrap_or(u32::MAX));
                    new_id += 1;
                    true
                });
            }
            for mut child in taken.into_iter().flatten() {
                child.parent = Some(here);
                nodes.push(child);
            }
            next += 1;
        }
        self.live -= nodes.len();
        Some(Subtree { nodes, key })
    }

    /// Adds a detached subtree as entry of directory `dir`, without copying names or data, and
    /// returns the id of its top node. An existing entry of that name is removed first. On
    /// error the subtree is dropped.
    pub fn attach(&mut self, dir: NodeId, subtree: Subtree) -> Result<NodeId, TreeError> {
        let Subtree { nodes, key } = subtree;
        let Some(top) = nodes.first() else {
            return Err(TreeError::InvalidName {
                name: String::new(),
                reason: "empty",
            });
        };
        if self.get(dir).and_then(Node::children).is_none() {
            return Err(TreeError::NotADirectory {
                path: self.describe(dir),
            });
        }
        let base = self.nodes.len();
        if u32::try_from(base + nodes.len()).is_err() {
            return Err(TreeError::Full);
        }
        let key = key
            .filter(|k| *k == top.name)
            .unwrap_or_else(|| top.name.clone());
        self.remove(dir, &key);
        let shift = |id: NodeId| NodeId(id.0 + base as u32);
        let count = nodes.len();
        for mut node in nodes {
            node.parent = Some(node.parent.map_or(dir, shift));
            if let NodeKind::Dir { children, .. } = &mut node.kind {
                for slot in children.0.values_mut() {
                    *slot = shift(*slot);
                }
            }
            self.nodes.push(Some(node));
        }
        self.live += count;
        let id = NodeId(base as u32);
        self.link_child(dir, key, id);
        Ok(id)
    }

    /// Records `id` as `dir`'s child `name` (callers have checked that `dir` is a directory).
    fn link_child(&mut self, dir: NodeId, name: String, id: NodeId) {
        if let Some(NodeKind::Dir { children, .. }) = self
            .nodes
            .get_mut(dir.index())
            .and_then(Option::as_mut)
            .map(|n| &mut n.kind)
        {
            children.0.insert(name, id);
        }
    }

    /// Absolute path with a leading `/`; `"/"` for the root.
    pub fn path(&self, id: NodeId) -> String {
        let mut names = Vec::new();
        let mut cur = self.get(id);
        while let Some(node) = cur {
            let Some(parent) = node.parent else { break };
            names.push(node.name.as_str());
            cur = self.get(parent);
        }
        if names.is_empty() {
            return "/".to_owned();
        }
        let mut out = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        for name in names.iter().rev() {
            out.push('/');
            out.push_str(name);
        }
        out
    }

    /// Number of live nodes, root included.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when the tree holds only its root.
    pub fn is_empty(&self) -> bool {
        self.live <= 1
    }

    fn describe(&self, id: NodeId) -> String {
        if self.get(id).is_some() {
            self.path(id)
        } else {
            format!("{id:?} (removed)")
        }
    }
}

/// A part of a tree taken out by [`Tree::detach`], to be put back by [`Tree::attach`] (into the
/// same or another tree).
#[derive(Debug)]
pub struct Subtree {
    /// The top node first; ids and parent links are indexes into this list.
    nodes: Vec<Node>,
    /// The top node's name as it was stored in its parent's map (reused on attach).
    key: Option<String>,
}

impl Subtree {
    /// Number of nodes, the top one included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true for a detached subtree (it holds at least its top node).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Structural equality: same names, attributes and kinds at the same paths (node ids and
/// insertion history do not matter).
impl PartialEq for Tree {
    fn eq(&self, other: &Tree) -> bool {
        let mut stack = vec![(self.root(), other.root())];
        while let Some((a, b)) = stack.pop() {
            let (Some(na), Some(nb)) = (self.get(a), other.get(b)) else {
                return false;
            };
            if na.name != nb.name || na.attr != nb.attr || !na.kind.shallow_eq(&nb.kind) {
                return false;
            }
            if let (Some(ca), Some(cb)) = (na.children(), nb.children()) {
                if ca.len() != cb.len() {
                    return false;
                }
                for ((name_a, id_a), (name_b, id_b)) in ca.iter().zip(cb.iter()) {
                    if name_a != name_b {
                        return false;
                    }
                    stack.push((id_a, id_b));
                }
            }
        }
        true
    }
}

impl Eq for Tree {}

/// Checks that `name` is a single usable path component.
pub fn validate_name(name: &str) -> Result<(), TreeError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "reserved"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(TreeError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests;
