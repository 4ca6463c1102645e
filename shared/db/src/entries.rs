//! Entries of a repository: flists, symlinks (local or cross-repository) and taglinks.
//!
//! Names are stored exactly as addressed (with `.flist`/`.fl` for flists and symlinks, without
//! an extension for taglinks); normalising and validating names is the gateway's job.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgConnection, PgExecutor, Postgres};

use crate::flists::{self, Flist};
use crate::quota::{self, EntryQuota, Slot};
use crate::repositories;
use crate::{Conflict, DbError, Missing};

/// Longest pointer chain that is followed; longer chains (or loops) count as dangling.
pub const MAX_LINK_DEPTH: i32 = 16;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A flist file.
    Regular,
    /// A pointer to an entry of the same or another repository.
    Symlink,
    /// A pointer to a tag of some repository.
    Taglink,
}

impl EntryKind {
    /// Database spelling, also the `type` of listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regular => "regular",
            Self::Symlink => "symlink",
            Self::Taglink => "taglink",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = DbError;

    fn from_str(s: &str) -> Result<Self, DbError> {
        match s {
            "regular" => Ok(Self::Regular),
            "symlink" => Ok(Self::Symlink),
            "taglink" => Ok(Self::Taglink),
            other => Err(DbError::Corrupt(format!("entry kind `{other}`"))),
        }
    }
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Repository holding the entry.
    pub repository: String,
    /// Entry name.
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// The flist of a regular entry.
    pub flist_id: Option<i64>,
    /// Pointers: the repository of the target.
    pub target_repository: Option<String>,
    /// Pointers: the target entry name (symlink) or tag name (taglink).
    pub target_name: Option<String>,
    /// Pointers: the original's raw link text (`foo.flist`, `../repo/foo.flist`), for `/light`.
    pub raw_target: Option<String>,
    /// When the entry was first created.
    pub created_at: DateTime<Utc>,
    /// mtime: last time the entry was created or replaced (a pointer's "linktime").
    pub updated_at: DateTime<Utc>,
}

