//! Job workers running in the test process.

use hub_db::PgPool;
use hub_jobs::{JobHandler, JobsError, Queue, Staging, Worker};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Start a worker running `handler` on `queue`'s jobs of its kind, on a task of its own.
/// Cancelling `shutdown` stops it the way `SIGTERM` stops a worker process (running jobs get
/// their grace period); aborting the task is a crash (running jobs are neither acknowledged nor
/// handed back, and come back after the queue's `ack_wait`).
pub async fn spawn_worker<H: JobHandler>(
    queue: &Queue,
    pool: &PgPool,
    staging: &Staging,
    handler: H,
    shutdown: &CancellationToken,
) -> Result<JoinHandle<Result<(), JobsError>>, JobsError> {
    let worker = Worker::new(queue.clone(), pool.clone(), staging.clone(), handler).await?;
    Ok(tokio::spawn(worker.run(shutdown.clone())))
}
