//! `hubctl flist merge`: several flists into one (first wins, or image-layer overlay).

use std::path::PathBuf;

use anyhow::Context;
use futures::future::try_join_all;
use hub_convert::MergeMode;
use hub_flist::Format;

use super::{format_parser, output_format_or};
use crate::files::{load_flist, open_store, save_flist};
use crate::progress;

/// How entries present in several inputs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// The hub's merge: the earliest input that has a path wins it; directories merge.
    Union,
    /// Image layers: later inputs win; `.wh.` whiteouts delete earlier entries.
    Overlay,
}

impl From<ModeArg> for MergeMode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Union => MergeMode::FirstWins,
            ModeArg::Overlay => MergeMode::Overlay,
        }
    }
}

/// Arguments of `flist merge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How entries present in several inputs combine.
    #[arg(long, value_enum, default_value_t = ModeArg::Union)]
    pub mode: ModeArg,
    /// Output format; by default OUT's extension, else the first input's format. Inputs of the
    /// other format are re-chunked (their blocks fetched, re-encoded and stored).
    #[arg(long, value_parser = format_parser())]
    pub format: Option<Format>,
    /// Block store holding the inputs' blocks (re-chunked blocks are written there; a `.fl`
    /// result takes its routes). Defaults to the first input's routes or backend.
    #[arg(long, env = "HUBCTL_STORE")]
    pub store: Option<String>,
    /// The flist file to write.
    pub out: PathBuf,
    /// Inputs, in order.
    #[arg(required = true, num_args = 1..)]
    pub flists: Vec<PathBuf>,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let inputs = try_join_all(args.flists.iter().map(|path| load_flist(path))).await?;
    let first = inputs
        .first()
        .context("merge needs at least one input flist")?;
    let format = output_format_or(args.format, &args.out, first.format);
    let store = open_store(args.store.as_deref(), first).await?;
    let rechunk = inputs.iter().filter(|f| f.format != format).count();
    let spinner = progress::spinner(if rechunk > 0 {
        format!("merging {} flists, re-chunking {rechunk}", inputs.len())
    } else {
        format!("merging {} flists", inputs.len())
    });
    let result = hub_convert::merge(inputs, args.mode.into(), format, store.clone()).await;
    spinner.finish_and_clear();
    let merged = result.with_context(|| format!("merging into {}", args.out.display()))?;
    let entries = merged.tree.len().saturating_sub(1);
    save_flist(merged, &args.out).await?;
    eprintln!(
        "wrote {} ({format}): {entries} entries from {} flists",
        args.out.display(),
        args.flists.len()
    );
    Ok(())
}