impl Entry {
    /// The cleaned pointer text of listings (hub-api §6): `foo.flist` for a local symlink,
    /// `repo/foo.flist` for a crosslink, `repo/tags/tag` for a taglink; `None` for a flist.
    pub fn cleaned_target(&self) -> Option<String> {
        cleaned_target(
            &self.repository,
            self.kind,
            self.target_repository.as_deref(),
            self.target_name.as_deref(),
            self.raw_target.as_deref(),
        )
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    repository: String,
    name: String,
    kind: String,
    flist_id: Option<i64>,
    target_repository: Option<String>,
    target_name: Option<String>,
    raw_target: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<EntryRow> for Entry {
    type Error = DbError;

    fn try_from(row: EntryRow) -> Result<Self, DbError> {
        Ok(Self {
            repository: row.repository,
            name: row.name,
            kind: row.kind.parse()?,
            flist_id: row.flist_id,
            target_repository: row.target_repository,
            target_name: row.target_name,
            raw_target: row.raw_target,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const ENTRY_COLUMNS: &str = "repository, name, kind, flist_id, target_repository, target_name, \
                             raw_target, created_at, updated_at";

/// The entry `name` of `repository`, if it exists.
pub async fn get(
    db: impl PgExecutor<'_>,
    repository: &str,
    name: &str,
) -> Result<Option<Entry>, DbError> {
    sqlx::query_as::<_, EntryRow>(sql!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE repository = $1 AND name = $2"
    ))
    .bind(repository)
    .bind(name)
    .fetch_optional(db)
    .await?
    .map(Entry::try_from)
    .transpose()
}

/// An entry with the flist it resolves to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lookup {
    /// The addressed entry itself (a pointer stays a pointer here).
    pub entry: Entry,
    /// The flist at the end of the pointer chain; `None` when the entry dangles, loops, or is a
    /// taglink.
    pub target: Option<Target>,
}

/// The regular entry a pointer chain ends at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// The flist.
    pub flist: Flist,
    /// Repository of the regular entry holding it.
    pub repository: String,
    /// Name of the regular entry holding it.
    pub name: String,
    /// mtime of that regular entry (the `updated` shown for pointers to it).
    pub updated_at: DateTime<Utc>,
}

/// Look `name` up in `repository`, following symlinks to the flist.
///
/// Errors: [`Missing::Repository`] when the repository does not exist, [`Missing::Entry`] when
/// the name does not. A dangling pointer is found, with `target: None`.
pub async fn lookup(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    name: &str,
) -> Result<Lookup, DbError> {
    let mut conn = db.acquire().await?;
    let mut chain = follow_chain(&mut conn, repository, name).await?.into_iter();
    let Some(entry) = chain.next() else {
        repositories::require(&mut *conn, repository).await?;
        return Err(DbError::NotFound(Missing::Entry));
    };
    let last = chain.next_back();
    let target = target_of(&mut conn, last.as_ref().unwrap_or(&entry)).await?;
    Ok(Lookup { entry, target })
}

/// The flist held by `end` when it is a regular entry.
pub(crate) async fn target_of(
    conn: &mut PgConnection,
    end: &Entry,
) -> Result<Option<Target>, DbError> {
    let Some(flist_id) = end.flist_id else {
        return Ok(None);
    };
    let flist = flists::get(&mut *conn, flist_id).await?;
    Ok(Some(Target {
        flist,
        repository: end.repository.clone(),
        name: end.name.clone(),
        updated_at: end.updated_at,
    }))
}

/// The entry `repository/name` followed by the entries its symlinks point to, in order, at
/// most [`MAX_LINK_DEPTH`] hops. Empty when the entry does not exist.
pub(crate) async fn follow_chain(
    conn: &mut PgConnection,
    repository: &str,
    name: &str,
) -> Result<Vec<Entry>, DbError> {
    let rows = sqlx::query_as::<_, EntryRow>(sql!(
        "WITH RECURSIVE chain AS ( \
             SELECT {ENTRY_COLUMNS}, 0 AS depth FROM entries \
             WHERE repository = $1 AND name = $2 \
           UNION ALL \
             SELECT x.repository, x.name, x.kind, x.flist_id, x.target_repository, x.target_name, \
                    x.raw_target, x.created_at, x.updated_at, c.depth + 1 \
             FROM chain c JOIN entries x \
               ON x.repository = c.target_repository AND x.name = c.target_name \
             WHERE c.kind = 'symlink' AND c.depth < $3 \
         ) SELECT {ENTRY_COLUMNS} FROM chain ORDER BY depth"
    ))
    .bind(repository)
    .bind(name)
    .bind(MAX_LINK_DEPTH)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(Entry::try_from).collect()
}

/// What a listed entry is (the `type` of hub-api §6's Entry object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListedKind {
    /// A flist.
    Regular,
    /// A symlink or crosslink.
    Symlink,
    /// A pointer to a tag.
    Taglink,
    /// A tag of the repository.
    Tag,
}

/// One element of a repository or tag listing, with its pointer resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedEntry {
    /// Entry or tag name.
    pub name: String,
    /// What it is.
    pub kind: ListedKind,
    /// Byte size of the flist (of the pointer's final target); `None` for tags, taglinks and
    /// dangling pointers.
    pub size: Option<i64>,
    /// mtime of the entry, of the target for pointers (the pointer's own when it dangles).
    pub updated: DateTime<Utc>,
    /// A pointer's own mtime.
    pub linktime: Option<DateTime<Utc>>,
    /// A pointer's cleaned target text.
    pub target: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    repository: String,
    name: String,
    kind: String,
    target_repository: Option<String>,
    target_name: Option<String>,
    raw_target: Option<String>,
    own_updated: DateTime<Utc>,
    size: Option<i64>,
    target_updated: Option<DateTime<Utc>>,
}

impl ListedRow {
    fn into_listed(self) -> Result<(String, ListedEntry), DbError> {
        let kind = match self.kind.as_str() {
            "tag" => None,
            other => Some(other.parse::<EntryKind>()?),
        };
        let listed = ListedEntry {
            kind: match kind {
                None => ListedKind::Tag,
                Some(EntryKind::Regular) => ListedKind::Regular,
                Some(EntryKind::Symlink) => ListedKind::Symlink,
                Some(EntryKind::Taglink) => ListedKind::Taglink,
            },
            target: kind.and_then(|kind| {
                cleaned_target(
                    &self.repository,
                    kind,
                    self.target_repository.as_deref(),
                    self.target_name.as_deref(),
                    self.raw_target.as_deref(),
                )
            }),
            linktime: kind
                .filter(|kind| *kind != EntryKind::Regular)
                .map(|_| self.own_updated),
            updated: self.target_updated.unwrap_or(self.own_updated),
            size: self.size,
            name: self.name,
        };
        Ok((self.repository, listed))
    }
}

/// SQL joining `lateral_alias` (columns `updated_at`, `size`) = the regular entry a pointer
/// `p` (columns `target_repository`, `target_name`) ends at, when `is_pointer` holds.
pub(crate) fn resolve_pointer_join(p: &str, is_pointer: &str, lateral_alias: &str) -> String {
    format!(
        "LEFT JOIN LATERAL ( \
           WITH RECURSIVE chain AS ( \
               SELECT x.kind, x.flist_id, x.target_repository, x.target_name, x.updated_at, \
                      1 AS depth \
               FROM entries x \
               WHERE {is_pointer} AND x.repository = {p}.target_repository \
                 AND x.name = {p}.target_name \
             UNION ALL \
               SELECT x.kind, x.flist_id, x.target_repository, x.target_name, x.updated_at, \
                      c.depth + 1 \
               FROM chain c JOIN entries x \
                 ON x.repository = c.target_repository AND x.name = c.target_name \
               WHERE c.kind = 'symlink' AND c.depth < {MAX_LINK_DEPTH} \
           ) \
           SELECT c.updated_at, fl.size FROM chain c JOIN flists fl ON fl.id = c.flist_id LIMIT 1 \
         ) {lateral_alias} ON true"
    )
}

/// The listing query: of the repository bound as `$1` when `one_repository`, else of all.
fn listing_sql(one_repository: bool) -> sqlx::AssertSqlSafe<String> {
    let resolve = resolve_pointer_join("e", "e.kind = 'symlink'", "r");
    let (entry_filter, tag_filter) = if one_repository {
        ("WHERE e.repository = $1", "WHERE g.repository = $1")
    } else {
        ("", "")
    };
    sql!(
        "SELECT e.repository, e.name, e.kind, e.target_repository, e.target_name, \
                e.raw_target, e.updated_at AS own_updated, COALESCE(f.size, r.size) AS size, \
                COALESCE(r.updated_at, t.updated_at) AS target_updated \
         FROM entries e \
         LEFT JOIN flists f ON f.id = e.flist_id \
         LEFT JOIN tags t ON e.kind = 'taglink' AND t.repository = e.target_repository \
                         AND t.name = e.target_name \
         {resolve} \
         {entry_filter} \
         UNION ALL \
         SELECT g.repository, g.name, 'tag', NULL, NULL, NULL, g.updated_at, NULL, NULL \
         FROM tags g {tag_filter} \
         ORDER BY repository, name"
    )
}

/// The listing of `repository` (hub-api §6.4): its entries and tags sorted by name, each pointer
/// resolved to its final target's size and mtime, in one query.
pub async fn listing(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
) -> Result<Vec<ListedEntry>, DbError> {
    let mut conn = db.acquire().await?;
    repositories::require(&mut *conn, repository).await?;
    let rows = sqlx::query_as::<_, ListedRow>(listing_sql(true))
        .bind(repository)
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter()
        .map(|row| row.into_listed().map(|(_, listed)| listed))
        .collect()
}

/// The listings of every repository (hub-api §6.3), sorted by repository then name.
pub async fn listing_all(db: impl PgExecutor<'_>) -> Result<Vec<(String, ListedEntry)>, DbError> {
    let rows = sqlx::query_as::<_, ListedRow>(listing_sql(false))
        .fetch_all(db)
        .await?;
    rows.into_iter().map(ListedRow::into_listed).collect()
}

/// Publish flist `flist_id` as the regular entry `repository/name`, replacing whatever entry had
/// that name, creating the repository if needed and advancing its `updated`.
///
/// Errors: [`DbError::QuotaExceeded`] when the entry would be one more than `quota` allows.
///
/// Runs on the caller's connection so that it can share a transaction with the job's transition
/// to `succeeded`: the entry then appears exactly when the job succeeds, and a redelivered or
/// cancelled job can never publish.
pub async fn publish_flist(
    conn: &mut PgConnection,
    repository: &str,
    name: &str,
    flist_id: i64,
    quota: EntryQuota,
) -> Result<(), DbError> {
    repositories::ensure_touched(&mut *conn, repository).await?;
    quota::admit(&mut *conn, repository, Slot::Entry(name), quota).await?;
    sqlx::query(
        "INSERT INTO entries (repository, name, kind, flist_id) VALUES ($1, $2, 'regular', $3) \
         ON CONFLICT (repository, name) DO UPDATE SET kind = 'regular', \
             flist_id = EXCLUDED.flist_id, target_repository = NULL, target_name = NULL, \
             raw_target = NULL, updated_at = now()",
    )
    .bind(repository)
    .bind(name)
    .bind(flist_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Create or replace the symlink `repository/name` → `target_repository/target_name`
/// (hub-api §7.3 local link): its raw target is the bare name when both are in one repository.
/// Creates `repository` on demand.
///
/// Errors: [`Missing::SourceRepository`] when the target repository does not exist,
/// [`Missing::Entry`] when the target entry does not, [`Conflict::DestinationIsFlist`] when
/// `name` is a regular flist, [`DbError::QuotaExceeded`] when a new entry exceeds `quota`.
pub async fn link(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    name: &str,
    target_repository: &str,
    target_name: &str,
    quota: EntryQuota,
) -> Result<(), DbError> {
    let raw_target = if target_repository == repository {
        target_name.to_owned()
    } else {
        format!("../{target_repository}/{target_name}")
    };
    let target = (target_repository, target_name);
    write_link(db, repository, name, target, &raw_target, quota).await
}

/// Create or replace the symlink `repository/name` → `target_repository/target_name` as the
/// original's crosslink does (hub-api §7.4): the raw target is always `../<repo>/<name>`, so a
/// crosslink into the caller's own repository reads back as `repo/name`. Errors as [`link`].
pub async fn crosslink(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    name: &str,
    target_repository: &str,
    target_name: &str,
    quota: EntryQuota,
) -> Result<(), DbError> {
    let raw_target = format!("../{target_repository}/{target_name}");
    let target = (target_repository, target_name);
    write_link(db, repository, name, target, &raw_target, quota).await
}

async fn write_link(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    name: &str,
    (target_repository, target_name): (&str, &str),
    raw_target: &str,
    quota: EntryQuota,
) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    repositories::ensure(&mut *tx, repository).await?;
    if target_repository != repository {
        repositories::exists_or(&mut *tx, target_repository, Missing::SourceRepository).await?;
    }
    if get(&mut *tx, target_repository, target_name)
        .await?
        .is_none()
    {
        return Err(DbError::NotFound(Missing::Entry));
    }
    quota::admit(&mut tx, repository, Slot::Entry(name), quota).await?;
    upsert_pointer(
        &mut tx,
        repository,
        name,
        EntryKind::Symlink,
        target_repository,
        target_name,
        raw_target,
    )
    .await?;
    repositories::touch(&mut *tx, repository).await?;
    tx.commit().await?;
    Ok(())
}

/// Create or replace the taglink `repository/name` → tag `tag` of `target_repository`
/// (hub-api §7.6). `flist_name` is `name` with the flist extension, which must not exist.
///
/// Errors, in the spec's order: [`Missing::Tag`] when the tag does not exist,
/// [`Conflict::FlistNameTaken`] when `flist_name` exists, [`Conflict::DestinationIsFlist`]
/// when `name` is a regular flist, [`DbError::QuotaExceeded`] when a new entry exceeds `quota`.
/// The caller rejects names ending in `.flist` before.
pub async fn taglink(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    name: &str,
    flist_name: &str,
    target_repository: &str,
    tag: &str,
    quota: EntryQuota,
) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    let tag_exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM tags WHERE repository = $1 AND name = $2")
            .bind(target_repository)
            .bind(tag)
            .fetch_optional(&mut *tx)
            .await?;
    if tag_exists.is_none() {
        return Err(DbError::NotFound(Missing::Tag));
    }
    repositories::ensure(&mut *tx, repository).await?;
    if get(&mut *tx, repository, flist_name).await?.is_some() {
        return Err(DbError::Conflict(Conflict::FlistNameTaken));
    }
    quota::admit(&mut tx, repository, Slot::Entry(name), quota).await?;
    let raw_target = format!("../{target_repository}/.tag-{tag}");
    upsert_pointer(
        &mut tx,
        repository,
        name,
        EntryKind::Taglink,
        target_repository,
        tag,
        &raw_target,
    )
    .await?;
    repositories::touch(&mut *tx, repository).await?;
    tx.commit().await?;
    Ok(())
}

/// Insert or replace a pointer, refusing to replace a regular flist.
async fn upsert_pointer(
    conn: &mut PgConnection,
    repository: &str,
    name: &str,
    kind: EntryKind,
    target_repository: &str,
    target_name: &str,
    raw_target: &str,
) -> Result<(), DbError> {
    // The WHERE of DO UPDATE makes "is it a flist?" and the write one atomic step.
    let written = sqlx::query(
        "INSERT INTO entries (repository, name, kind, target_repository, target_name, raw_target) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (repository, name) DO UPDATE SET kind = EXCLUDED.kind, flist_id = NULL, \
             target_repository = EXCLUDED.target_repository, \
             target_name = EXCLUDED.target_name, raw_target = EXCLUDED.raw_target, \
             updated_at = now() \
         WHERE entries.kind <> 'regular'",
    )
    .bind(repository)
    .bind(name)
    .bind(kind.as_str())
    .bind(target_repository)
    .bind(target_name)
    .bind(raw_target)
    .execute(&mut *conn)
    .await?;
    if written.rows_affected() == 0 {
        return Err(DbError::Conflict(Conflict::DestinationIsFlist));
    }
    Ok(())
}

/// Whether [`rename`] may replace an entry already at its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace it (the original hub's behaviour).
    Allow,
    /// Fail with [`Conflict::DestinationExists`].
    Refuse,
}

