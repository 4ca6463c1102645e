//! The per-repository entry quota (`limits.repository_max_entries`), enforced inside the
//! transaction of every write that can add an entry, so that parallel requests cannot overshoot
//! it: the repository's row is locked (`FOR UPDATE`) before counting, which serialises the
//! writers of one repository until they commit.
//!
//! What counts: the repository's entries (flists, symlinks, taglinks) and the entries of its
//! tags (each is a symlink inside the repository in the original hub's layout, so tags would
//! otherwise be a way around the quota). Replacing an existing entry never counts as adding one.

use sqlx::{PgConnection, PgExecutor};

use crate::DbError;

/// The most entries a repository may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryQuota {
    max: Option<u64>,
}

impl EntryQuota {
    /// No limit (administrative writes, tests).
    pub const UNLIMITED: Self = Self { max: None };

    /// At most `max` entries; `0` means no limit (the configuration's convention).
    pub fn at_most(max: u64) -> Self {
        Self {
            max: (max > 0).then_some(max),
        }
    }

    /// The limit, if any.
    pub fn max(self) -> Option<u64> {
        self.max
    }
}

/// Where a write adds its entry.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    /// The repository's own entry `name`.
    Entry(&'a str),
    /// The entry `name` of tag `tag`.
    TagEntry {
        /// The tag.
        tag: &'a str,
        /// The entry's name in the tag.
        name: &'a str,
    },
}

/// Lock `repository`'s row (which must exist) and refuse with [`DbError::QuotaExceeded`] when
/// the write at `slot` would add an entry beyond `quota`. The lock is held until the caller's
/// transaction ends, so the count stays true until its insert commits.
pub(crate) async fn admit(
    conn: &mut PgConnection,
    repository: &str,
    slot: Slot<'_>,
    quota: EntryQuota,
) -> Result<(), DbError> {
    if quota.max.is_none() {
        return Ok(());
    }
    sqlx::query("SELECT 1 FROM repositories WHERE name = $1 FOR UPDATE")
        .bind(repository)
        .execute(&mut *conn)
        .await?;
    check(conn, repository, slot, quota).await
}

/// [`admit`] without the lock: whether the write at `slot` would exceed `quota` now. For the
/// early refusal of a job before its upload is read; the job's publication checks again under
/// the lock.
pub async fn check(
    conn: &mut PgConnection,
    repository: &str,
    slot: Slot<'_>,
    quota: EntryQuota,
) -> Result<(), DbError> {
    let Some(max) = quota.max else {
        return Ok(());
    };
    let held = held(&mut *conn, repository).await?;
    let replaces: bool = match slot {
        Slot::Entry(name) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM entries WHERE repository = $1 AND name = $2)",
            )
            .bind(repository)
            .bind(name)
            .fetch_one(&mut *conn)
            .await?
        }
        Slot::TagEntry { tag, name } => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM tag_entries \
                                WHERE repository = $1 AND tag = $2 AND name = $3)",
            )
            .bind(repository)
            .bind(tag)
            .bind(name)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    if held >= max && !replaces {
        return Err(DbError::QuotaExceeded {
            repository: repository.to_owned(),
            held,
            max,
        });
    }
    Ok(())
}

/// How many entries `repository` holds in the quota's sense.
pub async fn held(db: impl PgExecutor<'_>, repository: &str) -> Result<u64, DbError> {
    let held: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM entries WHERE repository = $1) \
              + (SELECT count(*) FROM tag_entries WHERE repository = $1)",
    )
    .bind(repository)
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(held).unwrap_or(0))
}
