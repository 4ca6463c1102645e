//! `GET /listen/{jobid}`: the original hub's progress stream (hub-api §9), with its exact frames:
//! `data: <json>\n\n` only (no `id:` or `event:` lines), messages `update`, `info` and `error`.
//! Unlike the original, the stream can be read by any number of listeners, any number of times:
//! it replays the job from the start, follows it live, and closes after the final `info` or
//! `error` message.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;

use super::events::KEEP_ALIVE;
use super::legacy::listen_frame;
use crate::error::{ApiError, responses};
use crate::pyjson::PyJson;
use crate::schemas::ListenFrame;
use crate::state::AppState;

/// The original's 404 body, in its key order (Flask `jsonify` sorted the keys).
#[derive(Serialize)]
struct NotFound {
    message: &'static str,
    status: &'static str,
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        PyJson(NotFound {
            message: "job id not found",
            status: "error",
        }),
    )
        .into_response()
}

/// `GET /listen/{jobid}` (anonymous).
#[utoipa::path(
    get,
    path = "/listen/{jobid}",
    tag = "jobs",
    summary = "The original progress stream (`data:` frames `update`, `info`, `error`)",
    responses(
        (status = 200, description = "`data:` frames only", body = ListenFrame, content_type = "text/event-stream"),
        (status = 404, response = responses::NotFound),
    ),
)]
pub(super) async fn listen(State(state): State<AppState>, Path(jobid): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::try_parse(&jobid) else {
        return not_found();
    };
    let job = match hub_db::jobs::get(&state.pool, id).await {
        Ok(job) => job,
        Err(hub_db::DbError::NotFound(_)) => return not_found(),
        Err(error) => return ApiError::from(error).into_response(),
    };
    let (kind, name) = (job.kind, job.target_name);
    let frames = state.events.follow(id, 0).filter_map(move |item| {
        let frame = match item {
            Ok(event) => listen_frame(kind, &name, &event)
                .and_then(|json| String::from_utf8(json).ok())
                .map(|json| Ok::<_, Infallible>(Event::default().data(json))),
            Err(error) => {
                // The client reconnects and replays; nothing is lost.
                tracing::warn!(%error, "job event stream failed");
                None
            }
        };
        std::future::ready(frame)
    });
    Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("ping"))
        .into_response()
}
