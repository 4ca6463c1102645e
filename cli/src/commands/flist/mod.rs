//! `hubctl flist …`: local flist tools, one module per sub-command.

mod cat;
mod ls;
mod merge;
mod meta;
mod pack;
mod settings;
mod stats;
mod unpack;
mod verify;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use hub_flist::Format;

/// Sub-commands of `hubctl flist`.
#[derive(Debug, Subcommand)]
pub enum FlistCommand {
    /// Pack a directory or tar archive into an flist, writing its blocks to a store.
    Pack(Box<pack::Args>),
    /// List entries like `ls -l`.
    Ls(ls::Args),
    /// Entry counts, sizes, blocks and settings.
    Stats(stats::Args),
    /// Write one file's content to stdout, reading its blocks from a store.
    Cat(cat::Args),
    /// Show metadata, tags and routes.
    Meta(meta::Args),
    /// Restore an flist's tree into a directory.
    Unpack(unpack::Args),
    /// Merge flists into one.
    Merge(merge::Args),
    /// Check that every block of an flist is in a store (exit code 1 if not).
    Verify(verify::Args),
}

/// Runs a `flist` sub-command.
pub async fn run(command: FlistCommand) -> anyhow::Result<ExitCode> {
    match command {
        FlistCommand::Pack(args) => pack::run(*args).await?,
        FlistCommand::Ls(args) => blocking(move || ls::run(&args)).await?,
        FlistCommand::Stats(args) => blocking(move || stats::run(&args)).await?,
        FlistCommand::Meta(args) => blocking(move || meta::run(&args)).await?,
        FlistCommand::Cat(args) => cat::run(args).await?,
        FlistCommand::Unpack(args) => unpack::run(args).await?,
        FlistCommand::Merge(args) => merge::run(args).await?,
        FlistCommand::Verify(args) => return verify::run(args).await,
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

/// `--format flist|fl`: `flist` is 0-flist (zflist, the original hub, rfs v1), `fl` rfs v2
/// FungiList. Spelled as hub-model spells formats; the values show in `--help` and errors.
fn format_parser() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Format::ALL.map(Format::as_str))
        .try_map(|name| name.parse::<Format>())
}

/// The format to write: given explicitly, or named by the output file's extension.
fn output_format(explicit: Option<Format>, out: &Path) -> anyhow::Result<Format> {
    if let Some(format) = explicit.or_else(|| format_of_name(out)) {
        return Ok(format);
    }
    bail!(
        "cannot tell the format from {}: name it .flist or .fl, or pass --format",
        out.display()
    )
}

/// As [`output_format`], with a fallback when the name does not tell.
fn output_format_or(explicit: Option<Format>, out: &Path, fallback: Format) -> Format {
    explicit.or_else(|| format_of_name(out)).unwrap_or(fallback)
}

fn format_of_name(path: &Path) -> Option<Format> {
    Format::from_name(&path.file_name()?.to_string_lossy())
}
