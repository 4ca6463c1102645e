//! Seeding for the original-API tests: real flists written with hub-flist, stored like a worker
//! stores them (object store + `flists` row with the precomputed dump), published with hub-db.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use bytes::Bytes;
use hub_db::flists::Flist as FlistRow;
use hub_flist::{Attr, BlockRef, Flist, Format, Hash, NodeKind};
use hub_gateway::compat::dump::compute_dump;
use hub_jobs::FlistFile;

use crate::common::TestHub;

/// A flist stored and published for a test.
pub struct Seeded {
    /// The file's bytes as served.
    pub bytes: Bytes,
    /// Its row.
    pub row: FlistRow,
}

/// A small tree: `/etc` (dir), `/etc/hostname` (7 bytes), `/bin` (dir), `/bin/sh` → `busybox`.
pub fn sample_tree(format: Format, hostname_size: u64) -> Flist {
    let mut flist = Flist::new(format);
    let hash_len = match format {
        Format::Flist => 16,
        Format::Fl => 32,
    };
    let hash = |seed: u8| Hash::new(&vec![seed; hash_len]).expect("hash length");
    let tree = &mut flist.tree;
    let etc = tree
        .mkdir_all("/etc", &Attr::default_dir())
        .expect("mkdir /etc");
    let blocks: Arc<[BlockRef]> = if hostname_size == 0 {
        Arc::from(Vec::new())
    } else {
        Arc::from(vec![BlockRef {
            id: hash(1),
            key: hash(2),
        }])
    };
    tree.insert(
        etc,
        "hostname".into(),
        Attr::with_mode(0o100644),
        NodeKind::File {
            size: hostname_size,
            blocks,
        },
    )
    .expect("insert file");
    let bin = tree
        .mkdir_all("/bin", &Attr::default_dir())
        .expect("mkdir /bin");
    tree.insert(
        bin,
        "sh".into(),
        Attr::with_mode(0o120777),
        NodeKind::Symlink {
            target: "busybox".into(),
        },
    )
    .expect("insert symlink");
    flist
}

/// Store `flist` (with `metadata` rows) and publish it as `repo/name`.
pub async fn seed_flist(
    hub: &TestHub,
    repo: &str,
    name: &str,
    mut flist: Flist,
    metadata: &[(&str, &str)],
) -> Seeded {
    for (key, value) in metadata {
        flist.meta.values.insert((*key).into(), (*value).into());
    }
    let bytes = Bytes::from(hub_flist::write_bytes(&flist).expect("write flist"));
    let dump = compute_dump(&bytes).expect("dump");
    let stats = flist.tree.stats();
    let file = FlistFile {
        bytes: bytes.clone(),
        format: flist.format,
        stats: serde_json::json!({
            "regular": stats.regular, "symlink": stats.symlink, "directory": stats.directory,
            "special": stats.special, "failure": 0, "fullsize": stats.fullsize,
        }),
        metadata: serde_json::Value::Object(
            metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
                .collect(),
        ),
        dump: Some(dump.to_vec()),
        source: None,
        source_key: None,
    };
    let row = hub_jobs::store_flist(&hub.state.pool, &hub.state.objects, file, "test")
        .await
        .expect("store flist");
    publish(hub, repo, name, row.id).await;
    Seeded { bytes, row }
}

/// Publish flist row `id` as `repo/name`.
pub async fn publish(hub: &TestHub, repo: &str, name: &str, id: i64) {
    let mut conn = hub.state.pool.acquire().await.expect("connection");
    hub_db::entries::publish_flist(&mut conn, repo, name, id, hub_db::EntryQuota::UNLIMITED)
        .await
        .expect("publish");
}

/// The sample flist published as `repo/name`.
pub async fn seed_sample(hub: &TestHub, repo: &str, name: &str) -> Seeded {
    seed_flist(hub, repo, name, sample_tree(Format::Flist, 7), &[]).await
}

/// GET `path` and return status and body text.
pub async fn get_text(hub: &TestHub, path: &str) -> (u16, String) {
    let response = hub.get(path).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Assert `path` answers `status` with exactly `body`.
pub async fn assert_body(hub: &TestHub, path: &str, status: u16, body: &str) {
    let (got_status, got_body) = get_text(hub, path).await;
    assert_eq!(
        (got_status, got_body.as_str()),
        (status, body),
        "GET {path}"
    );
}

/// The JSON error body of the catalogue.
pub fn error_body(message: &str) -> String {
    format!("{{\"status\": \"error\", \"message\": \"{message}\"}}\n")
}
