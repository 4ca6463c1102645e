//! Per-user limits kept in Redis so that every gateway replica enforces the same budget, and the
//! per-repository quota.
//!
//! * Request rate: a fixed one-minute window per authenticated principal (`INCR` + `PEXPIRE` in
//!   one Lua script, so the counter can never be left without an expiry). Over the budget:
//!   `429` with `Retry-After` = the seconds left in the window.
//! * Concurrent jobs: a sorted set of job ids per principal, scored by the slot's expiry. A
//!   slot is taken atomically (Lua: drop expired members, count, add) before an upload is read,
//!   as a short lease renewed while the request stages its input, then kept until the job
//!   finishes (see [`JobSlot`]). Over the limit: `429` with `Retry-After`.
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

use hub_auth::Identity;
use uuid::Uuid;

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

/// Length of a rate-limit window.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// `Retry-After` when the concurrent-job limit is reached: jobs take a while.
const JOB_SLOT_RETRY_AFTER: u64 = 10;

/// Most slots checked against PostgreSQL when reclaiming (the limit is small in practice).
const RECLAIM_BATCH: isize = 1000;

/// `KEYS[1]` counter; `ARGV[1]` window in ms. Counts one in a fixed window and returns
/// `{count, ms left in the window}`; the expiry is set in the same script, so a counter can never
/// be left without one. Shared by the request rate and the failed-authentication throttle.
pub(crate) static COUNT_IN_WINDOW: LazyLock<redis::Script> = LazyLock::new(|| {
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

/// Lua: give the sorted set `KEYS[1]` the expiry of its latest slot, so that the key outlives
/// every slot it holds and vanishes with the last one.
const EXPIRE_WITH_LATEST: &str = r"
local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if latest[2] then
  redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(latest[2])))
end
";

/// `KEYS[1]` sorted set; `ARGV[1]` now (ms), `ARGV[2]` slot expiry (ms), `ARGV[3]` limit,
/// `ARGV[4]` job id. Returns the number of slots held after the call, or -1 when full.
static SLOT_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
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
{EXPIRE_WITH_LATEST}
return held + 1
",
    ))
});

/// `KEYS[1]` sorted set, `KEYS[2]` the job's owner record (`owner_key`); `ARGV[1]` job id,
/// `ARGV[2]` new slot expiry (ms), `ARGV[3]` "1" to record the owner (the job is queued).
/// Moves the expiry of a slot still held; returns 0 when the slot is gone (released or
/// expired: the renewal stops).
static EXTEND_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[1])
{EXPIRE_WITH_LATEST}
if ARGV[3] == '1' then
  redis.call('SET', KEYS[2], KEYS[1], 'PXAT', ARGV[2])
end
return 1
",
    ))
});

/// `KEYS[1]` the job's owner record; `ARGV[1]` job id. Frees the slot of a finished job
/// wherever it is held.
static RELEASE_FINISHED_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local slots = redis.call('GET', KEYS[1])
if slots then
  redis.call('ZREM', slots, ARGV[1])
  redis.call('DEL', KEYS[1])
end
return 1
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
    let counted: redis::RedisResult<(u64, i64)> = COUNT_IN_WINDOW
        .key(&key)
        .arg(millis(RATE_WINDOW))
        .invoke_async(&mut redis)
        .await;
    match counted {
        Ok((count, ttl_ms)) if count > u64::from(budget) => {
            let retry_after = u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000).max(1);
            Err(ApiError::new(ErrorKind::RateLimited).with_retry_after(retry_after))
        }
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::warn!(%error, "rate limiter unavailable; request allowed");
            Ok(())
        }
    }
}

/// A concurrent-job slot of one user, taken for job `job_id`.
///
/// A slot is a member of the user's sorted set in Redis, scored by its expiry:
///
/// * while the request stages its input (no job row exists yet), the slot is a short lease
///   (`limits.job_slot_lease`) renewed by a background task every third of it, so a gateway
///   that dies mid-upload gives the slot back within one lease;
/// * once the job is queued ([`JobSlot::queued`]), the slot lives until the job finishes: it is
///   freed by the route that waits for the job, by any gateway that sees the job's final event
///   ([`release_finished`]), or, when neither happened (events are at most once), by the
///   reclaim that runs when the user is at the limit and finds the job finished in PostgreSQL.
///   `limits.job_slot_ttl` bounds it in any case.
///
/// The reclaim never frees a slot whose job row does not exist: that is an upload still being
/// staged, whose lease decides.
#[derive(Debug)]
pub struct JobSlot {
    key: Option<String>,
    job_id: Uuid,
    renewal: Option<AbortOnDrop>,
}

/// Aborts the slot's renewal task when the slot is dropped (released, queued or abandoned).
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl JobSlot {
    /// The job the slot was taken for.
    pub fn job_id(&self) -> Uuid {
        self.job_id
    }

    /// The job is recorded and queued: the slot now lives until the job finishes (bounded by
    /// `limits.job_slot_ttl`) instead of the staging lease.
    pub async fn queued(&mut self, state: &AppState) {
        self.renewal = None;
        let Some(key) = &self.key else { return };
        let expires = now_ms().saturating_add(millis(state.config.limits.job_slot_ttl));
        let owner = owner_key(state, self.job_id);
        let kept = extend(state.redis.clone(), key, &owner, self.job_id, expires, true).await;
        if let Err(error) = kept {
            tracing::warn!(%error, job = %self.job_id, "cannot keep the job's slot");
        }
    }

    /// Give the slot back (the job finished, or was never queued). Failures are only logged:
    /// the slot expires or is reclaimed later anyway.
    pub async fn release(self, state: &AppState) {
        let Some(key) = &self.key else { return };
        let mut redis = state.redis.clone();
        let removed: redis::RedisResult<()> = redis::pipe()
            .cmd("ZREM")
            .arg(key)
            .arg(self.job_id.to_string())
            .ignore()
            .cmd("DEL")
            .arg(owner_key(state, self.job_id))
            .ignore()
            .query_async(&mut redis)
            .await;
        if let Err(error) = removed {
            tracing::warn!(%error, job = %self.job_id, "cannot release a job slot");
        }
    }
}