/// Rename `from` to `to` inside `repository` atomically (hub-api §7.7). The entry keeps its kind,
/// content and mtime; pointers to the old name dangle. An existing `to` is replaced only with
/// [`Overwrite::Allow`].
///
/// The repository's row is locked first: every write to a repository updates that row, so the
/// destination check and the rename are one step.
///
/// Errors: [`Missing::Repository`], [`Missing::Entry`], [`Conflict::DestinationExists`].
pub async fn rename(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    from: &str,
    to: &str,
    overwrite: Overwrite,
) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    repositories::lock(&mut tx, repository).await?;
    let Some(entry) = lock(&mut tx, repository, from).await? else {
        return Err(DbError::NotFound(Missing::Entry));
    };
    if from == to {
        return Ok(());
    }
    if overwrite == Overwrite::Refuse && lock(&mut tx, repository, to).await?.is_some() {
        return Err(DbError::Conflict(Conflict::DestinationExists));
    }
    sqlx::query("DELETE FROM entries WHERE repository = $1 AND name = $2")
        .bind(repository)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO entries (repository, name, kind, flist_id, target_repository, target_name, \
                              raw_target, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (repository, name) DO UPDATE SET kind = EXCLUDED.kind, \
             flist_id = EXCLUDED.flist_id, target_repository = EXCLUDED.target_repository, \
             target_name = EXCLUDED.target_name, raw_target = EXCLUDED.raw_target, \
             created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
    )
    .bind(repository)
    .bind(to)
    .bind(entry.kind.as_str())
    .bind(entry.flist_id)
    .bind(&entry.target_repository)
    .bind(&entry.target_name)
    .bind(&entry.raw_target)
    .bind(entry.created_at)
    .bind(entry.updated_at)
    .execute(&mut *tx)
    .await?;
    repositories::touch(&mut *tx, repository).await?;
    tx.commit().await?;
    Ok(())
}

