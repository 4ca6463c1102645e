//! `hub-worker-docker`: converts container images into flists.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hub_worker_docker::WorkerDockerConfig;

#[derive(Parser)]
#[command(
    version,
    about = "Zero-OS hub worker converting container images into flists"
)]
struct Cli {
    /// Configuration file (default: $HUB_CONFIG, else ./hub.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: WorkerDockerConfig =
        hub_config::load(cli.config.as_deref()).context("loading the configuration")?;
    let _telemetry = hub_telemetry::init(
        "hub-worker-docker",
        &config.common.log,
        config.common.otlp_endpoint.as_deref(),
    )?;
    hub_worker_docker::run(config, hub_telemetry::shutdown_token())
        .await
        .context("running the docker worker")
}
