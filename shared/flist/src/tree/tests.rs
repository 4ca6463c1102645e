use std::sync::Arc;

use super::*;
use crate::{BlockRef, Hash};

fn file(size: u64) -> NodeKind {
    NodeKind::File {
        size,
        blocks: Arc::from(Vec::<BlockRef>::new()),
    }
}

fn sample() -> Result<Tree, TreeError> {
    let mut t = Tree::new(Attr::default_dir());
    let root = t.root();
    let etc = t.insert(root, "etc".into(), Attr::default_dir(), NodeKind::dir())?;
    t.insert(etc, "hostname".into(), Attr::with_mode(0o644), file(7))?;
    t.insert(root, "bin".into(), Attr::default_dir(), NodeKind::dir())?;
    t.insert(root, "a-file".into(), Attr::with_mode(0o644), file(3))?;
    t.insert(
        root,
        "z-link".into(),
        Attr::with_mode(0o777),
        NodeKind::Symlink {
            target: "etc/hostname".into(),
        },
    )?;
    t.insert(root, "Z-upper".into(), Attr::default(), NodeKind::Fifo)?;
    Ok(t)
}

#[test]
fn lookup_and_paths() -> Result<(), TreeError> {
    let t = sample()?;
    let host = t.lookup("etc/hostname");
    assert!(host.is_some());
    assert_eq!(t.lookup("/etc/hostname/"), host);
    assert_eq!(t.lookup("//etc//hostname"), host);
    assert_eq!(t.lookup(""), Some(t.root()));
    assert_eq!(t.lookup("/"), Some(t.root()));
    assert_eq!(t.lookup("etc/missing"), None);
    assert_eq!(t.lookup("a-file/x"), None);
    assert_eq!(host.map(|h| t.path(h)).as_deref(), Some("/etc/hostname"));
    assert_eq!(t.path(t.root()), "/");
    assert_eq!(t.len(), 7);
    Ok(())
}

#[test]
fn children_order_is_dirs_first_then_bytewise() -> Result<(), TreeError> {
    let t = sample()?;
    let names: Vec<&str> = t
        .children(t.root())
        .map(|c| t.node(c).name.as_str())
        .collect();
    assert_eq!(names, ["bin", "etc", "Z-upper", "a-file", "z-link"]);
    let walk: Vec<String> = t.walk().map(|id| t.path(id)).collect();
    assert_eq!(
        walk,
        [
            "/bin",
            "/etc",
            "/etc/hostname",
            "/Z-upper",
            "/a-file",
            "/z-link"
        ]
    );
    Ok(())
}

