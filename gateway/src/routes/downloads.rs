//! Anonymous downloads (hub-api §8): flist files (`.flist`, `.fl`), directly or through a
//! tag, their MD5 (`.md5`), the `.txt` and `.json` info, and the `.md` preview page.
//!
//! File bytes come from the in-memory LRU in front of the object store; the MD5, size and mtime
//! from PostgreSQL, so `HEAD`, `304` and `.md5` never touch the store.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use hub_db::entries::{self, Lookup, Target};
use hub_db::{DbError, tags};
use hub_model::Format;
use serde::Serialize;

use crate::compat::dump::flist_bytes;
use crate::compat::names::{flist_name, readable};
use crate::compat::urls::public_base;
use crate::error::{ApiError, ApiResult, ErrorKind, responses};
use crate::pyjson::PyJson;
use crate::schemas::Binary;
use crate::state::AppState;

mod range;

pub use range::{ByteRange, RangeRequest, Ranged};

/// Routes of this module. `GET /{repo}/{file}` ([`file`]) shares its path with the website's
/// preview page and is dispatched by [`crate::app`].
pub fn router() -> Router<AppState> {
    Router::new().route("/{repo}/tags/{tag}/{file}", get(tag_file))
}

/// What a download path asks for, from its suffix.
#[derive(Debug, PartialEq, Eq)]
enum Wanted<'a> {
    /// The file (`.flist`, `.fl`).
    File(&'a str),
    /// `<file>.md5`.
    Md5(&'a str),
    /// `<name>.txt` (`<name>` with or without `.flist`).
    Text(&'a str),
    /// `<name>.json`.
    Json(&'a str),
}

impl<'a> Wanted<'a> {
    fn parse(file: &'a str) -> Option<Self> {
        if let Some(name) = file.strip_suffix(".md5") {
            return Format::of_suffix(name).map(|_| Self::Md5(name));
        }
        if Format::of_suffix(file).is_some() {
            return Some(Self::File(file));
        }
        if let Some(name) = file.strip_suffix(".txt") {
            return Some(Self::Text(name));
        }
        file.strip_suffix(".json").map(Self::Json)
    }
}

/// `GET /{repo}/{file}` for every suffix of [`Wanted`] but the preview page. The route's
/// documentation covers the preview page too: [`crate::app`] dispatches `.md` to it.
#[utoipa::path(
    get,
    path = "/{repo}/{file}",
    tag = "downloads",
    summary = "`<name>.flist`/`.fl` bytes (Range, ETag), `.md5`, `.txt`, `.json`, `.md` preview",
    responses(
        (status = 200, description = "The file (`Range`, `If-None-Match`, `If-Modified-Since`, `If-Range` apply to it), its `.md5` or `.txt` (text), `.json` info, or `.md` preview page", content(
            (Binary = "application/octet-stream"),
            (String = "text/plain"),
            (Object = "application/json"),
            (String = "text/html"),
        )),
        (status = 206, description = "The requested range (`Content-Range`)", body = Binary, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`ETag`, `Last-Modified`)"),
        (status = 404, response = responses::NotFound),
        (status = 416, description = "Range not satisfiable (`Content-Range: bytes */<size>`)"),
    ),
)]
pub async fn file(
    State(state): State<AppState>,
    Path((repo, file)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = readable(&repo, ErrorKind::SOURCE_NOT_FOUND)?;
    let file = readable(&file, ErrorKind::SOURCE_NOT_FOUND)?;
    let wanted = Wanted::parse(file).ok_or_else(|| ApiError::new(ErrorKind::SOURCE_NOT_FOUND))?;
    let name = match wanted {
        Wanted::File(name) | Wanted::Md5(name) => name.to_owned(),
        Wanted::Text(name) | Wanted::Json(name) => flist_name(name).into_owned(),
    };
    let found = entries::lookup(&state.pool, repo, &name).await;
    let target = resolved(found.map_err(not_found)?)?;
    match wanted {
        Wanted::File(_) => serve_file(&state, &target, &method, &headers).await,
        Wanted::Md5(_) => Ok(md5_response(&target)),
        Wanted::Text(_) => Ok(info_text(&state, &headers, repo, &name, &target)),
        Wanted::Json(_) => Ok(info_json(&state, &headers, repo, &name, &target)),
    }
}

/// Every "missing" of a download (repository, tag, entry) is the same 404; other failures keep
/// their status.
fn not_found(err: DbError) -> ApiError {
    match err {
        DbError::NotFound(_) => ApiError::new(ErrorKind::SOURCE_NOT_FOUND),
        other => other.into(),
    }
}

/// `GET /{repo}/tags/{tag}/{file}`: a file (or its `.md5`) through a tag entry.
#[utoipa::path(
    get,
    path = "/{repo}/tags/{tag}/{file}",
    tag = "downloads",
    summary = "A flist through a tag entry, or its `.md5`",
    responses(
        (status = 200, description = "The file (`Range`, `If-None-Match`, `If-Modified-Since`, `If-Range` apply to it) or its `.md5`", content(
            (Binary = "application/octet-stream"),
            (String = "text/plain"),
        )),
        (status = 206, description = "The requested range (`Content-Range`)", body = Binary, content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (`ETag`, `Last-Modified`)"),
        (status = 404, response = responses::NotFound),
        (status = 416, description = "Range not satisfiable (`Content-Range: bytes */<size>`)"),
    ),
)]
async fn tag_file(
    State(state): State<AppState>,
    Path((repo, tag, file)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let repo = readable(&repo, ErrorKind::SOURCE_NOT_FOUND)?;
    let tag = readable(&tag, ErrorKind::SOURCE_NOT_FOUND)?;
    let file = readable(&file, ErrorKind::SOURCE_NOT_FOUND)?;
    let (name, md5) = match Wanted::parse(file) {
        Some(Wanted::File(name)) => (name, false),
        Some(Wanted::Md5(name)) => (name, true),
        _ => return Err(ApiError::new(ErrorKind::SOURCE_NOT_FOUND)),
    };
    let found = tags::lookup_entry(&state.pool, repo, tag, name).await;
    let target = resolved(found.map_err(not_found)?)?;
    if md5 {
        Ok(md5_response(&target))
    } else {
        serve_file(&state, &target, &method, &headers).await
    }
}

/// The flist a lookup ends at; a dangling pointer or a taglink is not a file.
fn resolved(found: Lookup) -> ApiResult<Target> {
    found
        .target
        .ok_or_else(|| ApiError::new(ErrorKind::SOURCE_NOT_FOUND))
}

/// hub-api §8.2: lowercase hex MD5 and a newline.
fn md5_response(target: &Target) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", target.flist.md5),
    )
        .into_response()
}

