//! The reference files of flist-formats Part E parse with exactly the documented counts, and
//! survive a rewrite by our writers.

mod common;

use std::collections::{BTreeSet, HashSet};

use common::{count, flist_db, open_db, read_data};
use hub_flist::v1::{self, InodeKind};
use hub_flist::{Format, NodeKind, Route, Stats, chunk, read_bytes, write_bytes};

const FUNK: &str = "reference/threefoldtech-funk-latest.flist";
const ALPINE: &str = "reference/alpine-latest.fl";

#[test]
fn e1_funk_tree_counts() -> Result<(), hub_flist::FlistError> {
    let flist = read_bytes(&read_data(FUNK))?;
    assert_eq!(flist.format, Format::Flist);
    let tree = &flist.tree;
    assert_eq!(
        tree.stats(),
        Stats {
            regular: 30_370,
            symlink: 830,
            directory: 6_880,
            special: 0,
            fullsize: 956_239_538,
            blocks: 30_851,
        }
    );
    assert_eq!(tree.dump().len(), 38_080);
    assert!(flist.meta.values.is_empty());
    assert_eq!(flist.meta.backend()?, None);

    let mut ids = HashSet::new();
    let mut empty = 0;
    let mut acl_keys = BTreeSet::new();
    acl_keys.extend(tree.node(tree.root()).attr.acl_key.clone());
    for id in tree.walk() {
        let node = tree.node(id);
        acl_keys.extend(node.attr.acl_key.clone());
        if let NodeKind::File { size, blocks } = &node.kind {
            assert_eq!(
                blocks.len() as u64,
                chunk::chunk_count(*size),
                "{}",
                tree.path(id)
            );
            empty += usize::from(*size == 0);
            ids.extend(blocks.iter().map(|b| b.id));
        }
    }
    assert_eq!(empty, 595);
    assert_eq!(ids.len(), 27_938);
    assert_eq!(acl_keys.len(), 14);
    assert!(tree.lookup("app").is_some());
    assert!(tree.lookup("usr/bin").is_some());

    // ACIs are resolved from their legacy keys, never recomputed.
    let root = &tree.node(tree.root()).attr;
    assert_eq!(root.acl_key.as_deref(), Some("1eee8b016c47ed55"));
    assert_eq!((root.mode, root.uid, root.gid), (0o755, 0, 0));
    let shadow: Vec<_> = tree
        .walk()
        .map(|id| &tree.node(id).attr)
        .filter(|a| a.acl_key.as_deref() == Some("54d42f8313ecd57d"))
        .collect();
    assert!(!shadow.is_empty());
    for a in shadow {
        assert_eq!(
            (a.uname.as_deref(), a.gname.as_deref(), a.mode, a.uid, a.gid),
            (Some("root"), Some("shadow"), 0o2755, 0, 42)
        );
    }
    Ok(())
}

#[test]
fn e1_funk_database_layout() -> Result<(), hub_flist::FlistError> {
    let bytes = read_data(FUNK);
    let tar = common::gunzip(&bytes);
    assert_eq!(tar.len(), 9_670_656, "no end-of-archive blocks");
    let db = flist_db(&bytes);
    assert_eq!(db.len(), 9_669_632);
    let (_dir, conn) = open_db(&db);
    assert_eq!(count(&conn, "SELECT count(*) FROM entries"), 6_895);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM entries WHERE length(key) = 32"),
        6_881
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM entries WHERE length(key) = 16"),
        14
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM entries WHERE typeof(key) <> 'text'"
        ),
        0
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM metadata"), 0);
    assert_eq!(
        count(
            &conn,
            "SELECT rowid FROM entries WHERE key = 'cae66941d9efbd404e4d88758ea67670'"
        ),
        27_536
    );
    // Multi-segment Cap'n Proto values: the first word holds segment count - 1.
    let mut stmt = conn.prepare("SELECT value FROM entries WHERE length(key) = 32")?;
    let values: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let multi = values
        .iter()
        .filter(|v| v.get(..4).is_some_and(|w| w != [0, 0, 0, 0]))
        .count();
    assert_eq!(multi, 212);
    // Every one of them decodes, and contents follow the dirs-first byte-wise order.
    for v in &values {
        let dir = v1::decode_dir(v)?;
        let is_dir = |i: &&v1::InodeRecord| matches!(i.kind, InodeKind::Dir { .. });
        let dirs: Vec<&str> = dir
            .contents
            .iter()
            .filter(is_dir)
            .map(|i| i.name.as_str())
            .collect();
        let rest: Vec<&str> = dir
            .contents
            .iter()
            .filter(|i| !is_dir(i))
            .map(|i| i.name.as_str())
            .collect();
        let order: Vec<&str> = dir.contents.iter().map(|i| i.name.as_str()).collect();
        assert!(dirs.is_sorted() && rest.is_sorted());
        assert_eq!(order, [dirs, rest].concat());
    }
    Ok(())
}

