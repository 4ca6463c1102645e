//! The zdb store against the in-process 0-db double.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hub_store::{BlockStore, MAX_VALUE_SIZE, StoreError, ZdbOptions, ZdbStore};
use hub_zdb_double::{DoubleConfig, NamespaceSettings, ZdbDouble};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn double() -> ZdbDouble {
    ZdbDouble::start(DoubleConfig::default())
        .await
        .expect("start zdb double")
}

fn store(url: &str) -> ZdbStore {
    ZdbStore::from_url(url, ZdbOptions::default()).expect("valid zdb url")
}

fn id(n: u32) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[31] = 0xee;
    id
}

/// Commands a 0-db client of ours may send; anything else (HELLO, CLIENT SETINFO, AUTH,
/// SELECT <db>, INFO…) would be a handshake 0-db does not speak.
fn assert_only_plain_commands(zdb: &ZdbDouble) {
    let stats = zdb.stats();
    for name in stats.commands.keys() {
        assert!(
            ["SELECT", "GET", "SET", "EXISTS", "PING"].contains(&name.as_str()),
            "unexpected command {name} in {stats:?}"
        );
    }
}

#[tokio::test]
async fn round_trip_in_default_namespace() {
    let zdb = double().await;
    let store = store(&zdb.url("default"));
    assert_eq!(store.get(&id(1)).await.expect("get"), None);
    assert!(!store.exists(&id(1)).await.expect("exists"));
    store
        .set(&id(1), Bytes::from_static(b"block one"))
        .await
        .expect("set");
    // Idempotent: 0-db answers nil to an identical value.
    store
        .set(&id(1), Bytes::from_static(b"block one"))
        .await
        .expect("set again");
    assert!(store.exists(&id(1)).await.expect("exists"));
    assert_eq!(
        store.get(&id(1)).await.expect("get").as_deref(),
        Some(&b"block one"[..])
    );
    assert_eq!(
        zdb.value("default", &id(1)).as_deref(),
        Some(&b"block one"[..])
    );
    store.ping().await.expect("ping");
    // No SELECT for the default namespace.
    assert_eq!(zdb.stats().count("SELECT"), 0);
    assert_only_plain_commands(&zdb);
}

#[tokio::test]
async fn password_namespace_and_public_read_only_access() {
    let zdb = double().await;
    zdb.create_namespace(
        "blocks",
        NamespaceSettings {
            password: Some("s3cret".into()),
            public: true,
            ..NamespaceSettings::default()
        },
    )
    .expect("namespace");
    let writer = store(&zdb.url_with_password("blocks", "s3cret"));
    assert!(!writer.url().contains("s3cret"));
    assert_eq!(writer.routes()[0].url, writer.url());
    writer
        .set(&id(7), Bytes::from_static(b"payload"))
        .await
        .expect("writer set");
    assert_eq!(
        zdb.value("blocks", &id(7)).as_deref(),
        Some(&b"payload"[..])
    );
    assert_eq!(zdb.value("default", &id(7)), None);

    // Readers without the password: read-only.
    let reader = store(&zdb.url("blocks"));
    assert_eq!(
        reader.get(&id(7)).await.expect("reader get").as_deref(),
        Some(&b"payload"[..])
    );
    match reader.set(&id(8), Bytes::from_static(b"x")).await {
        Err(error @ StoreError::Protocol { .. }) => {
            assert!(
                error.to_string().contains("Namespace is in read-only mode"),
                "{error}"
            );
            assert!(!error.is_transient());
        }
        other => panic!("read-only write should fail, got {other:?}"),
    }

    let wrong = store(&zdb.url_with_password("blocks", "nope"));
    match wrong.ping().await {
        Err(error @ StoreError::Protocol { .. }) => {
            assert!(error.to_string().contains("Access denied"), "{error}");
            assert!(
                !error.to_string().contains("nope"),
                "password leaked: {error}"
            );
        }
        other => panic!("wrong password should fail, got {other:?}"),
    }
    assert_only_plain_commands(&zdb);
}

#[tokio::test]
async fn private_namespace_and_missing_namespace() {
    let zdb = double().await;
    zdb.create_namespace(
        "private",
        NamespaceSettings {
            password: Some("pw".into()),
            public: false,
            ..NamespaceSettings::default()
        },
    )
    .expect("namespace");
    let error = store(&zdb.url("private"))
        .ping()
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("Namespace protected and private"),
        "{error}"
    );
    let error = store(&zdb.url("nope")).ping().await.expect_err("refused");
    assert!(error.to_string().contains("Namespace not found"), "{error}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn empty_stored_value_is_an_invalid_chunk() {
    let zdb = double().await;
    // Store an empty value behind the client's back, with a raw request.
    let mut raw = tokio::net::TcpStream::connect(zdb.addr())
        .await
        .expect("connect");
    let key = id(3);
    let mut request = b"*3\r\n$3\r\nSET\r\n$32\r\n".to_vec();
    request.extend_from_slice(&key);
    request.extend_from_slice(b"\r\n$0\r\n\r\n");
    raw.write_all(&request).await.expect("write");
    let mut reply = [0u8; 39];
    raw.read_exact(&mut reply).await.expect("reply");

    let store = store(&zdb.url("default"));
    assert!(matches!(
        store.get(&key).await,
        Err(StoreError::EmptyValue { .. })
    ));
    assert!(matches!(
        store.set(&id(4), Bytes::new()).await,
        Err(StoreError::EmptyValue { .. })
    ));
}

