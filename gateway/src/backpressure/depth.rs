//! The queue depth and staged bytes the back-pressure compares with its limits, measured at
//! most once per [`DEPTH_CACHE_TTL`] per gateway.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// How long a counted queue depth is reused.
pub const DEPTH_CACHE_TTL: Duration = Duration::from_secs(1);

/// The queue depth and the staged bytes, each measured at most once per [`DEPTH_CACHE_TTL`].
#[derive(Debug, Default)]
pub struct QueueDepth {
    /// The last count of queued jobs and when it was taken. An async mutex: while the cache
    /// is stale, concurrent requests wait for the one count instead of all running it.
    last: Mutex<Option<(Instant, u64)>>,
    /// The same for the bytes the staging bucket stores.
    staged: Mutex<Option<(Instant, u64)>>,
}

impl QueueDepth {
    /// Queued jobs, from the cache when it is fresh.
    pub async fn get(&self, pool: &hub_db::PgPool) -> Result<u64, hub_db::DbError> {
        let mut last = self.last.lock().await;
        if let Some((at, depth)) = *last
            && at.elapsed() < DEPTH_CACHE_TTL
        {
            return Ok(depth);
        }
        let depth = hub_db::jobs::count_queued(pool).await?;
        *last = Some((Instant::now(), depth));
        Ok(depth)
    }

    /// Bytes the staging bucket stores, from the cache when it is fresh.
    pub async fn staged_bytes(
        &self,
        staging: &hub_jobs::Staging,
    ) -> Result<u64, hub_jobs::JobsError> {
        let mut staged = self.staged.lock().await;
        if let Some((at, bytes)) = *staged
            && at.elapsed() < DEPTH_CACHE_TTL
        {
            return Ok(bytes);
        }
        let bytes = staging.stored_bytes().await?;
        *staged = Some((Instant::now(), bytes));
        Ok(bytes)
    }
}
