//! Tree → `.flist` database (flist-formats §A.11).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use rusqlite::Transaction;

use super::codec::{self, AciRecord, DirOut, InodeOut, InodeOutKind};
use super::flist_capnp::special;
use super::keys::{acl_key, dir_key_normalized};
use crate::tree::{Attr, NodeId, NodeKind, Tree};
use crate::{FlistError, Metadata, sqlite};

/// Exact DDL of zflist (A.2).
const SCHEMA: &str = "CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB);
CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT);";

/// Builds the database image of a tree.
pub(crate) fn write_db(tree: &Tree, meta: &Metadata) -> Result<Vec<u8>, FlistError> {
    let mut conn = sqlite::new_memory_db(4096)?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction()?;
    write_entries(&tx, tree)?;
    {
        let mut insert = tx.prepare_cached("INSERT INTO metadata (key, value) VALUES (?1, ?2)")?;
        for (key, value) in &meta.values {
            insert.execute([key, value])?;
        }
    }
    tx.commit()?;
    sqlite::into_bytes(conn)
}

/// A directory waiting to be written: its node, relative path and key.
struct PendingDir {
    id: NodeId,
    location: String,
    key: String,
    parent_key: String,
}

fn write_entries(tx: &Transaction<'_>, tree: &Tree) -> Result<(), FlistError> {
    let mut insert = tx.prepare_cached("INSERT INTO entries (key, value) VALUES (?1, ?2)")?;
    let mut acls = AclTable::default();
    let mut buf = Vec::new();
    let root_key = dir_key_normalized("");
    // The root is written first so that it gets rowid 1 (A.10).
    let mut pending = vec![PendingDir {
        id: tree.root(),
        location: String::new(),
        key: root_key.clone(),
        parent_key: root_key,
    }];
    while let Some(dir) = pending.pop() {
        let node = tree.node(dir.id);
        let dir_acl = acls.key_for(&node.attr);
        let children: Vec<NodeId> = tree.children(dir.id).collect();
        let child_acls: Vec<Rc<str>> = children
            .iter()
            .map(|c| acls.key_for(&tree.node(*c).attr))
            .collect();
        let mut contents = Vec::with_capacity(children.len());
        let mut subdirs = Vec::new();
        for (child, aclkey) in children.iter().zip(&child_acls) {
            let n = tree.node(*child);
            let kind = match &n.kind {
                NodeKind::Dir { .. } => {
                    let location = if dir.location.is_empty() {
                        n.name.clone()
                    } else {
                        format!("{}/{}", dir.location, n.name)
                    };
                    let key = dir_key_normalized(&location);
                    subdirs.push(PendingDir {
                        id: *child,
                        location,
                        key: key.clone(),
                        parent_key: dir.key.clone(),
                    });
                    InodeOutKind::Dir { key }
                }
                NodeKind::File { blocks, .. } => {
                    crate::hash::check_lengths(blocks, 16)?;
                    InodeOutKind::File {
                        block_size: codec::BLOCK_SIZE_UNITS,
                        blocks,
                    }
                }
                NodeKind::Symlink { target } => InodeOutKind::Link { target },
                NodeKind::CharDevice { major, minor } => InodeOutKind::Special {
                    kind: special::Type::Chardev,
                    data: format!("{major},{minor}").into_bytes(),
                },
                NodeKind::BlockDevice { major, minor } => InodeOutKind::Special {
                    kind: special::Type::Block,
                    data: format!("{major},{minor}").into_bytes(),
                },
                NodeKind::Fifo => InodeOutKind::Special {
                    kind: special::Type::Fifopipe,
                    data: NOTHING.to_vec(),
                },
                NodeKind::Socket => InodeOutKind::Special {
                    kind: special::Type::Socket,
                    data: NOTHING.to_vec(),
                },
            };
            // Times are u32 in this format: zflist truncates `time_t` the same way (A.4.4).
            contents.push(InodeOut {
                name: &n.name,
                size: n.kind.size(),
                aclkey,
                mtime: n.attr.mtime as u32,
                ctime: n.attr.ctime as u32,
                kind,
            });
        }
        let header = DirOut {
            name: &node.name,
            size: codec::DIR_ROW_SIZE,
            location: &dir.location,
            parent: &dir.parent_key,
            aclkey: &dir_acl,
            mtime: node.attr.mtime as u32,
            ctime: node.attr.ctime as u32,
        };
        codec::encode_dir(&header, &contents, &mut buf)?;
        insert.execute((&dir.key, &buf))?;
        // Reverse so that sub-directories are written in pre-order.
        pending.extend(subdirs.into_iter().rev());
    }
    for (key, aci) in &acls.rows {
        codec::encode_aci(aci, &mut buf)?;
        insert.execute((&**key, &buf))?;
    }
    Ok(())
}

