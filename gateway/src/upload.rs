//! Reading an upload request, for the API's upload routes (`POST /api/flist/me/upload`:
//! archive → flist, hub-api §7.9; `/upload-flist`: homemade flist, §7.10) and the website's
//! forms (hub-api §10).
//!
//! The multipart `file` part is streamed into the staging bucket as it arrives, never held in
//! memory whole; the upload size limit is enforced while streaming. Everything that can refuse
//! the request (file name, extension, idempotency, concurrent-job limit) is checked when the
//! `file` part starts, before its bytes are read.

use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, PoisonError};

use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::http::{HeaderMap, header};
use futures::TryStreamExt;
use hub_auth::Identity;
use hub_jobs::StagedObject;
use serde::Deserialize;
use tokio_util::io::StreamReader;

use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::extract::idempotency_key;
use crate::limits;
use crate::service::submit::upload::{self, StageError, Staged, UploadRoute};
use crate::service::submit::{self, Begun, Submitted, Ticket};
use crate::state::AppState;

/// Metadata keys the original hub silently ignored (hub-api §7.9): the hub sets them itself.
const PROTECTED_METADATA: &[&str] = hub_flist::STRUCTURED_KEYS;

/// Most `metadata-*` fields accepted, and the longest value: metadata is held in memory.
const MAX_METADATA_FIELDS: usize = 64;
const MAX_METADATA_VALUE: usize = 64 * 1024;

/// `?format=` of the upload routes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// Output format: `flist` (default) or `fl`.
    #[param(value_type = Option<hub_model::Format>)]
    pub format: Option<String>,
}

/// Read the multipart request, stage its file and queue the job.
pub async fn receive(
    state: &AppState,
    identity: &Identity,
    route: UploadRoute,
    query: FormatQuery,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Submitted> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = announced {
        // The body also holds the multipart framing and the metadata fields.
        let framing = (MAX_METADATA_FIELDS * MAX_METADATA_VALUE) as u64 + 64 * 1024;
        limits::check_upload_size(state, length.saturating_sub(framing))?;
    }
    let mut multipart = multipart.map_err(|_| ApiError::new(ErrorKind::NoFile))?;
    let original_name = match route {
        UploadRoute::Archive { api: true } => original_name(headers)?,
        UploadRoute::Archive { api: false } | UploadRoute::Flist => None,
    };
    let idempotency_key = idempotency_key(headers)?;

    let mut metadata = HashMap::new();
    let mut format_field = None;
    let mut staged: Option<Staged> = None;
    let outcome = loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break Ok(()),
            Err(error) => break Err(multipart_error(&error)),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" && staged.is_none() {
            let client_filename = field.file_name().unwrap_or_default().to_owned();
            let stem = match upload::checked_stem(route, &client_filename, original_name.as_deref())
            {
                Ok(stem) => stem,
                Err(error) => break Err(error),
            };
            let ticket = match submit::begin(state, identity, idempotency_key.clone()).await {
                Ok(Begun::New(ticket)) => ticket,
                Ok(Begun::Existing(job)) => return Ok(Submitted::Existing(*job)),
                Err(error) => break Err(error),
            };
            if let Err(error) = crate::backpressure::check_staging(state).await {
                ticket.abandon(state).await;
                break Err(error);
            }
            match stage(state, &ticket, field).await {
                Ok(object) => {
                    staged = Some(Staged {
                        ticket,
                        object,
                        client_filename,
                        stem,
                    });
                }
                Err(error) => {
                    ticket.abandon(state).await;
                    break Err(error);
                }
            }
        } else if name == "format" {
            match read_text(field).await {
                Ok(value) => format_field = Some(value),
                Err(error) => break Err(error),
            }
        } else if let Some(key) = name.strip_prefix("metadata-")
            && matches!(route, UploadRoute::Archive { api: true })
        {
            match metadata_value(key, field, metadata.len()).await {
                Ok(Some(value)) => {
                    metadata.insert(key.to_owned(), value);
                }
                Ok(None) => {}
                Err(error) => break Err(error),
            }
        }
    };
    let Some(staged) = staged else {
        outcome?;
        return Err(ApiError::new(ErrorKind::NoFile));
    };
    let object_name = staged.object.name.clone();
    let queued = match outcome {
        Ok(()) => {
            let asked = query.format.or(format_field);
            match submit::asked_format(asked.as_deref()) {
                Ok(asked) => {
                    upload::queue_staged(state, identity, route, staged, asked, metadata).await
                }
                Err(error) => {
                    staged.ticket.abandon(state).await;
                    Err(error)
                }
            }
        }
        Err(error) => {
            staged.ticket.abandon(state).await;
            Err(error)
        }
    };
    match queued {
        Ok(queued) => {
            if queued.slot.is_none() {
                // An idempotent retry raced this request: the earlier job has its own upload.
                upload::discard(state, &object_name).await;
            }
            Ok(Submitted::Queued(queued))
        }
        Err(error) => {
            upload::discard(state, &object_name).await;
            Err(error)
        }
    }
}

