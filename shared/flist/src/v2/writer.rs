//! Tree → `.fl` database (spec B.9).

use rusqlite::Transaction;

use super::mode::{makedev, type_bits};
use crate::tree::{NodeId, NodeKind, Tree};
use crate::{FlistError, Metadata, sqlite};

/// Schema of rfs (`schema/schema.sql`, B.2): tables, then indexes.
pub const SCHEMA: &str = concat!(
    "CREATE TABLE inode (
  ino    INTEGER PRIMARY KEY AUTOINCREMENT,
  parent INTEGER,
  name   VARCHAR(255),
  size   INTEGER,
  uid    INTEGER,
  gid    INTEGER,
  mode   INTEGER,
  rdev   INTEGER,
  ctime  INTEGER,
  mtime  INTEGER
);
CREATE TABLE extra (ino INTEGER PRIMARY KEY, data VARCHAR(4096));
CREATE TABLE block (ino INTEGER, id VARCHAR(32), key VARCHAR(32));
CREATE TABLE tag (key VARCHAR(10) PRIMARY KEY, value VARCHAR(255));
CREATE TABLE route (start integer, end integer, url VARCHAR(2048));
",
    "CREATE INDEX parents ON inode (parent);
CREATE INDEX names ON inode (name);
CREATE INDEX block_ino ON block (ino);
"
);

/// Byte offset in [`SCHEMA`] where the indexes start. The writer creates them after the bulk
/// insert: building an index once from sorted data is much faster than updating it per row,
/// and the resulting schema is the same.
fn split_schema() -> (&'static str, &'static str) {
    let at = SCHEMA.find("CREATE INDEX").unwrap_or(SCHEMA.len());
    SCHEMA.split_at(at)
}

/// Inode number of the root directory.
pub(crate) const ROOT_INO: i64 = 1;

/// Builds the database image of a tree.
pub(crate) fn write_db(tree: &Tree, meta: &Metadata) -> Result<Vec<u8>, FlistError> {
    let mut conn = sqlite::new_memory_db(4096)?;
    let (tables, indexes) = split_schema();
    conn.execute_batch(tables)?;
    let tx = conn.transaction()?;
    write_inodes(&tx, tree)?;
    {
        let mut tag = tx.prepare_cached("INSERT INTO tag (key, value) VALUES (?1, ?2)")?;
        for (key, value) in &meta.values {
            tag.execute([key, value])?;
        }
        let mut route =
            tx.prepare_cached("INSERT INTO route (start, end, url) VALUES (?1, ?2, ?3)")?;
        for r in &meta.routes {
            route.execute((r.start, r.end, &r.url))?;
        }
    }
    tx.execute_batch(indexes)?;
    tx.commit()?;
    sqlite::into_bytes(conn)
}

fn write_inodes(tx: &Transaction<'_>, tree: &Tree) -> Result<(), FlistError> {
    let mut inode = tx.prepare_cached(
        "INSERT INTO inode (ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut extra = tx.prepare_cached("INSERT INTO extra (ino, data) VALUES (?1, ?2)")?;
    let mut block = tx.prepare_cached("INSERT INTO block (ino, id, key) VALUES (?1, ?2, ?3)")?;

    // Depth-first, numbering inodes in visiting order from the root (ino 1, parent 0, "/").
    let mut next_ino = ROOT_INO;
    let mut pending: Vec<(NodeId, i64)> = vec![(tree.root(), 0)];
    while let Some((id, parent)) = pending.pop() {
        let ino = next_ino;
        next_ino += 1;
        let node = tree.node(id);
        let name = if parent == 0 { "/" } else { node.name.as_str() };
        let size = i64::try_from(node.kind.size())
            .map_err(|_| FlistError::Unwritable(format!("size of {}", tree.path(id))))?;
        let rdev = match node.kind {
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                // SQLite integers are signed; the bit pattern of a 64-bit dev_t is kept.
                makedev(major, minor) as i64
            }
            _ => 0,
        };
        inode.execute((
            ino,
            parent,
            name,
            size,
            i64::from(node.attr.uid),
            i64::from(node.attr.gid),
            i64::from(type_bits(&node.kind) | (node.attr.mode & 0o7777)),
            rdev,
            node.attr.ctime,
            node.attr.mtime,
        ))?;
        match &node.kind {
            NodeKind::Symlink { target } => {
                extra.execute((ino, target.as_bytes()))?;
            }
            NodeKind::File { blocks, .. } => {
                crate::hash::check_lengths(blocks, 32)?;
                for b in blocks.iter() {
                    block.execute((ino, b.id.as_bytes(), b.key.as_bytes()))?;
                }
            }
            _ => {}
        }
        let start = pending.len();
        pending.extend(tree.children(id).map(|c| (c, ino)));
        pending[start..].reverse();
    }
    Ok(())
}