async fn lock(
    conn: &mut PgConnection,
    repository: &str,
    name: &str,
) -> Result<Option<Entry>, DbError> {
    sqlx::query_as::<_, EntryRow>(sql!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE repository = $1 AND name = $2 FOR UPDATE"
    ))
    .bind(repository)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .map(Entry::try_from)
    .transpose()
}

/// Remove the entry `repository/name` (hub-api §7.2) and return it. Removing a pointer never
/// touches its target; removing a flist leaves pointers to it dangling. The flist's bytes stay
/// in the store.
///
/// Errors: [`Missing::Repository`], [`Missing::Entry`].
pub async fn remove(
    db: impl Acquire<'_, Database = Postgres>,
    repository: &str,
    name: &str,
) -> Result<Entry, DbError> {
    let mut tx = db.begin().await?;
    repositories::require(&mut *tx, repository).await?;
    let removed = sqlx::query_as::<_, EntryRow>(sql!(
        "DELETE FROM entries WHERE repository = $1 AND name = $2 RETURNING {ENTRY_COLUMNS}"
    ))
    .bind(repository)
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(DbError::NotFound(Missing::Entry))?;
    repositories::touch(&mut *tx, repository).await?;
    tx.commit().await?;
    removed.try_into()
}

/// Copy the content of `source_repository/source_name`, following pointers, into `repository/name`
/// as a regular flist (hub-api §7.8), replacing any entry of that name, with a new mtime. Creates
/// `repository` on demand. Returns the flist.
///
/// Errors: [`Missing::SourceRepository`], [`Missing::Entry`] (also for dangling pointers),
/// [`DbError::QuotaExceeded`] when a new entry exceeds `quota`.
pub async fn promote(
    db: impl Acquire<'_, Database = Postgres>,
    source_repository: &str,
    source_name: &str,
    repository: &str,
    name: &str,
    quota: EntryQuota,
) -> Result<Flist, DbError> {
    let mut tx = db.begin().await?;
    let chain = follow_chain(&mut tx, source_repository, source_name).await?;
    let Some(end) = chain.last() else {
        repositories::exists_or(&mut *tx, source_repository, Missing::SourceRepository).await?;
        return Err(DbError::NotFound(Missing::Entry));
    };
    let target = target_of(&mut tx, end)
        .await?
        .ok_or(DbError::NotFound(Missing::Entry))?;
    publish_flist(&mut tx, repository, name, target.flist.id, quota).await?;
    tx.commit().await?;
    Ok(target.flist)
}

