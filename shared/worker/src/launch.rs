//! What every worker binary does before it runs: read its configuration and start logging.

use std::path::PathBuf;

use hub_config::Validate;
use hub_telemetry::TelemetryGuard;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ServiceError, WorkerConfig};

/// The command line every worker binary takes, flattened into the binary's own parser (which
/// names it and says what it does).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WorkerArgs {
    /// Configuration file (default: $HUB_CONFIG, else ./hub.toml when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Load the configuration `args` names, then start logging (and trace export) as `service`.
/// Keep the guard until the process ends: dropping it stops trace export.
pub fn start<T>(
    service: &'static str,
    args: &WorkerArgs,
) -> Result<(WorkerConfig<T>, TelemetryGuard), ServiceError>
where
    WorkerConfig<T>: DeserializeOwned + Serialize + Default + Validate,
{
    let config: WorkerConfig<T> = hub_config::load(args.config.as_deref())?;
    let telemetry = hub_telemetry::init(
        service,
        &config.common.log,
        config.common.otlp_endpoint.as_deref(),
    )?;
    Ok((config, telemetry))
}
