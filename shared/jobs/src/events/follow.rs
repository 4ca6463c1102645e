//! Replay-then-follow streams of one job's events.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use hub_db::events::{self, JobEvent};
use hub_db::jobs;

use super::listeners::{Listener, Shared};
use crate::JobsError;

/// Events read from the database per query.
const REPLAY_BATCH: i64 = 256;

/// A job's events, replayed then live (see [`crate::EventBus::follow`]).
pub type JobEventStream = Pin<Box<dyn Stream<Item = Result<JobEvent, JobsError>> + Send>>;

struct Follower {
    shared: Arc<Shared>,
    listener: Listener,
    job_id: Uuid,
    /// `seq` of the last event yielded; everything up to it is delivered.
    last_seq: i64,
    /// Events read from the database, not yet yielded.
    pending: VecDeque<JobEvent>,
    started: bool,
    done: bool,
}

pub(super) fn follow(shared: Arc<Shared>, job_id: Uuid, after_seq: i64) -> JobEventStream {
    // Subscribe before the first read: an event recorded in between arrives live, and the
    // sequence numbers remove the overlap.
    let follower = Follower {
        listener: Listener::new(&shared, job_id),
        shared,
        job_id,
        last_seq: after_seq.max(0),
        pending: VecDeque::new(),
        started: false,
        done: false,
    };
    Box::pin(futures::stream::unfold(
        follower,
        |mut follower| async move {
            let item = follower.next().await?;
            Some((item, follower))
        },
    ))
}

impl Follower {
    async fn next(&mut self) -> Option<Result<JobEvent, JobsError>> {
        if self.done {
            return None;
        }
        let item = self.step().await;
        match &item {
            Some(Ok(event)) if event.is_terminal() => self.done = true,
            Some(Err(_)) | None => self.done = true,
            Some(Ok(_)) => {}
        }
        item
    }

    async fn step(&mut self) -> Option<Result<JobEvent, JobsError>> {
        if !self.started {
            self.started = true;
            let job = match jobs::get(&self.shared.pool, self.job_id).await {
                Ok(job) => job,
                Err(err) => return Some(Err(err.into())),
            };
            // A client resuming after the final event has nothing more to get.
            if job.state.is_terminal() && job.last_event_seq <= self.last_seq {
                return None;
            }
            // A position beyond the log (a made-up `Last-Event-ID`) resumes at its end rather
            // than skipping the events still to come.
            self.last_seq = self.last_seq.min(job.last_event_seq);
            if let Err(err) = self.refill().await {
                return Some(Err(err));
            }
        }
        loop {
            while let Some(event) = self.pending.pop_front() {
                if event.seq > self.last_seq {
                    self.last_seq = event.seq;
                    return Some(Ok(event));
                }
            }
            let live = tokio::time::timeout(self.shared.poll_interval, self.listener.recv()).await;
            match live {
                Ok(Ok(event)) if event.seq <= self.last_seq => {}
                Ok(Ok(event)) if event.seq == self.last_seq + 1 => {
                    self.pending.push_back(JobEvent::clone(&event));
                }
                // A gap (a live message was lost), a lagging listener, or silence: the database
                // has everything.
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) | Err(_) => {
                    if let Err(err) = self.refill().await {
                        return Some(Err(err));
                    }
                }
                Ok(Err(RecvError::Closed)) => {
                    // Cannot happen while the listener is registered; poll instead of spinning.
                    tokio::time::sleep(self.shared.poll_interval).await;
                    if let Err(err) = self.refill().await {
                        return Some(Err(err));
                    }
                }
            }
        }
    }

    async fn refill(&mut self) -> Result<(), JobsError> {
        let after = self.pending.back().map_or(self.last_seq, |event| event.seq);
        let more = events::list(&self.shared.pool, self.job_id, after, REPLAY_BATCH).await?;
        self.pending.extend(more);
        Ok(())
    }
}
