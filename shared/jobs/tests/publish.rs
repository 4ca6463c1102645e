//! A handler storing its flist with `store_flist` and publishing it through the runtime.

mod common;

use std::time::Duration;

use common::{Hub, TestResult};
use hub_db::PgPool;
use hub_jobs::{
    ClaimedJob, FlistFile, JobContext, JobError, JobHandler, JobKind, JobOutput, JobState,
    Publication, staged_object, store_flist,
};
use hub_model::Format;
use hub_store::{ObjectId, ObjectStore};
use tokio::io::AsyncReadExt;

/// Publishes the staged upload unchanged, like the verify worker does.
struct Storing {
    objects: ObjectStore,
}

impl JobHandler for Storing {
    const KIND: JobKind = JobKind::Convert;

    async fn run(&self, job: &ClaimedJob, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let name = staged_object(&job.envelope).ok_or_else(|| JobError::invalid("no upload"))?;
        let mut upload = ctx.staging().open(name).await?;
        let mut bytes = Vec::new();
        upload
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| JobError::transient(err.to_string()))?;
        let file = FlistFile {
            bytes: bytes.into(),
            format: Format::Flist,
            stats: serde_json::json!({"regular": 0, "symlink": 0, "directory": 0, "special": 0, "failure": 0, "fullsize": 0}),
            metadata: serde_json::json!({"readme": {"readme": "hi"}}),
            dump: Some(br#"{"content": []}"#.to_vec()),
            source: Some(serde_json::json!({"upload": name})),
            source_key: None,
        };
        let flist = store_flist(ctx.pool(), &self.objects, file, &job.job.owner).await?;
        Ok(JobOutput::publishing(
            Publication::for_job(job, &flist),
            serde_json::json!({"md5": flist.md5}),
        ))
    }
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_stored_flist_is_published_once_per_content(pool: PgPool) -> TestResult {
    let hub = Hub::start(pool).await?;
    let dir = tempfile::tempdir()?;
    let store = hub_store::open(&format!("dir://{}", dir.path().display())).await?;
    let objects = ObjectStore::new(store);
    let (task, shutdown) = hub
        .spawn_worker(Storing {
            objects: objects.clone(),
        })
        .await?;

    let mut ids = Vec::new();
    for name in ["one.flist", "two.flist"] {
        let staged = hub
            .staging
            .put(&format!("up-{name}"), &mut &b"hello"[..])
            .await?;
        ids.push(hub.submit(name, Some(&staged.name)).await?);
    }
    for id in &ids {
        hub.wait_state(*id, JobState::Succeeded, Duration::from_secs(20))
            .await?;
    }

    let one = hub_db::entries::lookup(&hub.pool, "alice", "one.flist").await?;
    let two = hub_db::entries::lookup(&hub.pool, "alice", "two.flist").await?;
    let (one, two) = (
        one.target.ok_or("one dangles")?,
        two.target.ok_or("two dangles")?,
    );
    assert_eq!(one.flist.id, two.flist.id, "same bytes, one flist row");
    assert_eq!(one.flist.md5, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        (one.flist.size, one.flist.creator.as_deref()),
        (5, Some("alice"))
    );
    assert_eq!(one.flist.metadata["readme"]["readme"], "hi");
    let dump = hub_db::flists::dump(&hub.pool, one.flist.id).await?;
    assert_eq!(dump.as_deref(), Some(&br#"{"content": []}"#[..]));

    // The bytes live in the object store under the recorded content hash.
    let id: ObjectId = one.flist.content_hash.parse()?;
    assert_eq!(objects.get(&id).await?.as_deref(), Some(&b"hello"[..]));
    assert!(
        hub.staging.open("up-one.flist").await.is_err(),
        "upload deleted"
    );

    shutdown.cancel();
    task.await??;
    hub.cleanup().await?;
    Ok(())
}
