//! `.flist` database → tree (flist-formats §A.2–A.5).
//!
//! Walks the directory rows from the root key, resolving every ACL key once. Accepts all the
//! quirks of files in the field (legacy ACL keys, ids of -1, null block lists, zflist's
//! `socket` type for every special file, multi-segment messages) and rejects structural damage
//! with a typed error.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{CachedStatement, Connection, OptionalExtension};

use super::codec::{self, AciRecord, DirRecord, InodeKind, InodeRecord, special_type};
use super::keys::dir_key_normalized;
use crate::tree::{Attr, NodeId, NodeKind, Tree};
use crate::{FlistError, Metadata, sqlite};

/// Reads the tree and the `metadata` table of a database image.
pub(crate) fn read_db(db: &[u8]) -> Result<(Tree, Metadata), FlistError> {
    let conn = sqlite::open_bytes(db)?;
    let meta = read_metadata(&conn)?;
    let mut reader = Reader {
        rows: conn.prepare_cached("SELECT value FROM entries WHERE key = ?1")?,
        acls: HashMap::new(),
    };
    let tree = reader.read_tree()?;
    Ok((tree, meta))
}

/// The `metadata` table, empty when the table is missing (very old flists).
fn read_metadata(conn: &Connection) -> Result<Metadata, FlistError> {
    let mut meta = Metadata::default();
    if !sqlite::has_table(conn, "metadata")? {
        return Ok(meta);
    }
    let mut stmt = conn.prepare("SELECT key, value FROM metadata ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let key = value_text(row.get_ref(0)?, "metadata key")?;
        let value = value_text(row.get_ref(1)?, "metadata value")?;
        if let (Some(key), Some(value)) = (key, value) {
            meta.values.insert(key, value);
        }
    }
    Ok(meta)
}

/// A metadata cell as text; NULL gives `None`.
fn value_text(v: ValueRef<'_>, what: &'static str) -> Result<Option<String>, FlistError> {
    Ok(match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(
            std::str::from_utf8(b)
                .map_err(|_| FlistError::Utf8 { what })?
                .to_owned(),
        ),
    })
}

struct Reader<'c> {
    rows: CachedStatement<'c>,
    /// ACL key → attributes without times, resolved once per key.
    acls: HashMap<String, Attr>,
}

