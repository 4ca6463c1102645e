//! Property test: random small trees written to a tar, converted, unpacked, equal.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{convert, opts, write_read_unpack};
use hub_flist::Format;
use hub_testkit::{TarBuilder, dir_store, gzip, noise, snapshot};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Spec {
    File { mode: u32, data: Vec<u8> },
    Dir { mode: u32 },
    Symlink { target: String },
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        4 => (prop::sample::select(vec![0o644u32, 0o600, 0o755, 0o4755, 0o400]),
              prop_oneof![
                  prop::collection::vec(any::<u8>(), 0..2000),
                  // Now and then a file spanning two blocks.
                  (1usize..3).prop_map(|n| vec![n as u8; 524_288 + n]),
              ])
            .prop_map(|(mode, data)| Spec::File { mode, data }),
        2 => prop::sample::select(vec![0o755u32, 0o700, 0o1777, 0o750])
            .prop_map(|mode| Spec::Dir { mode }),
        1 => link_target().prop_map(|target| Spec::Symlink { target }),
    ]
}

/// Symbolic link targets in the canonical form tar writers keep (the `tar` crate drops `.`
/// components and repeated slashes when writing link names).
fn link_target() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(vec!["..", "a", "bc", "x.y"]), 1..4),
    )
        .prop_map(|(absolute, parts)| {
            let joined = parts.join("/");
            if absolute {
                format!("/{joined}")
            } else {
                joined
            }
        })
}

/// Paths of up to three components over a small alphabet, so that they collide and nest.
fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[abc]{1,2}", 1..4).prop_map(|parts| parts.join("/"))
}

/// Writes what can be written: a path under an existing non-directory is skipped.
fn materialise(root: &Path, entries: &[(String, Spec)]) {
    for (path, spec) in entries {
        let full = root.join(path);
        if full.symlink_metadata().is_ok() {
            continue;
        }
        let Some(parent) = full.parent() else {
            continue;
        };
        if std::fs::create_dir_all(parent).is_err() {
            continue; // a file is in the way
        }
        match spec {
            Spec::File { mode, data } => {
                std::fs::write(&full, data).expect("write");
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(*mode))
                    .expect("chmod");
            }
            Spec::Dir { .. } => std::fs::create_dir(&full).expect("mkdir"),
            Spec::Symlink { target } => std::os::unix::fs::symlink(target, &full).expect("symlink"),
        }
    }
    // Directory modes last, so that read-only ones do not block their children.
    for (path, spec) in entries {
        if let Spec::Dir { mode } = spec {
            let full = root.join(path);
            if full.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false) {
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(*mode))
                    .expect("chmod dir");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(
        entries in prop::collection::vec((path(), spec()), 0..24),
        fl in any::<bool>(),
    ) {
        let src = tempfile::tempdir().expect("tempdir");
        materialise(src.path(), &entries);
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", src.path()).expect("tar");
        let tar = b.into_inner().expect("tar");
        let format = if fl { Format::Fl } else { Format::Flist };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (expected, got) = rt.block_on(async {
            let (_s, store) = dir_store().await.expect("dir store");
            let conv = convert(gzip(&tar).expect("gzip"), &store, &opts(format))
                .await
                .expect("convert");
            let out = write_read_unpack(&conv.flist, &store).await;
            (snapshot(src.path()).expect("snapshot"), snapshot(out.path()).expect("snapshot"))
        });
        prop_assert_eq!(got, expected);
    }
}

/// A small valid archive to mutate.
fn seed_archive() -> Vec<u8> {
    TarBuilder::new()
        .dir("d", 0o755)
        .file("d/a", 0o644, b"hello world\n")
        .symlink("d/l", "a")
        .hardlink("h", "d/a", 0o644)
        .file("big", 0o600, &noise(600_000, 3))
        .finish()
        .expect("tar")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Corrupted archives (bytes flipped anywhere, in every container) convert or fail with
    /// an error; they never panic or hang.
    #[test]
    fn corrupted_archives_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
        container in 0usize..5,
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let (_, compress) = common::compressions()[container];
        let mut bytes = compress(&seed_archive());
        for (at, mask) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let outcome = rt.block_on(async {
            let (_s, store) = dir_store().await.expect("dir store");
            tokio::time::timeout(
                std::time::Duration::from_secs(30),
                convert(bytes, &store, &opts(Format::Fl)),
            )
            .await
        });
        match outcome {
            Err(_) => prop_assert!(false, "conversion hung"),
            // A panic in a worker would surface as an internal error.
            Ok(Err(e)) => prop_assert_ne!(e.code(), "internal", "{}", e),
            Ok(Ok(_)) => {}
        }
    }
}
