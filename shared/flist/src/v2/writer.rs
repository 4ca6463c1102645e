//! Tree → `.fl` database (flist-formats §B.9).

use rusqlite::{Connection, Statement, Transaction};

use super::batch::BatchInsert;

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
///
/// The `block` rows (about half of a typical flist's rows) are built on a second thread in a
/// database of their own, then moved in with one `INSERT … SELECT *`, which SQLite runs as a
/// transfer of raw records (table and index) instead of row-by-row inserts. Both threads
/// number inodes by the same depth-first walk, so the result is the one a single pass writes.
pub(crate) fn write_db(tree: &Tree, meta: &Metadata) -> Result<Vec<u8>, FlistError> {
    let (main, blocks) = std::thread::scope(|scope| {
        let blocks = scope.spawn(|| write_block_db(tree));
        let main = write_main_db(tree, meta);
        (main, blocks.join())
    });
    let mut conn = main?;
    let blocks =
        blocks.map_err(|_| FlistError::Unwritable("block table writer panicked".into()))??;
    conn.execute("ATTACH DATABASE ':memory:' AS staged", [])?;
    conn.deserialize_read_exact(c"staged", blocks.as_slice(), blocks.len(), true)?;
    conn.execute_batch(
        "INSERT INTO main.block SELECT * FROM staged.block; DETACH DATABASE staged;",
    )?;
    sqlite::into_bytes(conn)
}

/// Everything but the `block` rows: tables, inodes, symlink targets, tags, routes, indexes.
fn write_main_db(tree: &Tree, meta: &Metadata) -> Result<Connection, FlistError> {
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
    // Built from sorted data once instead of updated per row; `block_ino` is still empty here
    // and is filled by the transfer with the staged index's records.
    tx.execute_batch(indexes)?;
    tx.commit()?;
    Ok(conn)
}

/// The image of a database holding only the `block` table (rfs' definition) and an index on
/// `ino` matching `block_ino`, which lets SQLite copy both with its transfer optimisation.
fn write_block_db(tree: &Tree) -> Result<Vec<u8>, FlistError> {
    let mut conn = sqlite::new_memory_db(4096)?;
    conn.execute_batch("CREATE TABLE block (ino INTEGER, id VARCHAR(32), key VARCHAR(32));")?;
    let tx = conn.transaction()?;
    {
        let mut block = BatchInsert::new(
            &tx,
            "INSERT INTO block (ino, id, key) VALUES",
            3,
            bind_block,
        );
        walk(tree, |ino, _, id| {
            if let NodeKind::File { blocks, .. } = &tree.node(id).kind {
                crate::hash::check_lengths(blocks, 32)?;
                for b in blocks.iter() {
                    block.push((ino, b.id.as_bytes(), b.key.as_bytes()))?;
                }
            }
            Ok(())
        })?;
        block.finish()?;
    }
    tx.execute_batch("CREATE INDEX block_ino ON block (ino);")?;
    tx.commit()?;
    sqlite::into_bytes(conn)
}

/// Visits the tree depth-first from the root, numbering inodes in visiting order (ino 1,
/// parent 0 for the root): `visit(ino, parent, node)`.
fn walk(
    tree: &Tree,
    mut visit: impl FnMut(i64, i64, NodeId) -> Result<(), FlistError>,
) -> Result<(), FlistError> {
    let mut next_ino = ROOT_INO;
    let mut pending: Vec<(NodeId, i64)> = vec![(tree.root(), 0)];
    while let Some((id, parent)) = pending.pop() {
        let ino = next_ino;
        next_ino += 1;
        visit(ino, parent, id)?;
        let start = pending.len();
        pending.extend(tree.children(id).map(|c| (c, ino)));
        pending[start..].reverse();
    }
    Ok(())
}

/// One `inode` row: ino, parent, name, then the integer columns size … mtime.
type InodeRow<'t> = (i64, i64, &'t str, [i64; 7]);

fn bind_inode(
    statement: &mut Statement<'_>,
    first: usize,
    row: &InodeRow<'_>,
) -> rusqlite::Result<()> {
    let (ino, parent, name, numbers) = row;
    statement.raw_bind_parameter(first, ino)?;
    statement.raw_bind_parameter(first + 1, parent)?;
    statement.raw_bind_parameter(first + 2, name)?;
    for (offset, number) in numbers.iter().enumerate() {
        statement.raw_bind_parameter(first + 3 + offset, number)?;
    }
    Ok(())
}

fn bind_block(
    statement: &mut Statement<'_>,
    first: usize,
    row: &(i64, &[u8], &[u8]),
) -> rusqlite::Result<()> {
    statement.raw_bind_parameter(first, row.0)?;
    statement.raw_bind_parameter(first + 1, row.1)?;
    statement.raw_bind_parameter(first + 2, row.2)
}

fn write_inodes(tx: &Transaction<'_>, tree: &Tree) -> Result<(), FlistError> {
    let mut inode = BatchInsert::new(
        tx,
        "INSERT INTO inode (ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime) VALUES",
        10,
        bind_inode,
    );
    let mut extra = tx.prepare_cached("INSERT INTO extra (ino, data) VALUES (?1, ?2)")?;
    walk(tree, |ino, parent, id| {
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
        inode.push((
            ino,
            parent,
            name,
            [
                size,
                i64::from(node.attr.uid),
                i64::from(node.attr.gid),
                i64::from(type_bits(&node.kind) | (node.attr.mode & 0o7777)),
                rdev,
                node.attr.ctime,
                node.attr.mtime,
            ],
        ))?;
        if let NodeKind::Symlink { target } = &node.kind {
            extra.execute((ino, target.as_bytes()))?;
        }
        Ok(())
    })?;
    inode.finish()?;
    Ok(())
}
