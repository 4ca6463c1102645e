//! `/api/openapi.json` is served, and every operation it documents reaches a handler of the
//! real app (no `405`, no unknown-route `404`).

mod common;

use hub_gateway::openapi::{OPERATIONS, PATH};
use sqlx::PgPool;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn the_document_is_served_and_every_operation_is_routed(pool: PgPool) {
    let hub = common::TestHub::start(pool).await;
    let served = hub.get(PATH).await;
    assert_eq!(served.status(), 200);
    let document: serde_json::Value = served.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/api/jobs/{id}"]["get"].is_object());

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for operation in OPERATIONS {
        // Parameters get values no handler will find, so no handler does any work.
        let path: String = operation
            .path
            .split('/')
            .map(|segment| {
                if segment == "{id}" || segment == "{jobid}" || segment == "{jti}" {
                    "0b6f6c0e-2222-4000-8000-000000000000"
                } else if segment.starts_with('{') {
                    "no-such-thing"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = operation
            .method
            .to_ascii_uppercase()
            .parse()
            .expect("method");
        let response = no_redirects
            .request(method, hub.url(&path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let what = format!("{} {path}: {status} {body}", operation.method);
        assert_ne!(status, 405, "{what}");
        if path.starts_with("/api/") && status == 404 {
            assert!(
                !body.contains("\"message\": \"not found\""),
                "unrouted: {what}"
            );
        }
    }
    hub.stop().await;
}
