//! Configuration loading shared by every hub binary.
//!
//! Every binary reads the same sources, in increasing priority:
//!
//! 1. built-in defaults (the `Default` impl of the binary's config type),
//! 2. a TOML file: the path given on the command line, else `$HUB_CONFIG`, else `hub.toml` in the
//!    working directory when it exists,
//! 3. environment variables prefixed `HUB_`. Top-level keys map directly
//!    (`HUB_DATABASE_URL` → `database_url`); nested keys use a double underscore
//!    (`HUB_AUTH__GUEST_TOKEN` → `auth.guest_token`).
//!
//! Errors name the offending key and the source it came from, so a bad deployment fails at start
//! with a message such as `invalid type: found string "x", expected u16 for key "LISTEN_PORT" in
//! HUB_ environment variable(s)`.

mod common;

pub use common::{CommonConfig, LogConfig, LogFormat, PublishConfig};

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Environment variable naming the configuration file when none is given explicitly.
pub const CONFIG_ENV: &str = "HUB_CONFIG";
/// Configuration file read from the working directory when nothing else names one.
pub const DEFAULT_FILE: &str = "hub.toml";

/// A configuration that could not be loaded or did not validate.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named explicitly (argument or `HUB_CONFIG`) does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value has the wrong type or shape; the message names the key and its source.
    #[error("configuration error: {0}")]
    Parse(#[from] Box<figment::Error>),
    /// A value parsed but is not acceptable.
    #[error("configuration key `{key}`: {message}")]
    Invalid {
        /// Dotted key, e.g. `auth.guest_token`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A configuration type that can check itself after loading.
pub trait Validate {
    /// Reject values that parse but cannot work, naming the key.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Load `T` from defaults, the configuration file and `HUB_*` environment variables, then
/// validate it.
pub fn load<T>(explicit_file: Option<&Path>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default + Validate,
{
    let config: T = figment::<T>(explicit_file)?
        .extract()
        .map_err(|e| ConfigError::Parse(Box::new(e)))?;
    config.validate()?;
    Ok(config)
}

/// The layered [`Figment`] for `T`, for callers that want to add providers (tests do).
pub fn figment<T: Serialize + Default>(
    explicit_file: Option<&Path>,
) -> Result<Figment, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(file) = config_file(explicit_file)? {
        figment = figment.merge(Toml::file_exact(file));
    }
    Ok(figment.merge(Env::prefixed("HUB_").split("__").ignore(&["config"])))
}

fn config_file(explicit_file: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    let named = explicit_file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    match named {
        Some(path) if path.is_file() => Ok(Some(path)),
        Some(path) => Err(ConfigError::MissingFile(path)),
        None => {
            let default = PathBuf::from(DEFAULT_FILE);
            Ok(default.is_file().then_some(default))
        }
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its large `figment::Error`.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Sample {
        #[serde(flatten)]
        common: CommonConfig,
        listen_port: u16,
        auth: SampleAuth,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct SampleAuth {
        guest_token: Option<String>,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConfigError> {
            self.common.validate()
        }
    }

    #[test]
    fn file_then_environment_override() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hub.toml",
                "listen_port = 8080\nstore = \"dir:///srv/store\"\n[auth]\nguest_token = \"file\"\n",
            )?;
            jail.set_env("HUB_LISTEN_PORT", "9090");
            jail.set_env("HUB_AUTH__GUEST_TOKEN", "env");
            let config: Sample = load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.listen_port, 9090);
            assert_eq!(config.auth.guest_token.as_deref(), Some("env"));
            assert_eq!(config.common.store, "dir:///srv/store");
            Ok(())
        });
    }

    #[test]
    fn wrong_type_names_the_key_and_source() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HUB_LISTEN_PORT", "not-a-port");
            let err = load::<Sample>(None).expect_err("must fail").to_string();
            assert!(err.to_lowercase().contains("listen_port"), "{err}");
            assert!(err.contains("HUB_"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_url_is_rejected_with_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HUB_NATS_URL", "http://127.0.0.1:4222");
            let err = load::<Sample>(None).expect_err("must fail").to_string();
            assert!(err.contains("nats_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        figment::Jail::expect_with(|_jail| {
            let err = load::<Sample>(Some(Path::new("nope.toml"))).expect_err("must fail");
            assert!(matches!(err, ConfigError::MissingFile(_)));
            Ok(())
        });
    }
}
