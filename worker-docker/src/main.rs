//! `hub-worker-docker`: converts container images into flists.

use clap::Parser;
use hub_worker::WorkerArgs;
use hub_worker_docker::SERVICE_NAME;

#[derive(Parser)]
#[command(
    version,
    about = "Zero-OS hub worker converting container images into flists"
)]
struct Cli {
    #[command(flatten)]
    args: WorkerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, _telemetry) = hub_worker::start(SERVICE_NAME, &cli.args)?;
    hub_worker_docker::run(config, hub_telemetry::shutdown_token()).await?;
    Ok(())
}
