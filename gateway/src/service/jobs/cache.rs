//! Jobs kept in memory, so that clients polling a job do not each cost a database query.
//!
//! * A **finished** job's row never changes again: it is served for a minute (then read again,
//!   so a job purged by retention soon reads as gone here too).
//! * An **active** job is served for a short time (`gateway.active_job_cache_ttl`, 250 ms by
//!   default) and never after this gateway has seen a newer event of it: every change of a
//!   job's visible fields records an event (and bumps `last_event_seq` in the same
//!   transaction), and every gateway receives every event, so a change shows up here as soon
//!   as its event arrives. The time-to-live bounds the staleness when an event is lost (live
//!   events travel at most once).
//!
//! Concurrent misses for the same job share one query (even with the active cache off), so a
//! poll that arrives while a read is in flight gets that read's row: at most one query's
//! duration old. The maps are bounded (least recently used evicted); each replica has its own.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hub_db::events::JobEvent;
use hub_db::jobs::Job;
use lru::LruCache;
use uuid::Uuid;

use crate::compat::cache::SingleFlight;

/// Jobs kept at most (and jobs whose newest event is remembered).
const CAPACITY: usize = 10_000;

/// How long a finished job is served from memory.
const FINISHED_TIME_TO_LIVE: Duration = Duration::from_secs(60);

/// The cache. Every replica has its own.
pub struct JobCache {
    maps: Mutex<Maps>,
    active_ttl: Duration,
    loads: SingleFlight<Uuid, Arc<Job>>,
}

struct Maps {
    jobs: LruCache<Uuid, (Instant, Arc<Job>)>,
    /// Newest event sequence number seen live, per job.
    newest_event: LruCache<Uuid, i64>,
}

