//! Waiting for the job a website form queued. The homemade-flist and merge forms answer once
//! their job has finished (spec 10: synchronous), like the API's synchronous routes: the page
//! shows the published flist, or the catalogue error of the failure (its message and status).

use axum::http::StatusCode;
use hub_db::jobs::{Job, JobState};

use crate::error::{ApiError, ApiResult};
use crate::routes::submit::{Queued, Submitted};
use crate::routes::submit_reply;
use crate::state::AppState;

/// The finished, successful job of `submitted`, or the error the form shows after "Oops:".
pub(super) async fn finished(state: &AppState, submitted: ApiResult<Submitted>) -> ApiResult<Job> {
    let (job, slot) = match submitted? {
        Submitted::Queued(Queued { job, slot }) => (job, slot),
        Submitted::Existing(job) => (job, None),
    };
    let job = state
        .events
        .wait_for_completion(job.id, state.config.gateway.sync_timeout)
        .await?;
    if !job.state.is_terminal() {
        // The job keeps running, and its slot, as after the API's 504.
        return Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the job is still {}; follow it at /api/jobs/{}",
                job.state, job.id
            ),
        ));
    }
    if let Some(slot) = slot {
        slot.release(state).await;
    }
    if job.state == JobState::Succeeded {
        Ok(job)
    } else {
        Err(submit_reply::failure(&job))
    }
}
