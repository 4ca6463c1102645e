//! `hub-worker-convert`: converts uploaded archives into flists and verifies uploaded flists.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hub_worker_convert::{ConvertWorkerConfig, SERVICE_NAME};

#[derive(Parser)]
#[command(
    version,
    about = "Zero-OS hub worker: archive conversions and flist verification"
)]
struct Cli {
    /// Configuration file (default: $HUB_CONFIG, else ./hub.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: ConvertWorkerConfig =
        hub_config::load(cli.config.as_deref()).context("loading the configuration")?;
    let _telemetry = hub_telemetry::init(
        SERVICE_NAME,
        &config.common.log,
        config.common.otlp_endpoint.as_deref(),
    )?;
    hub_worker_convert::run(config, hub_telemetry::shutdown_token()).await?;
    Ok(())
}
