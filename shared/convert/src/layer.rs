//! Applying one tar stream to the tree: entry types, hard links, duplicates, and OCI
//! whiteouts for image layers.

use std::collections::HashSet;
use std::io::Read;

use hub_flist::{Attr, NodeId, NodeKind};
use tar::{Archive, Entry, EntryType};

use crate::decompress::{self, Meter};
use crate::paths;
use crate::pipeline::Submitter;
use crate::state::{BuildState, NewFile, ReadFailure, Readme, Reporter};
use crate::{ConvertError, Phase};

/// Prefix of OCI whiteout files.
const WHITEOUT: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// Reads a whole (possibly compressed) tar stream into `state`.
pub(crate) fn apply<R: Read + Send + 'static>(
    state: &mut BuildState,
    submitter: &mut Submitter,
    input: R,
    whiteouts: bool,
    reporter: &mut Reporter,
) -> Result<(), ConvertError> {
    let meter = Meter::new(
        &state.limits,
        state.totals.compressed,
        state.totals.expanded,
    );
    let (compression, tar) = decompress::open(input, &meter)?;
    tracing::debug!(?compression, whiteouts, "applying a tar stream");
    let mut layer = Layer {
        state,
        submitter,
        meter: &meter,
        whiteouts,
        touched: HashSet::new(),
        opaque: Vec::new(),
    };
    let mut archive = Archive::new(tar);
    let entries = archive.entries().map_err(|e| meter.explain(e, None))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| meter.explain(e, None))?;
        layer.entry(&mut entry)?;
        let s = &layer.state.totals;
        reporter.tick(
            Phase::Reading,
            meter.compressed(),
            s.entries,
            layer.submitter.shared(),
            false,
        );
    }
    layer.finish_opaque();
    // Reach the end of the compressed stream: its checksum and any trailing corruption are
    // only seen there.
    decompress::drain(archive.into_inner()).map_err(|e| meter.explain(e, None))?;
    state.totals.compressed = meter.compressed();
    state.totals.expanded = meter.expanded();
    Ok(())
}

struct Layer<'a> {
    state: &'a mut BuildState,
    submitter: &'a mut Submitter,
    meter: &'a Meter,
    whiteouts: bool,
    /// Nodes created or re-declared by this layer: whiteouts only hide lower layers.
    touched: HashSet<NodeId>,
    /// Directories marked opaque in this layer, pruned when the layer ends.
    opaque: Vec<NodeId>,
}

impl Layer<'_> {
    fn entry<R: Read>(&mut self, entry: &mut Entry<'_, R>) -> Result<(), ConvertError> {
        self.state.count_entry()?;
        let kind = entry.header().entry_type();
        // Global PAX headers and GNU volume labels describe no file.
        if kind == EntryType::XGlobalHeader || kind.as_byte() == b'V' {
            return Ok(());
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        self.state.check_path(&raw)?;
        let comps = paths::components(&self.state.tree, &raw)?;
        if self.whiteouts
            && let Some((last, _)) = comps.split_last()
            && last.starts_with(WHITEOUT)
        {
            return self.whiteout(&comps);
        }
        let attr = attributes(entry, &raw)?;
        let Some((name, dirs)) = comps.split_last() else {
            // The root itself (`./`): only a directory can describe it.
            if kind != EntryType::Directory {
                return Err(ConvertError::invalid(
                    Some(&raw),
                    "the root must be a directory",
                ));
            }
            let root = self.state.tree.root();
            self.state.tree.node_mut(root).attr = attr;
            return Ok(());
        };
        let touched = &mut self.touched;
        let track = self.whiteouts;
        let dir = paths::ensure_dir(&mut self.state.tree, dirs, &raw, &mut |id| {
            if track {
                touched.insert(id);
            }
        })?;
        let id = match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let size = entry.size();
                self.state.declare(size)?;
                let readme = Readme::wants(&comps);
                let file = NewFile {
                    dir,
                    name,
                    attr,
                    expected: Some(size),
                    readme,
                };
                self.state
                    .add_file(self.submitter, file, entry)
                    .map_err(|f| self.failure(f, &raw))?
            }
            EntryType::Directory => self.insert(dir, name, attr, NodeKind::dir(), &raw)?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(ConvertError::invalid(
                        Some(&raw),
                        "empty symbolic link target",
                    ));
                }
                self.insert(dir, name, attr, NodeKind::Symlink { target }, &raw)?
            }
            EntryType::Link => return self.hard_link(entry, dir, name, &raw),
            EntryType::Char | EntryType::Block => {
                if !self.state.limits.allow_devices {
                    return Err(ConvertError::DeviceNotAllowed { entry: raw });
                }
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let node = if kind == EntryType::Char {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                };
                self.insert(dir, name, attr, node, &raw)?
            }
            EntryType::Fifo => self.insert(dir, name, attr, NodeKind::Fifo, &raw)?,
            other => {
                return Err(ConvertError::invalid(
                    Some(&raw),
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                ));
            }
        };
        if self.whiteouts {
            self.touched.insert(id);
        }
        Ok(())
    }

    fn insert(
        &mut self,
        dir: NodeId,
        name: &str,
        attr: Attr,
        kind: NodeKind,
        raw: &str,
    ) -> Result<NodeId, ConvertError> {
        self.state
            .tree
            .insert(dir, name.to_owned(), attr, kind)
            .map_err(|e| ConvertError::invalid(Some(raw), e.to_string()))
    }

    /// A hard link becomes an independent copy of its target as it is now (a later
    /// replacement of the target does not change the link, as on a real file system).
    fn hard_link<R: Read>(
        &mut self,
        entry: &Entry<'_, R>,
        dir: NodeId,
        name: &str,
        raw: &str,
    ) -> Result<(), ConvertError> {
        let target_raw = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .ok_or_else(|| ConvertError::invalid(Some(raw), "hard link without a target"))?;
        let target_comps = paths::components(&self.state.tree, &target_raw)?;
        let target = paths::lookup(&self.state.tree, &target_comps).ok_or_else(|| {
            ConvertError::invalid(
                Some(raw),
                format!("hard link target {target_raw:?} is not in the archive"),
            )
        })?;
        if self.state.tree.child(dir, name) == Some(target) {
            return Ok(()); // a link to itself changes nothing
        }
        let node = self.state.tree.node(target);
        if node.kind.is_dir() {
            return Err(ConvertError::invalid(
                Some(raw),
                format!("hard link to the directory {target_raw:?}"),
            ));
        }
        let (attr, kind) = (node.attr.clone(), node.kind.clone());
        let id = self.insert(dir, name, attr, kind, raw)?;
        self.state.share_blocks(target, id);
        if self.whiteouts {
            self.touched.insert(id);
        }
        Ok(())
    }

    /// `.wh.<name>` removes `<name>` of a lower layer; `.wh..wh..opq` makes the directory
    /// opaque (its lower-layer contents disappear when the layer ends).
    fn whiteout(&mut self, comps: &[&str]) -> Result<(), ConvertError> {
        let Some((last, dirs)) = comps.split_last() else {
            return Ok(());
        };
        let Some(dir) = paths::lookup(&self.state.tree, dirs) else {
            return Ok(()); // nothing below to hide
        };
        if *last == OPAQUE {
            self.opaque.push(dir);
        } else if let Some(target) = last.strip_prefix(WHITEOUT)
            && !target.starts_with(WHITEOUT)
            && let Some(id) = self.state.tree.child(dir, target)
            && !self.touched.contains(&id)
        {
            self.state.tree.remove(dir, target);
        }
        Ok(())
    }

    /// Removes from every opaque directory what this layer did not put there.
    fn finish_opaque(&mut self) {
        let tree = &mut self.state.tree;
        let mut stack = std::mem::take(&mut self.opaque);
        while let Some(dir) = stack.pop() {
            let Some(children) = tree.get(dir).and_then(|n| n.children()) else {
                continue;
            };
            let children: Vec<(String, NodeId)> = children
                .iter()
                .map(|(name, id)| (name.to_owned(), id))
                .collect();
            for (name, id) in children {
                if !self.touched.contains(&id) {
                    tree.remove(dir, &name);
                } else if tree.node(id).kind.is_dir() {
                    stack.push(id);
                }
            }
        }
    }

    fn failure(&self, failure: ReadFailure, raw: &str) -> ConvertError {
        match failure {
            ReadFailure::Io(e) => self.meter.explain(e, Some(raw)),
            ReadFailure::Truncated { expected, got } => ConvertError::invalid(
                Some(raw),
                format!("truncated archive: entry has {got} of its {expected} bytes"),
            ),
            ReadFailure::Invalid(detail) => ConvertError::invalid(Some(raw), detail),
            ReadFailure::Stopped => ConvertError::Internal("conversion stopped".into()),
        }
    }
}

