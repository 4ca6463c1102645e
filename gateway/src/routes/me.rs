//! The authenticated API under `/api/flist/me…` (hub-api §7), except the job
//! submissions (upload, upload-flist, merge, docker) of `routes::submit*`.
//!
//! Every route acts on the caller's current repository (`Caller.0.user`), creates it on demand when
//! it writes (hub-api D16), validates the names it creates (hub-api §3.5) and looks the names it
//! reads up exactly. Mutations are GET, as in the original (clients depend on it).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hub_db::entries::Overwrite;
use hub_db::{DbError, Missing, entries, tags};
use hub_model::Format;
use serde::{Deserialize, Serialize};

use crate::compat::names::{created_flist, created_tag, flist_name, readable, writable_repository};
use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::extract::{Caller, Path, Query};
use crate::pyjson::PyJson;
use crate::schemas::DumpSchema;
use crate::service::flists;
use crate::state::AppState;

/// Routes of this module. Parameters at the same position share a name, as the router requires.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/flist/me", get(probe))
        .route("/api/flist/me/{a}", get(contents).delete(remove))
        .route("/api/flist/me/{a}/link/{b}", get(link))
        .route("/api/flist/me/{a}/crosslink/{b}/{c}", get(crosslink))
        .route("/api/flist/me/{a}/crosstag/{b}/{c}", get(crosstag))
        .route(
            "/api/flist/me/{a}/{b}/tag/{c}/{d}",
            get(tag_add).delete(tag_remove),
        )
        .route("/api/flist/me/{a}/rename/{b}", get(rename))
        .route("/api/flist/me/promote/{b}/{c}/{d}", get(promote))
}

/// `{"status": "success"}`, optionally with a payload.
#[derive(Serialize, utoipa::ToSchema)]
struct Success<P: Serialize> {
    #[schema(schema_with = crate::schemas::fields::success)]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<P>,
}

fn success() -> Response {
    PyJson(Success::<()> {
        status: "success",
        payload: None,
    })
    .into_response()
}

fn success_with<P: Serialize>(payload: P) -> Response {
    PyJson(Success {
        status: "success",
        payload: Some(payload),
    })
    .into_response()
}

/// The repository quota every route that adds an entry passes to its write, which checks it
/// atomically with the insert.
fn quota(state: &AppState) -> hub_db::EntryQuota {
    state.config.limits.entry_quota()
}

/// Map the "not found" of a query to `message` (routes whose catalogue entry differs from the
/// default wording).
fn missing_as(missing: Missing, answer: ErrorKind) -> impl Fn(DbError) -> ApiError {
    move |err| match err {
        DbError::NotFound(found) if found == missing => ApiError::new(answer.clone()),
        other => other.into(),
    }
}

/// The caller.
#[derive(Serialize, utoipa::ToSchema)]
struct Username<'a> {
    username: &'a str,
}

/// `GET /api/flist/me` (hub-api §7.1): the authentication probe.
#[utoipa::path(
    get,
    path = "/api/flist/me",
    tag = "me",
    summary = "Authentication probe: the current user",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<Username>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    ),
)]
async fn probe(Caller(identity): Caller) -> Response {
    success_with(Username {
        username: &identity.user,
    })
}

/// `GET /api/flist/me/{flist}` (hub-api §7.2): the contents dump, as 6.6.
#[utoipa::path(
    get,
    path = "/api/flist/me/{flist}",
    tag = "me",
    summary = "Contents dump of one of the caller's flists",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = DumpSchema),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn contents(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(flist): Path<String>,
    headers: http::HeaderMap,
) -> ApiResult<Response> {
    Ok(flists::contents(&state, &identity.user, &flist)
        .await?
        .respond(&headers))
}

/// `DELETE /api/flist/me/{flist}` (hub-api §7.2): the flist or pointer `<flist>.flist`, else the
/// taglink `<flist>`. Targets of removed pointers are untouched; pointers to a removed flist
/// dangle.
#[utoipa::path(
    delete,
    path = "/api/flist/me/{flist}",
    tag = "me",
    summary = "Delete an entry (flist, symlink or taglink)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path(flist): Path<String>,
) -> ApiResult<Response> {
    let me = identity.user.as_str();
    let raw = readable(&flist, ErrorKind::SOURCE_NOT_FOUND)?;
    let name = flist_name(raw);
    match entries::remove(&state.pool, me, &name).await {
        Ok(_) => return Ok(success()),
        Err(DbError::NotFound(Missing::Entry)) if name != raw => {}
        Err(err) => return Err(err.into()),
    }
    match entries::get(&state.pool, me, raw).await? {
        Some(entry) if entry.kind == entries::EntryKind::Taglink => {
            entries::remove(&state.pool, me, raw).await?;
            Ok(success())
        }
        _ => Err(ApiError::new(ErrorKind::SOURCE_NOT_FOUND)),
    }
}

