//! `.fl` database → tree (flist-formats §B.2–B.8), with the storage-class checks rfs 2.0.6 applies.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::mode::{
    S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, split_dev,
};
use super::writer::ROOT_INO;
use crate::tree::{Attr, NodeId, NodeKind, Tree};
use crate::{BlockRef, FlistError, Hash, Metadata, Route, sqlite};

/// One `inode` row.
struct Row {
    ino: i64,
    parent: i64,
    name: String,
    size: i64,
    uid: u32,
    gid: u32,
    mode: u32,
    rdev: i64,
    ctime: i64,
    mtime: i64,
}

/// Reads tree, tags and routes of a database image.
pub(crate) fn read_db(db: &[u8]) -> Result<(Tree, Metadata), FlistError> {
    let conn = sqlite::open_bytes(db)?;
    let rows = read_inodes(&conn)?;
    let mut extra = read_extra(&conn)?;
    let mut blocks = read_blocks(&conn)?;
    let tree = build_tree(rows, &mut extra, &mut blocks)?;
    if let Some((&ino, _)) = blocks.iter().next() {
        return Err(FlistError::BadInode {
            ino,
            problem: "block rows for an inode that is not a regular file".into(),
        });
    }
    let meta = Metadata {
        values: read_tags(&conn)?,
        routes: read_routes(&conn)?,
    };
    Ok((tree, meta))
}

fn bad(table: &'static str, column: &'static str, problem: String) -> FlistError {
    FlistError::BadColumn {
        table,
        column,
        problem,
    }
}

fn class(v: &ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "INTEGER",
        ValueRef::Real(_) => "REAL",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "BLOB",
    }
}

fn int(
    row: &rusqlite::Row<'_>,
    i: usize,
    table: &'static str,
    column: &'static str,
) -> Result<i64, FlistError> {
    match row.get_ref(i)? {
        ValueRef::Integer(v) => Ok(v),
        other => Err(bad(
            table,
            column,
            format!("expected INTEGER, found {}", class(&other)),
        )),
    }
}

fn text(
    row: &rusqlite::Row<'_>,
    i: usize,
    table: &'static str,
    column: &'static str,
) -> Result<String, FlistError> {
    match row.get_ref(i)? {
        ValueRef::Text(b) => std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| bad(table, column, "text is not UTF-8".into())),
        other => Err(bad(
            table,
            column,
            format!("expected TEXT, found {}", class(&other)),
        )),
    }
}

fn id32(row: &rusqlite::Row<'_>, i: usize, column: &'static str) -> Result<Hash, FlistError> {
    match row.get_ref(i)? {
        ValueRef::Blob(b) if b.len() == 32 => {
            Hash::new(b).map_err(|_| bad("block", column, "bad hash".into()))
        }
        ValueRef::Blob(b) => Err(FlistError::BadHashLength {
            what: column,
            got: b.len(),
            expected: 32,
        }),
        other => Err(bad(
            "block",
            column,
            format!("expected a 32-byte BLOB, found {}", class(&other)),
        )),
    }
}

fn id_range(value: i64, what: &'static str) -> Result<u32, FlistError> {
    u32::try_from(value).map_err(|_| FlistError::BadId { what, value })
}

fn read_inodes(conn: &Connection) -> Result<Vec<Row>, FlistError> {
    let mut stmt = conn.prepare(
        "SELECT ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime FROM inode ORDER BY ino",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mode = int(r, 6, "inode", "mode")?;
        out.push(Row {
            ino: int(r, 0, "inode", "ino")?,
            parent: int(r, 1, "inode", "parent")?,
            name: text(r, 2, "inode", "name")?,
            size: int(r, 3, "inode", "size")?,
            uid: id_range(int(r, 4, "inode", "uid")?, "uid")?,
            gid: id_range(int(r, 5, "inode", "gid")?, "gid")?,
            mode: u32::try_from(mode)
                .map_err(|_| bad("inode", "mode", format!("{mode} out of range")))?,
            rdev: int(r, 7, "inode", "rdev")?,
            ctime: int(r, 8, "inode", "ctime")?,
            mtime: int(r, 9, "inode", "mtime")?,
        });
    }
    Ok(out)
}

