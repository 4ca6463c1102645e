//! The gRPC service (`hub.v1.HubService`, `proto/hub/v1/service.proto`) on its own port
//! (`gateway.grpc_listen`): job submission (docker, merge), get, list, watch and cancel.
//!
//! Calls are authenticated like HTTP requests, with the same guard and bearer tokens (metadata
//! `authorization`, optional `active-user`), counted against the same rate limit, and follow
//! the same access rules and validation (both call [`crate::service`]). Errors carry the
//! HTTP API's message with the matching gRPC code.

use std::net::SocketAddr;
use std::pin::Pin;

use axum::http::{HeaderValue, StatusCode};
use futures::{Stream, StreamExt};
use hub_auth::Identity;
use hub_db::events::JobEvent as DbEvent;
use hub_db::jobs::{self as db_jobs, Job as DbJob};
use hub_model::Format;
use hub_proto::v1::hub_service_server::{HubService, HubServiceServer};
use hub_proto::v1::{
    CancelJobRequest, FlistFormat, GetJobRequest, Job, JobEvent, JobFailure, JobKind, JobState,
    ListJobsRequest, ListJobsResponse, MergeMode, SubmitJobRequest, WatchJobRequest,
    submit_job_request,
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::ApiError;
use crate::service::jobs::{self, JobQuery, Listed};
use crate::service::submit::{self, docker::DockerRequest};
use crate::state::AppState;

/// The gRPC server could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The listen address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The transport failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serve the gRPC API on `listener` until `shutdown` fires; calls in flight finish first.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), GrpcError> {
    tonic::transport::Server::builder()
        .add_service(HubServiceServer::new(GrpcService { state }))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}

/// Bind `addr` for [`serve`].
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, GrpcError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| GrpcError::Bind { addr, source })
}

/// The service: a thin adapter over [`crate::service`], like the HTTP routes.
#[derive(Clone)]
pub struct GrpcService {
    state: AppState,
}