/// `GET /api/flist/me/{source}/link/{linkname}` (hub-api §7.3): create or replace a local symlink.
#[utoipa::path(
    get,
    path = "/api/flist/me/{source}/link/{linkname}",
    tag = "me",
    summary = "Create or replace a symlink",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    ),
)]
async fn link(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((source, linkname)): Path<(String, String)>,
) -> ApiResult<Response> {
    let me = writable_repository(&identity.user)?;
    let linkname = created_flist(&linkname)?;
    let source = flist_name(readable(&source, ErrorKind::SOURCE_NOT_FOUND)?).into_owned();
    entries::link(&state.pool, me, &linkname, me, &source, quota(&state)).await?;
    Ok(success())
}

/// `GET /api/flist/me/{linkname}/crosslink/{repo}/{sourcename}` (hub-api §7.4): a symlink to
/// another repository's entry.
#[utoipa::path(
    get,
    path = "/api/flist/me/{linkname}/crosslink/{repo}/{sourcename}",
    tag = "me",
    summary = "Create or replace a cross-repository symlink",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    ),
)]
async fn crosslink(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((linkname, repo, source)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let me = writable_repository(&identity.user)?;
    let linkname = created_flist(&linkname)?;
    let repo = readable(&repo, ErrorKind::Missing(Missing::SourceRepository))?;
    let source = flist_name(readable(&source, ErrorKind::SOURCE_NOT_FOUND)?).into_owned();
    entries::crosslink(&state.pool, me, &linkname, repo, &source, quota(&state)).await?;
    Ok(success())
}

/// `GET /api/flist/me/{linkname}/crosstag/{repo}/{tagname}` (hub-api §7.6): an extension-less
/// pointer to a whole tag. Checks in the spec's order.
#[utoipa::path(
    get,
    path = "/api/flist/me/{linkname}/crosstag/{repo}/{tagname}",
    tag = "me",
    summary = "Create or replace a taglink",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    ),
)]
async fn crosstag(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((linkname, repo, tag)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let repo = readable(&repo, ErrorKind::SourceTagMissing)?;
    let tag = readable(&tag, ErrorKind::SourceTagMissing)?;
    if tags::get(&state.pool, repo, tag).await?.is_none() {
        return Err(ApiError::new(ErrorKind::SourceTagMissing));
    }
    if Format::of_suffix(&linkname) == Some(Format::Flist) {
        return Err(ApiError::new(ErrorKind::TagLinkNamedFlist));
    }
    let me = writable_repository(&identity.user)?;
    hub_model::names::validate_flist_name(&linkname)?;
    let flist = Format::Flist.file_name(&linkname);
    entries::taglink(&state.pool, me, &linkname, &flist, repo, tag, quota(&state))
        .await
        .map_err(missing_as(Missing::Tag, ErrorKind::SourceTagMissing))?;
    Ok(success())
}

/// `GET /api/flist/me/{tagname}/{linkname}/tag/{repo}/{sourcename}` (hub-api §7.5): add or replace
/// a tag entry, creating the tag.
#[utoipa::path(
    get,
    path = "/api/flist/me/{tagname}/{linkname}/tag/{repo}/{sourcename}",
    tag = "me",
    summary = "Add or replace a tag entry",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn tag_add(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((tag, linkname, repo, source)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let me = writable_repository(&identity.user)?;
    let tag = created_tag(&tag)?;
    let linkname = created_flist(&linkname)?;
    let repo = readable(&repo, ErrorKind::Missing(Missing::SourceRepository))?;
    let source = flist_name(readable(&source, ErrorKind::SOURCE_NOT_FOUND)?).into_owned();
    tags::put_entry(
        &state.pool,
        me,
        tag,
        &linkname,
        repo,
        &source,
        quota(&state),
    )
    .await?;
    Ok(success())
}

/// `DELETE …/tag/{repo}/{sourcename}` (hub-api §7.5): remove a tag entry, even a dangling one
/// (hub-api D17); the target is deliberately not checked.
#[utoipa::path(
    delete,
    path = "/api/flist/me/{tagname}/{linkname}/tag/{repo}/{sourcename}",
    tag = "me",
    summary = "Remove a tag entry",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn tag_remove(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((tag, linkname, _repo, _source)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let tag = readable(&tag, ErrorKind::Missing(Missing::TagEntry))?;
    let linkname =
        flist_name(readable(&linkname, ErrorKind::Missing(Missing::TagEntry))?).into_owned();
    tags::remove_entry(&state.pool, &identity.user, tag, &linkname).await?;
    Ok(success())
}

/// `?force=true` of rename.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RenameOptions {
    /// `true` to replace an existing destination.
    force: Option<String>,
}

/// `GET /api/flist/me/{source}/rename/{destination}` (hub-api §7.7). Unlike the original, an
/// existing destination is only replaced with `?force=true` (409 otherwise): a typo must not
/// silently destroy a published flist.
#[utoipa::path(
    get,
    path = "/api/flist/me/{source}/rename/{destination}",
    tag = "me",
    summary = "Rename an entry",
    security(("bearer" = [])),
    params(RenameOptions),
    responses(
        (status = 200, description = "Success", body = Success<serde_json::Value>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 409, response = responses::Conflict),
    ),
)]
async fn rename(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((source, destination)): Path<(String, String)>,
    Query(options): Query<RenameOptions>,
) -> ApiResult<Response> {
    let me = identity.user.as_str();
    let destination = created_flist(&destination)?;
    let source = flist_name(readable(&source, ErrorKind::SOURCE_NOT_FOUND)?).into_owned();
    let force = options
        .force
        .is_some_and(|force| matches!(force.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));

    let overwrite = if force {
        Overwrite::Allow
    } else {
        Overwrite::Refuse
    };
    entries::rename(&state.pool, me, &source, &destination, overwrite).await?;
    Ok(success())
}

