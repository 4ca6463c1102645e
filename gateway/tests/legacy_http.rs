//! Cross-cutting HTTP behaviour (hub-api §2.2, §2.3, D5, D23): OPTIONS and CORS preflights
//! everywhere, `Access-Control-Allow-Origin: *` on every answer, JSON errors under `/api/`,
//! HEAD for every GET, trailing slashes ignored.

mod common;
mod legacy_support;

use common::TestHub;
use legacy_support::{assert_body, error_body, seed_sample};
use sqlx::PgPool;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn preflights_allow_authorization(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    for path in [
        "/api/flist/me",
        "/api/flist/alice/x/light",
        "/alice/x.flist",
        "/",
        "/nowhere",
    ] {
        let response = hub
            .http
            .request(reqwest::Method::OPTIONS, hub.url(path))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
            .await
            .expect("preflight");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .expect("text");
        for name in [
            "Authorization",
            "Content-Type",
            "X-Original-Name",
            "Range",
            "If-None-Match",
        ] {
            assert!(allowed.contains(name), "{allowed}");
        }
        let methods = headers["access-control-allow-methods"]
            .to_str()
            .expect("text");
        for method in ["GET", "POST", "DELETE", "INFO", "OPTIONS"] {
            assert!(methods.contains(method), "{methods}");
        }
    }
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn errors_under_api_are_json(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    assert_body(&hub, "/api/nothing/here", 404, &error_body("not found")).await;
    assert_body(&hub, "/api", 404, &error_body("not found")).await;
    let response = hub
        .http
        .post(hub.url("/api/repositories"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        response.text().await.expect("body"),
        error_body("method not allowed")
    );
    // Outside /api/ a missing page is a web page.
    let response = hub.get("/nobody").await;
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/html")
    );
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn head_answers_every_get(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    seed_sample(&hub, "alice", "app.flist").await;
    for path in [
        "/api/repositories",
        "/api/flist/alice",
        "/api/flist/alice/app",
        "/api/flist/alice/app/light/",
        "/alice/app.flist.md5",
        "/alice",
        "/",
    ] {
        let get = hub.get(path).await;
        assert_eq!(get.status(), 200, "GET {path}");
        let length = get.bytes().await.expect("body").len();
        let head = hub.http.head(hub.url(path)).send().await.expect("head");
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(head.headers()["access-control-allow-origin"], "*");
        assert_eq!(
            head.headers()["content-length"].to_str().expect("length"),
            length.to_string(),
            "HEAD {path}"
        );
    }
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn info_method_elsewhere_is_not_allowed(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let info = reqwest::Method::from_bytes(b"INFO").expect("method");
    let response = hub
        .http
        .request(info, hub.url("/api/repositories"))
        .send()
        .await
        .expect("info");
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.text().await.expect("body"),
        error_body("method not allowed")
    );
    hub.stop().await;
}
