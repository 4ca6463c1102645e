//! `hub-worker-merge`: merges flists.

use clap::Parser;
use hub_worker::WorkerArgs;
use hub_worker_merge::SERVICE_NAME;

#[derive(Parser)]
#[command(version, about = "Zero-OS hub worker: flist merges")]
struct Cli {
    #[command(flatten)]
    args: WorkerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, _telemetry) = hub_worker::start(SERVICE_NAME, &cli.args)?;
    hub_worker_merge::run(config, hub_telemetry::shutdown_token()).await?;
    Ok(())
}
