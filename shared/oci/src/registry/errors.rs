//! Translating oci-client errors into [`OciError`]s with the right code and retry policy.

use oci_client::errors::{OciDistributionError, OciErrorCode};

use crate::OciError;

/// What was being fetched: a missing manifest is a missing image, a missing blob is a broken
/// registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetching {
    Manifest,
    Blob,
}

/// Context of a registry request, for the error message.
pub(crate) struct RequestContext<'a> {
    pub image: &'a str,
    pub registry: &'a str,
    pub with_credentials: bool,
    pub fetching: Fetching,
}

impl RequestContext<'_> {
    /// The [`OciError`] for a failed request.
    pub(crate) fn error(&self, error: OciDistributionError) -> OciError {
        let registry = self.registry.to_owned();
        match error {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => self.unauthorized(),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let detail = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                let missing = codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                });
                let denied = codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied));
                let throttled = codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Toomanyrequests));
                if denied {
                    self.unauthorized()
                } else if throttled {
                    OciError::Unreachable { registry, detail }
                } else if missing && self.fetching == Fetching::Manifest {
                    self.not_found(detail)
                } else {
                    OciError::Registry { registry, detail }
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                404 if self.fetching == Fetching::Manifest => self.not_found(message),
                401 | 403 => self.unauthorized(),
                429 | 500.. => OciError::Unreachable {
                    registry,
                    detail: format!("HTTP {code}: {}", first_line(&message)),
                },
                _ => OciError::Registry {
                    registry,
                    detail: format!("HTTP {code}: {}", first_line(&message)),
                },
            },
            OciDistributionError::RequestError(e) => OciError::Unreachable {
                registry,
                detail: request_detail(&e),
            },
            OciDistributionError::IoError(e) => OciError::Unreachable {
                registry,
                detail: e.to_string(),
            },
            OciDistributionError::DigestError(e) => OciError::DigestMismatch {
                digest: self.image.to_owned(),
                detail: e.to_string(),
            },
            OciDistributionError::ImageManifestNotFoundError(detail) => self.not_found(detail),
            OciDistributionError::UnsupportedSchemaVersionError(v) => OciError::Unsupported(
                format!("manifest schema version {v} (only version 2 is supported)"),
            ),
            OciDistributionError::UnsupportedMediaTypeError(t) => {
                OciError::Unsupported(format!("manifest media type {t}"))
            }
            other => OciError::Registry {
                registry,
                detail: other.to_string(),
            },
        }
    }

    fn not_found(&self, detail: String) -> OciError {
        OciError::NotFound {
            image: self.image.to_owned(),
            detail,
        }
    }

    /// Registries answer "unauthorized" both for wrong credentials and, without credentials,
    /// for repositories that do not exist or are private (Docker Hub does). The daemon-based
    /// original reported the latter as "docker image not found".
    fn unauthorized(&self) -> OciError {
        if self.with_credentials {
            OciError::BadCredentials {
                registry: self.registry.to_owned(),
                image: self.image.to_owned(),
            }
        } else {
            self.not_found(
                "the registry requires authentication: the repository does not exist or is private (give credentials)"
                    .into(),
            )
        }
    }
}

/// A reqwest error's message with its causes (connection refused, DNS, TLS).
fn request_detail(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or("");
    line.get(..200).unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(with_credentials: bool, fetching: Fetching) -> RequestContext<'static> {
        RequestContext {
            image: "r/x:1",
            registry: "r",
            with_credentials,
            fetching,
        }
    }

    #[test]
    fn unauthorized_depends_on_credentials() {
        let err = || OciDistributionError::UnauthorizedError { url: "u".into() };
        assert!(matches!(
            ctx(true, Fetching::Manifest).error(err()),
            OciError::BadCredentials { .. }
        ));
        let anonymous = ctx(false, Fetching::Manifest).error(err());
        assert_eq!(anonymous.code(), hub_model::FailureCode::ImageNotFound);
    }

    #[test]
    fn server_errors_by_status() {
        let server = |code| OciDistributionError::ServerError {
            code,
            url: "u".into(),
            message: "boom\nmore".into(),
        };
        let c = ctx(false, Fetching::Manifest);
        assert_eq!(c.error(server(404)).code(), "image_not_found");
        assert!(c.error(server(503)).is_transient());
        assert!(c.error(server(429)).is_transient());
        assert!(!c.error(server(400)).is_transient());
        let blob = ctx(false, Fetching::Blob).error(server(404));
        assert_eq!(blob.code(), "pull_failed");
    }
}
