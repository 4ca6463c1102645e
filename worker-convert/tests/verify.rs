//! Verify jobs (homemade flists) end to end: published byte for byte when every chunk is in
//! the store, refused when one is missing or the file is not a flist.

mod common;

use std::collections::HashMap;

use common::{AnyResult, TestHub, TestResult, source_tree, test_publish};
use hub_db::PgPool;
use hub_flist::{Backend, Flist, NodeKind};
use hub_jobs::JobState;
use hub_proto::v1::FlistFormat;
use hub_testkit::{gzip, tar_gz};

/// A homemade flist: the conversion of a source tree (so its chunks are in the hub's store),
/// re-written with a foreign backend of its own.
async fn homemade(hub: &TestHub) -> AnyResult<(Flist, Vec<u8>)> {
    let source = source_tree()?;
    let id = hub
        .convert(
            "base.flist",
            FlistFormat::Flist,
            &tar_gz(source.path())?,
            HashMap::new(),
        )
        .await?;
    hub.succeeded(id).await?;
    let (_, bytes) = hub.published("base.flist").await?.ok_or("not published")?;
    let mut flist = hub_flist::read_bytes(&bytes)?;
    flist.meta.set_backend(&Backend {
        host: "zdb.elsewhere.example".into(),
        port: 9900,
        namespace: Some("mine".into()),
        password: None,
        token: None,
        socket: None,
    });
    let bytes = hub_flist::write_bytes(&flist)?;
    Ok((flist, bytes))
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_complete_flist_is_published_unchanged(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let (flist, upload) = homemade(&hub).await?;
    let id = hub
        .verify("mine.flist", FlistFormat::Flist, &upload)
        .await?;
    let job = hub.succeeded(id).await?;

    let (row, stored) = hub.published("mine.flist").await?.ok_or("not published")?;
    assert_eq!(stored.as_ref(), upload.as_slice(), "stored byte for byte");
    let backend = hub_flist::read_bytes(&stored)?
        .meta
        .backend()?
        .ok_or("no backend")?;
    assert_eq!(
        backend.host, "zdb.elsewhere.example",
        "the declared backend is kept"
    );

    let stats = flist.tree.stats();
    let result = job.result.ok_or("no result")?;
    assert_eq!(result["name"], "mine.flist");
    assert_eq!(result["stats"]["failure"], 0);
    assert_eq!(result["stats"]["regular"], stats.regular);
    assert_eq!(result["stats"]["fullsize"], stats.fullsize);
    assert_eq!(result["flist_id"], row.id);
    assert!(
        result["blocks_checked"].as_u64().unwrap_or(0) >= 3,
        "{result}"
    );
    // The gateway answers upload-flist with the stored contents dump.
    let dump = hub_db::flists::dump(&hub.pool, row.id)
        .await?
        .ok_or("no dump")?;
    let dump: serde_json::Value = serde_json::from_slice(&dump)?;
    assert_eq!(dump["failure"], 0);
    assert_eq!(
        dump["content"].as_array().map(Vec::len),
        Some(flist.tree.len() - 1)
    );
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn a_missing_chunk_refuses_the_upload(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let (flist, upload) = homemade(&hub).await?;
    // Delete the first block of the multi-block file.
    let tool = flist.tree.lookup("usr/bin/tool").ok_or("no tool")?;
    let NodeKind::File { blocks, .. } = &flist.tree.node(tool).kind else {
        return Err("tool is not a file".into());
    };
    let block = blocks.first().ok_or("no blocks")?;
    let path = hub
        .block_path(block.id.as_bytes())
        .ok_or("block not in the store")?;
    std::fs::remove_file(path)?;

    let id = hub
        .verify("mine.flist", FlistFormat::Flist, &upload)
        .await?;
    let job = hub.finished(id).await?;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 1, "not retried");
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, "missing_chunks");
    assert!(
        error
            .message
            .starts_with("unauthorized upload, contents is not fully present on backend"),
        "{}",
        error.message
    );
    assert!(error.message.contains("failure: 1;"), "{}", error.message);
    assert!(error.message.contains("/usr/bin/tool"), "{}", error.message);
    assert!(hub.published("mine.flist").await?.is_none());
    hub.staged_upload_deleted(id).await?;
    hub.stop().await
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn unreadable_or_mislabelled_flists_are_invalid(pool: PgPool) -> TestResult {
    let hub = TestHub::start(pool, test_publish()).await?;
    let garbage = gzip(b"this is not a tar with a database")?;
    let id = hub
        .verify("junk.flist", FlistFormat::Flist, &garbage)
        .await?;
    let job = hub.finished(id).await?;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(
        job.error.map(|e| e.code.to_string()).as_deref(),
        Some("invalid_flist")
    );

    // A `.flist` file published under a `.fl` name would break the readers that go by name.
    let (_, upload) = homemade(&hub).await?;
    let id = hub.verify("mine.fl", FlistFormat::Fl, &upload).await?;
    let job = hub.finished(id).await?;
    let error = job.error.ok_or("no error")?;
    assert_eq!(error.code, "invalid_flist");
    assert!(error.message.contains(".flist"), "{}", error.message);
    assert!(hub.published("junk.flist").await?.is_none());
    assert!(hub.published("mine.fl").await?.is_none());
    hub.stop().await
}