/// Symlink targets by inode. rfs writes BLOBs; TEXT holding the same bytes is accepted.
fn read_extra(conn: &Connection) -> Result<HashMap<i64, String>, FlistError> {
    let mut stmt = conn.prepare("SELECT ino, data FROM extra")?;
    let mut rows = stmt.query([])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let ino = int(r, 0, "extra", "ino")?;
        let data = match r.get_ref(1)? {
            ValueRef::Blob(b) | ValueRef::Text(b) => std::str::from_utf8(b)
                .map_err(|_| FlistError::Utf8 {
                    what: "symlink target",
                })?
                .to_owned(),
            other => {
                return Err(bad(
                    "extra",
                    "data",
                    format!("expected BLOB, found {}", class(&other)),
                ));
            }
        };
        out.insert(ino, data);
    }
    Ok(out)
}

/// Block lists by inode, in row order (= file order, B.5).
fn read_blocks(conn: &Connection) -> Result<HashMap<i64, Vec<BlockRef>>, FlistError> {
    let mut stmt = conn.prepare("SELECT ino, id, key FROM block ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    let mut out: HashMap<i64, Vec<BlockRef>> = HashMap::new();
    while let Some(r) = rows.next()? {
        let ino = int(r, 0, "block", "ino")?;
        let block = BlockRef {
            id: id32(r, 1, "id")?,
            key: id32(r, 2, "key")?,
        };
        out.entry(ino).or_default().push(block);
    }
    Ok(out)
}

fn read_tags(conn: &Connection) -> Result<std::collections::BTreeMap<String, String>, FlistError> {
    let mut out = std::collections::BTreeMap::new();
    if !sqlite::has_table(conn, "tag")? {
        return Ok(out);
    }
    let mut stmt = conn.prepare("SELECT key, value FROM tag ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        out.insert(text(r, 0, "tag", "key")?, text(r, 1, "tag", "value")?);
    }
    Ok(out)
}

fn read_routes(conn: &Connection) -> Result<Vec<Route>, FlistError> {
    let mut out = Vec::new();
    if !sqlite::has_table(conn, "route")? {
        return Ok(out);
    }
    let mut stmt = conn.prepare("SELECT start, end, url FROM route ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let start = int(r, 0, "route", "start")?;
        let end = int(r, 1, "route", "end")?;
        let (Ok(s), Ok(e)) = (u8::try_from(start), u8::try_from(end)) else {
            return Err(FlistError::BadRoute { start, end });
        };
        out.push(Route {
            start: s,
            end: e,
            url: text(r, 2, "route", "url")?,
        });
    }
    Ok(out)
}

fn attr_of(row: &Row) -> Attr {
    Attr {
        mode: row.mode & 0o7777,
        uid: row.uid,
        gid: row.gid,
        uname: None,
        gname: None,
        mtime: row.mtime,
        ctime: row.ctime,
        acl_key: None,
    }
}

fn size_of(row: &Row) -> Result<u64, FlistError> {
    u64::try_from(row.size).map_err(|_| FlistError::BadInode {
        ino: row.ino,
        problem: format!("negative size {}", row.size),
    })
}

/// Kind of a row from its mode, taking its symlink target and blocks out of the side tables.
fn kind_of(
    row: &Row,
    extra: &mut HashMap<i64, String>,
    blocks: &mut HashMap<i64, Vec<BlockRef>>,
) -> Result<NodeKind, FlistError> {
    let dev = || split_dev(row.rdev as u64);
    Ok(match row.mode & S_IFMT {
        S_IFDIR => NodeKind::Dir {
            children: Default::default(),
            size: size_of(row)?,
        },
        S_IFREG => NodeKind::File {
            size: size_of(row)?,
            blocks: Arc::from(blocks.remove(&row.ino).unwrap_or_default()),
        },
        S_IFLNK => NodeKind::Symlink {
            target: extra.remove(&row.ino).ok_or_else(|| FlistError::BadInode {
                ino: row.ino,
                problem: "symlink without a target in extra".into(),
            })?,
        },
        S_IFCHR => {
            let (major, minor) = dev();
            NodeKind::CharDevice { major, minor }
        }
        S_IFBLK => {
            let (major, minor) = dev();
            NodeKind::BlockDevice { major, minor }
        }
        S_IFIFO => NodeKind::Fifo,
        S_IFSOCK => NodeKind::Socket,
        other => {
            return Err(FlistError::BadInode {
                ino: row.ino,
                problem: format!("unknown file type {other:o}"),
            });
        }
    })
}

fn build_tree(
    mut rows: Vec<Row>,
    extra: &mut HashMap<i64, String>,
    blocks: &mut HashMap<i64, Vec<BlockRef>>,
) -> Result<Tree, FlistError> {
    let by_ino: HashMap<i64, usize> = rows.iter().enumerate().map(|(i, r)| (r.ino, i)).collect();
    let mut children: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.ino != ROOT_INO {
            children.entry(r.parent).or_default().push(i);
        }
    }
    let root = by_ino
        .get(&ROOT_INO)
        .and_then(|&i| rows.get(i))
        .ok_or(FlistError::MissingRoot)?;
    if root.parent != 0 || root.mode & S_IFMT != S_IFDIR {
        return Err(FlistError::BadInode {
            ino: ROOT_INO,
            problem: "the root must be a directory with parent 0".into(),
        });
    }
    let mut tree = Tree::new(attr_of(root));
    if let NodeKind::Dir { size, .. } = &mut tree.node_mut(tree.root()).kind {
        *size = size_of(root)?;
    }
    let mut reached = 1usize;
    let mut pending: Vec<(i64, NodeId)> = vec![(ROOT_INO, tree.root())];
    while let Some((ino, dir)) = pending.pop() {
        let Some(list) = children.remove(&ino) else {
            continue;
        };
        if !tree.node(dir).kind.is_dir() {
            return Err(FlistError::BadInode {
                ino,
                problem: "has children but is not a directory".into(),
            });
        }
        for i in list {
            let Some(row) = rows.get_mut(i) else { continue };
            if tree.child(dir, &row.name).is_some() {
                return Err(FlistError::DuplicateName {
                    path: format!("{}/{}", tree.path(dir).trim_end_matches('/'), row.name),
                });
            }
            let kind = kind_of(row, extra, blocks)?;
            // Each row is reached once: its name moves into the tree.
            let name = std::mem::take(&mut row.name);
            let id = tree.insert(dir, name, attr_of(row), kind)?;
            reached += 1;
            pending.push((row.ino, id));
        }
    }
    if reached != rows.len() {
        return Err(unreachable_error(
            &rows,
            &by_ino,
            &unvisited_inos(&rows, &children),
        ));
    }
    Ok(tree)
}

/// Inodes never reached: those still listed under a parent that was never visited.
fn unvisited_inos(rows: &[Row], unvisited: &HashMap<i64, Vec<usize>>) -> Vec<i64> {
    let mut out: Vec<i64> = unvisited
        .values()
        .flatten()
        .filter_map(|&i| rows.get(i).map(|r| r.ino))
        .collect();
    out.sort_unstable();
    out
}

/// Tells a parent-link cycle from an orphan, for the first unreachable inode.
fn unreachable_error(rows: &[Row], by_ino: &HashMap<i64, usize>, lost: &[i64]) -> FlistError {
    let Some(&first) = lost.first() else {
        return FlistError::MissingRoot;
    };
    let mut seen = std::collections::HashSet::new();
    let mut cur = first;
    while let Some(row) = by_ino.get(&cur).and_then(|&i| rows.get(i)) {
        if !seen.insert(cur) {
            return FlistError::Cycle {
                at: format!("inode {cur}"),
            };
        }
        cur = row.parent;
    }
    FlistError::Orphan { ino: first }
}
