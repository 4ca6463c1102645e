//! `/readyz` probes over the connections every hub process holds (gateway and workers), so
//! that each reports its dependencies under the same names with the same checks.

use hub_db::PgPool;
use hub_store::SharedStore;
use hub_telemetry::Probe;

/// `postgres`: ready when a `SELECT 1` answers.
pub fn postgres(pool: PgPool) -> Probe {
    Probe::new("postgres", move || {
        let pool = pool.clone();
        Box::pin(async move { hub_db::ping(&pool).await.map_err(|err| err.to_string()) })
    })
}

/// `nats`: ready while the client is connected. The client reconnects on its own; until it
/// has, jobs can neither be queued nor fetched, so the process is not ready.
pub fn nats(client: async_nats::Client) -> Probe {
    Probe::new("nats", move || {
        let state = client.connection_state();
        Box::pin(async move {
            match state {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
    })
}

/// `store`: ready when the chunk store answers its ping.
pub fn store(store: SharedStore) -> Probe {
    Probe::new("store", move || {
        let store = SharedStore::clone(&store);
        Box::pin(async move { store.ping().await.map_err(|err| err.to_string()) })
    })
}

#[cfg(test)]
mod tests {
    use hub_telemetry::Readiness;
    use serde_json::json;
    use sqlx::postgres::PgPoolOptions;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn reachable_services_are_ready() -> TestResult {
        let pool = hub_db::connect(&hub_testkit::database_url(), 1).await?;
        let client = nats_client().await?;
        let dir = tempfile::tempdir()?;
        let chunks = hub_store::open(&format!("dir://{}", dir.path().display())).await?;
        let readiness = Readiness::new()
            .with(postgres(pool))
            .with(nats(client))
            .with(store(chunks));
        let (ready, checks) = readiness.report().await;
        assert_eq!(
            checks,
            json!({"postgres": "ok", "nats": "ok", "store": "ok"})
        );
        assert!(ready);
        Ok(())
    }

    #[tokio::test]
    async fn unreachable_services_are_reported_by_name() -> TestResult {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        // Lazy: connecting is what the probe does.
        let pool = PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(500))
            .connect_lazy(&format!("postgres://postgres@{closed}/postgres"))?;
        // Returns at once, still trying to reach the (absent) server.
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(format!("nats://{closed}"))
            .await?;
        let chunks = hub_store::open(&format!("zdb://{closed}")).await?;
        let readiness = Readiness::new()
            .with(postgres(pool))
            .with(nats(client))
            .with(store(chunks));
        let (ready, checks) = readiness.report().await;
        assert!(!ready);
        for name in ["postgres", "nats", "store"] {
            let check = checks[name].as_str().unwrap_or("missing");
            assert!(check != "ok" && check != "missing", "{name}: {check}");
        }
        Ok(())
    }

    async fn nats_client() -> Result<async_nats::Client, crate::JobsError> {
        crate::connect_nats(&hub_testkit::nats_url(), "hub-jobs-probes-test").await
    }
}
