//! The JSON shapes of the job API, in the spirit of Meilisearch's tasks: a small summary when a
//! job is accepted, the full job on `GET`, pages of jobs with an opaque cursor.

use crate::service::jobs::job_path;
use chrono::{DateTime, Utc};
use hub_db::jobs::{Job, JobFailure};
use serde::Serialize;
use uuid::Uuid;

/// Where to follow a job. Paths are relative to the hub's base URL, so they stay right behind
/// any proxy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobLinks {
    /// The job itself (`GET`, `DELETE`, `?wait=`).
    #[serde(rename = "self")]
    pub this: String,
    /// Its events as Server-Sent Events (replay, then live).
    pub events: String,
    /// The original hub's progress stream.
    pub listen: String,
    /// Download of the published flist, once the job succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub flist: Option<String>,
}

impl JobLinks {
    /// The links of `job`.
    pub fn of(job: &Job) -> Self {
        let flist = (job.state == hub_db::jobs::JobState::Succeeded && !job.target_name.is_empty())
            .then(|| format!("/{}/{}", job.repository, job.target_name));
        Self {
            this: job_path(job.id),
            events: format!("/api/jobs/{}/events", job.id),
            listen: format!("/listen/{}", job.id),
            flist,
        }
    }
}

/// The answer to a submission accepted for asynchronous processing (`202`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobSummary {
    /// Job id.
    pub id: Uuid,
    /// `convert`, `verify`, `merge` or `docker`.
    #[schema(value_type = hub_model::JobKind)]
    pub kind: &'static str,
    /// `queued` (or the state of the job an `Idempotency-Key` designated).
    #[schema(value_type = hub_model::JobState)]
    pub status: &'static str,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// Where to follow it.
    pub links: JobLinks,
}

impl JobSummary {
    /// The summary of `job`.
    pub fn of(job: &Job) -> Self {
        Self {
            id: job.id,
            kind: job.kind.as_str(),
            status: job.state.as_str(),
            created_at: job.created_at,
            links: JobLinks::of(job),
        }
    }
}

/// A job as `GET /api/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Job)]
pub struct JobView<'a> {
    /// Job id.
    pub id: Uuid,
    /// `convert`, `verify`, `merge` or `docker`.
    #[schema(value_type = hub_model::JobKind)]
    pub kind: &'static str,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    #[schema(value_type = hub_model::JobState)]
    pub status: &'static str,
    /// Percent done, 0–100.
    pub progress: i16,
    /// Current phase (machine-readable), if the worker reports one.
    pub phase: Option<&'a str>,
    /// Last progress or status message.
    pub message: Option<&'a str>,
    /// Attempts made so far (a worker claimed the job this many times).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Account that submitted the job.
    pub owner: &'a str,
    /// Repository the result is published into.
    pub repository: &'a str,
    /// Entry name of the result.
    pub name: &'a str,
    /// What the job produced, once it succeeded (its kind's result).
    #[schema(value_type = Option<hub_model::JobResult>)]
    pub result: Option<&'a serde_json::Value>,
    /// Why it failed (or the last transient error while it waits for a retry): a stable `code`
    /// and a `message`.
    pub error: Option<&'a JobFailure>,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// Start of the current (or last) attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at` as an ISO 8601 duration (`PT1.250S`), once finished.
    #[schema(example = "PT1.250S")]
    pub duration: Option<String>,
    /// Where to follow it.
    pub links: JobLinks,
}

impl<'a> JobView<'a> {
    /// The view of `job`.
    pub fn of(job: &'a Job) -> Self {
        Self {
            id: job.id,
            kind: job.kind.as_str(),
            status: job.state.as_str(),
            progress: job.progress,
            phase: job.phase.as_deref(),
            message: job.message.as_deref(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            owner: &job.owner,
            repository: &job.repository,
            name: &job.target_name,
            result: job.result.as_ref(),
            error: job.error.as_ref(),
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            duration: duration(job),
            links: JobLinks::of(job),
        }
    }
}

/// A page of `GET /api/jobs`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = JobPage)]
pub struct JobPageView<'a> {
    /// Jobs, newest first.
    pub results: Vec<JobView<'a>>,
    /// The page size asked for.
    pub limit: u32,
    /// Cursor of the next page (pass it as `cursor=`); `null` on the last page.
    pub next: Option<String>,
}

/// ISO 8601 duration of a finished job's last attempt, millisecond precision.
fn duration(job: &Job) -> Option<String> {
    let started = job.started_at?;
    let finished = job.finished_at?;
    let millis = finished
        .signed_duration_since(started)
        .num_milliseconds()
        .max(0);
    Some(format!("PT{}.{:03}S", millis / 1000, millis % 1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use hub_db::jobs::{JobKind, JobState};

    fn job(state: JobState) -> Job {
        let created = Utc
            .timestamp_opt(1_764_000_000, 0)
            .single()
            .unwrap_or_default();
        Job {
            id: Uuid::nil(),
            kind: JobKind::Convert,
            owner: "alice".into(),
            repository: "alice".into(),
            target_name: "app.flist".into(),
            state,
            progress: 100,
            phase: None,
            message: Some("succeeded".into()),
            attempt: 1,
            max_attempts: 3,
            result: None,
            error: None,
            idempotency_key: None,
            created_at: created,
            started_at: Some(created + chrono::Duration::milliseconds(20)),
            finished_at: state
                .is_terminal()
                .then(|| created + chrono::Duration::milliseconds(1270)),
            heartbeat_at: None,
            updated_at: created,
            revision: 3,
            last_event_seq: 4,
        }
    }

    #[test]
    fn finished_jobs_have_a_duration_and_a_download_link() {
        let done = job(JobState::Succeeded);
        let view = serde_json::to_value(JobView::of(&done)).unwrap_or_default();
        assert_eq!(view["duration"], "PT1.250S");
        assert_eq!(view["status"], "succeeded");
        assert_eq!(
            view["links"]["self"],
            "/api/jobs/00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(view["links"]["flist"], "/alice/app.flist");
    }

    #[test]
    fn running_jobs_have_neither() {
        let running = job(JobState::Running);
        let view = serde_json::to_value(JobView::of(&running)).unwrap_or_default();
        assert!(view["duration"].is_null());
        assert!(view["links"].get("flist").is_none());
        let summary = serde_json::to_value(JobSummary::of(&running)).unwrap_or_default();
        assert_eq!(summary["status"], "running");
        assert_eq!(summary["kind"], "convert");
    }
}
