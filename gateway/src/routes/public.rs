//! The public read API (hub-api §6): listings, contents dump, info, taglink, metadata.
//! Anonymous; PostgreSQL only (never the flist files, except a dump missing from its row).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use hub_db::entries::{self, EntryKind};
use hub_db::{Missing, repositories, tags};

use crate::compat::GlobalVersion;
use crate::compat::body::JsonBody;
use crate::compat::names::readable;
use crate::compat::shapes::{EntryJson, InfoJson, RepositoryJson, TaglinkJson, unix};
use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::Path;
use crate::pyjson::{self, PyJson};
use crate::schemas::DumpSchema;
use crate::service::flists;
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
        .ok_or_else(|| ApiError::new(ErrorKind::USER_NOT_FOUND))
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

/// `GET /api/flist` (hub-api §6.1): `"<repo>/<entry>"` of every entry.
#[utoipa::path(
    get,
    path = "/api/flist",
    tag = "public",
    summary = "Every entry of every repository as `repo/name`",
    responses((status = 200, description = "Success", body = Vec<String>)),
)]
async fn all_entries(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    cached_global(&state, &headers, "names", || async {
        serialise(&entries::all_names(&state.pool).await?)
    })
    .await
}

/// `GET /api/repositories` (hub-api §6.2).
#[utoipa::path(
    get,
    path = "/api/repositories",
    tag = "public",
    summary = "Repositories with their official flag and last change",
    responses((status = 200, description = "Success", body = Vec<RepositoryJson>)),
)]
async fn repositories_list(State(state): State<AppState>) -> ApiResult<Response> {
    let repositories = repositories::list(&state.pool).await?;
    let body: Vec<RepositoryJson<'_>> = repositories
        .iter()
        .map(|repository| RepositoryJson {
            name: &repository.name,
            official: flists::is_official(&state, &repository.name),
            updated: unix(repository.updated_at),
        })
        .collect();
    Ok(PyJson(body).into_response())
}

/// `GET /api/fileslist` (hub-api §6.3): every repository's listing.
#[utoipa::path(
    get,
    path = "/api/fileslist",
    tag = "public",
    summary = "Every repository's entries",
    responses((status = 200, description = "Success", body = BTreeMap<String, Vec<EntryJson>>)),
)]
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

/// The cached body of a listing (hub-api §6.4, §6.5).
async fn listing_body(listed: &[entries::ListedEntry]) -> ApiResult<JsonBody> {
    let body = serialise(&listed.iter().map(EntryJson::from).collect::<Vec<_>>())?;
    Ok(JsonBody::compress(Bytes::from(body)).await)
}

/// `GET /api/flist/{repo}` (hub-api §6.4).
#[utoipa::path(
    get,
    path = "/api/flist/{repo}",
    tag = "public",
    summary = "Entries of a repository",
    responses(
        (status = 200, description = "Success", body = Vec<EntryJson>),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn repository_listing(
    State(state): State<AppState>,
    Path(repo): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = readable(&repo, ErrorKind::USER_NOT_FOUND)?;
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

/// `GET /api/flist/{repo}/tags/{tag}` (hub-api §6.5).
#[utoipa::path(
    get,
    path = "/api/flist/{repo}/tags/{tag}",
    tag = "public",
    summary = "Entries of a tag",
    responses(
        (status = 200, description = "Success", body = Vec<EntryJson>),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn tag_listing(
    State(state): State<AppState>,
    Path((repo, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = readable(&repo, ErrorKind::USER_NOT_FOUND)?;
    let tag = readable(&tag, ErrorKind::Missing(Missing::Tag))?;
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

/// `GET /api/flist/{repo}/{flist}` (hub-api §6.6).
#[utoipa::path(
    get,
    path = "/api/flist/{repo}/{flist}",
    tag = "public",
    summary = "Contents dump of a flist (also `INFO` = `/light`)",
    responses(
        (status = 200, description = "Success", body = DumpSchema),
        (status = 404, response = responses::NotFound),
    ),
    extensions(("x-info-method" = json!({
        "summary": "INFO: same answer as /light",
        "schema": {"$ref": "#/components/schemas/Info"},
    }))),
)]
async fn contents(
    State(state): State<AppState>,
    Path((repo, flist)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    Ok(flists::contents(&state, &repo, &flist)
        .await?
        .respond(&headers))
}

/// `GET /api/flist/{repo}/{flist}/light` (hub-api §6.7) (and `INFO`, rewritten to it).
#[utoipa::path(
    get,
    path = "/api/flist/{repo}/{flist}/light",
    tag = "public",
    summary = "Size, mtime, type and MD5 of an entry",
    responses(
        (status = 200, description = "Success", body = InfoJson),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn light(
    State(state): State<AppState>,
    Path((repo, flist)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (name, found) = flists::lookup(&state, &repo, &flist).await?;
    let info =
        InfoJson::new(&name, &found).ok_or_else(|| ApiError::new(ErrorKind::SOURCE_NOT_FOUND))?;
    Ok(PyJson(info).into_response())
}

/// `GET /api/flist/{repo}/{name}/taglink` (hub-api §6.8): `name` is the exact (extension-less)
/// pointer.
#[utoipa::path(
    get,
    path = "/api/flist/{repo}/{name}/taglink",
    tag = "public",
    summary = "Target of a taglink",
    responses(
        (status = 200, description = "Success", body = TaglinkJson),
        (status = 404, response = responses::NotFound),
        (status = 500, response = responses::Failed),
    ),
)]
async fn taglink(
    State(state): State<AppState>,
    Path((repo, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let repo = readable(&repo, ErrorKind::USER_NOT_FOUND)?;
    let name = readable(&name, ErrorKind::SOURCE_NOT_FOUND)?;
    let Some(entry) = entries::get(&state.pool, repo, name).await? else {
        repositories::require(&state.pool, repo).await?;
        return Err(ApiError::new(ErrorKind::SOURCE_NOT_FOUND));
    };
    if entry.kind == EntryKind::Regular {
        return Err(ApiError::new(ErrorKind::SOURCE_NOT_FOUND));
    }
    // The schema guarantees pointers have a target; a row without one is corrupt.
    let target = entry
        .cleaned_target()
        .ok_or_else(|| ApiError::new(ErrorKind::CorruptTagLink))?;
    Ok(PyJson(TaglinkJson { target }).into_response())
}

/// `GET /api/flist/{repo}/{flist}/metadata` (hub-api §6.9).
#[utoipa::path(
    get,
    path = "/api/flist/{repo}/{flist}/metadata",
    tag = "public",
    summary = "Metadata of a flist (secrets stripped)",
    responses(
        (status = 200, description = "Success", body = Object),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn metadata(
    State(state): State<AppState>,
    Path((repo, flist)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_, found) = flists::lookup(&state, &repo, &flist).await?;
    let target = found
        .target
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorKind::SOURCE_NOT_FOUND))?;
    let publish = &state.config.publish;
    let body = flists::public_metadata(
        &target.flist.metadata,
        &publish.backend_host,
        publish.backend_port,
        &publish.backend_namespace,
    );
    Ok(PyJson(body).into_response())
}
