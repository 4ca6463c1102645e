//! The configuration every worker binary shares, with a table of its own.

use std::net::SocketAddr;

use hub_config::{CommonConfig, ConfigError, PublishConfig, Validate};
use hub_jobs::JobsConfig;
use serde::{Deserialize, Serialize};

use crate::PublishSettings;

/// A worker's configuration: the shared connection settings (top-level keys), `[publish]`,
/// `[jobs]`, `health_listen`, and the worker's own tables `T` (e.g. `[convert]`), flattened so
/// they stay top-level tables of the same `hub.toml` the gateway reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig<T> {
    /// Database, NATS, store and logging.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// How built flists refer to the chunk store.
    pub publish: PublishConfig,
    /// Queue and worker runtime settings.
    pub jobs: JobsConfig,
    /// Address of `/healthz` and `/readyz` (`HUB_HEALTH_LISTEN`); `None` uses the binary's
    /// default, so several workers on one host do not collide.
    pub health_listen: Option<SocketAddr>,
    /// The worker's own tables.
    #[serde(flatten)]
    pub worker: T,
}

impl<T> WorkerConfig<T> {
    /// The health address: the configured one, else `default`.
    pub fn health_addr(&self, default: SocketAddr) -> SocketAddr {
        self.health_listen.unwrap_or(default)
    }
}

impl<T: Validate> Validate for WorkerConfig<T> {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()?;
        self.publish.validate()?;
        // Parsing the publish settings checks `publish.fl_routes` at start rather than at the
        // first `.fl` job.
        PublishSettings::new(&self.publish)?;
        self.jobs
            .validate()
            .map_err(|err| ConfigError::invalid("jobs", err.to_string()))?;
        self.worker.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Tables {
        sample: Sample,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Sample {
        level: u32,
    }

    impl Validate for Tables {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.sample.level > 9 {
                return Err(ConfigError::invalid("sample.level", "at most 9"));
            }
            Ok(())
        }
    }

    // figment's `Jail` closure returns its large error type by value.
    #[allow(clippy::result_large_err)]
    fn load(toml: &str) -> Result<WorkerConfig<Tables>, String> {
        let mut result = Err("not run".to_owned());
        figment::Jail::expect_with(|jail| {
            jail.create_file("hub.toml", toml)?;
            jail.set_env("HUB_HEALTH_LISTEN", "127.0.0.1:9999");
            result = hub_config::load(None).map_err(|err| err.to_string());
            Ok(())
        });
        result
    }

    #[test]
    fn shared_file_keys_and_worker_tables_are_read() -> Result<(), String> {
        let config = load(
            "store = \"dir:///srv/store\"\npublic_url = \"http://x\"\n\
             [gateway]\nlisten = \"127.0.0.1:1\"\n\
             [publish]\nbackend_host = \"hub.example\"\n\
             [jobs]\nconcurrency = 5\n[sample]\nlevel = 3\n",
        )?;
        assert_eq!(config.common.store, "dir:///srv/store");
        assert_eq!(config.publish.backend_host, "hub.example");
        assert_eq!(config.jobs.concurrency, 5);
        assert_eq!(config.worker.sample.level, 3);
        let default = SocketAddr::from(([127, 0, 0, 1], 8081));
        assert_eq!(config.health_addr(default).port(), 9999);
        Ok(())
    }

    #[test]
    fn invalid_values_name_their_key() {
        let worker = load("[sample]\nlevel = 12\n").map(drop);
        assert!(
            matches!(&worker, Err(e) if e.contains("sample.level")),
            "{worker:?}"
        );
        let routes = load("[publish]\nfl_routes = [\"00-zz=zdb://h\"]\n").map(drop);
        assert!(
            matches!(&routes, Err(e) if e.contains("publish.fl_routes")),
            "{routes:?}"
        );
        let jobs = load("[jobs]\nconcurrency = 0\n").map(drop);
        assert!(matches!(&jobs, Err(e) if e.contains("jobs")), "{jobs:?}");
        for bad in [
            "[publish]\nblock_url = \"zdb://hub.example:9900\"\n",
            "[publish]\nblock_url = \"https://hub.example/api/blocks\"\nfl_routes = [\"zdb://h\"]\n",
        ] {
            let block_url = load(bad).map(drop);
            assert!(
                matches!(&block_url, Err(e) if e.contains("publish.block_url")),
                "{bad}: {block_url:?}"
            );
        }
    }

    #[test]
    // figment's `Jail` closure returns its large error type by value.
    #[allow(clippy::result_large_err)]
    fn block_url_comes_from_the_environment_too() -> Result<(), String> {
        let mut result = Err("not run".to_owned());
        figment::Jail::expect_with(|jail| {
            jail.set_env("HUB_PUBLISH__BLOCK_URL", "https://hub.example/api/blocks");
            result = hub_config::load::<WorkerConfig<Tables>>(None).map_err(|err| err.to_string());
            Ok(())
        });
        assert_eq!(
            result?.publish.block_url.as_deref(),
            Some("https://hub.example/api/blocks")
        );
        Ok(())
    }
}
