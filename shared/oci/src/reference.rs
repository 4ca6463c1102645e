//! Image references: Docker Hub normalisation and the flist names derived from them
//! (hub-api §3.3).

use std::fmt;

use oci_client::Reference;

use crate::OciError;

/// Longest reference accepted (the distribution spec caps repository names at 255 bytes;
/// a tag adds 128 and a digest ~72).
const MAX_REFERENCE_LEN: usize = 512;

/// A parsed image reference.
///
/// Docker Hub short names are normalised as `docker pull` does: `ubuntu` is
/// `docker.io/library/ubuntu:latest`, `user/app:1` is `docker.io/user/app:1`; a first
/// component with a `.` or `:` (or `localhost`) is a registry host, port included.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageRef {
    given: String,
    inner: Reference,
}

impl ImageRef {
    /// Parses a reference as a user would type it.
    pub fn parse(reference: &str) -> Result<Self, OciError> {
        let given = reference.trim();
        let invalid = |reason: &str| OciError::InvalidReference {
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        };
        if given.is_empty() {
            return Err(invalid("empty"));
        }
        if given.len() > MAX_REFERENCE_LEN {
            return Err(invalid("too long"));
        }
        if given.contains("://") {
            return Err(invalid("a reference has no URL scheme"));
        }
        let inner: Reference = given.parse().map_err(|e| invalid(&format!("{e}")))?;
        if inner.repository().chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("repository names must be lowercase"));
        }
        Ok(ImageRef {
            given: given.to_owned(),
            inner,
        })
    }

    /// The reference as the user gave it (trimmed).
    pub fn given(&self) -> &str {
        &self.given
    }

    /// The fully qualified reference, e.g. `docker.io/library/ubuntu:latest`.
    pub fn normalized(&self) -> String {
        self.inner.whole()
    }

    /// The registry host (with its port), e.g. `docker.io` or `127.0.0.1:5056`.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The host requests go to (`index.docker.io` for Docker Hub).
    pub fn resolved_registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    /// The repository path, e.g. `library/ubuntu`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if any (`latest` when neither a tag nor a digest was given).
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// What the original hub showed in its messages: the given reference, with `:latest`
    /// when it names no tag and no digest (`Pulling docker image: ubuntu:latest`).
    pub fn display_name(&self) -> String {
        if hub_model::names::image_needs_latest(&self.given) {
            format!("{}:latest", self.given)
        } else {
            self.given.clone()
        }
    }

    /// The same repository at `digest` (to pull one entry of an index).
    pub(crate) fn with_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.inner.registry().to_owned(),
            self.inner.repository().to_owned(),
            digest.to_owned(),
        )
    }

    /// The underlying oci-client reference.
    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ImageRef").field(&self.normalized()).finish()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        assert_eq!(
            parse("ubuntu").normalized(),
            "docker.io/library/ubuntu:latest"
        );
        assert_eq!(parse("ubuntu").resolved_registry(), "index.docker.io");
        assert_eq!(
            parse("threefoldtech/funk").normalized(),
            "docker.io/threefoldtech/funk:latest"
        );
        assert_eq!(
            parse("ubuntu:20.04").normalized(),
            "docker.io/library/ubuntu:20.04"
        );
        let local = parse("127.0.0.1:5056/test/hello:1");
        assert_eq!(local.registry(), "127.0.0.1:5056");
        assert_eq!(local.repository(), "test/hello");
        assert_eq!(local.tag(), Some("1"));
        let port = parse("registry:5000/img");
        assert_eq!(port.registry(), "registry:5000");
        assert_eq!(port.tag(), Some("latest"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = parse(&format!("localhost/img@{digest}"));
        assert_eq!(pinned.digest(), Some(digest.as_str()));
        assert_eq!(pinned.registry(), "localhost");
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "   ",
            "UPPER/case",
            "a b",
            "https://x/y",
            "img@sha256:short",
        ] {
            let err = ImageRef::parse(bad).err();
            assert!(
                matches!(err, Some(OciError::InvalidReference { .. })),
                "{bad:?} gave {err:?}"
            );
        }
        assert!(ImageRef::parse(&"a".repeat(600)).is_err());
    }

    #[test]
    fn display_names_follow_the_original() {
        assert_eq!(parse("ubuntu").display_name(), "ubuntu:latest");
        assert_eq!(parse("ubuntu:20.04").display_name(), "ubuntu:20.04");
        assert_eq!(
            parse("registry:5000/img").display_name(),
            "registry:5000/img:latest"
        );
    }
}
