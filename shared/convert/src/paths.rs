//! Safe resolution of entry paths against the tree being built.
//!
//! An archive path is accepted only if extracting it could not write outside the root: no
//! absolute paths, no `..` climbing above the root, and no component that is a symbolic link
//! in the tree (extraction would follow it, possibly out of the root).

use hub_flist::{Attr, NodeId, NodeKind, Tree};

use crate::ConvertError;

/// Splits `raw` into normal components, checking it against `tree`.
///
/// `.` and empty components are dropped and `..` removes the previous component. Every
/// component that is followed by another one is used as a directory: it must not be a
/// symbolic link (that is an [`ConvertError::UnsafePath`]) nor another non-directory. An
/// empty result designates the root.
pub(crate) fn components<'a>(tree: &Tree, raw: &'a str) -> Result<Vec<&'a str>, ConvertError> {
    if raw.starts_with('/') {
        return Err(ConvertError::unsafe_path(raw, "absolute path"));
    }
    if raw.contains('\0') {
        return Err(ConvertError::invalid(Some(raw), "path contains a NUL byte"));
    }
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    // Each component with the node it names so far (None: not in the tree yet).
    let mut stack: Vec<(&str, Option<NodeId>)> = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." {
            if stack.pop().is_none() {
                return Err(ConvertError::unsafe_path(raw, "escapes the root with '..'"));
            }
            continue;
        }
        let parent = match stack.last() {
            None => Some(tree.root()),
            Some((_, node)) => *node,
        };
        let node = parent.and_then(|p| tree.child(p, part));
        let used_as_dir = i + 1 < parts.len();
        if used_as_dir && let Some(id) = node {
            match &tree.node(id).kind {
                NodeKind::Dir { .. } => {}
                NodeKind::Symlink { .. } => {
                    return Err(ConvertError::unsafe_path(
                        raw,
                        format!("goes through the symbolic link {}", tree.path(id)),
                    ));
                }
                _ => {
                    return Err(ConvertError::invalid(
                        Some(raw),
                        format!("{} is not a directory", tree.path(id)),
                    ));
                }
            }
        }
        stack.push((part, node));
    }
    Ok(stack.into_iter().map(|(name, _)| name).collect())
}

/// The node at `components` (already checked by [`components`]), if present.
pub(crate) fn lookup(tree: &Tree, components: &[&str]) -> Option<NodeId> {
    components
        .iter()
        .try_fold(tree.root(), |dir, name| tree.child(dir, name))
}

/// The directory at `dirs`, creating missing ones as `root:root 0755` (what tar does for
/// parents missing from the archive). `created` receives the ids of new directories.
pub(crate) fn ensure_dir(
    tree: &mut Tree,
    dirs: &[&str],
    raw: &str,
    created: &mut impl FnMut(NodeId),
) -> Result<NodeId, ConvertError> {
    let mut dir = tree.root();
    for name in dirs {
        dir = match tree.child(dir, name) {
            Some(id) if tree.node(id).kind.is_dir() => id,
            Some(id) => {
                return Err(ConvertError::invalid(
                    Some(raw),
                    format!("{} is not a directory", tree.path(id)),
                ));
            }
            None => {
                let id = tree
                    .insert(
                        dir,
                        (*name).to_owned(),
                        Attr::default_dir(),
                        NodeKind::dir(),
                    )
                    .map_err(|e| ConvertError::invalid(Some(raw), e.to_string()))?;
                created(id);
                id
            }
        };
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let mut t = Tree::new(Attr::default_dir());
        let root = t.root();
        let a = t
            .insert(root, "a".into(), Attr::default_dir(), NodeKind::dir())
            .ok();
        t.insert(
            root,
            "link".into(),
            Attr::with_mode(0o777),
            NodeKind::Symlink {
                target: "/etc".into(),
            },
        )
        .ok();
        if let Some(a) = a {
            t.insert(a, "f".into(), Attr::with_mode(0o644), NodeKind::Fifo)
                .ok();
        }
        t
    }

    #[test]
    fn normal_paths() {
        let t = tree();
        assert_eq!(components(&t, "./a/b/").ok(), Some(vec!["a", "b"]));
        assert_eq!(components(&t, "a//./b").ok(), Some(vec!["a", "b"]));
        assert_eq!(components(&t, "a/../b").ok(), Some(vec!["b"]));
        assert_eq!(components(&t, "./").ok(), Some(vec![]));
        assert_eq!(
            components(&t, "new/dir/x").ok(),
            Some(vec!["new", "dir", "x"])
        );
        // The link itself may be replaced; only going through it is refused.
        assert_eq!(components(&t, "link").ok(), Some(vec!["link"]));
    }

    #[test]
    fn hostile_paths() {
        let t = tree();
        for (raw, code) in [
            ("../x", "unsafe_path"),
            ("a/../../x", "unsafe_path"),
            ("/etc/passwd", "unsafe_path"),
            ("link/passwd", "unsafe_path"),
            ("link/../x", "unsafe_path"),
            ("a/f/x", "invalid_archive"),
        ] {
            let got = components(&t, raw).map(|_| ()).map_err(|e| e.code());
            assert_eq!(got, Err(code.into()), "{raw}");
        }
    }

    #[test]
    fn missing_parents_are_created() {
        let mut t = tree();
        let mut created = Vec::new();
        let dir = ensure_dir(&mut t, &["a", "x", "y"], "a/x/y/z", &mut |id| {
            created.push(id)
        });
        assert!(dir.is_ok());
        assert_eq!(created.len(), 2);
        assert_eq!(
            t.lookup("a/x/y").map(|id| t.node(id).attr.mode),
            Some(0o755)
        );
        assert!(ensure_dir(&mut t, &["a", "f"], "a/f/z", &mut |_| {}).is_err());
    }
}
