//! `hubctl flist meta`: the flist's settings (`.flist` metadata, `.fl` tags and routes).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use hub_flist::Flist;
use serde::Serialize;

use crate::files::read_flist;
use crate::output::print_json;

/// Arguments of `flist meta`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flist file (.flist or .fl).
    pub flist: PathBuf,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One route row in JSON output.
#[derive(Debug, Serialize)]
struct RouteRow {
    start: u8,
    end: u8,
    url: String,
}

/// The JSON document of `meta --json`; field names are stable.
#[derive(Debug, Serialize)]
struct Report {
    /// `flist` or `fl`.
    format: &'static str,
    /// Each value parsed as JSON, or kept as a JSON string when it is not JSON (as the original
    /// tools read them).
    metadata: BTreeMap<String, serde_json::Value>,
    routes: Vec<RouteRow>,
}

/// Runs the command (synchronous).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let flist = read_flist(&args.flist)?;
    if args.json {
        return print_json(&report(&flist));
    }
    let mut out = BufWriter::new(io::stdout().lock());
    write_text(&mut out, &flist).context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

fn report(flist: &Flist) -> Report {
    let metadata = flist
        .meta
        .values
        .keys()
        .filter_map(|key| Some((key.clone(), flist.meta.get_json(key)?)))
        .collect();
    let routes = flist
        .meta
        .routes
        .iter()
        .map(|r| RouteRow {
            start: r.start,
            end: r.end,
            url: r.url.clone(),
        })
        .collect();
    Report {
        format: flist.format.extension(),
        metadata,
        routes,
    }
}

fn write_text(out: &mut impl Write, flist: &Flist) -> io::Result<()> {
    writeln!(out, "format: {}", flist.format)?;
    let table = match flist.format {
        hub_flist::Format::Flist => "metadata",
        hub_flist::Format::Fl => "tags",
    };
    if flist.meta.values.is_empty() {
        writeln!(out, "{table}: none")?;
    } else {
        writeln!(out, "{table}:")?;
        for (key, value) in &flist.meta.values {
            // Multi-line values (a readme) are indented under their key.
            let mut lines = value.lines();
            writeln!(out, "  {key} = {}", lines.next().unwrap_or_default())?;
            for line in lines {
                writeln!(out, "      {line}")?;
            }
        }
    }
    if flist.format == hub_flist::Format::Fl {
        if flist.meta.routes.is_empty() {
            writeln!(out, "routes: none")?;
        } else {
            writeln!(out, "routes:")?;
            for r in &flist.meta.routes {
                writeln!(out, "  {:02x}-{:02x} {}", r.start, r.end, r.url)?;
            }
        }
    }
    Ok(())
}
