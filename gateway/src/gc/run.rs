//! One collection: the collector's lock, the resume point, rows, mark, sweep, bookkeeping.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use hub_db::gc_runs::{self, GcRun};
use hub_store::SharedStore;
use sqlx::Connection;

use super::{Bloom, GcConfig, GcError, GcReport, Hooks, mark, sweep};

pub(super) async fn run(
    db: &hub_db::PgPool,
    store: &SharedStore,
    config: &GcConfig,
    dry_run: bool,
    hooks: &Hooks,
) -> Result<GcReport, GcError> {
    // One collection at a time: two would share checkpoints and wait on each other's journal
    // locks. A session lock on a connection of its own, so a crash releases it.
    let lock = if dry_run {
        None
    } else {
        let mut conn = db.acquire().await.map_err(hub_db::DbError::from)?.detach();
        if !gc_runs::try_lock(&mut conn).await? {
            return Err(GcError::Busy);
        }
        Some(conn)
    };
    let result = collect(db, store, config, dry_run, hooks).await;
    if let Some(conn) = lock {
        // Closing the session releases the lock; an error here changes nothing for the run.
        if let Err(error) = conn.close().await {
            tracing::debug!(%error, "gc: closing the lock connection");
        }
    }
    result
}

async fn collect(
    db: &hub_db::PgPool,
    store: &SharedStore,
    config: &GcConfig,
    dry_run: bool,
    hooks: &Hooks,
) -> Result<GcReport, GcError> {
    let started = SystemTime::now();
    let cutoff = started
        .checked_sub(config.grace)
        .ok_or_else(|| GcError::Settings("gc.grace reaches before 1970".to_owned()))?;
    let before = DateTime::<Utc>::from(cutoff);
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let url = store.url();
    // A dry run reports the whole store: it neither resumes nor leaves a checkpoint.
    let resume = if dry_run {
        None
    } else {
        let since = started
            .checked_sub(config.resume_within)
            .ok_or_else(|| GcError::Settings("gc.resume_within reaches before 1970".into()))?;
        gc_runs::unfinished(db, &url, since.into())
            .await?
            .filter(|run| run.cursor.is_some())
    };
    let listing = match resume.as_ref().and_then(|run| run.cursor.as_deref()) {
        Some(cursor) => store.blocks_after(cursor),
        None => store.blocks(),
    };
    // A store that cannot be collected is refused before anything is deleted. The listing
    // only starts here: no verdict is made before the mark below is complete.
    let mut listing = listing.peekable();
    if let Some(Err(_)) = std::pin::Pin::new(&mut listing).peek().await
        && let Some(Err(error)) = listing.next().await
    {
        return Err(error.into());
    }
    if !dry_run {
        report.run_id = Some(begin(db, &url, before, resume.as_ref()).await?);
        report.resumed_from = resume.as_ref().map(|run| run.id);
        if let Some(run) = &resume {
            tracing::info!(run = run.id, phase = %run.phase, "gc: resuming the sweep of an interrupted run");
        }
    }
    // Rows first: a row deleted here can no longer be reused by a job (its entry would fail
    // on the foreign key), and the mark below sees exactly the rows that stay.
    report.flist_rows_deleted = if dry_run {
        hub_db::flists::count_unreferenced(db, before).await?
    } else {
        hub_db::flists::delete_unreferenced(db, before).await?
    };
    tracing::info!(
        rows = report.flist_rows_deleted,
        dry_run,
        "gc: unreferenced flist rows"
    );
    let journaled = store.needs_journal();
    if journaled && !dry_run {
        // Older touches protect nothing any more (the blocks' own age is checked too).
        report.journal_pruned = hub_db::block_journal::prune(db, before).await?;
    }
    let mut marked = Bloom::new(config.expected_blocks, config.false_positive_rate);
    mark::run(db, store, cutoff, &mut marked, &mut report).await?;
    if journaled {
        mark::journal(db, cutoff, &mut marked, &mut report).await?;
    }
    if let Some(id) = report.run_id {
        gc_runs::sweeping(db, id).await?;
    }
    let sweep = sweep::Sweep {
        db,
        store,
        config,
        cutoff,
        marked: &marked,
        journaled,
        hooks,
    };
    sweep.run(listing, &mut report).await?;
    if let Some(id) = report.run_id {
        gc_runs::finish(db, id, sweep::progress(&report)).await?;
    }
    Ok(report)
}

/// Records the run, closing the unfinished ones of the same store (the one resumed
/// included: this run takes its place).
async fn begin(
    db: &hub_db::PgPool,
    url: &str,
    cutoff: DateTime<Utc>,
    resume: Option<&GcRun>,
) -> Result<i64, GcError> {
    let mut tx = db.begin().await.map_err(hub_db::DbError::from)?;
    gc_runs::supersede(&mut *tx, url).await?;
    let id = gc_runs::start(&mut *tx, url, cutoff, resume).await?;
    tx.commit().await.map_err(hub_db::DbError::from)?;
    Ok(id)
}
