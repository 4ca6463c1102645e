//! The public read API (hub-api section 6): listings, contents dump, info, taglink, metadata.
//! Anonymous; PostgreSQL only (never the flist files, except a dump missing from its row).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use hub_db::entries::{self, EntryKind, Lookup};
use hub_db::{repositories, tags};
use serde::Serialize;
use serde_json::Value;

use crate::compat::body::JsonBody;
use crate::compat::names::{flist_name, readable};
use crate::compat::shapes::{EntryJson, InfoJson, RepositoryJson, TaglinkJson, unix};
use crate::compat::{GlobalVersion, dump};
use crate::error::{ApiError, ApiResult};
use crate::pyjson::{self, PyJson};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/flist", get(all_entries))
        .route("/api/repositories", get(repositories_list))
        .route("/api/fileslist", get(files_list))
        .route("/api/flist/{repo}", get(repository_listing))
        .route("/api/flist/{repo}/tags/{tag}", get(tag_listing))
        .route("/api/flist/{repo}/{flist}", get(contents))
        .route("/api/flist/{repo}/{flist}/light", get(light))
        .route("/api/flist/{repo}/{flist}/taglink", get(taglink))
        .route("/api/flist/{repo}/{flist}/metadata", get(metadata))
}

const USER_NOT_FOUND: &str = "user not found";
const SOURCE_NOT_FOUND: &str = "source not found";

/// Number of repositories and their latest change: every write advances some repository's
/// `updated_at`, so this changes with every entry or tag change anywhere.
async fn global_version(state: &AppState) -> ApiResult<GlobalVersion> {
    state
        .compat
        .global_versions
        .run(&(), || async {
            Ok::<_, ApiError>(repositories::hub_version(&state.pool).await?)
        })
        .await
}

/// `updated_at` of repository `repo` (its listing's version), 404 `user not found` when it does
/// not exist. Concurrent requests share one query.
async fn repository_version(state: &AppState, repo: &str) -> ApiResult<DateTime<Utc>> {
    state
        .compat
        .repository_versions
        .run(&repo.to_owned(), || async {
            Ok::<_, ApiError>(
                repositories::get(&state.pool, repo)
                    .await?
                    .map(|repository| repository.updated_at),
            )
        })
        .await?
        .ok_or_else(|| ApiError::not_found(USER_NOT_FOUND))
}

/// Serve the global listing `key` from the cache, or build it with `build`.
async fn cached_global<F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    key: &str,
    build: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Vec<u8>>>,
{
    let version = global_version(state).await?;
    let body = state
        .compat
        .global
        .get_or_build(key, version, || async {
            Ok::<_, ApiError>(JsonBody::compress(Bytes::from(build().await?)).await)
        })
        .await?;
    Ok(body.respond(headers))
}

fn serialise<T: serde::Serialize + ?Sized>(value: &T) -> ApiResult<Vec<u8>> {
    pyjson::to_vec(value).map_err(ApiError::internal)
}

/// 6.1 `GET /api/flist`: `"<repo>/<entry>"` of every entry.
async fn all_entries(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    cached_global(&state, &headers, "names", || async {
        serialise(&entries::all_names(&state.pool).await?)
    })
    .await
}

/// Whether `name` is flagged `official` (4.7: only `Administrator` without authentication).
pub fn is_official(state: &AppState, name: &str) -> bool {
    if state.auth.is_enabled() {
        state.config.official_repositories.iter().any(|o| o == name)
    } else {
        name == hub_auth::ADMINISTRATOR
    }
}

/// 6.2 `GET /api/repositories`.
async fn repositories_list(State(state): State<AppState>) -> ApiResult<Response> {
    let repositories = repositories::list(&state.pool).await?;
    let body: Vec<RepositoryJson<'_>> = repositories
        .iter()
        .map(|repository| RepositoryJson {
            name: &repository.name,
            official: is_official(&state, &repository.name),
            updated: unix(repository.updated_at),
        })
        .collect();
    Ok(PyJson(body).into_response())
}

