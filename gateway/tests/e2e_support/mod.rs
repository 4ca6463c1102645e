//! End-to-end set-up: the gateway with the REAL workers (hub-worker-convert's convert and verify
//! handlers, hub-worker-merge's merge handler) running in-process on the same queue and chunk
//! store, plus the source trees the tests upload.

#![allow(dead_code)] // each test binary uses a different subset

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use hub_jobs::{ClaimedJob, JobContext, JobError, JobHandler, JobKind, JobOutput, JobsError};
use hub_testkit::{noise, unpack_to_tempdir};
use hub_worker_convert::{
    ConvertHandler, ConvertSettings, PublishSettings, VerifyHandler, VerifySettings,
};
use hub_worker_merge::{MergeHandler, MergeSettings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::common::TestHub;

/// The real convert handler for `hub`'s store and publish settings.
pub fn convert_handler(hub: &TestHub) -> ConvertHandler {
    ConvertHandler::new(
        hub.state.store.clone(),
        PublishSettings::new(&hub.config.publish).expect("publish settings"),
        ConvertSettings::small(),
    )
}

/// The real workers of every kind but docker.
pub struct RealWorkers {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), JobsError>>>,
}

impl RealWorkers {
    /// Start convert, verify and merge workers.
    pub async fn start(hub: &TestHub) -> Self {
        let shutdown = CancellationToken::new();
        let store = hub.state.store.clone();
        let publish = PublishSettings::new(&hub.config.publish).expect("publish settings");
        let tasks = vec![
            hub.spawn_worker(convert_handler(hub), &shutdown).await,
            hub.spawn_worker(
                VerifyHandler::new(store.clone(), VerifySettings::default()),
                &shutdown,
            )
            .await,
            hub.spawn_worker(
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
            // Reported, not failed: a worker's error shows up as the test's own failure.
            if let Ok(Ok(Err(error))) = tokio::time::timeout(Duration::from_secs(20), task).await {
                eprintln!("worker failed: {error}");
            }
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

/// Download `/<repo>/<name>` and unpack it (blocks from the hub's store) into a fresh folder.
pub async fn download_and_unpack(hub: &TestHub, repo: &str, name: &str) -> tempfile::TempDir {
    let bytes = hub.download(&format!("/{repo}/{name}")).await;
    let flist = hub_flist::read_bytes(&bytes).expect("a readable flist");
    unpack_to_tempdir(&flist, &hub.state.store)
        .await
        .expect("unpack")
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
