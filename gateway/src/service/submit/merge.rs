//! Merging flists into `<target>.flist` (hub-api §7.11): the sources are combined in order,
//! `union` (the original's: the first source wins per path) or `overlay` (later sources win,
//! whiteouts delete).

use hub_auth::Identity;
use hub_model::names::{flist_name, validate_flist_name};
use hub_model::{Format, MergeMode, UnknownName};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{self, FlistRef, MergeJob};

use super::Submitted;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::service::submit;
use crate::state::AppState;

/// Most sources of one merge.
pub const MAX_SOURCES: usize = 256;

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

/// The checks of hub-api §7.11, in the original's order: sources present and well-formed,
/// each existing, then the target, then the mode (`mode` is what the caller asked for, parsed
/// by its front door; an unknown mode is reported only after the sources and the target).
pub async fn validate(
    state: &AppState,
    sources: Vec<String>,
    target: &str,
    mode: Result<MergeMode, UnknownName>,
) -> ApiResult<MergeRequest> {
    if sources.is_empty() {
        return Err(ApiError::new(ErrorKind::NoSource));
    }
    if sources.len() > MAX_SOURCES {
        return Err(ApiError::new(ErrorKind::TooManySources {
            max: MAX_SOURCES,
        }));
    }
    let refs = sources
        .iter()
        .map(|source| source_ref(source))
        .collect::<ApiResult<Vec<_>>>()?;
    for source in &refs {
        let found = hub_db::entries::get(&state.pool, &source.repository, &source.name).await?;
        if found.is_none() {
            return Err(ApiError::new(ErrorKind::SourceMissing {
                repository: source.repository.clone(),
                name: source.name.clone(),
            }));
        }
    }
    if target.is_empty() {
        return Err(ApiError::new(ErrorKind::MissingTarget));
    }
    if target.contains('/') {
        return Err(ApiError::new(ErrorKind::TargetNotAllowed));
    }
    let mode = mode.map_err(|unknown| ErrorKind::InvalidMergeMode {
        value: unknown.value,
    })?;
    Ok(MergeRequest {
        sources: refs,
        target: target.to_owned(),
        mode,
    })
}

/// `repo/name` exactly (hub-api D1: the original also took other paths), the name normalised
/// (hub-api §3.1: `.flist` appended unless a flist extension is there).
fn source_ref(source: &str) -> ApiResult<FlistRef> {
    let malformed = || ApiError::new(ErrorKind::MalformedSource);
    let (repository, name) = source.split_once('/').ok_or_else(malformed)?;
    if repository.is_empty() || name.is_empty() || name.contains('/') {
        return Err(malformed());
    }
    Ok(FlistRef {
        repository: repository.to_owned(),
        name: flist_name(name).into_owned(),
    })
}

/// Queue a validated merge for `identity` (steps 1 and 2 of [`super`]).
pub async fn queue(
    state: &AppState,
    identity: &Identity,
    request: MergeRequest,
    format: Option<Format>,
    idempotency_key: Option<String>,
) -> ApiResult<Submitted> {
    let format = submit::output_format(state, format, Some(&request.target));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: std::fmt::Debug>(result: ApiResult<T>) -> String {
        result.map_or_else(|error| error.message().to_owned(), |ok| format!("{ok:?}"))
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
