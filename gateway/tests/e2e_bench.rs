//! Benchmark harnesses of the job platform (ignored by default; the figures are recorded in
//! docs/performance.md, "Jobs and gateway"):
//!
//! ```sh
//! cargo test --release -p hub-gateway --test e2e_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! * submit → running latency over 200 jobs submitted one at a time (an idle system);
//! * 1,000 concurrent SSE listeners on one gateway, each receiving every event.

mod common;
mod jobs_support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use jobs_support::{Workers, json};
use sqlx::PgPool;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn submit_to_running_latency(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.requests_per_minute = 0;
        // Production timings: only the worker's long poll matters for this figure.
        config.jobs.fetch_expiry = Duration::from_secs(5);
    })
    .await;
    let workers = Workers::start(&hub).await;
    const JOBS: usize = 200;
    let mut submit_ms = Vec::with_capacity(JOBS);
    let mut ids = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let started = Instant::now();
        let response = hub
            .http
            .post(hub.url("/api/jobs"))
            .json(&serde_json::json!({"kind": "docker", "image": format!("bench/app:{i}")}))
            .send()
            .await
            .expect("submit");
        submit_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(response.status(), 202);
        let id = json(response).await["id"].as_str().expect("id").to_owned();
        // Wait for the job to finish, so every submission meets an idle system.
        let done = json(hub.get(&format!("/api/jobs/{id}?wait=10s")).await).await;
        if done["status"] != "succeeded" {
            let done = json(hub.get(&format!("/api/jobs/{id}?wait=10s")).await).await;
            assert_eq!(done["status"], "succeeded", "{done}");
        }
        ids.push(id.parse::<uuid::Uuid>().expect("uuid"));
    }
    let mut latencies: Vec<f64> = sqlx::query_scalar(
        "SELECT (EXTRACT(EPOCH FROM (started_at - created_at)) * 1000)::float8 \
         FROM jobs WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&hub.state.pool)
    .await
    .expect("latencies");
    latencies.sort_by(f64::total_cmp);
    submit_ms.sort_by(f64::total_cmp);
    println!(
        "submit→running over {JOBS} jobs: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         POST /api/jobs → 202: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        percentile(&submit_ms, 0.5),
        percentile(&submit_ms, 0.99),
    );
    assert!(percentile(&latencies, 0.5) < 50.0, "p50 target: 50 ms");
    workers.stop().await;
    hub.stop().await;
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn a_thousand_sse_listeners(pool: PgPool) {
    let hub = jobs_support::start(pool, |config| {
        config.limits.requests_per_minute = 0;
        // A thousand connections from one address is this benchmark's point.
        config.gateway.max_connections_per_address = 0;
    })
    .await;
    let workers = Workers::start(&hub).await;
    // Submitted before any worker can take it: listeners join while it is queued.
    let response = hub
        .http
        .post(hub.url("/api/jobs"))
        .json(&serde_json::json!({"kind": "docker", "image": "slow-4000.bench"}))
        .send()
        .await
        .expect("submit");
    let id = json(response).await["id"].as_str().expect("id").to_owned();
    const LISTENERS: usize = 1000;
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let listeners = (0..LISTENERS).map(|_| {
        let request = client.get(hub.url(&format!("/api/jobs/{id}/events")));
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            if response.status() != 200 {
                return Err(format!("status {}", response.status()));
            }
            let mut body = String::new();
            let mut chunks = response.bytes_stream();
            while let Some(chunk) = chunks.next().await {
                body.push_str(&String::from_utf8_lossy(&chunk.map_err(|e| e.to_string())?));
            }
            Ok::<_, String>(body)
        }
    });
    let bodies = tokio::time::timeout(
        Duration::from_secs(120),
        futures::future::join_all(listeners),
    )
    .await
    .expect("every stream ends with the job");
    let elapsed = started.elapsed();
    let mut errors = 0;
    let mut complete = 0;
    for body in &bodies {
        match body {
            Ok(body) if body.contains("\"state\":\"succeeded\"") && body.contains("id: 5\n") => {
                complete += 1;
            }
            Ok(body) => panic!("incomplete stream: {body}"),
            Err(_) => errors += 1,
        }
    }
    println!(
        "{LISTENERS} SSE listeners on one job: {complete} complete streams, {errors} errors, \
         {elapsed:?} from connecting to the job's end"
    );
    assert_eq!(errors, 0);
    assert_eq!(complete, LISTENERS);
    workers.stop().await;
    hub.stop().await;
}
