//! `hubctl flist unpack`: restores an flist's files, links, modes and times (and owners when
//! run as root) into a directory.

use std::path::PathBuf;

use anyhow::Context;
use hub_convert::UnpackOptions;

use crate::files::{load_flist, open_store};
use crate::progress;
use crate::units::human_bytes;

/// Arguments of `flist unpack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flist file (.flist or .fl).
    pub flist: PathBuf,
    /// Block store to read from; defaults to the routes (`.fl`) or backend (`.flist`) recorded
    /// in the flist.
    #[arg(long, env = "HUBCTL_STORE")]
    pub store: Option<String>,
    /// Do not restore owners even when running as root.
    #[arg(long)]
    pub no_owners: bool,
    /// Blocks fetched and decoded at once.
    #[arg(long, default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Target directory: created if missing, must be empty.
    pub out_dir: PathBuf,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let flist = load_flist(&args.flist).await?;
    let store = open_store(args.store.as_deref(), &flist).await?;
    let opts = UnpackOptions {
        // Only root may give files away; as anyone else every file is simply ours.
        restore_ownership: !args.no_owners && nix::unistd::geteuid().is_root(),
        concurrency: usize::from(args.concurrency),
    };
    let stats = flist.tree.stats();
    let spinner = progress::spinner(format!(
        "unpacking {} files, {}",
        stats.regular,
        human_bytes(stats.fullsize)
    ));
    let result = hub_convert::unpack(&flist, store.clone(), &args.out_dir, &opts).await;
    spinner.finish_and_clear();
    let done = result.with_context(|| {
        format!(
            "unpacking {} into {} from {}",
            args.flist.display(),
            args.out_dir.display(),
            store.url()
        )
    })?;
    eprintln!(
        "unpacked {} into {}: {} directories, {} files ({}), {} symlinks, {} special{}",
        args.flist.display(),
        args.out_dir.display(),
        done.dirs,
        done.files,
        human_bytes(done.bytes),
        done.symlinks,
        done.specials,
        if done.skipped > 0 {
            format!(
                ", {} skipped (devices need root; sockets cannot be restored)",
                done.skipped
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