#[test]
fn insert_validates_names() -> Result<(), TreeError> {
    let mut t = sample()?;
    let root = t.root();
    for bad in ["", ".", "..", "a/b", "nul\0"] {
        assert!(
            matches!(
                t.insert(root, bad.into(), Attr::default(), NodeKind::Fifo),
                Err(TreeError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    for good in ["with space", "ünïcødé", "new\nline", "...", ".hidden"] {
        t.insert(root, good.into(), Attr::default(), NodeKind::Fifo)?;
    }
    let file = t.lookup("a-file").ok_or(TreeError::Full)?;
    assert!(matches!(
        t.insert(file, "x".into(), Attr::default(), NodeKind::Fifo),
        Err(TreeError::NotADirectory { .. })
    ));
    Ok(())
}

#[test]
fn replacing_entries() -> Result<(), TreeError> {
    let mut t = sample()?;
    let root = t.root();
    let before = t.len();
    // A file over a directory drops the directory's subtree.
    let etc = t.lookup("etc").ok_or(TreeError::Full)?;
    t.insert(root, "etc".into(), Attr::default(), file(1))?;
    assert_eq!(t.len(), before - 1);
    assert!(t.get(etc).is_none());
    assert_eq!(t.lookup("etc/hostname"), None);
    // A directory over a directory keeps the children and takes the new attributes.
    let bin = t.lookup("bin").ok_or(TreeError::Full)?;
    t.insert(bin, "sh".into(), Attr::default(), file(9))?;
    let again = t.insert(
        root,
        "bin".into(),
        Attr::with_mode(0o700),
        NodeKind::Dir {
            children: Children::default(),
            size: 8192,
        },
    )?;
    assert_eq!(again, bin);
    assert!(t.lookup("bin/sh").is_some());
    assert_eq!(t.node(bin).attr.mode, 0o700);
    assert_eq!(t.node(bin).kind.size(), 8192);
    // A directory over a file replaces the file.
    let f = t.lookup("a-file").ok_or(TreeError::Full)?;
    let d = t.insert(root, "a-file".into(), Attr::default_dir(), NodeKind::dir())?;
    assert_ne!(f, d);
    assert!(t.node(d).kind.is_dir());
    Ok(())
}

#[test]
fn remove_drops_subtree() -> Result<(), TreeError> {
    let mut t = sample()?;
    let root = t.root();
    assert!(t.remove(root, "etc").is_some());
    assert_eq!(t.len(), 5);
    assert_eq!(t.remove(root, "etc"), None);
    assert_eq!(t.lookup("etc/hostname"), None);
    assert_eq!(t.walk().count(), 4);
    Ok(())
}

#[test]
fn mkdir_all_creates_missing_dirs() -> Result<(), TreeError> {
    let mut t = sample()?;
    let d = t.mkdir_all("/usr/local/bin/", &Attr::default_dir())?;
    assert_eq!(t.path(d), "/usr/local/bin");
    assert_eq!(
        t.mkdir_all("usr/local", &Attr::with_mode(0o700))?,
        t.lookup("usr/local").ok_or(TreeError::Full)?
    );
    assert_eq!(
        t.node(t.lookup("usr/local").ok_or(TreeError::Full)?)
            .attr
            .mode,
        0o755
    );
    assert!(matches!(
        t.mkdir_all("a-file/x", &Attr::default_dir()),
        Err(TreeError::NotADirectory { .. })
    ));
    Ok(())
}

#[test]
fn stats_and_dump() -> Result<(), TreeError> {
    let mut t = sample()?;
    let blocks: Arc<[BlockRef]> = Arc::from(vec![
        BlockRef {
            id: Hash::blake2b(16, b"1"),
            key: Hash::blake2b(16, b"2"),
        };
        2
    ]);
    let root = t.root();
    let kind = NodeKind::File {
        size: 600_000,
        blocks: blocks.clone(),
    };
    t.insert(root, "big".into(), Attr::default(), kind.clone())?;
    // A hard link: the same block list under another name.
    t.insert(root, "big-link".into(), Attr::default(), kind)?;
    let s = t.stats();
    assert_eq!(
        s,
        Stats {
            regular: 4,
            symlink: 1,
            directory: 2,
            special: 1,
            fullsize: 1_200_010,
            blocks: 4,
        }
    );
    let dump = t.dump();
    let expected = [
        ("/bin", 4096),
        ("/etc", 4096),
        ("/etc/hostname", 7),
        ("/Z-upper", 0),
        ("/a-file", 3),
        ("/big", 600_000),
        ("/big-link", 600_000),
        ("/z-link", 12),
    ];
    let got: Vec<(&str, u64)> = dump.iter().map(|e| (e.path.as_str(), e.size)).collect();
    assert_eq!(got, expected);
    assert_eq!(
        serde_json::to_string(&dump[0]).unwrap_or_default(),
        r#"{"size":4096,"path":"/bin"}"#
    );
    Ok(())
}

#[test]
fn structural_equality_ignores_ids() -> Result<(), TreeError> {
    let a = sample()?;
    let mut b = Tree::new(Attr::default_dir());
    let root = b.root();
    // Same content, different insertion order and history.
    b.insert(root, "junk".into(), Attr::default(), NodeKind::Socket)?;
    b.insert(root, "Z-upper".into(), Attr::default(), NodeKind::Fifo)?;
    b.insert(
        root,
        "z-link".into(),
        Attr::with_mode(0o777),
        NodeKind::Symlink {
            target: "etc/hostname".into(),
        },
    )?;
    b.insert(root, "a-file".into(), Attr::with_mode(0o644), file(3))?;
    b.insert(root, "bin".into(), Attr::default_dir(), NodeKind::dir())?;
    let etc = b.insert(root, "etc".into(), Attr::default_dir(), NodeKind::dir())?;
    b.insert(etc, "hostname".into(), Attr::with_mode(0o644), file(7))?;
    assert_ne!(a, b);
    b.remove(root, "junk");
    assert_eq!(a, b);
    b.node_mut(etc).attr.uid = 5;
    assert_ne!(a, b);
    Ok(())
}

#[test]
fn deep_paths_do_not_recurse() -> Result<(), TreeError> {
    let mut t = Tree::new(Attr::default_dir());
    let mut dir = t.root();
    for _ in 0..20_000 {
        dir = t.insert(dir, "d".into(), Attr::default_dir(), NodeKind::dir())?;
    }
    assert_eq!(t.walk().count(), 20_000);
    assert_eq!(t.dump().last().map(|e| e.path.len()), Some(40_000));
    let copy = t.clone();
    assert_eq!(t, copy);
    t.remove(t.root(), "d");
    assert_eq!(t.len(), 1);
    Ok(())
}

#[test]
fn detach_and_attach_move_a_subtree_between_trees() -> Result<(), TreeError> {
    let mut src = sample()?;
    let etc = src.lookup("etc").ok_or(TreeError::Full)?;
    src.insert(etc, "sub".into(), Attr::default_dir(), NodeKind::dir())?;
    let sub = src.lookup("etc/sub").ok_or(TreeError::Full)?;
    src.insert(sub, "deep".into(), Attr::with_mode(0o600), file(9))?;
    let before = src.len();
    let expected = src.clone();

    let moved = src.detach(etc).ok_or(TreeError::Full)?;
    assert_eq!(moved.len(), 4, "etc, hostname, sub, deep");
    assert_eq!(src.len(), before - 4);
    assert_eq!(src.lookup("etc"), None);
    assert_eq!(src.lookup("etc/hostname"), None);
    assert!(src.get(etc).is_none(), "the old id is dead, not reused");
    assert!(src.detach(src.root()).is_none(), "the root stays");

    let mut dst = Tree::new(Attr::default_dir());
    let root = dst.root();
    dst.insert(root, "x".into(), Attr::default(), file(1))?;
    let top = dst.attach(root, moved)?;
    assert_eq!(dst.path(top), "/etc");
    assert_eq!(dst.len(), 6);
    let deep = dst.lookup("etc/sub/deep").ok_or(TreeError::Full)?;
    assert_eq!(dst.path(deep), "/etc/sub/deep");
    assert_eq!(dst.node(deep).kind.size(), 9);
    assert_eq!(dst.node(deep).attr.mode, 0o600);

    // Moving it back gives the original tree.
    let back = dst.detach(top).ok_or(TreeError::Full)?;
    let root = src.root();
    src.attach(root, back)?;
    assert_eq!(src, expected);
    assert_eq!(src.len(), before);
    Ok(())
}

#[test]
fn attach_replaces_an_entry_of_the_same_name() -> Result<(), TreeError> {
    let mut src = sample()?;
    let file_id = src.lookup("a-file").ok_or(TreeError::Full)?;
    let moved = src.detach(file_id).ok_or(TreeError::Full)?;
    let mut dst = sample()?;
    let root = dst.root();
    let etc = dst.lookup("etc").ok_or(TreeError::Full)?;
    dst.insert(etc, "a-file".into(), Attr::default_dir(), NodeKind::dir())?;
    let len = dst.len();
    let id = dst.attach(etc, moved)?;
    assert_eq!(dst.lookup("etc/a-file"), Some(id));
    assert_eq!(dst.node(id).kind.size(), 3);
    assert_eq!(dst.len(), len);
    let hostname = dst.lookup("etc/hostname").ok_or(TreeError::Full)?;
    let moved = dst.detach(hostname).ok_or(TreeError::Full)?;
    assert!(matches!(
        dst.attach(id, moved),
        Err(TreeError::NotADirectory { .. })
    ));
    assert!(dst.lookup("etc").is_some() && dst.child(root, "etc").is_some());
    Ok(())
}
