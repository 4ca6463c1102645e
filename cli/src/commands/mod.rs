//! Command-line definition and dispatch: one module per command.

pub mod bench;
pub mod flist;
pub mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hubctl: create, inspect, check and restore flists; manage the hub.
#[derive(Debug, Parser)]
#[command(name = "hubctl", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work on local flist files (.flist and .fl).
    #[command(subcommand)]
    Flist(flist::FlistCommand),
    /// Measure conversion, verify and merge throughput on a generated corpus.
    Bench(bench::Args),
    /// Maintain block stores on this machine.
    #[command(subcommand)]
    Store(store::StoreCommand),
}

/// Runs a parsed command line. The exit code is 1 when a command reports a negative result
/// (e.g. `verify` found missing blocks) without an error.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Flist(command) => flist::run(command).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Store(command) => {
            store::run(command).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
