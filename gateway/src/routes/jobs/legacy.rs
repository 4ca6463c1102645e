//! The original hub's job shapes: the statistics object, the `files` object of upload replies
//! and the frames of `/listen/{jobid}` (hub-api §6, §7.9, §9).
//!
//! Workers describe a result as they like (`stats`, `files.response`, `flist` or the bare
//! statistics); these functions read any of them and always write the original's key order.

use hub_db::events::{EventKind, JobEvent};
use hub_db::jobs::JobKind;
use serde::Serialize;

/// The statistics of a flist (hub-api §6, "Stats"), as the workers store them;
/// [`Stats::found_in`] reads them from any job result.
pub use hub_jobs::Stats;

/// zflist's JSON result, the `files` member of upload replies (hub-api §7.9).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = UploadFiles<T>)]
pub struct Files<T> {
    /// Always `true`: failures are HTTP errors in the new hub (hub-api D6).
    pub success: bool,
    /// Always `null` for the same reason.
    #[schema(value_type = Option<String>)]
    pub error: Option<()>,
    /// The statistics (upload, docker) or the contents dump (upload-flist).
    #[schema(schema_with = crate::schemas::fields::stats_or_dump)]
    pub response: T,
    /// zflist's exit code, 0.
    pub status: i32,
}

impl<T> Files<T> {
    /// A successful result carrying `response`.
    pub fn success(response: T) -> Self {
        Self {
            success: true,
            error: None,
            response,
            status: 0,
        }
    }
}

#[derive(Serialize)]
struct Update<'a> {
    status: &'static str,
    message: &'a str,
    progress: i16,
}

#[derive(Serialize)]
struct Info<T> {
    status: &'static str,
    info: T,
}

#[derive(Serialize)]
struct UploadInfo<'a> {
    filename: &'a str,
    flist: Stats,
}

#[derive(Serialize)]
struct DockerInfo<'a> {
    status: &'static str,
    file: &'a str,
    flist: Stats,
    timing: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Failure<'a> {
    status: &'static str,
    message: &'a str,
}

/// The JSON of the `/listen` frame for `event` of a `kind` job publishing `name`, or `None` for
/// events the original never sent (state changes).
pub fn listen_frame(kind: JobKind, name: &str, event: &JobEvent) -> Option<Vec<u8>> {
    let message = event.message.as_deref().unwrap_or_default();
    let json = match event.kind {
        EventKind::State => return None,
        EventKind::Update => to_json(&Update {
            status: "update",
            message,
            progress: event.progress.unwrap_or(0).clamp(0, 100),
        }),
        EventKind::Error => to_json(&Failure {
            status: "error",
            message,
        }),
        EventKind::Info => info_json(kind, name, &event.data),
    };
    json.map_err(|error| tracing::error!(%error, "cannot serialise a /listen frame"))
        .ok()
}

fn info_json(kind: JobKind, name: &str, data: &serde_json::Value) -> serde_json::Result<Vec<u8>> {
    // A worker may name the file itself; the job's target is the fallback.
    let named = ["filename", "file", "name"]
        .into_iter()
        .find_map(|key| data.get(key).and_then(serde_json::Value::as_str))
        .unwrap_or(name);
    let flist = Stats::found_in(data);
    match kind {
        JobKind::Docker => to_json(&Info {
            status: "info",
            info: DockerInfo {
                status: "success",
                file: named,
                flist,
                timing: serde_json::Map::new(),
            },
        }),
        JobKind::Convert | JobKind::Verify | JobKind::Merge => to_json(&Info {
            status: "info",
            info: UploadInfo {
                filename: named,
                flist,
            },
        }),
    }
}

/// Python-style JSON without the trailing newline (an SSE `data:` line holds one line).
fn to_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut json = crate::pyjson::to_vec(value)?;
    if json.last() == Some(&b'\n') {
        json.pop();
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    fn event(kind: EventKind, message: Option<&str>, data: serde_json::Value) -> JobEvent {
        JobEvent {
            job_id: Uuid::nil(),
            seq: 1,
            at: Utc::now(),
            kind,
            state: None,
            message: message.map(str::to_owned),
            progress: Some(42),
            phase: None,
            data,
        }
    }

    fn frame(kind: JobKind, event: &JobEvent) -> String {
        String::from_utf8(listen_frame(kind, "app.flist", event).unwrap_or_default())
            .unwrap_or_default()
    }

    const STATS: &str = "{\"regular\": 2, \"symlink\": 1, \"directory\": 3, \"special\": 0, \
                         \"failure\": 0, \"fullsize\": 10}";

    #[test]
    fn update_and_error_frames_have_the_original_shape() {
        let update = event(
            EventKind::Update,
            Some("Building: processing item 1 of 2"),
            json!({}),
        );
        assert_eq!(
            frame(JobKind::Convert, &update),
            "{\"status\": \"update\", \"message\": \"Building: processing item 1 of 2\", \"progress\": 42}"
        );
        let error = event(
            EventKind::Error,
            Some("invalid archive"),
            json!({"code": "x"}),
        );
        assert_eq!(
            frame(JobKind::Docker, &error),
            "{\"status\": \"error\", \"message\": \"invalid archive\"}"
        );
        let state = event(EventKind::State, Some("running"), json!({}));
        assert!(listen_frame(JobKind::Convert, "a", &state).is_none());
    }

    #[test]
    fn info_frames_per_kind_whatever_the_worker_wrote() {
        let stats = json!({"regular": 2, "symlink": 1, "directory": 3, "fullsize": 10});
        let upload = event(EventKind::Info, None, json!({"stats": stats}));
        assert_eq!(
            frame(JobKind::Convert, &upload),
            format!(
                "{{\"status\": \"info\", \"info\": {{\"filename\": \"app.flist\", \"flist\": {STATS}}}}}"
            )
        );
        let docker = event(
            EventKind::Info,
            None,
            json!({"file": "x-latest.flist", "flist": stats}),
        );
        assert_eq!(
            frame(JobKind::Docker, &docker),
            format!(
                "{{\"status\": \"info\", \"info\": {{\"status\": \"success\", \"file\": \"x-latest.flist\", \
                 \"flist\": {STATS}, \"timing\": {{}}}}}}"
            )
        );
    }
}
