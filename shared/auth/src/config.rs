//! Authentication settings, deserialised from the `[auth]` table of the gateway's TOML file (or
//! `HUB_AUTH__*` variables). Keys are snake_case like the rest of the hub's configuration; the
//! original hub's names are given in each field's doc.
//!
//! ```toml
//! [auth] authentication = true                 # false: every caller is `Administrator` (local
//! hubs) readonly = false                      # mirrors: refuse every write, serve every read
//! guest_token = "shared-secret"         # a shared credential that acts as `guest` threebot_seed =
//! "<hex or base64 of 32 bytes>" token_max_age = "365d" clock_skew = "5s"                     # JWT
//! `exp`/`nbf` leeway; how far ahead a hub token may be dated threebot_users_map = { official-apps
//! = "tfofficial.3bot" }
//!
//! [auth.hub_jwt]                        # the hub's own revocable JWTs
//! issuer = "hub.grid.tf"
//! secret = "<hex or base64, at least 32 bytes>"
//!
//! [[auth.jwt_issuers]]
//! issuer = "https://id.example.com"
//! audiences = ["hub.grid.tf"]
//! algorithms = ["RS256"]
//! keys = [{ pem_file = "/etc/hub/id.pem" }, { jwks_file = "/etc/hub/id-jwks.json" }]
//!
//! [auth.threebot]                       # ThreeFold Connect ("3bot") login
//! appid = "hub.grid.tf"
//! private_key = "<base64 of 32 bytes>"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default maximum age of a hub Ed25519 token (hub-api D8).
pub const DEFAULT_TOKEN_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);
/// Default lifetime of a JWT minted by the hub when the caller gives none.
pub const DEFAULT_HUB_JWT_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// Default allowed clock difference between the hub and token issuers.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5);
/// Largest accepted `clock_skew`: more would let expired JWTs and future-dated hub tokens back
/// in for a long time.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// ThreeFold Connect's login service.
pub const DEFAULT_THREEBOT_LOGIN_URL: &str = "https://login.threefold.me";
/// Shortest HMAC secret accepted for the hub's own JWTs: RFC 7518 (§3.2) wants a key at least
/// as long as the hash, 32 bytes for HS256.
pub const MIN_HUB_JWT_SECRET_LEN: usize = 32;

/// Settings of the authentication layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// `authentication`: when false every API and web request acts as `Administrator`, and no
    /// login routes exist; for local hubs only.
    pub authentication: bool,
    /// `readonly`: refuse every `/api/flist/me…` route with 403 (mirrors); reads and downloads
    /// still work.
    pub readonly: bool,
    /// `guest-token`: a shared credential that authenticates as `guest`, with no other account.
    pub guest_token: Option<SecretString>,
    /// `threebot-seed`: seed of the Ed25519 key that signs and checks hub API tokens, hex or
    /// Base64.
    pub threebot_seed: Option<Key32>,
    /// Hub tokens older than this are refused with `token expired` (the original's tokens never
    /// expired: its known defect D8).
    #[serde(with = "humantime_serde")]
    pub token_max_age: Duration,
    /// How far the clocks of the hub and of token issuers may disagree: a JWT is accepted this
    /// long after its `exp` (and before its `nbf`), and a hub token may be dated at most this far
    /// in the future. New; the original accepted any date (and its JWT library a minute of
    /// leeway).
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// `threebot-users-map`: virtual repository → the 3bot user allowed to act as it, by naming
    /// it in the `active-user` cookie.
    pub threebot_users_map: BTreeMap<String, String>,
    /// The hub's own HS256 JWTs (minted by `issue_token`, revocable by `jti`).
    pub hub_jwt: Option<HubJwtConfig>,
    /// External identity providers whose JWTs (dotted bearer tokens) are accepted.
    pub jwt_issuers: Vec<JwtIssuerConfig>,
    /// ThreeFold Connect ("3bot") login (`threebot-appid`, `threebot-privatekey`).
    pub threebot: Option<ThreebotLoginConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            authentication: true,
            readonly: false,
            guest_token: None,
            threebot_seed: None,
            token_max_age: DEFAULT_TOKEN_MAX_AGE,
            clock_skew: DEFAULT_CLOCK_SKEW,
            threebot_users_map: BTreeMap::new(),
            hub_jwt: None,
            jwt_issuers: Vec::new(),
            threebot: None,
        }
    }
}

/// The hub's own JWT issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubJwtConfig {
    /// `iss` and `aud` of the tokens; must differ from every external issuer.
    pub issuer: String,
    /// HMAC-SHA256 key, hex or Base64, at least [`MIN_HUB_JWT_SECRET_LEN`] bytes.
    pub secret: SecretBytes,
    /// Lifetime of a token when the caller gives none.
    #[serde(with = "humantime_serde", default = "default_hub_jwt_ttl")]
    pub default_ttl: Duration,
}

fn default_hub_jwt_ttl() -> Duration {
    DEFAULT_HUB_JWT_TTL
}

