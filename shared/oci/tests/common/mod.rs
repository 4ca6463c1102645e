//! Shared set-up of the hub-oci integration tests: the test registries and podman from the
//! environment (`./hub test` starts them), and tree snapshots for comparisons. Test images are
//! built and pushed with hub-testkit's `registry`.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_convert::{ConvertOptions, TreeBuilder};
use hub_flist::{Format, Metadata, NodeKind, Tree};
use hub_store::SharedStore;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A service address from the environment: `None` (skip) when unset; when set, the service
/// must answer, or the test fails loudly.
pub fn service(var: &str) -> Option<String> {
    hub_testkit::optional_service(var).unwrap_or_else(|err| panic!("{err}"))
}

/// The open test registry, or `None` to skip.
pub fn registry() -> Option<String> {
    let r = service("HUB_TEST_REGISTRY");
    if r.is_none() {
        eprintln!("HUB_TEST_REGISTRY is unset: skipping (./hub test sets it)");
    }
    r
}

/// The htpasswd registry with its user and password, or `None` to skip.
pub fn auth_registry() -> Option<(String, String, String)> {
    let r = service("HUB_TEST_AUTH_REGISTRY")?;
    let user = std::env::var("HUB_TEST_AUTH_REGISTRY_USER").unwrap_or_default();
    let pass = std::env::var("HUB_TEST_AUTH_REGISTRY_PASS").unwrap_or_default();
    Some((r, user, pass))
}

/// What a comparison looks at for one entry: kind, mode, owner and link target or content
/// (block ids: equal ids mean equal bytes, blocks being content-addressed).
pub type Snapshot = BTreeMap<String, String>;

/// Every entry except the root (whose attributes depend on the tool that made the tar).
pub fn snapshot(tree: &Tree) -> Snapshot {
    let mut out = BTreeMap::new();
    for (entry, id) in tree.dump().into_iter().zip(tree.walk()) {
        let node = tree.node(id);
        let a = &node.attr;
        let what = match &node.kind {
            NodeKind::Dir { .. } => "dir".to_owned(),
            NodeKind::File { size, blocks } => {
                let ids: Vec<String> = blocks.iter().map(|b| b.id.to_hex()).collect();
                format!("file {size} [{}]", ids.join(","))
            }
            NodeKind::Symlink { target } => format!("symlink -> {target}"),
            NodeKind::CharDevice { major, minor } => format!("char {major}:{minor}"),
            NodeKind::BlockDevice { major, minor } => format!("block {major}:{minor}"),
            NodeKind::Fifo => "fifo".into(),
            NodeKind::Socket => "socket".into(),
        };
        let mode = if matches!(node.kind, NodeKind::Symlink { .. }) {
            0o777 // link permissions mean nothing and tools disagree on them
        } else {
            a.mode
        };
        out.insert(
            entry.path,
            format!("{what} mode={mode:o} uid={} gid={}", a.uid, a.gid),
        );
    }
    out
}

/// Converts a plain tar (an export) with the same store and options, for comparisons.
pub async fn tree_of_tar(
    tar_path: &Path,
    store: SharedStore,
    format: Format,
) -> Result<Tree, BoxError> {
    let file = tokio::fs::File::open(tar_path).await?;
    let mut builder = TreeBuilder::new(store, &ConvertOptions::new(format));
    builder.apply_layer(file, false).await?;
    Ok(builder.finish(Metadata::default()).await?.flist.tree)
}

/// Files a runtime adds to a container's filesystem, not part of the image.
pub const RUNTIME_STUBS: &[&str] = &[
    "/.dockerenv",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev/console",
    "/run/.containerenv",
];

/// Removes runtime stubs (and directories a runtime creates that the image lacks).
pub fn without_stubs(mut snap: Snapshot, reference: &Snapshot) -> Snapshot {
    snap.retain(|path, what| {
        if RUNTIME_STUBS.contains(&path.as_str()) {
            return false;
        }
        // Mount points such as /dev, /proc, /sys, /run, /etc: keep only if the image has them.
        !(what.starts_with("dir ")
            && !reference.contains_key(path)
            && ["/dev", "/proc", "/sys", "/run", "/etc", "/tmp"].contains(&path.as_str()))
    });
    snap
}

/// The podman CLI on the test service's store (`HUB_TEST_PODMAN_ROOT`), or `None` to skip.
pub fn podman() -> Option<Podman> {
    let root = std::env::var("HUB_TEST_PODMAN_ROOT")
        .ok()
        .filter(|v| !v.is_empty())?;
    Some(Podman {
        root: PathBuf::from(root),
    })
}

pub struct Podman {
    root: PathBuf,
}

impl Podman {
    async fn run(&self, args: &[&str]) -> Result<String, BoxError> {
        let out = tokio::process::Command::new("podman")
            .arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(args)
            .output()
            .await?;
        if !out.status.success() {
            return Err(format!(
                "podman {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `podman create` + `podman export` of `image` into `out` (then the container and the
    /// image are removed).
    pub async fn export(&self, image: &str, platform: &str, out: &Path) -> Result<(), BoxError> {
        let id = self
            .run(&[
                "create",
                "--tls-verify=false",
                "--platform",
                platform,
                image,
                "/bin/sh",
            ])
            .await?;
        let out_text = out.to_string_lossy().into_owned();
        let exported = self.run(&["export", "-o", &out_text, &id]).await;
        self.run(&["rm", "-f", &id]).await?;
        let _ = self.run(&["rmi", "-f", image]).await;
        exported.map(drop)
    }
}

/// A store plus conversions share: `Arc` shorthand.
pub fn arc<T>(t: T) -> Arc<T> {
    Arc::new(t)
}
