//! Converting a container image into `<image-tag>.flist` (hub-api §3.3: the flist is named
//! after the image and its tag).
//!
//! Registry credentials are sealed with `gateway.credentials_key` (AES-256-GCM, the format
//! hub-model shares with worker-docker) as soon as they are read: they are never logged,
//! stored or queued in clear.

use std::collections::HashMap;

use hub_auth::Identity;
use hub_model::Format;
use hub_model::credentials::{Credentials, CredentialsKey, seal_credentials};
use hub_model::names::{self, validate_flist_name};
use hub_proto::v1::job_envelope::Payload;
use hub_proto::v1::{DockerJob, ImageEngine};

use super::Submitted;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::service::submit;
use crate::state::AppState;

/// A docker conversion request.
#[derive(Clone, Default)]
pub struct DockerRequest {
    /// Image reference as typed by the user.
    pub image: String,
    /// Platform to pick from a multi-architecture image; empty = the worker's default.
    pub platform: String,
    /// Registry credentials, for private images.
    pub credentials: Option<Credentials>,
    /// The output format asked for; `publish.default_format` when absent.
    pub format: Option<Format>,
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
    /// The request from form fields (`image`, `platform`, `username`, `password`, `format`);
    /// `missing docker image name` without `image`.
    pub fn from_fields(mut fields: HashMap<String, String>) -> ApiResult<Self> {
        let format = submit::asked_format(fields.remove("format").as_deref())?;
        Self::new(
            fields.remove("image").unwrap_or_default(),
            fields.remove("platform").unwrap_or_default(),
            fields.remove("username"),
            fields.remove("password"),
            format,
        )
    }

    /// The request for `image`; empty `username`/`password` count as absent, and one without
    /// the other is refused.
    pub fn new(
        image: String,
        platform: String,
        username: Option<String>,
        password: Option<String>,
        format: Option<Format>,
    ) -> ApiResult<Self> {
        let username = username.filter(|v| !v.is_empty());
        let password = password.filter(|v| !v.is_empty());
        let credentials = match (username, password) {
            (Some(username), Some(password)) => Some(Credentials::new(username, password)),
            (None, None) => None,
            _ => {
                return Err(ApiError::new(ErrorKind::HalfCredentials));
            }
        };
        Ok(Self {
            image: image.trim().to_owned(),
            platform: platform.trim().to_owned(),
            credentials,
            format,
        })
    }
}

/// Queue a docker conversion for `identity` (steps 1 and 2 of [`super`]).
pub async fn queue(
    state: &AppState,
    identity: &Identity,
    request: DockerRequest,
    idempotency_key: Option<String>,
) -> ApiResult<Submitted> {
    let image = checked_image(&request.image)?;
    let format = submit::output_format(state, request.format, None);
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
        return Err(ApiError::new(ErrorKind::MissingImage));
    }
    if image.len() > 512 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::new(ErrorKind::InvalidImage));
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
        .ok_or_else(|| ApiError::new(ErrorKind::CredentialsUnsupported))?;
    let key = CredentialsKey::from_hex(key).map_err(ApiError::internal)?;
    Ok(seal_credentials(&key, credentials))
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
