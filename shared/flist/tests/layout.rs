//! The writers' output follows the writer checklists of the spec: A.11 (`.flist`) and B.9
//! (`.fl`), checked on a fresh tree with every kind of entry.

mod common;

use std::io::Read;
use std::sync::Arc;

use common::{count, flist_db, open_db};
use hub_flist::v1::{self, InodeKind, acl_key, dir_key, special_type};
use hub_flist::{
    Attr, BlockRef, Flist, Format, Metadata, NodeKind, Route, chunk, v2::mode, write_bytes,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn attr(mode: u32, uid: u32, gid: u32, names: Option<(&str, &str)>) -> Attr {
    Attr {
        mode,
        uid,
        gid,
        uname: names.map(|n| n.0.to_owned()),
        gname: names.map(|n| n.1.to_owned()),
        mtime: 1_700_000_000,
        ctime: 1_700_000_001,
        acl_key: None,
    }
}

/// Every kind of entry, two owners, one file of three chunks.
fn sample(format: Format) -> Result<Flist, Box<dyn std::error::Error>> {
    let mut f = Flist::new(format);
    f.tree.node_mut(f.tree.root()).attr = attr(0o755, 0, 0, Some(("root", "root")));
    let root = f.tree.root();
    let t = &mut f.tree;
    let blocks: Vec<BlockRef> = [&b"one"[..], b"two", b"three"]
        .iter()
        .map(|p| chunk::encode(format, p).block_ref())
        .collect();
    let etc = t.insert(
        root,
        "etc".into(),
        attr(0o755, 0, 0, Some(("root", "root"))),
        NodeKind::dir(),
    )?;
    t.insert(
        etc,
        "passwd".into(),
        attr(0o644, 0, 0, Some(("root", "root"))),
        NodeKind::File {
            size: 2 * 524_288 + 5,
            blocks: Arc::from(blocks),
        },
    )?;
    t.insert(
        etc,
        "empty".into(),
        attr(0o644, 0, 0, Some(("root", "root"))),
        NodeKind::File {
            size: 0,
            blocks: Arc::from(Vec::new()),
        },
    )?;
    let dev = t.insert(
        root,
        "dev".into(),
        attr(0o755, 0, 0, Some(("root", "root"))),
        NodeKind::dir(),
    )?;
    t.insert(
        dev,
        "null".into(),
        attr(0o666, 0, 0, None),
        NodeKind::CharDevice { major: 1, minor: 3 },
    )?;
    t.insert(
        dev,
        "sda".into(),
        attr(0o660, 0, 6, None),
        NodeKind::BlockDevice { major: 8, minor: 0 },
    )?;
    t.insert(dev, "fifo".into(), attr(0o600, 0, 0, None), NodeKind::Fifo)?;
    t.insert(
        dev,
        "sock".into(),
        attr(0o600, 0, 0, None),
        NodeKind::Socket,
    )?;
    t.insert(
        root,
        "home".into(),
        attr(0o700, 1000, 1000, Some(("user", "user"))),
        NodeKind::dir(),
    )?;
    t.insert(
        root,
        "bin".into(),
        attr(0o777, 0, 0, Some(("root", "root"))),
        NodeKind::Symlink {
            target: "usr/bin".into(),
        },
    )?;
    t.insert(
        root,
        "Änderung".into(),
        attr(0o644, 0, 0, Some(("root", "root"))),
        NodeKind::File {
            size: 0,
            blocks: Arc::from(Vec::new()),
        },
    )?;
    match format {
        Format::Flist => f
            .meta
            .set_json("entrypoint", &serde_json::json!(["/bin/sh"])),
        Format::Fl => {
            f.meta = Metadata {
                values: [("version".to_owned(), "1".to_owned())].into(),
                routes: vec![Route {
                    start: 0,
                    end: 255,
                    url: "zdb://hub.example:9900/ns".into(),
                }],
            }
        }
    }
    Ok(f)
}

#[test]
fn flist_container_and_database() -> TestResult {
    let bytes = write_bytes(&sample(Format::Flist)?)?;
    // One gzip member: a single-member decoder consumes the whole file.
    let mut single = flate2::read::GzDecoder::new(bytes.as_slice());
    let mut tar = Vec::new();
    single.read_to_end(&mut tar)?;
    let mut multi = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut multi)?;
    assert_eq!(tar, multi);
    let mut archive = tar::Archive::new(tar.as_slice());
    let members: Vec<(String, u32, u64, String)> = archive
        .entries()?
        .map(|e| {
            let e = e.unwrap_or_else(|err| panic!("{err}"));
            let h = e.header();
            (
                String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                h.mode().unwrap_or(0),
                h.uid().unwrap_or(99),
                h.username().ok().flatten().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("./".to_owned(), 0o700, 0, "root".to_owned()),
            ("./flistdb.sqlite3".to_owned(), 0o644, 0, "root".to_owned())
        ]
    );
    assert!(tar.ends_with(&[0u8; 1024]), "end-of-archive blocks");

    let db = flist_db(&bytes);
    assert_eq!(&db[18..20], &[1, 1], "rollback journal, not WAL");
    let (_d, conn) = open_db(&db);
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(journal, "delete");
    let mut stmt =
        conn.prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY name")?;
    let schema: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        schema,
        [
            (
                "table".into(),
                "entries".into(),
                "CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB)".into()
            ),
            (
                "table".into(),
                "metadata".into(),
                "CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT)".into()
            ),
            (
                "index".into(),
                "sqlite_autoindex_entries_1".into(),
                String::new()
            ),
            (
                "index".into(),
                "sqlite_autoindex_metadata_1".into(),
                String::new()
            ),
        ]
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM entries WHERE typeof(key) <> 'text' OR typeof(value) <> 'blob'"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT rowid FROM entries WHERE key = 'cae66941d9efbd404e4d88758ea67670'"
        ),
        1
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM entries WHERE length(key) = 32"),
        4,
        "root, etc, dev, home"
    );
    let meta: String = conn.query_row(
        "SELECT value FROM metadata WHERE key = 'entrypoint'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(meta, r#"["/bin/sh"]"#);

    // ACL rows: deduplicated, current-form keys, real ids, names defaulting to the decimal ids.
    let mut stmt =
        conn.prepare("SELECT key, value FROM entries WHERE length(key) = 16 ORDER BY key")?;
    let acls: Vec<(String, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut expected: Vec<String> = [
        ("root", "root", 0o755, 0, 0),
        ("root", "root", 0o644, 0, 0),
        ("root", "root", 0o777, 0, 0),
        ("user", "user", 0o700, 1000, 1000),
        ("0", "0", 0o666, 0, 0),
        ("0", "6", 0o660, 0, 6),
        ("0", "0", 0o600, 0, 0),
    ]
    .iter()
    .map(|(u, g, m, uid, gid)| acl_key(u, g, *m, *uid, *gid))
    .collect();
    expected.sort();
    assert_eq!(
        acls.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        expected
    );
    for (key, value) in &acls {
        let aci = v1::decode_aci(value)?;
        assert_eq!(
            acl_key(
                &aci.uname,
                &aci.gname,
                u32::from(aci.mode),
                aci.uid,
                aci.gid
            ),
            *key
        );
        assert!(aci.uid >= 0 && aci.gid >= 0);
    }

    // Directory rows.
    let dir_row = |path: &str| -> Result<v1::DirRecord, Box<dyn std::error::Error>> {
        let v: Vec<u8> = conn.query_row(
            "SELECT value FROM entries WHERE key = ?1",
            [dir_key(path)],
            |r| r.get(0),
        )?;
        Ok(v1::decode_dir(&v)?)
    };
    let root = dir_row("")?;
    assert_eq!((root.name.as_str(), root.location.as_str()), ("", ""));
    assert_eq!(root.parent, dir_key(""));
    assert_eq!(root.size, 4096);
    assert_eq!(root.aclkey, acl_key("root", "root", 0o755, 0, 0));
    assert_eq!((root.mtime, root.ctime), (1_700_000_000, 1_700_000_001));
    let names: Vec<&str> = root.contents.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["dev", "etc", "home", "bin", "Änderung"],
        "dirs first, then byte-wise"
    );
    let bin = &root.contents[3];
    assert_eq!(
        (bin.size, &bin.kind),
        (
            7,
            &InodeKind::Link {
                target: "usr/bin".into()
            }
        )
    );
    assert_eq!(
        root.contents[0].kind,
        InodeKind::Dir {
            key: dir_key("dev")
        }
    );
    assert_eq!(root.contents[0].size, 4096);

    let etc = dir_row("etc")?;
    assert_eq!(
        (
            etc.name.as_str(),
            etc.location.as_str(),
            etc.parent.as_str()
        ),
        ("etc", "etc", dir_key("").as_str())
    );
    assert_eq!(etc.size, 4096);
    for inode in &etc.contents {
        match &inode.kind {
            InodeKind::File { block_size, blocks } => {
                assert_eq!(*block_size, 128);
                assert_eq!(blocks.len() as u64, chunk::chunk_count(inode.size));
            }
            other => panic!("{other:?}"),
        }
    }
    let dev = dir_row("dev")?;
    let specials: Vec<(&str, u16, &[u8])> = dev
        .contents
        .iter()
        .map(|i| match &i.kind {
            InodeKind::Special { kind, data } => (i.name.as_str(), *kind, data.as_slice()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        specials,
        [
            ("fifo", special_type::FIFO, &b"(nothing)"[..]),
            ("null", special_type::CHARDEV, b"1,3"),
            ("sda", special_type::BLOCK, b"8,0"),
            ("sock", special_type::SOCKET, b"(nothing)"),
        ]
    );
    Ok(())
}

#[test]
fn fl_database() -> TestResult {
    let bytes = write_bytes(&sample(Format::Fl)?)?;
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    assert_eq!(&bytes[18..20], &[1, 1]);
    let (_d, conn) = open_db(&bytes);
    assert_eq!(count(&conn, "PRAGMA page_size"), 4096);
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(journal, "delete");
    // The block table and its index arrive from a second database (the writer's transfer):
    // every index must hold exactly the rows of its table.
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(integrity, "ok");
    let ddl: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE name = 'inode'",
        [],
        |r| r.get(0),
    )?;
    assert!(ddl.contains("ino    INTEGER PRIMARY KEY AUTOINCREMENT"));

    // Storage classes required by rfs 2.0.6.
    for (sql, want) in [
        (
            "SELECT count(*) FROM inode WHERE typeof(ino) || typeof(parent) || typeof(size) || typeof(uid) || typeof(gid) || typeof(mode) || typeof(rdev) || typeof(ctime) || typeof(mtime) <> 'integerintegerintegerintegerintegerintegerintegerintegerinteger'",
            0,
        ),
        ("SELECT count(*) FROM inode WHERE typeof(name) <> 'text'", 0),
        ("SELECT count(*) FROM extra WHERE typeof(data) <> 'blob'", 0),
        (
            "SELECT count(*) FROM block WHERE typeof(id) <> 'blob' OR length(id) <> 32 OR typeof(key) <> 'blob' OR length(key) <> 32",
            0,
        ),
        ("SELECT count(*) FROM inode", 12),
        (
            "SELECT count(*) FROM inode WHERE ino = 1 AND parent = 0 AND name = '/'",
            1,
        ),
        (
            "SELECT count(*) FROM route WHERE start = 0 AND end = 255 AND url = 'zdb://hub.example:9900/ns'",
            1,
        ),
        (
            "SELECT count(*) FROM tag WHERE key = 'version' AND value = '1'",
            1,
        ),
        ("SELECT count(*) FROM extra", 1),
        ("SELECT size FROM inode WHERE name = 'bin'", 7),
        ("SELECT count(*) FROM block", 3),
    ] {
        assert_eq!(count(&conn, sql), want, "{sql}");
    }
    // Full st_mode with type bits, and Linux st_rdev for devices.
    for (name, st_mode, rdev) in [
        ("/", mode::S_IFDIR | 0o755, 0),
        ("etc", mode::S_IFDIR | 0o755, 0),
        ("passwd", mode::S_IFREG | 0o644, 0),
        ("bin", mode::S_IFLNK | 0o777, 0),
        ("null", mode::S_IFCHR | 0o666, 0x103),
        ("sda", mode::S_IFBLK | 0o660, 0x800),
        ("fifo", mode::S_IFIFO | 0o600, 0),
        ("sock", mode::S_IFSOCK | 0o600, 0),
    ] {
        let (m, r): (i64, i64) = conn.query_row(
            "SELECT mode, rdev FROM inode WHERE name = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        assert_eq!((m, r), (i64::from(st_mode), rdev), "{name}");
    }
    let (uid, gid): (i64, i64) =
        conn.query_row("SELECT uid, gid FROM inode WHERE name = 'sda'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    assert_eq!((uid, gid), (0, 6));
    // Block rows in file order.
    let mut stmt = conn.prepare("SELECT key FROM block WHERE ino = (SELECT ino FROM inode WHERE name = 'passwd') ORDER BY rowid")?;
    let keys: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let expected: Vec<Vec<u8>> = [&b"one"[..], b"two", b"three"]
        .iter()
        .map(|p| chunk::plain_key(Format::Fl, p).as_bytes().to_vec())
        .collect();
    assert_eq!(keys, expected);
    // Parents are consistent and names unique per directory.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM inode c WHERE c.ino <> 1 AND NOT EXISTS (SELECT 1 FROM inode p WHERE p.ino = c.parent)"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM (SELECT parent, name FROM inode GROUP BY parent, name HAVING count(*) > 1)"
        ),
        0
    );
    Ok(())
}
