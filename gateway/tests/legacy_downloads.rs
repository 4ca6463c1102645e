//! Downloads and info files (hub-api §8: `/<repo>/<flist>` and its `.md5`, `.txt`, `.json`)
//! against the real stack: bytes, Range, ETag and 304, HEAD, `.md5`, `.txt`, `.json`, tag
//! paths, `.fl` files, names with `:`.

mod common;
mod legacy_support;

use common::TestHub;
use hub_db::{entries, tags};
use hub_flist::Format;
use legacy_support::{Seeded, assert_body, get_text, sample_tree, seed_flist, seed_sample};
use md5::{Digest, Md5};
use sqlx::PgPool;

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

async fn seed(hub: &TestHub) -> Seeded {
    let seeded = seed_sample(hub, "tf-zos", "zos:v3.4.0.flist").await;
    entries::link(
        &hub.state.pool,
        "tf-zos",
        "zos:latest.flist",
        "tf-zos",
        "zos:v3.4.0.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("link");
    tags::put_entry(
        &hub.state.pool,
        "tf-zos",
        "v3.x",
        "zos.flist",
        "tf-zos",
        "zos:latest.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("tag");
    seeded
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn files_through_names_links_and_tags(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed(&hub).await;
    for path in [
        "/tf-zos/zos:v3.4.0.flist",
        "/tf-zos/zos:latest.flist",
        "/tf-zos/tags/v3.x/zos.flist",
    ] {
        let response = hub.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/octet-stream");
        assert_eq!(
            headers["etag"].to_str().expect("etag"),
            format!("\"{}\"", seeded.row.content_hash)
        );
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(headers.contains_key("last-modified"));
        assert_eq!(response.bytes().await.expect("bytes"), seeded.bytes);
    }
    let md5 = format!("{}\n", md5_hex(&seeded.bytes));
    for path in [
        "/tf-zos/zos:v3.4.0.flist.md5",
        "/tf-zos/zos:latest.flist.md5",
        "/tf-zos/tags/v3.x/zos.flist.md5",
    ] {
        assert_body(&hub, path, 200, &md5).await;
    }
    for path in [
        "/tf-zos/nope.flist",
        "/tf-zos/nope.flist.md5",
        "/nobody/zos:v3.4.0.flist",
        "/tf-zos/tags/v3.x/nope.flist",
        "/tf-zos/tags/nope/zos.flist.md5",
        "/tf-zos/zos:v3.4.0.tar.gz",
    ] {
        let (status, _) = get_text(&hub, path).await;
        assert_eq!(status, 404, "{path}");
    }
    // A dangling link is not a file (zos fails deployments on a wrong checksum, never serve one).
    entries::remove(&hub.state.pool, "tf-zos", "zos:v3.4.0.flist")
        .await
        .expect("remove");
    for path in ["/tf-zos/zos:latest.flist", "/tf-zos/zos:latest.flist.md5"] {
        let (status, _) = get_text(&hub, path).await;
        assert_eq!(status, 404, "{path}");
    }
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn ranges_conditional_requests_and_head(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed(&hub).await;
    let url = hub.url("/tf-zos/zos:v3.4.0.flist");
    let size = seeded.bytes.len();

    let response = hub
        .http
        .get(&url)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .expect("range");
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.headers()["content-range"].to_str().expect("range"),
        format!("bytes 0-9/{size}")
    );
    assert_eq!(
        response.bytes().await.expect("bytes"),
        seeded.bytes.slice(0..10)
    );

    let response = hub
        .http
        .get(&url)
        .header("Range", "bytes=-5")
        .send()
        .await
        .expect("suffix");
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.expect("bytes"),
        seeded.bytes.slice(size - 5..)
    );

    let response = hub
        .http
        .get(&url)
        .header("Range", format!("bytes={size}-"))
        .send()
        .await
        .expect("unsatisfiable");
    assert_eq!(response.status(), 416);
    assert_eq!(
        response.headers()["content-range"].to_str().expect("range"),
        format!("bytes */{size}")
    );

    // A stale If-Range: the whole file.
    let response = hub
        .http
        .get(&url)
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"other\"")
        .send()
        .await
        .expect("if-range");
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("bytes").len(), size);

    let etag = format!("\"{}\"", seeded.row.content_hash);
    let response = hub
        .http
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("inm");
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"].to_str().expect("etag"), etag);
    let response = hub
        .http
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .expect("inm");
    assert_eq!(response.status(), 200);

    let modified = hub.http.get(&url).send().await.expect("get").headers()["last-modified"]
        .to_str()
        .expect("date")
        .to_owned();
    let response = hub
        .http
        .get(&url)
        .header("If-Modified-Since", &modified)
        .send()
        .await
        .expect("ims");
    assert_eq!(response.status(), 304);
    let response = hub
        .http
        .get(&url)
        .header("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
        .send()
        .await
        .expect("ims");
    assert_eq!(response.status(), 200);

    let response = hub.http.head(&url).send().await.expect("head");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"]
            .to_str()
            .expect("length"),
        size.to_string()
    );
    assert!(response.bytes().await.expect("bytes").is_empty());
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn txt_and_json_info(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| {
        config.public_url = "https://hub.example".into();
        config.publish.backend_host = "zdb.example".into();
        config.publish.backend_port = 9900;
        // The test client plays the proxy (forwarded headers from anyone else are ignored).
        config.gateway.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let seeded = seed(&hub).await;
    let md5 = md5_hex(&seeded.bytes);
    let text = format!(
        "File:     zos:v3.4.0.flist\nUploader: tf-zos\nSource:   https://hub.example/tf-zos/zos:v3.4.0.flist\n\
         Storage:  zdb://zdb.example:9900\nChecksum: {md5}\n"
    );
    assert_body(&hub, "/tf-zos/zos:v3.4.0.txt", 200, &text).await;
    assert_body(&hub, "/tf-zos/zos:v3.4.0.flist.txt", 200, &text).await;
    let json = format!(
        "{{\"flist\": \"zos:v3.4.0.flist\", \"uploader\": \"tf-zos\", \"source\": \"https://hub.example/tf-zos/zos:v3.4.0.flist\", \
         \"storage\": \"zdb://zdb.example:9900\", \"checksum\": \"{md5}\"}}\n"
    );
    assert_body(&hub, "/tf-zos/zos:v3.4.0.json", 200, &json).await;
    // A trusted proxy's host is what clients used.
    let response = hub
        .http
        .get(hub.url("/tf-zos/zos:v3.4.0.txt"))
        .header("X-Forwarded-Host", "mirror.example")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .expect("txt");
    let body = response.text().await.expect("body");
    assert!(
        body.contains("Source:   https://mirror.example/tf-zos/zos:v3.4.0.flist\n"),
        "{body}"
    );
    let (status, _) = get_text(&hub, "/tf-zos/nope.txt").await;
    assert_eq!(status, 404);
    let (status, _) = get_text(&hub, "/tf-zos/nope.json").await;
    assert_eq!(status, 404);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn fl_files(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed_flist(&hub, "alice", "app.fl", sample_tree(Format::Fl, 7), &[]).await;
    let response = hub.get("/alice/app.fl").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("bytes"), seeded.bytes);
    assert_body(
        &hub,
        "/alice/app.fl.md5",
        200,
        &format!("{}\n", md5_hex(&seeded.bytes)),
    )
    .await;
    // `.fl` names are not given `.flist` (hub-api §8.4), and they list as regular entries.
    let (status, _) = get_text(&hub, "/api/flist/alice/app.fl/light").await;
    assert_eq!(status, 200);
    let (_, listing) = get_text(&hub, "/api/flist/alice").await;
    assert!(listing.contains("\"name\": \"app.fl\""), "{listing}");
    assert!(listing.contains("\"type\": \"regular\""), "{listing}");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn concurrent_downloads_share_one_fetch(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed(&hub).await;
    let downloads = (0..50).map(|_| {
        let http = hub.http.clone();
        let url = hub.url("/tf-zos/zos:v3.4.0.flist");
        async move { http.get(url).send().await?.bytes().await }
    });
    for body in futures::future::join_all(downloads).await {
        assert_eq!(body.expect("download"), seeded.bytes);
    }
    assert_eq!(hub.state.compat.flists.bytes(), seeded.bytes.len());
    hub.stop().await;
}
