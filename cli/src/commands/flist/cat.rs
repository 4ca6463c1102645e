//! `hubctl flist cat`: streams one file's content to stdout, fetching its blocks in order with
//! a bounded read-ahead.

use std::path::PathBuf;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use hub_flist::{BlockRef, Format, NodeKind, chunk};
use hub_store::SharedStore;
use tokio::io::AsyncWriteExt;

use crate::files::{load_flist, open_store};

/// Arguments of `flist cat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flist file (.flist or .fl).
    pub flist: PathBuf,
    /// Path of a regular file inside the flist.
    pub path: String,
    /// Block store to read from (e.g. `dir:///srv/blocks`, `zdb://host:9900/ns`, or
    /// `00-7f=URL,80-ff=URL`); defaults to the routes (`.fl`) or backend (`.flist`) recorded
    /// in the flist.
    #[arg(long, env = "HUBCTL_STORE")]
    pub store: Option<String>,
    /// Blocks fetched and decoded ahead of the one being written (each up to 512 KiB).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub read_ahead: u16,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let flist = load_flist(&args.flist).await?;
    let id = flist
        .tree
        .lookup(&args.path)
        .with_context(|| format!("{}: no such entry in {}", args.path, args.flist.display()))?;
    let (size, blocks) = match &flist.tree.node(id).kind {
        NodeKind::File { size, blocks } => (*size, blocks.clone()),
        NodeKind::Symlink { target } => bail!("{} is a symlink to {target}", args.path),
        NodeKind::Dir { .. } => bail!("{} is a directory", args.path),
        _ => bail!("{} is not a regular file", args.path),
    };
    if blocks.is_empty() {
        if size != 0 {
            bail!("{}: {size} bytes but no blocks in the flist", args.path);
        }
        return Ok(());
    }
    let store = open_store(args.store.as_deref(), &flist).await?;
    let format = flist.format;
    let count = blocks.len();
    let mut chunks = stream::iter(blocks.iter().copied().enumerate())
        .map(|(index, block)| fetch(store.clone(), format, block, index, count))
        .buffered(usize::from(args.read_ahead));
    let mut stdout = tokio::io::stdout();
    let mut written = 0u64;
    while let Some(plain) = chunks
        .try_next()
        .await
        .with_context(|| format!("reading {} from {}", args.path, store.url()))?
    {
        written += plain.len() as u64;
        stdout
            .write_all(&plain)
            .await
            .context("writing to stdout")?;
    }
    stdout.flush().await.context("writing to stdout")?;
    if written != size {
        bail!(
            "{}: the blocks hold {written} bytes, the flist says {size}",
            args.path
        );
    }
    Ok(())
}

/// Gets one block and decodes it on the blocking pool.
async fn fetch(
    store: SharedStore,
    format: Format,
    block: BlockRef,
    index: usize,
    count: usize,
) -> anyhow::Result<Vec<u8>> {
    let data = store
        .get(block.id.as_bytes())
        .await
        .with_context(|| format!("block {}/{count} ({})", index + 1, block.id))?
        .with_context(|| format!("block {}/{count} ({}) is missing", index + 1, block.id))?;
    tokio::task::spawn_blocking(move || chunk::decode(format, &block, &data))
        .await
        .context("decoder task failed")?
        .with_context(|| format!("block {}/{count} ({}) is corrupt", index + 1, block.id))
}