/// An external identity provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JwtIssuerConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Accepted `aud` values (a token must name at least one). `audience = "x"` also works.
    #[serde(alias = "audience", deserialize_with = "one_or_many")]
    pub audiences: Vec<String>,
    /// Algorithms accepted from this issuer. HMAC algorithms cannot be listed: a shared secret
    /// has no place in an external issuer, and refusing them rules out key confusion.
    pub algorithms: Vec<JwtAlgorithm>,
    /// Where the issuer's public keys come from.
    pub keys: Vec<KeySource>,
}

/// The asymmetric algorithms an external issuer may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// ECDSA P-384 with SHA-384 (itsyou.online used it).
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    /// The matching `jsonwebtoken` algorithm.
    pub fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::ES384 => jsonwebtoken::Algorithm::ES384,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// One source of issuer public keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// A PEM public key given inline.
    Pem(String),
    /// A file holding a PEM public key.
    PemFile(PathBuf),
    /// A file holding a JWK set (`{"keys": [...]}`); keys are matched by `kid` when tokens
    /// carry one.
    JwksFile(PathBuf),
}

/// ThreeFold Connect ("3bot") login settings: the hub's app id and X25519 key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreebotLoginConfig {
    /// Base URL of the login service.
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// `threebot-appid`: the hub's public host name, shown to the user by the app.
    pub appid: String,
    /// `threebot-privatekey`: raw X25519 private key (Base64 or hex of 32 bytes).
    pub private_key: Key32,
}

fn default_login_url() -> String {
    DEFAULT_THREEBOT_LOGIN_URL.to_owned()
}

