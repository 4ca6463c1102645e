//! `hub-gateway`: serve the hub's HTTP and gRPC APIs, or run an administrative command.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hub_gateway::{AppState, GatewayConfig};

#[derive(Parser)]
#[command(version, about = "Zero-OS hub gateway")]
struct Cli {
    /// Configuration file (default: $HUB_CONFIG, else ./hub.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP and gRPC APIs (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Mint an API token for a user (administrators; prints the token).
    MintToken {
        /// The user (repository) the token acts as.
        user: String,
        /// Lifetime, e.g. `30d` (default: the configured hub JWT lifetime).
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<std::time::Duration>,
        /// Free text shown when the user lists their tokens.
        #[arg(long, default_value = "minted by an administrator")]
        description: String,
    },
    /// Print what the upload staging bucket holds, as JSON (complete uploads, their bytes, the
    /// bytes the bucket stores including partial uploads).
    Staging {
        /// First remove abandoned uploads, as the janitor does (`jobs.staging_orphan_after`),
        /// and print what was removed too.
        #[arg(long)]
        sweep: bool,
    },
    /// Delete chunk-store blocks and flist files no live flist references (run it as a
    /// periodic job, e.g. a Kubernetes CronJob; see docs/gc.md).
    Gc {
        /// Report what would be freed (count, bytes) without deleting anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config: GatewayConfig =
        hub_config::load(cli.config.as_deref()).context("loading the configuration")?;
    let _telemetry = hub_telemetry::init(
        "hub-gateway",
        &config.common.log,
        config.common.otlp_endpoint.as_deref(),
    )?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::MintToken {
            user,
            ttl,
            description,
        } => mint_token(config, &user, ttl, &description).await,
        Command::Staging { sweep } => staging(&config, sweep).await,
        Command::Gc { dry_run } => gc(&config, dry_run).await,
    }
}

async fn staging(config: &GatewayConfig, sweep: bool) -> anyhow::Result<()> {
    let common = &config.common;
    let nats = hub_jobs::connect_nats(&common.nats_url, "hub-gateway staging")
        .await
        .context("connecting to NATS")?;
    let js = async_nats::jetstream::new(nats);
    let names = hub_jobs::Names::new(common.nats_prefix.as_str());
    let staging = hub_jobs::Staging::open_bucket(&js, &names, config.jobs.staging_ttl)
        .await
        .context("opening the staging bucket")?;
    let removed = if sweep {
        let pool = hub_db::connect(&common.database_url, 2)
            .await
            .context("connecting to PostgreSQL")?;
        let removed = staging
            .sweep_abandoned(&pool, config.jobs.staging_orphan_after)
            .await
            .context("sweeping the staging bucket")?;
        Some(removed)
    } else {
        None
    };
    let usage = staging
        .usage()
        .await
        .context("reading the staging bucket")?;
    let report = serde_json::json!({ "usage": usage, "removed": removed });
    println!("{report}");
    Ok(())
}

async fn migrate(config: &GatewayConfig) -> anyhow::Result<()> {
    let pool = hub_db::connect(&config.common.database_url, 2)
        .await
        .context("connecting to PostgreSQL")?;
    hub_db::migrate(&pool)
        .await
        .context("applying migrations")?;
    tracing::info!("database schema is up to date");
    Ok(())
}

async fn mint_token(
    config: GatewayConfig,
    user: &str,
    ttl: Option<std::time::Duration>,
    description: &str,
) -> anyhow::Result<()> {
    let pool = hub_db::connect(&config.common.database_url, 2)
        .await
        .context("connecting to PostgreSQL")?;
    let auth = hub_auth::Authenticator::new(&config.auth, pool)
        .await
        .context("loading the authentication settings")?;
    let (token, info) = auth
        .issue_token(user, ttl, description)
        .await
        .context("minting the token")?;
    eprintln!(
        "token {} for {} expires {}",
        info.jti, info.username, info.expires_at
    );
    println!("{token}");
    Ok(())
}

async fn gc(config: &GatewayConfig, dry_run: bool) -> anyhow::Result<()> {
    // The collector's lock, one journal transaction and the checkpoint writes.
    let pool = hub_db::connect(&config.common.database_url, 4)
        .await
        .context("connecting to PostgreSQL")?;
    // Not journaled: the collector only reads flist files and deletes blocks.
    let store = hub_store::open(&config.common.store)
        .await
        .context("opening the chunk store")?;
    // Fault injection for crash tests: abort the process after this many deletions.
    let fault = match std::env::var("HUB_GC_CRASH_AFTER") {
        Ok(count) => hub_gateway::gc::Fault::AbortAfter(
            count
                .parse()
                .context("HUB_GC_CRASH_AFTER must be a number of deletions")?,
        ),
        Err(_) => hub_gateway::gc::Fault::None,
    };
    let hooks = hub_gateway::gc::Hooks {
        fault,
        ..hub_gateway::gc::Hooks::default()
    };
    let report = hub_gateway::gc::run_with_hooks(&pool, &store, &config.gc, dry_run, &hooks)
        .await
        .context("collecting garbage")?;
    // The summary on stdout, as JSON, for the CronJob's logs and scripts.
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn serve(config: GatewayConfig) -> anyhow::Result<()> {
    let listen = config.gateway.listen;
    let grpc_listen = config.gateway.grpc_listen;
    let shutdown = hub_telemetry::shutdown_token();
    let settings = config.clone();
    let state = AppState::connect(config)
        .await
        .context("starting the gateway")?;
    // Uploads are abandoned at the gateway (clients or a gateway gone mid-upload), even while
    // no worker, and so no janitor, runs: each gateway sweeps the staging bucket too (several
    // sweeping at once is harmless).
    tokio::spawn(state.staging.clone().sweep_periodically(
        state.pool.clone(),
        settings.jobs.janitor_interval,
        settings.jobs.staging_orphan_after,
        shutdown.clone(),
    ));
    let app = hub_gateway::app(state.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let grpc_listener = hub_gateway::grpc::bind(grpc_listen).await?;
    tracing::info!(%listen, %grpc_listen, "gateway listening");
    // Both servers stop on the same signal and finish the requests in flight.
    let http = async {
        hub_gateway::server::serve(listener, app, &settings, shutdown.clone()).await;
        Ok::<(), anyhow::Error>(())
    };
    let grpc = async {
        hub_gateway::grpc::serve(state, grpc_listener, shutdown.clone())
            .await
            .context("serving gRPC")
    };
    tokio::try_join!(http, grpc)?;
    tracing::info!("gateway stopped");
    Ok(())
}
