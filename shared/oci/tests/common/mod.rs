//! Shared set-up of the hub-oci integration tests: the test registries and podman from the
//! environment (`./hub test` starts them), test images assembled in Rust and pushed with
//! oci-client, and tree snapshots for comparisons.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hub_convert::{ConvertOptions, TreeBuilder};
use hub_flist::{Format, Metadata, NodeKind, Tree};
use hub_store::SharedStore;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use rand::Rng as _;
use sha2::{Digest, Sha256};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// A service address from the environment: `None` (skip) when unset; when set, the service
/// must answer, or the test fails loudly.
pub fn service(var: &str) -> Option<String> {
    let value = std::env::var(var).ok().filter(|v| !v.is_empty())?;
    let addr = value.trim_start_matches("unix://");
    let reachable = if value.starts_with("unix://") {
        std::os::unix::net::UnixStream::connect(addr).is_ok()
    } else {
        std::net::TcpStream::connect(addr).is_ok()
    };
    assert!(reachable, "{var}={value} is set but nothing answers there");
    Some(value)
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

/// A unique repository name, so tests run in parallel and re-runs never collide.
pub fn unique_repo(name: &str) -> String {
    let n: u32 = rand::rng().random();
    format!("hubtest/{name}-{n:08x}")
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A tar layer built entry by entry, with explicit owners and modes.
pub struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    pub fn new() -> Self {
        LayerTar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(mut self, path: &str, mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, mode, uid, gid, 0);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        self
    }

    pub fn file(mut self, path: &str, mode: u32, uid: u64, gid: u64, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, uid, gid, data.len() as u64);
        self.builder
            .append_data(&mut h, path, data)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        self.builder
            .append_link(&mut h, path, target)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        self
    }

    /// A hard link. Image writers give it the target's attributes (runtimes apply them to
    /// the shared inode), so the caller passes them too.
    pub fn hardlink(mut self, path: &str, target: &str, mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(tar::EntryType::Link, mode, uid, gid, 0);
        self.builder
            .append_link(&mut h, path, target)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        self
    }

    /// An OCI whiteout hiding `path` of lower layers.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, 0o644, 0, 0, b"")
    }

    /// Marks directory `dir` opaque: its lower-layer content disappears.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), 0o644, 0, 0, b"")
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder
            .into_inner()
            .unwrap_or_else(|e| panic!("tar: {e}"))
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap_or_else(|e| panic!("gzip: {e}"));
    enc.finish().unwrap_or_else(|e| panic!("gzip: {e}"))
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap_or_else(|e| panic!("zstd: {e}"))
}

/// One layer blob with its media type and the digest of its uncompressed tar.
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub diff_id: String,
}

impl Layer {
    pub fn gzip(tar: &[u8]) -> Self {
        Layer {
            blob: gzip(tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            diff_id: sha256(tar),
        }
    }

    pub fn zstd(tar: &[u8]) -> Self {
        Layer {
            blob: zstd(tar),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            diff_id: sha256(tar),
        }
    }

    pub fn plain(tar: &[u8]) -> Self {
        Layer {
            blob: tar.to_vec(),
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            diff_id: sha256(tar),
        }
    }

    /// The same blob announced as a Docker v2 layer.
    pub fn docker(mut self) -> Self {
        self.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip".into();
        self
    }
}

/// An image to push: layers, run settings, platform and manifest flavour.
pub struct TestImage {
    pub layers: Vec<Layer>,
    pub config: serde_json::Value,
    pub architecture: String,
    pub variant: Option<String>,
    pub docker: bool,
}

impl TestImage {
    pub fn new(layers: Vec<Layer>) -> Self {
        TestImage {
            layers,
            config: serde_json::json!({"Cmd": ["/bin/sh"]}),
            architecture: "amd64".into(),
            variant: None,
            docker: false,
        }
    }

