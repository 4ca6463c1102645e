//! Settings of the queue, the workers and the janitor.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::JobsError;

/// Job platform settings; binaries embed them as the `[jobs]` table of their configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// How long JetStream waits for an acknowledgement before redelivering a job. Workers send
    /// in-progress acknowledgements every quarter of it, so it bounds how fast a killed
    /// worker's job is picked up again (every time: there is no growing redelivery back-off),
    /// not how long a job may run.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Deliveries of one queue message before JetStream stops redelivering it (the janitor then
    /// takes over). Must exceed `max_attempts`: other deliveries are used up by messages that
    /// arrive while the job's holder is alive.
    pub max_deliver: i64,
    /// Attempts (claims by a worker) before a job fails: with the last retryable error's own
    /// code when it has one (e.g. `pull_failed`), else `attempts_exhausted`.
    pub max_attempts: i32,
    /// Delay before the second attempt after a transient error; doubles per attempt.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Upper bound of the retry delay.
    #[serde(with = "humantime_serde")]
    pub max_retry_backoff: Duration,
    /// Jobs one worker process runs at the same time.
    pub concurrency: usize,
    /// Minimum time between two progress writes of a job (the last one is always written).
    #[serde(with = "humantime_serde")]
    pub progress_interval: Duration,
    /// How long one pull request waits for work at the server (long poll).
    #[serde(with = "humantime_serde")]
    pub fetch_expiry: Duration,
    /// On shutdown, how long running jobs may still take before they are handed back.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Window in which JetStream drops a second submit of the same job id.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Age at which an unconsumed queue message is dropped (the janitor re-publishes jobs).
    #[serde(with = "humantime_serde")]
    pub queue_max_age: Duration,
    /// How long a staged upload is kept if no job deletes it.
    #[serde(with = "humantime_serde")]
    pub staging_ttl: Duration,
    /// Age at which the janitor removes a staged upload that no queued or running job reads:
    /// a complete upload with no job row (the gateway died before recording it), or the
    /// chunks of an upload that never completed (client or gateway gone mid-upload), counted
    /// from its last received byte. Must exceed the longest pause of a live upload (the
    /// gateway's `body_idle_timeout`) plus the time from staging to recording the job.
    #[serde(with = "humantime_serde")]
    pub staging_orphan_after: Duration,
    /// Period of the janitor's sweeps.
    #[serde(with = "humantime_serde")]
    pub janitor_interval: Duration,
    /// Heartbeat age at which the janitor re-queues a running job. Normally JetStream has
    /// redelivered the job long before; this catches messages JetStream gave up on.
    #[serde(with = "humantime_serde")]
    pub janitor_stale_after: Duration,
    /// Time a job may stay queued without any change before the janitor publishes it again
    /// (its message was lost, e.g. the gateway died between recording and publishing).
    #[serde(with = "humantime_serde")]
    pub queued_timeout: Duration,
    /// How long finished jobs (and their events) stay readable.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How long a worker keeps handing jobs back while a dependency it probes (PostgreSQL, NATS,
    /// the chunk store) is down. During an outage the worker takes no job and hands back the
    /// ones that fail because of it without spending an attempt; past this bound it takes jobs
    /// again and a job failing for want of the dependency fails with `dependency_unavailable`,
    /// so no job waits forever.
    #[serde(with = "humantime_serde")]
    pub outage_max: Duration,
    /// Period of the dependency probes while a worker waits for a dependency to return.
    #[serde(with = "humantime_serde")]
    pub outage_probe_interval: Duration,
    /// Event followers re-read the database after this long without a live event, in case a
    /// live message was lost (core NATS delivers at most once).
    #[serde(with = "humantime_serde")]
    pub event_poll_interval: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_deliver: 10,
            max_attempts: 3,
            retry_backoff: Duration::from_secs(5),
            max_retry_backoff: Duration::from_secs(300),
            concurrency: 2,
            progress_interval: Duration::from_secs(1),
            fetch_expiry: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            duplicate_window: Duration::from_secs(120),
            queue_max_age: Duration::from_secs(7 * 24 * 3600),
            staging_ttl: Duration::from_secs(24 * 3600),
            staging_orphan_after: Duration::from_secs(10 * 60),
            janitor_interval: Duration::from_secs(15),
            janitor_stale_after: Duration::from_secs(120),
            queued_timeout: Duration::from_secs(30 * 60),
            retention: Duration::from_secs(7 * 24 * 3600),
            event_poll_interval: Duration::from_secs(5),
            outage_max: Duration::from_secs(3600),
            outage_probe_interval: Duration::from_secs(1),
        }
    }
}

