//! `hubctl flist pack`: a directory or tar archive → an flist, blocks written to a store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use hub_convert::{Conversion, ConvertOptions, Limits};
use hub_flist::Format;
use serde::Serialize;

use super::settings::SettingArgs;
use super::{format_parser, output_format};
use crate::files::{open_spec, save_flist};
use crate::output::print_json;
use crate::progress::ConversionBar;
use crate::units::{human_bytes, parse_size};

/// Arguments of `flist pack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format; by default taken from OUT's extension (.flist or .fl).
    #[arg(long, value_parser = format_parser())]
    pub format: Option<Format>,
    /// Block store to write to: `dir:///path`, `zdb://host:9900/ns`, or ranges
    /// `00-7f=URL,80-ff=URL`.
    #[arg(long, env = "HUBCTL_STORE")]
    pub store: String,
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Threads encoding blocks (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Print the conversion statistics as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// A directory, or a tar archive (bare, gzip, zstd, xz or bzip2: detected from its bytes).
    pub source: PathBuf,
    /// The flist file to write (replaced atomically).
    pub out: PathBuf,
}

/// Input limits; defaults are hub-convert's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// Largest archive accepted (compressed bytes), e.g. 10GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_input: Option<u64>,
    /// Largest expanded content accepted, e.g. 50GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_expanded: Option<u64>,
    /// Largest expansion ratio of a compressed archive.
    #[arg(long, value_name = "N")]
    pub max_ratio: Option<u64>,
    /// Largest number of entries.
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
    /// Refuse character and block devices.
    #[arg(long)]
    pub no_devices: bool,
}

impl LimitArgs {
    /// The library's limits with the options applied.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        if let Some(v) = self.max_input {
            limits.max_compressed_bytes = v;
        }
        if let Some(v) = self.max_expanded {
            limits.max_expanded_bytes = v;
        }
        if let Some(v) = self.max_ratio {
            limits.max_ratio = v;
        }
        if let Some(v) = self.max_entries {
            limits.max_entries = v;
        }
        if self.no_devices {
            limits.allow_devices = false;
        }
        limits
    }
}

/// `pack --json` output; field names are stable.
#[derive(Debug, Serialize)]
struct Report {
    out: String,
    format: &'static str,
    store: String,
    entries: u64,
    input_bytes: u64,
    content_bytes: u64,
    blocks: u64,
    blocks_written: u64,
    blocks_deduped: u64,
    stored_bytes: u64,
    seconds: f64,
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let format = output_format(args.format, &args.out)?;
    args.settings.check(format)?;
    let store = open_spec(&args.store).await?;
    let mut opts = ConvertOptions::new(format);
    opts.limits = args.limits.limits();
    if let Some(workers) = args.workers {
        opts.workers = workers;
    }
    let source = &args.source;
    let meta = tokio::fs::metadata(source)
        .await
        .with_context(|| format!("cannot read {}", source.display()))?;
    let started = Instant::now();
    let conversion = if meta.is_dir() {
        let bar = Arc::new(ConversionBar::new(None));
        let result = hub_convert::convert_dir(source, store.clone(), &opts, bar.clone()).await;
        bar.finish();
        result
    } else {
        let file = tokio::fs::File::open(source)
            .await
            .with_context(|| format!("cannot open {}", source.display()))?;
        let bar = Arc::new(ConversionBar::new(Some(meta.len())));
        let result = hub_convert::convert_archive(file, store.clone(), &opts, bar.clone()).await;
        bar.finish();
        result
    }
    .with_context(|| format!("packing {} into {}", source.display(), store.url()))?;
    let Conversion { mut flist, stats } = conversion;
    args.settings
        .apply(&mut flist.meta, format, &store.routes())?;
    save_flist(flist, &args.out).await?;
    let seconds = started.elapsed().as_secs_f64();
    let report = Report {
        out: args.out.display().to_string(),
        format: format.extension(),
        store: store.url(),
        entries: stats.entries,
        input_bytes: stats.input_bytes,
        content_bytes: stats.content_bytes,
        blocks: stats.blocks,
        blocks_written: stats.blocks_written,
        blocks_deduped: stats.blocks_deduped,
        stored_bytes: stats.stored_bytes,
        seconds,
    };
    if args.json {
        return print_json(&report);
    }
    eprintln!(
        "wrote {} ({}): {} entries, {} of content in {} blocks ({} new, {} deduplicated), {:.1}s, {:.0} MB/s",
        report.out,
        format,
        report.entries,
        human_bytes(report.content_bytes),
        report.blocks,
        report.blocks_written,
        report.blocks_deduped,
        seconds,
        report.content_bytes as f64 / 1e6 / seconds.max(1e-9),
    );
    Ok(())
}
