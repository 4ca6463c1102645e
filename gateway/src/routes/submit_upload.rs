//! Uploads: `POST /api/flist/me/upload` (archive → flist, spec 7.9), `POST
//! /api/flist/me/upload-flist` (homemade flist, 7.10) and the website's `POST /upload` (10).
//!
//! The multipart `file` part is streamed into the staging bucket as it arrives, never held in
//! memory whole; the upload size limit is enforced while streaming. Everything that can refuse
//! the request (file name, extension, idempotency, concurrent-job limit) is checked when the
//! `file` part starts, before its bytes are read.

use std::collections::HashMap;
use std::io;
use std::sync::{Mutex, PoisonError};

use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use hub_auth::{AuthMethod, Identity};
use hub_jobs::StagedObject;
use hub_model::names::{self, UploadKind, UploadNameError, secure_filename};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{ConvertJob, VerifyJob};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio_util::io::StreamReader;

use super::submit::{self, Begun, Queued, Reply, Submitted, Ticket};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, PreferAsync};
use crate::limits;
use crate::pyjson::PyJson;
use crate::state::AppState;
use crate::web::WebUser;

/// Metadata keys the original hub silently ignored (spec 7.9): the hub sets them itself.
const PROTECTED_METADATA: &[&str] = hub_flist::STRUCTURED_KEYS;

/// Most `metadata-*` fields accepted, and the longest value: metadata is held in memory.
const MAX_METADATA_FIELDS: usize = 64;
const MAX_METADATA_VALUE: usize = 64 * 1024;

/// `?format=` of the upload routes.
#[derive(Debug, Default, Deserialize)]
pub struct FormatQuery {
    /// `flist` or `fl`.
    pub format: Option<String>,
}

/// Which upload route, and what it honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `.tar.gz` and other archives → convert job.
    Archive {
        /// `metadata-*` parts and `X-Original-Name` (the API route; the web form ignores them).
        api: bool,
    },
    /// A ready `.flist` (or `.fl`) → verify job.
    Flist,
}

/// `POST /api/flist/me/upload`.
pub async fn upload(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    Query(query): Query<FormatQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let route = Route::Archive { api: true };
    let received = receive(&state, &identity, route, query, &headers, multipart).await;
    respond(&state, received, Reply::preferring(respond_async)).await
}

/// `POST /api/flist/me/upload-flist`.
pub async fn upload_flist(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let query = FormatQuery::default();
    let received = receive(&state, &identity, Route::Flist, query, &headers, multipart).await;
    respond(&state, received, Reply::preferring(respond_async)).await
}

#[derive(serde::Serialize)]
struct WebAccepted {
    status: &'static str,
    jobid: uuid::Uuid,
}

#[derive(serde::Serialize)]
struct WebRefused<'a> {
    status: &'static str,
    message: &'a str,
}

/// `POST /upload` (web form, `protected` guard): `200 {"status": "success", "jobid": …}` as soon
/// as the job is queued, the page then follows `/listen/<jobid>`; errors are `200 {"status":
/// "error", "message": …}` for the page's script (spec 10).
pub async fn web_upload(
    State(state): State<AppState>,
    user: WebUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let identity = web_identity(&state, &user);
    let route = Route::Archive { api: false };
    let query = FormatQuery::default();
    match receive(&state, &identity, route, query, &headers, multipart).await {
        Ok(submitted) => PyJson(WebAccepted {
            status: "success",
            jobid: submitted.job().id,
        })
        .into_response(),
        Err(error) => PyJson(WebRefused {
            status: "error",
            message: error.message(),
        })
        .into_response(),
    }
}

/// The website's user as a job submitter: the session's user acting as the selected account.
pub fn web_identity(state: &AppState, user: &WebUser) -> Identity {
    let session = &user.visitor.session;
    let username = session
        .user()
        .map_or_else(|| user.user.clone(), str::to_owned);
    // A web session is the hub's own login (ThreeFold Connect or a local account), the same
    // trust as a hub token; the method only matters to the token routes, which the web form
    // never reaches.
    let method = if state.auth.is_enabled() {
        AuthMethod::HubToken
    } else {
        AuthMethod::Disabled
    };
    Identity {
        user: user.user.clone(),
        accounts: if session.accounts.is_empty() {
            vec![username.clone()]
        } else {
            session.accounts.clone()
        },
        username,
        method,
    }
}

/// Stage the homemade flist of the website's `POST /upload-flist` form and queue its verify job
/// as `identity`; the page then waits for the job itself (spec 10).
pub async fn receive_homemade(
    state: &AppState,
    identity: &Identity,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Submitted> {
    let query = FormatQuery::default();
    receive(state, identity, Route::Flist, query, headers, multipart).await
}

async fn respond(state: &AppState, received: ApiResult<Submitted>, reply: Reply) -> Response {
    submit::answer_submitted(state, received, reply).await
}

/// The `file` part, staged.
struct Staged {
    ticket: Ticket,
    object: StagedObject,
    client_filename: String,
    /// The published name without its flist extension.
    stem: String,
}

/// Read the multipart request, stage its file and queue the job.
async fn receive(
    state: &AppState,
    identity: &Identity,
    route: Route,
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
    let mut multipart = multipart.map_err(|_| ApiError::bad_request("no file found"))?;
    let original_name = match route {
        Route::Archive { api: true } => original_name(headers)?,
        Route::Archive { api: false } | Route::Flist => None,
    };
    let idempotency_key = submit::idempotency_key(headers)?;

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
            let stem = match checked_stem(route, &client_filename, original_name.as_deref()) {
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
            && matches!(route, Route::Archive { api: true })
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
        return Err(ApiError::bad_request("no file found"));
    };
    let object_name = staged.object.name.clone();
    let queued = match outcome {
        Ok(()) => {
            let asked = query.format.or(format_field);
            queue_staged(state, identity, route, staged, asked, metadata).await
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
                discard(state, &object_name).await;
            }
            Ok(Submitted::Queued(queued))
        }
        Err(error) => {
            discard(state, &object_name).await;
            Err(error)
        }
    }
}

