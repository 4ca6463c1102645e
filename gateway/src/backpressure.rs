//! Back-pressure: once `limits.max_queued_jobs` jobs wait for a worker, new submissions are
//! refused with `503` (code `hub_busy`, `Retry-After`) before anything of their body is read,
//! so that a backlog grows the queue by at most that many jobs and staging by at most that many
//! uploads, instead of piling up without limit while the workers fall behind.
//!
//! The depth is the number of `queued` jobs in PostgreSQL (an index-only count on a partial
//! index), shared by every gateway replica. Each gateway caches it for [`DEPTH_CACHE_TTL`], so a
//! burst of submissions costs one count per second, and the limit may be overshot by what
//! the replicas accept within that second.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::sync::Mutex;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a counted queue depth is reused.
pub const DEPTH_CACHE_TTL: Duration = Duration::from_secs(1);

/// The queue depth, counted at most once per [`DEPTH_CACHE_TTL`].
#[derive(Debug, Default)]
pub struct QueueDepth {
    /// The last count and when it was taken. An async mutex: while the cache is stale,
    /// concurrent requests wait for the one count instead of all running it.
    last: Mutex<Option<(Instant, u64)>>,
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
}

/// Refuse a new job with `503 hub_busy` when `limits.max_queued_jobs` (0 = no limit) jobs are
/// already queued. A failed count lets the submission through: recording its job needs the
/// same database and reports the outage itself.
pub async fn check_queue_depth(state: &AppState) -> ApiResult<()> {
    let limit = state.config.limits.max_queued_jobs;
    if limit == 0 {
        return Ok(());
    }
    match state.queue_depth.get(&state.pool).await {
        Ok(depth) if depth >= limit => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the hub is busy: {depth} jobs are waiting for a worker (at most {limit}); \
                 retry later"
            ),
        )
        .with_code("hub_busy")
        .with_retry_after(state.config.limits.busy_retry_after.as_secs().max(1))),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "cannot count the queued jobs");
            Ok(())
        }
    }
}
