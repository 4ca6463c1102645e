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
//! index), shared by every gateway replica. Each gateway caches it for [`depth::DEPTH_CACHE_TTL`], so a
//! burst of submissions costs one count per second, and the limit may be overshot by what
//! the replicas accept within that second.

pub mod depth;

pub use depth::DEPTH_CACHE_TTL;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::state::AppState;

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
    ApiError::new(ErrorKind::HubBusy { detail: message })
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
