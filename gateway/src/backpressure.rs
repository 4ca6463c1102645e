//! Back-pressure: once `limits.max_queued_jobs` jobs wait for a worker, new submissions are
//! refused with `503` (code `hub_busy`, `Retry-After`) before anything of their body is read,
//! so that a backlog grows the queue by at most that many jobs and staging by at most that many
//! uploads, instead of piling up without limit while the workers fall behind.
//!
//! Uploads also meet `limits.max_staged_bytes`: once the staging bucket stores that much, a new
//! upload is refused the same way, so staging stays bounded even when a few queued jobs carry
//! large uploads (at most the limit plus the uploads in flight).
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

/// Refuse a new upload with `503 hub_busy` when the staging bucket stores
/// `limits.max_staged_bytes` (0 = no limit) or more. A failed measure lets the upload through.
pub async fn check_staging(state: &AppState) -> ApiResult<()> {
    let limit = state.config.limits.max_staged_bytes;
    if limit == 0 {
        return Ok(());
    }
    match state.queue_depth.staged_bytes(&state.staging).await {
        Ok(bytes) if bytes >= limit => Err(busy(
            state,
            format!("the hub is busy: {bytes} bytes of uploads wait for a worker; retry later"),
        )),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "cannot measure the staging bucket");
            Ok(())
        }
    }
}

fn busy(state: &AppState, message: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        .with_code("hub_busy")
        .with_retry_after(state.config.limits.busy_retry_after.as_secs().max(1))
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
        Ok(depth) if depth >= limit => Err(busy(
            state,
            format!(
                "the hub is busy: {depth} jobs are waiting for a worker (at most {limit}); \
                 retry later"
            ),
        )),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "cannot count the queued jobs");
            Ok(())
        }
    }
}