impl JobCache {
    /// An empty cache serving active jobs for at most `active_ttl` (zero: never).
    pub fn new(active_ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self {
            maps: Mutex::new(Maps {
                jobs: LruCache::new(capacity),
                newest_event: LruCache::new(capacity),
            }),
            active_ttl,
            loads: SingleFlight::default(),
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // Both maps stay usable whatever panicked while the lock was held.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Job `id` if it is cached and may still be served.
    pub fn get(&self, id: Uuid) -> Option<Arc<Job>> {
        let mut maps = self.maps();
        let newest = maps.newest_event.peek(&id).copied().unwrap_or(0);
        let (stored, job) = maps.jobs.get(&id)?;
        let ttl = if job.state.is_terminal() {
            FINISHED_TIME_TO_LIVE
        } else {
            self.active_ttl
        };
        if stored.elapsed() < ttl && job.last_event_seq >= newest {
            return Some(Arc::clone(job));
        }
        maps.jobs.pop(&id);
        None
    }

    /// Job `id` from the cache, else from `load` (one load at a time per job; concurrent
    /// callers share its result).
    pub async fn get_or_load<F, Fut, E>(&self, id: Uuid, load: F) -> Result<Arc<Job>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Job, E>>,
    {
        if let Some(job) = self.get(id) {
            return Ok(job);
        }
        self.loads
            .run(&id, || async {
                let job = Arc::new(load().await?);
                self.remember(Arc::clone(&job));
                Ok(job)
            })
            .await
    }

    /// Keep `job` as read from the database (an active one only when active jobs are cached).
    /// A row older than one already known (by `last_event_seq`) is not kept, and a newer one
    /// retires older rows even before its event arrives (this replica's own changes).
    pub fn remember(&self, job: Arc<Job>) {
        let mut maps = self.maps();
        let newest = maps
            .newest_event
            .get_or_insert_mut(job.id, || job.last_event_seq);
        *newest = (*newest).max(job.last_event_seq);
        if job.state.is_terminal() || !self.active_ttl.is_zero() {
            let newer_known = maps
                .jobs
                .peek(&job.id)
                .is_some_and(|(_, known)| known.last_event_seq > job.last_event_seq);
            if !newer_known {
                maps.jobs.put(job.id, (Instant::now(), job));
            }
        } else {
            maps.jobs.pop(&job.id);
        }
    }

    /// A live event: cached rows older than it are no longer served.
    pub fn observe(&self, event: &JobEvent) {
        let mut maps = self.maps();
        let newest = maps
            .newest_event
            .get_or_insert_mut(event.job_id, || event.seq);
        *newest = (*newest).max(event.seq);
        if maps
            .jobs
            .peek(&event.job_id)
            .is_some_and(|(_, job)| job.last_event_seq < event.seq)
        {
            maps.jobs.pop(&event.job_id);
        }
    }
}

impl std::fmt::Debug for JobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCache")
            .field("active_ttl", &self.active_ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use hub_db::jobs::{JobKind, JobState};

    fn job(state: JobState) -> Job {
        let now = Utc::now();
        Job {
            id: Uuid::new_v4(),
            kind: JobKind::Merge,
            owner: "alice".into(),
            repository: "alice".into(),
            target_name: "m.flist".into(),
            state,
            progress: 0,
            phase: None,
            message: None,
            attempt: 0,
            max_attempts: 3,
            result: None,
            error: None,
            idempotency_key: None,
            created_at: now,
            started_at: None,
            finished_at: state.is_terminal().then_some(now),
            heartbeat_at: None,
            updated_at: now,
            revision: 1,
            last_event_seq: 1,
        }
    }

    fn event(job: &Job, seq: i64) -> JobEvent {
        JobEvent {
            job_id: job.id,
            seq,
            at: Utc::now(),
            kind: hub_db::events::EventKind::Update,
            state: None,
            message: None,
            progress: Some(50),
            phase: None,
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn active_jobs_only_when_enabled() {
        let off = JobCache::new(Duration::ZERO);
        let running = job(JobState::Running);
        off.remember(Arc::new(running.clone()));
        assert!(off.get(running.id).is_none());
        let done = job(JobState::Succeeded);
        off.remember(Arc::new(done.clone()));
        assert_eq!(off.get(done.id).map(|job| job.id), Some(done.id));

        let on = JobCache::new(Duration::from_secs(60));
        on.remember(Arc::new(running.clone()));
        assert_eq!(on.get(running.id).map(|job| job.id), Some(running.id));
    }

    #[test]
    fn active_jobs_expire() {
        let cache = JobCache::new(Duration::from_millis(30));
        let running = job(JobState::Running);
        cache.remember(Arc::new(running.clone()));
        assert!(cache.get(running.id).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(running.id).is_none());
    }

    #[test]
    fn a_newer_event_retires_the_cached_row_even_if_it_arrived_first() {
        let cache = JobCache::new(Duration::from_secs(60));
        let running = job(JobState::Running); // last_event_seq 1
        cache.remember(Arc::new(running.clone()));
        cache.observe(&event(&running, 1));
        assert!(
            cache.get(running.id).is_some(),
            "an event it already reflects"
        );
        cache.observe(&event(&running, 2));
        assert!(cache.get(running.id).is_none());
        // A read that started before the event and ends after it stores an old row: refused.
        cache.remember(Arc::new(running.clone()));
        assert!(cache.get(running.id).is_none());
        let mut newer = running.clone();
        newer.last_event_seq = 2;
        cache.remember(Arc::new(newer));
        assert_eq!(cache.get(running.id).map(|j| j.last_event_seq), Some(2));
        // Events out of order do not move the mark back.
        cache.observe(&event(&running, 1));
        assert!(cache.get(running.id).is_some());
    }

    #[test]
    fn an_older_row_never_replaces_a_newer_one() {
        let cache = JobCache::new(Duration::from_secs(60));
        let running = job(JobState::Running);
        let mut cancelled = running.clone();
        cancelled.state = JobState::Cancelled;
        cancelled.last_event_seq = 3;
        // The cancel's own reply is remembered; a read that started before it ends later.
        cache.remember(Arc::new(cancelled));
        cache.remember(Arc::new(running.clone()));
        assert_eq!(
            cache.get(running.id).map(|job| job.state),
            Some(JobState::Cancelled)
        );
        // With active jobs not cached, a newer row still retires the older one.
        let off = JobCache::new(Duration::ZERO);
        let done = job(JobState::Succeeded); // last_event_seq 1
        off.remember(Arc::new(done.clone()));
        let mut requeued = done.clone();
        requeued.state = JobState::Queued;
        requeued.last_event_seq = 2;
        off.remember(Arc::new(requeued));
        assert!(off.get(done.id).is_none());
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load() {
        let cache = Arc::new(JobCache::new(Duration::from_secs(60)));
        let running = job(JobState::Running);
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, loads, row) = (Arc::clone(&cache), Arc::clone(&loads), running.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(row.id, || async {
                        loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::convert::Infallible>(row)
                    })
                    .await
            }));
        }
        for task in tasks {
            assert!(matches!(task.await, Ok(Ok(job)) if job.id == running.id));
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
