//! `hubctl flist stats`: entry counts, sizes, blocks and settings of an flist.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use hub_flist::{Flist, NodeKind};
use serde::Serialize;

use crate::files::read_flist;
use crate::output::print_json;
use crate::units::human_bytes;

/// Arguments of `flist stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flist file (.flist or .fl).
    pub flist: PathBuf,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Entry counts by type.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct Counts {
    regular: u64,
    directory: u64,
    symlink: u64,
    special: u64,
    /// All entries except the root.
    total: u64,
}

/// The JSON document of `stats --json`; field names are stable.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Report {
    /// `flist` or `fl`.
    format: &'static str,
    entries: Counts,
    /// Sum of regular file sizes (apparent size).
    size: u64,
    /// Block references over all regular files.
    blocks: u64,
    /// Distinct block ids among them.
    distinct_blocks: u64,
    /// Keys of the `metadata` (`.flist`) or `tag` (`.fl`) table.
    metadata_keys: Vec<String>,
    /// Rows of the `.fl` route table (0 for `.flist`).
    routes: usize,
}

/// Runs the command (synchronous: the whole work is reading and counting).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let flist = read_flist(&args.flist)?;
    let report = report(&flist);
    if args.json {
        return print_json(&report);
    }
    let text = format!(
        "format:          {}\n\
         entries:         {} ({} files, {} directories, {} symlinks, {} special)\n\
         size:            {} ({} bytes)\n\
         blocks:          {} ({} distinct)\n\
         metadata keys:   {}\n\
         routes:          {}\n",
        report.format,
        report.entries.total,
        report.entries.regular,
        report.entries.directory,
        report.entries.symlink,
        report.entries.special,
        human_bytes(report.size),
        report.size,
        report.blocks,
        report.distinct_blocks,
        if report.metadata_keys.is_empty() {
            "-".to_owned()
        } else {
            report.metadata_keys.join(", ")
        },
        report.routes,
    );
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")
}

fn report(flist: &Flist) -> Report {
    let tree = &flist.tree;
    let stats = tree.stats();
    let mut distinct = HashSet::new();
    for id in tree.walk() {
        if let NodeKind::File { blocks, .. } = &tree.node(id).kind {
            distinct.extend(blocks.iter().map(|b| b.id));
        }
    }
    Report {
        format: flist.format.extension(),
        entries: Counts {
            regular: stats.regular,
            directory: stats.directory,
            symlink: stats.symlink,
            special: stats.special,
            total: stats.regular + stats.directory + stats.symlink + stats.special,
        },
        size: stats.fullsize,
        blocks: stats.blocks,
        distinct_blocks: distinct.len() as u64,
        metadata_keys: flist.meta.values.keys().cloned().collect(),
        routes: flist.meta.routes.len(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hub_flist::{Attr, BlockRef, Format, Hash};

    use super::*;

    fn block(byte: u8) -> anyhow::Result<BlockRef> {
        Ok(BlockRef {
            id: Hash::new(&[byte; 32])?,
            key: Hash::new(&[byte; 32])?,
        })
    }

    #[test]
    fn counts_and_distinct_blocks() -> anyhow::Result<()> {
        let mut flist = Flist::new(Format::Fl);
        let tree = &mut flist.tree;
        let root = tree.root();
        let dir = tree.insert(root, "d".into(), Attr::default_dir(), NodeKind::dir())?;
        let shared: Arc<[BlockRef]> = vec![block(1)?, block(2)?].into();
        for (parent, name) in [(root, "a"), (dir, "b")] {
            let kind = NodeKind::File {
                size: 600_000,
                blocks: Arc::clone(&shared),
            };
            tree.insert(parent, name.into(), Attr::with_mode(0o644), kind)?;
        }
        let link = NodeKind::Symlink { target: "a".into() };
        tree.insert(dir, "l".into(), Attr::with_mode(0o777), link)?;
        tree.insert(root, "p".into(), Attr::with_mode(0o600), NodeKind::Fifo)?;
        flist.meta.values.insert("author".into(), "me".into());

        let r = report(&flist);
        assert_eq!(
            r.entries,
            Counts {
                regular: 2,
                directory: 1,
                symlink: 1,
                special: 1,
                total: 5
            }
        );
        assert_eq!((r.size, r.blocks, r.distinct_blocks), (1_200_000, 4, 2));
        assert_eq!(r.format, "fl");
        assert_eq!(r.metadata_keys, vec!["author".to_owned()]);
        Ok(())
    }
}