impl JobsConfig {
    /// Period of a running job's heartbeat (in-progress ack and database `heartbeat_at`): a
    /// quarter of `ack_wait`.
    pub fn heartbeat_interval(&self) -> Duration {
        self.ack_wait / 4
    }

    /// Heartbeat age from which another worker may take a running job over: `ack_wait` minus
    /// one heartbeat interval (three quarters of `ack_wait`).
    ///
    /// Below `ack_wait` so that the redelivery of a dead worker's message, which JetStream
    /// sends `ack_wait` after the last in-progress ack, always finds the job stale and takes
    /// it over on the spot (with staleness at `ack_wait` it arrived a hair early, was turned
    /// away as "held by a live worker" and came back much later). Two intervals above the
    /// heartbeat period, so that a live worker whose heartbeat is late (scheduling, a slow
    /// database write) still has half of `ack_wait` before anyone may take its job.
    pub fn stale_after(&self) -> Duration {
        self.ack_wait.saturating_sub(self.heartbeat_interval())
    }

    /// Delay before retrying after the transient failure of attempt `attempt` (1-based):
    /// `retry_backoff × 2^(attempt-1)`, at most `max_retry_backoff`.
    pub fn retry_delay(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(16);
        self.retry_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_retry_backoff)
    }

    /// Reject settings that cannot work.
    pub fn validate(&self) -> Result<(), JobsError> {
        let fail = |message: &str| Err(JobsError::Config(message.to_owned()));
        if self.ack_wait < Duration::from_millis(300) {
            return fail("ack_wait must be at least 300ms");
        }
        if self.max_attempts < 1 {
            return fail("max_attempts must be at least 1");
        }
        if self.max_deliver <= i64::from(self.max_attempts) {
            return fail("max_deliver must be larger than max_attempts");
        }
        if self.concurrency == 0 {
            return fail("concurrency must be at least 1");
        }
        if self.outage_probe_interval < Duration::from_millis(100) {
            return fail("outage_probe_interval must be at least 100ms");
        }
        if self.janitor_stale_after < self.stale_after() {
            return fail("janitor_stale_after must be at least ack_wait");
        }
        if self.duplicate_window > self.queue_max_age {
            return fail("duplicate_window must not exceed queue_max_age");
        }
        if self.staging_orphan_after.is_zero() {
            return fail("staging_orphan_after must be positive");
        }
        if self.fetch_expiry.is_zero() || self.event_poll_interval.is_zero() {
            return fail("fetch_expiry and event_poll_interval must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(JobsConfig::default().validate().is_ok());
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let config = JobsConfig {
            retry_backoff: Duration::from_secs(5),
            max_retry_backoff: Duration::from_secs(30),
            ..JobsConfig::default()
        };
        let delays: Vec<u64> = (1..=5).map(|a| config.retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 30, 30]);
        assert_eq!(config.retry_delay(0).as_secs(), 5);
    }

    #[test]
    fn a_dead_workers_job_is_stale_when_redelivered_and_a_live_one_has_a_margin() {
        let config = JobsConfig {
            ack_wait: Duration::from_secs(10),
            ..JobsConfig::default()
        };
        assert_eq!(config.heartbeat_interval(), Duration::from_millis(2500));
        assert_eq!(config.stale_after(), Duration::from_millis(7500));
        // Redelivered `ack_wait` after the last heartbeat: stale, with an interval to spare.
        assert!(config.stale_after() + config.heartbeat_interval() <= config.ack_wait);
        // A live worker's heartbeat may be up to two intervals late before it counts as stale.
        assert!(config.stale_after() >= config.heartbeat_interval() * 3);
    }

    #[test]
    fn impossible_settings_are_rejected() {
        let too_few_deliveries = JobsConfig {
            max_deliver: 3,
            max_attempts: 3,
            ..JobsConfig::default()
        };
        assert!(too_few_deliveries.validate().is_err());
        let no_workers = JobsConfig {
            concurrency: 0,
            ..JobsConfig::default()
        };
        assert!(no_workers.validate().is_err());
        let busy_probing = JobsConfig {
            outage_probe_interval: Duration::from_millis(10),
            ..JobsConfig::default()
        };
        assert!(busy_probing.validate().is_err());
    }
}