/// A configuration that parsed but cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is unacceptable; `key` is its dotted path below `auth`.
    #[error("auth configuration `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `jwt_issuers[0].audiences`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A key file could not be read.
    #[error("auth configuration `{key}`: cannot read {path}: {source}")]
    Read {
        /// Dotted key naming the source.
        key: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

impl AuthConfig {
    /// Reject settings that parse but cannot work, naming the key. Key files are only read by
    /// [`crate::Authenticator::new`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.token_max_age.is_zero() {
            return Err(ConfigError::invalid("token_max_age", "must be positive"));
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(ConfigError::invalid(
                "clock_skew",
                format_args!("must be at most {}s", MAX_CLOCK_SKEW.as_secs()),
            ));
        }
        if let Some(token) = &self.guest_token
            && token.expose().is_empty()
        {
            return Err(ConfigError::invalid("guest_token", "must not be empty"));
        }
        if let Some(hub) = &self.hub_jwt {
            if hub.issuer.is_empty() {
                return Err(ConfigError::invalid("hub_jwt.issuer", "must not be empty"));
            }
            if hub.default_ttl.is_zero() {
                return Err(ConfigError::invalid(
                    "hub_jwt.default_ttl",
                    "must be positive",
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (index, issuer) in self.jwt_issuers.iter().enumerate() {
            let key = |field: &str| format!("jwt_issuers[{index}].{field}");
            if issuer.issuer.is_empty() {
                return Err(ConfigError::invalid(key("issuer"), "must not be empty"));
            }
            let clashes_with_hub = self
                .hub_jwt
                .as_ref()
                .is_some_and(|hub| hub.issuer == issuer.issuer);
            if clashes_with_hub || !seen.insert(issuer.issuer.as_str()) {
                return Err(ConfigError::invalid(
                    key("issuer"),
                    "issuers must be distinct",
                ));
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty) {
                return Err(ConfigError::invalid(
                    key("audiences"),
                    "at least one non-empty audience is required",
                ));
            }
            if issuer.algorithms.is_empty() {
                return Err(ConfigError::invalid(key("algorithms"), "must not be empty"));
            }
            if issuer.keys.is_empty() {
                return Err(ConfigError::invalid(key("keys"), "must not be empty"));
            }
        }
        if let Some(threebot) = &self.threebot
            && threebot.appid.is_empty()
        {
            return Err(ConfigError::invalid("threebot.appid", "must not be empty"));
        }
        Ok(())
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// A secret string; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// Secret bytes written as hex or Base64 (standard or URL-safe, padded or not); at least
/// [`MIN_HUB_JWT_SECRET_LEN`] bytes. Serialised back as hex.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wrap secret bytes (no length check: used by code, not by configuration files).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = decode_key_text(&text)
            .ok_or_else(|| serde::de::Error::custom("expected hex or Base64 bytes"))?;
        if bytes.len() < MIN_HUB_JWT_SECRET_LEN {
            return Err(serde::de::Error::custom(format_args!(
                "secret must be at least {MIN_HUB_JWT_SECRET_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self(bytes))
    }
}

/// A 32-byte key or seed written as hex (64 digits) or Base64 (standard or URL-safe, padded or
/// not). Serialised back as hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Key32([u8; 32]);

impl Key32 {
    /// Wrap raw key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key itself.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}

impl Serialize for Key32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for Key32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode_key_text(&text)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("expected 32 bytes as hex or Base64"))
    }
}

/// Hex first: 64 hex digits are also valid Base64 but mean 32 bytes only as hex.
fn decode_key_text(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len().is_multiple_of(2)
        && let Ok(bytes) = hex::decode(text)
    {
        return Some(bytes);
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    fn load(toml: &str) -> Result<AuthConfig, Box<figment::Error>> {
        Figment::from(Serialized::defaults(AuthConfig::default()))
            .merge(Toml::string(toml))
            .extract()
            .map_err(Box::new)
    }

    #[test]
    fn defaults_are_usable() {
        let config = load("").expect("defaults load");
        assert!(config.authentication);
        assert!(!config.readonly);
        assert_eq!(config.token_max_age, DEFAULT_TOKEN_MAX_AGE);
        assert_eq!(config.clock_skew, DEFAULT_CLOCK_SKEW);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn full_example_parses() {
        let config = load(
            r#"
            authentication = true
            readonly = true
            guest_token = "let-me-in"
            threebot_seed = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
            token_max_age = "30d"
            clock_skew = "2s"
            threebot_users_map = { official-apps = "tfofficial.3bot" }

            [hub_jwt]
            issuer = "hub.example"
            secret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
            default_ttl = "1h"

            [[jwt_issuers]]
            issuer = "https://id.example"
            audience = "hub.example"
            algorithms = ["ES384", "EdDSA"]
            keys = [{ pem = "-----BEGIN PUBLIC KEY-----" }, { jwks_file = "/etc/jwks.json" }]

            [threebot]
            appid = "hub.example"
            private_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
            "#,
        )
        .expect("example loads");
        assert!(config.readonly);
        assert_eq!(
            config.guest_token.as_ref().map(SecretString::expose),
            Some("let-me-in")
        );
        let seed = config.threebot_seed.as_ref().expect("seed set");
        assert_eq!(seed.expose()[31], 0x1f);
        assert_eq!(config.token_max_age, Duration::from_secs(30 * 86400));
        assert_eq!(config.clock_skew, Duration::from_secs(2));
        assert_eq!(
            config
                .threebot_users_map
                .get("official-apps")
                .map(String::as_str),
            Some("tfofficial.3bot")
        );
        let hub = config.hub_jwt.as_ref().expect("hub jwt set");
        assert_eq!(hub.secret.expose(), b"0123456789abcdef0123456789abcdef");
        assert_eq!(hub.default_ttl, Duration::from_secs(3600));
        let issuer = &config.jwt_issuers[0];
        assert_eq!(issuer.audiences, ["hub.example"]);
        assert_eq!(
            issuer.algorithms,
            [JwtAlgorithm::ES384, JwtAlgorithm::EdDSA]
        );
        assert!(matches!(issuer.keys[1], KeySource::JwksFile(_)));
        let threebot = config.threebot.as_ref().expect("threebot set");
        assert_eq!(threebot.login_url, DEFAULT_THREEBOT_LOGIN_URL);
        assert_eq!(threebot.private_key.expose(), seed.expose());
        assert!(config.validate().is_ok());
        // Secrets never show in debug output.
        let debug = format!("{config:?}");
        assert!(!debug.contains("let-me-in") && !debug.contains("0123456789abcdef"));
    }

    #[test]
    fn hmac_algorithms_cannot_be_allowed_for_external_issuers() {
        let err = load(
            r#"
            [[jwt_issuers]]
            issuer = "x"
            audiences = ["y"]
            algorithms = ["HS256"]
            keys = [{ pem = "k" }]
            "#,
        );
        assert!(err.is_err());
        assert!(
            load(
                r#"[[jwt_issuers]]
            issuer = "x"
            audiences = ["y"]
            algorithms = ["none"]
            keys = [{ pem = "k" }]"#
            )
            .is_err()
        );
    }

    #[test]
    fn short_or_malformed_secrets_are_refused() {
        assert!(load("threebot_seed = \"0011\"").is_err());
        assert!(load("threebot_seed = \"not a key at all!\"").is_err());
        assert!(load("[hub_jwt]\nissuer = \"h\"\nsecret = \"00112233\"").is_err());
    }

    #[test]
    fn validate_names_the_offending_key() {
        let mut config = AuthConfig::default();
        config.jwt_issuers.push(JwtIssuerConfig {
            issuer: "a".into(),
            audiences: vec![],
            algorithms: vec![JwtAlgorithm::RS256],
            keys: vec![KeySource::Pem("k".into())],
        });
        let err = config.validate().expect_err("no audience");
        assert!(
            err.to_string().contains("jwt_issuers[0].audiences"),
            "{err}"
        );

        config.jwt_issuers[0].audiences = vec!["hub".into()];
        config.hub_jwt = Some(HubJwtConfig {
            issuer: "a".into(),
            secret: SecretBytes::new([0u8; 32]),
            default_ttl: DEFAULT_HUB_JWT_TTL,
        });
        let err = config.validate().expect_err("issuer clash");
        assert!(err.to_string().contains("jwt_issuers[0].issuer"), "{err}");

        let config = AuthConfig {
            clock_skew: MAX_CLOCK_SKEW + Duration::from_secs(1),
            ..AuthConfig::default()
        };
        let err = config.validate().expect_err("skew too large");
        assert!(err.to_string().contains("clock_skew"), "{err}");
    }
}
