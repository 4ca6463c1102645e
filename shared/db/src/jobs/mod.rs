//! Jobs: durable state of every conversion, merge and verification.
//!
//! State machine: `queued → running → succeeded | failed | cancelled`, and `running → queued`
//! when a worker retries, releases or loses the job. Every status write bumps `revision` and is
//! guarded either by the revision the writer last saw ([`Lease`]) or by the states it may leave,
//! so a late or duplicated message can never move a job backwards, and final states are final.
//! Each write appends its events to the job's log in the same transaction ([`crate::events`]).

mod janitor;
mod lease;
mod model;
mod queries;

pub use janitor::{
    Requeued, fail_exhausted, purge_finished, requeue_stale, stale_queued, try_lock_sweep,
};
pub use lease::{Claim, Claimed, Lease, abort, claim};
pub use model::{
    FailureCode, InvalidCursor, Job, JobCursor, JobFailure, JobFilter, JobKind, JobPage, JobState,
    NewJob,
};
pub use queries::{
    Cancelled, Created, cancel, count_queued, create, find_by_idempotency_key, finished_among, get,
    list, payload, states_among,
};
