//! `hubctl flist verify`: are all blocks of an flist in a store (and intact, with `--deep`)?
//! Exit code 1 when any is missing or corrupt.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hub_convert::{VerifyOptions, VerifyReport};
use serde::Serialize;

use crate::files::{load_flist, open_store};
use crate::output::print_json;
use crate::progress;

/// Arguments of `flist verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flist file (.flist or .fl).
    pub flist: PathBuf,
    /// Block store to check; defaults to the routes (`.fl`) or backend (`.flist`) recorded in
    /// the flist.
    #[arg(long, env = "HUBCTL_STORE")]
    pub store: Option<String>,
    /// Also fetch, decrypt and re-hash every block (reads all content).
    #[arg(long)]
    pub deep: bool,
    /// Checks in flight at once.
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `verify --json` output; field names are stable.
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    store: String,
    deep: bool,
    files: u64,
    blocks_checked: u64,
    blocks_missing: u64,
    blocks_corrupt: u64,
    /// Files with a missing or corrupt block.
    failed_files: u64,
    missing_files: Vec<String>,
    corrupt_files: Vec<String>,
}

impl Report {
    fn new(r: VerifyReport, store: String, deep: bool) -> Self {
        Report {
            ok: r.is_ok(),
            store,
            deep,
            files: r.files,
            blocks_checked: r.blocks_checked,
            blocks_missing: r.blocks_missing,
            blocks_corrupt: r.corrupt_blocks,
            failed_files: r.failure,
            missing_files: r.missing_files,
            corrupt_files: r.corrupt_files,
        }
    }
}

/// Runs the command; the exit code is 1 when blocks are missing or corrupt.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let flist = load_flist(&args.flist).await?;
    let store = open_store(args.store.as_deref(), &flist).await?;
    let opts = VerifyOptions {
        deep: args.deep,
        concurrency: usize::from(args.concurrency),
    };
    let spinner = progress::spinner(format!(
        "verifying {} blocks{}",
        flist.tree.stats().blocks,
        if args.deep { " (deep)" } else { "" }
    ));
    let result = hub_convert::verify(&flist, store.clone(), &opts).await;
    spinner.finish_and_clear();
    let result = result
        .with_context(|| format!("verifying {} against {}", args.flist.display(), store.url()))?;
    let report = Report::new(result, store.url(), args.deep);
    let code = if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if args.json {
        print_json(&report)?;
    } else {
        let mut out = BufWriter::new(io::stdout().lock());
        write_text(&mut out, &report).context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    Ok(code)
}

fn write_text(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let what = if r.deep {
        "present and intact"
    } else {
        "present"
    };
    if r.ok {
        return writeln!(
            out,
            "ok: all {} blocks of {} files are {what} in {}",
            r.blocks_checked, r.files, r.store
        );
    }
    writeln!(
        out,
        "FAILED: {} of {} blocks missing, {} corrupt; {} of {} files affected ({})",
        r.blocks_missing, r.blocks_checked, r.blocks_corrupt, r.failed_files, r.files, r.store
    )?;
    for path in &r.missing_files {
        writeln!(out, "missing blocks: {path}")?;
    }
    for path in &r.corrupt_files {
        writeln!(out, "corrupt blocks: {path}")?;
    }
    Ok(())
}