fn storage(state: &AppState) -> String {
    let publish = &state.config.publish;
    format!("zdb://{}:{}", publish.backend_host, publish.backend_port)
}

/// `.txt` (hub-api §8.3), labels padded to ten columns.
fn info_text(
    state: &AppState,
    headers: &HeaderMap,
    repo: &str,
    name: &str,
    target: &Target,
) -> Response {
    let base = public_base(&state.config, headers);
    let body = format!(
        "File:     {name}\nUploader: {repo}\nSource:   {base}/{repo}/{name}\nStorage:  {}\nChecksum: {}\n",
        storage(state),
        target.flist.md5
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

#[derive(Serialize)]
struct InfoFile<'a> {
    flist: &'a str,
    uploader: &'a str,
    source: String,
    storage: String,
    checksum: &'a str,
}

/// `.json` (hub-api §8.3) (broken in the original, D7).
fn info_json(
    state: &AppState,
    headers: &HeaderMap,
    repo: &str,
    name: &str,
    target: &Target,
) -> Response {
    let base = public_base(&state.config, headers);
    PyJson(InfoFile {
        flist: name,
        uploader: repo,
        source: format!("{base}/{repo}/{name}"),
        storage: storage(state),
        checksum: &target.flist.md5,
    })
    .into_response()
}

/// `Last-Modified` text (IMF-fixdate).
fn http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether `If-None-Match` lists `etag` (weak comparison, `*` matches anything).
pub fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// Whether the client's copy, dated by `If-Modified-Since`, is still current.
fn not_modified_since(header_value: &str, modified: DateTime<Utc>) -> bool {
    DateTime::parse_from_rfc2822(header_value.trim())
        .is_ok_and(|since| modified.timestamp() <= since.timestamp())
}

/// hub-api §8.1: the bytes with `ETag` (the content hash), `Last-Modified`, conditional requests, a
/// single `Range`, and `HEAD` without reading the store.
async fn serve_file(
    state: &AppState,
    target: &Target,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let etag = format!("\"{}\"", target.flist.content_hash);
    let modified = http_date(target.updated_at);
    let size = u64::try_from(target.flist.size).unwrap_or(0);
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };

    let not_modified = match header_text(header::IF_NONE_MATCH) {
        Some(tags) => etag_matches(tags, &etag),
        None => header_text(header::IF_MODIFIED_SINCE)
            .is_some_and(|since| not_modified_since(since, target.updated_at)),
    };
    let response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &modified)
        .header(header::ACCEPT_RANGES, "bytes");
    if not_modified {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(ApiError::internal);
    }

    // `If-Range` with another validator: the client's partial copy is stale, send it all.
    let range_applies = header_text(header::IF_RANGE)
        .is_none_or(|validator| validator == etag || validator == modified);
    let range = match header_text(header::RANGE).filter(|_| range_applies) {
        Some(text) => RangeRequest::parse(text, size),
        None => RangeRequest::Full,
    };
    let (response, span) = match range.answer(response, size).map_err(ApiError::internal)? {
        Ranged::Send(response, span) => (response, span),
        Ranged::Unsatisfiable(unsatisfiable) => return Ok(unsatisfiable),
    };
    if method == Method::HEAD {
        return response.body(Body::empty()).map_err(ApiError::internal);
    }
    let bytes = flist_bytes(state, target).await?;
    let body = span
        .slice(&bytes)
        .ok_or_else(|| ApiError::internal("stored flist is shorter than its recorded size"))?;
    response.body(Body::from(body)).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_pick_the_representation() {
        assert_eq!(Wanted::parse("a:b.flist"), Some(Wanted::File("a:b.flist")));
        assert_eq!(Wanted::parse("a.fl"), Some(Wanted::File("a.fl")));
        assert_eq!(Wanted::parse("a.flist.md5"), Some(Wanted::Md5("a.flist")));
        assert_eq!(Wanted::parse("a.fl.md5"), Some(Wanted::Md5("a.fl")));
        assert_eq!(Wanted::parse("a.md5"), None);
        assert_eq!(Wanted::parse("a.txt"), Some(Wanted::Text("a")));
        assert_eq!(Wanted::parse("a.flist.txt"), Some(Wanted::Text("a.flist")));
        assert_eq!(Wanted::parse("a.flist.json"), Some(Wanted::Json("a.flist")));
        // The preview page `<name>.md` is the website's ([`crate::app`] dispatches it).
        assert_eq!(Wanted::parse("a.flist.md"), None);
        assert_eq!(Wanted::parse("a.tar.gz"), None);
    }

    #[test]
    fn conditional_headers() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag));
        assert!(etag_matches("\"x\", W/\"abc\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"abcd\"", etag));
        let modified = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let text = http_date(modified);
        assert_eq!(text, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert!(not_modified_since(&text, modified));
        assert!(!not_modified_since(
            "Tue, 14 Nov 2023 22:13:19 GMT",
            modified
        ));
        assert!(!not_modified_since("yesterday", modified));
    }
}