/// Build the job of a staged upload and queue it (this gives the ticket back on failure).
async fn queue_staged(
    state: &AppState,
    identity: &Identity,
    route: Route,
    staged: Staged,
    asked_format: Option<String>,
    metadata: HashMap<String, String>,
) -> ApiResult<Queued> {
    let Staged {
        ticket,
        object,
        client_filename,
        stem,
    } = staged;
    let (target, format, payload) = match route {
        Route::Archive { .. } => {
            let format = match submit::output_format(state, asked_format.as_deref(), None) {
                Ok(format) => format,
                Err(error) => {
                    ticket.abandon(state).await;
                    return Err(error);
                }
            };
            let payload = Payload::Convert(ConvertJob {
                staged_object: object.name.clone(),
                original_name: secure_filename(&client_filename),
                metadata,
            });
            (format.file_name(&stem), format, payload)
        }
        Route::Flist => {
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
fn checked_stem(
    route: Route,
    client_filename: &str,
    original_name: Option<&str>,
) -> ApiResult<String> {
    let kind = match route {
        Route::Archive { .. } => UploadKind::Archive,
        Route::Flist => UploadKind::Flist,
    };
    names::upload_stem(kind, client_filename, original_name).map_err(|error| match error {
        UploadNameError::Name(name) => name.into(),
        other => ApiError::bad_request(other.to_string()),
    })
}

/// The `X-Original-Name` header, which must be UTF-8.
fn original_name(headers: &HeaderMap) -> ApiResult<Option<String>> {
    headers
        .get("x-original-name")
        .map(|value| {
            std::str::from_utf8(value.as_bytes())
                .map(str::to_owned)
                .map_err(|_| ApiError::bad_request("invalid flist name"))
        })
        .transpose()
}

/// Stream `field` into the staging bucket under the ticket's job id, at most
/// `limits.upload_max_bytes` bytes.
async fn stage(state: &AppState, ticket: &Ticket, field: Field<'_>) -> ApiResult<StagedObject> {
    let max = state.config.limits.upload_max_bytes;
    let name = ticket.job_id().to_string();
    // A failure of the client's body (truncated, malformed, too slow) surfaces as a staging
    // error; remembering it here answers the client's fault as a 4xx, not as an outage.
    let body_failure: Mutex<Option<ApiError>> = Mutex::new(None);
    let bytes = field.map_err(|error| {
        let mut failure = body_failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert_with(|| multipart_error(&error));
        io::Error::other(error)
    });
    // One byte more than allowed tells an upload at the limit from one over it.
    let mut reader = StreamReader::new(bytes).take(max.saturating_add(1));
    let staged = state.staging.put(&name, &mut reader).await;
    drop(reader);
    match staged {
        Ok(object) if object.size > max => {
            discard(state, &name).await;
            Err(limits::upload_too_large(max))
        }
        Ok(object) => Ok(object),
        Err(error) => {
            discard(state, &name).await;
            let body_failure = body_failure
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner);
            Err(body_failure.unwrap_or_else(|| error.into()))
        }
    }
}

async fn discard(state: &AppState, name: &str) {
    if let Err(error) = state.staging.delete(name).await {
        tracing::warn!(object = name, %error, "cannot delete a staged upload");
    }
}

/// A `metadata-<key>` value, `None` for the protected keys.
async fn metadata_value(key: &str, field: Field<'_>, held: usize) -> ApiResult<Option<String>> {
    if key.is_empty() || PROTECTED_METADATA.contains(&key) {
        return Ok(None);
    }
    if held >= MAX_METADATA_FIELDS {
        return Err(ApiError::bad_request(format!(
            "too many metadata fields (at most {MAX_METADATA_FIELDS})"
        )));
    }
    let value = read_bounded(field, MAX_METADATA_VALUE).await?;
    String::from_utf8(value)
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("metadata `{key}` is not UTF-8 text")))
}

async fn read_text(field: Field<'_>) -> ApiResult<String> {
    let bytes = read_bounded(field, 64).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("invalid format"))
}

/// The whole of a small field, refused beyond `max` bytes.
async fn read_bounded(mut field: Field<'_>, max: usize) -> ApiResult<Vec<u8>> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        if value.len() + chunk.len() > max {
            return Err(ApiError::bad_request(format!(
                "form field `{}` is too long (at most {max} bytes)",
                field.name().unwrap_or_default()
            )));
        }
        value.extend_from_slice(&chunk);
    }
    Ok(value)
}

fn multipart_error(error: &axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(
        error.status(),
        format!("malformed multipart request: {}", error.body_text()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: Route = Route::Archive { api: true };

    fn stem(route: Route, client: &str, header: Option<&str>) -> Result<String, String> {
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
        assert_eq!(stem(Route::Flist, "x.flist", None), Ok("x".into()));
        assert_eq!(stem(Route::Flist, "x.fl", None), Ok("x".into()));
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
            stem(Route::Flist, "a.tar.gz", None),
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
