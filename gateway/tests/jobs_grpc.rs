//! The gRPC service against the real services: authentication with the HTTP API's tokens,
//! submit (docker, merge), get, list, watch and cancel, errors as gRPC codes.

mod common;
mod jobs_support;

use futures::StreamExt;
use hub_proto::v1::hub_service_client::HubServiceClient;
use hub_proto::v1::{
    CancelJobRequest, FlistFormat, FlistRef, GetJobRequest, JobKind, JobState, ListJobsRequest,
    SubmitDocker, SubmitJobRequest, SubmitMerge, WatchJobRequest, submit_job_request,
};
use jobs_support::{Workers, seed_flist, token, with_auth};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::Request;
use tonic::transport::Channel;

fn authorized<T>(message: T, user: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value = format!("Bearer {}", token(user)).parse().expect("metadata");
    request.metadata_mut().insert("authorization", value);
    request
}

fn docker(image: &str) -> SubmitJobRequest {
    SubmitJobRequest {
        idempotency_key: String::new(),
        format: FlistFormat::Unspecified as i32,
        job: Some(submit_job_request::Job::Docker(SubmitDocker {
            image: image.into(),
            ..SubmitDocker::default()
        })),
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn submit_watch_get_list_and_cancel_over_grpc(pool: PgPool) {
    let hub = jobs_support::start(pool, with_auth).await;
    let workers = Workers::start(&hub).await;
    seed_flist(&hub, "tf", "base.flist").await;
    let listener = hub_gateway::grpc::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(hub_gateway::grpc::serve(
        hub.state.clone(),
        listener,
        shutdown.clone(),
    ));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = HubServiceClient::new(channel);

    let refused = client
        .submit_job(Request::new(docker("alpine:3")))
        .await
        .expect_err("unauthenticated");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert_eq!(refused.message(), "no authorization provided");

    let job = client
        .submit_job(authorized(docker("alpine:3"), "alice.3bot"))
        .await
        .expect("submit")
        .into_inner();
    assert_eq!(job.kind, JobKind::Docker as i32);
    assert_eq!(job.state, JobState::Queued as i32);
    assert_eq!(job.name, "alpine-3.flist");
    assert_eq!(job.owner, "alice.3bot");

    let mut events = client
        .watch_job(authorized(
            WatchJobRequest {
                id: job.id.clone(),
                after_seq: 0,
            },
            "alice.3bot",
        ))
        .await
        .expect("watch")
        .into_inner();
    let mut seqs = Vec::new();
    let mut last = None;
    while let Some(event) = events.next().await {
        let event = event.expect("event");
        seqs.push(event.seq);
        last = Some(event);
    }
    let last = last.expect("events");
    assert_eq!(last.kind, "state");
    assert_eq!(last.state, JobState::Succeeded as i32);
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());

    let got = client
        .get_job(authorized(
            GetJobRequest { id: job.id.clone() },
            "alice.3bot",
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.state, JobState::Succeeded as i32);
    assert!(got.finished_at_ms >= got.created_at_ms);
    assert!(got.result_json.contains("\"stats\""));
    let hidden = client
        .get_job(authorized(GetJobRequest { id: job.id.clone() }, "bob.3bot"))
        .await
        .expect_err("not bob's");
    assert_eq!(hidden.code(), tonic::Code::NotFound);

    let merge = SubmitJobRequest {
        idempotency_key: "merge-1".into(),
        format: FlistFormat::Fl as i32,
        job: Some(submit_job_request::Job::Merge(SubmitMerge {
            sources: vec![FlistRef {
                repository: "tf".into(),
                name: "base".into(),
            }],
            target: "merged".into(),
            mode: 0,
        })),
    };
    let merged = client
        .submit_job(authorized(merge.clone(), "alice.3bot"))
        .await
        .expect("merge")
        .into_inner();
    assert_eq!(merged.name, "merged.fl");
    let again = client
        .submit_job(authorized(merge, "alice.3bot"))
        .await
        .expect("merge again")
        .into_inner();
    assert_eq!(again.id, merged.id, "idempotency key");
    let missing = SubmitJobRequest {
        job: Some(submit_job_request::Job::Merge(SubmitMerge {
            sources: vec![FlistRef {
                repository: "tf".into(),
                name: "nope".into(),
            }],
            target: "x".into(),
            mode: 0,
        })),
        ..docker("unused")
    };
    let error = client
        .submit_job(authorized(missing, "alice.3bot"))
        .await
        .expect_err("missing source");
    assert_eq!(error.code(), tonic::Code::NotFound);
    assert_eq!(error.message(), "tf/nope.flist does not exists");

    let listed = client
        .list_jobs(authorized(
            ListJobsRequest {
                kinds: vec![JobKind::Docker as i32],
                limit: 10,
                ..ListJobsRequest::default()
            },
            "alice.3bot",
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.jobs.len(), 1);
    assert_eq!(listed.jobs[0].id, job.id);
    assert!(listed.next_cursor.is_empty());

    let finished = client
        .cancel_job(authorized(
            CancelJobRequest { id: job.id.clone() },
            "alice.3bot",
        ))
        .await
        .expect_err("already finished");
    assert_eq!(finished.code(), tonic::Code::FailedPrecondition);
    let hanging = client
        .submit_job(authorized(docker("hang:1"), "alice.3bot"))
        .await
        .expect("submit")
        .into_inner();
    let cancelled = client
        .cancel_job(authorized(
            CancelJobRequest { id: hanging.id },
            "alice.3bot",
        ))
        .await
        .expect("cancel")
        .into_inner();
    assert_eq!(cancelled.state, JobState::Cancelled as i32);
    assert_eq!(
        cancelled.error.map(|e| e.code).as_deref(),
        Some("cancelled")
    );

    shutdown.cancel();
    server.await.expect("task").expect("clean shutdown");
    workers.stop().await;
    hub.stop().await;
}
