//! The worker's own tables: `[convert]` (archive conversions) and `[verify]` (homemade flists).

use hub_config::{ConfigError, Validate};
use hub_convert::{ConvertOptions, Limits};
use hub_flist::Format;
use serde::{Deserialize, Serialize};

use hub_worker::WorkerConfig;

/// The configuration of `hub-worker-convert`.
pub type ConvertWorkerConfig = WorkerConfig<ConvertTables>;

/// The tables only this worker reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertTables {
    /// `[convert]`.
    pub convert: ConvertSettings,
    /// `[verify]`.
    pub verify: VerifySettings,
}

impl Validate for ConvertTables {
    fn validate(&self) -> Result<(), ConfigError> {
        self.convert.validate()?;
        self.verify.validate()
    }
}

/// How archives are converted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertSettings {
    /// Guards against hostile archives (sizes, ratio, entries, path length, devices).
    pub limits: Limits,
    /// Threads encoding blocks per conversion (0: one per core).
    pub workers: usize,
    /// Blocks buffered between reading and storing (memory ≈ this × 1 MiB per conversion).
    pub blocks_in_flight: usize,
    /// Concurrent store writes per conversion.
    pub store_concurrency: usize,
}

impl Default for ConvertSettings {
    fn default() -> Self {
        let defaults = ConvertOptions::default();
        Self {
            limits: defaults.limits,
            workers: defaults.workers,
            blocks_in_flight: defaults.blocks_in_flight,
            store_concurrency: defaults.store_concurrency,
        }
    }
}

impl ConvertSettings {
    /// The smallest pipeline that still overlaps reading, encoding and storing (2 encoding
    /// threads, 4 blocks in flight, 4 store writes): for small machines, and for tests that
    /// run several conversions at once on a shared CI machine.
    pub fn small() -> Self {
        Self {
            workers: 2,
            blocks_in_flight: 4,
            store_concurrency: 4,
            ..Self::default()
        }
    }

    /// hub-convert's options for a conversion to `format`.
    pub fn options(&self, format: Format) -> ConvertOptions {
        ConvertOptions {
            format,
            limits: self.limits.clone(),
            workers: self.workers,
            blocks_in_flight: self.blocks_in_flight,
            store_concurrency: self.store_concurrency,
        }
    }
}

impl Validate for ConvertSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.blocks_in_flight == 0 {
            return Err(ConfigError::invalid(
                "convert.blocks_in_flight",
                "must be at least 1",
            ));
        }
        if self.store_concurrency == 0 {
            return Err(ConfigError::invalid(
                "convert.store_concurrency",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// How homemade flists are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifySettings {
    /// Largest uploaded flist file; it is held in memory while checked.
    pub max_flist_bytes: u64,
    /// Largest decompressed `.flist` database (a small gzip can expand a lot).
    pub max_expanded_bytes: u64,
    /// `EXISTS` requests in flight at once.
    pub concurrency: usize,
}

impl Default for VerifySettings {
    fn default() -> Self {
        Self {
            max_flist_bytes: 512 << 20,
            max_expanded_bytes: hub_flist::DEFAULT_MAX_SIZE,
            concurrency: 64,
        }
    }
}

impl Validate for VerifySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_flist_bytes == 0 || self.max_expanded_bytes == 0 {
            return Err(ConfigError::invalid(
                "verify.max_flist_bytes",
                "the flist size limits must be positive",
            ));
        }
        if self.concurrency == 0 {
            return Err(ConfigError::invalid(
                "verify.concurrency",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_hub_convert() {
        let tables = ConvertTables::default();
        assert!(tables.validate().is_ok());
        let options = tables.convert.options(Format::Fl);
        assert_eq!(options.format, Format::Fl);
        assert_eq!(options.limits, Limits::default());
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let tables = ConvertTables {
            verify: VerifySettings {
                concurrency: 0,
                ..VerifySettings::default()
            },
            ..ConvertTables::default()
        };
        assert!(matches!(
            tables.validate(),
            Err(ConfigError::Invalid { key, .. }) if key == "verify.concurrency"
        ));
    }
}
