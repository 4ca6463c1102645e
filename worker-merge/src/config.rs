//! The worker's own table: `[merge]`.

use hub_config::{ConfigError, Validate};
use hub_worker::WorkerConfig;
use serde::{Deserialize, Serialize};

/// The configuration of `hub-worker-merge`.
pub type MergeWorkerConfig = WorkerConfig<MergeTables>;

/// The tables only this worker reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeTables {
    /// `[merge]`.
    pub merge: MergeSettings,
}

impl Validate for MergeTables {
    fn validate(&self) -> Result<(), ConfigError> {
        self.merge.validate()
    }
}

/// Bounds of a merge: every source is held in memory while merging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeSettings {
    /// Most sources one merge may name.
    pub max_sources: usize,
    /// Largest decompressed `.flist` database (or `.fl` file) read as a source.
    pub max_flist_bytes: u64,
}

impl Default for MergeSettings {
    fn default() -> Self {
        Self {
            max_sources: 32,
            max_flist_bytes: hub_flist::DEFAULT_MAX_SIZE,
        }
    }
}

impl Validate for MergeSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_sources == 0 {
            return Err(ConfigError::invalid(
                "merge.max_sources",
                "must be at least 1",
            ));
        }
        if self.max_flist_bytes == 0 {
            return Err(ConfigError::invalid(
                "merge.max_flist_bytes",
                "must be positive",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_sources_is_not() {
        assert!(MergeTables::default().validate().is_ok());
        let none = MergeSettings {
            max_sources: 0,
            ..MergeSettings::default()
        };
        assert!(matches!(
            none.validate(),
            Err(ConfigError::Invalid { key, .. }) if key == "merge.max_sources"
        ));
    }
}