/// A flist of a repository.
#[derive(Serialize, utoipa::ToSchema)]
struct FileRef<'a> {
    username: &'a str,
    filename: &'a str,
}

/// What promote copied where.
#[derive(Serialize, utoipa::ToSchema)]
struct Promoted<'a> {
    source: FileRef<'a>,
    destination: FileRef<'a>,
}

/// `GET /api/flist/me/promote/{sourcerepo}/{sourcefile}/{localname}` (hub-api §7.8): a new regular
/// entry sharing the source's flist row (zero-copy; links are followed).
#[utoipa::path(
    get,
    path = "/api/flist/me/promote/{sourcerepo}/{sourcefile}/{localname}",
    tag = "me",
    summary = "Copy a flist into the current repository",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Success", body = Success<Promoted>),
        (status = 400, response = responses::BadRequest),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    ),
)]
async fn promote(
    State(state): State<AppState>,
    Caller(identity): Caller,
    Path((source_repo, source_file, local)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let me = writable_repository(&identity.user)?;
    let local = created_flist(&local)?;
    let source_repo = readable(&source_repo, ErrorKind::USER_NOT_FOUND)?;
    let source_file = flist_name(readable(&source_file, ErrorKind::SOURCE_NOT_FOUND)?).into_owned();
    entries::promote(
        &state.pool,
        source_repo,
        &source_file,
        me,
        &local,
        quota(&state),
    )
    .await
    .map_err(missing_as(
        Missing::SourceRepository,
        ErrorKind::USER_NOT_FOUND,
    ))?;
    Ok(success_with(Promoted {
        source: FileRef {
            username: source_repo,
            filename: &source_file,
        },
        destination: FileRef {
            username: me,
            filename: &local,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::conflict_message;
    use hub_db::Conflict;

    #[test]
    fn missing_mapping_only_touches_the_named_case() {
        let map = missing_as(Missing::Tag, ErrorKind::SourceTagMissing);
        assert_eq!(
            map(DbError::NotFound(Missing::Tag)).message(),
            "source tag not found"
        );
        assert_eq!(
            map(DbError::NotFound(Missing::Entry)).message(),
            "source not found"
        );
        assert_eq!(
            map(DbError::Conflict(Conflict::FlistNameTaken)).message(),
            conflict_message(Conflict::FlistNameTaken)
        );
    }
}