impl Reader<'_> {
    fn read_tree(&mut self) -> Result<Tree, FlistError> {
        let root_key = dir_key_normalized("");
        let root = self.dir(&root_key)?.ok_or(FlistError::MissingRoot)?;
        let mut attr = self.acl(&root.aclkey)?;
        attr.mtime = i64::from(root.mtime);
        attr.ctime = i64::from(root.ctime);
        let mut tree = Tree::new(attr);
        let root_id = tree.root();
        set_dir_size(&mut tree, root_id, root.size);

        // Directory key → tree node, to tell cycles from shared rows.
        let mut seen: HashMap<String, NodeId> = HashMap::from([(root_key, tree.root())]);
        let mut pending = vec![(tree.root(), root)];
        while let Some((dir_id, record)) = pending.pop() {
            for entry in record.contents {
                if tree.child(dir_id, &entry.name).is_some() {
                    // zflist's merge can leave a directory and a file of one name (flist-formats
                    // §C.1); directories come first in the stored order, so the directory is kept.
                    continue;
                }
                let sub_key = match &entry.kind {
                    InodeKind::Dir { key } => Some(key.clone()),
                    _ => None,
                };
                let name = entry.name.clone();
                let Some((attr, kind)) = self.entry(entry)? else {
                    continue;
                };
                let id = tree.insert(dir_id, name.clone(), attr, kind)?;
                if let Some(key) = sub_key {
                    if let Some(&other) = seen.get(&key) {
                        return Err(if is_ancestor(&tree, other, id) {
                            FlistError::Cycle { at: key }
                        } else {
                            FlistError::SharedDirectory { key }
                        });
                    }
                    let child = self
                        .dir(&key)?
                        .ok_or_else(|| FlistError::DanglingDirectory {
                            name,
                            key: key.clone(),
                        })?;
                    seen.insert(key, id);
                    pending.push((id, child));
                }
            }
        }
        Ok(tree)
    }

    /// Attributes and kind of one entry; `None` for union branches this reader does not know.
    fn entry(&mut self, e: InodeRecord) -> Result<Option<(Attr, NodeKind)>, FlistError> {
        let kind = match e.kind {
            InodeKind::Dir { .. } => NodeKind::Dir {
                children: Default::default(),
                size: e.size,
            },
            InodeKind::File { blocks, .. } => NodeKind::File {
                size: e.size,
                blocks: Arc::from(blocks),
            },
            InodeKind::Link { target } => NodeKind::Symlink { target },
            InodeKind::Special { kind, data } => special_kind(kind, &data),
            InodeKind::Unknown(_) => return Ok(None),
        };
        let mut attr = self.acl(&e.aclkey)?;
        attr.mtime = i64::from(e.mtime);
        attr.ctime = i64::from(e.ctime);
        Ok(Some((attr, kind)))
    }

    fn value(&mut self, key: &str) -> Result<Option<Vec<u8>>, FlistError> {
        Ok(self
            .rows
            .query_row([key], |row| {
                Ok(match row.get_ref(0)? {
                    ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
                    _ => Vec::new(),
                })
            })
            .optional()?)
    }

    fn dir(&mut self, key: &str) -> Result<Option<DirRecord>, FlistError> {
        match self.value(key)? {
            Some(bytes) => Ok(Some(codec::decode_dir(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Attributes of an ACL key (times zero). Keys are looked up, never recomputed (A.3.2).
    fn acl(&mut self, key: &str) -> Result<Attr, FlistError> {
        if let Some(attr) = self.acls.get(key) {
            return Ok(attr.clone());
        }
        let bytes = self.value(key)?.ok_or_else(|| FlistError::MissingAcl {
            key: key.to_owned(),
        })?;
        let aci = codec::decode_aci(&bytes)?;
        let attr = aci_attr(aci, key)?;
        self.acls.insert(key.to_owned(), attr.clone());
        Ok(attr)
    }
}

/// Converts an ACI to attributes, resolving ids of -1 like rfs v1 does on a node.
fn aci_attr(aci: AciRecord, key: &str) -> Result<Attr, FlistError> {
    let uid = resolve_id(aci.uid, &aci.uname, "uid")?;
    let gid = resolve_id(aci.gid, &aci.gname, "gid")?;
    Ok(Attr {
        mode: u32::from(aci.mode) & 0o7777,
        uid,
        gid,
        uname: Some(aci.uname),
        gname: Some(aci.gname),
        mtime: 0,
        ctime: 0,
        acl_key: Some(key.to_owned()),
    })
}

/// Numeric id of an ACI. Flists older than 2020-07 store -1 and only a name (A.4.4): a numeric
/// name is that id, `root` is 0 on every system, anything else falls back to 1000 as rfs v1 and
/// 0-fs do when the node's passwd database has no match.
fn resolve_id(id: i64, name: &str, what: &'static str) -> Result<u32, FlistError> {
    if id == -1 {
        return Ok(match name.parse::<u32>() {
            Ok(n) => n,
            Err(_) if name == "root" => 0,
            Err(_) => 1000,
        });
    }
    u32::try_from(id).map_err(|_| FlistError::BadId { what, value: id })
}

/// Kind of a `Special` entry. zflist writes type `socket` for every special file (A.4.4), so a
/// `socket` (or unknown) entry whose data is `maj,min` is read as a character device.
fn special_kind(kind: u16, data: &[u8]) -> NodeKind {
    let numbers = parse_device(data);
    let (major, minor) = numbers.unwrap_or((0, 0));
    match kind {
        special_type::BLOCK => NodeKind::BlockDevice { major, minor },
        special_type::CHARDEV => NodeKind::CharDevice { major, minor },
        special_type::FIFO => NodeKind::Fifo,
        _ if numbers.is_some() => NodeKind::CharDevice { major, minor },
        _ => NodeKind::Socket,
    }
}

/// Parses `"<major>,<minor>"`.
fn parse_device(data: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(data).ok()?;
    let (major, minor) = text.trim().split_once(',')?;
    Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
}

fn set_dir_size(tree: &mut Tree, id: NodeId, new_size: u64) {
    if let NodeKind::Dir { size, .. } = &mut tree.node_mut(id).kind {
        *size = new_size;
    }
}

/// True if `ancestor` is `node` or one of its parents.
fn is_ancestor(tree: &Tree, ancestor: NodeId, node: NodeId) -> bool {
    let mut cur = Some(node);
    while let Some(id) = cur {
        if id == ancestor {
            return true;
        }
        cur = tree.get(id).and_then(|n| n.parent());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_minus_one() -> Result<(), FlistError> {
        assert_eq!(resolve_id(-1, "1000", "uid")?, 1000);
        assert_eq!(resolve_id(-1, "33", "uid")?, 33);
        assert_eq!(resolve_id(-1, "root", "uid")?, 0);
        assert_eq!(resolve_id(-1, "www-data", "uid")?, 1000);
        assert_eq!(resolve_id(42, "whatever", "uid")?, 42);
        assert!(matches!(
            resolve_id(-2, "x", "gid"),
            Err(FlistError::BadId { what: "gid", .. })
        ));
        assert!(resolve_id(1 << 40, "x", "uid").is_err());
        Ok(())
    }

    #[test]
    fn special_kinds() {
        assert_eq!(
            special_kind(special_type::SOCKET, b"1,3"),
            NodeKind::CharDevice { major: 1, minor: 3 }
        );
        assert_eq!(
            special_kind(special_type::SOCKET, b"(nothing)"),
            NodeKind::Socket
        );
        assert_eq!(
            special_kind(special_type::BLOCK, b"8,1"),
            NodeKind::BlockDevice { major: 8, minor: 1 }
        );
        assert_eq!(
            special_kind(special_type::CHARDEV, b"5,1"),
            NodeKind::CharDevice { major: 5, minor: 1 }
        );
        assert_eq!(
            special_kind(special_type::FIFO, b"(nothing)"),
            NodeKind::Fifo
        );
        assert_eq!(special_kind(special_type::UNKNOWN, b""), NodeKind::Socket);
        assert_eq!(
            special_kind(9, b"4,64"),
            NodeKind::CharDevice {
                major: 4,
                minor: 64
            }
        );
        assert_eq!(parse_device(b"x,1"), None);
    }
}
