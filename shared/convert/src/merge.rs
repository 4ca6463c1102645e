//! Merging flists (spec `flist-formats.md` Part C.2, plus an overlay mode).

use hub_flist::{BACKEND_KEY, Flist, Format, NodeId, NodeKind, Tree};
use hub_store::SharedStore;
use serde::{Deserialize, Serialize};

use crate::builder::store_routes;
use crate::{ConvertError, rechunk};

/// Prefix of OCI whiteout files.
const WHITEOUT: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// How entries present in several inputs are combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// The original hub's semantics (flist-formats §C.2): union of all paths; the earliest input
    /// that has a path wins it (a non-directory hides everything at or below that path in later
    /// inputs); directories merge recursively and keep the earliest attributes; whiteout names are
    /// ordinary files.
    #[default]
    FirstWins,
    /// Image-layer semantics: later inputs win; directories merge recursively and take the
    /// later attributes; `.wh.<name>` deletes `<name>` of earlier inputs and `.wh..wh..opq`
    /// empties its directory of earlier content. Whiteout entries are not kept.
    Overlay,
}

/// The hub's merge modes: `union` is the original hub's merge.
impl From<hub_model::MergeMode> for MergeMode {
    fn from(mode: hub_model::MergeMode) -> Self {
        match mode {
            hub_model::MergeMode::Union => Self::FirstWins,
            hub_model::MergeMode::Overlay => Self::Overlay,
        }
    }
}

/// Merges `inputs` (in order) into one flist of `out_format`.
///
/// Settings come from the first input: its `metadata`/`tag` values (a `.flist` `backend` is
/// dropped when writing `.fl`); for `.fl` output the routes are `store`'s (flist-formats §C.2.7).
///
/// Blocks of inputs already in `out_format` are referenced, not touched: they must be in
/// `store` (check with [`verify`](crate::verify) when unsure). Blocks of the other format are
/// re-encoded: fetched from `store`, decoded, encoded in `out_format` and stored back, with
/// bounded concurrency; the result unpacks to the same bytes.
pub async fn merge(
    inputs: Vec<Flist>,
    mode: MergeMode,
    out_format: Format,
    store: SharedStore,
) -> Result<Flist, ConvertError> {
    let mut inputs = inputs.into_iter();
    let first = inputs
        .next()
        .ok_or_else(|| ConvertError::InvalidInput("no flist to merge".into()))?;
    let rest: Vec<Flist> = inputs.collect();
    let first_format = first.format;
    let mixed = first_format != out_format || rest.iter().any(|f| f.format != out_format);
    let mut meta = first.meta;
    // Tree surgery is CPU work proportional to the number of entries.
    let mut tree = tokio::task::spawn_blocking(move || {
        let mut tree = first.tree;
        for other in rest {
            merge_into(&mut tree, other.tree, mode)?;
        }
        Ok::<_, ConvertError>(tree)
    })
    .await??;
    if mixed {
        tree = rechunk::to_format(tree, out_format, &store).await?;
    }
    match out_format {
        Format::Fl => {
            if first_format == Format::Flist {
                meta.values.remove(BACKEND_KEY);
            }
            meta.routes = store_routes(&store);
        }
        Format::Flist => meta.routes.clear(),
    }
    Ok(Flist {
        format: out_format,
        tree,
        meta,
    })
}

