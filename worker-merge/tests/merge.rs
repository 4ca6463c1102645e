//! Merge jobs end to end through the real job runtime: sources resolved through the hub's
//! entries, merged, published.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hub_config::PublishConfig;
use hub_db::PgPool;
use hub_flist::{Flist, Format};
use hub_jobs::{Job, JobEnvelope, JobState, JobsConfig, store_flist};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{FlistFormat, FlistRef, MergeJob, MergeMode};
use hub_store::{ObjectStore, SharedStore};
use hub_testkit::{Entry, Stack, TarBuilder, dir_store, snapshot, unpack_to_tempdir};
use hub_worker::{Connections, PublishSettings, Service, ServiceError, output};
use hub_worker_merge::{MergeHandler, MergeSettings};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct TestHub {
    stack: Stack,
    store_dir: tempfile::TempDir,
    store: SharedStore,
    objects: ObjectStore,
    publish: PublishSettings,
    shutdown: CancellationToken,
    service: tokio::task::JoinHandle<Result<(), ServiceError>>,
}

impl TestHub {
    async fn start(pool: PgPool) -> AnyResult<Self> {
        let jobs = JobsConfig {
            progress_interval: Duration::from_millis(50),
            fetch_expiry: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(100),
            ..JobsConfig::default()
        };
        let stack = Stack::start(pool, &jobs).await?;
        let (store_dir, store) = dir_store().await?;
        let publish = PublishSettings::new(&PublishConfig {
            backend_host: "hub.test".into(),
            ..PublishConfig::default()
        })?;
        let handler = MergeHandler::new(
            SharedStore::clone(&store),
            publish.clone(),
            MergeSettings::default(),
        );
        let connections = Connections {
            pool: stack.pool.clone(),
            queue: stack.queue.clone(),
            staging: stack.staging.clone(),
            store: SharedStore::clone(&store),
        };
        let shutdown = CancellationToken::new();
        let mut service = Service::new(connections, shutdown.clone());
        service.add_worker(handler).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let service = tokio::spawn(service.run_with_listener(listener));
        Ok(Self {
            stack,
            objects: ObjectStore::new(SharedStore::clone(&store)),
            store_dir,
            store,
            publish,
            shutdown,
            service,
        })
    }

    async fn stop(self) -> TestResult {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.service).await???;
        self.stack.cleanup().await?;
        Ok(())
    }

    /// Convert `files` (path, content; a `None` content is a directory) and publish the
    /// result as `repo/name` with metadata `origin = name`, as a finished upload would be.
    async fn seed(&self, repo: &str, name: &str, files: &[(&str, Option<&str>)]) -> TestResult {
        let mut archive = TarBuilder::new();
        for (path, content) in files {
            archive = match content {
                Some(content) => archive.file(path, 0o644, content.as_bytes()),
                None => archive.dir(path, 0o755),
            };
        }
        let archive = archive.finish()?;
        let conversion = hub_convert::convert_archive(
            std::io::Cursor::new(archive),
            SharedStore::clone(&self.store),
            &hub_convert::ConvertOptions::new(Format::Flist),
            Arc::new(hub_convert::NoProgress),
        )
        .await?;
        let mut flist = conversion.flist;
        flist.meta.values.insert("origin".into(), name.into());
        self.publish.apply(&mut flist, &self.store.routes());
        let file = output::encode(flist).await?.into_file(None, None);
        let row = store_flist(&self.stack.pool, &self.objects, file, repo).await?;
        let mut tx = self.stack.pool.begin().await?;
        hub_db::entries::publish_flist(&mut tx, repo, name, row.id, hub_db::EntryQuota::UNLIMITED)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn merge(
        &self,
        target: &str,
        sources: &[&str],
        mode: MergeMode,
        format: FlistFormat,
    ) -> AnyResult<Job> {
        let id = Uuid::new_v4();
        let sources = sources
            .iter()
            .map(|source| {
                let (repository, name) = source.split_once('/').unwrap_or(("", source));
                FlistRef {
                    repository: repository.into(),
                    name: name.into(),
                }
            })
            .collect();
        self.stack
            .submit_envelope(JobEnvelope {
                job_id: id.to_string(),
                owner: "carol".into(),
                repository: "carol".into(),
                target_name: target.into(),
                format: format as i32,
                repository_max_entries: 0,
                payload: Some(Payload::Merge(MergeJob {
                    sources,
                    mode: mode as i32,
                })),
            })
            .await?;
        self.stack.finished(id, Duration::from_secs(60)).await
    }

    /// The flist published as `carol/<name>`, if any.
    async fn published(&self, name: &str) -> AnyResult<Option<(hub_db::flists::Flist, Flist)>> {
        self.published_in("carol", name).await
    }

    /// The flist published as `<repo>/<name>`, if any.
    async fn published_in(
        &self,
        repo: &str,
        name: &str,
    ) -> AnyResult<Option<(hub_db::flists::Flist, Flist)>> {
        match hub_testkit::published(&self.stack.pool, &self.objects, repo, name).await? {
            Some((row, bytes)) => Ok(Some((row, hub_flist::read_bytes(&bytes)?))),
            None => Ok(None),
        }
    }

    /// The content of every regular file of `flist`, by path, read back from the store.
    async fn contents(&self, flist: &Flist) -> AnyResult<Vec<(String, String)>> {
        let out = unpack_to_tempdir(flist, &self.store).await?;
        let mut files = Vec::new();
        for (path, entry) in snapshot(out.path())? {
            if let Entry::File { data, .. } = entry {
                files.push((path, String::from_utf8(data)?));
            }
        }
        Ok(files)
    }
}

