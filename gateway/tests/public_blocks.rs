//! Blocks over HTTP (`GET`/`HEAD /api/blocks/…`), as rfs reads `http(s)://` routes, against the
//! real services: caching headers, ETag and `304`, `Range`, `404`/`400`; hub-store's HTTP
//! store reading from the gateway (and falling back to the flat path); and end to end, a `.fl`
//! published with `publish.block_url` whose only route is the hub, unpacked through it.

mod common;
mod e2e_support;
mod jobs_support;

use bytes::Bytes;
use common::TestHub;
use e2e_support::write_tree;
use hub_store::{BlockStore, HttpStore};
use hub_testkit::{snapshot, tar_gz, unpack_to_tempdir};
use hub_worker_convert::{ConvertHandler, ConvertSettings, PublishSettings};
use jobs_support::{Form, json, post_form};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

fn blake2b(data: &[u8], len: usize) -> Vec<u8> {
    blake2b_simd::Params::new()
        .hash_length(len)
        .hash(data)
        .as_bytes()
        .to_vec()
}

/// Store `data` under its BLAKE2b-`len` id in the hub's store; the id in hex.
async fn seed(hub: &TestHub, data: &[u8], len: usize) -> String {
    let id = blake2b(data, len);
    hub.state
        .store
        .set(&id, Bytes::copy_from_slice(data))
        .await
        .expect("seed block");
    hex::encode(id)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn blocks_are_served_anonymously_the_way_rfs_asks(pool: PgPool) {
    // Authentication on: the block routes must not need it.
    let hub = jobs_support::start(pool, jobs_support::with_auth).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let id = seed(&hub, &data, 32).await;
    let sharded = hub.url(&format!("/api/blocks/{}/{id}", &id[..2]));
    let flat = hub.url(&format!("/api/blocks/{id}"));

    for url in [&sharded, &flat] {
        let response = hub
            .http
            .get(url.as_str())
            .header("Accept-Encoding", "gzip, br")
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(
            header(&response, "cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(
            header(&response, "etag"),
            Some(format!("\"{id}\"").as_str())
        );
        assert_eq!(header(&response, "content-encoding"), None);
        assert_eq!(
            header(&response, "content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(header(&response, "content-length"), Some("300000"));
        let body = response.bytes().await.expect("body");
        assert!(body == data.as_slice(), "{url}: body differs");
    }
    // Upper-case ids are the same block; `.flist` chunks (16-byte ids) too.
    let upper = hub
        .http
        .get(hub.url(&format!("/api/blocks/{}", id.to_ascii_uppercase())))
        .send()
        .await
        .expect("get");
    assert_eq!(upper.status(), 200);
    let chunk_id = seed(&hub, b"flist chunk", 16).await;
    let chunk = hub
        .http
        .get(hub.url(&format!("/api/blocks/{}/{chunk_id}", &chunk_id[..2])))
        .send()
        .await
        .expect("get");
    assert_eq!(chunk.status(), 200);
    assert_eq!(chunk.bytes().await.expect("body").as_ref(), b"flist chunk");

    // HEAD: the headers, no body.
    let head = hub.http.head(&sharded).send().await.expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), Some("300000"));
    assert_eq!(header(&head, "etag"), Some(format!("\"{id}\"").as_str()));
    assert!(head.bytes().await.expect("body").is_empty());

    // Revalidation.
    let etag = format!("\"{id}\"");
    for validator in [etag.as_str(), "\"other\", W/\"x\"", "*"] {
        let response = hub
            .http
            .get(&sharded)
            .header("If-None-Match", validator)
            .send()
            .await
            .expect("conditional");
        let expected = if validator.contains("other") {
            200
        } else {
            304
        };
        assert_eq!(response.status(), expected, "{validator}");
        assert_eq!(header(&response, "etag"), Some(etag.as_str()));
    }

    // Anonymous reads never count as a writer's confirmation: the block's age, which the
    // garbage collector goes by, stays what it was.
    let file = hub.store_dir.path().join(&id);
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(old))
        .expect("age the block");
    for conditional in [false, true] {
        let mut request = hub.http.get(&sharded);
        if conditional {
            request = request.header("If-None-Match", &etag);
        }
        request.send().await.expect("get");
    }
    hub.http.head(&flat).send().await.expect("head");
    let modified = std::fs::metadata(&file).and_then(|m| m.modified());
    assert_eq!(modified.ok(), Some(old), "reads refreshed the block's age");

    // Ranges.
    let range = |value: &'static str| hub.http.get(sharded.as_str()).header("Range", value).send();
    let partial = range("bytes=100-199").await.expect("range");
    assert_eq!(partial.status(), 206);
    assert_eq!(
        header(&partial, "content-range"),
        Some("bytes 100-199/300000")
    );
    assert!(partial.bytes().await.expect("body") == data[100..200]);
    let tail = range("bytes=-10").await.expect("range");
    assert_eq!(tail.status(), 206);
    assert!(tail.bytes().await.expect("body") == data[data.len() - 10..]);
    let outside = range("bytes=300000-").await.expect("range");
    assert_eq!(outside.status(), 416);
    assert_eq!(header(&outside, "content-range"), Some("bytes */300000"));
    let stale = hub
        .http
        .get(sharded.as_str())
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"another\"")
        .send()
        .await
        .expect("if-range");
    assert_eq!(stale.status(), 200);

    // Missing and malformed ids.
    let absent = hex::encode(blake2b(b"never stored", 32));
    for path in [
        format!("/api/blocks/{}/{absent}", &absent[..2]),
        format!("/api/blocks/{absent}"),
    ] {
        let response = hub.http.get(hub.url(&path)).send().await.expect("get");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            Some("no-store"),
            "{path}"
        );
        let body = json(response).await;
        assert_eq!(body["code"], "block_not_found", "{body}");
        let conditional = hub
            .http
            .get(hub.url(&path))
            .header("If-None-Match", format!("\"{absent}\""))
            .send()
            .await
            .expect("get");
        assert_eq!(conditional.status(), 404, "a 304 must not vouch for {path}");
        let head = hub.http.head(hub.url(&path)).send().await.expect("head");
        assert_eq!(head.status(), 404, "{path}");
    }
    let wrong_prefix = if id.starts_with("00") { "01" } else { "00" };
    for path in [
        "/api/blocks/zz".to_owned(),
        "/api/blocks/abcd".to_owned(),
        format!("/api/blocks/{}", "g".repeat(64)),
        format!("/api/blocks/{wrong_prefix}/{id}"),
        format!("/api/blocks/{id}/{id}"),
    ] {
        let response = hub.http.get(hub.url(&path)).send().await.expect("get");
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            header(&response, "cache-control"),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(json(response).await["code"], "invalid_block_id", "{path}");
    }
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_http_store_reads_the_hub_and_falls_back_to_the_flat_path(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let data = b"an encrypted block".to_vec();
    let id = seed(&hub, &data, 32).await;
    let raw_id = hex::decode(&id).expect("hex");
    let store = HttpStore::new(&hub.url("/api/blocks")).expect("http store");
    assert_eq!(
        store.get(&raw_id).await.expect("get").as_deref(),
        Some(data.as_slice())
    );
    assert!(store.exists(&raw_id).await.expect("exists"));
    let absent = blake2b(b"absent", 32);
    assert_eq!(store.get(&absent).await.expect("get"), None);
    assert!(!store.exists(&absent).await.expect("exists"));
    store.ping().await.expect("ping");
    assert!(store.set(&raw_id, Bytes::from(data.clone())).await.is_err());

    // A server with only the flat layout (rfs's `dir` stores before PR #64, plain web
    // servers), counting what it was asked; and one that hands out wrong bytes.
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let flat = {
        let data = Bytes::from(data.clone());
        let asked = asked.clone();
        let id = id.clone();
        axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let data = data.clone();
            let asked = asked.clone();
            let id = id.clone();
            async move {
                let path = uri.path().to_owned();
                asked.lock().expect("lock").push(path.clone());
                match path
                    .strip_prefix("/flat/")
                    .filter(|rest| !rest.contains('/'))
                {
                    None => (axum::http::StatusCode::NOT_FOUND, Bytes::new()),
                    Some(asked) if asked == id => (axum::http::StatusCode::OK, data),
                    Some(_) => (axum::http::StatusCode::OK, Bytes::from_static(b"tampered")),
                }
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, flat).await;
    });
    let store = hub_store::open(&format!("http://{addr}/flat"))
        .await
        .expect("open by URL");
    assert_eq!(
        store.get(&raw_id).await.expect("get").as_deref(),
        Some(data.as_slice())
    );
    assert_eq!(
        asked.lock().expect("lock").as_slice(),
        [format!("/flat/{}/{id}", &id[..2]), format!("/flat/{id}")]
    );
    // Bytes that do not hash to the id are an error, not a block.
    let mut tampered_id = raw_id.clone();
    tampered_id[31] ^= 1;
    assert!(store.get(&tampered_id).await.is_err());
    server.abort();

    // Nothing listening: a transient error that names the store.
    let gone = HttpStore::new(&format!("http://{addr}/flat")).expect("store");
    let _ = server.await;
    let err = gone.get(&raw_id).await.expect_err("nothing listens");
    assert!(err.is_transient(), "{err}");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_fl_whose_only_route_is_the_hub_unpacks_identically(pool: PgPool) {
    let hub = jobs_support::start(pool, |_| {}).await;
    let block_url = hub.url("/api/blocks");
    // The workers publish with `publish.block_url` = this hub (its port is known only now).
    let publish = hub_config::PublishConfig {
        block_url: Some(block_url.clone()),
        ..hub.config.publish.clone()
    };
    let shutdown = CancellationToken::new();
    let worker = hub
        .spawn_worker(
            ConvertHandler::new(
                hub.state.store.clone(),
                PublishSettings::new(&publish).expect("publish settings"),
                ConvertSettings::small(),
            ),
            &shutdown,
        )
        .await;

    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), 7);
    let form = Form::new().file(
        "file",
        "web.tar.gz",
        &tar_gz(source.path()).expect("archive"),
    );
    let response = post_form(&hub, "/api/flist/me/upload?format=fl", form, &[]).await;
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    let name = body["payload"]["name"].as_str().expect("name").to_owned();
    assert!(name.ends_with(".fl"), "{body}");

    let download = hub
        .http
        .get(hub.url(&format!("/Administrator/{name}")))
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    let flist = hub_flist::read_bytes(&download.bytes().await.expect("bytes")).expect("a .fl");
    let routes: Vec<(u8, u8, &str)> = flist
        .meta
        .routes
        .iter()
        .map(|r| (r.start, r.end, r.url.as_str()))
        .collect();
    assert_eq!(routes, [(0x00, 0xff, block_url.as_str())]);

    // What `hubctl flist unpack` does without `--store`: open the store the routes name.
    let spec = flist
        .meta
        .routes
        .iter()
        .map(|r| format!("{:02x}-{:02x}={}", r.start, r.end, r.url))
        .collect::<Vec<_>>()
        .join(",");
    let store = hub_store::open(&spec).await.expect("store of the routes");
    let out = unpack_to_tempdir(&flist, &store)
        .await
        .expect("unpack over HTTP");
    assert_eq!(
        snapshot(out.path()).expect("snapshot"),
        snapshot(source.path()).expect("snapshot")
    );

    shutdown.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), worker).await;
    hub.stop().await;
}