/// Free the slot of the finished job `job_id`, whichever user and gateway holds it (called for
/// every final job event a gateway sees; idempotent).
pub async fn release_finished(
    mut redis: redis::aio::ConnectionManager,
    prefix: &str,
    job_id: Uuid,
) {
    let released: redis::RedisResult<i64> = RELEASE_FINISHED_SCRIPT
        .key(owner_key_in(prefix, job_id))
        .arg(job_id.to_string())
        .invoke_async(&mut redis)
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, job = %job_id, "cannot release a finished job's slot");
    }
}

/// Take one of `identity`'s concurrent-job slots for job `job_id`, or refuse with `429`.
pub async fn acquire_job_slot(
    state: &AppState,
    identity: &Identity,
    job_id: Uuid,
) -> Result<JobSlot, ApiError> {
    let limit = state.config.limits.concurrent_jobs;
    let unlimited = JobSlot {
        key: None,
        job_id,
        renewal: None,
    };
    if limit == 0 {
        return Ok(unlimited);
    }
    let key = key(state, "jobs", &identity.username);
    let mut held = try_take_slot(state, &key, limit, job_id).await;
    if held == Some(-1) {
        reclaim_finished(state, &key).await;
        held = try_take_slot(state, &key, limit, job_id).await;
    }
    match held {
        Some(-1) => {
            Err(ApiError::new(ErrorKind::TooManyJobs { limit })
                .with_retry_after(JOB_SLOT_RETRY_AFTER))
        }
        Some(_) => {
            let renewal = spawn_renewal(state, key.clone(), job_id);
            Ok(JobSlot {
                key: Some(key),
                job_id,
                renewal: Some(renewal),
            })
        }
        // Redis is down: fail open, with nothing to release later.
        None => Ok(unlimited),
    }
}

async fn try_take_slot(state: &AppState, key: &str, limit: u32, job_id: Uuid) -> Option<i64> {
    let now = now_ms();
    let expires = now.saturating_add(millis(state.config.limits.job_slot_lease));
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

/// Renew the staging lease of a slot every third of the lease until the slot is dropped or
/// found gone.
fn spawn_renewal(state: &AppState, key: String, job_id: Uuid) -> AbortOnDrop {
    let lease = state.config.limits.job_slot_lease;
    let redis = state.redis.clone();
    let owner = owner_key(state, job_id);
    AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(lease / 3).await;
            let expires = now_ms().saturating_add(millis(lease));
            match extend(redis.clone(), &key, &owner, job_id, expires, false).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => tracing::warn!(%error, job = %job_id, "cannot renew a job slot"),
            }
        }
    }))
}

/// Move the expiry of `job_id`'s slot in `key` to `expires` (ms); `false` when it is gone.
async fn extend(
    mut redis: redis::aio::ConnectionManager,
    key: &str,
    owner: &str,
    job_id: Uuid,
    expires: u64,
    record_owner: bool,
) -> redis::RedisResult<bool> {
    let held: i64 = EXTEND_SCRIPT
        .key(key)
        .key(owner)
        .arg(job_id.to_string())
        .arg(expires)
        .arg(if record_owner { "1" } else { "0" })
        .invoke_async(&mut redis)
        .await?;
    Ok(held == 1)
}

/// Drop the slots of jobs that finished since they were taken. A slot without a job row is an
/// upload still being staged (or one whose gateway died): its lease decides, not this.
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
    let finished = match hub_db::jobs::finished_among(&state.pool, &ids).await {
        Ok(finished) => finished,
        Err(error) => {
            tracing::warn!(%error, "cannot check job slots");
            return;
        }
    };
    if finished.is_empty() {
        return;
    }
    let finished: Vec<String> = finished.iter().map(Uuid::to_string).collect();
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
    ApiError::new(ErrorKind::UploadTooLarge { max })
}

/// Refuse with `403 quota_exceeded` when publishing `name` would add an entry to a
/// `repository` that already holds `limits.repository_max_entries`: the early answer, before an
/// upload is read. The worker's publication checks again atomically (the quota travels in the
/// job's envelope), so parallel jobs cannot overshoot it either.
pub async fn check_repository_quota(
    state: &AppState,
    repository: &str,
    name: &str,
) -> Result<(), ApiError> {
    let quota = state.config.limits.entry_quota();
    if quota.max().is_none() {
        return Ok(());
    }
    let mut conn = state.pool.acquire().await.map_err(hub_db::DbError::from)?;
    hub_db::quota::check(
        &mut conn,
        repository,
        hub_db::quota::Slot::Entry(name),
        quota,
    )
    .await?;
    Ok(())
}

fn key(state: &AppState, what: &str, user: &str) -> String {
    format!("{}:limits:{what}:{user}", state.config.common.nats_prefix)
}

/// The record of which sorted set holds a queued job's slot.
fn owner_key(state: &AppState, job_id: Uuid) -> String {
    owner_key_in(&state.config.common.nats_prefix, job_id)
}

fn owner_key_in(prefix: &str, job_id: Uuid) -> String {
    format!("{prefix}:limits:slot-of:{job_id}")
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}