/// `Special.data` of FIFOs and sockets.
const NOTHING: &[u8] = b"(nothing)";

/// ACL rows of the file being written, deduplicated by key.
#[derive(Default)]
struct AclTable<'t> {
    /// Key → ACI, in key order for a deterministic file.
    rows: BTreeMap<Rc<str>, AciRecord>,
    /// Current-form keys already computed, by the attributes that determine them.
    current: HashMap<AclFields<'t>, Rc<str>>,
}

/// The attribute fields that make up an ACI, borrowed from the tree.
#[derive(PartialEq, Eq, Hash)]
struct AclFields<'t> {
    uname: Option<&'t str>,
    gname: Option<&'t str>,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl<'t> AclTable<'t> {
    /// Key to store for `attr`: its own key when it came from a file and still describes these
    /// permissions (copied rows keep their keys, A.3.2), else the current-form key.
    fn key_for(&mut self, attr: &'t Attr) -> Rc<str> {
        if let Some(key) = attr.acl_key.as_deref() {
            match self.rows.get(key) {
                Some(existing) if aci_matches(existing, attr) => {
                    if let Some((k, _)) = self.rows.get_key_value(key) {
                        return k.clone();
                    }
                }
                Some(_) => {} // a different ACI already owns this key: fall through
                None => {
                    let key: Rc<str> = Rc::from(key);
                    self.rows.insert(key.clone(), aci_of(attr));
                    return key;
                }
            }
        }
        let fields = AclFields {
            uname: attr.uname.as_deref(),
            gname: attr.gname.as_deref(),
            mode: attr.mode & 0o7777,
            uid: attr.uid,
            gid: attr.gid,
        };
        if let Some(key) = self.current.get(&fields) {
            return key.clone();
        }
        let aci = aci_of(attr);
        let key: Rc<str> = Rc::from(acl_key(
            &aci.uname,
            &aci.gname,
            u32::from(aci.mode),
            aci.uid,
            aci.gid,
        ));
        self.rows.entry(key.clone()).or_insert(aci);
        self.current.insert(fields, key.clone());
        key
    }
}

/// True if `aci` is what [`aci_of`] gives for `attr` (without allocating).
fn aci_matches(aci: &AciRecord, attr: &Attr) -> bool {
    fn name_matches(stored: &str, name: Option<&str>, id: u32) -> bool {
        match name {
            Some(name) => stored == name,
            // Canonical decimal only: what `u32::to_string` produces.
            None => {
                stored.parse::<u32>() == Ok(id)
                    && !stored.starts_with('+')
                    && (stored == "0" || !stored.starts_with('0'))
            }
        }
    }
    u32::from(aci.mode) == attr.mode & 0o7777
        && aci.uid == i64::from(attr.uid)
        && aci.gid == i64::from(attr.gid)
        && name_matches(&aci.uname, attr.uname.as_deref(), attr.uid)
        && name_matches(&aci.gname, attr.gname.as_deref(), attr.gid)
}

/// The ACI of some attributes; missing names become the decimal ids (A.4.4).
fn aci_of(attr: &Attr) -> AciRecord {
    AciRecord {
        uname: attr.uname.clone().unwrap_or_else(|| attr.uid.to_string()),
        gname: attr.gname.clone().unwrap_or_else(|| attr.gid.to_string()),
        mode: (attr.mode & 0o7777) as u16,
        uid: i64::from(attr.uid),
        gid: i64::from(attr.gid),
    }
}
