//! The gateway starts against the real services and answers its health endpoints.

mod common;

use common::TestHub;
use sqlx::PgPool;

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn health_and_readiness(pool: PgPool) {
    let hub = TestHub::start(pool).await;
    let health = hub.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = hub.get("/readyz").await;
    let status = ready.status();
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["nats"], "ok");
    assert_eq!(body["checks"]["store"], "ok");
    hub.stop().await;
}