/// Stream `field` into the staging bucket under the ticket's job id. A failure of the
/// client's body (truncated, malformed, too slow) surfaces as a staging error; remembering it
/// here answers the client's fault as a 4xx, not as an outage.
async fn stage(state: &AppState, ticket: &Ticket, field: Field<'_>) -> ApiResult<StagedObject> {
    let body_failure: Mutex<Option<ApiError>> = Mutex::new(None);
    let bytes = field.map_err(|error| {
        let mut failure = body_failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert_with(|| multipart_error(&error));
        io::Error::other(error)
    });
    let staged = upload::stage(state, ticket, StreamReader::new(bytes)).await;
    match staged {
        Ok(object) => Ok(object),
        Err(StageError::TooLarge(error)) => Err(error),
        Err(StageError::Staging(error)) => {
            let body_failure = body_failure
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            Err(body_failure.unwrap_or_else(|| error.into()))
        }
    }
}

/// The `X-Original-Name` header, which must be UTF-8.
fn original_name(headers: &HeaderMap) -> ApiResult<Option<String>> {
    headers
        .get("x-original-name")
        .map(|value| {
            std::str::from_utf8(value.as_bytes())
                .map(str::to_owned)
                .map_err(|_| {
                    ApiError::new(ErrorKind::InvalidName {
                        message: "invalid flist name".to_owned(),
                    })
                })
        })
        .transpose()
}

/// A `metadata-<key>` value, `None` for the protected keys.
async fn metadata_value(key: &str, field: Field<'_>, held: usize) -> ApiResult<Option<String>> {
    if key.is_empty() || PROTECTED_METADATA.contains(&key) {
        return Ok(None);
    }
    if held >= MAX_METADATA_FIELDS {
        return Err(ApiError::new(ErrorKind::TooManyMetadataFields {
            max: MAX_METADATA_FIELDS,
        }));
    }
    let value = read_bounded(field, MAX_METADATA_VALUE).await?;
    String::from_utf8(value).map(Some).map_err(|_| {
        ApiError::new(ErrorKind::MetadataNotText {
            key: key.to_owned(),
        })
    })
}

async fn read_text(field: Field<'_>) -> ApiResult<String> {
    let bytes = read_bounded(field, 64).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::new(ErrorKind::UnreadableFormat))
}

/// The whole of a small field, refused beyond `max` bytes.
async fn read_bounded(mut field: Field<'_>, max: usize) -> ApiResult<Vec<u8>> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        if value.len() + chunk.len() > max {
            return Err(ApiError::new(ErrorKind::FieldTooLong {
                field: field.name().unwrap_or_default().to_owned(),
                max: Some(max),
            }));
        }
        value.extend_from_slice(&chunk);
    }
    Ok(value)
}

fn multipart_error(error: &axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(ErrorKind::MalformedMultipart {
        status: error.status(),
        detail: error.body_text(),
    })
}
