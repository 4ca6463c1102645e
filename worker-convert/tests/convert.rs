//! Convert jobs end to end through the real job runtime: staged upload → job → published
//! flist whose contents unpack to the source.

mod common;

use std::collections::HashMap;

use common::{REPO, TestHub, TestResult, source_tree, test_publish};
use hub_config::PublishConfig;
use hub_db::PgPool;
use hub_jobs::{EventKind, JobState};
use hub_proto::v1::FlistFormat;
use hub_testkit::{TarBuilder, gzip, noise, raw_header, snapshot, tar_gz, unpack_to_tempdir};
use serde::Serialize;

/// The dump the gateway serves, serialised here independently of the worker's code.
#[derive(Serialize)]
struct ServedDump {
    content: Vec<hub_flist::DumpEntry>,
    regular: u64,
    symlink: u64,
    directory: u64,
    special: u64,
    failure: u64,
    fullsize: u64,
}

fn served_dump(tree: &hub_flist::Tree) -> Vec<u8> {
    let stats = tree.stats();
    let body = ServedDump {
        content: tree.dump(),
        regular: stats.regular,
        symlink: stats.symlink,
        directory: stats.directory,
        special: stats.special,
        failure: 0,
        fullsize: stats.fullsize,
    };
    hub_apijson::to_vec(&body).unwrap_or_default()
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn an_archive_becomes_a_published_flist(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let source = source_tree()?;
    let archive = tar_gz(source.path())?;
    let metadata = HashMap::from([
        ("author".to_owned(), "Alice".to_owned()),
        ("readme".to_owned(), "overridden?".to_owned()),
        (
            "backend".to_owned(),
            "{\"host\": \"evil\", \"port\": 1}".to_owned(),
        ),
        ("entrypoint".to_owned(), "[\"/bin/evil\"]".to_owned()),
    ]);
    let id = hub
        .convert("demo.flist", FlistFormat::Flist, &archive, metadata)
        .await?;
    let job = hub.succeeded(id).await?;

    let (row, bytes) = hub.published("demo.flist").await?.ok_or("not published")?;
    let flist = hub_flist::read_bytes(&bytes)?;
    assert_eq!(flist.format, hub_flist::Format::Flist);

    // The stored dump is byte for byte what the gateway serves for this tree.
    let dump = hub_db::flists::dump(&hub.pool, row.id)
        .await?
        .ok_or("no dump")?;
    assert_eq!(
        String::from_utf8(dump)?,
        String::from_utf8(served_dump(&flist.tree))?
    );

    // Metadata: readme imported, user metadata kept, protected keys ignored, public backend.
    let meta = &flist.meta;
    assert_eq!(meta.values.get("author").map(String::as_str), Some("Alice"));
    assert_eq!(
        meta.get_json("readme"),
        Some(serde_json::json!({"readme": "# Demo\nhello\n"}))
    );
    assert!(!meta.values.contains_key("entrypoint"));
    let backend = meta.backend()?.ok_or("no backend")?;
    assert_eq!((backend.host.as_str(), backend.port), ("hub.test", 9911));
    assert_eq!(backend.namespace.as_deref(), Some("public"));
    assert_eq!(row.metadata["author"], "Alice");

    // Result and statistics: 3 regular files + the readme, 1 symlink, 4 directories.
    let stats = serde_json::json!({"regular": 4, "symlink": 1, "directory": 4, "special": 0,
                                   "failure": 0, "fullsize": 1_300_000 + 4 + 13});
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["name"], "demo.flist");
    assert_eq!(result["stats"], stats);
    assert_eq!(result["format"], "flist");
    assert_eq!(result["md5"], row.md5.as_str());
    assert_eq!(result["size"], bytes.len());
    assert_eq!(result["flist_id"], row.id);
    assert!(
        result["blocks_written"].as_u64().unwrap_or(0) >= 3,
        "{result}"
    );
    assert_eq!(row.stats, stats);

    // Progress ends with the original's message, then the upload-shaped info event.
    let events = hub.events(id).await?;
    let updates: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Update)
        .collect();
    let last = updates.last().ok_or("no progress")?;
    assert_eq!(
        (last.message.as_deref(), last.progress),
        (Some("Image ready !"), Some(100))
    );
    let info = events
        .iter()
        .find(|e| e.kind == EventKind::Info)
        .ok_or("no info event")?;
    assert_eq!(
        info.data,
        serde_json::json!({"filename": "demo.flist", "flist": stats})
    );

    // The published flist unpacks to the source.
    let out = unpack_to_tempdir(&flist, &hub.store).await?;
    assert_eq!(snapshot(out.path())?, snapshot(source.path())?);
    // The staged upload is gone once the job is over.
    hub.staged_upload_deleted(id).await?;
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn fl_output_carries_the_configured_routes(pool: PgPool) -> TestResult {
    let publish = PublishConfig {
        fl_routes: vec![
            "00-7f=zdb://:secret@pub-a.test:9900/hub, 80-ff=zdb://pub-b.test/hub".into(),
        ],
        ..test_publish()
    };
    let hub = TestHub::start(pool, publish).await?;
    let source = source_tree()?;
    let id = hub
        .convert(
            "demo.fl",
            FlistFormat::Fl,
            &tar_gz(source.path())?,
            HashMap::new(),
        )
        .await?;
    let job = hub.succeeded(id).await?;
    assert_eq!(
        job.result.as_ref().map(|r| r["format"].clone()),
        Some("fl".into())
    );
    let (row, bytes) = hub.published("demo.fl").await?.ok_or("not published")?;
    assert_eq!(row.format, hub_flist::Format::Fl);
    let flist = hub_flist::read_bytes(&bytes)?;
    assert_eq!(flist.format, hub_flist::Format::Fl);
    let routes: Vec<(u8, u8, &str)> = flist
        .meta
        .routes
        .iter()
        .map(|r| (r.start, r.end, r.url.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            (0x00, 0x7f, "zdb://pub-a.test:9900/hub"),
            (0x80, 0xff, "zdb://pub-b.test:9900/hub")
        ]
    );
    assert!(!flist.meta.values.contains_key("backend"));
    let out = unpack_to_tempdir(&flist, &hub.store).await?;
    assert_eq!(snapshot(out.path())?, snapshot(source.path())?);
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_corrupt_archive_fails_and_publishes_nothing(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let source = source_tree()?;
    let mut archive = tar_gz(source.path())?;
    // Keep the gzip header, cut the stream in the middle and add garbage.
    archive.truncate(archive.len() / 2);
    archive.extend_from_slice(&[0x55; 4096]);
    let id = hub
        .convert("broken.flist", FlistFormat::Flist, &archive, HashMap::new())
        .await?;
    let job = hub.finished(id).await?;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, "invalid_archive", "{}", error.message);
    assert_eq!(job.attempt, 1, "input errors are not retried");
    assert!(hub.published("broken.flist").await?.is_none());
    // A failed job's upload is deleted too (nothing retries it).
    hub.staged_upload_deleted(id).await?;

    let garbage = hub
        .convert(
            "junk.flist",
            FlistFormat::Flist,
            &noise(3000, 1),
            HashMap::new(),
        )
        .await?;
    let job = hub.finished(garbage).await?;
    let code = job.error.map(|e| e.code.to_string());
    assert!(
        matches!(code.as_deref(), Some("unknown_format" | "invalid_archive")),
        "{code:?}"
    );
    assert!(hub.published("junk.flist").await?.is_none());
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_traversal_archive_is_refused(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    // A raw header: tar builders refuse `..` themselves.
    let header = raw_header("../../etc/evil", tar::EntryType::Regular, 4)?;
    let archive = gzip(&TarBuilder::new().raw(&header, b"evil").finish()?)?;

    let id = hub
        .convert("evil.flist", FlistFormat::Flist, &archive, HashMap::new())
        .await?;
    let job = hub.finished(id).await?;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, "unsafe_path");
    assert!(
        error.message.contains("../../etc/evil"),
        "{}",
        error.message
    );
    assert!(hub.published("evil.flist").await?.is_none());
    // The listeners got the error as the job's last words.
    let events = hub.events(id).await?;
    assert!(events.iter().any(|e| e.kind == EventKind::Error));
    assert!(events.iter().all(|e| e.kind != EventKind::Info));
    let _ = REPO;
    hub.stop().await
}