#[tokio::test]
async fn oversized_values_are_refused_before_sending() {
    let zdb = double().await;
    let store = store(&zdb.url("default"));
    let too_big = Bytes::from(vec![1u8; MAX_VALUE_SIZE + 1]);
    match store.set(&id(1), too_big).await {
        Err(StoreError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (MAX_VALUE_SIZE + 1, MAX_VALUE_SIZE));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(zdb.stats().count("SET"), 0, "nothing may reach the server");
    assert_eq!(zdb.stats().connections_accepted, 0);
    // Exactly 8 MiB is fine.
    let max = Bytes::from(vec![2u8; MAX_VALUE_SIZE]);
    store.set(&id(2), max.clone()).await.expect("8 MiB set");
    assert_eq!(store.get(&id(2)).await.expect("get"), Some(max));
    // Keys follow 0-db's limits too.
    assert!(matches!(
        store.exists(&[1u8; 256]).await,
        Err(StoreError::InvalidKey { .. })
    ));
}

#[tokio::test]
async fn reconnects_after_dropped_connections() {
    let zdb = double().await;
    zdb.create_namespace("ns", NamespaceSettings::default())
        .expect("namespace");
    let store = store(&zdb.url("ns"));
    store
        .set(&id(1), Bytes::from_static(b"v"))
        .await
        .expect("set");
    let accepted = zdb.stats().connections_accepted;

    zdb.faults().drop_connections();
    // The pooled connection is dead; the store reconnects, re-selects and retries once.
    assert!(store.exists(&id(1)).await.expect("exists after drop"));
    let stats = zdb.stats();
    assert_eq!(stats.connections_accepted, accepted + 1);
    assert_eq!(
        stats.count("SELECT"),
        accepted + 1,
        "re-SELECT on the new connection"
    );

    // The server closes the connection instead of answering: same recovery.
    zdb.faults().drop_next_requests(1);
    assert_eq!(
        store.get(&id(1)).await.expect("get after drop").as_deref(),
        Some(&b"v"[..])
    );
    // Two failures in a row are not hidden: one retry only.
    zdb.faults().drop_next_requests(2);
    let error = store
        .get(&id(1))
        .await
        .expect_err("second failure surfaces");
    assert!(error.is_transient(), "{error}");
    assert!(store.exists(&id(1)).await.expect("recovered"));
}

#[tokio::test]
async fn store_outage_and_restart_on_the_same_port() {
    let zdb = double().await;
    let store = store(&zdb.url("default"));
    store
        .set(&id(1), Bytes::from_static(b"before"))
        .await
        .expect("set");

    zdb.stop().await;
    for _ in 0..3 {
        match store.exists(&id(1)).await {
            Err(error @ StoreError::Unavailable { .. }) => assert!(error.is_transient()),
            other => panic!("expected Unavailable while stopped, got {other:?}"),
        }
    }
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable { .. })
    ));

    zdb.restart().await.expect("restart");
    assert!(store.exists(&id(1)).await.expect("exists after restart"));
    store
        .set(&id(2), Bytes::from_static(b"after"))
        .await
        .expect("set after restart");
    assert_eq!(zdb.value("default", &id(2)).as_deref(), Some(&b"after"[..]));
}

#[tokio::test]
async fn write_failures_are_transient() {
    let zdb = double().await;
    let store = store(&zdb.url("default"));
    zdb.faults().fail_next_writes(1);
    match store.set(&id(1), Bytes::from_static(b"v")).await {
        Err(error @ StoreError::Protocol { .. }) => {
            assert!(error.to_string().contains("Cannot write data right now"));
            assert!(error.is_transient());
        }
        other => panic!("expected a transient write failure, got {other:?}"),
    }
    store
        .set(&id(1), Bytes::from_static(b"v"))
        .await
        .expect("retry succeeds");
}