/// Merges `src` into `dst` in place. Entries taken from `src` are moved, not copied.
pub(crate) fn merge_into(
    dst: &mut Tree,
    mut src: Tree,
    mode: MergeMode,
) -> Result<(), ConvertError> {
    let overlay = mode == MergeMode::Overlay;
    if overlay {
        let root = dst.root();
        dst.node_mut(root).attr = src.node(src.root()).attr.clone();
    }
    let mut stack = vec![(dst.root(), src.root())];
    while let Some((d, s)) = stack.pop() {
        let Some(children) = src.get(s).and_then(|n| n.children()) else {
            continue;
        };
        if overlay {
            for (name, _) in children.iter() {
                if name == OPAQUE {
                    clear_dir(dst, d);
                } else if let Some(target) = name.strip_prefix(WHITEOUT)
                    && !target.starts_with(WHITEOUT)
                {
                    dst.remove(d, target);
                }
            }
        }
        let ids: Vec<NodeId> = children.iter().map(|(_, id)| id).collect();
        for sid in ids {
            let snode = src.node(sid);
            if overlay && snode.name.starts_with(WHITEOUT) {
                continue;
            }
            match dst.child(d, &snode.name) {
                None => {}
                Some(did) if dst.node(did).kind.is_dir() && snode.kind.is_dir() => {
                    if overlay {
                        let node = dst.node_mut(did);
                        node.attr = snode.attr.clone();
                        if let (NodeKind::Dir { size, .. }, NodeKind::Dir { size: s, .. }) =
                            (&mut node.kind, &snode.kind)
                        {
                            *size = *s;
                        }
                    }
                    stack.push((did, sid));
                    continue;
                }
                // Overlay: the later entry replaces the earlier one (attach removes it).
                Some(_) if overlay => {}
                // First wins: whatever the earlier input has at this path stays.
                Some(_) => continue,
            }
            if let Some(subtree) = src.detach(sid) {
                dst.attach(d, subtree)
                    .map_err(|e| ConvertError::InvalidInput(format!("merge: {e}")))?;
            }
        }
    }
    Ok(())
}

fn clear_dir(tree: &mut Tree, dir: NodeId) {
    let names: Vec<String> = tree
        .get(dir)
        .and_then(|n| n.children())
        .map(|c| c.iter().map(|(name, _)| name.to_owned()).collect())
        .unwrap_or_default();
    for name in names {
        tree.remove(dir, &name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_flist::Attr;

    fn file(t: &mut Tree, path: &str, size: u64) {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let Ok(parent) = t.mkdir_all(dir, &Attr::default_dir()) else {
            panic!("mkdir {dir}");
        };
        let kind = NodeKind::File {
            size,
            blocks: std::sync::Arc::from(Vec::new()),
        };
        assert!(
            t.insert(parent, name.into(), Attr::with_mode(0o644), kind)
                .is_ok()
        );
    }

    fn size_at(t: &Tree, path: &str) -> Option<u64> {
        t.lookup(path).map(|id| t.node(id).kind.size())
    }

    #[test]
    fn first_wins_keeps_earliest_and_unions() {
        let mut a = Tree::new(Attr::default_dir());
        file(&mut a, "x", 1);
        file(&mut a, "d/y", 2);
        let mut b = Tree::new(Attr::default_dir());
        file(&mut b, "x/inner", 3); // x is a file in a: b's directory is dropped
        file(&mut b, "d/y", 4);
        file(&mut b, "d/z", 5);
        assert!(merge_into(&mut a, b, MergeMode::FirstWins).is_ok());
        assert_eq!(size_at(&a, "x"), Some(1));
        assert_eq!(a.lookup("x/inner"), None);
        assert_eq!(size_at(&a, "d/y"), Some(2));
        assert_eq!(size_at(&a, "d/z"), Some(5));
    }

    #[test]
    fn overlay_whiteouts() {
        let mut a = Tree::new(Attr::default_dir());
        file(&mut a, "keep", 1);
        file(&mut a, "gone", 2);
        file(&mut a, "o/old", 3);
        let mut b = Tree::new(Attr::default_dir());
        file(&mut b, ".wh.gone", 0);
        file(&mut b, "o/.wh..wh..opq", 0);
        file(&mut b, "o/new", 4);
        file(&mut b, "keep", 9);
        assert!(merge_into(&mut a, b, MergeMode::Overlay).is_ok());
        assert_eq!(size_at(&a, "keep"), Some(9));
        assert_eq!(a.lookup("gone"), None);
        assert_eq!(a.lookup(".wh.gone"), None);
        assert_eq!(a.lookup("o/old"), None);
        assert_eq!(size_at(&a, "o/new"), Some(4));
    }
}