    pub fn config_blob(&self) -> Vec<u8> {
        let mut config = serde_json::json!({
            "architecture": self.architecture,
            "os": "linux",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        });
        if let Some(v) = &self.variant {
            config["variant"] = serde_json::json!(v);
        }
        serde_json::to_vec(&config).unwrap_or_default()
    }

    /// The manifest bytes (pushing stores exactly these).
    pub fn manifest(&self) -> Vec<u8> {
        let config = self.config_blob();
        let (manifest_type, config_type) = if self.docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({"mediaType": l.media_type, "digest": sha256(&l.blob), "size": l.blob.len()})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": sha256(&config), "size": config.len()},
            "layers": layers,
        }))
        .unwrap_or_default()
    }
}

/// Pushes test images with oci-client (pure Rust, no tools).
pub struct Pusher {
    client: Client,
    registry: String,
    auth: RegistryAuth,
}

impl Pusher {
    pub fn new(registry: &str) -> Self {
        Self::with_auth(registry, RegistryAuth::Anonymous)
    }

    pub fn with_auth(registry: &str, auth: RegistryAuth) -> Self {
        Pusher {
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::Http,
                ..ClientConfig::default()
            }),
            registry: registry.to_owned(),
            auth,
        }
    }

    async fn blob(&self, repo: &str, data: &[u8]) -> Result<String, BoxError> {
        let digest = sha256(data);
        let reference = Reference::with_digest(self.registry.clone(), repo.into(), digest.clone());
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await?;
        self.client
            .push_blob(&reference, data.to_vec(), &digest)
            .await?;
        Ok(digest)
    }

    async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<String, BoxError> {
        let digest = sha256(&body);
        let target = if reference.starts_with("sha256:") {
            Reference::with_digest(self.registry.clone(), repo.into(), reference.into())
        } else {
            Reference::with_tag(self.registry.clone(), repo.into(), reference.into())
        };
        self.client
            .auth(&target, &self.auth, RegistryOperation::Push)
            .await?;
        self.client
            .push_manifest_raw(&target, body, http::HeaderValue::from_str(media_type)?)
            .await?;
        Ok(digest)
    }

    /// Pushes `image` as `repo:tag`; returns the manifest digest.
    pub async fn push(&self, repo: &str, tag: &str, image: &TestImage) -> Result<String, BoxError> {
        for layer in &image.layers {
            self.blob(repo, &layer.blob).await?;
        }
        self.blob(repo, &image.config_blob()).await?;
        let media = if image.docker {
            DOCKER_MANIFEST
        } else {
            OCI_MANIFEST
        };
        self.manifest(repo, tag, image.manifest(), media).await
    }

    /// Pushes every image by digest and an index over them as `repo:tag`; returns the index
    /// digest and the per-image manifest digests.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        images: &[&TestImage],
    ) -> Result<(String, Vec<String>), BoxError> {
        let mut entries = Vec::new();
        let mut digests = Vec::new();
        for image in images {
            let manifest = image.manifest();
            let digest = sha256(&manifest);
            for layer in &image.layers {
                self.blob(repo, &layer.blob).await?;
            }
            self.blob(repo, &image.config_blob()).await?;
            self.manifest(repo, &digest, manifest.clone(), OCI_MANIFEST)
                .await?;
            let mut platform =
                serde_json::json!({"architecture": image.architecture, "os": "linux"});
            if let Some(v) = &image.variant {
                platform["variant"] = serde_json::json!(v);
            }
            entries.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(), "platform": platform,
            }));
            digests.push(digest);
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
        }))?;
        let index_digest = self.manifest(repo, tag, index, OCI_INDEX).await?;
        Ok((index_digest, digests))
    }
}

/// A directory block store in a temporary directory.
pub async fn dir_store() -> Result<(tempfile::TempDir, SharedStore), BoxError> {
    let dir = tempfile::tempdir()?;
    let store = hub_store::open(&format!("dir://{}", dir.path().display())).await?;
    Ok((dir, store))
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
