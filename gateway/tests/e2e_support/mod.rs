//! End-to-end set-up: the gateway with the REAL workers (hub-worker-convert's convert and verify
//! handlers, hub-worker-merge's merge handler) running in-process on the same queue and chunk
//! store, plus source trees and archives built for the tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use hub_jobs::{ClaimedJob, JobContext, JobError, JobHandler, JobKind, JobOutput, Worker};
use hub_worker_convert::{
    ConvertHandler, ConvertSettings, PublishSettings, VerifyHandler, VerifySettings,
};
use hub_worker_merge::{MergeHandler, MergeSettings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::common::TestHub;

/// Conversion pipeline sized for tests running side by side on two cores.
pub fn small_pipeline() -> ConvertSettings {
    ConvertSettings {
        workers: 2,
        blocks_in_flight: 4,
        store_concurrency: 4,
        ..ConvertSettings::default()
    }
}

/// The real convert handler for `hub`'s store and publish settings.
pub fn convert_handler(hub: &TestHub) -> ConvertHandler {
    ConvertHandler::new(
        hub.state.store.clone(),
        PublishSettings::new(&hub.config.publish).expect("publish settings"),
        small_pipeline(),
    )
}

/// A worker running `handler` on `hub`'s queue, on its own task. Aborting the task is a crash:
/// the running job is neither acknowledged nor released.
pub async fn spawn_worker<H: JobHandler>(
    hub: &TestHub,
    handler: H,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let worker = Worker::new(
        hub.state.jobs.queue().clone(),
        hub.state.pool.clone(),
        hub.state.staging.clone(),
        handler,
    )
    .await
    .expect("worker");
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if let Err(error) = worker.run(shutdown).await {
            panic!("worker failed: {error}");
        }
    })
}

/// The real workers of every kind but docker.
pub struct RealWorkers {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl RealWorkers {
    /// Start convert, verify and merge workers.
    pub async fn start(hub: &TestHub) -> Self {
        let shutdown = CancellationToken::new();
        let store = hub.state.store.clone();
        let publish = PublishSettings::new(&hub.config.publish).expect("publish settings");
        let tasks = vec![
            spawn_worker(hub, convert_handler(hub), &shutdown).await,
            spawn_worker(
                hub,
                VerifyHandler::new(store.clone(), VerifySettings::default()),
                &shutdown,
            )
            .await,
            spawn_worker(
                hub,
                MergeHandler::new(store, publish, MergeSettings::default()),
                &shutdown,
            )
            .await,
        ];
        Self { shutdown, tasks }
    }

    /// Stop them, letting running jobs finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }
}

/// A handler that sleeps before delegating: a slow worker to kill mid-job.
pub struct Stalling<H> {
    /// The real handler.
    pub inner: H,
    /// How long to stall first.
    pub stall: Duration,
}

impl<H: JobHandler> JobHandler for Stalling<H> {
    const KIND: JobKind = H::KIND;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        tokio::time::sleep(self.stall).await;
        self.inner.run(job, ctx).await
    }
}

/// Deterministic bytes that do not compress away.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Write a small tree under `root`: text files, a multi-block binary, an executable, a
/// symlink, an empty file and nested directories. `seed` varies the content.
pub fn write_tree(root: &Path, seed: u64) {
    let dir = |p: &str| std::fs::create_dir_all(root.join(p)).expect("mkdir");
    let file = |p: &str, content: &[u8]| std::fs::write(root.join(p), content).expect("write");
    dir("etc/app");
    dir("usr/bin");
    dir("var/empty");
    file("etc/hostname", format!("host-{seed}\n").as_bytes());
    file("etc/app/config.toml", b"[server]\nport = 8080\n");
    file("usr/bin/tool", &noise(1_300_000, seed));
    std::fs::set_permissions(
        root.join("usr/bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    file("empty", b"");
    symlink("../etc/hostname", root.join("usr/hostname-link")).expect("symlink");
}

/// `root` as a `.tar.gz`.
pub fn tar_gz(root: &Path) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", root).expect("tar");
    builder
        .into_inner()
        .expect("tar end")
        .finish()
        .expect("gzip end")
}

/// What a tree holds: path → (kind, mode bits, content or link target), for comparisons.
pub fn snapshot(root: &Path) -> BTreeMap<String, (char, u32, Vec<u8>)> {
    let mut found = BTreeMap::new();
    walk(root, root, &mut found);
    found
}

fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, (char, u32, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .expect("inside")
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("readlink");
            found.insert(
                relative,
                ('l', 0, target.to_string_lossy().as_bytes().to_vec()),
            );
        } else if meta.is_dir() {
            found.insert(relative, ('d', mode, Vec::new()));
            walk(root, &path, found);
        } else {
            found.insert(relative, ('f', mode, std::fs::read(&path).expect("read")));
        }
    }
}

/// A `.flist` whose one file references a chunk no store holds.
pub fn flist_with_missing_chunk() -> Vec<u8> {
    use hub_flist::{Attr, BlockRef, Flist, Format, Hash, NodeKind};
    let mut flist = Flist::new(Format::Flist);
    let hash = |seed: u8| Hash::new(&[seed; 16]).expect("hash length");
    let tree = &mut flist.tree;
    let etc = tree
        .mkdir_all("/etc", &Attr::default_dir())
        .expect("mkdir /etc");
    tree.insert(
        etc,
        "hostname".into(),
        Attr::with_mode(0o100644),
        NodeKind::File {
            size: 7,
            blocks: std::sync::Arc::from(vec![BlockRef {
                id: hash(0xab),
                key: hash(0xcd),
            }]),
        },
    )
    .expect("insert file");
    hub_flist::write_bytes(&flist).expect("write flist")
}