/// The path of block `id` in the test's `dir://` store (flat layout).
fn block_file(hub: &TestHub, id: &[u8]) -> std::path::PathBuf {
    hub.store_dir.path().join(hex::encode(id))
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(path, content)| ((*path).to_owned(), (*content).to_owned()))
        .collect()
}

async fn seed_two(hub: &TestHub) -> TestResult {
    hub.seed(
        "alice",
        "a.flist",
        &[
            ("etc", None),
            ("etc/a", Some("A")),
            ("common", Some("from a")),
            ("gone", Some("old")),
        ],
    )
    .await?;
    hub.seed(
        "bob",
        "b.flist",
        &[
            ("etc", None),
            ("etc/b", Some("B")),
            ("common", Some("from b")),
            (".wh.gone", Some("")),
        ],
    )
    .await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn union_keeps_the_first_source_per_path(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool).await?;
    seed_two(&hub).await?;
    let job = hub
        .merge(
            "both.flist",
            &["alice/a.flist", "bob/b"],
            MergeMode::Union,
            FlistFormat::Unspecified,
        )
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let (row, flist) = hub.published("both.flist").await?.ok_or("not published")?;
    assert_eq!(flist.format, Format::Flist, "the first source's format");
    assert_eq!(
        hub.contents(&flist).await?,
        pairs(&[
            (".wh.gone", ""),
            ("common", "from a"),
            ("etc/a", "A"),
            ("etc/b", "B"),
            ("gone", "old"),
        ])
    );
    // Metadata from the first source, backend the hub's public one.
    assert_eq!(
        flist.meta.values.get("origin").map(String::as_str),
        Some("a.flist")
    );
    assert_eq!(
        flist.meta.backend()?.map(|b| b.host),
        Some("hub.test".into())
    );
    // The stored dump and statistics describe the merged tree.
    let stats = flist.tree.stats();
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["name"], "both.flist");
    assert_eq!(result["stats"]["regular"], stats.regular);
    assert_eq!(
        result["sources"],
        serde_json::json!(["alice/a.flist", "bob/b.flist"])
    );
    assert_eq!(result["mode"], "union");
    let dump = hub_db::flists::dump(&hub.stack.pool, row.id)
        .await?
        .ok_or("no dump")?;
    let served = hub_jobs::contents_dump(&flist.tree)?.1;
    assert_eq!(dump, served);
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn overlay_lets_later_sources_replace_and_delete(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool).await?;
    seed_two(&hub).await?;
    let job = hub
        .merge(
            "over.fl",
            &["alice/a.flist", "bob/b.flist"],
            MergeMode::Overlay,
            FlistFormat::Fl,
        )
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let (row, flist) = hub.published("over.fl").await?.ok_or("not published")?;
    assert_eq!((flist.format, row.format), (Format::Fl, Format::Fl));
    assert_eq!(
        hub.contents(&flist).await?,
        pairs(&[("common", "from b"), ("etc/a", "A"), ("etc/b", "B")])
    );
    // A `.fl` names the store by routes, not by a backend.
    assert!(!flist.meta.values.contains_key("backend"));
    assert_eq!(flist.meta.routes.len(), 1);
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_missing_source_fails_with_the_original_message(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool).await?;
    seed_two(&hub).await?;
    for (sources, label) in [
        (["alice/a.flist", "alice/nope"], "alice/nope.flist"),
        (["alice/a.flist", "nobody/a.flist"], "nobody/a.flist"),
    ] {
        let job = hub
            .merge(
                "never.flist",
                &sources,
                MergeMode::Union,
                FlistFormat::Unspecified,
            )
            .await?;
        assert_eq!(job.state, JobState::Failed);
        assert_eq!(job.attempt, 1, "not retried");
        let error = job.error.ok_or("no error")?;
        assert_eq!(error.code, "source_not_found");
        assert_eq!(error.message, format!("{label} does not exists"));
    }
    assert!(hub.published("never.flist").await?.is_none());
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn symlinked_sources_are_followed(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool).await?;
    seed_two(&hub).await?;
    // carol/latest → alice/a (crosslink), carol/current → carol/latest (local link).
    hub_db::entries::link(
        &hub.stack.pool,
        "carol",
        "latest.flist",
        "alice",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    hub_db::entries::link(
        &hub.stack.pool,
        "carol",
        "current.flist",
        "carol",
        "latest.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    let job = hub
        .merge(
            "linked.flist",
            &["carol/current.flist", "bob/b.flist"],
            MergeMode::Union,
            FlistFormat::Unspecified,
        )
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let (_, flist) = hub
        .published("linked.flist")
        .await?
        .ok_or("not published")?;
    let contents = hub.contents(&flist).await?;
    assert!(
        contents.contains(&("common".into(), "from a".into())),
        "{contents:?}"
    );
    assert!(
        contents.contains(&("etc/b".into(), "B".into())),
        "{contents:?}"
    );

    // A link whose target was deleted dangles: the source does not exist.
    hub_db::entries::remove(&hub.stack.pool, "alice", "a.flist").await?;
    let job = hub
        .merge(
            "dangling.flist",
            &["carol/current.flist"],
            MergeMode::Union,
            FlistFormat::Unspecified,
        )
        .await?;
    assert_eq!(
        job.error.map(|e| e.code.to_string()).as_deref(),
        Some("source_not_found")
    );
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_merge_confirms_the_source_blocks_it_publishes(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool).await?;
    seed_two(&hub).await?;
    // Every block looks two days old, as the blocks of long-published sources do.
    hub_testkit::backdate_files(hub.store_dir.path(), Duration::from_secs(2 * 24 * 3600))?;
    let started = SystemTime::now() - Duration::from_secs(1);
    let job = hub
        .merge(
            "both.flist",
            &["alice/a.flist", "bob/b.flist"],
            MergeMode::Union,
            FlistFormat::Unspecified,
        )
        .await?;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let (_, flist) = hub.published("both.flist").await?.ok_or("not published")?;
    // A same-format merge writes none of these blocks; the collector must still see them
    // as wanted now, or it could free a source's blocks while the merge publishes them.
    let mut checked = 0;
    for id in flist.block_ids() {
        let modified = std::fs::metadata(block_file(&hub, id))?.modified()?;
        assert!(
            modified >= started,
            "block {} not confirmed",
            hex::encode(id)
        );
        checked += 1;
    }
    assert!(checked >= 4, "the merged flist has blocks: {checked}");
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_merge_whose_source_lost_blocks_fails_and_publishes_nothing(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool).await?;
    seed_two(&hub).await?;
    let (_, alice) = hub
        .published_in("alice", "a.flist")
        .await?
        .ok_or("alice/a.flist not published")?;
    let mut lost = 0;
    for id in alice.block_ids() {
        std::fs::remove_file(block_file(&hub, id))?;
        lost += 1;
    }
    assert!(lost > 0);
    let job = hub
        .merge(
            "broken.flist",
            &["alice/a.flist", "bob/b.flist"],
            MergeMode::Union,
            FlistFormat::Unspecified,
        )
        .await?;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 1, "not retried");
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, "internal");
    assert!(
        error
            .message
            .contains(&format!("references {lost} blocks missing from the store")),
        "{}",
        error.message
    );
    assert!(hub.published("broken.flist").await?.is_none());
    hub.stop().await
}
