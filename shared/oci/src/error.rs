//! The crate's error type, with the stable codes and retry policy the worker and the gateway
//! rely on.

use hub_convert::ConvertError;
use hub_model::FailureCode;

/// Everything that can go wrong while resolving, pulling or converting an image.
///
/// Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// The image reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// Why it is refused.
        reason: String,
    },
    /// The repository, tag or digest does not exist (or is private and no credentials were
    /// given: registries answer both the same way).
    #[error("docker image not found: {image} ({detail})")]
    NotFound {
        /// The normalised reference.
        image: String,
        /// What the registry or engine said.
        detail: String,
    },
    /// The image has no entry for the requested platform.
    #[error("no image for platform {wanted} in {image}; available platforms: {}", available.join(", "))]
    NoMatchingPlatform {
        /// The normalised reference.
        image: String,
        /// The platform asked for (`linux/amd64`).
        wanted: String,
        /// Platforms the index offers.
        available: Vec<String>,
    },
    /// The registry refused the credentials that were given.
    #[error(
        "the registry {registry} refused the credentials for {image}: wrong user name or password, or no pull access"
    )]
    BadCredentials {
        /// Registry host.
        registry: String,
        /// The normalised reference.
        image: String,
    },
    /// The registry (or engine) could not be reached or failed on its side; retrying later
    /// may help.
    #[error("could not reach {registry}: {detail}")]
    Unreachable {
        /// Registry host or engine address.
        registry: String,
        /// The underlying failure.
        detail: String,
    },
    /// The registry answered in a way that cannot be used (protocol error, bad manifest).
    #[error("registry {registry} failed: {detail}")]
    Registry {
        /// Registry host.
        registry: String,
        /// What went wrong.
        detail: String,
    },
    /// A blob's bytes do not match the digest (or size) the manifest gives: corrupt storage,
    /// a broken proxy or tampering. Nothing is published.
    #[error("blob {digest} is corrupt: {detail}")]
    DigestMismatch {
        /// The digest the manifest announced.
        digest: String,
        /// What did not match.
        detail: String,
    },
    /// The image uses a manifest or layer kind this converter does not handle (Docker schema
    /// 1, artifacts, foreign layers).
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The image configuration blob is not a valid image configuration.
    #[error("invalid image configuration: {0}")]
    InvalidConfig(String),
    /// Converting the layers failed (bad archive, limits, store).
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// The Docker Engine refused an operation.
    #[error("docker engine: {0}")]
    Engine(String),
    /// A background task failed unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
}

impl OciError {
    /// The stable failure code of a job that ends with this error: `invalid_image`,
    /// `image_not_found` (the gateway answers 404 `docker image not found`), `pull_failed`
    /// (registry or engine unreachable, authentication refused, corrupt blob, unsupported
    /// image: 502 `could not pull this image`), hub-convert's codes for conversion errors, or
    /// `internal`.
    pub fn code(&self) -> FailureCode {
        match self {
            Self::InvalidReference { .. } => FailureCode::InvalidImage,
            Self::NotFound { .. } | Self::NoMatchingPlatform { .. } => FailureCode::ImageNotFound,
            Self::BadCredentials { .. }
            | Self::Unreachable { .. }
            | Self::Registry { .. }
            | Self::DigestMismatch { .. }
            | Self::Unsupported(_)
            | Self::InvalidConfig(_)
            | Self::Engine(_) => FailureCode::PullFailed,
            Self::Convert(error) => error.code(),
            Self::Internal(_) => FailureCode::Internal,
        }
    }

    /// Whether retrying later can succeed: unreachable registries and engines, and transient
    /// store failures. Missing images, refused credentials, corrupt blobs and unsupported
    /// images are final.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Convert(error) => error.is_transient(),
            _ => false,
        }
    }

    /// Whether this is a bug or unexpected state rather than a property of the image.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Internal(_))
    }
}

impl From<tokio::task::JoinError> for OciError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retry_policy() {
        let missing = OciError::NotFound {
            image: "docker.io/library/nope:latest".into(),
            detail: "manifest unknown".into(),
        };
        assert_eq!(missing.code(), FailureCode::ImageNotFound);
        assert!(!missing.is_transient());
        let down = OciError::Unreachable {
            registry: "127.0.0.1:1".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(down.code(), FailureCode::PullFailed);
        assert!(down.is_transient());
        let corrupt = OciError::DigestMismatch {
            digest: "sha256:00".into(),
            detail: "got sha256:11".into(),
        };
        assert_eq!(corrupt.code(), FailureCode::PullFailed);
        assert!(!corrupt.is_transient());
        let platform = OciError::NoMatchingPlatform {
            image: "x".into(),
            wanted: "linux/s390x".into(),
            available: vec!["linux/amd64".into(), "linux/arm64/v8".into()],
        };
        assert_eq!(platform.code(), FailureCode::ImageNotFound);
        assert!(
            platform
                .to_string()
                .ends_with("available platforms: linux/amd64, linux/arm64/v8")
        );
        let convert = OciError::from(ConvertError::UnknownFormat);
        assert_eq!(convert.code(), "unknown_format");
    }
}