/// 6.3 `GET /api/fileslist`: every repository's listing.
async fn files_list(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    cached_global(&state, &headers, "fileslist", || async {
        let repositories = repositories::list(&state.pool).await?;
        let listed = entries::listing_all(&state.pool).await?;
        let mut by_repository: BTreeMap<&str, Vec<EntryJson<'_>>> = repositories
            .iter()
            .map(|repository| (repository.name.as_str(), Vec::new()))
            .collect();
        for (repository, entry) in &listed {
            by_repository
                .entry(repository.as_str())
                .or_default()
                .push(EntryJson::from(entry));
        }
        serialise(&by_repository)
    })
    .await
}

/// The cached body of a listing (6.4, 6.5).
async fn listing_body(listed: &[entries::ListedEntry]) -> ApiResult<JsonBody> {
    let body = serialise(&listed.iter().map(EntryJson::from).collect::<Vec<_>>())?;
    Ok(JsonBody::compress(Bytes::from(body)).await)
}

/// 6.4 `GET /api/flist/{repo}`.
async fn repository_listing(
    State(state): State<AppState>,
    Path(repo): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = readable(&repo, USER_NOT_FOUND)?;
    let version = repository_version(&state, repo).await?;
    let body = state
        .compat
        .listings
        .get_or_build(repo, version, || async {
            listing_body(&entries::listing(&state.pool, repo).await?).await
        })
        .await?;
    Ok(body.respond(&headers))
}

