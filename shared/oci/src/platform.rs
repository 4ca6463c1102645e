//! Platforms (`os/architecture[/variant]`) and the choice of one entry of an image index.

use std::fmt;
use std::str::FromStr;

use oci_client::manifest::ImageIndexEntry;

use crate::OciError;

/// A target platform, e.g. `linux/amd64` or `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture, Go spelling (`amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// CPU variant (`v8`, `v7`), when it matters.
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`, what the hub converted before platforms could be chosen.
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl Platform {
    /// Parses `os/arch[/variant]`; an empty string is the default platform.
    pub fn parse_or_default(text: &str) -> Result<Self, OciError> {
        if text.trim().is_empty() {
            Ok(Platform::default())
        } else {
            text.parse()
        }
    }

    /// Whether an index entry's platform satisfies this one. Without a variant any variant
    /// matches; `arm64` entries that declare none are `v8`.
    fn accepts(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        match (&self.variant, variant) {
            (None, _) => true,
            (Some(wanted), Some(got)) => wanted == got,
            (Some(wanted), None) => architecture == "arm64" && wanted == "v8",
        }
    }
}

impl FromStr for Platform {
    type Err = OciError;

    fn from_str(text: &str) -> Result<Self, OciError> {
        let invalid = |reason: &str| OciError::InvalidReference {
            reference: text.to_owned(),
            reason: format!("platform must be os/architecture[/variant]: {reason}"),
        };
        let parts: Vec<&str> = text.trim().split('/').collect();
        let valid = |s: &&str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        };
        if !parts.iter().all(valid) {
            return Err(invalid("empty or invalid component"));
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: arch.to_ascii_lowercase(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Platform {
                os: os.to_ascii_lowercase(),
                architecture: arch.to_ascii_lowercase(),
                variant: Some(variant.to_ascii_lowercase()),
            }),
            _ => Err(invalid("wrong number of components")),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// The platform an index entry declares, or `None` for entries that are not runnable images
/// (BuildKit attestations declare `unknown/unknown`).
fn entry_platform(entry: &ImageIndexEntry) -> Option<Platform> {
    let p = entry.platform.as_ref()?;
    let os = p.os.to_string();
    let architecture = p.architecture.to_string();
    if os == "unknown" || architecture == "unknown" {
        return None;
    }
    Some(Platform {
        os,
        architecture,
        variant: p.variant.clone().filter(|v| !v.is_empty()),
    })
}

/// Picks the entry of an index for `wanted`: the first entry whose platform matches.
/// Without a match, the error lists the platforms the index offers.
pub(crate) fn choose<'a>(
    image: &str,
    entries: &'a [ImageIndexEntry],
    wanted: &Platform,
) -> Result<(&'a ImageIndexEntry, Platform), OciError> {
    let mut available = Vec::new();
    for entry in entries {
        let Some(platform) = entry_platform(entry) else {
            continue;
        };
        if wanted.accepts(
            &platform.os,
            &platform.architecture,
            platform.variant.as_deref(),
        ) {
            return Ok((entry, platform));
        }
        available.push(platform.to_string());
    }
    available.dedup();
    Err(OciError::NoMatchingPlatform {
        image: image.to_owned(),
        wanted: wanted.to_string(),
        available,
    })
}

/// Checks that a single-platform image (no index) fits `wanted`, from its configuration's
/// `os`/`architecture`/`variant`. Configurations that omit them are accepted.
pub(crate) fn check_single(
    image: &str,
    wanted: &Platform,
    os: Option<&str>,
    architecture: Option<&str>,
    variant: Option<&str>,
) -> Result<Platform, OciError> {
    let (Some(os), Some(architecture)) = (os, architecture) else {
        return Ok(wanted.clone());
    };
    let found = Platform {
        os: os.to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.filter(|v| !v.is_empty()).map(str::to_owned),
    };
    if wanted.accepts(os, architecture, found.variant.as_deref()) {
        Ok(found)
    } else {
        Err(OciError::NoMatchingPlatform {
            image: image.to_owned(),
            wanted: wanted.to_string(),
            available: vec![found.to_string()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> ImageIndexEntry {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("entry: {e}"))
    }

    fn index() -> Vec<ImageIndexEntry> {
        let mk = |digest: &str, platform: serde_json::Value| {
            entry(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest, "size": 10, "platform": platform,
            }))
        };
        vec![
            mk(
                "sha256:a",
                serde_json::json!({"architecture": "amd64", "os": "linux"}),
            ),
            mk(
                "sha256:b",
                serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
            ),
            mk(
                "sha256:c",
                serde_json::json!({"architecture": "arm", "os": "linux", "variant": "v7"}),
            ),
            mk(
                "sha256:d",
                serde_json::json!({"architecture": "unknown", "os": "unknown"}),
            ),
        ]
    }

    fn platform(s: &str) -> Platform {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(
            Platform::parse_or_default("").ok(),
            Some(Platform::default())
        );
        assert_eq!(platform("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(platform("Linux/AMD64").to_string(), "linux/amd64");
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn index_entries_are_chosen_by_platform() {
        let entries = index();
        let pick = |p: &str| choose("img", &entries, &platform(p)).map(|(e, _)| e.digest.clone());
        assert_eq!(pick("linux/amd64").ok().as_deref(), Some("sha256:a"));
        assert_eq!(pick("linux/arm64").ok().as_deref(), Some("sha256:b"));
        assert_eq!(pick("linux/arm64/v8").ok().as_deref(), Some("sha256:b"));
        assert_eq!(pick("linux/arm/v7").ok().as_deref(), Some("sha256:c"));
        match pick("linux/s390x") {
            Err(OciError::NoMatchingPlatform { available, .. }) => assert_eq!(
                available,
                ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
                "attestation entries are not listed"
            ),
            other => panic!("expected no match, got {other:?}"),
        }
        assert!(pick("linux/arm/v6").is_err());
    }

    #[test]
    fn single_images_are_checked_against_their_config() {
        let amd64 = Platform::default();
        assert!(check_single("i", &amd64, Some("linux"), Some("amd64"), None).is_ok());
        assert!(check_single("i", &amd64, None, None, None).is_ok());
        let err = check_single("i", &amd64, Some("linux"), Some("arm64"), Some("v8"));
        assert!(
            err.err()
                .is_some_and(|e| e.to_string().contains("linux/arm64/v8"))
        );
    }
}