impl GrpcService {
    /// The caller of `request`, through the HTTP API's guard and rate limit.
    async fn caller<T>(&self, request: &Request<T>) -> Result<Identity, Status> {
        let metadata = request.metadata();
        let authorization = metadata
            .get("authorization")
            .and_then(|value| HeaderValue::from_bytes(value.as_bytes()).ok());
        let active_user = metadata
            .get("active-user")
            .and_then(|value| value.to_str().ok());
        let client = request.remote_addr().map(|peer| peer.ip());
        let identity = crate::auth_limit::authenticate(
            &self.state,
            client,
            authorization.as_ref(),
            active_user,
        )
        .await
        .map_err(status)?;
        crate::limits::check_request_rate(&self.state, &identity)
            .await
            .map_err(status)?;
        Ok(identity)
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl HubService for GrpcService {
    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<Job>, Status> {
        let identity = self.caller(&request).await?;
        let request = request.into_inner();
        let state = &self.state;
        let key = Some(request.idempotency_key).filter(|key| !key.trim().is_empty());
        let format: Option<Format> = FlistFormat::try_from(request.format)
            .map_err(|_| Status::invalid_argument("unknown format"))?
            .into();
        let submitted = match request.job {
            Some(submit_job_request::Job::Docker(docker)) => {
                let docker = DockerRequest::new(
                    docker.image,
                    docker.platform,
                    Some(docker.username),
                    Some(docker.password),
                    format,
                )
                .map_err(status)?;
                submit::docker::queue(state, &identity, docker, key).await
            }
            Some(submit_job_request::Job::Merge(merge)) => {
                let sources = merge
                    .sources
                    .into_iter()
                    .map(|source| format!("{}/{}", source.repository, source.name))
                    .collect();
                let mode = MergeMode::try_from(merge.mode)
                    .map(hub_model::MergeMode::from)
                    .map_err(|_| Status::invalid_argument("unknown merge mode"))?;
                let merge = submit::merge::validate(state, sources, &merge.target, Ok(mode))
                    .await
                    .map_err(status)?;
                submit::merge::queue(state, &identity, merge, format, key).await
            }
            None => return Err(Status::invalid_argument("no job given")),
        };
        let submitted = submitted.map_err(status)?;
        Ok(Response::new(job(submitted.job())))
    }

    async fn get_job(&self, request: Request<GetJobRequest>) -> Result<Response<Job>, Status> {
        let identity = self.caller(&request).await?;
        let found = jobs::visible_job(&self.state, &identity, &request.get_ref().id)
            .await
            .map_err(status)?;
        Ok(Response::new(job(&found)))
    }

    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let identity = self.caller(&request).await?;
        let request = request.into_inner();
        let query = JobQuery {
            states: request
                .states
                .iter()
                .map(|state| db_state(*state))
                .collect::<Result<_, _>>()?,
            kinds: request
                .kinds
                .iter()
                .map(|kind| db_kind(*kind))
                .collect::<Result<_, _>>()?,
            repository: Some(request.repository).filter(|repository| !repository.is_empty()),
            cursor: Some(request.cursor),
            limit: Some(request.limit).filter(|limit| *limit > 0),
        };
        let Listed { page, .. } = jobs::list(&self.state, &identity, query)
            .await
            .map_err(status)?;
        Ok(Response::new(ListJobsResponse {
            jobs: page.jobs.iter().map(job).collect(),
            next_cursor: page
                .next
                .map(|cursor| cursor.to_string())
                .unwrap_or_default(),
        }))
    }

    type WatchJobStream = EventStream;

    async fn watch_job(
        &self,
        request: Request<WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let identity = self.caller(&request).await?;
        let request = request.into_inner();
        let found = jobs::visible_job(&self.state, &identity, &request.id)
            .await
            .map_err(status)?;
        let events = self
            .state
            .events
            .follow(found.id, request.after_seq.max(0))
            .map(|item| {
                item.map(|event| job_event(&event))
                    .map_err(|error| status(error.into()))
            });
        Ok(Response::new(Box::pin(events)))
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<Job>, Status> {
        let identity = self.caller(&request).await?;
        let cancelled = jobs::cancel(&self.state, &identity, &request.get_ref().id)
            .await
            .map_err(status)?;
        Ok(Response::new(job(&cancelled)))
    }
}

/// The gRPC status of an API error: the same message, the matching code.
fn status(error: ApiError) -> Status {
    let message = error.message();
    match error.status() {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
            Status::invalid_argument(message)
        }
        StatusCode::UNAUTHORIZED => Status::unauthenticated(message),
        StatusCode::FORBIDDEN => Status::permission_denied(message),
        StatusCode::NOT_FOUND => Status::not_found(message),
        StatusCode::CONFLICT => Status::failed_precondition(message),
        StatusCode::TOO_MANY_REQUESTS => Status::resource_exhausted(message),
        StatusCode::SERVICE_UNAVAILABLE => Status::unavailable(message),
        StatusCode::NOT_IMPLEMENTED => Status::unimplemented(message),
        _ => Status::internal(message),
    }
}

fn job(job: &DbJob) -> Job {
    Job {
        id: job.id.to_string(),
        kind: proto_kind(job.kind) as i32,
        state: proto_state(job.state) as i32,
        progress: i32::from(job.progress),
        phase: job.phase.clone().unwrap_or_default(),
        message: job.message.clone().unwrap_or_default(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        owner: job.owner.clone(),
        repository: job.repository.clone(),
        name: job.target_name.clone(),
        result_json: job
            .result
            .as_ref()
            .map(serde_json::Value::to_string)
            .unwrap_or_default(),
        error: job.error.as_ref().map(|failure| JobFailure {
            code: failure.code.to_string(),
            message: failure.message.clone(),
        }),
        created_at_ms: job.created_at.timestamp_millis(),
        started_at_ms: job.started_at.map_or(0, |at| at.timestamp_millis()),
        finished_at_ms: job.finished_at.map_or(0, |at| at.timestamp_millis()),
    }
}

fn job_event(event: &DbEvent) -> JobEvent {
    JobEvent {
        seq: event.seq,
        kind: event.kind.as_str().to_owned(),
        state: event.state.map_or(JobState::Unspecified, proto_state) as i32,
        message: event.message.clone().unwrap_or_default(),
        progress: event.progress.map_or(0, i32::from),
        phase: event.phase.clone().unwrap_or_default(),
        data_json: event.data.to_string(),
        at_ms: event.at.timestamp_millis(),
    }
}

fn proto_kind(kind: db_jobs::JobKind) -> JobKind {
    kind.into()
}

fn proto_state(state: db_jobs::JobState) -> JobState {
    state.into()
}

fn db_kind(kind: i32) -> Result<db_jobs::JobKind, Status> {
    JobKind::try_from(kind)
        .ok()
        .and_then(Option::from)
        .ok_or_else(|| Status::invalid_argument("invalid job kind"))
}

fn db_state(state: i32) -> Result<db_jobs::JobState, Status> {
    JobState::try_from(state)
        .ok()
        .and_then(Option::from)
        .ok_or_else(|| Status::invalid_argument("invalid job state"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn api_errors_keep_their_message_and_map_to_grpc_codes() {
        let cases = [
            (
                ApiError::new(ErrorKind::NoSource),
                tonic::Code::InvalidArgument,
            ),
            (
                ApiError::new(ErrorKind::Missing(hub_db::Missing::Job)),
                tonic::Code::NotFound,
            ),
            (
                ApiError::new(ErrorKind::Conflict(hub_db::Conflict::JobFinished)),
                tonic::Code::FailedPrecondition,
            ),
            (
                ApiError::new(ErrorKind::RateLimited),
                tonic::Code::ResourceExhausted,
            ),
            (
                ApiError::new(ErrorKind::Auth {
                    status: StatusCode::UNAUTHORIZED,
                    message: "token revoked",
                }),
                tonic::Code::Unauthenticated,
            ),
        ];
        for (error, code) in cases {
            let message = error.message().to_owned();
            let status = status(error);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn kinds_and_states_round_trip() {
        for kind in db_jobs::JobKind::ALL {
            assert_eq!(db_kind(proto_kind(kind) as i32).ok(), Some(kind));
        }
        for state in db_jobs::JobState::ALL {
            assert_eq!(db_state(proto_state(state) as i32).ok(), Some(state));
        }
        assert!(db_kind(0).is_err());
        assert!(db_state(42).is_err());
    }
}