#[test]
fn e1_funk_rewrite_keeps_every_value() -> Result<(), hub_flist::FlistError> {
    let original = read_bytes(&read_data(FUNK))?;
    let written = write_bytes(&original)?;
    let again = read_bytes(&written)?;
    assert_eq!(again, original);

    // Row by row, the decoded directory values are the same (legacy ACL keys kept).
    let (_d1, old) = open_db(&flist_db(&read_data(FUNK)));
    let (_d2, new) = open_db(&flist_db(&written));
    assert_eq!(count(&new, "SELECT count(*) FROM entries"), 6_895);
    assert_eq!(
        count(
            &new,
            "SELECT rowid FROM entries WHERE key = 'cae66941d9efbd404e4d88758ea67670'"
        ),
        1
    );
    let mut stmt = old.prepare("SELECT key, value FROM entries")?;
    let rows: Vec<(String, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut lookup = new.prepare("SELECT value FROM entries WHERE key = ?1")?;
    for (key, value) in rows {
        let mine: Vec<u8> = lookup.query_row([&key], |r| r.get(0))?;
        if key.len() == 32 {
            assert_eq!(v1::decode_dir(&mine)?, v1::decode_dir(&value)?, "dir {key}");
            assert_eq!(&mine[..4], &[0, 0, 0, 0], "single segment");
        } else {
            // Same ACI; our writer fills uid/gid, which these 2021 rows already have.
            assert_eq!(v1::decode_aci(&mine)?, v1::decode_aci(&value)?, "acl {key}");
            assert_eq!(mine, value, "ACI bytes of {key}");
        }
    }
    Ok(())
}

#[test]
fn e2_alpine_counts() -> Result<(), hub_flist::FlistError> {
    let flist = read_bytes(&read_data(ALPINE))?;
    assert_eq!(flist.format, Format::Fl);
    let tree = &flist.tree;
    assert_eq!(tree.len(), 527);
    assert_eq!(
        tree.stats(),
        Stats {
            regular: 92,
            symlink: 335,
            directory: 99,
            special: 0,
            fullsize: 7_829_519,
            blocks: 97,
        }
    );
    assert_eq!(
        flist.meta.routes,
        [Route {
            start: 0,
            end: 255,
            url: "dir:///tmp/rfs-e2e-tests/store".into()
        }]
    );
    assert!(flist.meta.values.is_empty());
    let root = tree.node(tree.root());
    assert_eq!(
        (root.attr.mode, root.attr.uid, root.attr.gid),
        (0o755, 0, 0)
    );
    assert_eq!(root.kind.size(), 4096);
    let link = tree.lookup("sbin/hwclock").map(|id| &tree.node(id).kind);
    assert_eq!(
        link,
        Some(&NodeKind::Symlink {
            target: "/bin/busybox".into()
        })
    );
    let owners: BTreeSet<(u32, u32)> = tree
        .walk()
        .map(|id| (tree.node(id).attr.uid, tree.node(id).attr.gid))
        .collect();
    assert_eq!(owners, BTreeSet::from([(0, 0), (0, 42)]));
    let mut empty: Vec<String> = tree
        .walk()
        .filter(|id| matches!(tree.node(*id).kind, NodeKind::File { size: 0, .. }))
        .map(|id| tree.path(id))
        .collect();
    empty.sort();
    assert_eq!(
        empty,
        [
            "/.dockerenv",
            "/dev/console",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/lib/apk/db/lock"
        ]
    );
    let crypto = tree
        .walk()
        .find(|id| tree.node(*id).name == "libcrypto.so.3");
    match crypto.map(|id| &tree.node(id).kind) {
        Some(NodeKind::File { size, blocks }) => assert_eq!((*size, blocks.len()), (4_494_672, 9)),
        other => panic!("libcrypto.so.3: {other:?}"),
    }
    let distinct: HashSet<_> = tree
        .walk()
        .filter_map(|id| match &tree.node(id).kind {
            NodeKind::File { blocks, .. } => Some(blocks.iter().map(|b| b.id).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(distinct.len(), 90);
    Ok(())
}

#[test]
fn e2_alpine_rewrite() -> Result<(), hub_flist::FlistError> {
    let original = read_bytes(&read_data(ALPINE))?;
    let written = write_bytes(&original)?;
    assert_eq!(read_bytes(&written)?, original);
    let (_d, conn) = open_db(&written);
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(journal, "delete");
    assert_eq!(&written[18..20], &[1, 1]);
    assert_eq!(count(&conn, "PRAGMA page_size"), 4096);
    assert_eq!(count(&conn, "SELECT count(*) FROM inode"), 527);
    assert_eq!(
        count(
            &conn,
            "SELECT seq FROM sqlite_sequence WHERE name = 'inode'"
        ),
        527
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM extra WHERE typeof(data) = 'blob'"
        ),
        335
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM block WHERE typeof(id) = 'blob' AND length(id) = 32 AND length(key) = 32"
        ),
        97
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM inode WHERE ino = 1 AND parent = 0 AND name = '/' AND mode = 16877"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM route"), 1);
    // Same tables as rfs writes, and no others.
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        tables,
        ["block", "extra", "inode", "route", "sqlite_sequence", "tag"]
    );
    Ok(())
}
