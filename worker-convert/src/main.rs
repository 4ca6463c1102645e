//! `hub-worker-convert`: converts uploaded archives into flists and verifies uploaded flists.

use clap::Parser;
use hub_worker::WorkerArgs;
use hub_worker_convert::SERVICE_NAME;

#[derive(Parser)]
#[command(
    version,
    about = "Zero-OS hub worker: archive conversions and flist verification"
)]
struct Cli {
    #[command(flatten)]
    args: WorkerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (config, _telemetry) = hub_worker::start(SERVICE_NAME, &cli.args)?;
    hub_worker_convert::run(config, hub_telemetry::shutdown_token()).await?;
    Ok(())
}