/// `"<repository>/<name>"` of every entry of every repository, sorted (hub-api §6.1).
pub async fn all_names(db: impl PgExecutor<'_>) -> Result<Vec<String>, DbError> {
    let names = sqlx::query_scalar(
        "SELECT repository || '/' || name FROM entries ORDER BY repository, name",
    )
    .fetch_all(db)
    .await?;
    Ok(names)
}

/// The cleaned pointer text of hub-api §6 for an entry of `repository`. A symlink written as a
/// crosslink (raw target `../<repo>/<name>`) reads `repo/name` even into its own repository,
/// as in the original, where the cleaned text is the raw one without `../`.
fn cleaned_target(
    repository: &str,
    kind: EntryKind,
    target_repository: Option<&str>,
    target_name: Option<&str>,
    raw_target: Option<&str>,
) -> Option<String> {
    let (target_repository, target_name) = (target_repository?, target_name?);
    let crosslinked = raw_target.is_some_and(|raw| raw.starts_with("../"));
    Some(match kind {
        EntryKind::Regular => return None,
        EntryKind::Symlink if target_repository == repository && !crosslinked => {
            target_name.to_owned()
        }
        EntryKind::Symlink => format!("{target_repository}/{target_name}"),
        EntryKind::Taglink => format!("{target_repository}/tags/{target_name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaned_targets_follow_the_spec_shapes() {
        let local = cleaned_target("a", EntryKind::Symlink, Some("a"), Some("x.flist"), None);
        assert_eq!(local.as_deref(), Some("x.flist"));
        let cross = cleaned_target("a", EntryKind::Symlink, Some("b"), Some("x.flist"), None);
        assert_eq!(cross.as_deref(), Some("b/x.flist"));
        let tag = cleaned_target("a", EntryKind::Taglink, Some("tf-zos"), Some("v3.x"), None);
        assert_eq!(tag.as_deref(), Some("tf-zos/tags/v3.x"));
        assert_eq!(
            cleaned_target("a", EntryKind::Regular, None, None, None),
            None
        );
        let own_cross = cleaned_target(
            "a",
            EntryKind::Symlink,
            Some("a"),
            Some("x.flist"),
            Some("../a/x.flist"),
        );
        assert_eq!(own_cross.as_deref(), Some("a/x.flist"));
    }

    #[test]
    fn entry_kinds_round_trip_through_their_database_spelling() {
        for kind in [EntryKind::Regular, EntryKind::Symlink, EntryKind::Taglink] {
            assert_eq!(kind.as_str().parse::<EntryKind>().ok(), Some(kind));
        }
        assert!("tag".parse::<EntryKind>().is_err());
    }
}
