//! `POST /api/flist/me/merge/{target}` (spec 7.11): merge flists into `<target>.flist`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hub_auth::Identity;
use hub_model::MergeMode;
use hub_model::names::{flist_name, validate_flist_name};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{self, FlistRef, MergeJob};
use serde::Deserialize;

use super::submit::{self, Reply, Submitted};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, PreferAsync};
use crate::state::AppState;

/// Most sources of one merge.
pub const MAX_SOURCES: usize = 256;

/// `?format=` and `?mode=` of the merge route.
#[derive(Debug, Default, Deserialize)]
pub struct MergeQuery {
    /// `flist` or `fl`.
    pub format: Option<String>,
    /// `union` (the original's: the first source wins per path) or `overlay` (later sources
    /// win, whiteouts delete).
    pub mode: Option<String>,
}

/// A validated merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// Sources in order, names normalised (`.flist` appended unless a flist extension is there).
    pub sources: Vec<FlistRef>,
    /// The target entry name as given (its extension follows the output format).
    pub target: String,
    /// How sources combine.
    pub mode: MergeMode,
}

/// `POST /api/flist/me/merge/{target}`.
pub async fn merge(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    Path(target): Path<String>,
    Query(query): Query<MergeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let sources = parse_sources(&body)?;
        let request = validate(&state, sources, &target, query.mode.as_deref()).await?;
        let key = submit::idempotency_key(&headers)?;
        Ok::<_, ApiError>((request, key))
    }
    .await;
    let submitted = match result {
        Ok((request, key)) => {
            queue_merge(&state, &identity, request, query.format.as_deref(), key).await
        }
        Err(error) => Err(error),
    };
    submit::answer_submitted(&state, submitted, Reply::preferring(respond_async)).await
}

/// `POST /api/flist/me/merge` (no target): the sources are still validated first, as the
/// original did, then `missing build (target) name`.
pub async fn merge_without_target(
    State(state): State<AppState>,
    Caller(_identity): Caller,
    body: Bytes,
) -> Response {
    let result = async {
        let sources = parse_sources(&body)?;
        validate(&state, sources, "", None).await
    }
    .await;
    match result {
        Ok(_) => ApiError::bad_request("missing build (target) name").into_response(),
        Err(error) => error.into_response(),
    }
}

/// Queue a validated merge for `identity` (steps 1 and 2 of [`submit`]).
pub async fn queue_merge(
    state: &AppState,
    identity: &Identity,
    request: MergeRequest,
    format: Option<&str>,
    idempotency_key: Option<String>,
) -> ApiResult<Submitted> {
    let format = submit::output_format(state, format, Some(&request.target))?;
    let target = format.with_extension(&request.target);
    validate_flist_name(&target)?;
    submit::submit_job(state, identity, idempotency_key, |ticket| {
        let mut envelope = submit::envelope(state, ticket, identity, target, format);
        envelope.payload = Some(Payload::Merge(MergeJob {
            sources: request.sources,
            mode: v1::MergeMode::from(request.mode) as i32,
        }));
        envelope
    })
    .await
}

/// The body: a JSON array of strings, whatever the `Content-Type` (spec 7.11).
pub fn parse_sources(body: &[u8]) -> ApiResult<Vec<String>> {
    let malformed = || ApiError::bad_request("malformed json request");
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    let serde_json::Value::Array(items) = value else {
        return Err(malformed());
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(source) => Ok(source),
            _ => Err(malformed()),
        })
        .collect()
}

/// The checks of spec 7.11, in its order: sources present and well-formed, each existing,
/// then the target.
pub async fn validate(
    state: &AppState,
    sources: Vec<String>,
    target: &str,
    mode: Option<&str>,
) -> ApiResult<MergeRequest> {
    if sources.is_empty() {
        return Err(ApiError::bad_request("no source found"));
    }
    if sources.len() > MAX_SOURCES {
        return Err(ApiError::bad_request(format!(
            "too many sources (at most {MAX_SOURCES})"
        )));
    }
    let refs = sources
        .iter()
        .map(|source| source_ref(source))
        .collect::<ApiResult<Vec<_>>>()?;
    for source in &refs {
        let found = hub_db::entries::get(&state.pool, &source.repository, &source.name).await?;
        if found.is_none() {
            return Err(ApiError::not_found(format!(
                "{}/{} does not exists",
                source.repository, source.name
            )));
        }
    }
    if target.is_empty() {
        return Err(ApiError::bad_request("missing build (target) name"));
    }
    if target.contains('/') {
        return Err(ApiError::bad_request("build name not allowed"));
    }
    let mode = MergeMode::from_request(mode.map(str::trim)).map_err(|unknown| {
        ApiError::bad_request(format!(
            "invalid merge mode `{}` (union or overlay)",
            unknown.value
        ))
    })?;
    Ok(MergeRequest {
        sources: refs,
        target: target.to_owned(),
        mode,
    })
}

/// `repo/name` exactly (D1: no other path), the name normalised (spec 3.1).
fn source_ref(source: &str) -> ApiResult<FlistRef> {
    let malformed = || ApiError::bad_request("malformed source filename");
    let (repository, name) = source.split_once('/').ok_or_else(malformed)?;
    if repository.is_empty() || name.is_empty() || name.contains('/') {
        return Err(malformed());
    }
    Ok(FlistRef {
        repository: repository.to_owned(),
        name: flist_name(name).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(result: ApiResult<T>) -> String {
        result.map_or_else(|error| error.message().to_owned(), |ok| format!("{ok:?}"))
    }

    #[test]
    fn the_body_must_be_an_array_of_strings() {
        assert_eq!(message(parse_sources(b"{}")), "malformed json request");
        assert_eq!(
            message(parse_sources(b"not json")),
            "malformed json request"
        );
        assert_eq!(message(parse_sources(b"[1]")), "malformed json request");
        assert_eq!(
            parse_sources(b"[\"a/b\", \"c/d.flist\"]").ok(),
            Some(vec!["a/b".to_owned(), "c/d.flist".to_owned()])
        );
    }

    #[test]
    fn sources_are_exactly_repo_slash_name() {
        assert_eq!(message(source_ref("nope")), "malformed source filename");
        assert_eq!(message(source_ref("a/../b")), "malformed source filename");
        assert_eq!(message(source_ref("/b")), "malformed source filename");
        assert_eq!(message(source_ref("a/")), "malformed source filename");
        let parsed = source_ref("tf/base").ok();
        assert_eq!(
            parsed.map(|r| (r.repository, r.name)),
            Some(("tf".into(), "base.flist".into()))
        );
        let fl = source_ref("tf/base.fl").ok();
        assert_eq!(fl.map(|r| r.name), Some("base.fl".into()));
    }
}
