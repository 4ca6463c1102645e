//! Repositories, entries and tags against a real PostgreSQL (one database per test).

use hub_db::entries::{self, EntryKind, ListedKind, Overwrite};
use hub_db::flists::{self, NewFlist};
use hub_db::{Conflict, DbError, Missing, PgPool, repositories, tags};
use hub_model::Format;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn flist(pool: &PgPool, hash: &str, size: i64) -> Result<i64, DbError> {
    let new = NewFlist {
        content_hash: hash.to_owned(),
        md5: format!("{:032x}", size),
        size,
        format: Format::Flist,
        stats: serde_json::json!({"regular": 1}),
        metadata: serde_json::json!({}),
        dump: Some(b"{\"content\": []}".to_vec()),
        source: None,
        source_key: None,
        creator: Some("alice".into()),
    };
    Ok(flists::insert_or_get(pool, &new).await?.id)
}

async fn publish(
    pool: &PgPool,
    repository: &str,
    name: &str,
    flist_id: i64,
) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    entries::publish_flist(
        &mut tx,
        repository,
        name,
        flist_id,
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn same_bytes_share_one_flist_row(pool: PgPool) -> TestResult {
    let first = flist(&pool, "abc", 10).await?;
    let again = flist(&pool, "abc", 10).await?;
    let other = flist(&pool, "def", 10).await?;
    assert_eq!(first, again);
    assert_ne!(first, other);
    assert_eq!(
        flists::dump(&pool, first).await?.as_deref(),
        Some(&b"{\"content\": []}"[..])
    );
    assert_eq!(
        flists::get(&pool, first).await?.creator.as_deref(),
        Some("alice")
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn publish_replaces_an_entry_atomically(pool: PgPool) -> TestResult {
    let old = flist(&pool, "old", 100).await?;
    let new = flist(&pool, "new", 200).await?;
    publish(&pool, "alice", "app.flist", old).await?;
    let before = repositories::get(&pool, "alice")
        .await?
        .ok_or("no repository")?;

    let mut tx = pool.begin().await?;
    entries::publish_flist(
        &mut tx,
        "alice",
        "app.flist",
        new,
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    // Until the transaction commits, readers still see the complete old flist.
    let seen = entries::lookup(&pool, "alice", "app.flist").await?;
    assert_eq!(seen.target.ok_or("no target")?.flist.id, old);
    tx.commit().await?;

    let seen = entries::lookup(&pool, "alice", "app.flist").await?;
    assert_eq!(seen.entry.kind, EntryKind::Regular);
    assert_eq!(seen.target.ok_or("no target")?.flist.id, new);
    assert_eq!(entries::listing(&pool, "alice").await?.len(), 1);
    let after = repositories::get(&pool, "alice")
        .await?
        .ok_or("no repository")?;
    assert!(
        after.updated_at > before.updated_at,
        "repository mtime must advance"
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn rolled_back_publish_leaves_nothing(pool: PgPool) -> TestResult {
    let id = flist(&pool, "x", 1).await?;
    let mut tx = pool.begin().await?;
    entries::publish_flist(&mut tx, "bob", "x.flist", id, hub_db::EntryQuota::UNLIMITED).await?;
    tx.rollback().await?;
    assert!(repositories::get(&pool, "bob").await?.is_none());
    assert!(entries::get(&pool, "bob", "x.flist").await?.is_none());
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn listing_resolves_pointers_in_name_order(pool: PgPool) -> TestResult {
    let base = flist(&pool, "base", 2048).await?;
    let other = flist(&pool, "other", 4096).await?;
    publish(&pool, "alice", "base.flist", base).await?;
    publish(&pool, "zos", "v3.flist", other).await?;
    entries::link(
        &pool,
        "alice",
        "latest.flist",
        "alice",
        "base.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    entries::link(
        &pool,
        "alice",
        "chained.flist",
        "alice",
        "latest.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    entries::link(
        &pool,
        "alice",
        "Cross.flist",
        "zos",
        "v3.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    entries::link(
        &pool,
        "alice",
        "gone.flist",
        "zos",
        "v3.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    entries::remove(&pool, "zos", "v3.flist").await?;
    publish(&pool, "zos", "v3.flist", other).await?;
    entries::remove(&pool, "alice", "latest.flist").await?;
    tags::put_entry(
        &pool,
        "zos",
        "v3.x",
        "v3.flist",
        "zos",
        "v3.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    entries::taglink(
        &pool,
        "alice",
        "production",
        "production.flist",
        "zos",
        "v3.x",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    tags::put_entry(
        &pool,
        "alice",
        "stable",
        "b.flist",
        "alice",
        "base.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;

    let listing = entries::listing(&pool, "alice").await?;
    let names: Vec<&str> = listing.iter().map(|e| e.name.as_str()).collect();
    // "C" collation: upper case before lower case, byte order.
    assert_eq!(
        names,
        [
            "Cross.flist",
            "base.flist",
            "chained.flist",
            "gone.flist",
            "production",
            "stable"
        ]
    );
    let by_name = |name: &str| {
        listing
            .iter()
            .find(|e| e.name == name)
            .ok_or("missing entry")
    };

    let base_entry = entries::get(&pool, "alice", "base.flist")
        .await?
        .ok_or("no base")?;
    let regular = by_name("base.flist")?;
    assert_eq!(
        (regular.kind, regular.size, regular.linktime),
        (ListedKind::Regular, Some(2048), None)
    );
    assert_eq!(regular.updated, base_entry.updated_at);

    let cross = by_name("Cross.flist")?;
    assert_eq!(cross.kind, ListedKind::Symlink);
    assert_eq!(cross.target.as_deref(), Some("zos/v3.flist"));
    assert_eq!(cross.size, Some(4096));
    let v3 = entries::get(&pool, "zos", "v3.flist")
        .await?
        .ok_or("no v3")?;
    assert_eq!(
        cross.updated, v3.updated_at,
        "a pointer shows its target's mtime"
    );
    assert!(cross.linktime.is_some());

    // `latest.flist` was removed: the chain through it dangles, and shows its own mtime.
    let chained = by_name("chained.flist")?;
    assert_eq!(chained.target.as_deref(), Some("latest.flist"));
    assert_eq!(chained.size, None);
    assert_eq!(Some(chained.updated), chained.linktime);

    let taglink = by_name("production")?;
    assert_eq!(taglink.kind, ListedKind::Taglink);
    assert_eq!(taglink.target.as_deref(), Some("zos/tags/v3.x"));
    let tag = tags::get(&pool, "zos", "v3.x").await?.ok_or("no tag")?;
    assert_eq!(taglink.updated, tag.updated_at);

    let stable = by_name("stable")?;
    assert_eq!((stable.kind, stable.size), (ListedKind::Tag, None));

    let all = entries::listing_all(&pool).await?;
    assert_eq!(
        all.len(),
        listing.len() + 2,
        "alice's entries plus zos's flist and tag"
    );
    assert!(matches!(
        entries::listing(&pool, "nobody").await,
        Err(DbError::NotFound(Missing::Repository))
    ));
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn links_follow_the_spec_checks(pool: PgPool) -> TestResult {
    let id = flist(&pool, "a", 1).await?;
    publish(&pool, "alice", "a.flist", id).await?;
    publish(&pool, "alice", "b.flist", id).await?;

    let onto_flist = entries::link(
        &pool,
        "alice",
        "b.flist",
        "alice",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await;
    assert!(matches!(
        onto_flist,
        Err(DbError::Conflict(Conflict::DestinationIsFlist))
    ));
    let to_missing = entries::link(
        &pool,
        "alice",
        "l.flist",
        "alice",
        "nope.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await;
    assert!(matches!(to_missing, Err(DbError::NotFound(Missing::Entry))));
    let to_missing_repo = entries::link(
        &pool,
        "alice",
        "l.flist",
        "nobody",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await;
    assert!(matches!(
        to_missing_repo,
        Err(DbError::NotFound(Missing::SourceRepository))
    ));

    // The caller's repository is created on demand, and a pointer is replaced.
    entries::link(
        &pool,
        "carol",
        "x.flist",
        "alice",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    entries::link(
        &pool,
        "carol",
        "x.flist",
        "alice",
        "b.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    let link = entries::get(&pool, "carol", "x.flist")
        .await?
        .ok_or("no link")?;
    assert_eq!(link.raw_target.as_deref(), Some("../alice/b.flist"));
    assert_eq!(link.cleaned_target().as_deref(), Some("alice/b.flist"));
    entries::link(
        &pool,
        "alice",
        "local.flist",
        "alice",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    let local = entries::lookup(&pool, "alice", "local.flist").await?;
    assert_eq!(local.entry.raw_target.as_deref(), Some("a.flist"));
    assert_eq!(local.target.ok_or("dangling")?.name, "a.flist");

    // Taglinks: missing tag first, then the `.flist` twin, then a flist under the bare name.
    let no_tag = entries::taglink(
        &pool,
        "alice",
        "a",
        "a.flist",
        "alice",
        "nope",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await;
    assert!(matches!(no_tag, Err(DbError::NotFound(Missing::Tag))));
    tags::put_entry(
        &pool,
        "alice",
        "t",
        "a.flist",
        "alice",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    let twin = entries::taglink(
        &pool,
        "alice",
        "a",
        "a.flist",
        "alice",
        "t",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await;
    assert!(matches!(
        twin,
        Err(DbError::Conflict(Conflict::FlistNameTaken))
    ));
    publish(&pool, "alice", "bare", id).await?;
    let bare = entries::taglink(
        &pool,
        "alice",
        "bare",
        "bare.flist",
        "alice",
        "t",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await;
    assert!(matches!(
        bare,
        Err(DbError::Conflict(Conflict::DestinationIsFlist))
    ));
    entries::taglink(
        &pool,
        "alice",
        "prod",
        "prod.flist",
        "alice",
        "t",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    let prod = entries::lookup(&pool, "alice", "prod").await?;
    assert_eq!(prod.entry.kind, EntryKind::Taglink);
    assert!(
        prod.target.is_none(),
        "a taglink does not resolve to a flist"
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn rename_remove_and_promote(pool: PgPool) -> TestResult {
    let one = flist(&pool, "one", 1).await?;
    let two = flist(&pool, "two", 2).await?;
    publish(&pool, "alice", "one.flist", one).await?;
    publish(&pool, "alice", "two.flist", two).await?;
    entries::link(
        &pool,
        "alice",
        "l.flist",
        "alice",
        "one.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;

    entries::rename(&pool, "alice", "one.flist", "two.flist", Overwrite::Allow).await?;
    assert!(entries::get(&pool, "alice", "one.flist").await?.is_none());
    let renamed = entries::lookup(&pool, "alice", "two.flist").await?;
    assert_eq!(
        renamed.target.ok_or("no target")?.flist.id,
        one,
        "the destination is overwritten"
    );
    assert!(
        entries::lookup(&pool, "alice", "l.flist")
            .await?
            .target
            .is_none(),
        "now dangles"
    );
    assert!(matches!(
        entries::rename(&pool, "alice", "one.flist", "x.flist", Overwrite::Allow).await,
        Err(DbError::NotFound(Missing::Entry))
    ));
    assert!(matches!(
        entries::rename(&pool, "nobody", "a", "b", Overwrite::Refuse).await,
        Err(DbError::NotFound(Missing::Repository))
    ));
    // Without leave to overwrite, an existing destination stays and so does the source.
    assert!(matches!(
        entries::rename(&pool, "alice", "two.flist", "l.flist", Overwrite::Refuse).await,
        Err(DbError::Conflict(Conflict::DestinationExists))
    ));
    assert!(entries::get(&pool, "alice", "two.flist").await?.is_some());
    assert!(entries::get(&pool, "alice", "l.flist").await?.is_some());

    entries::link(
        &pool,
        "alice",
        "l.flist",
        "alice",
        "two.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    let promoted = entries::promote(
        &pool,
        "alice",
        "l.flist",
        "org",
        "app.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    assert_eq!(promoted.id, one);
    let copy = entries::get(&pool, "org", "app.flist")
        .await?
        .ok_or("not promoted")?;
    assert_eq!((copy.kind, copy.flist_id), (EntryKind::Regular, Some(one)));
    assert!(matches!(
        entries::promote(
            &pool,
            "nobody",
            "x.flist",
            "org",
            "y.flist",
            hub_db::EntryQuota::UNLIMITED
        )
        .await,
        Err(DbError::NotFound(Missing::SourceRepository))
    ));

    let removed = entries::remove(&pool, "alice", "l.flist").await?;
    assert_eq!(removed.kind, EntryKind::Symlink);
    assert!(
        entries::get(&pool, "alice", "two.flist").await?.is_some(),
        "target untouched"
    );
    assert!(matches!(
        entries::remove(&pool, "alice", "l.flist").await,
        Err(DbError::NotFound(Missing::Entry))
    ));
    assert_eq!(
        entries::all_names(&pool).await?,
        ["alice/two.flist", "org/app.flist"]
    );
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn tags_live_while_they_have_entries(pool: PgPool) -> TestResult {
    let id = flist(&pool, "a", 7).await?;
    publish(&pool, "src", "a.flist", id).await?;
    tags::put_entry(
        &pool,
        "alice",
        "v1",
        "a.flist",
        "src",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    tags::put_entry(
        &pool,
        "alice",
        "v1",
        "b.flist",
        "src",
        "a.flist",
        hub_db::EntryQuota::UNLIMITED,
    )
    .await?;
    assert!(matches!(
        tags::put_entry(
            &pool,
            "alice",
            "v1",
            "c.flist",
            "nobody",
            "a.flist",
            hub_db::EntryQuota::UNLIMITED
        )
        .await,
        Err(DbError::NotFound(Missing::SourceRepository))
    ));
    assert!(matches!(
        tags::put_entry(
            &pool,
            "alice",
            "v1",
            "c.flist",
            "src",
            "zz.flist",
            hub_db::EntryQuota::UNLIMITED
        )
        .await,
        Err(DbError::NotFound(Missing::Entry))
    ));

    let listed = tags::listing(&pool, "alice", "v1").await?;
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|e| e.kind == ListedKind::Symlink && e.size == Some(7))
    );
    assert_eq!(listed[0].target.as_deref(), Some("src/a.flist"));
    let through_tag = tags::lookup_entry(&pool, "alice", "v1", "b.flist").await?;
    assert_eq!(through_tag.target.ok_or("no target")?.flist.id, id);

    // A dangling entry stays removable; the last removal deletes the tag.
    entries::remove(&pool, "src", "a.flist").await?;
    tags::remove_entry(&pool, "alice", "v1", "a.flist").await?;
    assert!(matches!(
        tags::remove_entry(&pool, "alice", "v1", "a.flist").await,
        Err(DbError::NotFound(Missing::TagEntry))
    ));
    tags::remove_entry(&pool, "alice", "v1", "b.flist").await?;
    assert!(tags::get(&pool, "alice", "v1").await?.is_none());
    assert!(matches!(
        tags::listing(&pool, "alice", "v1").await,
        Err(DbError::NotFound(Missing::Tag))
    ));
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn official_flags_follow_the_configured_list(pool: PgPool) -> TestResult {
    repositories::ensure(&pool, "alice").await?;
    repositories::ensure(&pool, "tf-official-apps").await?;
    let mut conn = pool.acquire().await?;
    repositories::set_official(&mut conn, &["tf-official-apps".into(), "tf-zos".into()]).await?;
    let listed: Vec<(String, bool)> = repositories::list(&pool)
        .await?
        .into_iter()
        .map(|r| (r.name, r.official))
        .collect();
    assert_eq!(
        listed,
        [
            ("alice".into(), false),
            ("tf-official-apps".into(), true),
            ("tf-zos".into(), true)
        ]
    );
    repositories::set_official(&mut conn, &[]).await?;
    assert!(repositories::list(&pool).await?.iter().all(|r| !r.official));
    Ok(())
}

#[sqlx::test(migrator = "hub_db::MIGRATOR")]
async fn unreferenced_lists_flists_no_entry_names_older_than_the_cutoff(
    pool: PgPool,
) -> TestResult {
    let published = flist(&pool, "aaa", 1).await?;
    let orphan = flist(&pool, "bbb", 2).await?;
    let replaced = flist(&pool, "ccc", 3).await?;
    publish(&pool, "alice", "app.flist", published).await?;
    publish(&pool, "alice", "old.flist", replaced).await?;
    publish(&pool, "alice", "old.flist", published).await?;
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);

    let ids = |rows: Vec<flists::Flist>| rows.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(
        ids(flists::unreferenced(&pool, later, 0, 100).await?),
        vec![orphan, replaced]
    );
    // Paged by id.
    assert_eq!(
        ids(flists::unreferenced(&pool, later, 0, 1).await?),
        vec![orphan]
    );
    assert_eq!(
        ids(flists::unreferenced(&pool, later, orphan, 1).await?),
        vec![replaced]
    );
    // Rows recorded after the cutoff are kept out (the grace period).
    let earlier = chrono::Utc::now() - chrono::Duration::seconds(60);
    assert!(
        flists::unreferenced(&pool, earlier, 0, 100)
            .await?
            .is_empty()
    );
    Ok(())
}
