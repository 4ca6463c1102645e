//! `POST /api/flist/me/docker` (spec 7.12): convert a container image into
//! `<image-tag>.flist` (name rule 3.3).
//!
//! New optional fields: `platform` (`linux/arm64`, for multi-architecture images), `username`
//! and `password` for a private registry, and `format`. Credentials are sealed with
//! `gateway.credentials_key` (AES-256-GCM, hub-oci's format shared with worker-docker) as soon
//! as they are read: they are never logged, stored or queued in clear.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use hub_auth::Identity;
use hub_model::FailureCode;
use hub_model::credentials::{Credentials, CredentialsKey, seal_credentials};
use hub_model::names::{self, validate_flist_name};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{DockerJob, ImageEngine};

use super::submit::{self, Reply, Submitted};
use super::submit_upload::FormatQuery;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, PreferAsync};
use crate::state::AppState;

/// Longest form value read (image references are at most a few hundred bytes; tokens used as
/// passwords can be a few KiB).
const MAX_FIELD: usize = 16 * 1024;

/// A docker conversion request.
#[derive(Clone, Default)]
pub struct DockerRequest {
    /// Image reference as typed by the user.
    pub image: String,
    /// Platform to pick from a multi-architecture image; empty = the worker's default.
    pub platform: String,
    /// Registry credentials, for private images.
    pub credentials: Option<Credentials>,
    /// `flist` or `fl`.
    pub format: Option<String>,
}

impl std::fmt::Debug for DockerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRequest")
            .field("image", &self.image)
            .field("platform", &self.platform)
            .field("credentials", &self.credentials)
            .field("format", &self.format)
            .finish()
    }
}

impl DockerRequest {
    /// The request from form fields; `missing docker image name` without `image`.
    pub fn from_fields(mut fields: HashMap<String, String>) -> ApiResult<Self> {
        let image = fields
            .remove("image")
            .map(|image| image.trim().to_owned())
            .unwrap_or_default();
        let username = fields.remove("username").filter(|v| !v.is_empty());
        let password = fields.remove("password").filter(|v| !v.is_empty());
        let credentials = match (username, password) {
            (Some(username), Some(password)) => Some(Credentials::new(username, password)),
            (None, None) => None,
            _ => {
                return Err(ApiError::bad_request("username and password go together"));
            }
        };
        Ok(Self {
            image,
            platform: fields
                .remove("platform")
                .map(|platform| platform.trim().to_owned())
                .unwrap_or_default(),
            credentials,
            format: fields.remove("format"),
        })
    }
}

/// `POST /api/flist/me/docker`: form field `image`, urlencoded or multipart.
pub async fn docker(
    State(state): State<AppState>,
    Caller(identity): Caller,
    PreferAsync(respond_async): PreferAsync,
    Query(query): Query<FormatQuery>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let submitted = async {
        let mut fields = form_fields(&state, &headers, request).await?;
        if let Some(format) = query.format {
            fields.insert("format".into(), format);
        }
        let request = DockerRequest::from_fields(fields)?;
        let key = submit::idempotency_key(&headers)?;
        queue_docker(&state, &identity, request, key).await
    }
    .await;
    submit::answer_submitted(&state, submitted, Reply::preferring(respond_async)).await
}

/// Queue a docker conversion for `identity` (steps 1 and 2 of [`submit`]).
pub async fn queue_docker(
    state: &AppState,
    identity: &Identity,
    request: DockerRequest,
    idempotency_key: Option<String>,
) -> ApiResult<Submitted> {
    let image = checked_image(&request.image)?;
    let format = submit::output_format(state, request.format.as_deref(), None)?;
    let target = names::image_flist_name(&image, format);
    validate_flist_name(&target)?;
    let sealed_credentials = match &request.credentials {
        Some(credentials) => seal(state, credentials)?,
        None => Vec::new(),
    };
    submit::submit_job(state, identity, idempotency_key, |ticket| {
        let mut envelope = submit::envelope(state, ticket, identity, target, format);
        envelope.payload = Some(Payload::Docker(DockerJob {
            image,
            platform: request.platform,
            sealed_credentials,
            engine: ImageEngine::Registry as i32,
        }));
        envelope
    })
    .await
}

/// The image reference, trimmed: `missing docker image name` when empty; references with
/// whitespace or control characters are refused at once rather than failing in the worker.
fn checked_image(image: &str) -> ApiResult<String> {
    let image = image.trim();
    if image.is_empty() {
        return Err(ApiError::bad_request("missing docker image name"));
    }
    if image.len() > 512 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_request("invalid docker image name")
            .with_code(FailureCode::InvalidImage.static_str()));
    }
    Ok(image.to_owned())
}

/// Seal `credentials` with the configured key; a hub without one refuses private pulls.
fn seal(state: &AppState, credentials: &Credentials) -> ApiResult<Vec<u8>> {
    let key = state
        .config
        .gateway
        .credentials_key
        .as_deref()
        .ok_or_else(|| {
            ApiError::bad_request("this hub does not accept registry credentials")
                .with_code("credentials_unsupported")
        })?;
    let key = CredentialsKey::from_hex(key).map_err(ApiError::internal)?;
    Ok(seal_credentials(&key, credentials))
}

/// The form's fields from a urlencoded or multipart body; a missing or unreadable body is an
/// empty form (the route then answers `missing docker image name`, as the original did).
async fn form_fields(
    state: &AppState,
    headers: &HeaderMap,
    request: Request,
) -> ApiResult<HashMap<String, String>> {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    if !multipart {
        return Ok(
            Form::<HashMap<String, String>>::from_request(request, state)
                .await
                .map(|Form(fields)| fields)
                .unwrap_or_default(),
        );
    }
    let Ok(mut multipart) = Multipart::from_request(request, state).await else {
        return Ok(HashMap::new());
    };
    let mut fields = HashMap::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| ApiError::bad_request(format!("malformed multipart request: {error}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|error| {
            ApiError::bad_request(format!("malformed multipart request: {error}"))
        })? {
            if value.len() + chunk.len() > MAX_FIELD {
                return Err(ApiError::bad_request(format!(
                    "form field `{name}` is too long"
                )));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value)
            .map_err(|_| ApiError::bad_request(format!("form field `{name}` is not UTF-8")))?;
        fields.insert(name, value);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn credentials_need_both_parts_and_are_never_printed() {
        let request = DockerRequest::from_fields(fields(&[
            ("image", " alpine:3 "),
            ("username", "u"),
            ("password", "s3cret"),
        ]))
        .expect("valid");
        assert_eq!(request.image, "alpine:3");
        assert!(!format!("{request:?}").contains("s3cret"));
        let half = DockerRequest::from_fields(fields(&[("image", "a"), ("username", "u")]));
        assert!(half.is_err());
    }

    #[test]
    fn image_names_are_checked() {
        assert_eq!(
            checked_image("  ").map_err(|e| e.message().to_owned()),
            Err("missing docker image name".into())
        );
        assert!(checked_image("a b").is_err());
        assert_eq!(
            checked_image("registry:5000/img").ok().as_deref(),
            Some("registry:5000/img")
        );
    }
}
