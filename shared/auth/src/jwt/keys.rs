//! Loading an external issuer's public keys from inline PEM, PEM files and JWK set files.

use std::path::Path;

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{AlgorithmFamily, DecodingKey};

use crate::config::{ConfigError, JwtAlgorithm, KeySource};

/// One verification key of an issuer.
#[derive(Clone)]
pub(crate) struct IssuerKey {
    /// `kid` of a JWK; PEM keys have none and are tried for every token.
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
}

impl IssuerKey {
    /// Whether this key may verify a token signed with `algorithm` and naming `kid`.
    pub(crate) fn matches(&self, algorithm: jsonwebtoken::Algorithm, kid: Option<&str>) -> bool {
        let kid_matches = match (self.kid.as_deref(), kid) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        };
        // The family check is what keeps a public key from ever being used as an HMAC secret.
        kid_matches && family_of(algorithm) == Some(self.key.family())
    }
}

fn family_of(algorithm: jsonwebtoken::Algorithm) -> Option<AlgorithmFamily> {
    AlgorithmFamily::Ec
        .algorithms()
        .contains(&algorithm)
        .then_some(AlgorithmFamily::Ec)
        .or_else(|| {
            AlgorithmFamily::Rsa
                .algorithms()
                .contains(&algorithm)
                .then_some(AlgorithmFamily::Rsa)
        })
        .or_else(|| (algorithm == jsonwebtoken::Algorithm::EdDSA).then_some(AlgorithmFamily::Ed))
}

/// Load every key of `sources`, keeping those usable with `algorithms`. `key` is the dotted
/// configuration path used in errors.
pub(crate) async fn load_issuer_keys(
    key: &str,
    sources: &[KeySource],
    algorithms: &[JwtAlgorithm],
) -> Result<Vec<IssuerKey>, ConfigError> {
    let mut keys = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let source_key = format!("{key}.keys[{index}]");
        let loaded = match source {
            KeySource::Pem(text) => pem_keys(&source_key, text.as_bytes(), algorithms)?,
            KeySource::PemFile(path) => {
                let text = read(&source_key, path).await?;
                pem_keys(&source_key, &text, algorithms)?
            }
            KeySource::JwksFile(path) => {
                let text = read(&source_key, path).await?;
                jwks_keys(&source_key, &text, algorithms)?
            }
        };
        keys.extend(loaded);
    }
    Ok(keys)
}

async fn read(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| ConfigError::Read {
            key: key.to_owned(),
            path: path.to_owned(),
            source,
        })
}

/// A PEM says nothing about the algorithm it is for, so it is parsed as each allowed family.
fn pem_keys(
    key: &str,
    pem: &[u8],
    algorithms: &[JwtAlgorithm],
) -> Result<Vec<IssuerKey>, ConfigError> {
    let mut keys = Vec::new();
    for algorithm in algorithms {
        let parsed = match algorithm {
            JwtAlgorithm::ES384 => DecodingKey::from_ec_pem(pem),
            JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
            JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        };
        if let Ok(decoding) = parsed
            && !keys
                .iter()
                .any(|k: &IssuerKey| k.key.family() == decoding.family())
        {
            keys.push(IssuerKey {
                kid: None,
                key: decoding,
            });
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "not a PEM public key for any of the issuer's algorithms",
        ));
    }
    Ok(keys)
}

/// JWKs of other algorithms or families (and symmetric `oct` keys) are skipped, not errors:
/// identity providers publish sets with keys for several uses.
fn jwks_keys(
    key: &str,
    json: &[u8],
    algorithms: &[JwtAlgorithm],
) -> Result<Vec<IssuerKey>, ConfigError> {
    let set: JwkSet = serde_json::from_slice(json)
        .map_err(|e| ConfigError::invalid(key, format_args!("not a JWK set: {e}")))?;
    let allowed: Vec<jsonwebtoken::Algorithm> =
        algorithms.iter().map(|a| a.to_jsonwebtoken()).collect();
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if let Some(declared) = jwk.common.key_algorithm
            && !allowed.iter().any(|a| same_algorithm(*a, declared))
        {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if allowed
            .iter()
            .any(|a| family_of(*a) == Some(decoding.family()))
        {
            keys.push(IssuerKey {
                kid: jwk.common.key_id.clone(),
                key: decoding,
            });
        }
    }
    if keys.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "the JWK set has no key for the issuer's algorithms",
        ));
    }
    Ok(keys)
}

fn same_algorithm(algorithm: jsonwebtoken::Algorithm, declared: KeyAlgorithm) -> bool {
    matches!(
        (algorithm, declared),
        (jsonwebtoken::Algorithm::ES384, KeyAlgorithm::ES384)
            | (jsonwebtoken::Algorithm::RS256, KeyAlgorithm::RS256)
            | (jsonwebtoken::Algorithm::EdDSA, KeyAlgorithm::EdDSA)
    )
}
