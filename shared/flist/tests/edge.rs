//! Edge cases: chunk boundaries, deep paths, wide directories, large trees, atomic writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use hub_flist::chunk::{self, CHUNK_SIZE};
use hub_flist::{
    Attr, BlockRef, Flist, FlistError, Format, Hash, NodeKind, Tree, read_bytes, read_file,
    write_bytes, write_file,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FORMATS: [Format; 2] = [Format::Flist, Format::Fl];

/// Content of a test file: varied bytes so that chunks differ.
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect()
}

#[test]
fn chunk_boundaries_survive_the_whole_pipeline() -> TestResult {
    let sizes = [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        5 * CHUNK_SIZE + 3,
    ];
    for format in FORMATS {
        let mut store: HashMap<Hash, Vec<u8>> = HashMap::new();
        let mut flist = Flist::new(format);
        let root = flist.tree.root();
        for size in sizes {
            let data = content(size);
            let blocks: Vec<BlockRef> = data
                .chunks(CHUNK_SIZE)
                .map(|c| {
                    let e = chunk::encode(format, c);
                    let r = e.block_ref();
                    store.insert(e.id, e.data);
                    r
                })
                .collect();
            assert_eq!(blocks.len() as u64, chunk::chunk_count(size as u64));
            let kind = NodeKind::File {
                size: size as u64,
                blocks: Arc::from(blocks),
            };
            flist
                .tree
                .insert(root, format!("f{size}"), Attr::with_mode(0o644), kind)?;
        }
        let back = read_bytes(&write_bytes(&flist)?)?;
        for size in sizes {
            let id = back
                .tree
                .lookup(&format!("f{size}"))
                .ok_or(FlistError::MissingRoot)?;
            let NodeKind::File {
                size: stored,
                blocks,
            } = &back.tree.node(id).kind
            else {
                panic!("not a file");
            };
            assert_eq!(*stored, size as u64);
            let mut out = Vec::with_capacity(size);
            for b in blocks.iter() {
                let encrypted = store.get(&b.id).map(Vec::as_slice).unwrap_or_default();
                out.extend(
                    chunk::decode(format, b, encrypted)
                        .map_err(|e| FlistError::Unwritable(e.to_string()))?,
                );
            }
            assert!(out == content(size), "{format} file of {size} bytes");
        }
    }
    Ok(())
}

#[test]
fn deep_paths() -> TestResult {
    for format in FORMATS {
        let mut flist = Flist::new(format);
        let mut dir = flist.tree.root();
        // 400 levels of 30-byte names: 12,400-byte paths, well past PATH_MAX.
        for i in 0..400 {
            dir = flist.tree.insert(
                dir,
                format!("level-{i:04}-abcdefghijklmnopqrs"),
                Attr::default_dir(),
                NodeKind::dir(),
            )?;
        }
        flist
            .tree
            .insert(dir, "leaf".into(), Attr::with_mode(0o600), NodeKind::Fifo)?;
        let back = read_bytes(&write_bytes(&flist)?)?;
        assert_eq!(back.tree.stats().directory, 400);
        let leaf = back
            .tree
            .walk()
            .last()
            .map(|id| back.tree.path(id))
            .unwrap_or_default();
        assert_eq!(leaf.len(), 400 * 31 + "/leaf".len(), "{format}");
        assert!(back.tree.lookup(&leaf).is_some());
    }
    Ok(())
}

#[test]
fn ten_thousand_entries_in_one_directory() -> TestResult {
    for format in FORMATS {
        let mut flist = Flist::new(format);
        let root = flist.tree.root();
        for i in 0..10_000 {
            let kind = if i % 10 == 0 {
                NodeKind::dir()
            } else {
                NodeKind::Symlink {
                    target: format!("target-{i}"),
                }
            };
            flist
                .tree
                .insert(root, format!("entry-{i:05}"), Attr::with_mode(0o755), kind)?;
        }
        let back = read_bytes(&write_bytes(&flist)?)?;
        let stats = back.tree.stats();
        assert_eq!((stats.directory, stats.symlink), (1_000, 9_000), "{format}");
        // `.flist` order: the 1,000 directories first.
        let first: Vec<String> = back
            .tree
            .children(back.tree.root())
            .take(2)
            .map(|c| back.tree.node(c).name.clone())
            .collect();
        assert_eq!(first, ["entry-00000", "entry-00010"]);
    }
    Ok(())
}

