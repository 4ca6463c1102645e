//! Waiting for the job a website form queued. The homemade-flist and merge forms answer once
//! their job has finished (hub-api §10: synchronous), like the API's synchronous routes: the page
//! shows the published flist, or the catalogue error of the failure (its message and status).

use hub_db::jobs::{Job, JobState};

use crate::error::{ApiError, ApiResult, ErrorKind, job_failed};
use crate::service::submit::{self, Submitted, Waited};
use crate::state::AppState;

/// The finished, successful job of `submitted`, or the error the form shows after "Oops:".
pub(super) async fn finished(state: &AppState, submitted: ApiResult<Submitted>) -> ApiResult<Job> {
    match submit::wait(state, submitted?).await? {
        // The job keeps running, and its slot, as after the API's 504.
        Waited::StillRunning(job) => Err(ApiError::new(ErrorKind::JobPending {
            state: job.state.to_string(),
            path: crate::service::jobs::job_path(job.id),
        })),
        Waited::Finished(job) if job.state == JobState::Succeeded => Ok(job),
        Waited::Finished(job) => Err(job_failed(&job)),
    }
}
