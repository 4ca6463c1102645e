//! The authenticated API (hub-api §7: `/api/flist/me…`, links, tags, renames, promotes,
//! uploads) against the real stack. The hub runs with authentication disabled (caller
//! `Administrator`) except in the guard test.

mod common;
mod legacy_support;

use common::TestHub;
use hub_auth::config::Key32;
use hub_db::{entries, tags};
use legacy_support::{assert_body, error_body, get_text, seed_sample};
use sqlx::PgPool;

const SUCCESS: &str = "{\"status\": \"success\"}\n";
const ME: &str = "Administrator";

async fn delete(hub: &TestHub, path: &str) -> (u16, String) {
    let response = hub.http.delete(hub.url(path)).send().await.expect("delete");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn kind_of(hub: &TestHub, repo: &str, name: &str) -> Option<String> {
    entries::get(&hub.state.pool, repo, name)
        .await
        .expect("entry")
        .map(|entry| entry.kind.as_str().to_owned())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn probe_and_the_guard(pool: PgPool) {
    let seed = [7u8; 32];
    let hub = TestHub::start_with(pool, move |config| {
        config.auth.authentication = true;
        config.auth.threebot_seed = Some(Key32::new(seed));
    })
    .await;
    assert_body(
        &hub,
        "/api/flist/me",
        401,
        &error_body("no authorization provided"),
    )
    .await;
    let call = |auth: &'static str| {
        hub.http
            .get(hub.url("/api/flist/me"))
            .header("Authorization", auth)
            .send()
    };
    let response = call("Basic abc").await.expect("request");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.expect("body"),
        error_body("invalid authorization header")
    );
    let response = call("bearer not-a-token").await.expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.text().await.expect("body"),
        error_body("invalid signature")
    );

    let token = hub_auth::mint_hub_token(&seed, "alice.3bot", chrono::Utc::now().timestamp());
    for scheme in ["Bearer", "bearer"] {
        let response = hub
            .http
            .get(hub.url("/api/flist/me/"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("probe");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.text().await.expect("body"),
            "{\"status\": \"success\", \"payload\": {\"username\": \"alice.3bot\"}}\n"
        );
    }
    // The token's user's repository is created by its first write (hub-api D16).
    seed_sample(&hub, "bob", "app.flist").await;
    let response = hub
        .http
        .get(hub.url("/api/flist/me/mine/crosslink/bob/app"))
        .header("Authorization", format!("bearer {token}"))
        .send()
        .await
        .expect("crosslink");
    assert_eq!(response.status(), 200);
    assert_eq!(
        kind_of(&hub, "alice.3bot", "mine.flist").await.as_deref(),
        Some("symlink")
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn readonly_mode_refuses_every_me_route(pool: PgPool) {
    let hub = TestHub::start_with(pool, |config| config.auth.readonly = true).await;
    seed_sample(&hub, "alice", "app.flist").await;
    for path in [
        "/api/flist/me",
        "/api/flist/me/app",
        "/api/flist/me/app/link/x",
    ] {
        assert_body(&hub, path, 403, &error_body("readonly mode")).await;
    }
    // Reads keep working.
    let (status, _) = get_text(&hub, "/api/flist/alice").await;
    assert_eq!(status, 200);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn local_links(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    // The caller's repository does not exist yet: the link creates it, then finds no source.
    assert_body(
        &hub,
        "/api/flist/me/app/link/latest",
        404,
        &error_body("source not found"),
    )
    .await;
    seed_sample(&hub, ME, "app.flist").await;
    assert_body(&hub, "/api/flist/me/app/link/latest", 200, SUCCESS).await;
    assert_eq!(
        kind_of(&hub, ME, "latest.flist").await.as_deref(),
        Some("symlink")
    );
    // Links to links are allowed; an existing link is replaced.
    assert_body(&hub, "/api/flist/me/latest.flist/link/stable", 200, SUCCESS).await;
    assert_body(&hub, "/api/flist/me/app/link/stable", 200, SUCCESS).await;
    // A regular flist is never replaced by a link.
    seed_sample(&hub, ME, "other.flist").await;
    assert_body(
        &hub,
        "/api/flist/me/app/link/other",
        409,
        &error_body("link destination is already a file"),
    )
    .await;
    // The GET of 7.2 is the contents dump.
    let (status, body) = get_text(&hub, "/api/flist/me/stable").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("{\"content\": ["), "{body}");
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn created_names_are_validated(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, ME, "app.flist").await;
    seed_sample(&hub, "bob", "base.flist").await;
    for bad in [
        ".hidden",
        "..%2Fescape",
        "a%00b",
        "%3Cscript%3E",
        "a%5Cb",
        "%2E%2E%2E",
    ] {
        assert_body(
            &hub,
            &format!("/api/flist/me/app/link/{bad}"),
            400,
            &error_body("invalid flist name"),
        )
        .await;
        assert_body(
            &hub,
            &format!("/api/flist/me/promote/bob/base/{bad}"),
            400,
            &error_body("invalid flist name"),
        )
        .await;
        assert_body(
            &hub,
            &format!("/api/flist/me/{bad}/x/tag/bob/base"),
            400,
            &error_body("invalid tag name"),
        )
        .await;
        assert_body(
            &hub,
            &format!("/api/flist/me/app/rename/{bad}"),
            400,
            &error_body("invalid flist name"),
        )
        .await;
    }
    // Reading through a traversal name finds nothing.
    assert_body(
        &hub,
        "/api/flist/me/..%2Fbob%2Fbase/link/x",
        404,
        &error_body("source not found"),
    )
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn crosslinks(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "bob", "base.flist").await;
    assert_body(
        &hub,
        "/api/flist/me/mine/crosslink/nobody/base",
        404,
        &error_body("source repository not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/me/mine/crosslink/bob/nope",
        404,
        &error_body("source not found"),
    )
    .await;
    // D16: the caller's repository is created on demand.
    assert_body(&hub, "/api/flist/me/mine/crosslink/bob/base", 200, SUCCESS).await;
    let (_, listing) = get_text(&hub, "/api/flist/Administrator").await;
    assert!(
        listing.contains("\"target\": \"bob/base.flist\""),
        "{listing}"
    );
    seed_sample(&hub, ME, "file.flist").await;
    assert_body(
        &hub,
        "/api/flist/me/file/crosslink/bob/base",
        409,
        &error_body("link destination is already a file"),
    )
    .await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tags_add_remove_and_dangling_entries(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "bob", "base.flist").await;
    assert_body(
        &hub,
        "/api/flist/me/v1/base/tag/nobody/base",
        404,
        &error_body("source repository not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/me/v1/base/tag/bob/nope",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(&hub, "/api/flist/me/v1/base/tag/bob/base", 200, SUCCESS).await;
    let (status, listing) = get_text(&hub, "/api/flist/Administrator/tags/v1").await;
    assert_eq!(status, 200);
    assert!(
        listing.contains("\"target\": \"bob/base.flist\""),
        "{listing}"
    );

    // D17: once the source is gone the entry can still be removed.
    entries::remove(&hub.state.pool, "bob", "base.flist")
        .await
        .expect("remove source");
    let response = hub
        .http
        .delete(hub.url("/api/flist/me/v1/base/tag/bob/base"))
        .send()
        .await
        .expect("untag");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), SUCCESS);
    // The last entry removed the tag.
    assert!(
        tags::get(&hub.state.pool, ME, "v1")
            .await
            .expect("tag")
            .is_none()
    );
    let (status, body) = delete(&hub, "/api/flist/me/v1/base/tag/bob/base").await;
    assert_eq!(
        (status, body.as_str()),
        (404, error_body("target not found on this tag").as_str())
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn crosstag_checks_in_order(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "tf-zos", "zos:v3.4.0.flist").await;
    tags::put_entry(
        &hub.state.pool,
        "tf-zos",
        "v3.x",
        "zos.flist",
        "tf-zos",
        "zos:v3.4.0.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("tag");
    assert_body(
        &hub,
        "/api/flist/me/production/crosstag/tf-zos/nope",
        404,
        &error_body("source tag not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/me/production.flist/crosstag/tf-zos/v3.x",
        400,
        &error_body("tag symlink cannot ends with .flist"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/me/production/crosstag/tf-zos/v3.x",
        200,
        SUCCESS,
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/tf-zos/production/taglink",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/Administrator/production/taglink",
        200,
        "{\"target\": \"tf-zos/tags/v3.x\"}\n",
    )
    .await;
    seed_sample(&hub, ME, "taken.flist").await;
    assert_body(
        &hub,
        "/api/flist/me/taken/crosstag/tf-zos/v3.x",
        409,
        &error_body("there is a .flist file with the same name existing already"),
    )
    .await;
    // 7.2 step 2: the bare name deletes the taglink.
    let (status, body) = delete(&hub, "/api/flist/me/production").await;
    assert_eq!((status, body.as_str()), (200, SUCCESS));
    assert_eq!(kind_of(&hub, ME, "production").await, None);
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn delete_entries(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let (status, body) = delete(&hub, "/api/flist/me/x").await;
    assert_eq!(
        (status, body.as_str()),
        (404, error_body("user not found").as_str())
    );
    seed_sample(&hub, ME, "app.flist").await;
    assert_body(&hub, "/api/flist/me/app/link/latest", 200, SUCCESS).await;
    // Removing a pointer leaves its target.
    let (status, _) = delete(&hub, "/api/flist/me/latest").await;
    assert_eq!(status, 200);
    assert_eq!(
        kind_of(&hub, ME, "app.flist").await.as_deref(),
        Some("regular")
    );
    // Removing a flist leaves pointers to it dangling; a dangling pointer can be removed.
    assert_body(&hub, "/api/flist/me/app/link/latest", 200, SUCCESS).await;
    let (status, _) = delete(&hub, "/api/flist/me/app.flist").await;
    assert_eq!(status, 200);
    assert_eq!(
        kind_of(&hub, ME, "latest.flist").await.as_deref(),
        Some("symlink")
    );
    let (status, body) = delete(&hub, "/api/flist/me/latest/").await;
    assert_eq!((status, body.as_str()), (200, SUCCESS));
    let (status, body) = delete(&hub, "/api/flist/me/latest").await;
    assert_eq!(
        (status, body.as_str()),
        (404, error_body("source not found").as_str())
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn rename_refuses_to_overwrite_without_force(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    assert_body(
        &hub,
        "/api/flist/me/a/rename/b",
        404,
        &error_body("user not found"),
    )
    .await;
    seed_sample(&hub, ME, "app.flist").await;
    seed_sample(&hub, ME, "other.flist").await;
    assert_body(
        &hub,
        "/api/flist/me/nope/rename/b",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(&hub, "/api/flist/me/app/rename/renamed", 200, SUCCESS).await;
    assert_eq!(kind_of(&hub, ME, "app.flist").await, None);
    assert_eq!(
        kind_of(&hub, ME, "renamed.flist").await.as_deref(),
        Some("regular")
    );
    let (status, body) = get_text(&hub, "/api/flist/me/renamed/rename/other").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("force=true"), "{body}");
    assert_eq!(
        kind_of(&hub, ME, "renamed.flist").await.as_deref(),
        Some("regular")
    );
    assert_body(
        &hub,
        "/api/flist/me/renamed/rename/other?force=true",
        200,
        SUCCESS,
    )
    .await;
    assert_eq!(kind_of(&hub, ME, "renamed.flist").await, None);
    // A pointer is renamed as a pointer.
    assert_body(&hub, "/api/flist/me/other/link/latest", 200, SUCCESS).await;
    assert_body(&hub, "/api/flist/me/latest/rename/current", 200, SUCCESS).await;
    assert_eq!(
        kind_of(&hub, ME, "current.flist").await.as_deref(),
        Some("symlink")
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn promote_shares_the_flist(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let seeded = seed_sample(&hub, "bob", "base.flist").await;
    entries::link(
        &hub.state.pool,
        "bob",
        "latest.flist",
        "bob",
        "base.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await
    .expect("link");
    assert_body(
        &hub,
        "/api/flist/me/promote/nobody/base/mine",
        404,
        &error_body("user not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/me/promote/bob/nope/mine",
        404,
        &error_body("source not found"),
    )
    .await;
    assert_body(
        &hub,
        "/api/flist/me/promote/bob/latest/mine",
        200,
        "{\"status\": \"success\", \"payload\": {\"source\": {\"username\": \"bob\", \"filename\": \"latest.flist\"}, \
         \"destination\": {\"username\": \"Administrator\", \"filename\": \"mine.flist\"}}}\n",
    )
    .await;
    // Following the link produced a regular entry on the same flist row: nothing was copied.
    let entry = entries::get(&hub.state.pool, ME, "mine.flist")
        .await
        .expect("entry")
        .expect("promoted");
    assert_eq!(entry.flist_id, Some(seeded.row.id));
    hub.stop().await;
}