/// A realistic tree of `n` entries: directories of 20 files, 2 blocks per file.
fn big_tree(format: Format, n: usize) -> Result<Tree, Box<dyn std::error::Error>> {
    let mut tree = Tree::new(Attr::default_dir());
    let n_hash = format.hash_len();
    let hash = |i: usize, salt: u8| {
        let mut b = vec![salt; n_hash];
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        Hash::new(&b)
    };
    let mut dir = tree.root();
    for i in 0..n {
        if i % 21 == 0 {
            let parent = if i % (21 * 50) == 0 {
                tree.root()
            } else {
                tree.node(dir).parent().unwrap_or(tree.root())
            };
            dir = tree.insert(
                parent,
                format!("dir-{i}"),
                Attr::default_dir(),
                NodeKind::dir(),
            )?;
            continue;
        }
        let blocks: Arc<[BlockRef]> = Arc::from(vec![
            BlockRef {
                id: hash(i, 1)?,
                key: hash(i, 2)?,
            },
            BlockRef {
                id: hash(i, 3)?,
                key: hash(i, 4)?,
            },
        ]);
        let attr = Attr {
            mode: 0o644,
            uid: (i % 3) as u32,
            gid: 0,
            mtime: i as i64,
            ctime: i as i64,
            ..Attr::default()
        };
        tree.insert(
            dir,
            format!("file-{i}.txt"),
            attr,
            NodeKind::File {
                size: 600_000,
                blocks,
            },
        )?;
    }
    Ok(tree)
}

#[test]
fn hundred_thousand_entries() -> TestResult {
    for format in FORMATS {
        let flist = Flist {
            format,
            tree: big_tree(format, 100_000)?,
            meta: Default::default(),
        };
        assert_eq!(flist.tree.len(), 100_001);
        let start = Instant::now();
        let bytes = write_bytes(&flist)?;
        let write = start.elapsed();
        let start = Instant::now();
        let back = read_bytes(&bytes)?;
        let read = start.elapsed();
        println!(
            "{format}: 100k entries, {} bytes, write {write:?}, read {read:?}",
            bytes.len()
        );
        assert_eq!(back.tree.stats(), flist.tree.stats());
        // Generous bound for the unoptimised dependencies of the test profile on a shared
        // 2-core machine; release figures are in `benches/flist.rs`.
        assert!(write.as_secs_f64() < 5.0, "{format} write took {write:?}");
    }
    Ok(())
}

#[test]
fn write_file_is_atomic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("x.fl");
    let mut flist = Flist::new(Format::Fl);
    write_file(&flist, &path)?;
    let root = flist.tree.root();
    flist
        .tree
        .insert(root, "etc".into(), Attr::default_dir(), NodeKind::dir())?;
    write_file(&flist, &path)?; // replaces the previous file
    assert_eq!(read_file(&path)?, flist);
    let names: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["x.fl"], "no temporary file left behind");

    // A tree the format cannot hold fails before anything is written.
    let mut bad = Flist::new(Format::Fl);
    let blocks: Arc<[BlockRef]> = Arc::from(vec![BlockRef {
        id: Hash::new(&[0; 16])?,
        key: Hash::new(&[0; 16])?,
    }]);
    let root = bad.tree.root();
    bad.tree.insert(
        root,
        "f".into(),
        Attr::default(),
        NodeKind::File { size: 1, blocks },
    )?;
    let target = dir.path().join("bad.fl");
    assert!(matches!(
        write_file(&bad, &target),
        Err(FlistError::BadHashLength { .. })
    ));
    assert!(!target.exists());
    assert!(write_file(&flist, &dir.path().join("missing/dir/x.fl")).is_err());
    let names: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["x.fl"]);
    Ok(())
}