/// 6.5 `GET /api/flist/{repo}/tags/{tag}`.
async fn tag_listing(
    State(state): State<AppState>,
    Path((repo, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = readable(&repo, USER_NOT_FOUND)?;
    let tag = readable(&tag, "tag not found")?;
    let version = repository_version(&state, repo).await?;
    // Repository names never contain NUL (checked above), so the key is unambiguous.
    let key = format!("{repo}\0tags\0{tag}");
    let body = state
        .compat
        .listings
        .get_or_build(&key, version, || async {
            listing_body(&tags::listing(&state.pool, repo, tag).await?).await
        })
        .await?;
    Ok(body.respond(&headers))
}

/// Look up `flist` (3.1-normalised) in `repo`, following links, with the catalogue messages.
pub async fn lookup(state: &AppState, repo: &str, flist: &str) -> ApiResult<(String, Lookup)> {
    let repo = readable(repo, USER_NOT_FOUND)?;
    let name = flist_name(readable(flist, SOURCE_NOT_FOUND)?).into_owned();
    let found = entries::lookup(&state.pool, repo, &name).await?;
    Ok((name, found))
}

/// 6.6 (and 7.2 GET): the contents dump of `repo/flist`; a dangling pointer is `source not
/// found`.
pub async fn contents_of(
    state: &AppState,
    headers: &HeaderMap,
    repo: &str,
    flist: &str,
) -> ApiResult<Response> {
    let (_, found) = lookup(state, repo, flist).await?;
    let target = found
        .target
        .as_ref()
        .ok_or_else(|| ApiError::not_found(SOURCE_NOT_FOUND))?;
    Ok(dump::contents_dump(state, target).await?.respond(headers))
}

/// 6.6 `GET /api/flist/{repo}/{flist}`.
async fn contents(
    State(state): State<AppState>,
    Path((repo, flist)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    contents_of(&state, &headers, &repo, &flist).await
}

/// 6.7 `GET /api/flist/{repo}/{flist}/light` (and `INFO`, rewritten to it).
async fn light(
    State(state): State<AppState>,
    Path((repo, flist)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (name, found) = lookup(&state, &repo, &flist).await?;
    let info = InfoJson::new(&name, &found).ok_or_else(|| ApiError::not_found(SOURCE_NOT_FOUND))?;
    Ok(PyJson(info).into_response())
}

/// 6.8 `GET /api/flist/{repo}/{name}/taglink`: `name` is the exact (extension-less) pointer.
async fn taglink(
    State(state): State<AppState>,
    Path((repo, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let repo = readable(&repo, USER_NOT_FOUND)?;
    let name = readable(&name, SOURCE_NOT_FOUND)?;
    let Some(entry) = entries::get(&state.pool, repo, name).await? else {
        repositories::require(&state.pool, repo).await?;
        return Err(ApiError::not_found(SOURCE_NOT_FOUND));
    };
    if entry.kind == EntryKind::Regular {
        return Err(ApiError::not_found(SOURCE_NOT_FOUND));
    }
    // The schema guarantees pointers have a target; a row without one is corrupt.
    let target = entry.cleaned_target().ok_or_else(|| {
        ApiError::new(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "could not read tag link",
        )
    })?;
    Ok(PyJson(TaglinkJson { target }).into_response())
}

/// 6.9 `GET /api/flist/{repo}/{flist}/metadata`.
async fn metadata(
    State(state): State<AppState>,
    Path((repo, flist)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_, found) = lookup(&state, &repo, &flist).await?;
    let target = found
        .target
        .as_ref()
        .ok_or_else(|| ApiError::not_found(SOURCE_NOT_FOUND))?;
    let publish = &state.config.publish;
    let body = public_metadata(
        &target.flist.metadata,
        &publish.backend_host,
        publish.backend_port,
        &publish.backend_namespace,
    );
    Ok(PyJson(body).into_response())
}

/// The `backend-forced` object, in the original's key order.
#[derive(Debug, PartialEq, Serialize)]
pub struct ForcedBackend<'a> {
    host: &'a str,
    port: u16,
    namespace: &'a str,
}

/// One metadata value as served.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetadataValue<'a> {
    /// A value of the flist's table.
    Stored(Value),
    /// The public backend applying to a flist without `backend`.
    Forced(ForcedBackend<'a>),
}

/// Metadata members in order (the table's keys sorted, then `backend-forced`).
#[derive(Debug, PartialEq)]
pub struct MetadataJson<'a>(pub Vec<(String, MetadataValue<'a>)>);

impl Serialize for MetadataJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The metadata as served: string values that hold JSON parsed (the original `json.loads`-ed
/// every value), secrets removed from `backend` (D13), and `backend-forced` naming the public
/// backend when the flist has no `backend`.
pub fn public_metadata<'a>(
    stored: &Value,
    host: &'a str,
    port: u16,
    namespace: &'a str,
) -> MetadataJson<'a> {
    let mut out = Vec::new();
    if let Value::Object(table) = stored {
        for (key, value) in table {
            let mut value = match value {
                Value::String(text) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
                other => other.clone(),
            };
            if key == hub_flist::BACKEND_KEY
                && let Value::Object(backend) = &mut value
            {
                backend.remove("password");
                backend.remove("token");
            }
            out.push((key.clone(), MetadataValue::Stored(value)));
        }
    }
    if !out.iter().any(|(key, _)| key == hub_flist::BACKEND_KEY) {
        out.push((
            "backend-forced".to_owned(),
            MetadataValue::Forced(ForcedBackend {
                host,
                port,
                namespace,
            }),
        ));
    }
    MetadataJson(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_values_are_parsed_and_backend_secrets_removed() {
        let stored = json!({
            "backend": "{\"host\": \"h\", \"port\": 9900, \"namespace\": \"ns\", \"password\": \"p\", \"token\": \"t\"}",
            "readme": "{\"readme\": \"# hi\"}",
            "plain": "not json",
        });
        let served = public_metadata(&stored, "pub", 9900, "default");
        assert_eq!(
            serde_json::to_value(&served).expect("json"),
            json!({
                "backend": {"host": "h", "port": 9900, "namespace": "ns"},
                "readme": {"readme": "# hi"},
                "plain": "not json",
            })
        );
    }

    #[test]
    fn backend_forced_when_the_flist_has_none() {
        let served = public_metadata(&json!({}), "hub.grid.tf", 9900, "default");
        assert_eq!(
            String::from_utf8(pyjson::to_vec(&served).expect("json")).expect("utf-8"),
            "{\"backend-forced\": {\"host\": \"hub.grid.tf\", \"port\": 9900, \"namespace\": \"default\"}}\n"
        );
    }
}
