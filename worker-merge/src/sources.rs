//! Finding and reading the flists a merge names.

use hub_db::entries::{self, Target};
use hub_db::{DbError, PgPool};
use hub_flist::{Flist, ReadOptions};
use hub_jobs::JobError;
use hub_model::FailureCode;
use hub_proto::v1::FlistRef;
use hub_store::{ObjectId, ObjectStore};

/// The entry name a source addresses: `.flist` is appended unless the name already has a flist
/// extension (hub-api §7.11; the gateway normally did it already).
pub fn entry_name(source: &FlistRef) -> String {
    hub_model::names::flist_name(&source.name).into_owned()
}

/// `repo/name.flist` as the original hub's messages spell a source.
pub fn label(source: &FlistRef) -> String {
    format!("{}/{}", source.repository, entry_name(source))
}

/// The flist `source` names, following symlinks and crosslinks.
pub async fn resolve(pool: &PgPool, source: &FlistRef) -> Result<Target, JobError> {
    let not_found = || {
        JobError::invalid_as(
            FailureCode::SourceNotFound,
            format!("{} does not exists", label(source)),
        )
    };
    match entries::lookup(pool, &source.repository, &entry_name(source)).await {
        Ok(found) => found.target.ok_or_else(not_found),
        Err(DbError::NotFound(_)) => Err(not_found()),
        Err(err) => Err(err.into()),
    }
}

/// Fetch and decode `target`'s file. It was stored by this hub, so a missing or unreadable
/// file is the hub's fault, not the request's.
pub async fn read(
    objects: &ObjectStore,
    target: &Target,
    max_size: u64,
) -> Result<Flist, JobError> {
    let hash = &target.flist.content_hash;
    let id: ObjectId = hash.parse().map_err(|_| {
        JobError::internal(format!(
            "flist {} has a malformed content hash",
            target.flist.id
        ))
    })?;
    let bytes = match objects.get(&id).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(JobError::internal(format!(
                "the file of {}/{} is missing from the store",
                target.repository, target.name
            )));
        }
        Err(err) if err.is_transient() => return Err(JobError::transient(err.to_string())),
        Err(err) => return Err(JobError::internal(err.to_string())),
    };
    let options = ReadOptions { max_size };
    let name = format!("{}/{}", target.repository, target.name);
    tokio::task::spawn_blocking(move || hub_flist::read_bytes_with(&bytes, &options))
        .await
        .map_err(|err| JobError::internal(format!("background task failed: {err}")))?
        .map_err(|err| JobError::internal(format!("{name} cannot be read: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_get_the_flist_extension_once() {
        let source = |name: &str| FlistRef {
            repository: "alice".into(),
            name: name.into(),
        };
        assert_eq!(label(&source("app")), "alice/app.flist");
        assert_eq!(label(&source("app.flist")), "alice/app.flist");
        assert_eq!(label(&source("app.fl")), "alice/app.fl");
    }
}
