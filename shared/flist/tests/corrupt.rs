//! Corrupt and hand-crafted inputs give typed errors (never panics); legal quirks are accepted.

mod common;

use std::io::Write;

use common::read_data;
use hub_flist::v1::{
    self, AciRecord, DirRecord, InodeKind, InodeRecord, acl_key, dir_key, encode_aci,
    encode_dir_record, special_type,
};
use hub_flist::{FlistError, Format, Hash, NodeKind, read_bytes, v2};
use rusqlite::{Connection, params};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Recognises the expected error of a crafted input.
type ErrorCheck = fn(&FlistError) -> bool;

/// A database file image built by `fill`.
fn db_image(fill: impl FnOnce(&Connection) -> rusqlite::Result<()>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("db");
    {
        let conn = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
        fill(&conn).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Wraps a database image as a `.flist` (gzip + tar, no end-of-archive blocks like zflist).
fn pack(db: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_path("flistdb.sqlite3")
        .unwrap_or_else(|e| panic!("{e}"));
    h.set_size(db.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(db);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap_or_else(|e| panic!("{e}"));
    gz.finish().unwrap_or_else(|e| panic!("{e}"))
}

const ACL: &str = "d7683de000c13689";

fn root_aci() -> Vec<u8> {
    let mut out = Vec::new();
    let aci = AciRecord {
        uname: "root".into(),
        gname: "root".into(),
        mode: 0o755,
        uid: 0,
        gid: 0,
    };
    encode_aci(&aci, &mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

fn dir(location: &str, parent: &str, contents: Vec<InodeRecord>) -> Vec<u8> {
    let record = DirRecord {
        name: location.rsplit('/').next().unwrap_or("").into(),
        location: location.into(),
        parent: dir_key(parent),
        size: 4096,
        aclkey: ACL.into(),
        mtime: 0,
        ctime: 0,
        contents,
    };
    encode_dir_record(&record).unwrap_or_else(|e| panic!("{e}"))
}

fn inode(name: &str, kind: InodeKind) -> InodeRecord {
    InodeRecord {
        name: name.into(),
        size: 0,
        aclkey: ACL.into(),
        mtime: 0,
        ctime: 0,
        kind,
    }
}

fn subdir(name: &str, path: &str) -> InodeRecord {
    inode(name, InodeKind::Dir { key: dir_key(path) })
}

/// A `.flist` of the given `entries` rows (key, value), with or without a `metadata` table.
fn flist(rows: &[(String, Vec<u8>)], metadata: bool) -> Vec<u8> {
    pack(&db_image(|c| {
        c.execute_batch("CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB);")?;
        if metadata {
            c.execute_batch("CREATE TABLE metadata (key VARCHAR(64) PRIMARY KEY, value TEXT);")?;
        }
        for (k, v) in rows {
            c.execute("INSERT INTO entries VALUES (?1, ?2)", params![k, v])?;
        }
        Ok(())
    }))
}

fn acl_row() -> (String, Vec<u8>) {
    (ACL.to_owned(), root_aci())
}

#[test]
fn garbage_is_rejected() {
    let mut gzip_junk = vec![0x1f, 0x8b];
    gzip_junk.extend_from_slice(&[0x55; 300]);
    let mut sqlite_junk = b"SQLite format 3\0".to_vec();
    sqlite_junk.extend_from_slice(&[0xaa; 5000]);
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("text", b"hello".to_vec()),
        ("noise", noise),
        ("gzip junk", gzip_junk),
        ("sqlite junk", sqlite_junk),
    ] {
        assert!(read_bytes(&bytes).is_err(), "{name}");
    }
    assert!(matches!(
        read_bytes(b"hello"),
        Err(FlistError::UnknownFormat)
    ));
}

#[test]
fn truncated_gzip() {
    let good = read_data("real-tools/sample.flist");
    for cut in (10..good.len()).step_by(37) {
        assert!(
            matches!(read_bytes(&good[..cut]), Err(FlistError::Gzip(_))),
            "cut at {cut}"
        );
    }
}

#[test]
fn bad_sqlite_inside_the_tar() {
    let mut junk = b"SQLite format 3\0".to_vec();
    junk.resize(8192, 0x42);
    assert!(matches!(
        read_bytes(&pack(&junk)),
        Err(FlistError::Sqlite(_))
    ));
    let real = common::flist_db(&read_data("real-tools/sample.flist"));
    assert!(read_bytes(&pack(&real[..real.len() / 2])).is_err());
}

#[test]
fn flipped_bytes_never_panic() {
    for name in ["real-tools/sample.fl", "reference/alpine-latest.fl"] {
        let good = read_data(name);
        for i in (0..good.len()).step_by(97) {
            let mut bad = good.clone();
            bad[i] ^= 0x5a;
            let _ = read_bytes(&bad);
        }
    }
    let db = common::flist_db(&read_data("real-tools/sample.flist"));
    for i in (0..db.len()).step_by(53) {
        let mut bad = db.clone();
        bad[i] ^= 0xa5;
        let _ = read_bytes(&pack(&bad));
    }
}

#[test]
fn minimal_valid_flist_and_legacy_quirks() -> TestResult {
    // No metadata table (very old flists), null block list, an ACI with ids of -1, and a
    // device written as zflist does (type socket, data "maj,min").
    let old_aci = {
        let mut out = Vec::new();
        encode_aci(
            &AciRecord {
                uname: "1000".into(),
                gname: "users".into(),
                mode: 0o644,
                uid: -1,
                gid: -1,
            },
            &mut out,
        )?;
        out
    };
    let root = dir(
        "",
        "",
        vec![
            InodeRecord {
                aclkey: "0123456789abcdef".into(),
                ..inode(
                    "empty",
                    InodeKind::File {
                        block_size: 128,
                        blocks: vec![],
                    },
                )
            },
            inode(
                "null",
                InodeKind::Special {
                    kind: special_type::SOCKET,
                    data: b"1,3".to_vec(),
                },
            ),
            inode(
                "pipe",
                InodeKind::Special {
                    kind: special_type::SOCKET,
                    data: b"(nothing)".to_vec(),
                },
            ),
        ],
    );
    let bytes = flist(
        &[
            (dir_key(""), root),
            acl_row(),
            ("0123456789abcdef".into(), old_aci),
        ],
        false,
    );
    let f = read_bytes(&bytes)?;
    assert!(f.meta.values.is_empty());
    let t = &f.tree;
    let empty = t.node(t.lookup("empty").ok_or("empty")?);
    assert!(matches!(&empty.kind, NodeKind::File { size: 0, blocks } if blocks.is_empty()));
    assert_eq!((empty.attr.uid, empty.attr.gid), (1000, 1000));
    assert_eq!(empty.attr.acl_key.as_deref(), Some("0123456789abcdef"));
    assert_eq!(
        t.node(t.lookup("null").ok_or("null")?).kind,
        NodeKind::CharDevice { major: 1, minor: 3 }
    );
    assert_eq!(
        t.node(t.lookup("pipe").ok_or("pipe")?).kind,
        NodeKind::Socket
    );
    Ok(())
}

#[test]
fn structural_damage_is_typed() -> TestResult {
    let root_with = |contents| (dir_key(""), dir("", "", contents));
    // Missing root.
    assert!(matches!(
        read_bytes(&flist(&[acl_row()], true)),
        Err(FlistError::MissingRoot)
    ));
    // Dangling sub-directory.
    let bytes = flist(&[root_with(vec![subdir("etc", "etc")]), acl_row()], true);
    assert!(matches!(
        read_bytes(&bytes),
        Err(FlistError::DanglingDirectory { .. })
    ));
    // Missing ACL row.
    let bytes = flist(&[root_with(vec![])], true);
    assert!(matches!(read_bytes(&bytes), Err(FlistError::MissingAcl { key }) if key == ACL));
    // A sub-directory pointing at its ancestor.
    let bytes = flist(
        &[
            root_with(vec![subdir("a", "a")]),
            (dir_key("a"), dir("a", "", vec![subdir("b", "a/b")])),
            (dir_key("a/b"), dir("a/b", "a", vec![subdir("up", "a")])),
            acl_row(),
        ],
        true,
    );
    assert!(matches!(read_bytes(&bytes), Err(FlistError::Cycle { .. })));
    // A sub-directory pointing at the root itself.
    let bytes = flist(&[root_with(vec![subdir("self", "")]), acl_row()], true);
    assert!(matches!(read_bytes(&bytes), Err(FlistError::Cycle { .. })));
    // Two entries sharing one directory row.
    let bytes = flist(
        &[
            root_with(vec![subdir("a", "a"), subdir("b", "a")]),
            (dir_key("a"), dir("a", "", vec![])),
            acl_row(),
        ],
        true,
    );
    assert!(matches!(
        read_bytes(&bytes),
        Err(FlistError::SharedDirectory { .. })
    ));
    // Broken Cap'n Proto value.
    let bytes = flist(
        &[
            (dir_key(""), vec![0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 2, 3]),
            acl_row(),
        ],
        true,
    );
    assert!(matches!(read_bytes(&bytes), Err(FlistError::Capnp(_))));
    // An entry name that is not a single component.
    let bytes = flist(
        &[
            root_with(vec![inode("a/b", InodeKind::Link { target: "x".into() })]),
            acl_row(),
        ],
        true,
    );
    assert!(matches!(read_bytes(&bytes), Err(FlistError::Tree(_))));
    Ok(())
}

#[test]
fn wrong_block_key_length() -> TestResult {
    let long = Hash::new(&[9; 32])?;
    let short = Hash::new(&[9; 16])?;
    for (id, key) in [(long, short), (short, long)] {
        let file = inode(
            "f",
            InodeKind::File {
                block_size: 128,
                blocks: vec![hub_flist::BlockRef { id, key }],
            },
        );
        let bytes = flist(&[(dir_key(""), dir("", "", vec![file])), acl_row()], true);
        assert!(matches!(
            read_bytes(&bytes),
            Err(FlistError::BadHashLength {
                got: 32,
                expected: 16,
                ..
            })
        ));
    }
    Ok(())
}

#[test]
fn non_utf8_text() -> TestResult {
    // Build a valid root holding "é", then replace its two UTF-8 bytes by invalid ones.
    let mut value = dir(
        "",
        "",
        vec![inode("é", InodeKind::Link { target: "x".into() })],
    );
    let at = value
        .windows(2)
        .position(|w| w == "é".as_bytes())
        .ok_or("name bytes")?;
    value[at] = 0xff;
    value[at + 1] = 0xfe;
    let bytes = flist(&[(dir_key(""), value), acl_row()], true);
    assert!(matches!(read_bytes(&bytes), Err(FlistError::Utf8 { .. })));
    Ok(())
}

#[test]
fn acl_keys_are_looked_up_not_recomputed() -> TestResult {
    // The ACI under the current key of 0755 actually says 0700: readers trust the row.
    let mut aci = Vec::new();
    encode_aci(
        &AciRecord {
            uname: "root".into(),
            gname: "root".into(),
            mode: 0o700,
            uid: 0,
            gid: 0,
        },
        &mut aci,
    )?;
    assert_eq!(acl_key("root", "root", 0o755, 0, 0), ACL);
    let f = read_bytes(&flist(
        &[(dir_key(""), dir("", "", vec![])), (ACL.into(), aci)],
        true,
    ))?;
    assert_eq!(f.tree.node(f.tree.root()).attr.mode, 0o700);
    assert_eq!(f.format, Format::Flist);
    // And the decoder of the root row agrees with the tree.
    assert!(v1::decode_dir(&dir("", "", vec![]))?.contents.is_empty());
    Ok(())
}

/// A `.fl` built by `fill` on top of the rfs schema.
fn fl(fill: impl FnOnce(&Connection) -> rusqlite::Result<()>) -> Vec<u8> {
    db_image(|c| {
        c.execute_batch(v2::SCHEMA)?;
        c.execute(
            "INSERT INTO inode VALUES (1, 0, '/', 4096, 0, 0, 16877, 0, 0, 0)",
            [],
        )?;
        fill(c)
    })
}

#[test]
fn fl_storage_classes_and_structure() -> TestResult {
    let ok = fl(|c| {
        c.execute(
            "INSERT INTO inode VALUES (2, 1, 'f', 1, 0, 0, 33188, 0, 0, 0)",
            [],
        )?;
        c.execute(
            "INSERT INTO block VALUES (2, ?1, ?2)",
            params![[1u8; 32], [2u8; 32]],
        )?;
        Ok(())
    });
    assert_eq!(read_bytes(&ok)?.tree.stats().blocks, 1);

    let cases: Vec<(&str, Vec<u8>, ErrorCheck)> = vec![
        (
            "hex text id",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'f', 1, 0, 0, 33188, 0, 0, 0)",
                    [],
                )?;
                c.execute(
                    "INSERT INTO block VALUES (2, ?1, ?2)",
                    params![hex::encode([1u8; 32]), [2u8; 32]],
                )?;
                Ok(())
            }),
            |e| matches!(e, FlistError::BadColumn { column: "id", .. }),
        ),
        (
            "short key",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'f', 1, 0, 0, 33188, 0, 0, 0)",
                    [],
                )?;
                c.execute(
                    "INSERT INTO block VALUES (2, ?1, ?2)",
                    params![[1u8; 32], [2u8; 31]],
                )?;
                Ok(())
            }),
            |e| {
                matches!(
                    e,
                    FlistError::BadHashLength {
                        got: 31,
                        expected: 32,
                        ..
                    }
                )
            },
        ),
        (
            "real mode",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'f', 1, 0, 0, 33188.5, 0, 0, 0)",
                    [],
                )
                .map(drop)
            }),
            |e| matches!(e, FlistError::BadColumn { column: "mode", .. }),
        ),
        (
            "blob name",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, x'41', 1, 0, 0, 33188, 0, 0, 0)",
                    [],
                )
                .map(drop)
            }),
            |e| matches!(e, FlistError::BadColumn { column: "name", .. }),
        ),
        (
            "orphan",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 77, 'f', 1, 0, 0, 33188, 0, 0, 0)",
                    [],
                )
                .map(drop)
            }),
            |e| matches!(e, FlistError::Orphan { ino: 2 }),
        ),
        (
            "cycle",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 3, 'a', 4096, 0, 0, 16877, 0, 0, 0)",
                    [],
                )?;
                c.execute(
                    "INSERT INTO inode VALUES (3, 2, 'b', 4096, 0, 0, 16877, 0, 0, 0)",
                    [],
                )?;
                Ok(())
            }),
            |e| matches!(e, FlistError::Cycle { .. }),
        ),
        (
            "duplicate name",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'a', 0, 0, 0, 33188, 0, 0, 0)",
                    [],
                )?;
                c.execute(
                    "INSERT INTO inode VALUES (3, 1, 'a', 0, 0, 0, 33188, 0, 0, 0)",
                    [],
                )?;
                Ok(())
            }),
            |e| matches!(e, FlistError::DuplicateName { .. }),
        ),
        (
            "child of a file",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'a', 0, 0, 0, 33188, 0, 0, 0)",
                    [],
                )?;
                c.execute(
                    "INSERT INTO inode VALUES (3, 2, 'b', 0, 0, 0, 33188, 0, 0, 0)",
                    [],
                )?;
                Ok(())
            }),
            |e| matches!(e, FlistError::BadInode { ino: 2, .. }),
        ),
        (
            "symlink without target",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'l', 3, 0, 0, 41471, 0, 0, 0)",
                    [],
                )
                .map(drop)
            }),
            |e| matches!(e, FlistError::BadInode { ino: 2, .. }),
        ),
        (
            "blocks on a directory",
            fl(|c| {
                c.execute("INSERT INTO block VALUES (1, ?1, ?1)", params![[1u8; 32]])
                    .map(drop)
            }),
            |e| matches!(e, FlistError::BadInode { ino: 1, .. }),
        ),
        (
            "negative uid",
            fl(|c| {
                c.execute(
                    "INSERT INTO inode VALUES (2, 1, 'f', 0, -1, 0, 33188, 0, 0, 0)",
                    [],
                )
                .map(drop)
            }),
            |e| matches!(e, FlistError::BadId { what: "uid", .. }),
        ),
        (
            "route out of range",
            fl(|c| {
                c.execute("INSERT INTO route VALUES (0, 256, 'zdb://h')", [])
                    .map(drop)
            }),
            |e| matches!(e, FlistError::BadRoute { end: 256, .. }),
        ),
        (
            "root not a directory",
            db_image(|c| {
                c.execute_batch(v2::SCHEMA)?;
                c.execute(
                    "INSERT INTO inode VALUES (1, 0, '/', 0, 0, 0, 33188, 0, 0, 0)",
                    [],
                )
                .map(drop)
            }),
            |e| matches!(e, FlistError::BadInode { ino: 1, .. }),
        ),
        ("no root", db_image(|c| c.execute_batch(v2::SCHEMA)), |e| {
            matches!(e, FlistError::MissingRoot)
        }),
        (
            "no inode table",
            db_image(|c| c.execute_batch("CREATE TABLE t (a)")),
            |e| matches!(e, FlistError::Sqlite(_)),
        ),
    ];
    for (name, bytes, check) in cases {
        match read_bytes(&bytes) {
            Err(e) => assert!(check(&e), "{name}: unexpected error {e}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
    Ok(())
}

#[test]
fn fl_devices_use_linux_rdev() -> TestResult {
    let bytes = fl(|c| {
        // /dev/sda1 (8, 1) and a minor above 255: (4, 300).
        c.execute(
            "INSERT INTO inode VALUES (2, 1, 'sda1', 0, 0, 6, 25008, 2049, 0, 0)",
            [],
        )?;
        c.execute(
            "INSERT INTO inode VALUES (3, 1, 'tty300', 0, 0, 5, 8592, 1049644, 0, 0)",
            [],
        )?;
        Ok(())
    });
    let f = read_bytes(&bytes)?;
    let kind = |p: &str| f.tree.lookup(p).map(|id| f.tree.node(id).kind.clone());
    assert_eq!(
        kind("sda1"),
        Some(NodeKind::BlockDevice { major: 8, minor: 1 })
    );
    assert_eq!(
        kind("tty300"),
        Some(NodeKind::CharDevice {
            major: 4,
            minor: 300
        })
    );
    let written = hub_flist::write_bytes(&f)?;
    let (_d, conn) = common::open_db(&written);
    let rdev: i64 = conn.query_row("SELECT rdev FROM inode WHERE name = 'tty300'", [], |r| {
        r.get(0)
    })?;
    assert_eq!(rdev, 1_049_644);
    Ok(())
}
