//! Measures `exists()` calls per second against the 0-db double (over the connection pool) and
//! against a directory store, with many concurrent callers as the converter's verify step has.
//!
//! `cargo run --release -p hub-store --example exists_rate [calls] [concurrency]`

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hub_store::SharedStore;
use hub_zdb_double::{DoubleConfig, ZdbDouble};

/// Blocks written before measuring; half of the checked ids exist.
const PRESENT: u32 = 1000;

fn id(n: u32) -> [u8; 32] {
    let mut id = [0x5a; 32];
    id[..4].copy_from_slice(&n.to_le_bytes());
    id
}

async fn measure(
    label: &str,
    store: SharedStore,
    calls: u32,
    concurrency: u32,
) -> Result<(), Box<dyn Error>> {
    for n in 0..PRESENT {
        store.set(&id(n), Bytes::from(vec![1u8; 64])).await?;
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let mut found = 0u32;
            let mut n = worker;
            while n < calls {
                if store.exists(&id(n % (2 * PRESENT))).await? {
                    found += 1;
                }
                n += concurrency;
            }
            Ok::<_, hub_store::StoreError>(found)
        });
    }
    let mut found = 0;
    while let Some(result) = tasks.join_next().await {
        found += result??;
    }
    let elapsed = started.elapsed();
    println!(
        "{label}: {calls} exists() in {:.3} s = {:.0} calls/s ({found} present, {concurrency} callers)",
        elapsed.as_secs_f64(),
        f64::from(calls) / elapsed.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let calls: u32 = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let concurrency: u32 = args.next().map_or(Ok(64), |a| a.parse())?;

    let zdb = ZdbDouble::start(DoubleConfig::default()).await?;
    for pool in [16, 32] {
        let store = hub_store::open(&format!("{}?pool={pool}", zdb.url("default"))).await?;
        measure(
            &format!("zdb double, pool {pool}"),
            store,
            calls,
            concurrency,
        )
        .await?;
    }
    let stats = zdb.stats();
    println!(
        "double: {} connections, {} pipelined requests",
        stats.connections_accepted, stats.pipelined_requests
    );
    zdb.shutdown().await;

    let dir = tempfile::tempdir()?;
    let store = hub_store::open(&format!("dir://{}", dir.path().display())).await?;
    measure("dir store", store, calls, concurrency).await?;
    Ok(())
}
