//! The router: sharding by id[0], replication, route rows, opening from a spec.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hub_store::{BlockStore, DirStore, Route, Router, SharedStore, StoreError};
use hub_zdb_double::{DoubleConfig, NamespaceSettings, ZdbDouble};

async fn dir_store(root: &Path) -> SharedStore {
    Arc::new(DirStore::open(root).await.expect("open dir store"))
}

fn block_id(first: u8) -> [u8; 32] {
    let mut id = [0x11; 32];
    id[0] = first;
    id
}

#[tokio::test]
async fn shards_by_first_byte() {
    let low = tempfile::tempdir().expect("dir");
    let high = tempfile::tempdir().expect("dir");
    let low_store = dir_store(low.path()).await;
    let high_store = dir_store(high.path()).await;
    let router = Router::new(vec![
        (0x00, 0x7f, Arc::clone(&low_store)),
        (0x80, 0xff, Arc::clone(&high_store)),
    ])
    .expect("router");
    for first in [0x00, 0x7f, 0x80, 0xff] {
        router
            .set(&block_id(first), Bytes::from(vec![first; 3]))
            .await
            .expect("set");
    }
    for first in [0x00, 0x7f] {
        assert!(low_store.exists(&block_id(first)).await.expect("exists"));
        assert!(!high_store.exists(&block_id(first)).await.expect("exists"));
    }
    for first in [0x80, 0xff] {
        assert!(high_store.exists(&block_id(first)).await.expect("exists"));
        assert!(!low_store.exists(&block_id(first)).await.expect("exists"));
    }
    assert_eq!(
        router.get(&block_id(0x80)).await.expect("get"),
        Some(Bytes::from(vec![0x80; 3]))
    );
    assert!(!router.exists(&block_id(0x81)).await.expect("exists"));
    assert_eq!(
        router.routes(),
        vec![
            Route {
                start: 0x00,
                end: 0x7f,
                url: low_store.url()
            },
            Route {
                start: 0x80,
                end: 0xff,
                url: high_store.url()
            },
        ]
    );
    router.ping().await.expect("ping");
}

#[tokio::test]
async fn overlapping_routes_replicate_and_read_from_any_copy() {
    let a = tempfile::tempdir().expect("dir");
    let b = tempfile::tempdir().expect("dir");
    let router = Router::new(vec![
        (0x00, 0xff, dir_store(a.path()).await),
        (0x00, 0xff, dir_store(b.path()).await),
    ])
    .expect("router");
    let id = block_id(0x33);
    router
        .set(&id, Bytes::from_static(b"replicated"))
        .await
        .expect("set");
    let name = hex::encode(id);
    let in_a = a.path().join(&name);
    assert!(in_a.is_file());
    assert!(b.path().join(&name).is_file());
    // Lose the first copy: the second still serves reads.
    std::fs::remove_file(&in_a).expect("remove");
    assert_eq!(
        router.get(&id).await.expect("get").as_deref(),
        Some(&b"replicated"[..])
    );
    assert!(router.exists(&id).await.expect("exists"));
}

#[tokio::test]
async fn ids_outside_every_route_are_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let router = Router::new(vec![(0x00, 0x7f, dir_store(dir.path()).await)]).expect("router");
    let id = block_id(0x80);
    assert!(matches!(
        router.set(&id, Bytes::from_static(b"x")).await,
        Err(StoreError::NoRoute { first: 0x80 })
    ));
    assert!(matches!(
        router.get(&id).await,
        Err(StoreError::NoRoute { .. })
    ));
    assert!(matches!(
        router.exists(&id).await,
        Err(StoreError::NoRoute { .. })
    ));
    assert!(Router::new(vec![]).is_err());
}

#[tokio::test]
async fn a_failing_store_does_not_hide_a_copy_elsewhere() {
    let zdb = ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("double");
    let dir = tempfile::tempdir().expect("dir");
    let spec = format!(
        "00-ff={} 00-ff=dir://{}",
        zdb.url("default"),
        dir.path().display()
    );
    let store = hub_store::open(&spec).await.expect("open");
    let id = block_id(0x10);
    store
        .set(&id, Bytes::from_static(b"both"))
        .await
        .expect("set");
    zdb.stop().await;
    assert_eq!(
        store
            .get(&id)
            .await
            .expect("read from the dir copy")
            .as_deref(),
        Some(&b"both"[..])
    );
    // Writes must reach every store: with one down, they fail (transiently).
    let error = store
        .set(&block_id(0x20), Bytes::from_static(b"x"))
        .await
        .expect_err("write with a store down");
    assert!(error.is_transient(), "{error}");
    // A miss everywhere with one store down is an error, not a false "absent".
    assert!(store.exists(&block_id(0x30)).await.is_err());
}

#[tokio::test]
async fn open_builds_routers_from_rfs_specs() {
    let zdb = ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("double");
    zdb.create_namespace(
        "blocks",
        NamespaceSettings {
            password: Some("pw".into()),
            ..NamespaceSettings::default()
        },
    )
    .expect("namespace");
    let dir = tempfile::tempdir().expect("dir");
    let spec = format!(
        "00-7f=dir://{},80-ff={}?pool=2",
        dir.path().display(),
        zdb.url_with_password("blocks", "pw")
    );
    let store = hub_store::open(&spec).await.expect("open");
    let routes = store.routes();
    assert_eq!(
        routes,
        vec![
            Route {
                start: 0x00,
                end: 0x7f,
                url: format!("dir://{}", dir.path().display())
            },
            Route {
                start: 0x80,
                end: 0xff,
                url: format!("zdb://user@{}/blocks", zdb.addr())
            },
        ]
    );
    assert!(!store.url().contains("pw@"), "{}", store.url());
    store
        .set(&block_id(0x90), Bytes::from_static(b"to zdb"))
        .await
        .expect("set");
    assert_eq!(
        zdb.value("blocks", &block_id(0x90)).as_deref(),
        Some(&b"to zdb"[..])
    );
    store
        .set(&block_id(0x10), Bytes::from_static(b"to dir"))
        .await
        .expect("set");
    assert!(dir.path().join(hex::encode(block_id(0x10))).is_file());
    store.ping().await.expect("ping");

    // The router's URL opens an equivalent router (minus the password).
    let reopened = hub_store::open(&store.url()).await.expect("reopen");
    assert_eq!(reopened.routes(), routes);

    // Nested routers narrow the ranges.
    let inner = hub_store::open(&format!("00-3f=dir://{}", dir.path().display()))
        .await
        .expect("inner");
    let outer = Router::new(vec![(0x20, 0xff, inner)]).expect("outer");
    assert_eq!(
        outer.routes(),
        vec![Route {
            start: 0x20,
            end: 0x3f,
            url: format!("dir://{}", dir.path().display())
        }]
    );
}
