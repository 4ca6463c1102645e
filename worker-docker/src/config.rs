//! The worker's own table: `[docker]`, read from the same `hub.toml` as the gateway next to
//! the keys every worker shares ([`WorkerConfig`]).

use std::time::Duration;

use hub_config::{ConfigError, Validate};
use hub_convert::{ConvertOptions, Limits};
use hub_flist::Format;
use hub_oci::{CredentialsKey, EngineOptions, Platform, RegistryOptions};
use hub_worker::WorkerConfig;
use serde::{Deserialize, Serialize};

/// The configuration of `hub-worker-docker`.
pub type DockerWorkerConfig = WorkerConfig<DockerTables>;

/// The tables only this worker reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerTables {
    /// `[docker]`.
    pub docker: DockerSettings,
}

impl Validate for DockerTables {
    fn validate(&self) -> Result<(), ConfigError> {
        self.docker.validate()
    }
}

/// Where images are read from when a job does not ask for the engine explicitly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineMode {
    /// Pull from the registry directly (no daemon).
    #[default]
    Registry,
    /// Go through a Docker Engine API (`docker_host`).
    DockerEngine,
}

/// The `[docker]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerSettings {
    /// Default source of images.
    pub engine: EngineMode,
    /// Docker Engine API address (`unix:///var/run/docker.sock`); unset reads `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// Registries (`host[:port]`) reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Write `/.startup.toml` into converted images.
    pub startup_toml: bool,
    /// Engine mode: remove images this worker pulled once no conversion uses them.
    pub remove_images: bool,
    /// Platform picked from multi-architecture images when a job names none.
    pub default_platform: String,
    /// Key (64 hex characters) opening per-job credentials sealed by the gateway; the same as
    /// the gateway's `gateway.credentials_key`. Without it, jobs with credentials fail.
    pub credentials_key: Option<String>,
    /// Time allowed to connect to a registry.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed between two reads from a registry (or one engine request).
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Guards against hostile images (sizes, ratio, entries, path length, devices).
    pub limits: Limits,
    /// Threads encoding blocks per conversion (0: one per core).
    pub workers: usize,
    /// Blocks buffered between reading and storing.
    pub blocks_in_flight: usize,
    /// Concurrent store writes per conversion.
    pub store_concurrency: usize,
}

impl Default for DockerSettings {
    fn default() -> Self {
        let convert = ConvertOptions::default();
        Self {
            engine: EngineMode::Registry,
            docker_host: None,
            insecure_registries: Vec::new(),
            startup_toml: true,
            remove_images: false,
            default_platform: "linux/amd64".into(),
            credentials_key: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(120),
            limits: convert.limits,
            workers: convert.workers,
            blocks_in_flight: convert.blocks_in_flight,
            store_concurrency: convert.store_concurrency,
        }
    }
}

impl DockerSettings {
    /// The credentials key, if configured.
    pub fn key(&self) -> Result<Option<CredentialsKey>, ConfigError> {
        self.credentials_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(CredentialsKey::from_hex)
            .transpose()
            .map_err(|e| ConfigError::invalid("docker.credentials_key", e.to_string()))
    }

    /// The default platform, parsed.
    pub fn platform(&self) -> Result<Platform, ConfigError> {
        Platform::parse_or_default(&self.default_platform)
            .map_err(|e| ConfigError::invalid("docker.default_platform", e.to_string()))
    }

    /// How registries are reached.
    pub fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure_registries.clone(),
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
        }
    }

    /// How the engine is reached.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            docker_host: self.docker_host.clone(),
            remove_images: self.remove_images,
            timeout: self.read_timeout.max(Duration::from_secs(60)),
        }
    }

    /// hub-convert's options for `format`.
    pub fn convert_options(&self, format: Format) -> ConvertOptions {
        ConvertOptions {
            format,
            limits: self.limits.clone(),
            workers: self.workers,
            blocks_in_flight: self.blocks_in_flight,
            store_concurrency: self.store_concurrency,
        }
    }
}

impl Validate for DockerSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.key()?;
        self.platform()?;
        if self.blocks_in_flight == 0 || self.store_concurrency == 0 {
            return Err(ConfigError::invalid(
                "docker.blocks_in_flight",
                "blocks_in_flight and store_concurrency must be at least 1",
            ));
        }
        if let Some(host) = &self.docker_host
            && !["unix://", "tcp://", "http://"]
                .iter()
                .any(|s| host.starts_with(s))
        {
            return Err(ConfigError::invalid(
                "docker.docker_host",
                format!("`{host}` must start with unix://, tcp:// or http://"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_HEALTH_LISTEN;

    // figment's `Jail` closure signature fixes the (large) error type.
    #[allow(clippy::result_large_err)]
    fn load(toml: &str) -> Result<DockerWorkerConfig, String> {
        let mut result = Err("not run".to_owned());
        figment::Jail::expect_with(|jail| {
            jail.create_file("hub.toml", toml)?;
            jail.set_env("HUB_HEALTH_LISTEN", "127.0.0.1:9083");
            jail.set_env("HUB_DOCKER__REMOVE_IMAGES", "true");
            result = hub_config::load(None).map_err(|e| e.to_string());
            Ok(())
        });
        result
    }

    #[test]
    fn docker_table_and_environment() -> Result<(), String> {
        let config = load(&format!(
            "store = \"dir:///srv/s\"\n[gateway]\nlisten = \"127.0.0.1:1\"\n\
             [docker]\nengine = \"docker_engine\"\ndocker_host = \"unix:///run/d.sock\"\n\
             insecure_registries = [\"127.0.0.1:5056\"]\nstartup_toml = false\n\
             default_platform = \"linux/arm64\"\ncredentials_key = \"{}\"\n",
            "ab".repeat(32)
        ))?;
        let docker = &config.worker.docker;
        assert_eq!(docker.engine, EngineMode::DockerEngine);
        assert!(docker.remove_images, "HUB_DOCKER__REMOVE_IMAGES");
        assert!(!docker.startup_toml);
        assert_eq!(docker.registry_options().insecure, ["127.0.0.1:5056"]);
        assert_eq!(
            docker.platform().map(|p| p.to_string()).ok().as_deref(),
            Some("linux/arm64")
        );
        assert!(matches!(docker.key(), Ok(Some(_))));
        assert_eq!(config.health_addr(DEFAULT_HEALTH_LISTEN).port(), 9083);
        Ok(())
    }

    #[test]
    fn defaults_and_bad_values() {
        let defaults = DockerWorkerConfig::default();
        assert_eq!(
            defaults.health_addr(DEFAULT_HEALTH_LISTEN),
            DEFAULT_HEALTH_LISTEN
        );
        assert_eq!(defaults.worker.docker.engine, EngineMode::Registry);
        assert!(defaults.worker.docker.startup_toml && !defaults.worker.docker.remove_images);
        assert!(defaults.validate().is_ok());
        for (toml, key) in [
            (
                "[docker]\ncredentials_key = \"abcd\"\n",
                "docker.credentials_key",
            ),
            (
                "[docker]\ndefault_platform = \"linux\"\n",
                "docker.default_platform",
            ),
            (
                "[docker]\ndocker_host = \"/run/x.sock\"\n",
                "docker.docker_host",
            ),
        ] {
            let err = load(toml).err().unwrap_or_default();
            assert!(err.contains(key), "{toml}: {err}");
        }
    }
}