/// Permissions, ownership and times of an entry, PAX records taking precedence.
fn attributes<R: Read>(entry: &mut Entry<'_, R>, raw: &str) -> Result<Attr, ConvertError> {
    let bad =
        |what: &str, e: std::io::Error| ConvertError::invalid(Some(raw), format!("{what}: {e}"));
    let header = entry.header();
    let old = header.as_old();
    let mode = numeric(&old.mode, header.mode().map(u64::from)).map_err(|e| bad("mode", e))?;
    let mode = (mode & 0o7777) as u32;
    let uid = numeric(&old.uid, header.uid()).map_err(|e| bad("uid", e))?;
    let gid = numeric(&old.gid, header.gid()).map_err(|e| bad("gid", e))?;
    let mtime = numeric(&old.mtime, header.mtime()).map_err(|e| bad("mtime", e))?;
    let name = |v: Result<Option<&str>, _>| {
        v.ok()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut uname = name(header.username());
    let mut gname = name(header.groupname());
    let mut mtime = i64::try_from(mtime).unwrap_or(i64::MAX);
    let mut ctime = None;
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            let (Ok(key), Ok(value)) = (ext.key(), ext.value()) else {
                continue;
            };
            match key {
                "uname" if !value.is_empty() => uname = Some(value.to_owned()),
                "gname" if !value.is_empty() => gname = Some(value.to_owned()),
                "mtime" => mtime = pax_time(value).unwrap_or(mtime),
                "ctime" => ctime = pax_time(value),
                _ => {}
            }
        }
    }
    let id = |what: &str, v: u64| {
        u32::try_from(v)
            .map_err(|_| ConvertError::invalid(Some(raw), format!("{what} {v} out of range")))
    };
    Ok(Attr {
        mode,
        uid: id("uid", uid)?,
        gid: id("gid", gid)?,
        uname,
        gname,
        mtime,
        ctime: ctime.unwrap_or(mtime),
        acl_key: None,
    })
}

/// A numeric header field; a blank field (all NUL or spaces, as some writers leave unused
/// fields) reads as 0, garbage is an error.
fn numeric(raw: &[u8], parsed: std::io::Result<u64>) -> std::io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        other => other,
    }
}

/// A PAX time (`seconds[.fraction]`, possibly negative), truncated to whole seconds.
fn pax_time(value: &str) -> Option<i64> {
    value.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(pax_time("1700000000.123456"), Some(1_700_000_000));
        assert_eq!(pax_time("-5"), Some(-5));
        assert_eq!(pax_time("x"), None);
    }
}
