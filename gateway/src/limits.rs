//! Per-user limits kept in Redis so that every gateway replica enforces the same budget, and the
//! per-repository quota.
//!
//! * Request rate: a fixed one-minute window per authenticated principal (`INCR` + `PEXPIRE` in
//!   one Lua script, so the counter can never be left without an expiry). Over the budget:
//!   `429` with `Retry-After` = the seconds left in the window.
//! * Concurrent jobs: a sorted set of job ids per principal, scored by the slot's expiry. A
//!   slot is taken atomically (Lua: drop expired members, count, add) before a job is queued and
//!   released when a synchronous route sees the job finish. Jobs submitted asynchronously keep
//!   their slot until a later submission finds the user at the limit: the slots of jobs that
//!   have finished since are then reclaimed against PostgreSQL, so a slot never outlives its
//!   job by more than one check. Over the limit: `429` with `Retry-After`.
//! * Uploads larger than `limits.upload_max_bytes`: `413` (checked against `Content-Length` up
//!   front and again while streaming).
//! * Repository quota: at most `limits.repository_max_entries` entries; creating one more is
//!   refused with `403` and the code `quota_exceeded` (not `507`, which is WebDAV's "the
//!   server is out of space": here the server is fine and the caller's allowance is spent).
//!   Replacing an existing entry is always allowed.
//!
//! Redis keys live under `<nats_prefix>:limits:`, the deployment's namespace. When Redis is
//! unreachable the limits fail open (logged): an outage of the limiter must not take the API
//! down with it.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use hub_auth::Identity;
use hub_db::jobs::JobState;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// Length of a rate-limit window.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// `Retry-After` when the concurrent-job limit is reached: jobs take a while.
const JOB_SLOT_RETRY_AFTER: u64 = 10;

/// Most slots checked against PostgreSQL when reclaiming (the limit is small in practice).
const RECLAIM_BATCH: isize = 1000;

/// `KEYS[1]` counter; `ARGV[1]` window in ms. Returns `{count, ms left in the window}`.
static RATE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
",
    )
});

/// `KEYS[1]` sorted set; `ARGV[1]` now (ms), `ARGV[2]` slot expiry (ms), `ARGV[3]` limit,
/// `ARGV[4]` job id. Returns the number of slots held after the call, or -1 when full.
static SLOT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  return redis.call('ZCARD', KEYS[1])
end
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[3]) then
  return -1
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return held + 1
",
    )
});

/// Refuse the request with `429` and `Retry-After` when `identity` exceeded its request budget.
pub async fn check_request_rate(state: &AppState, identity: &Identity) -> Result<(), ApiError> {
    let budget = state.config.limits.requests_per_minute;
    if budget == 0 {
        return Ok(());
    }
    let key = key(state, "rate", &identity.username);
    let mut redis = state.redis.clone();
    let counted: redis::RedisResult<(u64, i64)> = RATE_SCRIPT
        .key(&key)
        .arg(millis(RATE_WINDOW))
        .invoke_async(&mut redis)
        .await;
    match counted {
        Ok((count, ttl_ms)) if count > u64::from(budget) => {
            let retry_after = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000).max(1);
            Err(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded")
                    .with_code("rate_limited")
                    .with_retry_after(retry_after),
            )
        }
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "rate limiter unavailable; request allowed");
            Ok(())
        }
    }
}

/// A concurrent-job slot of one user, taken for job `job_id`.
#[derive(Debug, Clone)]
pub struct JobSlot {
    key: Option<String>,
    job_id: Uuid,
}

impl JobSlot {
    /// The job the slot was taken for.
    pub fn job_id(&self) -> Uuid {
        self.job_id
    }

    /// Give the slot back (the job finished, or was never queued). Failures are only logged:
    /// the slot expires or is reclaimed later anyway.
    pub async fn release(self, state: &AppState) {
        let Some(key) = self.key else { return };
        let mut redis = state.redis.clone();
        let removed: redis::RedisResult<i64> = redis::cmd("ZREM")
            .arg(&key)
            .arg(self.job_id.to_string())
            .query_async(&mut redis)
            .await;
        if let Err(error) = removed {
            tracing::warn!(%error, job = %self.job_id, "cannot release a job slot");
        }
    }
}

