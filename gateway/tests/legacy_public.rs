//! The public read API (hub-api §6: listings, contents dumps, metadata) against the real stack:
//! exact bodies (key order, Python separators, trailing newline), the status codes the error
//! catalogue gives each message, caching that never hides a change.

mod common;
mod legacy_support;

use common::TestHub;
use hub_db::{entries, tags};
use legacy_support::{assert_body, error_body, get_text, sample_tree, seed_flist, seed_sample};
use md5::{Digest, Md5};
use sqlx::PgPool;

/// Fixed times, so bodies can be compared byte for byte.
async fn pin_times(pool: &PgPool) {
    for statement in [
        "UPDATE entries SET updated_at = to_timestamp(CASE WHEN kind = 'regular' \
         THEN 1700000000 ELSE 1700000100 END)",
        "UPDATE tags SET updated_at = to_timestamp(1700000200)",
        "UPDATE tag_entries SET updated_at = to_timestamp(1700000300)",
        "UPDATE repositories SET updated_at = to_timestamp(1700000500)",
    ] {
        sqlx::query(statement)
            .execute(pool)
            .await
            .expect("pin times");
    }
}

/// alice: `app.flist`, `latest.flist` → `app.flist`, tag `v1` = {app.flist → alice/app.flist};
/// bob: `x.flist` → `alice/app.flist`, taglink `prod` → `alice/tags/v1`.
async fn seed_repositories(hub: &TestHub) -> legacy_support::Seeded {
    let seeded = seed_sample(hub, "alice", "app.flist").await;
    let pool = &hub.state.pool;
    entries::link(
        pool,
        "alice",
        "latest.flist",
        "alice",
        "app.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("link");
    entries::link(
        pool,
        "bob",
        "x.flist",
        "alice",
        "app.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("crosslink");
    tags::put_entry(
        pool,
        "alice",
        "v1",
        "app.flist",
        "alice",
        "app.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("tag");
    entries::taglink(
        pool,
        "bob",
        "prod",
        "prod.flist",
        "alice",
        "v1",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("taglink");
    pin_times(pool).await;
    seeded
}

const ALICE: &str = "[{\"name\": \"app.flist\", \"size\": \"1.12 KB\", \"updated\": 1700000000, \"type\": \"regular\"}, \
{\"name\": \"latest.flist\", \"size\": \"1.12 KB\", \"updated\": 1700000000, \"linktime\": 1700000100, \"type\": \"symlink\", \"target\": \"app.flist\"}, \
{\"name\": \"v1\", \"size\": \"0 KB\", \"updated\": 1700000200, \"type\": \"tag\"}]";
const BOB: &str = "[{\"name\": \"prod\", \"size\": \"4.00 KB\", \"updated\": 1700000200, \"linktime\": 1700000100, \"type\": \"taglink\", \"target\": \"alice/tags/v1\"}, \
{\"name\": \"x.flist\", \"size\": \"1.12 KB\", \"updated\": 1700000000, \"linktime\": 1700000100, \"type\": \"symlink\", \"target\": \"alice/app.flist\"}]";

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listings_have_the_original_shapes(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| {
        config.auth.authentication = true;
        config.official_repositories = vec!["alice".into()];
    })
    .await;
    assert_body(&hub, "/api/repositories", 200, "[]\n").await;
    seed_repositories(&hub).await;
    // A size whose rounding is a tie (1152 / 1024 = 1.125 → "1.12").
    sqlx::query("UPDATE flists SET size = 1152")
        .execute(&hub.state.pool)
        .await
        .expect("size");

    assert_body(&hub, "/api/flist/alice", 200, &format!("{ALICE}\n")).await;
    assert_body(&hub, "/api/flist/bob", 200, &format!("{BOB}\n")).await;
    assert_body(
        &hub,
        "/api/flist/alice/tags/v1",
        200,
        "[{\"name\": \"app.flist\", \"size\": \"1.12 KB\", \"updated\": 1700000000, \"linktime\": 1700000300, \"type\": \"symlink\", \"target\": \"alice/app.flist\"}]\n",
    )
    .await;
    assert_body(
        &hub,
        "/api/flist",
        200,
        "[\"alice/app.flist\", \"alice/latest.flist\", \"bob/prod\", \"bob/x.flist\"]\n",
    )
    .await;
    assert_body(
        &hub,
        "/api/repositories",
        200,
        "[{\"name\": \"alice\", \"official\": true, \"updated\": 1700000500}, \
         {\"name\": \"bob\", \"official\": false, \"updated\": 1700000500}]\n",
    )
    .await;
    assert_body(
        &hub,
        "/api/fileslist",
        200,
        &format!("{{\"alice\": {ALICE}, \"bob\": {BOB}}}\n"),
    )
    .await;
    // Trailing slashes are ignored.
    assert_body(&hub, "/api/flist/alice/", 200, &format!("{ALICE}\n")).await;
    let response = hub.get("/api/flist/alice").await;
    assert_eq!(response.headers()["content-type"], "application/json");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listing_errors(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_repositories(&hub).await;
    assert_body(
        &hub,
        "/api/flist/nobody",
        404,
        &error_body("user not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/nobody/tags/v1",
        404,
        &error_body("user not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/alice/tags/nope",
        404,
        &error_body("tag not found"),
    )
    .await;
    // Names that cannot exist: traversal, NUL, markup.
    // (`..` and `%2E%2E` alone are resolved by the client, per the URL standard.)
    for path in [
        "/api/flist/..%2Fetc",
        "/api/flist/a%00b",
        "/api/flist/%3Cscript%3E",
    ] {
        assert_body(&hub, path, 404, &error_body("user not found")).await;
    }
    for path in [
        "/api/flist/alice/..%2F..%2Fetc%2Fpasswd",
        "/api/flist/alice/a%00",
        "/api/flist/alice/%3Cb%3E/light",
        "/api/flist/alice/..%2Fbob%2Fx/metadata",
    ] {
        assert_body(&hub, path, 404, &error_body("source not found")).await;
    }
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listings_follow_changes_at_once(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "alice", "a.flist").await;
    let (_, before) = get_text(&hub, "/api/flist/alice").await;
    let (_, all_before) = get_text(&hub, "/api/fileslist").await;
    seed_sample(&hub, "alice", "b.flist").await;
    let (_, after) = get_text(&hub, "/api/flist/alice").await;
    let (_, all_after) = get_text(&hub, "/api/fileslist").await;
    assert!(
        !before.contains("b.flist") && after.contains("b.flist"),
        "{after}"
    );
    assert!(!all_before.contains("b.flist") && all_after.contains("b.flist"));
    entries::remove(&hub.state.pool, "alice", "a.flist")
        .await
        .expect("remove");
    let (_, removed) = get_text(&hub, "/api/flist/alice").await;
    assert!(!removed.contains("a.flist"), "{removed}");
    hub.stop().await;
}

const DUMP: &str = "{\"content\": [{\"size\": 4096, \"path\": \"/bin\"}, {\"size\": 7, \"path\": \"/bin/sh\"}, \
{\"size\": 4096, \"path\": \"/etc\"}, {\"size\": 7, \"path\": \"/etc/hostname\"}], \
\"regular\": 1, \"symlink\": 1, \"directory\": 2, \"special\": 0, \"failure\": 0, \"fullsize\": 7}\n";

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn contents_dump_through_names_and_links(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_repositories(&hub).await;
    for path in [
        "/api/flist/alice/app",
        "/api/flist/alice/app.flist",
        "/api/flist/alice/latest",
        "/api/flist/bob/x.flist/",
    ] {
        assert_body(&hub, path, 200, DUMP).await;
    }
    assert_body(
        &hub,
        "/api/flist/nobody/app",
        404,
        &error_body("user not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/alice/nope",
        404,
        &error_body("source not found"),
    )
    .await;
    // 6.6: a dangling pointer is `source not found`.
    entries::remove(&hub.state.pool, "alice", "app.flist")
        .await
        .expect("remove");
    assert_body(
        &hub,
        "/api/flist/alice/latest",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/bob/x",
        404,
        &error_body("source not found"),
    )
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_row_without_dump_is_computed_from_the_file(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "alice", "app.flist").await;
    sqlx::query("UPDATE flists SET dump = NULL")
        .execute(&hub.state.pool)
        .await
        .expect("drop dump");
    assert_body(&hub, "/api/flist/alice/app", 200, DUMP).await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn light_and_info(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed_repositories(&hub).await;
    let md5 = hex::encode(Md5::digest(&seeded.bytes));
    let size = seeded.bytes.len();
    let regular = format!(
        "{{\"name\": \"app.flist\", \"size\": {size}, \"updated\": 1700000000, \"type\": \"regular\", \"md5\": \"{md5}\"}}\n"
    );
    assert_body(&hub, "/api/flist/alice/app/light", 200, &regular).await;
    let info = reqwest::Method::from_bytes(b"INFO").expect("method");
    for path in ["/api/flist/alice/app", "/api/flist/alice/app.flist/"] {
        let response = hub
            .http
            .request(info.clone(), hub.url(path))
            .send()
            .await
            .expect("INFO");
        assert_eq!(response.status(), 200, "INFO {path}");
        assert_eq!(response.text().await.expect("body"), regular);
    }
    // Links: the target's size, time and md5, the link's own time and raw text.
    assert_body(
        &hub,
        "/api/flist/alice/latest/light",
        200,
        &format!(
            "{{\"name\": \"latest.flist\", \"size\": {size}, \"updated\": 1700000000, \"type\": \"symlink\", \"md5\": \"{md5}\", \"linktime\": 1700000100, \"target\": \"app.flist\"}}\n"
        ),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/bob/x/light",
        200,
        &format!(
            "{{\"name\": \"x.flist\", \"size\": {size}, \"updated\": 1700000000, \"type\": \"symlink\", \"md5\": \"{md5}\", \"linktime\": 1700000100, \"target\": \"../alice/app.flist\"}}\n"
        ),
    )
    .await;
    // A taglink cannot be addressed by /light.
    assert_body(
        &hub,
        "/api/flist/bob/prod/light",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/nobody/x/light",
        404,
        &error_body("user not found"),
    )
    .await;
    // A dangling link keeps its info, with md5 null (hub-api §6.7).
    entries::remove(&hub.state.pool, "alice", "app.flist")
        .await
        .expect("remove");
    assert_body(
        &hub,
        "/api/flist/alice/latest/light",
        200,
        "{\"name\": \"latest.flist\", \"size\": 0, \"updated\": 1700000100, \"type\": \"symlink\", \"md5\": null, \"linktime\": 1700000100, \"target\": \"app.flist\"}\n",
    )
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn taglink_route(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_repositories(&hub).await;
    assert_body(
        &hub,
        "/api/flist/bob/prod/taglink",
        200,
        "{\"target\": \"alice/tags/v1\"}\n",
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/bob/prod/taglink/",
        200,
        "{\"target\": \"alice/tags/v1\"}\n",
    )
    .await;
    // Not a pointer, or nothing at all.
    assert_body(
        &hub,
        "/api/flist/alice/app.flist/taglink",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/bob/nope/taglink",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/nobody/prod/taglink",
        404,
        &error_body("user not found"),
    )
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn metadata_hides_backend_secrets_and_forces_the_public_backend(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| {
        config.publish.backend_host = "hub.grid.tf".into();
        config.publish.backend_port = 9900;
        config.publish.backend_namespace = "default".into();
    })
    .await;
    seed_flist(
        &hub,
        "alice",
        "homemade.flist",
        sample_tree(hub_flist::Format::Flist, 7),
        &[
            (
                "backend",
                r#"{"host": "zdb.example", "port": 9900, "namespace": "mine", "password": "s3cret", "token": "t0k"}"#,
            ),
            ("readme", r##"{"readme": "# App"}"##),
        ],
    )
    .await;
    let (status, body) = get_text(&hub, "/api/flist/alice/homemade/metadata").await;
    assert_eq!(status, 200);
    assert!(!body.contains("s3cret") && !body.contains("t0k"), "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "backend": {"host": "zdb.example", "port": 9900, "namespace": "mine"},
            "readme": {"readme": "# App"},
        })
    );
    seed_sample(&hub, "alice", "plain.flist").await;
    assert_body(
        &hub,
        "/api/flist/alice/plain/metadata",
        200,
        "{\"backend-forced\": {\"host\": \"hub.grid.tf\", \"port\": 9900, \"namespace\": \"default\"}}\n",
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/alice/nope/metadata",
        404,
        &error_body("source not found"),
    )
    .await;
    hub.stop().await;
}

/// Large listings and dumps go out gzip-compressed to clients that ask for it (compressed once
/// per version, not per request), and as they were to everyone else.
#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn large_bodies_are_compressed_for_clients_that_accept_gzip(pool: PgPool) {
    use std::io::Read;
    let hub = TestHub::start(pool).await;
    seed_repositories(&hub).await;
    for n in 0..50 {
        entries::link(
            &hub.state.pool,
            "alice",
            &format!("link-{n:02}.flist"),
            "alice",
            "app.flist",
            hub_db::EntryQuota::UNLIMITED,
        )
        .await
        .expect("link");
    }
    for path in ["/api/flist/alice", "/api/fileslist", "/api/flist"] {
        let (status, plain) = get_text(&hub, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(plain.len() > 1024, "{path} is large enough to compress");
        let response = hub
            .http
            .get(hub.url(path))
            .header("accept-encoding", "br;q=1.0, gzip;q=0.5")
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(response.headers()["vary"], "accept-encoding", "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let compressed = response.bytes().await.expect("body");
        assert!(
            compressed.len() < plain.len() / 2,
            "{path}: {} bytes",
            compressed.len()
        );
        let mut inflated = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut inflated)
            .expect("gzip");
        assert_eq!(inflated, plain, "{path}");
        // `gzip;q=0` refuses it.
        let response = hub
            .http
            .get(hub.url(path))
            .header("accept-encoding", "*, gzip;q=0")
            .send()
            .await
            .expect("get");
        assert!(response.headers().get("content-encoding").is_none());
        assert_eq!(response.text().await.expect("body"), plain);
    }
    hub.stop().await;
}
