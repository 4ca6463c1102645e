//! Pausing a worker while a dependency it needs (PostgreSQL, NATS, the chunk store) is down.
//!
//! Without this, a worker kept taking jobs during an outage and each attempt failed within
//! milliseconds, so an outage longer than a job's retry delays together failed every job with
//! `attempts_exhausted`. Now the worker probes its dependencies before pulling and before
//! claiming, and a job whose handler fails transiently while a probe fails is handed back
//! without spending an attempt.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hub_telemetry::Readiness;
use serde_json::Value;

/// What the probes say about the worker's dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Health {
    /// Every dependency answers (or the worker probes none).
    Up,
    /// A dependency is down, for less than `outage_max` so far: wait for it, spend nothing.
    Down(String),
    /// A dependency has been down for longer than `outage_max`: work as if it were up, so jobs
    /// that need it fail (with `dependency_unavailable`) instead of waiting forever.
    GaveUp(String),
}

/// The probes a worker checks, and since when (as this process saw it) they fail.
pub(super) struct Dependencies {
    readiness: Option<Readiness>,
    outage_max: Duration,
    down_since: Mutex<Option<Instant>>,
}

impl Dependencies {
    /// Dependencies checked with `readiness`'s probes; `None` checks nothing (always up).
    pub(super) fn new(readiness: Option<Readiness>, outage_max: Duration) -> Self {
        Self {
            readiness,
            outage_max,
            down_since: Mutex::new(None),
        }
    }

    /// Probe every dependency now (each probe is bounded by the readiness probe timeout).
    pub(super) async fn check(&self) -> Health {
        let Some(readiness) = &self.readiness else {
            return Health::Up;
        };
        let (ready, checks) = readiness.report().await;
        let mut down_since = self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if ready {
            if let Some(since) = down_since.take() {
                tracing::info!(down_for = ?since.elapsed(), "dependencies are back: taking jobs again");
            }
            return Health::Up;
        }
        let reason = failing(&checks);
        let since = *down_since.get_or_insert_with(|| {
            tracing::warn!(%reason, "a dependency is down: taking no jobs until it returns");
            Instant::now()
        });
        if since.elapsed() > self.outage_max {
            Health::GaveUp(reason)
        } else {
            Health::Down(reason)
        }
    }

    /// The bound of an outage (`jobs.outage_max`).
    pub(super) fn outage_max(&self) -> Duration {
        self.outage_max
    }
}

/// `name: error` of each failing probe in a readiness report (`{name: "ok" | error}`).
fn failing(checks: &Value) -> String {
    let Some(checks) = checks.as_object() else {
        return checks.to_string();
    };
    checks
        .iter()
        .filter(|(_, result)| result.as_str() != Some("ok"))
        .map(|(name, result)| format!("{name}: {}", result.as_str().unwrap_or("failed")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_telemetry::Probe;

    fn probe(name: &'static str, result: Result<(), &'static str>) -> Probe {
        Probe::new(name, move || {
            Box::pin(async move { result.map_err(str::to_owned) })
        })
    }

    #[tokio::test]
    async fn a_failing_probe_is_named_and_the_outage_is_bounded() {
        let none = Dependencies::new(None, Duration::ZERO);
        assert_eq!(none.check().await, Health::Up);

        let readiness = Readiness::new()
            .with(probe("postgres", Ok(())))
            .with(probe("store", Err("refused")));
        let waiting = Dependencies::new(Some(readiness.clone()), Duration::from_secs(3600));
        assert_eq!(waiting.check().await, Health::Down("store: refused".into()));

        let bounded = Dependencies::new(Some(readiness), Duration::from_millis(200));
        assert_eq!(bounded.check().await, Health::Down("store: refused".into()));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            bounded.check().await,
            Health::GaveUp("store: refused".into())
        );
    }
}