/// Take one of `identity`'s concurrent-job slots for job `job_id`, or refuse with `429`.
pub async fn acquire_job_slot(
    state: &AppState,
    identity: &Identity,
    job_id: Uuid,
) -> Result<JobSlot, ApiError> {
    let limit = state.config.limits.concurrent_jobs;
    if limit == 0 {
        return Ok(JobSlot { key: None, job_id });
    }
    let key = key(state, "jobs", &identity.username);
    let mut held = try_take_slot(state, &key, limit, job_id).await;
    if held == Some(-1) {
        reclaim_finished(state, &key).await;
        held = try_take_slot(state, &key, limit, job_id).await;
    }
    match held {
        Some(-1) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many jobs in progress (at most {limit}); wait for one to finish"),
        )
        .with_code("too_many_jobs")
        .with_retry_after(JOB_SLOT_RETRY_AFTER)),
        Some(_) => Ok(JobSlot {
            key: Some(key),
            job_id,
        }),
        // Redis is down: fail open, with nothing to release later.
        None => Ok(JobSlot { key: None, job_id }),
    }
}

async fn try_take_slot(state: &AppState, key: &str, limit: u32, job_id: Uuid) -> Option<i64> {
    let now = now_ms();
    let expires = now.saturating_add(millis(state.config.limits.job_slot_ttl));
    let mut redis = state.redis.clone();
    let taken: redis::RedisResult<i64> = SLOT_SCRIPT
        .key(key)
        .arg(now)
        .arg(expires)
        .arg(limit)
        .arg(job_id.to_string())
        .invoke_async(&mut redis)
        .await;
    match taken {
        Ok(held) => Some(held),
        Err(error) => {
            tracing::warn!(%error, "job limiter unavailable; job allowed");
            None
        }
    }
}

/// Drop the slots of jobs that finished (or no longer exist) since they were taken.
async fn reclaim_finished(state: &AppState, key: &str) {
    let mut redis = state.redis.clone();
    let members: Vec<String> = match redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(RECLAIM_BATCH - 1)
        .query_async(&mut redis)
        .await
    {
        Ok(members) => members,
        Err(error) => {
            tracing::warn!(%error, "cannot read job slots");
            return;
        }
    };
    let ids: Vec<Uuid> = members
        .iter()
        .filter_map(|member| Uuid::try_parse(member).ok())
        .collect();
    let active: Vec<Uuid> =
        match sqlx::query_scalar("SELECT id FROM jobs WHERE id = ANY($1) AND state IN ($2, $3)")
            .bind(&ids)
            .bind(JobState::Queued.as_str())
            .bind(JobState::Running.as_str())
            .fetch_all(&state.pool)
            .await
        {
            Ok(active) => active,
            Err(error) => {
                tracing::warn!(%error, "cannot check job slots");
                return;
            }
        };
    let finished: Vec<&String> = members
        .iter()
        .filter(|member| Uuid::try_parse(member).map_or(true, |id| !active.contains(&id)))
        .collect();
    if finished.is_empty() {
        return;
    }
    let removed: redis::RedisResult<i64> = redis::cmd("ZREM")
        .arg(key)
        .arg(finished)
        .query_async(&mut redis)
        .await;
    if let Err(error) = removed {
        tracing::warn!(%error, "cannot reclaim job slots");
    }
}

/// Refuse with `413` an upload announced or found larger than `limits.upload_max_bytes`.
pub fn check_upload_size(state: &AppState, size: u64) -> Result<(), ApiError> {
    let max = state.config.limits.upload_max_bytes;
    if size > max {
        return Err(upload_too_large(max));
    }
    Ok(())
}

/// The `413` answer for an upload over `max` bytes.
pub fn upload_too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("upload too large (at most {max} bytes)"),
    )
    .with_code("payload_too_large")
}

/// Refuse with `403 quota_exceeded` when publishing `name` would add an entry to a
/// `repository` that already holds `limits.repository_max_entries`.
pub async fn check_repository_quota(
    state: &AppState,
    repository: &str,
    name: &str,
) -> Result<(), ApiError> {
    let max = state.config.limits.repository_max_entries;
    if max == 0 {
        return Ok(());
    }
    let (count, replaces): (i64, Option<bool>) =
        sqlx::query_as("SELECT count(*), bool_or(name = $2) FROM entries WHERE repository = $1")
            .bind(repository)
            .bind(name)
            .fetch_one(&state.pool)
            .await
            .map_err(|err| ApiError::from(hub_db::DbError::from(err)))?;
    let count = u64::try_from(count).unwrap_or(0);
    if count >= max && replaces != Some(true) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "repository quota exceeded: {repository} holds {count} entries (at most {max})"
            ),
        )
        .with_code("quota_exceeded"));
    }
    Ok(())
}

fn key(state: &AppState, what: &str, user: &str) -> String {
    format!("{}:limits:{what}:{user}", state.config.common.nats_prefix)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}
