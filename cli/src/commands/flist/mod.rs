//! `hubctl flist …`: local flist tools, one module per sub-command.

mod cat;
mod ls;
mod meta;
mod stats;

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

/// Sub-commands of `hubctl flist`.
#[derive(Debug, Subcommand)]
pub enum FlistCommand {
    /// List entries like `ls -l`.
    Ls(ls::Args),
    /// Entry counts, sizes, blocks and settings.
    Stats(stats::Args),
    /// Write one file's content to stdout, reading its blocks from a store.
    Cat(cat::Args),
    /// Show metadata, tags and routes.
    Meta(meta::Args),
}

/// Runs a `flist` sub-command.
pub async fn run(command: FlistCommand) -> anyhow::Result<ExitCode> {
    match command {
        FlistCommand::Ls(args) => blocking(move || ls::run(&args)).await?,
        FlistCommand::Stats(args) => blocking(move || stats::run(&args)).await?,
        FlistCommand::Meta(args) => blocking(move || meta::run(&args)).await?,
        FlistCommand::Cat(args) => cat::run(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a command that only reads a file and prints off the async threads.
async fn blocking(
    work: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(work)
        .await
        .context("command task failed")?
}
