//! Finished jobs kept in memory: a final state is final (the job's row never changes again), so
//! clients polling a finished job — the common case once a job is done — are answered without
//! a database query. Entries expire after a minute so a job purged by retention soon reads as
//! gone here too; the map is bounded (least recently used evicted).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hub_db::jobs::Job;
use lru::LruCache;
use uuid::Uuid;

/// Jobs kept at most.
const CAPACITY: usize = 10_000;

/// How long a job is served from memory.
const TIME_TO_LIVE: Duration = Duration::from_secs(60);

/// The cache. Cheap to share; every replica has its own (it only holds immutable rows).
pub struct FinishedJobs {
    jobs: Mutex<LruCache<Uuid, (Instant, Arc<Job>)>>,
}

impl Default for FinishedJobs {
    fn default() -> Self {
        Self::new()
    }
}

impl FinishedJobs {
    /// An empty cache.
    pub fn new() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self {
            jobs: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// Job `id` if it is cached and fresh.
    pub fn get(&self, id: Uuid) -> Option<Arc<Job>> {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        match jobs.get(&id) {
            Some((stored, job)) if stored.elapsed() < TIME_TO_LIVE => Some(Arc::clone(job)),
            Some(_) => {
                jobs.pop(&id);
                None
            }
            None => None,
        }
    }

    /// Remember `job` if it is finished (anything else may still change).
    pub fn remember(&self, job: &Job) {
        if job.state.is_terminal() {
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(job.id, (Instant::now(), Arc::new(job.clone())));
        }
    }
}

impl std::fmt::Debug for FinishedJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishedJobs").finish_non_exhaustive()
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

    #[test]
    fn only_finished_jobs_are_kept() {
        let cache = FinishedJobs::new();
        let running = job(JobState::Running);
        cache.remember(&running);
        assert!(cache.get(running.id).is_none());
        let done = job(JobState::Succeeded);
        cache.remember(&done);
        assert_eq!(cache.get(done.id).map(|job| job.id), Some(done.id));
    }
}
