//! `GET /api/jobs/{id}/events`: a job's events as Server-Sent Events, replayed from the durable
//! log then followed live. Each message is `id: <seq>`, `event: <kind>` (`state`, `update`,
//! `info`, `error`) and the event as JSON; a client reconnecting with `Last-Event-ID` (or
//! `?after=<seq>`) resumes after that event. The stream ends after the job's final state.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use hub_jobs::JobEventStream;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Caller, Path, Query};
use crate::service::jobs::visible_job;
use crate::state::AppState;

/// Period of the keep-alive comments that stop proxies from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `?after=` of the events stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventsQuery {
    /// Resume after this event (`seq`); `Last-Event-ID` wins when both are given.
    after: Option<i64>,
}

/// `GET /api/jobs/{id}/events`.
#[utoipa::path(
    get,
    path = "/api/jobs/{id}/events",
    tag = "jobs",
    summary = "A job's events as Server-Sent Events: replay, then live; `Last-Event-ID` resumes",
    security(("bearer" = [])),
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, description = "Resume after this event (wins over `after`)"),
    ),
    responses(
        (status = 200, description = "`id:` = seq, `event:` = kind, `data:` = the event", body = hub_db::events::JobEvent, content_type = "text/event-stream"),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
pub(super) async fn stream(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let job = visible_job(&state, &identity, &id).await?;
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|value| value.trim().parse::<i64>().ok())
            .ok_or_else(|| ApiError::new(ErrorKind::InvalidLastEventId))?,
        None => query.after.unwrap_or(0),
    };
    let events = sse_events(state.events.follow(job.id, after));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("ping")))
}

/// The SSE messages of a followed job. A failure of the underlying stream (the database went
/// away) ends it with an `event: stream-error` message; the client reconnects with
/// `Last-Event-ID` and loses nothing.
fn sse_events(events: JobEventStream) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(Some(events), |events| async move {
        let mut events = events?;
        let message = match events.next().await? {
            Ok(event) => match serde_json::to_string(&event) {
                Ok(json) => Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind.as_str())
                    .data(json),
                Err(error) => {
                    tracing::error!(%error, "cannot serialise a job event");
                    return None;
                }
            },
            Err(error) => {
                tracing::warn!(%error, "job event stream failed");
                let message = Event::default()
                    .event("stream-error")
                    .data("the event stream was interrupted; reconnect to resume");
                return Some((Ok(message), None));
            }
        };
        Some((Ok(message), Some(events)))
    })
}
