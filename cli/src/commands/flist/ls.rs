//! `hubctl flist ls`: lists entries like `ls -l`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use hub_flist::{Node, NodeId, NodeKind, Tree};
use serde::Serialize;

use crate::files::read_flist;
use crate::output::{format_time, kind_name, mode_string, print_json};

/// Arguments of `flist ls`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flist file (.flist or .fl).
    pub flist: PathBuf,
    /// Path inside the flist; the root when absent.
    #[arg(default_value = "/")]
    pub path: String,
    /// List sub-directories recursively (full paths, depth first).
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// One JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One listed entry; the JSON field names are stable.
#[derive(Debug, Serialize)]
struct Entry {
    path: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// Permission bits in octal text (`"0755"`).
    mode: String,
    /// `ls -l` mode string (`"drwxr-xr-x"`).
    permissions: String,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    major: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minor: Option<u32>,
}

/// The JSON document of `ls --json`.
#[derive(Debug, Serialize)]
struct Listing {
    path: String,
    entries: Vec<Entry>,
}

/// Runs the command (synchronous: reading and formatting are CPU work).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let flist = read_flist(&args.flist)?;
    let tree = &flist.tree;
    let start = tree
        .lookup(&args.path)
        .with_context(|| format!("{}: no such entry in {}", args.path, args.flist.display()))?;
    let ids = selected(tree, start, args.recursive);
    let entries = ids.into_iter().map(|id| entry(tree, id));
    if args.json {
        let listing = Listing {
            path: tree.path(start),
            entries: entries.collect(),
        };
        return print_json(&listing);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    for e in entries {
        write_line(&mut out, &e, args.recursive)?;
    }
    out.flush().context("writing to stdout")
}

/// The entries to list: a directory's children (or whole subtree), or the entry itself.
fn selected(tree: &Tree, start: NodeId, recursive: bool) -> Vec<NodeId> {
    let node = tree.node(start);
    if !node.kind.is_dir() {
        return vec![start];
    }
    if !recursive {
        return tree.children(start).collect();
    }
    // Depth-first pre-order below `start`, children in the tree's order.
    let mut out = Vec::new();
    let mut stack: Vec<NodeId> = tree.children(start).collect();
    stack.reverse();
    while let Some(id) = stack.pop() {
        out.push(id);
        let first = stack.len();
        stack.extend(tree.children(id));
        if let Some(pushed) = stack.get_mut(first..) {
            pushed.reverse();
        }
    }
    out
}

fn entry(tree: &Tree, id: NodeId) -> Entry {
    let Node {
        name, attr, kind, ..
    } = tree.node(id);
    let (target, blocks, major, minor) = match kind {
        NodeKind::Symlink { target } => (Some(target.clone()), None, None, None),
        NodeKind::File { blocks, .. } => (None, Some(blocks.len()), None, None),
        NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
            (None, None, Some(*major), Some(*minor))
        }
        _ => (None, None, None, None),
    };
    Entry {
        path: tree.path(id),
        name: name.clone(),
        kind: kind_name(kind),
        mode: format!("{:04o}", attr.mode),
        permissions: mode_string(kind, attr.mode),
        uid: attr.uid,
        gid: attr.gid,
        size: kind.size(),
        mtime: attr.mtime,
        target,
        blocks,
        major,
        minor,
    }
}

fn write_line(out: &mut impl Write, e: &Entry, full_path: bool) -> anyhow::Result<()> {
    // Devices show `major, minor` where files show their size, as `ls -l` does.
    let size = match (e.major, e.minor) {
        (Some(major), Some(minor)) => format!("{major}, {minor}"),
        _ => e.size.to_string(),
    };
    let name = if full_path { &e.path } else { &e.name };
    write!(
        out,
        "{} {:>5} {:>5} {:>12} {} {}",
        e.permissions,
        e.uid,
        e.gid,
        size,
        format_time(e.mtime),
        name
    )
    .context("writing to stdout")?;
    if let Some(target) = &e.target {
        write!(out, " -> {target}").context("writing to stdout")?;
    }
    writeln!(out).context("writing to stdout")
}