#[tokio::test]
async fn worm_namespace_accepts_rewrites_of_existing_blocks() {
    let zdb = double().await;
    zdb.create_namespace(
        "worm",
        NamespaceSettings {
            worm: true,
            ..NamespaceSettings::default()
        },
    )
    .expect("namespace");
    let store = store(&zdb.url("worm"));
    store
        .set(&id(1), Bytes::from_static(b"once"))
        .await
        .expect("first write");
    store
        .set(&id(1), Bytes::from_static(b"once"))
        .await
        .expect("rewrite of a content-addressed block is a no-op");
}

#[tokio::test]
async fn command_timeout_is_transient() {
    let zdb = double().await;
    let store = ZdbStore::from_url(
        &zdb.url("default"),
        ZdbOptions {
            command_timeout: Duration::from_millis(200),
            ..ZdbOptions::default()
        },
    )
    .expect("store");
    store.ping().await.expect("ping");
    zdb.faults().set_reply_delay(Duration::from_secs(2));
    let error = store.exists(&id(1)).await.expect_err("times out");
    assert!(error.is_transient(), "{error}");
    zdb.faults().clear();
    assert!(!store.exists(&id(1)).await.expect("works again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_never_pipeline_and_respect_the_pool_size() {
    let zdb = double().await;
    zdb.create_namespace("ns", NamespaceSettings::default())
        .expect("namespace");
    let store: Arc<dyn BlockStore> = Arc::new(store(&format!("{}?pool=4", zdb.url("ns"))));
    // A small delay widens the window in which a second request would show up early.
    zdb.faults().set_reply_delay(Duration::from_micros(300));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..32u32 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for n in 0..25u32 {
                let key = id(task * 1000 + n);
                if !store.exists(&key).await? {
                    store.set(&key, Bytes::from(key.to_vec())).await?;
                }
            }
            Ok::<_, StoreError>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("store calls");
    }
    let stats = zdb.stats();
    assert_eq!(stats.pipelined_requests, 0, "{stats:?}");
    assert!(stats.max_open_connections <= 4, "{stats:?}");
    assert!(
        stats.max_open_connections >= 2,
        "calls ran in parallel: {stats:?}"
    );
    assert_eq!(stats.count("EXISTS"), 800);
    assert_eq!(stats.count("SET"), 800);
    assert_eq!(zdb.key_count("ns"), Some(800));
    assert_only_plain_commands(&zdb);
}

/// The garbage collector's listing: every key once, in write order, over several `SCAN`
/// pages; the cursor of a page's last key resumes after it; `DEL` of a gone key is `false`.
#[tokio::test]
async fn scan_lists_every_key_in_pages_and_resumes_after_a_cursor() {
    use futures::TryStreamExt;

    let zdb = double().await;
    zdb.create_namespace("blocks", NamespaceSettings::default())
        .expect("namespace");
    let store = store(&zdb.url("blocks"));
    assert!(
        store
            .blocks()
            .try_collect::<Vec<_>>()
            .await
            .expect("list")
            .is_empty(),
        "an empty namespace lists nothing"
    );
    // More keys than one page of the double (128).
    for n in 0..300 {
        store
            .set(&id(n), Bytes::from(vec![1u8; 1 + n as usize]))
            .await
            .expect("set");
    }
    let listed: Vec<_> = store.blocks().try_collect().await.expect("list");
    let ids: Vec<Vec<u8>> = listed.iter().map(|block| block.id.clone()).collect();
    assert_eq!(ids, (0..300).map(|n| id(n).to_vec()).collect::<Vec<_>>());
    assert!(
        listed
            .iter()
            .enumerate()
            .all(|(n, block)| block.size == n as u64 + 1)
    );
    let now = std::time::SystemTime::now();
    assert!(listed.iter().all(|block| block.modified <= now
        && now.duration_since(block.modified).expect("past") < Duration::from_secs(60)));
    let cursors: Vec<usize> = listed
        .iter()
        .enumerate()
        .filter_map(|(n, block)| block.cursor.as_ref().map(|_| n))
        .collect();
    assert!(cursors.len() >= 3, "several pages: {cursors:?}");
    assert_eq!(cursors.last(), Some(&299), "the last key ends a page");

    // Resume after the first page, with its first key deleted meanwhile.
    let first_end = cursors[0];
    let cursor = listed[first_end].cursor.clone().expect("cursor");
    assert!(
        store
            .delete_locked(&id(first_end as u32 + 1))
            .await
            .expect("DEL")
    );
    assert!(
        !store
            .delete_locked(&id(first_end as u32 + 1))
            .await
            .expect("DEL again")
    );
    let rest: Vec<_> = store
        .blocks_after(&cursor)
        .try_collect()
        .await
        .expect("resume");
    let rest: Vec<Vec<u8>> = rest.into_iter().map(|block| block.id).collect();
    let expected: Vec<Vec<u8>> = (first_end as u32 + 2..300)
        .map(|n| id(n).to_vec())
        .collect();
    assert_eq!(rest, expected);
}
