//! Publishing an uploaded file: an archive becomes a convert job, a homemade flist a verify
//! job. The upload is staged in the JetStream object store under the job id before the job is
//! queued; reading the request itself is the front door's business ([`crate::upload`]).

use std::collections::HashMap;

use hub_auth::Identity;
use hub_jobs::StagedObject;
use hub_model::Format;
use hub_model::names::{self, UploadKind, UploadNameError, secure_filename};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, VerifyJob};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Queued, Ticket};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::limits;
use crate::service::submit;
use crate::state::AppState;

/// Which kind of upload, and what it honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRoute {
    /// `.tar.gz` and other archives → convert job.
    Archive {
        /// `metadata-*` parts and `X-Original-Name` (the API route; the web form ignores them).
        api: bool,
    },
    /// A ready `.flist` (or `.fl`) → verify job.
    Flist,
}

/// The `file` part, staged.
pub struct Staged {
    /// The ticket the upload was staged under.
    pub ticket: Ticket,
    /// The staged object.
    pub object: StagedObject,
    /// The file name the client sent.
    pub client_filename: String,
    /// The published name without its flist extension.
    pub stem: String,
}

/// Why an upload could not be staged.
#[derive(Debug)]
pub enum StageError {
    /// The upload is larger than `limits.upload_max_bytes`.
    TooLarge(ApiError),
    /// The staging bucket refused it, or the body broke off (the front door knows which).
    Staging(hub_jobs::JobsError),
}

/// Copy `body` into the staging bucket under the ticket's job id, at most
/// `limits.upload_max_bytes` bytes. Nothing is left staged on error.
pub async fn stage(
    state: &AppState,
    ticket: &Ticket,
    body: impl AsyncRead + Unpin,
) -> Result<StagedObject, StageError> {
    let max = state.config.limits.upload_max_bytes;
    let name = ticket.job_id().to_string();
    // One byte more than allowed tells an upload at the limit from one over it.
    let mut reader = body.take(max.saturating_add(1));
    let staged = state.staging.put(&name, &mut reader).await;
    drop(reader);
    match staged {
        Ok(object) if object.size > max => {
            discard(state, &name).await;
            Err(StageError::TooLarge(limits::upload_too_large(max)))
        }
        Ok(object) => Ok(object),
        Err(error) => {
            discard(state, &name).await;
            Err(StageError::Staging(error))
        }
    }
}

/// Delete the staged upload `name` (best effort: the bucket's TTL removes what is left).
pub async fn discard(state: &AppState, name: &str) {
    if let Err(error) = state.staging.delete(name).await {
        tracing::warn!(object = name, %error, "cannot delete a staged upload");
    }
}

/// Build the job of a staged upload and queue it (this gives the ticket back on failure).
pub async fn queue_staged(
    state: &AppState,
    identity: &Identity,
    route: UploadRoute,
    staged: Staged,
    asked_format: Option<Format>,
    metadata: HashMap<String, String>,
) -> ApiResult<Queued> {
    let Staged {
        ticket,
        object,
        client_filename,
        stem,
    } = staged;
    let (target, format, payload) = match route {
        UploadRoute::Archive { .. } => {
            let format = submit::output_format(state, asked_format, None);
            let payload = Payload::Convert(ConvertJob {
                staged_object: object.name.clone(),
                original_name: secure_filename(&client_filename),
                metadata,
            });
            (format.file_name(&stem), format, payload)
        }
        UploadRoute::Flist => {
            // A homemade flist is published unchanged: its extension says its format.
            let format = names::uploaded_flist_format(&client_filename);
            let payload = Payload::Verify(VerifyJob {
                staged_object: object.name.clone(),
            });
            (format.file_name(&stem), format, payload)
        }
    };
    let mut envelope = submit::envelope(state, &ticket, identity, target, format);
    envelope.payload = Some(payload);
    submit::queue(state, ticket, envelope).await
}

/// Check the client file name and derive the published name without extension
/// ([`names::upload_stem`]).
pub fn checked_stem(
    route: UploadRoute,
    client_filename: &str,
    original_name: Option<&str>,
) -> ApiResult<String> {
    let kind = match route {
        UploadRoute::Archive { .. } => UploadKind::Archive,
        UploadRoute::Flist => UploadKind::Flist,
    };
    names::upload_stem(kind, client_filename, original_name).map_err(|error| match error {
        UploadNameError::Name(name) => name.into(),
        other => ApiError::new(ErrorKind::InvalidName {
            message: other.to_string(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: UploadRoute = UploadRoute::Archive { api: true };

    fn stem(route: UploadRoute, client: &str, header: Option<&str>) -> Result<String, String> {
        checked_stem(route, client, header).map_err(|error| error.message().to_owned())
    }

    #[test]
    fn upload_names_follow_the_original_rules() {
        assert_eq!(
            stem(API, "My cool app.tar.gz", None),
            Ok("My_cool_app".into())
        );
        assert_eq!(stem(API, "../../etc/x.tar.gz", None), Ok("etc_x".into()));
        assert_eq!(
            stem(API, "a.tar.gz", Some("/home/me/build/my-app-1.0.tar.gz")),
            Ok("my-app-1.0".into())
        );
        assert_eq!(stem(API, "a.tgz", None), Ok("a".into()));
        assert_eq!(stem(API, "a.tar.zst", None), Ok("a".into()));
        assert_eq!(stem(API, "a.tar", None), Ok("a".into()));
        assert_eq!(stem(UploadRoute::Flist, "x.flist", None), Ok("x".into()));
        assert_eq!(stem(UploadRoute::Flist, "x.fl", None), Ok("x".into()));
    }

    #[test]
    fn bad_uploads_get_the_catalogue_messages() {
        assert_eq!(stem(API, "", None), Err("no file selected".into()));
        assert_eq!(
            stem(API, "a.zip", None),
            Err("this file is not allowed".into())
        );
        // The raw client name decides, case-sensitively.
        assert_eq!(
            stem(API, "a.TAR.GZ", None),
            Err("this file is not allowed".into())
        );
        assert_eq!(
            stem(UploadRoute::Flist, "a.tar.gz", None),
            Err("this file is not allowed".into())
        );
        // secure_filename strips the leading dot, as Werkzeug does.
        assert_eq!(stem(API, ".tar.gz", None), Ok("tar.gz".into()));
        assert_eq!(
            stem(API, "a.tar.gz", Some("/tmp/.tar.gz")),
            Err("invalid flist name".into())
        );
        assert_eq!(
            stem(API, "a.tar.gz", Some("/tmp/<script>.tar.gz")),
            Err("invalid flist name".into())
        );
    }
}
