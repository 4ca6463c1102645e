//! The image configuration (`config` blob or engine inspection) and what it contributes to
//! the flist: metadata keys `entrypoint`, `environ`, `port`, `volume` (flist-formats A.8).

use std::collections::BTreeMap;

use hub_flist::Metadata;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::OciError;

/// Largest configuration blob accepted; real ones are a few KiB (history included).
pub(crate) const MAX_CONFIG_SIZE: u64 = 4 << 20;

/// How a container of the image runs: the parts of the image configuration the hub keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, `NAME=value` entries.
    pub env: Vec<String>,
    /// `WorkingDir` (empty when unset).
    pub working_dir: String,
    /// `ExposedPorts` keys, `port[/proto]` (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// `Volumes` keys (mount targets).
    pub volumes: Vec<String>,
}

/// An image configuration blob (OCI or Docker; the same JSON shape).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ImageConfigFile {
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: Option<ConfigSection>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

/// `config` of an image configuration blob.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConfigSection {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, Value>>,
}

/// `rootfs` of an image configuration blob.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ImageConfigFile {
    /// Parses a configuration blob.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, OciError> {
        serde_json::from_slice(bytes).map_err(|e| OciError::InvalidConfig(e.to_string()))
    }

    /// The run settings (all empty when the blob has no `config` section).
    pub(crate) fn run_config(&self) -> RunConfig {
        self.config
            .clone()
            .map(ConfigSection::into_run_config)
            .unwrap_or_default()
    }
}

impl ConfigSection {
    fn into_run_config(self) -> RunConfig {
        RunConfig {
            entrypoint: self.entrypoint.unwrap_or_default(),
            cmd: self.cmd.unwrap_or_default(),
            env: self.env.unwrap_or_default(),
            working_dir: self.working_dir.unwrap_or_default(),
            exposed_ports: self.exposed_ports.unwrap_or_default().into_keys().collect(),
            volumes: self.volumes.unwrap_or_default().into_keys().collect(),
        }
    }
}

impl RunConfig {
    /// The command a container runs, with Docker's semantics: `Entrypoint ++ Cmd`.
    pub fn argv(&self) -> Vec<String> {
        self.entrypoint.iter().chain(&self.cmd).cloned().collect()
    }

    /// The environment as `name → value`, each entry split at its first `=` (an entry
    /// without `=` has an empty value). Later duplicates win, as in a shell.
    pub fn environ(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|entry| match entry.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (entry.clone(), String::new()),
            })
            .collect()
    }

    /// `ExposedPorts` as the `port` metadata wants them: `"tcp/80" → 80`. Entries that are
    /// not a single port number (ranges) are left out.
    pub fn ports(&self) -> BTreeMap<String, u16> {
        self.exposed_ports
            .iter()
            .filter_map(|spec| {
                let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
                let port: u16 = port.parse().ok()?;
                Some((format!("{}/{port}", proto.to_ascii_lowercase()), port))
            })
            .collect()
    }

    /// Writes the flist metadata of A.8: `entrypoint` (the command line as a JSON array),
    /// `environ` (object), `port` (object) and `volume` (object target → `{}`). Keys whose
    /// value would be empty are not written.
    pub fn apply_metadata(&self, meta: &mut Metadata) {
        let argv = self.argv();
        if !argv.is_empty() {
            meta.set_json("entrypoint", &json!(argv));
        }
        let environ = self.environ();
        if !environ.is_empty() {
            meta.set_json("environ", &json!(environ));
        }
        let ports = self.ports();
        if !ports.is_empty() {
            meta.set_json("port", &json!(ports));
        }
        if !self.volumes.is_empty() {
            let volumes: Map<String, Value> = self
                .volumes
                .iter()
                .map(|v| (v.clone(), json!({})))
                .collect();
            meta.set_json("volume", &Value::Object(volumes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Result<ImageConfigFile, OciError> {
        ImageConfigFile::parse(
            br#"{"architecture":"arm64","os":"linux","variant":"v8",
                "config":{"Entrypoint":["/docker-entrypoint.sh","--flag"],"Cmd":["nginx","-g","daemon off;"],
                "Env":["PATH=/usr/bin:/bin","EQ=a=b","BARE"],"WorkingDir":"/srv",
                "ExposedPorts":{"80/tcp":{},"53/udp":{},"8000-8010/tcp":{}},"Volumes":{"/data":{}}},
                "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#,
        )
    }

    #[test]
    fn docker_semantics_keep_cmd_after_a_long_entrypoint() -> Result<(), OciError> {
        let file = sample()?;
        assert_eq!(file.architecture.as_deref(), Some("arm64"));
        assert_eq!(file.rootfs.as_ref().map(|r| r.diff_ids.len()), Some(1));
        let run = file.run_config();
        assert_eq!(
            run.argv(),
            [
                "/docker-entrypoint.sh",
                "--flag",
                "nginx",
                "-g",
                "daemon off;"
            ]
        );
        let env = run.environ();
        assert_eq!(env.get("EQ").map(String::as_str), Some("a=b"));
        assert_eq!(env.get("BARE").map(String::as_str), Some(""));
        assert_eq!(
            serde_json::to_value(run.ports()).ok(),
            Some(json!({"tcp/80": 80, "udp/53": 53}))
        );
        let mut meta = Metadata::default();
        run.apply_metadata(&mut meta);
        assert_eq!(
            meta.get_json("entrypoint"),
            Some(json!([
                "/docker-entrypoint.sh",
                "--flag",
                "nginx",
                "-g",
                "daemon off;"
            ]))
        );
        assert_eq!(
            meta.get_json("environ"),
            Some(json!({"PATH": "/usr/bin:/bin", "EQ": "a=b", "BARE": ""}))
        );
        assert_eq!(meta.get_json("volume"), Some(json!({"/data": {}})));
        Ok(())
    }

    #[test]
    fn empty_and_null_configs() -> Result<(), OciError> {
        let file = ImageConfigFile::parse(br#"{"config":{"Entrypoint":null,"Cmd":null}}"#)?;
        let run = file.run_config();
        assert!(run.argv().is_empty());
        let mut meta = Metadata::default();
        run.apply_metadata(&mut meta);
        assert!(meta.values.is_empty());
        assert_eq!(
            ImageConfigFile::parse(b"{}")?.run_config(),
            RunConfig::default()
        );
        assert!(ImageConfigFile::parse(b"[1]").is_err());
        Ok(())
    }
}
