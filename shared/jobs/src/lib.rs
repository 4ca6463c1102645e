//! Job platform of the hub: the JetStream work queue, upload staging, live job events, the
//! worker runtime and the janitor.
//!
//! * The gateway records and queues jobs with [`JobClient`] (`submit`, `cancel`), stages uploads
//!   in [`Staging`], and follows jobs with [`EventBus`] (`follow` for SSE, `wait_for_completion`
//!   for the synchronous legacy routes).
//! * Each worker binary implements [`JobHandler`] for its [`JobKind`] and runs
//!   [`Worker::run`]; one process (any) also runs the [`Janitor`].
//! * Both report their connections through the same [`probes`], and agree on what is served
//!   about a published flist through [`Stats`] and [`contents_dump`].
//!
//! Job state lives in PostgreSQL (`hub_db::jobs`); NATS carries work (`<prefix>.jobs.<kind>` on
//! the work-queue stream `<prefix>_jobs`), live events (`<prefix>.events.<job id>`) and
//! cancellations (`<prefix>.cancel.<job id>`). Every status write is guarded by the job's
//! revision, so redelivered, duplicated or late messages never move a job backwards and a job
//! publishes its result exactly once.

mod client;
mod config;
mod contents;
pub mod crash;
mod envelope;
mod error;
mod events;
mod janitor;
mod names;
pub mod probes;
mod publish;
mod queue;
mod staging;
mod worker;

pub use client::{JobClient, Submission};
pub use config::JobsConfig;
pub use contents::{Stats, contents_dump, stats_of};
pub use envelope::{decode_envelope, envelope_job_id, envelope_kind, staged_object};
pub use error::JobsError;
pub use events::{EventBus, EventObserver, EventPublisher, JobEventStream};
pub use janitor::{Janitor, SweepReport};
pub use names::Names;
pub use publish::{FlistFile, stage_flist, store_flist};
pub use queue::{Published, Queue};
pub use staging::{StagedObject, Staging, StagingSweep, StagingUsage};
pub use worker::{
    ClaimedJob, JobContext, JobError, JobHandler, JobOutput, Publication, PublishedFlist, Worker,
};

pub use hub_db::events::{EventKind, JobEvent};
pub use hub_db::jobs::{Job, JobFailure, JobKind, JobState};
pub use hub_proto::v1::JobEnvelope;
pub use tokio_util::sync::CancellationToken;

/// Connect to the NATS server at `url` with a client name (shown in the server's monitoring).
pub async fn connect_nats(url: &str, name: &str) -> Result<async_nats::Client, JobsError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(url)
        .await
        .map_err(|err| JobsError::nats("connect", err))
}
