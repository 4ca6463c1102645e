//! Property tests: random trees written and read back are identical, in both formats.

use std::sync::Arc;

use hub_flist::{
    Attr, BlockRef, Flist, Format, Hash, Metadata, NodeId, NodeKind, Route, Tree, chunk,
    read_bytes, write_bytes,
};
use proptest::prelude::*;

/// What to add to the tree.
#[derive(Debug, Clone)]
enum Entry {
    Dir { size: u64 },
    File { size: u64, seed: u8 },
    HardLink { pick: usize },
    Symlink { target: String },
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
    Socket,
}

/// One insertion: into the `parent`-th directory created so far.
#[derive(Debug, Clone)]
struct Op {
    parent: usize,
    name: String,
    attr: Attr,
    entry: Entry,
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.\\-\n\u{e9}\u{4e2d}\u{1f600}]{1,16}"
        .prop_filter("reserved", |n| n != "." && n != "..")
}

fn attr(format: Format) -> impl Strategy<Value = Attr> {
    // `.flist` stores times as u32 (A.4.4); `.fl` as i64.
    let time = match format {
        Format::Flist => (0..=i64::from(u32::MAX)).boxed(),
        Format::Fl => any::<i64>().boxed(),
    };
    let owner = proptest::option::of("[a-z][a-z0-9-]{0,11}");
    (
        0u32..=0o7777,
        any::<u32>(),
        any::<u32>(),
        owner.clone(),
        owner,
        time.clone(),
        time,
    )
        .prop_map(|(mode, uid, gid, uname, gname, mtime, ctime)| Attr {
            mode,
            uid,
            gid,
            uname,
            gname,
            mtime,
            ctime,
            acl_key: None,
        })
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        3 => (0u64..1 << 40).prop_map(|size| Entry::Dir { size }),
        4 => (0u64..3 * chunk::CHUNK_SIZE as u64, any::<u8>()).prop_map(|(size, seed)| Entry::File { size, seed }),
        1 => any::<usize>().prop_map(|pick| Entry::HardLink { pick }),
        2 => "[^\u{0}]{0,40}".prop_map(|target| Entry::Symlink { target }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| Entry::Char { major, minor }),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| Entry::Block { major, minor }),
        1 => Just(Entry::Fifo),
        1 => Just(Entry::Socket),
    ]
}

fn op(format: Format) -> impl Strategy<Value = Op> {
    (any::<usize>(), name(), attr(format), entry()).prop_map(|(parent, name, attr, entry)| Op {
        parent,
        name,
        attr,
        entry,
    })
}

fn blocks(format: Format, size: u64, seed: u8) -> Arc<[BlockRef]> {
    let n = format.hash_len();
    (0..chunk::chunk_count(size))
        .map(|i| {
            let bytes: Vec<u8> = (0..n).map(|j| seed ^ (i as u8) ^ (j as u8)).collect();
            let id = Hash::new(&bytes).unwrap_or_else(|e| panic!("{e}"));
            let key = Hash::new(&bytes.iter().map(|b| !b).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{e}"));
            BlockRef { id, key }
        })
        .collect()
}

fn build(format: Format, root: Attr, ops: Vec<Op>) -> Tree {
    let mut tree = Tree::new(root);
    let mut dirs: Vec<NodeId> = vec![tree.root()];
    let mut files: Vec<(u64, Arc<[BlockRef]>)> = Vec::new();
    for op in ops {
        // Directories may have been replaced by later entries: skip dead ones.
        dirs.retain(|d| tree.get(*d).is_some_and(|n| n.kind.is_dir()));
        let parent = dirs[op.parent % dirs.len()];
        let kind = match op.entry {
            Entry::Dir { size } => NodeKind::Dir {
                children: Default::default(),
                size,
            },
            Entry::File { size, seed } => {
                let b = blocks(format, size, seed);
                files.push((size, b.clone()));
                NodeKind::File { size, blocks: b }
            }
            Entry::HardLink { pick } if !files.is_empty() => {
                let (size, blocks) = files[pick % files.len()].clone();
                NodeKind::File { size, blocks }
            }
            Entry::HardLink { .. } => NodeKind::Fifo,
            Entry::Symlink { target } => NodeKind::Symlink { target },
            Entry::Char { major, minor } => NodeKind::CharDevice { major, minor },
            Entry::Block { major, minor } => NodeKind::BlockDevice { major, minor },
            Entry::Fifo => NodeKind::Fifo,
            Entry::Socket => NodeKind::Socket,
        };
        let is_dir = kind.is_dir();
        let id = tree
            .insert(parent, op.name, op.attr, kind)
            .unwrap_or_else(|e| panic!("{e}"));
        if is_dir {
            dirs.push(id);
        }
    }
    tree
}

/// What reading gives back for attributes that a format does not store as given: `.flist`
/// names default to the decimal ids and keys are filled in; `.fl` keeps no names.
fn as_stored(format: Format, tree: &mut Tree) {
    let ids: Vec<NodeId> = std::iter::once(tree.root()).chain(tree.walk()).collect();
    for id in ids {
        let attr = &mut tree.node_mut(id).attr;
        attr.acl_key = None;
        match format {
            Format::Flist => {
                attr.uname = Some(attr.uname.take().unwrap_or_else(|| attr.uid.to_string()));
                attr.gname = Some(attr.gname.take().unwrap_or_else(|| attr.gid.to_string()));
            }
            Format::Fl => {
                attr.uname = None;
                attr.gname = None;
            }
        }
    }
}

fn meta(format: Format) -> impl Strategy<Value = Metadata> {
    let values = proptest::collection::btree_map("[a-z]{1,10}", "\\PC{0,30}", 0..4);
    let routes = match format {
        Format::Flist => Just(Vec::new()).boxed(),
        Format::Fl => proptest::collection::vec(
            (any::<u8>(), any::<u8>(), "zdb://[a-z]{1,8}:9900")
                .prop_map(|(start, end, url)| Route { start, end, url }),
            0..3,
        )
        .boxed(),
    };
    (values, routes).prop_map(|(values, routes)| Metadata { values, routes })
}

fn flist(format: Format) -> impl Strategy<Value = Flist> {
    let root = attr(format);
    (
        root,
        proptest::collection::vec(op(format), 0..60),
        meta(format),
    )
        .prop_map(move |(root, ops, meta)| Flist {
            format,
            tree: build(format, root, ops),
            meta,
        })
}

fn round_trip(original: Flist) -> Result<(), TestCaseError> {
    let bytes = write_bytes(&original).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut back = read_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut expected = original;
    as_stored(expected.format, &mut expected.tree);
    as_stored(back.format, &mut back.tree);
    prop_assert_eq!(&back.tree.dump(), &expected.tree.dump());
    prop_assert_eq!(back.tree.stats(), expected.tree.stats());
    prop_assert!(back == expected, "trees differ");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn flist_round_trip(f in flist(Format::Flist)) {
        round_trip(f)?;
    }

    #[test]
    fn fl_round_trip(f in flist(Format::Fl)) {
        round_trip(f)?;
    }
}

#[test]
fn fl_writing_is_deterministic() -> Result<(), hub_flist::FlistError> {
    let mut f = Flist::new(Format::Fl);
    let root = f.tree.root();
    f.tree
        .insert(root, "a".into(), Attr::default(), NodeKind::Fifo)?;
    assert_eq!(write_bytes(&f)?, write_bytes(&f)?);
    Ok(())
}
